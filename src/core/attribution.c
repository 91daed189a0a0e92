/* attribution.c: logit-difference attribution (see attribution.h), from
 * direct logit attribution of each of the two values. */
#include "sortlens/attribution.h"

#include <stdlib.h>

#include "sortlens/circuits.h"

int sl_attribute(const SlModel *m, const SlActCache *cache, int b, int q, int target, int vs, SlAttribution *out,
                 SlError *err)
{
    const SlModelConfig *c = &m->cfg;
    const SlModelParams *p = &m->params;
    const int L = c->n_layers, H = c->n_heads, D = c->d_model, Vo = c->d_vocab_out;
    if (!cache || !out || !out->sources)
        return sl_error_set(err, SL_EINVAL, "attribution without a cache or a buffer for the sources");
    const size_t n_src = (size_t)L * H * cache->T;
    if (vs < 0 || vs >= Vo)
        return sl_error_set(err, SL_EINVAL, "value %d is outside 0..%d", vs, Vo - 1);
    float *vs_src = malloc(n_src * sizeof *vs_src);
    if (!vs_src)
        return sl_error_set(err, SL_ENOMEM, "out of memory for the attribution");
    float direct_t, direct_vs;
    int rc = sl_circuit_dla(m, cache, b, q, target, out->sources, &direct_t, err);
    if (!rc)
        rc = sl_circuit_dla(m, cache, b, q, vs, vs_src, &direct_vs, err);
    if (rc) {
        free(vs_src);
        return rc;
    }
    for (size_t i = 0; i < n_src; i++)
        out->sources[i] -= vs_src[i];
    free(vs_src);
    /* sl_circuit_dla's direct part carries the biases; take them out */
    double bias = (double)p->b_U[target] - p->b_U[vs];
    for (int l = 0; l < L; l++)
        for (int d = 0; d < D; d++)
            bias += (double)p->b_O[(size_t)l * D + d] * ((double)p->W_U[(size_t)d * Vo + target] - p->W_U[(size_t)d * Vo + vs]);
    const float *logits = cache->logits + ((size_t)b * cache->T + q) * Vo;
    out->query = q;
    out->target = target;
    out->vs = vs;
    out->total = (double)logits[target] - logits[vs];
    out->direct = (double)direct_t - direct_vs - bias;
    out->bias = bias;
    return 0;
}
