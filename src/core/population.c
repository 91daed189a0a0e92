/* population.c: evaluation and means over a population of lists
 * (population.h). */
#include "sortlens/population.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sortlens/circuits.h"
#include "sortlens/tables.h"
#include "sortlens/task.h"

enum { POPULATION_BATCH = 4096 };   /* lists per sl_evaluator_add: parts for its workers */

static long stress_read(void *ctx, int *values, long max, SlError *err)
{
    (void)err;
    SlStressSource *s = ctx;
    long k = max < s->left ? max : s->left;
    for (long i = 0; i < k; i++)
        sl_stress_list(&s->cfg, s->kind, &s->rng, values + (size_t)i * s->cfg.list_len);
    s->left -= k;
    return k;
}

int sl_stress_source(SlStressSource *s, const SlModelConfig *c, SlStressKind kind, long lists, uint64_t seed,
                     SlListSource *out, SlError *err)
{
    int rc = sl_stress_check(c, kind, err);
    if (rc)
        return rc;
    if (lists < 1)
        return sl_error_set(err, SL_EINVAL, "the number of lists must be at least 1 (got %ld)", lists);
    s->cfg = *c;
    s->kind = kind;
    sl_rng_seed(&s->rng, seed);
    s->left = lists;
    out->read = stress_read;
    out->ctx = s;
    out->total = lists;
    return 0;
}

static long file_read(void *ctx, int *values, long max, SlError *err)
{
    return sl_list_file_read(ctx, values, max, err);
}

void sl_list_file_source(SlListFile *f, SlListSource *out)
{
    out->read = file_read;
    out->ctx = f;
    out->total = sl_list_file_count(f);
}

static long reader_read(void *ctx, int *values, long max, SlError *err)
{
    SlListFileReader *r = ctx;
    long got = sl_list_file_read_at(r->file, r->next, values, max, err);
    if (got > 0)
        r->next += got;
    return got;
}

void sl_list_file_reader_source(SlListFileReader *r, const SlListFile *f, SlListSource *out)
{
    r->file = f;
    r->next = 0;
    out->read = reader_read;
    out->ctx = r;
    out->total = sl_list_file_count(f);
}

int sl_population_eval(const SlModel *m, const SlIntervention *iv, SlListSource *src, SlEvalResult *res, SlBreakdown *bd,
                       SlProgressFn progress, void *progress_ctx, SlError *err)
{
    return sl_population_eval_each(m, iv, src, res, bd, NULL, NULL, progress, progress_ctx, err);
}

int sl_population_eval_each(const SlModel *m, const SlIntervention *iv, SlListSource *src, SlEvalResult *res,
                            SlBreakdown *bd, SlListOutcomeFn each, void *each_ctx, SlProgressFn progress,
                            void *progress_ctx, SlError *err)
{
    const int n = m->cfg.list_len;
    int rc = 0;
    SlEvaluator *ev = sl_evaluator_new(m, iv, SL_FORWARD_AUTO, err);
    int *values = malloc((size_t)POPULATION_BATCH * n * sizeof *values);
    SlListOutcome *outcomes = malloc(POPULATION_BATCH * sizeof *outcomes);
    if (!ev || !values || !outcomes) {
        rc = ev ? sl_error_set(err, SL_ENOMEM, "out of memory for evaluation") : (err ? err->code : SL_ENOMEM);
        goto done;
    }
    long done_lists = 0;
    for (;;) {
        long got = src->read(src->ctx, values, POPULATION_BATCH, err);
        if (got < 0) {
            rc = (int)got;
            goto done;
        }
        if (got == 0)
            break;
        if ((rc = sl_evaluator_add(ev, values, got, outcomes, err)))
            goto done;
        for (long b = 0; each && b < got; b++)
            each(each_ctx, values + (size_t)b * n, &outcomes[b]);
        done_lists += got;
        if (progress)
            progress(progress_ctx, done_lists, src->total);
    }
    if (done_lists == 0) {
        rc = sl_error_set(err, SL_EINVAL, "no lists to evaluate");
        goto done;
    }
    sl_evaluator_result(ev, res);
    if (bd)
        sl_evaluator_breakdown(ev, bd);
done:
    sl_evaluator_free(ev);
    free(values);
    free(outcomes);
    return rc;
}

/* Layer 0's direct logit attribution read from the circuit tables: in layer
 * 0 the value of key k through W_O W_U is ov_tok[t_k] + ov_pos[k]
 * (tables.h), so sl_circuit_dla's src[0, h, k] is pattern[h, q, k] times the
 * column `answer` of those rows: a lookup instead of a gemv over W_O per
 * query.  Valid for a forward without intervention, as here; the suite
 * checks it against PyTorch. */
static void add_dla_tables(const SlCircuitTables *tb, const SlActCache *cache, int b, int q, const int *tok,
                           double *dla /* [H, T, T] */)
{
    const int H = tb->H, T = cache->T, Vo = tb->Vo, answer = tok[q + 1];
    for (int h = 0; h < H; h++) {
        const float *pat = cache->pattern + (((size_t)b * H + h) * T + q) * T;   /* layer 0 */
        const float *ov_tok = tb->ov_tok + (size_t)h * tb->V * Vo, *ov_pos = tb->ov_pos + (size_t)h * tb->T * Vo;
        double *acc = dla + ((size_t)h * T + q) * T;
        for (int k = 0; k <= q; k++)
            acc[k] += (double)pat[k] * ((double)ov_tok[(size_t)tok[k] * Vo + answer] + ov_pos[(size_t)k * Vo + answer]);
    }
}

void sl_population_mean_free(SlPopulationMean *pm)
{
    if (!pm)
        return;
    free(pm->pattern);
    free(pm->score_terms);
    free(pm->dla_correct);
    pm->pattern = pm->score_terms = pm->dla_correct = NULL;
}

int sl_population_mean(const SlModel *m, SlListSource *src, SlPopulationMean *out, SlProgressFn progress,
                       void *progress_ctx, SlError *err)
{
    return sl_population_mean_with(m, NULL, NULL, src, out, progress, progress_ctx, err);
}

/* A batch of B lists [B, n] checked against the vocabulary and made into
 * tokens [B, T]; first: the index of the batch's first list, for the message. */
static int population_tokens(const SlModelConfig *c, const int *values, int B, long first, int *tokens, SlError *err)
{
    const int n = c->list_len, T = c->n_ctx;
    for (int b = 0; b < B; b++) {
        for (int i = 0; i < n; i++)
            if (values[(size_t)b * n + i] < 0 || values[(size_t)b * n + i] >= c->d_vocab_out)
                return sl_error_set(err, SL_EINVAL, "list %ld: value %d is outside 0..%d", first + b,
                                    values[(size_t)b * n + i], c->d_vocab_out - 1);
        sl_task_make_tokens(c, values + (size_t)b * n, tokens + (size_t)b * T);
    }
    return 0;
}

/* Adds a batch's sums to out: the patterns of its cache, each list's score
 * terms, and its DLA to the correct next value at each prediction query.
 * terms [4, T, T] and src_dla [L, H, T] are workspace; tables: the circuit
 * tables when they may stand for the forward (clean runs), else NULL. */
static int population_add_batch(const SlModel *m, const SlCircuitTables *tables, const SlActCache *cache,
                                const int *tokens, int B, float *terms, float *src_dla, SlPopulationMean *out,
                                SlError *err)
{
    const SlModelConfig *c = &m->cfg;
    const int L = c->n_layers, H = c->n_heads, T = c->n_ctx, n = c->list_len;
    const size_t TT = (size_t)T * T;
    int rc;
    /* the pattern: cache->pattern is [L, B, H, T, T] */
    for (int l = 0; l < L; l++)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++) {
                const float *p = cache->pattern + (((size_t)l * B + b) * H + h) * TT;
                double *acc = out->pattern + ((size_t)l * H + h) * TT;
                for (size_t i = 0; i < TT; i++)
                    acc[i] += p[i];
            }
    for (int b = 0; b < B; b++) {
        const int *tok = tokens + (size_t)b * T;
        for (int h = 0; h < H; h++) {
            if ((rc = sl_circuit_score_terms(m, h, tok, T, terms, err)))
                return rc;
            for (int t = 0; t < SL_SCORE_TERMS; t++) {
                double *acc = out->score_terms + ((size_t)t * H + h) * TT;
                const float *x = terms + (size_t)t * TT;
                for (size_t i = 0; i < TT; i++)
                    acc[i] += x[i];
            }
        }
        /* the attribution to the correct next value at each prediction query */
        for (int q = n + 1; q <= 2 * n; q++) {
            if (tables) {
                add_dla_tables(tables, cache, b, q, tok, out->dla_correct);
                continue;
            }
            float direct;
            if ((rc = sl_circuit_dla(m, cache, b, q, tok[q + 1], src_dla, &direct, err)))
                return rc;
            for (int h = 0; h < H; h++) {
                double *acc = out->dla_correct + ((size_t)h * T + q) * T;
                const float *x = src_dla + (size_t)h * T;   /* layer 0 */
                for (int k = 0; k <= q; k++)
                    acc[k] += x[k];
            }
        }
    }
    return 0;
}

/* The sums of out made means over its lists; entries no query sees
 * (k > q, and DLA outside the prediction queries) NaN. */
static void population_mean_finish(SlPopulationMean *out, int n, int E)
{
    const int L = out->L, H = out->H, T = out->T;
    const size_t TT = (size_t)T * T;
    const double inv = 1.0 / (double)out->lists, scale = inv / sqrt((double)E);
    for (size_t i = 0; i < (size_t)L * H * TT; i++)
        out->pattern[i] *= inv;
    for (int t = 0; t < SL_SCORE_TERMS; t++)
        for (int h = 0; h < H; h++)
            for (int q = 0; q < T; q++)
                for (int k = 0; k < T; k++) {
                    double *x = out->score_terms + (((size_t)t * H + h) * T + q) * T + k;
                    *x = k <= q ? *x * scale : NAN;
                }
    for (int h = 0; h < H; h++)
        for (int q = 0; q < T; q++)
            for (int k = 0; k < T; k++) {
                double *x = out->dla_correct + ((size_t)h * T + q) * T + k;
                *x = q >= n + 1 && q <= 2 * n && k <= q ? *x * inv : NAN;
            }
}

int sl_population_mean_with(const SlModel *m, SlPopulationForward forward, void *forward_ctx, SlListSource *src,
                            SlPopulationMean *out, SlProgressFn progress, void *progress_ctx, SlError *err)
{
    const SlModelConfig *c = &m->cfg;
    const int L = c->n_layers, H = c->n_heads, T = c->n_ctx, n = c->list_len;
    const size_t TT = (size_t)T * T;
    int rc = 0;
    memset(out, 0, sizeof *out);
    out->L = L;
    out->H = H;
    out->T = T;
    out->pattern = calloc((size_t)L * H * TT, sizeof(double));
    out->score_terms = calloc((size_t)SL_SCORE_TERMS * H * TT, sizeof(double));
    out->dla_correct = calloc((size_t)H * TT, sizeof(double));
    const int batch = sl_cache_batch_within(c, T, POPULATION_BATCH, SL_CACHE_BATCH_BYTES);
    SlActCache *cache = sl_cache_new(c, batch, T, err);
    int *values = malloc((size_t)batch * n * sizeof *values);
    int *tokens = malloc((size_t)batch * T * sizeof *tokens);
    float *terms = malloc((size_t)SL_SCORE_TERMS * TT * sizeof *terms);   /* [4, T, T] one list, one head */
    float *src_dla = malloc((size_t)L * H * T * sizeof *src_dla);      /* [L, H, T] */
    if (!cache) {
        rc = err ? err->code : SL_ENOMEM;
        goto fail;
    }
    if (!out->pattern || !out->score_terms || !out->dla_correct || !values || !tokens || !terms || !src_dla) {
        rc = sl_error_set(err, SL_ENOMEM, "out of memory for the population means");
        goto fail;
    }
    /* the tables hold the clean values only */
    const SlCircuitTables *tables = forward ? NULL : m->tables;
    long done_lists = 0;
    for (;;) {
        long got = src->read(src->ctx, values, batch, err);
        if (got < 0) {
            rc = (int)got;
            goto fail;
        }
        if (got == 0)
            break;
        int B = (int)got;
        if ((rc = population_tokens(c, values, B, done_lists, tokens, err)))
            goto fail;
        rc = forward ? forward(forward_ctx, tokens, B, T, cache, err)
                     : sl_model_forward(m, tokens, B, T, cache, NULL, SL_FORWARD_AUTO, err);
        if (rc || (rc = population_add_batch(m, tables, cache, tokens, B, terms, src_dla, out, err)))
            goto fail;
        done_lists += B;
        if (progress)
            progress(progress_ctx, done_lists, src->total);
    }
    if (done_lists == 0) {
        rc = sl_error_set(err, SL_EINVAL, "no lists to average over");
        goto fail;
    }
    out->lists = done_lists;
    population_mean_finish(out, n, c->d_head);
    goto done;
fail:
    sl_population_mean_free(out);
done:
    sl_cache_free(cache);
    free(values);
    free(tokens);
    free(terms);
    free(src_dla);
    return rc;
}
