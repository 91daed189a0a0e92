/* decode.c: what the model predicts for lists (teacher-forced and greedy),
 * the tutorial's loss (evaluation over lists: eval.c). */
#include "sortlens/decode.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "forward_internal.h"
#include "sortlens/task.h"

/* Sum over B sequences of the cross-entropy of the logits at the prediction
 * positions n+1..2n against the next token (b_1..b_n), in double: the
 * tutorial's loss_fn is this divided by B n.  NAN if a label is not a value. */
double decode_loss_sum(const SlModelConfig *c, const float *logits /* [B, T, Vo] */, const int *tokens /* [B, T] */, int B)
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
    return decode_loss_sum(c, cache->logits, tokens, cache->B) / ((double)cache->B * c->list_len);
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

int decode_check_values(const SlModel *m, const int *values, long B, SlError *err)
{
    const SlModelConfig *c = &m->cfg;
    for (long i = 0; i < B * c->list_len; i++)
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
    return decode_check_values(m, values, B, err);
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

