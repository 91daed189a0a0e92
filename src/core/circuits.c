/* circuits.c: full circuits, per-example decompositions, the metrics of
 * the published analysis and the ablation table (see circuits.h). */
#include "sortlens/circuits.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sortlens/ablation.h"
#include "sortlens/names.h"
#include "sortlens/tables.h"
#include "sortlens/task.h"
#include "forward_internal.h"
#include "ops.h"

static const char *const kind_names[SL_CIRCUIT_COUNT] = {
    [SL_CIRCUIT_OV] = "ov",
    [SL_CIRCUIT_OV_POS] = "ov-pos",
    [SL_CIRCUIT_QK_TOKEN_TOKEN] = "qk-token-token",
    [SL_CIRCUIT_QK_TOKEN_POS] = "qk-token-pos",
    [SL_CIRCUIT_QK_POS_TOKEN] = "qk-pos-token",
    [SL_CIRCUIT_QK_POS_POS] = "qk-pos-pos",
};

const char *sl_circuit_kind_name(SlCircuitKind k)
{
    return k >= 0 && k < SL_CIRCUIT_COUNT ? kind_names[k] : "?";
}

int sl_circuit_kind_from_name(const char *name, SlCircuitKind *out, SlError *err)
{
    int k = sl_names_find(kind_names, SL_CIRCUIT_COUNT, name);
    if (k >= 0) {
        *out = (SlCircuitKind)k;
        return 0;
    }
    return sl_error_set(err, SL_EINVAL, "'%s' is not a circuit; the circuits are ov, ov-pos, qk-token-token, "
                        "qk-token-pos, qk-pos-token, qk-pos-pos", name);
}

/* ---- named matrices ---------------------------------------------------------- */

SlNamedMatrix *sl_named_matrix_new(const char *name, int rows, int cols, SlError *err)
{
    if (rows < 1 || cols < 1 || (size_t)rows > SIZE_MAX / sizeof(float) / (size_t)cols) {
        sl_error_set(err, SL_EINVAL, "matrix %s: bad size %d x %d", name, rows, cols);
        return NULL;
    }
    SlNamedMatrix *nm = calloc(1, sizeof *nm);
    if (!nm)
        goto nomem;
    snprintf(nm->name, sizeof nm->name, "%s", name);
    nm->rows = rows;
    nm->cols = cols;
    nm->row_labels = calloc((size_t)rows, sizeof *nm->row_labels);
    nm->col_labels = calloc((size_t)cols, sizeof *nm->col_labels);
    nm->data = calloc((size_t)rows * (size_t)cols, sizeof(float));
    if (!nm->row_labels || !nm->col_labels || !nm->data)
        goto nomem;
    return nm;
nomem:
    sl_named_matrix_free(nm);
    sl_error_set(err, SL_ENOMEM, "out of memory for matrix %s (%d x %d)", name, rows, cols);
    return NULL;
}

void sl_named_matrix_free(SlNamedMatrix *nm)
{
    if (!nm)
        return;
    free(nm->row_labels);
    free(nm->col_labels);
    free(nm->data);
    free(nm);
}

void sl_circuit_token_label(const SlModelConfig *c, int token, char *buf)
{
    if (token == sl_task_bos(c))
        snprintf(buf, SL_CIRCUIT_LABEL_MAX, "BOS");
    else if (token == sl_task_mid(c))
        snprintf(buf, SL_CIRCUIT_LABEL_MAX, "MID");
    else
        snprintf(buf, SL_CIRCUIT_LABEL_MAX, "%d", token);
}

void sl_circuit_position_label(const SlModelConfig *c, int pos, char *buf)
{
    (void)c;
    snprintf(buf, SL_CIRCUIT_LABEL_MAX, "p%d", pos);
}

/* ---- full circuits ------------------------------------------------------------ */

/* C[M,N] = A[M,K] B[K,N], row-major. */
static void matmul(float *C, const float *A, const float *B, int M, int N, int K)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, K, B, N, 0.0f, C, N);
}

/* C[M,N] = A[M,K] B[N,K]^T */
static void matmul_bt(float *C, const float *A, const float *B, int M, int N, int K)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A, K, B, K, 0.0f, C, N);
}

/* What one head of layer l reads straight from the embeddings through
 * W = W_Q, W_K or W_V (P_W_*): tok = W_E W [V, E], pos = W_pos W + b [T, E],
 * the bias on the position side as in tables.c. */
static void head_side(const SlModel *m, int l, int h, int which, float *tok, float *pos)
{
    const SlModelConfig *c = &m->cfg;
    const SlModelParams *p = &m->params;
    const float *W = which == SL_P_W_Q ? p->W_Q : which == SL_P_W_K ? p->W_K : p->W_V;
    const float *b = which == SL_P_W_Q ? p->b_Q : which == SL_P_W_K ? p->b_K : p->b_V;
    int V = c->d_vocab, T = c->n_ctx, D = c->d_model, E = c->d_head;
    W += sl_model_head_qkv_offset(c, l, h);               /* [D, E] */
    b += ((size_t)l * c->n_heads + h) * (size_t)E;     /* [E] */
    if (tok)
        matmul(tok, p->W_E, W, V, E, D);
    if (pos) {
        matmul(pos, p->W_pos, W, T, E, D);
        for (int t = 0; t < T; t++)
            for (int e = 0; e < E; e++)
                pos[(size_t)t * E + e] += b[e];
    }
}

/* Multiplies circuit `kind` of (l, h) out into out [rows, cols]. */
static int compute_circuit(const SlModel *m, SlCircuitKind kind, int l, int h, float *out, SlError *err)
{
    const SlModelConfig *c = &m->cfg;
    int V = c->d_vocab, T = c->n_ctx, D = c->d_model, E = c->d_head, Vo = c->d_vocab_out;
    int rc = 0;
    float *a = NULL, *b = NULL, *vo = NULL;
    if (kind == SL_CIRCUIT_OV || kind == SL_CIRCUIT_OV_POS) {
        bool tok = kind == SL_CIRCUIT_OV;
        int R = tok ? V : T;
        a = malloc((size_t)R * E * sizeof(float));      /* [R, E] tokens or positions through W_V */
        vo = malloc((size_t)R * D * sizeof(float));     /* [R, D] then through W_O */
        if (!a || !vo)
            goto nomem;
        head_side(m, l, h, SL_P_W_V, tok ? a : NULL, tok ? NULL : a);
        matmul(vo, a, m->params.W_O + sl_model_head_qkv_offset(c, l, h), R, D, E);
        matmul(out, vo, m->params.W_U, R, Vo, D);
        goto done;
    }
    bool q_tok = kind == SL_CIRCUIT_QK_TOKEN_TOKEN || kind == SL_CIRCUIT_QK_TOKEN_POS;
    bool k_tok = kind == SL_CIRCUIT_QK_TOKEN_TOKEN || kind == SL_CIRCUIT_QK_POS_TOKEN;
    int R = q_tok ? V : T, C = k_tok ? V : T;
    a = malloc((size_t)R * E * sizeof(float));          /* [R, E] queries */
    b = malloc((size_t)C * E * sizeof(float));          /* [C, E] keys */
    if (!a || !b)
        goto nomem;
    head_side(m, l, h, SL_P_W_Q, q_tok ? a : NULL, q_tok ? NULL : a);
    head_side(m, l, h, SL_P_W_K, k_tok ? b : NULL, k_tok ? NULL : b);
    matmul_bt(out, a, b, R, C, E);
    goto done;
nomem:
    rc = sl_error_set(err, SL_ENOMEM, "out of memory for circuit %s", sl_circuit_kind_name(kind));
done:
    free(a);
    free(b);
    free(vo);
    return rc;
}

/* The layer-0 table of `kind` for head h, or NULL. */
static const float *table_of(const SlCircuitTables *t, SlCircuitKind kind, int h)
{
    size_t V = (size_t)t->V, T = (size_t)t->T, Vo = (size_t)t->Vo;
    switch (kind) {
    case SL_CIRCUIT_OV: return t->ov_tok + (size_t)h * V * Vo;
    case SL_CIRCUIT_OV_POS: return t->ov_pos + (size_t)h * T * Vo;
    case SL_CIRCUIT_QK_TOKEN_TOKEN: return t->qk_tok_tok + (size_t)h * V * V;
    case SL_CIRCUIT_QK_TOKEN_POS: return t->qk_tok_pos + (size_t)h * V * T;
    case SL_CIRCUIT_QK_POS_TOKEN: return t->qk_pos_tok + (size_t)h * T * V;
    case SL_CIRCUIT_QK_POS_POS: return t->qk_pos_pos + (size_t)h * T * T;
    default: return NULL;
    }
}

static int check_layer_head(const SlModel *m, int layer, int head, SlError *err)
{
    if (layer < 0 || layer >= m->cfg.n_layers)
        return sl_error_set(err, SL_EINVAL, "layer %d is out of range: the model has %d layer%s (0..%d)", layer,
                            m->cfg.n_layers, m->cfg.n_layers == 1 ? "" : "s", m->cfg.n_layers - 1);
    if (head < 0 || head >= m->cfg.n_heads)
        return sl_error_set(err, SL_EINVAL, "head %d is out of range: the model has %d head%s (0..%d)", head,
                            m->cfg.n_heads, m->cfg.n_heads == 1 ? "" : "s", m->cfg.n_heads - 1);
    return 0;
}

SlNamedMatrix *sl_circuit_get_kind(const SlModel *m, SlCircuitKind kind, int layer, int head, SlError *err)
{
    if (kind < 0 || kind >= SL_CIRCUIT_COUNT) {
        sl_error_set(err, SL_EINVAL, "unknown circuit kind %d", (int)kind);
        return NULL;
    }
    if (check_layer_head(m, layer, head, err))
        return NULL;
    const SlModelConfig *c = &m->cfg;
    bool rows_tok = kind == SL_CIRCUIT_OV || kind == SL_CIRCUIT_QK_TOKEN_TOKEN || kind == SL_CIRCUIT_QK_TOKEN_POS;
    bool cols_tok = kind == SL_CIRCUIT_QK_TOKEN_TOKEN || kind == SL_CIRCUIT_QK_POS_TOKEN;
    bool cols_val = kind == SL_CIRCUIT_OV || kind == SL_CIRCUIT_OV_POS;
    int rows = rows_tok ? c->d_vocab : c->n_ctx;
    int cols = cols_val ? c->d_vocab_out : cols_tok ? c->d_vocab : c->n_ctx;
    SlNamedMatrix *nm = sl_named_matrix_new(kind_names[kind], rows, cols, err);
    if (!nm)
        return NULL;
    for (int r = 0; r < rows; r++) {
        if (rows_tok)
            sl_circuit_token_label(c, r, nm->row_labels[r]);
        else
            sl_circuit_position_label(c, r, nm->row_labels[r]);
    }
    for (int k = 0; k < cols; k++) {
        if (cols_val || cols_tok)
            sl_circuit_token_label(c, k, nm->col_labels[k]);
        else
            sl_circuit_position_label(c, k, nm->col_labels[k]);
    }
    if (layer == 0 && m->tables) {
        memcpy(nm->data, table_of(m->tables, kind, head), (size_t)rows * cols * sizeof(float));
        return nm;
    }
    if (compute_circuit(m, kind, layer, head, nm->data, err)) {
        sl_named_matrix_free(nm);
        return NULL;
    }
    return nm;
}

SlNamedMatrix *sl_circuit_qk_combined(const SlModel *m, int layer, int head, SlError *err)
{
    if (check_layer_head(m, layer, head, err))
        return NULL;
    const SlModelConfig *c = &m->cfg;
    int V = c->d_vocab, T = c->n_ctx, N = V + T;
    SlNamedMatrix *nm = sl_named_matrix_new("qk-combined", N, N, err);
    if (!nm)
        return NULL;
    for (int i = 0; i < N; i++) {
        if (i < V)
            sl_circuit_token_label(c, i, nm->row_labels[i]);
        else
            sl_circuit_position_label(c, i - V, nm->row_labels[i]);
        memcpy(nm->col_labels[i], nm->row_labels[i], SL_CIRCUIT_LABEL_MAX);
    }
    static const SlCircuitKind terms[4] = {SL_CIRCUIT_QK_TOKEN_TOKEN, SL_CIRCUIT_QK_TOKEN_POS, SL_CIRCUIT_QK_POS_TOKEN,
                                           SL_CIRCUIT_QK_POS_POS};
    for (int t = 0; t < 4; t++) {
        SlNamedMatrix *b = sl_circuit_get_kind(m, terms[t], layer, head, err);
        if (!b) {
            sl_named_matrix_free(nm);
            return NULL;
        }
        int r0 = t < 2 ? 0 : V, c0 = t % 2 == 0 ? 0 : V;   /* query token rows first, key token columns first */
        for (int r = 0; r < b->rows; r++)
            memcpy(nm->data + (size_t)(r0 + r) * N + c0, b->data + (size_t)r * b->cols, sizeof(float) * (size_t)b->cols);
        sl_named_matrix_free(b);
    }
    return nm;
}

SlNamedMatrix *sl_circuit_get(const SlModel *m, const char *name, int layer, int head, SlError *err)
{
    SlCircuitKind kind;
    if (sl_circuit_kind_from_name(name, &kind, err))
        return NULL;
    return sl_circuit_get_kind(m, kind, layer, head, err);
}

/* ---- one example ---------------------------------------------------------------- */

int sl_circuit_score_terms(const SlModel *m, int head, const int *tokens, int T, float *terms, SlError *err)
{
    const SlModelConfig *c = &m->cfg;
    const SlCircuitTables *t = m->tables;
    if (!t)
        return sl_error_set(err, SL_EINVAL, "the model's circuit tables are not built (model_prepare)");
    if (check_layer_head(m, 0, head, err))
        return err ? err->code : SL_EINVAL;
    if (T < 1 || T > c->n_ctx)
        return sl_error_set(err, SL_EINVAL, "sequence of %d tokens; the model takes 1..%d", T, c->n_ctx);
    for (int i = 0; i < T; i++)
        if (tokens[i] < 0 || tokens[i] >= c->d_vocab)
            return sl_error_set(err, SL_EINVAL, "token %d at position %d is outside 0..%d", tokens[i], i, c->d_vocab - 1);
    size_t V = (size_t)t->V, NT = (size_t)t->T, TT = (size_t)T * T;
    const float *tt = t->qk_tok_tok + head * V * V, *tp = t->qk_tok_pos + head * V * NT;
    const float *pt = t->qk_pos_tok + head * NT * V, *pp = t->qk_pos_pos + head * NT * NT;
    for (int q = 0; q < T; q++) {
        size_t tq = (size_t)tokens[q];
        for (int k = 0; k < T; k++) {
            size_t i = (size_t)q * T + k, tk = (size_t)tokens[k];
            bool seen = k <= q;   /* causal mask: later keys hold 0 */
            terms[SL_SCORE_TERM_TOK_TOK * TT + i] = seen ? tt[tq * V + tk] : 0.0f;
            terms[SL_SCORE_TERM_TOK_POS * TT + i] = seen ? tp[tq * NT + (size_t)k] : 0.0f;
            terms[SL_SCORE_TERM_POS_TOK * TT + i] = seen ? pt[(size_t)q * V + tk] : 0.0f;
            terms[SL_SCORE_TERM_POS_POS * TT + i] = seen ? pp[(size_t)q * NT + (size_t)k] : 0.0f;
        }
    }
    return 0;
}

/* ---- metrics of the circuits ---------------------------------------------------- */

int sl_circuit_ov_copy_count(const SlModel *m, int layer, int head, int *hits, int *total, SlError *err)
{
    SlNamedMatrix *ov = sl_circuit_get_kind(m, SL_CIRCUIT_OV, layer, head, err);
    if (!ov)
        return err ? err->code : SL_ENOMEM;
    int Vo = m->cfg.d_vocab_out, n = 0;
    for (int r = 0; r < Vo; r++)
        n += ops_argmax(ov->data + (size_t)r * ov->cols, Vo) == r;
    sl_named_matrix_free(ov);
    *hits = n;
    *total = Vo;
    return 0;
}

int sl_circuit_qk_next_token_count(const SlModel *m, int layer, int head, int *hits, int *total, SlError *err)
{
    SlNamedMatrix *qk = sl_circuit_get_kind(m, SL_CIRCUIT_QK_TOKEN_TOKEN, layer, head, err);
    if (!qk)
        return err ? err->code : SL_ENOMEM;
    int Vo = m->cfg.d_vocab_out, n = 0;
    for (int r = 0; r < Vo; r++)   /* columns 0..Vo-1 only: r = Vo-1 can never hit */
        n += ops_argmax(qk->data + (size_t)r * qk->cols, Vo) == r + 1;
    sl_named_matrix_free(qk);
    *hits = n;
    *total = Vo;
    return 0;
}

/* ---- attribution ------------------------------------------------------------------ */

int sl_circuit_dla(const SlModel *m, const SlActCache *cache, int b, int q, int value, float *src, float *direct,
                SlError *err)
{
    int rc = cache_check_row(m, cache, b, q, err);
    if (rc)
        return rc;
    const SlModelConfig *c = &m->cfg;
    const SlModelParams *p = &m->params;
    int L = c->n_layers, H = c->n_heads, D = c->d_model, E = c->d_head, Vo = c->d_vocab_out;
    int T = cache->T;
    if (value < 0 || value >= Vo)
        return sl_error_set(err, SL_EINVAL, "value %d is outside 0..%d", value, Vo - 1);
    const float *embed = hook_cached(cache, SL_HOOK_EMBED, 0);       /* [B, T, D] */
    const float *pos = hook_cached(cache, SL_HOOK_POS_EMBED, 0);     /* [B, T, D] */
    float *wcol = malloc((size_t)(D + E + T) * sizeof(float));
    if (!wcol)
        return sl_error_set(err, SL_ENOMEM, "out of memory for the attribution");
    float *u = wcol + D, *vu = u + E;   /* [D] W_U[:, value]; [E] W_O[l,h] W_U[:, value]; [T] v . u */
    for (int d = 0; d < D; d++)
        wcol[d] = p->W_U[(size_t)d * Vo + value];
    /* The direct path: the embeddings through W_U, and every bias that
     * reaches the logits whatever the pattern (b_O of each layer, b_U). */
    size_t row = ((size_t)b * T + q) * D;
    double dsum = p->b_U[value];
    for (int d = 0; d < D; d++)
        dsum += ((double)embed[row + d] + pos[row + d]) * wcol[d];
    for (int l = 0; l < L; l++)
        dsum += cblas_sdot(D, p->b_O + (size_t)l * D, 1, wcol, 1);
    *direct = (float)dsum;
    for (int l = 0; l < L; l++) {
        const float *v = hook_cached(cache, SL_HOOK_V, l);           /* [B, T, H, E] */
        const float *pat = hook_cached(cache, SL_HOOK_PATTERN, l);   /* [B, H, T, T] */
        for (int h = 0; h < H; h++) {
            const float *wo = p->W_O + sl_model_head_qkv_offset(c, l, h);   /* [E, D] */
            cblas_sgemv(CblasRowMajor, CblasNoTrans, E, D, 1.0f, wo, D, wcol, 1, 0.0f, u, 1);
            /* vu[k] = v[b, k, h] . u: rows of v for this head are H * E apart */
            cblas_sgemv(CblasRowMajor, CblasNoTrans, T, E, 1.0f, v + ((size_t)b * T * H + h) * E, H * E, u, 1,
                        0.0f, vu, 1);
            const float *pr = pat + (((size_t)b * H + h) * T + q) * T;
            float *out = src + ((size_t)l * H + h) * T;
            for (int k = 0; k < T; k++)
                out[k] = k <= q ? pr[k] * vu[k] : 0.0f;
        }
    }
    free(wcol);
    return 0;
}

/* ---- statistics over random lists --------------------------------------------------- */

/* Teacher-forced token sequences of `B` random lists: tokens [B, n_ctx]. */
static void random_batch(const SlModelConfig *c, SlRng *rng, int B, int *values, int *tokens)
{
    for (int b = 0; b < B; b++) {
        sl_task_random_list(c, rng, values);
        sl_task_make_tokens(c, values, tokens + (size_t)b * c->n_ctx);
    }
}

enum { STATS_BATCH = 256 };

enum { STAT_TOP, STAT_TOP_INPUT, STAT_CORRECT_MASS, STAT_AFTER_MID, STAT_COUNT };

/* Adds the statistics of the B sequences tokens [B, T] (the cache's last
 * forward) into acc [L * H, STAT_COUNT]. */
static int accumulate_attention(const SlModel *m, const SlActCache *cache, const int *tokens, int B, double *acc,
                                SlError *err)
{
    const SlModelConfig *c = &m->cfg;
    int L = c->n_layers, H = c->n_heads, T = c->n_ctx, n = c->list_len;
    int mid = sl_task_first_pred_pos(c);   /* MID's index, n + 1: the first prediction position */
    for (int l = 0; l < L; l++) {
        const float *pat = hook_cached(cache, SL_HOOK_PATTERN, l);   /* [B, H, T, T] */
        for (int b = 0; b < B; b++) {
            const int *tok = tokens + (size_t)b * T;
            for (int h = 0; h < H; h++)
                for (int q = mid; q < mid + n; q++) {
                    const float *row = pat + (((size_t)b * H + h) * T + q) * T;
                    int answer = tok[q + 1];
                    double *a = acc + (size_t)(l * H + h) * STAT_COUNT;
                    a[STAT_TOP] += tok[ops_argmax(row, q + 1)] == answer;
                    a[STAT_TOP_INPUT] += tok[1 + ops_argmax(row + 1, n)] == answer;   /* a_1..a_n */
                    for (int k = 1; k <= n; k++)
                        if (tok[k] == answer)
                            a[STAT_CORRECT_MASS] += row[k];
                    for (int k = mid + 1; k <= q; k++)   /* b_1 .. b_{q-mid}: the sorted prefix */
                        a[STAT_AFTER_MID] += row[k];
                }
        }
    }
    return 0;
}

/* Runs the attention statistics over `lists` sequences, taken from tokens
 * [lists, T] when it is not NULL, else drawn at random from seed. */
static int attention_stats(const SlModel *m, const int *given, long lists, uint64_t seed, SlAttentionStats *stats,
                           SlError *err)
{
    const SlModelConfig *c = &m->cfg;
    int L = c->n_layers, H = c->n_heads, T = c->n_ctx, n = c->list_len;
    if (lists < 1)
        return sl_error_set(err, SL_EINVAL, "the number of lists must be at least 1 (got %ld)", lists);
    int cap = sl_cache_batch_within(c, T, lists < STATS_BATCH ? (int)lists : STATS_BATCH, SL_CACHE_BATCH_BYTES);
    int rc = 0;
    SlActCache *cache = sl_cache_new(c, cap, T, err);
    int *tokens = malloc((size_t)cap * T * sizeof(int)), *values = malloc((size_t)n * sizeof(int));
    double *acc = calloc((size_t)L * H * STAT_COUNT, sizeof(double));
    if (!cache || !tokens || !values || !acc) {
        rc = cache ? sl_error_set(err, SL_ENOMEM, "out of memory for the attention statistics") : (err ? err->code : SL_ENOMEM);
        goto done;
    }
    SlRng rng;
    sl_rng_seed(&rng, seed);
    for (long done_lists = 0; done_lists < lists;) {
        int B = lists - done_lists < cap ? (int)(lists - done_lists) : cap;
        if (given)
            memcpy(tokens, given + (size_t)done_lists * T, (size_t)B * T * sizeof(int));
        else
            random_batch(c, &rng, B, values, tokens);
        if ((rc = sl_model_forward(m, tokens, B, T, cache, NULL, SL_FORWARD_AUTO, err)) ||
            (rc = accumulate_attention(m, cache, tokens, B, acc, err)))
            goto done;
        done_lists += B;
    }
    double queries = (double)lists * n;
    for (int i = 0; i < L * H; i++) {
        const double *a = acc + (size_t)i * STAT_COUNT;
        stats[i].queries = lists * n;
        stats[i].top_source_correct = a[STAT_TOP] / queries;
        stats[i].top_input_correct = a[STAT_TOP_INPUT] / queries;
        stats[i].correct_mass = a[STAT_CORRECT_MASS] / queries;
        stats[i].mass_after_mid = a[STAT_AFTER_MID] / queries;
    }
done:
    sl_cache_free(cache);
    free(tokens);
    free(values);
    free(acc);
    return rc;
}

int sl_circuit_attention_stats(const SlModel *m, long lists, uint64_t seed, SlAttentionStats *stats, SlError *err)
{
    return attention_stats(m, NULL, lists, seed, stats, err);
}

int sl_circuit_attention_stats_tokens(const SlModel *m, const int *tokens, long B, SlAttentionStats *stats, SlError *err)
{
    return attention_stats(m, tokens, B, 0, stats, err);
}

int sl_circuit_mean_z(const SlModel *m, int layer, long lists, uint64_t seed, float *mean_z, SlError *err)
{
    /* the mean over positions of the per-position means (ablation.h) */
    const SlModelConfig *c = &m->cfg;
    const size_t T = (size_t)c->n_ctx, HE = (size_t)c->n_heads * c->d_head;
    if (check_layer_head(m, layer, 0, err))
        return err ? err->code : SL_EINVAL;
    float *per_pos = malloc(T * HE * sizeof *per_pos);
    if (!per_pos)
        return sl_error_set(err, SL_ENOMEM, "out of memory for the mean of hook_z");
    int rc = sl_ablation_mean_z(m, layer, lists, seed, per_pos, err);
    for (size_t j = 0; !rc && j < HE; j++) {
        double sum = 0;
        for (size_t t = 0; t < T; t++)
            sum += per_pos[t * HE + j];
        mean_z[j] = (float)(sum / (double)T);
    }
    free(per_pos);
    return rc;
}

/* ---- the ablation table ------------------------------------------------------------------ */

static const struct {
    const char *name, *description;
} ablations[SL_ABLATION_COUNT] = {
    [SL_ABLATION_CLEAN] = {"clean", "clean (no intervention)"},
    [SL_ABLATION_QK_TOK_TOK] = {"no-qk-token-token", "QK token-token term removed"},
    [SL_ABLATION_QK_TOK_POS] = {"no-qk-token-pos", "QK token-pos term removed"},
    [SL_ABLATION_QK_POS_TOK] = {"no-qk-pos-token", "QK pos-token term removed"},
    [SL_ABLATION_QK_POS_POS] = {"no-qk-pos-pos", "QK pos-pos term removed"},
    [SL_ABLATION_OV_NO_POS] = {"ov-without-pos", "W_pos removed from OV"},
    [SL_ABLATION_NO_DIRECT] = {"no-direct-path", "direct path removed"},
};

void sl_circuit_ablation_intervention(int which, SlIntervention *iv)
{
    sl_intervention_init(iv);
    switch (which) {
    case SL_ABLATION_QK_TOK_TOK: iv->qk_terms_off = SL_QK_TERM_TOK_TOK; break;
    case SL_ABLATION_QK_TOK_POS: iv->qk_terms_off = SL_QK_TERM_TOK_POS; break;
    case SL_ABLATION_QK_POS_TOK: iv->qk_terms_off = SL_QK_TERM_POS_TOK; break;
    case SL_ABLATION_QK_POS_POS: iv->qk_terms_off = SL_QK_TERM_POS_POS; break;
    case SL_ABLATION_OV_NO_POS: iv->ov_drop_pos = true; break;
    case SL_ABLATION_NO_DIRECT: iv->drop_direct = true; break;
    default: break;
    }
}

int sl_circuit_ablation_table(const SlModel *m, long lists, uint64_t seed, SlAblationRow rows[SL_ABLATION_COUNT],
                           SlProgressFn progress, void *progress_ctx, SlError *err)
{
    if (lists < 1)
        return sl_error_set(err, SL_EINVAL, "the number of lists must be at least 1 (got %ld)", lists);
    SlProgressPart tp = {progress, progress_ctx, 0, lists * SL_ABLATION_COUNT};
    for (int i = 0; i < SL_ABLATION_COUNT; i++) {
        rows[i].name = ablations[i].name;
        rows[i].description = ablations[i].description;
        sl_circuit_ablation_intervention(i, &rows[i].iv);
        tp.offset = lists * i;
        /* The same seed for every row: each intervention sees the same lists. */
        int rc = sl_decode_eval(m, lists, seed, &rows[i].iv, &rows[i].res, progress ? sl_progress_part : NULL,
                             progress ? &tp : NULL, err);
        if (rc) {
            sl_error_prefix(err, ablations[i].description);
            return rc;
        }
    }
    return 0;
}
