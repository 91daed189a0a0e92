/* backward_general.c: the backward pass of the general path's training
 * forward (forward_general_rows: every layer in full, the last one and the
 * logits at the prediction rows only), the pair llm.c writes as
 * op_forward / op_backward.
 *
 * Shapes: B batch, T positions run, D d_model, H heads, E d_head, V d_vocab,
 * Vo d_vocab_out, N = B n query rows of the last layer; HE = H E, and
 * W3 = 3 HE for q, k, v side by side (W_Q, W_K, W_V of a layer packed as
 * [D, 3 HE], so that one product covers all three and every head).
 *
 * Per layer, with x its input, q = x W_Q + b_Q (k, v likewise), the
 * pattern p = softmax(q k^T / sqrt(E)) (causal), z = p v and
 * out = x + z W_O + b_O; from d out (reverse mode):
 *   db_O = sum of d out, dW_O = z^T d out, dz = d out W_O^T
 *   dp_ij = dz_i . v_j, ds_ij = p_ij (dp_ij - sum_k p_ik dp_ik) / sqrt(E)
 *   dq_i = sum_j ds_ij k_j, dk_j = sum_i ds_ij q_i, dv_j = sum_i p_ij dz_i
 *   dW = x^T [dq dk dv], db = their sums, dx = d out + [dq dk dv] W^T.
 * Layer 0's input is W_E[t] + W_pos[p]: its gradients are scattered onto
 * the rows of the token and of the position (dtab), so that the products
 * with the weights are table-sized ([V + T] rows, not B T), as on the
 * one-layer path.  The attention is one fused pass per query row over the
 * keys it sees (a few thousand multiply-adds per row: a BLAS call each
 * would cost more than its work); every other product is one sgemm over
 * all B T (or N) rows.
 */
#include "forward_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int general_grad_init(GeneralGrad *w, const SlModelConfig *cfg, int cap_B, SlError *err)
{
    const size_t T = (size_t)cfg->n_ctx, D = (size_t)cfg->d_model, HE = (size_t)cfg->n_heads * cfg->d_head;
    const size_t BT = (size_t)cap_B * T, N = (size_t)cap_B * cfg->list_len, VT = (size_t)cfg->d_vocab + T;
    size_t sz[] = {BT * D, BT * 3 * HE, BT * HE, VT * 3 * HE, D * 3 * HE, D * 3 * HE, N * D, N * HE, N * HE, T};
    float **dst[] = {&w->dx, &w->dqkv, &w->dz, &w->dtab, &w->wp, &w->dwp, &w->dxq, &w->dzq, &w->dqq, &w->dp};
    size_t total = 0;
    for (size_t i = 0; i < sizeof sz / sizeof sz[0]; i++)
        total += round16(sz[i]);
    memset(w, 0, sizeof *w);
    w->memory = malloc(total * sizeof(float));
    if (!w->memory)
        return sl_error_set(err, SL_ENOMEM, "out of memory for the backward pass of batch %d (%zu floats)", cap_B, total);
    w->cap_B = cap_B;
    float *mem = w->memory;
    for (size_t i = 0; i < sizeof sz / sizeof sz[0]; i++) {
        *dst[i] = mem;
        mem += round16(sz[i]);
    }
    return 0;
}

void general_grad_free(GeneralGrad *w)
{
    free(w->memory);
    w->memory = NULL;
}

/* Backward of query row i of one head: pr the pattern row, dzi its dz,
 * qi its query; keys and values rows ld apart, their gradients rows ldd
 * apart.  dq_i is set, dk_j and dv_j are added to.  A key of weight zero
 * (masked, or below OPS_EXP_FLOOR) adds nothing. */
static void attention_row_backward(const float *pr, const float *dzi, const float *qi, const float *kb, const float *vb,
                                   int ld, int E, int i, float inv_div, float *dqi, float *dkb, float *dvb, int ldd,
                                   float *dp)
{
    float dot = 0.0f;
    for (int j = 0; j <= i; j++) {
        dp[j] = pr[j] != 0.0f ? ops_dot(dzi, vb + (size_t)j * ld, E) : 0.0f;
        dot += pr[j] * dp[j];
    }
    memset(dqi, 0, (size_t)E * sizeof *dqi);
    for (int j = 0; j <= i; j++) {
        if (pr[j] == 0.0f)
            continue;
        float ds = pr[j] * (dp[j] - dot) * inv_div;
        ops_axpy(dqi, ds, kb + (size_t)j * ld, E);
        ops_axpy(dkb + (size_t)j * ldd, ds, qi, E);
        ops_axpy(dvb + (size_t)j * ldd, pr[j], dzi, E);
    }
}

/* dpacked [D, 3 HE] -> the gradients of layer l's W_Q, W_K, W_V ([H, D, E] each). */
static void unpack_qkv(const SlModelConfig *cfg, int l, const float *dwp, SlModelParams *g)
{
    const int H = cfg->n_heads, D = cfg->d_model, E = cfg->d_head, HE = H * E, W3 = 3 * HE;
    const size_t w = sl_model_head_qkv_offset(cfg, l, 0);
    float *dst[3] = {g->W_Q + w, g->W_K + w, g->W_V + w};
    for (int mi = 0; mi < 3; mi++)
        for (int h = 0; h < H; h++)
            for (int d = 0; d < D; d++) {
                const float *src = dwp + (size_t)d * W3 + (size_t)mi * HE + (size_t)h * E;
                float *o = dst[mi] + ((size_t)h * D + d) * E;
                ops_add(o, src, E);
            }
}

void general_backward(const SlModel *m, const int *tokens, int ldt, const SlActCache *c, const GeneralRows *r,
                      const float *dlogits, SlModelParams *g, GeneralGrad *w)
{
    const SlModelConfig *cfg = &m->cfg;
    const SlModelParams *p = &m->params;
    const int L = cfg->n_layers, H = cfg->n_heads, D = cfg->d_model, E = cfg->d_head, V = cfg->d_vocab;
    const int Vo = cfg->d_vocab_out, HE = H * E, W3 = 3 * HE;
    const int B = r->B, T = r->T, q0 = r->q0, n = r->n, BT = B * T, N = B * n;
    const float inv_div = 1.0f / sqrtf((float)E);

    /* logits = out W_U + b_U at the query rows */
    ops_gemm(true, false, D, Vo, N, 1.0f, r->out, D, dlogits, Vo, 1.0f, g->W_U, Vo);
    ops_sum_rows(g->b_U, dlogits, Vo, N, Vo);
    ops_gemm(false, true, N, D, Vo, 1.0f, dlogits, Vo, p->W_U, Vo, 0.0f, w->dxq, D);   /* d out */

    for (int l = L - 1; l >= 0; l--) {
        const bool last = l == L - 1;
        const float *x = l == 0 ? NULL : c->resid_post + (size_t)(l - 1) * BT * D;   /* [BT, D]; layer 0: tables */
        const float *q = last ? r->q : c->q + (size_t)l * BT * HE, *k = c->k + (size_t)l * BT * HE;
        const float *v = c->v + (size_t)l * BT * HE, *z = last ? r->z : c->z + (size_t)l * BT * HE;
        const float *pat = c->pattern + (size_t)l * B * H * T * T;
        const float *WO = p->W_O + (size_t)l * HE * D;
        /* the output projection, over the rows this layer computed */
        const int rows = last ? N : BT, i0 = last ? q0 : 0, qrows = last ? n : T;
        const float *dout = last ? w->dxq : w->dx;
        float *dz = last ? w->dzq : w->dz;
        ops_sum_rows(g->b_O + (size_t)l * D, dout, D, rows, D);
        ops_gemm(true, false, HE, D, rows, 1.0f, z, HE, dout, D, 1.0f, g->W_O + (size_t)l * HE * D, D);
        ops_gemm(false, true, rows, HE, D, 1.0f, dout, D, WO, D, 0.0f, dz, HE);

        /* the attention, one query row at a time; dq of the last layer compact */
        memset(w->dqkv, 0, (size_t)BT * W3 * sizeof(float));
        float *dq = last ? w->dqq : w->dqkv;
        const int ldq = last ? HE : W3;
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++) {
                const size_t kv = (size_t)b * T * HE + (size_t)h * E, dkv = (size_t)b * T * W3 + (size_t)h * E;
                for (int i = i0; i < T; i++) {
                    size_t row = (size_t)b * qrows + (size_t)(i - i0);
                    attention_row_backward(pat + (((size_t)b * H + h) * T + i) * T, dz + row * HE + (size_t)h * E,
                                           q + row * HE + (size_t)h * E, k + kv, v + kv, HE, E, i, inv_div,
                                           dq + row * ldq + (size_t)h * E, w->dqkv + dkv + HE, w->dqkv + dkv + 2 * HE,
                                           W3, w->dp);
                }
            }

        general_pack_qkv(m, l, w->wp);
        float *bias[3] = {g->b_Q + (size_t)l * HE, g->b_K + (size_t)l * HE, g->b_V + (size_t)l * HE};
        if (l == 0) {
            /* Scatter onto the rows of each token and position: dtab [V + T, 3 HE]. */
            float *dtab = w->dtab, *dtp = dtab + (size_t)V * W3;
            memset(dtab, 0, (size_t)(V + T) * W3 * sizeof(float));
            for (int b = 0; b < B; b++)
                for (int t = 0; t < T; t++) {
                    const float *src = w->dqkv + ((size_t)b * T + t) * W3;
                    float *rt = dtab + (size_t)tokens[(size_t)b * ldt + t] * W3, *rp = dtp + (size_t)t * W3;
                    const int e0 = last ? HE : 0;   /* the last layer's dq is at its rows only */
                    ops_add(rt + e0, src + e0, W3 - e0);
                    ops_add(rp + e0, src + e0, W3 - e0);
                    if (last && t >= q0) {
                        const float *sq = w->dqq + ((size_t)b * n + (t - q0)) * HE;
                        ops_add(rt, sq, HE);
                        ops_add(rp, sq, HE);
                    }
                }
            /* dW = [W_E; W_pos]^T dtab; d[W_E; W_pos] += dtab W^T; db = the position rows' sums */
            ops_gemm(true, false, D, W3, V, 1.0f, p->W_E, D, dtab, W3, 0.0f, w->dwp, W3);
            ops_gemm(true, false, D, W3, T, 1.0f, p->W_pos, D, dtp, W3, 1.0f, w->dwp, W3);
            ops_gemm(false, true, V, D, W3, 1.0f, dtab, W3, w->wp, W3, 1.0f, g->W_E, D);
            ops_gemm(false, true, T, D, W3, 1.0f, dtp, W3, w->wp, W3, 1.0f, g->W_pos, D);
            for (int mi = 0; mi < 3; mi++)
                ops_sum_rows(bias[mi], dtp + mi * HE, W3, T, HE);
            unpack_qkv(cfg, 0, w->dwp, g);
            /* and the residual stream itself, x_0 = W_E[t] + W_pos[p] */
            for (int b = 0; b < B; b++)
                for (int i = 0; i < qrows; i++) {
                    int t = i0 + i;
                    const float *d = last ? w->dxq + ((size_t)b * n + i) * D : w->dx + ((size_t)b * T + t) * D;
                    float *gE = g->W_E + (size_t)tokens[(size_t)b * ldt + t] * D, *gP = g->W_pos + (size_t)t * D;
                    ops_add(gE, d, D);
                    ops_add(gP, d, D);
                }
            break;
        }
        /* dW = x^T [dq dk dv] (the last layer's q: its rows' input), db their sums */
        if (last) {
            ops_gemm(true, false, D, 2 * HE, BT, 1.0f, x, D, w->dqkv + HE, W3, 0.0f, w->dwp + HE, W3);
            ops_gemm(true, false, D, HE, N, 1.0f, r->x, D, w->dqq, HE, 0.0f, w->dwp, W3);
            ops_sum_rows(bias[0], w->dqq, HE, N, HE);
        } else {
            ops_gemm(true, false, D, W3, BT, 1.0f, x, D, w->dqkv, W3, 0.0f, w->dwp, W3);
            ops_sum_rows(bias[0], w->dqkv, W3, BT, HE);
        }
        ops_sum_rows(bias[1], w->dqkv + HE, W3, BT, HE);
        ops_sum_rows(bias[2], w->dqkv + 2 * HE, W3, BT, HE);
        unpack_qkv(cfg, l, w->dwp, g);
        /* d x = d out (the residual) + [dq dk dv] W^T */
        if (last) {
            ops_gemm(false, true, BT, D, 2 * HE, 1.0f, w->dqkv + HE, W3, w->wp + HE, W3, 0.0f, w->dx, D);
            ops_gemm(false, true, N, D, HE, 1.0f, w->dqq, HE, w->wp, W3, 1.0f, w->dxq, D);
            for (int b = 0; b < B; b++)
                ops_add(w->dx + ((size_t)b * T + q0) * D, w->dxq + (size_t)b * n * D, n * D);
        } else {
            ops_gemm(false, true, BT, D, W3, 1.0f, w->dqkv, W3, w->wp, W3, 1.0f, w->dx, D);
        }
    }
}
