/* attribution.c: logit-difference attribution (see attribution.h).
 *
 * Everything is projected onto one direction, W_U[:, target] - W_U[:, vs],
 * in double.  Splitting each logit first and subtracting afterwards (two
 * direct logit attributions) loses the difference in float rounding: on
 * models whose BOS or MID sources reach logits in the hundreds, the parts
 * then missed a difference near 1 by over 1e-4 of it. */
#include "sortlens/attribution.h"

#include <stdlib.h>

#include "forward_internal.h"

int sl_attribute(const SlModel *m, const SlActCache *cache, int b, int q, int target, int vs, SlAttribution *out,
                 SlError *err)
{
    const SlModelConfig *c = &m->cfg;
    const SlModelParams *p = &m->params;
    const int L = c->n_layers, H = c->n_heads, D = c->d_model, E = c->d_head, Vo = c->d_vocab_out;
    if (!out || !out->sources)
        return sl_error_set(err, SL_EINVAL, "attribution without a buffer for the sources");
    int rc = cache_check_row(m, cache, b, q, err);
    if (rc)
        return rc;
    const int T = cache->T;
    if (target < 0 || target >= Vo)
        return sl_error_set(err, SL_EINVAL, "value %d is outside 0..%d", target, Vo - 1);
    if (vs < 0 || vs >= Vo)
        return sl_error_set(err, SL_EINVAL, "value %d is outside 0..%d", vs, Vo - 1);
    const float *embed = hook_cached(cache, SL_HOOK_EMBED, 0);               /* [B, T, D] */
    const float *pos = hook_cached(cache, SL_HOOK_POS_EMBED, 0);             /* [B, T, D] */
    const float *resid = hook_cached(cache, SL_HOOK_RESID_POST, L - 1);      /* [B, T, D] */
    double *dir = malloc((size_t)(D + E) * sizeof *dir);
    if (!dir)
        return sl_error_set(err, SL_ENOMEM, "out of memory for the attribution");
    double *u = dir + D;   /* [D] W_U[:, target] - W_U[:, vs]; [E] W_O[l, h] dir */
    for (int d = 0; d < D; d++)
        dir[d] = (double)p->W_U[(size_t)d * Vo + target] - p->W_U[(size_t)d * Vo + vs];
    const size_t row = ((size_t)b * T + q) * D;
    double total = (double)p->b_U[target] - p->b_U[vs], direct = 0, bias = total;
    for (int d = 0; d < D; d++) {
        total += (double)resid[row + d] * dir[d];
        direct += ((double)embed[row + d] + pos[row + d]) * dir[d];
        for (int l = 0; l < L; l++)
            bias += (double)p->b_O[(size_t)l * D + d] * dir[d];
    }
    for (int l = 0; l < L; l++) {
        const float *v = hook_cached(cache, SL_HOOK_V, l);           /* [B, T, H, E] */
        const float *pat = hook_cached(cache, SL_HOOK_PATTERN, l);   /* [B, H, T, T] */
        for (int h = 0; h < H; h++) {
            const float *wo = p->W_O + sl_model_head_qkv_offset(c, l, h);   /* [E, D] */
            for (int e = 0; e < E; e++) {
                double s = 0;
                for (int d = 0; d < D; d++)
                    s += (double)wo[(size_t)e * D + d] * dir[d];
                u[e] = s;
            }
            const float *pr = pat + (((size_t)b * H + h) * T + q) * T;
            float *src = out->sources + ((size_t)l * H + h) * T;
            for (int k = 0; k < T; k++) {
                double vu = 0;   /* v[b, k, h] . u: rows of v for this head are H * E apart */
                if (k <= q) {
                    const float *vk = v + (((size_t)b * T + k) * H + h) * E;
                    for (int e = 0; e < E; e++)
                        vu += (double)vk[e] * u[e];
                }
                src[k] = k <= q ? (float)(pr[k] * vu) : 0.0f;
            }
        }
    }
    free(dir);
    out->query = q;
    out->target = target;
    out->vs = vs;
    out->total = total;
    out->direct = direct;
    out->bias = bias;
    return 0;
}
