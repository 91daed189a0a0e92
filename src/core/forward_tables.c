/* forward_tables.c: the one-layer fast path.  The residual stream
 * entering the only block is W_E[t] + W_pos[p], so every activation is a
 * sum of rows of the tables of tables.h; one list costs a few microseconds
 * with the whole cache filled, and decoding adds one key row and one query
 * row a step (forward_internal.h).  This file lays a run out; its row
 * loops are kernels.c's, compiled for the processor. */
#include "sortlens/forward.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "forward_internal.h"
#include "sortlens/tables.h"

/* ---- the tables path ------------------------------------------------------------ */

int tables_run_begin(TablesRun *r, const SlModel *m, int T, SlActCache *c, const SlIntervention *iv, SlError *err)
{
    const SlModelConfig *cfg = &m->cfg;
    *r = (TablesRun){.m = m, .tb = m->tables, .iv = iv_or_none(iv), .T = T, .k = tables_kernels(),
                     .H = cfg->n_heads, .D = cfg->d_model, .E = cfg->d_head, .V = cfg->d_vocab,
                     .Vo = cfg->d_vocab_out, .Tn = cfg->n_ctx, .div = sqrtf((float)cfg->d_head)};
    const size_t H = (size_t)r->H, D = (size_t)r->D, Vo = (size_t)r->Vo, Tz = (size_t)T;
    size_t need = round16(H * Tz * D) + round16(H * Tz * Vo) + round16(Vo) + round16(H * D) + round16(H * Vo) +
                  2 * round16(H * Tz);
    int rc = forward_scratch_reserve(c, need, err);
    if (rc)
        return rc;
    float *s = c->scratch;
    r->vo_rows = s, s += round16(H * Tz * D);
    r->ov_rows = s, s += round16(H * Tz * Vo);
    r->bias_out = s, s += round16(Vo);
    r->abl_vo = s, s += round16(H * D);
    r->abl_ov = s, s += round16(H * Vo);
    r->row_scores = s, s += round16(H * Tz);
    r->row_pattern = s;
    const SlModelParams *p = &m->params;
    if (r->iv->drop_direct) {
        /* the logits' constant part without the direct path: b_O W_U + b_U */
        memcpy(r->bias_out, p->b_U, Vo * sizeof(float));
        ops_gemm_nn(r->bias_out, (int)Vo, p->b_O, (int)D, p->W_U, (int)Vo, 1, (int)Vo, (int)D, true);
    }
    if (r->iv->ablate_position >= 0 && r->iv->ablate_kind == SL_ABLATE_MEAN) {
        /* what a head adds to attn_out and to the logits when its z is the mean */
        for (int h = 0; h < r->H; h++) {
            ops_gemm_nn(r->abl_vo + h * D, (int)D, r->iv->ablate_mean_z + h * (size_t)r->E, r->E,
                    p->W_O + h * (size_t)r->E * D, (int)D, 1, (int)D, r->E, false);
            ops_gemm_nn(r->abl_ov + h * Vo, (int)Vo, r->abl_vo + h * D, (int)D, p->W_U, (int)Vo, 1, (int)Vo, (int)D, false);
        }
    }
    return 0;
}

int forward_tables(const SlModel *m, const int *tokens, int B, int T, SlActCache *c, const SlIntervention *iv,
                          SlError *err)
{
    TablesRun r;
    int rc = tables_run_begin(&r, m, T, c, iv, err);
    if (rc)
        return rc;
    for (int b = 0; b < B; b++)
        r.k->sequence(&r, tokens + (size_t)b * T, b, T, c);
    return 0;
}
