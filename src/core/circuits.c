/* circuits.c: full circuits, per-example decompositions, the metrics of
 * the published analysis and the ablation table (see circuits.h). */
#include "sortlens/circuits.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sortlens/tables.h"
#include "sortlens/task.h"

static const char *const kind_names[CIRCUIT_COUNT] = {
    [CIRCUIT_OV] = "ov",
    [CIRCUIT_OV_POS] = "ov-pos",
    [CIRCUIT_QK_TOKEN_TOKEN] = "qk-token-token",
    [CIRCUIT_QK_TOKEN_POS] = "qk-token-pos",
    [CIRCUIT_QK_POS_TOKEN] = "qk-pos-token",
    [CIRCUIT_QK_POS_POS] = "qk-pos-pos",
};

const char *circuit_kind_name(CircuitKind k)
{
    return k >= 0 && k < CIRCUIT_COUNT ? kind_names[k] : "?";
}

int circuit_kind_from_name(const char *name, CircuitKind *out, SlError *err)
{
    for (int k = 0; k < CIRCUIT_COUNT; k++)
        if (strcmp(name, kind_names[k]) == 0) {
            *out = (CircuitKind)k;
            return 0;
        }
    return sl_error_set(err, SL_EINVAL, "'%s' is not a circuit; the circuits are ov, ov-pos, qk-token-token, "
                        "qk-token-pos, qk-pos-token, qk-pos-pos", name);
}

/* ---- named matrices ---------------------------------------------------------- */

NamedMatrix *named_matrix_new(const char *name, int rows, int cols, SlError *err)
{
    if (rows < 1 || cols < 1 || (size_t)rows > SIZE_MAX / sizeof(float) / (size_t)cols) {
        sl_error_set(err, SL_EINVAL, "matrix %s: bad size %d x %d", name, rows, cols);
        return NULL;
    }
    NamedMatrix *nm = calloc(1, sizeof *nm);
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
    named_matrix_free(nm);
    sl_error_set(err, SL_ENOMEM, "out of memory for matrix %s (%d x %d)", name, rows, cols);
    return NULL;
}

void named_matrix_free(NamedMatrix *nm)
{
    if (!nm)
        return;
    free(nm->row_labels);
    free(nm->col_labels);
    free(nm->data);
    free(nm);
}

void circuit_token_label(const ModelConfig *c, int token, char *buf)
{
    if (token == task_bos(c))
        snprintf(buf, CIRCUIT_LABEL_MAX, "BOS");
    else if (token == task_mid(c))
        snprintf(buf, CIRCUIT_LABEL_MAX, "MID");
    else
        snprintf(buf, CIRCUIT_LABEL_MAX, "%d", token);
}

void circuit_position_label(const ModelConfig *c, int pos, char *buf)
{
    (void)c;
    snprintf(buf, CIRCUIT_LABEL_MAX, "p%d", pos);
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
static void head_side(const Model *m, int l, int h, int which, float *tok, float *pos)
{
    const ModelConfig *c = &m->cfg;
    const ModelParams *p = &m->params;
    const float *W = which == P_W_Q ? p->W_Q : which == P_W_K ? p->W_K : p->W_V;
    const float *b = which == P_W_Q ? p->b_Q : which == P_W_K ? p->b_K : p->b_V;
    int V = c->d_vocab, T = c->n_ctx, D = c->d_model, E = c->d_head;
    W += model_head_qkv_offset(c, l, h);               /* [D, E] */
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
static int compute_circuit(const Model *m, CircuitKind kind, int l, int h, float *out, SlError *err)
{
    const ModelConfig *c = &m->cfg;
    int V = c->d_vocab, T = c->n_ctx, D = c->d_model, E = c->d_head, Vo = c->d_vocab_out;
    int rc = 0;
    float *a = NULL, *b = NULL, *vo = NULL;
    if (kind == CIRCUIT_OV || kind == CIRCUIT_OV_POS) {
        bool tok = kind == CIRCUIT_OV;
        int R = tok ? V : T;
        a = malloc((size_t)R * E * sizeof(float));      /* [R, E] tokens or positions through W_V */
        vo = malloc((size_t)R * D * sizeof(float));     /* [R, D] then through W_O */
        if (!a || !vo)
            goto nomem;
        head_side(m, l, h, P_W_V, tok ? a : NULL, tok ? NULL : a);
        matmul(vo, a, m->params.W_O + model_head_qkv_offset(c, l, h), R, D, E);
        matmul(out, vo, m->params.W_U, R, Vo, D);
        goto done;
    }
    bool q_tok = kind == CIRCUIT_QK_TOKEN_TOKEN || kind == CIRCUIT_QK_TOKEN_POS;
    bool k_tok = kind == CIRCUIT_QK_TOKEN_TOKEN || kind == CIRCUIT_QK_POS_TOKEN;
    int R = q_tok ? V : T, C = k_tok ? V : T;
    a = malloc((size_t)R * E * sizeof(float));          /* [R, E] queries */
    b = malloc((size_t)C * E * sizeof(float));          /* [C, E] keys */
    if (!a || !b)
        goto nomem;
    head_side(m, l, h, P_W_Q, q_tok ? a : NULL, q_tok ? NULL : a);
    head_side(m, l, h, P_W_K, k_tok ? b : NULL, k_tok ? NULL : b);
    matmul_bt(out, a, b, R, C, E);
    goto done;
nomem:
    rc = sl_error_set(err, SL_ENOMEM, "out of memory for circuit %s", circuit_kind_name(kind));
done:
    free(a);
    free(b);
    free(vo);
    return rc;
}

/* The layer-0 table of `kind` for head h, or NULL. */
static const float *table_of(const CircuitTables *t, CircuitKind kind, int h)
{
    size_t V = (size_t)t->V, T = (size_t)t->T, Vo = (size_t)t->Vo;
    switch (kind) {
    case CIRCUIT_OV: return t->ov_tok + (size_t)h * V * Vo;
    case CIRCUIT_OV_POS: return t->ov_pos + (size_t)h * T * Vo;
    case CIRCUIT_QK_TOKEN_TOKEN: return t->qk_tok_tok + (size_t)h * V * V;
    case CIRCUIT_QK_TOKEN_POS: return t->qk_tok_pos + (size_t)h * V * T;
    case CIRCUIT_QK_POS_TOKEN: return t->qk_pos_tok + (size_t)h * T * V;
    case CIRCUIT_QK_POS_POS: return t->qk_pos_pos + (size_t)h * T * T;
    default: return NULL;
    }
}

static int check_layer_head(const Model *m, int layer, int head, SlError *err)
{
    if (layer < 0 || layer >= m->cfg.n_layers)
        return sl_error_set(err, SL_EINVAL, "layer %d is out of range: the model has %d layer%s (0..%d)", layer,
                            m->cfg.n_layers, m->cfg.n_layers == 1 ? "" : "s", m->cfg.n_layers - 1);
    if (head < 0 || head >= m->cfg.n_heads)
        return sl_error_set(err, SL_EINVAL, "head %d is out of range: the model has %d head%s (0..%d)", head,
                            m->cfg.n_heads, m->cfg.n_heads == 1 ? "" : "s", m->cfg.n_heads - 1);
    return 0;
}

NamedMatrix *circuit_get_kind(const Model *m, CircuitKind kind, int layer, int head, SlError *err)
{
    if (kind < 0 || kind >= CIRCUIT_COUNT) {
        sl_error_set(err, SL_EINVAL, "unknown circuit kind %d", (int)kind);
        return NULL;
    }
    if (check_layer_head(m, layer, head, err))
        return NULL;
    const ModelConfig *c = &m->cfg;
    bool rows_tok = kind == CIRCUIT_OV || kind == CIRCUIT_QK_TOKEN_TOKEN || kind == CIRCUIT_QK_TOKEN_POS;
    bool cols_tok = kind == CIRCUIT_QK_TOKEN_TOKEN || kind == CIRCUIT_QK_POS_TOKEN;
    bool cols_val = kind == CIRCUIT_OV || kind == CIRCUIT_OV_POS;
    int rows = rows_tok ? c->d_vocab : c->n_ctx;
    int cols = cols_val ? c->d_vocab_out : cols_tok ? c->d_vocab : c->n_ctx;
    NamedMatrix *nm = named_matrix_new(kind_names[kind], rows, cols, err);
    if (!nm)
        return NULL;
    for (int r = 0; r < rows; r++) {
        if (rows_tok)
            circuit_token_label(c, r, nm->row_labels[r]);
        else
            circuit_position_label(c, r, nm->row_labels[r]);
    }
    for (int k = 0; k < cols; k++) {
        if (cols_val || cols_tok)
            circuit_token_label(c, k, nm->col_labels[k]);
        else
            circuit_position_label(c, k, nm->col_labels[k]);
    }
    if (layer == 0 && m->tables) {
        memcpy(nm->data, table_of(m->tables, kind, head), (size_t)rows * cols * sizeof(float));
        return nm;
    }
    if (compute_circuit(m, kind, layer, head, nm->data, err)) {
        named_matrix_free(nm);
        return NULL;
    }
    return nm;
}

NamedMatrix *circuit_get(const Model *m, const char *name, int layer, int head, SlError *err)
{
    CircuitKind kind;
    if (circuit_kind_from_name(name, &kind, err))
        return NULL;
    return circuit_get_kind(m, kind, layer, head, err);
}

/* ---- one example ---------------------------------------------------------------- */

int circuit_score_terms(const Model *m, int head, const int *tokens, int T, float *terms, SlError *err)
{
    const ModelConfig *c = &m->cfg;
    const CircuitTables *t = m->tables;
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
            terms[SCORE_TERM_TOK_TOK * TT + i] = seen ? tt[tq * V + tk] : 0.0f;
            terms[SCORE_TERM_TOK_POS * TT + i] = seen ? tp[tq * NT + (size_t)k] : 0.0f;
            terms[SCORE_TERM_POS_TOK * TT + i] = seen ? pt[(size_t)q * V + tk] : 0.0f;
            terms[SCORE_TERM_POS_POS * TT + i] = seen ? pp[(size_t)q * NT + (size_t)k] : 0.0f;
        }
    }
    return 0;
}

/* ---- metrics of the circuits ---------------------------------------------------- */

/* Index of the largest of x[0..n-1]; the first on ties, as torch.argmax. */
static int argmax_f(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

int circuit_ov_copy_count(const Model *m, int layer, int head, int *hits, int *total, SlError *err)
{
    NamedMatrix *ov = circuit_get_kind(m, CIRCUIT_OV, layer, head, err);
    if (!ov)
        return err ? err->code : SL_ENOMEM;
    int Vo = m->cfg.d_vocab_out, n = 0;
    for (int r = 0; r < Vo; r++)
        n += argmax_f(ov->data + (size_t)r * ov->cols, Vo) == r;
    named_matrix_free(ov);
    *hits = n;
    *total = Vo;
    return 0;
}

int circuit_qk_next_token_count(const Model *m, int layer, int head, int *hits, int *total, SlError *err)
{
    NamedMatrix *qk = circuit_get_kind(m, CIRCUIT_QK_TOKEN_TOKEN, layer, head, err);
    if (!qk)
        return err ? err->code : SL_ENOMEM;
    int Vo = m->cfg.d_vocab_out, n = 0;
    for (int r = 0; r < Vo; r++)   /* columns 0..Vo-1 only: r = Vo-1 can never hit */
        n += argmax_f(qk->data + (size_t)r * qk->cols, Vo) == r + 1;
    named_matrix_free(qk);
    *hits = n;
    *total = Vo;
    return 0;
}
