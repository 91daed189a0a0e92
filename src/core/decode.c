/* decode.c: what the model predicts for lists (teacher-forced and greedy),
 * the tutorial's loss, and evaluation over random lists. */
#include "sortlens/decode.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "forward_internal.h"
#include "sortlens/task.h"

#define EVAL_BATCH 256

/* Sum over B sequences of the cross-entropy of the logits at the prediction
 * positions n+1..2n against the next token (b_1..b_n), in double: the
 * tutorial's loss_fn is this divided by B n.  NAN if a label is not a value. */
static double loss_sum(const SlModelConfig *c, const float *logits /* [B, T, Vo] */, const int *tokens /* [B, T] */, int B)
{
    const int n = c->list_len, T = c->n_ctx, Vo = c->d_vocab_out;
    double sum = 0.0;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < n; i++) {
            int p = n + 1 + i, label = tokens[(size_t)b * T + p + 1];
            if (label < 0 || label >= Vo)
                return NAN;
            const float *row = logits + ((size_t)b * T + p) * Vo;
            sum += ops_logsumexp(row, Vo) - row[label];
        }
    return sum;
}

double sl_decode_loss(const SlModelConfig *c, const SlActCache *cache, const int *tokens)
{
    if (!cache || !tokens || cache->T != c->n_ctx || cache->B < 1 || cache->Vo != c->d_vocab_out)
        return NAN;
    return loss_sum(c, cache->logits, tokens, cache->B) / ((double)cache->B * c->list_len);
}

int sl_decode_top_k(const float *logits, int Vo, int k, int *idx, double *prob)
{
    if (k > Vo)
        k = Vo;
    if (k <= 0)
        return 0;
    float mx = logits[ops_argmax(logits, Vo)];
    double se = 0.0;   /* in double throughout: these are shown, not summed */
    for (int j = 0; j < Vo; j++)
        se += exp((double)logits[j] - mx);
    /* selection of the k best: k is tiny (3) */
    for (int r = 0; r < k; r++) {
        int best = -1;
        for (int j = 0; j < Vo; j++) {
            bool taken = false;
            for (int s = 0; s < r; s++)
                taken |= idx[s] == j;
            if (!taken && (best < 0 || logits[j] > logits[best]))
                best = j;
        }
        idx[r] = best;
        prob[r] = exp((double)logits[best] - mx) / se;
    }
    return k;
}

/* Checks every value of B lists against the vocabulary. */
static int check_lists_values(const SlModel *m, const int *values, int B, SlError *err)
{
    const SlModelConfig *c = &m->cfg;
    for (long i = 0; i < (long)B * c->list_len; i++)
        if (values[i] < 0 || values[i] >= c->d_vocab_out)
            return sl_error_set(err, SL_EINVAL, "list %ld: value %d is outside 0..%d", i / c->list_len, values[i],
                                c->d_vocab_out - 1);
    return 0;
}

/* Checks B against the cache and every value against the vocabulary. */
static int check_lists(const SlModel *m, const int *values, int B, const SlActCache *cache, SlError *err)
{
    const SlModelConfig *c = &m->cfg;
    if (!cache)
        return sl_error_set(err, SL_EINVAL, "decoding without an activation cache");
    if (B < 1 || B > cache->cap_B)
        return sl_error_set(err, SL_EINVAL, "decoding %d lists; the cache holds 1..%d", B, cache->cap_B);
    if (cache->cap_T < c->n_ctx)
        return sl_error_set(err, SL_EINVAL, "decoding needs a cache of %d positions; this one holds %d", c->n_ctx,
                            cache->cap_T);
    return check_lists_values(m, values, B, err);
}

static int *make_tokens(const SlModelConfig *c, const int *values, int B, SlError *err)
{
    int *tokens = malloc((size_t)B * c->n_ctx * sizeof *tokens);
    if (!tokens) {
        sl_error_set(err, SL_ENOMEM, "out of memory for %d token sequences", B);
        return NULL;
    }
    for (int b = 0; b < B; b++)
        sl_task_make_tokens(c, values + (size_t)b * c->list_len, tokens + (size_t)b * c->n_ctx);
    return tokens;
}

int sl_decode_teacher_forced_path(const SlModel *m, const int *values, int B, int *argmax, SlActCache *cache,
                               const SlIntervention *iv, SlForwardPath path, SlError *err)
{
    const SlModelConfig *c = &m->cfg;
    int rc = check_lists(m, values, B, cache, err);
    if (rc)
        return rc;
    int *tokens = make_tokens(c, values, B, err);
    if (!tokens)
        return SL_ENOMEM;
    rc = sl_model_forward(m, tokens, B, c->n_ctx, cache, iv, path, err);
    if (!rc) {
        const int n = c->list_len, T = c->n_ctx, Vo = c->d_vocab_out;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < n; i++)
                argmax[(size_t)b * n + i] = ops_argmax(cache->logits + ((size_t)b * T + n + 1 + i) * Vo, Vo);
    }
    free(tokens);
    return rc;
}

int sl_decode_teacher_forced(const SlModel *m, const int *values, int B, int *argmax, SlActCache *cache,
                          const SlIntervention *iv, SlError *err)
{
    return sl_decode_teacher_forced_path(m, values, B, argmax, cache, iv, SL_FORWARD_AUTO, err);
}

/* ---- greedy ----------------------------------------------------------------------- */

/* Tables path: one list at a time; each step adds one key row and computes
 * one query row (forward_internal.h). tokens [B, n_ctx] hold the prefixes. */
static int greedy_tables(const SlModel *m, int B, int *tokens, int *out, SlActCache *cache, const SlIntervention *iv,
                         SlError *err)
{
    const SlModelConfig *c = &m->cfg;
    const int n = c->list_len, T = c->n_ctx, Vo = c->d_vocab_out;
    float *row = malloc((size_t)Vo * sizeof *row);   /* [Vo] */
    if (!row)
        return sl_error_set(err, SL_ENOMEM, "out of memory for greedy decoding");
    TablesRun r;
    int rc = tables_run_begin(&r, m, T, cache, iv, err);
    for (int b = 0; b < B && !rc; b++) {
        int *tok = tokens + (size_t)b * T;
        tables_run_reset(&r);
        for (int i = 0; i < n; i++) {
            int q = n + 1 + i;
            tables_run_query(&r, tok, q, row);
            tok[q + 1] = out[(size_t)b * n + i] = ops_argmax(row, Vo);
        }
    }
    free(row);
    return rc;
}

/* General path: one forward over the prefix (BOS, a, MID) fills every
 * layer's keys and values; each later step runs only the new position
 * through the layers, attending to the kept keys and values.  With an
 * intervention too (general_decode_step applies it), rather than a whole
 * forward of the prefix at every step: the same predictions, and 20
 * forwards of a 4 x 4 model made a key press in the explorer 14-16 ms. */
static int greedy_general_kv(const SlModel *m, int B, int *tokens, int *out, SlActCache *cache, const SlIntervention *iv,
                             SlError *err)
{
    const SlModelConfig *c = &m->cfg;
    const int n = c->list_len, Tn = c->n_ctx, Vo = c->d_vocab_out, P = n + 2;
    GeneralRows rows;   /* every layer's keys and values of the prefix, the logits of its last position */
    int rc = forward_general_rows(m, tokens, Tn, B, P - 1, P, cache, iv, &rows, err);
    if (rc)
        return rc;
    for (int b = 0; b < B; b++)
        tokens[(size_t)b * Tn + P] = out[(size_t)b * n] = ops_argmax(rows.logits + (size_t)b * Vo, Vo);
    if (n == 1)
        return 0;
    GeneralDecode d;
    float *lg = malloc((size_t)B * Vo * sizeof *lg);   /* [B, Vo] */
    if (!lg || (rc = general_decode_begin(&d, m, B, P, P, cache, iv, err))) {
        free(lg);
        return lg ? rc : sl_error_set(err, SL_ENOMEM, "out of memory for greedy decoding");
    }
    for (int i = 1; i < n; i++) {
        int pos = n + 1 + i;   /* the new position, holding b_i */
        general_decode_step(&d, tokens, pos, NULL, B, lg);
        for (int b = 0; b < B; b++)
            tokens[(size_t)b * Tn + pos + 1] = out[(size_t)b * n + i] = ops_argmax(lg + (size_t)b * Vo, Vo);
    }
    general_decode_end(&d);
    free(lg);
    return 0;
}

int sl_decode_greedy_path(const SlModel *m, const int *values, int B, int *out, int *tokens_out, SlActCache *cache,
                       const SlIntervention *iv, SlForwardPath path, SlError *err)
{
    const SlModelConfig *c = &m->cfg;
    int rc = check_lists(m, values, B, cache, err);
    if (rc || (rc = sl_intervention_validate(iv, c, err)))
        return rc;
    int resolved = forward_resolve_path(m, path, err);
    if (resolved < 0)
        return resolved;
    int *tokens = make_tokens(c, values, B, err);   /* [B, n_ctx]: b_1..b_n are overwritten step by step */
    if (!tokens)
        return SL_ENOMEM;
    if (resolved == SL_FORWARD_TABLES)
        rc = greedy_tables(m, B, tokens, out, cache, iv, err);
    else
        rc = greedy_general_kv(m, B, tokens, out, cache, iv, err);
    if (!rc && tokens_out) {
        memcpy(tokens_out, tokens, (size_t)B * c->n_ctx * sizeof *tokens);
        rc = sl_model_forward(m, tokens, B, c->n_ctx, cache, iv, resolved, err);
    }
    free(tokens);
    return rc;
}

int sl_decode_greedy(const SlModel *m, const int *values, int B, int *out, int *tokens_out, SlActCache *cache,
                  const SlIntervention *iv, SlError *err)
{
    return sl_decode_greedy_path(m, values, B, out, tokens_out, cache, iv, SL_FORWARD_AUTO, err);
}

/* ---- evaluation ----------------------------------------------------------------------- */

/* Teacher-forced and greedy evaluation of one list on the tables path.
 * While the model's own predictions equal the true values, greedy decoding
 * sees exactly the teacher-forced prefix, so its logits are the
 * teacher-forced row just computed; only after its first mistake does it
 * need rows of its own, which start from the key rows the two share.  The
 * first teacher-forced error is therefore also greedy's first error. */
static void eval_tables_list(TablesRun *r, int *tok /* [n_ctx], the true sequence */, float *row, long *tok_right,
                             long *pos_right, long *list_right, double *loss, SlListOutcome *outcome)
{
    const SlModelConfig *c = &r->m->cfg;
    const int n = c->list_len, Vo = c->d_vocab_out;
    int diverged = -1;   /* the greedy step whose prediction was first wrong */
    int wrong = 0;       /* ... and that prediction */
    int right = 0;
    tables_run_reset(r);
    for (int i = 0; i < n; i++) {
        int q = n + 1 + i, label = tok[q + 1];
        tables_run_query(r, tok, q, row);
        double lse;
        int a = r->k->row_argmax_lse(row, Vo, &lse);
        if (a == label) {
            right++;
            pos_right[i]++;
        } else if (diverged < 0) {
            diverged = i;
            wrong = a;
        }
        *loss += lse - row[label];
    }
    *tok_right += right;
    if (outcome) {
        outcome->tokens_right = right;
        outcome->first_wrong = diverged;
    }
    if (diverged < 0) {
        (*list_right)++;   /* greedy made the true sequence, hence all of it right */
        return;
    }
    /* The list is already wrong; greedy decoding still runs to the end, as
     * sl_decode_greedy would, from the key rows the two sequences share. */
    int g[SL_MODEL_MAX_CTX];
    int qd = n + 1 + diverged;   /* the query that went wrong */
    memcpy(g, tok, (size_t)(qd + 1) * sizeof *g);
    g[qd + 1] = wrong;
    tables_run_rewind(r, qd + 1);
    for (int q = qd + 1; q < 2 * n + 1; q++) {
        tables_run_query(r, g, q, row);
        g[q + 1] = ops_argmax(row, Vo);
    }
}

/* Greedy decoding after the teacher-forced forward of nb true sequences
 * tokens [nb, n_ctx] on the general path (forward_logits_rows: every
 * layer's keys and values in the cache at stride 2n + 1): a list whose
 * first mistake was at step first[b] (value wrong[b]) has seen the true
 * prefix until then, so it goes on from the forward's keys and values with
 * its own predictions to the end, as sl_decode_greedy would; a list with
 * no mistake (first[b] < 0) is the true sequence and needs nothing. */
static int greedy_general_diverged(const SlModel *m, int nb, const int *tokens, const int *first, const int *wrong,
                                   SlActCache *cache, SlError *err)
{
    const SlModelConfig *c = &m->cfg;
    const int n = c->list_len, Tn = c->n_ctx, Vo = c->d_vocab_out, Tr = 2 * n + 1;
    int any = 0;
    for (int b = 0; b < nb; b++)
        any |= first[b] >= 0 && first[b] < n - 1;
    if (!any)
        return 0;
    GeneralDecode d;
    int *g = malloc((size_t)nb * Tn * sizeof *g), *active = malloc((size_t)nb * sizeof *active);
    float *lg = malloc((size_t)nb * Vo * sizeof *lg);
    int rc = !g || !active || !lg ? sl_error_set(err, SL_ENOMEM, "out of memory for greedy decoding")
                                  : general_decode_begin(&d, m, nb, Tr, Tr, cache, NULL, err);
    if (!rc) {
        memcpy(g, tokens, (size_t)nb * Tn * sizeof *g);
        for (int b = 0; b < nb; b++)
            if (first[b] >= 0)
                g[(size_t)b * Tn + n + 2 + first[b]] = wrong[b];
        for (int pos = n + 2; pos <= 2 * n; pos++) {
            int na = 0;
            for (int b = 0; b < nb; b++)
                if (first[b] >= 0 && n + 2 + first[b] <= pos)
                    active[na++] = b;
            general_decode_step(&d, g, pos, active, na, lg);
            for (int r = 0; r < na; r++)
                g[(size_t)active[r] * Tn + pos + 1] = ops_argmax(lg + (size_t)r * Vo, Vo);
        }
        general_decode_end(&d);
    }
    free(g);
    free(active);
    free(lg);
    return rc;
}

/* Lists per batch on the general path: as many as keep every layer's keys
 * and values (L x T x 2 H E floats a list) within 2 MB, 16 to EVAL_BATCH.
 * Each greedy step reads all of them for every list; at 256 lists of a
 * 2 x 2 model (11 MB) they came from memory at every step, and eval of
 * 10,000 lists took 2.1-2.4 s of CPU against 1.7-1.8 s at 48 (measured
 * under load, same output). */
static int general_eval_batch(const SlModelConfig *c)
{
    const double per_list = (double)c->n_layers * c->n_ctx * 2 * c->n_heads * c->d_head * sizeof(float);
    const double lists = (2 << 20) / per_list;
    return lists < 16 ? 16 : lists > EVAL_BATCH ? EVAL_BATCH : (int)lists;
}

/* The running totals and the workspace of one evaluation (decode.h). */
struct SlEvaluator {
    const SlModel *m;
    const SlIntervention *iv;
    int resolved;          /* SL_FORWARD_TABLES or SL_FORWARD_GENERAL */
    int batch;             /* lists per forward on the general path */
    SlActCache *cache;
    TablesRun run;
    float *row;            /* [Vo] */
    int *tokens;           /* [batch, T] */
    int *pred;             /* [batch, n] */
    int *first, *wrong;    /* [batch] the first teacher-forced mistake of each list (-1: none) and its value */
    long lists, tok_right, list_right;
    long *pos_right;       /* [n] */
    double loss;
};

void sl_evaluator_free(SlEvaluator *ev)
{
    if (!ev)
        return;
    sl_cache_free(ev->cache);
    free(ev->row);
    free(ev->tokens);
    free(ev->pred);
    free(ev->first);
    free(ev->wrong);
    free(ev->pos_right);
    free(ev);
}

SlEvaluator *sl_evaluator_new(const SlModel *m, const SlIntervention *iv, SlForwardPath path, SlError *err)
{
    const SlModelConfig *c = &m->cfg;
    const int n = c->list_len, T = c->n_ctx, Vo = c->d_vocab_out;
    if (sl_intervention_validate(iv, c, err))
        return NULL;
    int resolved = forward_resolve_path(m, path, err);
    if (resolved < 0)
        return NULL;
    SlEvaluator *ev = calloc(1, sizeof *ev);
    if (!ev) {
        sl_error_set(err, SL_ENOMEM, "out of memory for evaluation");
        return NULL;
    }
    ev->m = m;
    ev->iv = iv;
    ev->resolved = resolved;
    ev->batch = resolved == SL_FORWARD_TABLES ? EVAL_BATCH : general_eval_batch(c);
    const bool tables = resolved == SL_FORWARD_TABLES;
    ev->cache = sl_cache_new(c, tables ? 1 : ev->batch, T, err);   /* the tables path needs only its workspace */
    if (!ev->cache)
        goto fail;
    ev->row = malloc((size_t)Vo * sizeof *ev->row);
    ev->tokens = malloc((size_t)ev->batch * T * sizeof *ev->tokens);
    ev->pred = malloc((size_t)ev->batch * n * sizeof *ev->pred);
    ev->pos_right = calloc((size_t)n, sizeof *ev->pos_right);
    ev->first = malloc((size_t)ev->batch * sizeof *ev->first);
    ev->wrong = malloc((size_t)ev->batch * sizeof *ev->wrong);
    if (!ev->row || !ev->tokens || !ev->pred || !ev->pos_right || !ev->first || !ev->wrong) {
        sl_error_set(err, SL_ENOMEM, "out of memory for evaluation");
        goto fail;
    }
    if (tables && tables_run_begin(&ev->run, m, T, ev->cache, iv, err))
        goto fail;
    return ev;
fail:
    sl_evaluator_free(ev);
    return NULL;
}

/* One batch of nb <= ev->batch lists. */
static int evaluate_batch(SlEvaluator *ev, const int *values, int nb, SlListOutcome *outcomes, SlError *err)
{
    const SlModel *m = ev->m;
    const SlModelConfig *c = &m->cfg;
    const int n = c->list_len, T = c->n_ctx, Vo = c->d_vocab_out;
    int *tokens = ev->tokens;
    int rc = check_lists_values(m, values, nb, err);
    if (rc)
        return rc;
    for (int b = 0; b < nb; b++)
        sl_task_make_tokens(c, values + (size_t)b * n, tokens + (size_t)b * T);
    if (ev->resolved == SL_FORWARD_TABLES) {
        for (int b = 0; b < nb; b++)
            eval_tables_list(&ev->run, tokens + (size_t)b * T, ev->row, &ev->tok_right, ev->pos_right,
                             &ev->list_right, &ev->loss, outcomes ? outcomes + b : NULL);
        return 0;
    }
    /* teacher-forced: the logits of the n prediction positions */
    SlActCache *cache = ev->cache;
    rc = forward_logits_rows(m, tokens, nb, T, n + 1, 2 * n + 1, cache, ev->iv, ev->resolved, err);
    if (rc)
        return rc;
    int *first = ev->first, *wrong = ev->wrong;
    for (int b = 0; b < nb; b++) {
        int right = 0;
        first[b] = -1;
        for (int i = 0; i < n; i++) {
            int a = ops_argmax(cache->logits + ((size_t)b * T + n + 1 + i) * Vo, Vo);
            if (a == tokens[(size_t)b * T + n + 2 + i]) {
                right++;
                ev->pos_right[i]++;
            } else if (first[b] < 0) {
                first[b] = i;
                wrong[b] = a;
            }
        }
        ev->tok_right += right;
        if (outcomes)
            outcomes[b].tokens_right = right;
    }
    ev->loss += loss_sum(c, cache->logits, tokens, nb);
    if (sl_intervention_is_none(ev->iv)) {
        /* greedy, as on the tables path (eval_tables_list): the teacher-forced
         * prefix until the first mistake, then decoding of its own */
        for (int b = 0; b < nb; b++) {
            ev->list_right += first[b] < 0;
            if (outcomes)
                outcomes[b].first_wrong = first[b];
        }
        return greedy_general_diverged(m, nb, tokens, first, wrong, cache, err);
    }
    /* greedy with an intervention: the model's own predictions fill b_1..b_n */
    rc = sl_decode_greedy_path(m, values, nb, ev->pred, NULL, cache, ev->iv, ev->resolved, err);
    if (rc)
        return rc;
    for (int b = 0; b < nb; b++) {
        int fw = -1;
        for (int i = 0; i < n && fw < 0; i++)
            if (ev->pred[(size_t)b * n + i] != tokens[(size_t)b * T + n + 2 + i])
                fw = i;
        ev->list_right += fw < 0;
        if (outcomes)
            outcomes[b].first_wrong = fw;
    }
    return 0;
}

int sl_evaluator_add(SlEvaluator *ev, const int *values, long B, SlListOutcome *outcomes, SlError *err)
{
    const int n = ev->m->cfg.list_len;
    for (long done = 0; done < B;) {
        int nb = B - done < ev->batch ? (int)(B - done) : ev->batch;
        int rc = evaluate_batch(ev, values + (size_t)done * n, nb, outcomes ? outcomes + done : NULL, err);
        if (rc)
            return rc;
        done += nb;
        ev->lists += nb;
    }
    return 0;
}

void sl_evaluator_result(const SlEvaluator *ev, SlEvalResult *res)
{
    const int n = ev->m->cfg.list_len;
    double lists = ev->lists > 0 ? (double)ev->lists : NAN;
    memset(res, 0, sizeof *res);
    res->lists = ev->lists;
    res->token_accuracy = (double)ev->tok_right / (lists * n);
    res->list_accuracy = (double)ev->list_right / lists;
    res->loss = ev->loss / (lists * n);
    for (int i = 0; i < n; i++)
        res->per_position_accuracy[i] = (double)ev->pos_right[i] / lists;
}

int sl_decode_eval_path(const SlModel *m, long lists, uint64_t seed, const SlIntervention *iv, SlForwardPath path,
                     SlEvalResult *res, SlProgressFn progress, void *progress_ctx, SlError *err)
{
    const SlModelConfig *c = &m->cfg;
    const int n = c->list_len;
    if (lists < 1)
        return sl_error_set(err, SL_EINVAL, "evaluation over %ld lists: need at least 1", lists);
    SlEvaluator *ev = sl_evaluator_new(m, iv, path, err);
    if (!ev)
        return err ? err->code : SL_ENOMEM;
    int rc = 0;
    const int batch = lists < EVAL_BATCH ? (int)lists : EVAL_BATCH;
    int *values = malloc((size_t)batch * n * sizeof *values);
    if (!values) {
        rc = sl_error_set(err, SL_ENOMEM, "out of memory for evaluation");
        goto done;
    }
    SlRng rng;
    sl_rng_seed(&rng, seed);
    for (long done_lists = 0; done_lists < lists;) {
        int nb = lists - done_lists < batch ? (int)(lists - done_lists) : batch;
        for (int b = 0; b < nb; b++)
            sl_task_random_list(c, &rng, values + (size_t)b * n);
        if ((rc = sl_evaluator_add(ev, values, nb, NULL, err)))
            goto done;
        done_lists += nb;
        if (progress)
            progress(progress_ctx, done_lists, lists);
    }
    sl_evaluator_result(ev, res);
done:
    sl_evaluator_free(ev);
    free(values);
    return rc;
}

int sl_decode_eval(const SlModel *m, long lists, uint64_t seed, const SlIntervention *iv, SlEvalResult *res, SlProgressFn progress,
                void *progress_ctx, SlError *err)
{
    return sl_decode_eval_path(m, lists, seed, iv, SL_FORWARD_AUTO, res, progress, progress_ctx, err);
}
