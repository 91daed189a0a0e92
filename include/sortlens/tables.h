/* tables.h: everything a one-layer attention-only model computes, as tables
 * built once per model with BLAS.
 *
 * In layer 0 the residual stream is x = W_E[t] + W_pos[p], so
 *   q = W_E[t] W_Q + (W_pos[p] W_Q + b_Q)  = q_tok[t] + q_pos[p]
 * (likewise k, v) and the attention score of query (tq, pq) on key (tk, pk) is
 *   q.k = qk_tok_tok[tq,tk] + qk_tok_pos[tq,pk] + qk_pos_tok[pq,tk] + qk_pos_pos[pq,pk]
 * before the 1/sqrt(E) scale: the four QK terms of the published analysis.
 * Biases are folded into the position side, so with zero biases (the seed
 * model) each table equals the notebook's circuit exactly.  The OV side:
 *   ov_tok = W_E W_V W_O W_U,  ov_pos = (W_pos W_V + b_V) W_O W_U
 * and the direct path: direct_tok = W_E W_U, direct_pos = W_pos W_U + b_O W_U + b_U,
 * so  logits[q] = direct_tok[tq] + direct_pos[q]
 *               + sum_h sum_k pattern_h[q,k] (ov_tok[h,tk] + ov_pos[h,k]).
 * For models with more layers the tables describe layer 0 alone (the
 * circuits the explorer shows); the fast forward path is used only when
 * n_layers == 1.
 */
#ifndef SORTLENS_TABLES_H
#define SORTLENS_TABLES_H

#include "sortlens/model.h"

typedef struct SlCircuitTables {
    int H, V, T, D, E, Vo;   /* T = n_ctx */
    float *q_tok;       /* [H, V, E]  W_E W_Q */
    float *q_pos;       /* [H, T, E]  W_pos W_Q + b_Q */
    float *k_tok;       /* [H, V, E] */
    float *k_pos;       /* [H, T, E] */
    float *v_tok;       /* [H, V, E] */
    float *v_pos;       /* [H, T, E] */
    float *qk_tok_tok;  /* [H, V, V]  q_tok k_tok^T, unscaled */
    float *qk_tok_pos;  /* [H, V, T]  q_tok k_pos^T */
    float *qk_pos_tok;  /* [H, T, V]  q_pos k_tok^T */
    float *qk_pos_pos;  /* [H, T, T]  q_pos k_pos^T */
    float *vo_tok;      /* [H, V, D]  v_tok W_O */
    float *vo_pos;      /* [H, T, D]  v_pos W_O */
    float *ov_tok;      /* [H, V, Vo] vo_tok W_U */
    float *ov_pos;      /* [H, T, Vo] vo_pos W_U */
    float *direct_tok;  /* [V, Vo]    W_E W_U */
    float *direct_pos;  /* [T, Vo]    W_pos W_U + b_O[0] W_U + b_U */
    float *memory;      /* one block holding all of the above */
} SlCircuitTables;

/* The tables grow as H (V + T)^2 while the file holding W_E grows as V D, so a
 * small file (d_model 1, a large vocabulary) could otherwise ask for
 * gigabytes; models whose tables would exceed this are refused. */
#define SL_TABLES_MAX_FLOATS ((size_t)64 << 20)   /* 256 MB */

SlCircuitTables *sl_tables_new(const SlModel *m, SlError *err);
void sl_tables_free(SlCircuitTables *t);   /* accepts NULL */

#endif
