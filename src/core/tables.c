/* tables.c: the per-model tables of the one-layer fast path, which are also
 * the full circuits the explorer draws (see tables.h for the algebra). */
#include "sortlens/tables.h"

#include "forward_internal.h"

#include <stdlib.h>
#include <string.h>

/* C[M,N] = A[M,K] B[K,N], all row-major. */
static void matmul(float *C, const float *A, const float *B, int M, int N, int K)
{
    ops_gemm_nn(C, N, A, K, B, N, M, N, K, false);
}

/* C[M,N] = A[M,K] B[N,K]^T */
static void matmul_bt(float *C, const float *A, const float *B, int M, int N, int K)
{
    ops_gemm_nt(C, N, A, K, B, K, M, N, K, false);
}

void tables_project(float *out, const float *X, int rows, const float *W, int D, int E, const float *bias, int bias_from)
{
    ops_gemm_nn(out, E, X, D, W, E, rows, E, D, false);
    if (bias_from < rows)
        ops_add_bias_rows(out + (size_t)bias_from * E, E, bias, rows - bias_from, E);
}

SlCircuitTables *sl_tables_new(const SlModel *m, SlError *err)
{
    const SlModelConfig *c = &m->cfg;
    const SlModelParams *p = &m->params;
    SlCircuitTables *t = calloc(1, sizeof *t);
    if (!t) {
        sl_error_set(err, SL_ENOMEM, "out of memory for the circuit tables");
        return NULL;
    }
    int H = t->H = c->n_heads, V = t->V = c->d_vocab, T = t->T = c->n_ctx;
    int D = t->D = c->d_model, E = t->E = c->d_head, Vo = t->Vo = c->d_vocab_out;
    size_t hVE = (size_t)H * V * E, hTE = (size_t)H * T * E;
    size_t total = 3 * (hVE + hTE) + (size_t)H * ((size_t)V * V + (size_t)V * T + (size_t)T * V + (size_t)T * T)
                 + (size_t)H * (V + T) * D + (size_t)H * (V + T) * Vo + (size_t)(V + T) * Vo;
    if (total > SL_TABLES_MAX_FLOATS) {
        free(t);
        sl_error_set(err, SL_EFORMAT, "the circuit tables of this model would need %zu MB "
                     "(d_vocab %d, n_ctx %d, %d heads, d_model %d); sortlens handles up to %zu MB",
                     total * sizeof(float) >> 20, V, T, H, D, SL_TABLES_MAX_FLOATS * sizeof(float) >> 20);
        return NULL;
    }
    t->memory = malloc(total * sizeof(float));
    if (!t->memory) {
        free(t);
        sl_error_set(err, SL_ENOMEM, "out of memory for the circuit tables (%zu floats)", total);
        return NULL;
    }
    float *mem = t->memory;
#define CARVE(field, n) (t->field = mem, mem += (n))
    CARVE(q_tok, hVE); CARVE(q_pos, hTE);
    CARVE(k_tok, hVE); CARVE(k_pos, hTE);
    CARVE(v_tok, hVE); CARVE(v_pos, hTE);
    CARVE(qk_tok_tok, (size_t)H * V * V); CARVE(qk_tok_pos, (size_t)H * V * T);
    CARVE(qk_pos_tok, (size_t)H * T * V); CARVE(qk_pos_pos, (size_t)H * T * T);
    CARVE(vo_tok, (size_t)H * V * D); CARVE(vo_pos, (size_t)H * T * D);
    CARVE(ov_tok, (size_t)H * V * Vo); CARVE(ov_pos, (size_t)H * T * Vo);
    CARVE(direct_tok, (size_t)V * Vo); CARVE(direct_pos, (size_t)T * Vo);
#undef CARVE

    for (int h = 0; h < H; h++) {
        size_t w = sl_model_head_qkv_offset(c, 0, h);   /* layer 0, head h: [D, E] */
        size_t b = (size_t)h * E;
        float *qt = t->q_tok + (size_t)h * V * E, *qp = t->q_pos + (size_t)h * T * E;
        float *kt = t->k_tok + (size_t)h * V * E, *kp = t->k_pos + (size_t)h * T * E;
        float *vt = t->v_tok + (size_t)h * V * E, *vp = t->v_pos + (size_t)h * T * E;
        tables_project(qt, p->W_E, V, p->W_Q + w, D, E, NULL, V);
        tables_project(qp, p->W_pos, T, p->W_Q + w, D, E, p->b_Q + b, 0);
        tables_project(kt, p->W_E, V, p->W_K + w, D, E, NULL, V);
        tables_project(kp, p->W_pos, T, p->W_K + w, D, E, p->b_K + b, 0);
        tables_project(vt, p->W_E, V, p->W_V + w, D, E, NULL, V);
        tables_project(vp, p->W_pos, T, p->W_V + w, D, E, p->b_V + b, 0);

        matmul_bt(t->qk_tok_tok + (size_t)h * V * V, qt, kt, V, V, E);
        matmul_bt(t->qk_tok_pos + (size_t)h * V * T, qt, kp, V, T, E);
        matmul_bt(t->qk_pos_tok + (size_t)h * T * V, qp, kt, T, V, E);
        matmul_bt(t->qk_pos_pos + (size_t)h * T * T, qp, kp, T, T, E);

        const float *wo = p->W_O + (size_t)h * E * D;   /* layer 0, head h: [E, D] */
        float *vot = t->vo_tok + (size_t)h * V * D, *vop = t->vo_pos + (size_t)h * T * D;
        matmul(vot, vt, wo, V, D, E);
        matmul(vop, vp, wo, T, D, E);
        matmul(t->ov_tok + (size_t)h * V * Vo, vot, p->W_U, V, Vo, D);
        matmul(t->ov_pos + (size_t)h * T * Vo, vop, p->W_U, T, Vo, D);
    }
    matmul(t->direct_tok, p->W_E, p->W_U, V, Vo, D);
    matmul(t->direct_pos, p->W_pos, p->W_U, T, Vo, D);
    /* b_O (layer 0) goes through W_U once per position, whatever the pattern;
     * b_U is added at every position: both belong to the position side. */
    float *bo_wu = malloc((size_t)Vo * sizeof(float));
    if (!bo_wu) {
        sl_tables_free(t);
        sl_error_set(err, SL_ENOMEM, "out of memory for the circuit tables");
        return NULL;
    }
    matmul(bo_wu, p->b_O, p->W_U, 1, Vo, D);
    for (int i = 0; i < Vo; i++)
        bo_wu[i] += p->b_U[i];
    ops_add_bias_rows(t->direct_pos, Vo, bo_wu, T, Vo);
    free(bo_wu);
    return t;
}

void sl_tables_free(SlCircuitTables *t)
{
    if (!t)
        return;
    free(t->memory);
    free(t);
}
