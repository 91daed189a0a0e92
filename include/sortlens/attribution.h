/* attribution.h: logit-difference attribution.  At one query position the
 * difference logit(target) - logit(vs) is split into parts that sum to it:
 *   direct       (hook_embed + hook_pos_embed)[q] . (W_U[:, target] - W_U[:, vs])
 *   sources      [L, H, T]: pattern[l, h, q, k] * (v[l, k, h] W_O[l, h]) . u,
 *                the value bias b_V included (it is part of hook_v)
 *   bias         sum_l b_O[l] . u + b_U[target] - b_U[vs]
 * with u = W_U[:, target] - W_U[:, vs].  The sum is exact for any depth
 * (the last residual stream is the embeddings plus every layer's output);
 * in a deeper model a later head's source term counts what it moves from
 * position k, earlier heads' writes there included.  It is sl_circuit_dla of
 * target minus that of vs, with the biases taken out of the direct part,
 * but projected onto u in double so that no part loses the difference to
 * float cancellation. */
#ifndef SORTLENS_ATTRIBUTION_H
#define SORTLENS_ATTRIBUTION_H

#include "sortlens/forward.h"

typedef struct SlAttribution {
    int query;           /* the position attributed (n + K predicts b_K) */
    int target, vs;      /* the two values */
    double total;        /* the last resid_post[q] . u + b_U[target] - b_U[vs], in double:
                            logits[q, target] - logits[q, vs] up to their float rounding */
    double direct;       /* see above */
    double bias;
    float *sources;      /* [L, H, T] (T of the forward), the caller's buffer */
} SlAttribution;

/* Attributes sequence b, position q of the last forward in `cache` (run
 * without intervention, or with one that changes only the pattern).
 * out->sources must hold L * H * cache->T floats; target and vs in 0..Vo-1. */
int sl_attribute(const SlModel *m, const SlActCache *cache, int b, int q, int target, int vs, SlAttribution *out,
                 SlError *err);

#endif
