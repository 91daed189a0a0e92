/* stress.h: stress sets, lists drawn on purpose from the corners of the
 * task where a sorting model may fail (repeats, tight clusters, big gaps),
 * for the model's list length n and value range 0..V-1 (V = d_vocab_out).
 * Every kind is seeded and deterministic: the same kind, SlRng state and
 * config give the same lists.
 *
 *   uniform   the training distribution: n values uniform, with repeats
 *   distinct  no value twice (n distinct values, uniform over such lists)
 *   pair      exactly one value twice, the other n-2 distinct and different
 *   triple    exactly one value three times, the other n-3 distinct
 *   cluster   every value within one window of W = max(n+2, V/4)
 *             consecutive values (W capped at V), repeats allowed: the
 *             window's start is uniform, then each value uniform in it
 *   gap       n/2 values (rounded down) in the lowest fifth of the range,
 *             0..V/5-1, the rest in the highest fifth, V-V/5..V-1, repeats
 *             allowed, shuffled
 *   run       n consecutive values x..x+n-1, shuffled
 *   constant  one value n times
 */
#ifndef SORTLENS_STRESS_H
#define SORTLENS_STRESS_H

#include "sortlens/model.h"
#include "sortlens/task.h"

typedef enum {
    SL_STRESS_UNIFORM,
    SL_STRESS_DISTINCT,
    SL_STRESS_PAIR,
    SL_STRESS_TRIPLE,
    SL_STRESS_CLUSTER,
    SL_STRESS_GAP,
    SL_STRESS_RUN,
    SL_STRESS_CONSTANT,
    SL_STRESS_KINDS
} SlStressKind;

/* "uniform", "distinct", ...; "?" outside the enum. */
const char *sl_stress_name(SlStressKind kind);
/* 0, or SL_EINVAL with a message listing the kinds. */
int sl_stress_from_name(const char *name, SlStressKind *kind, SlError *err);
/* 0 when lists of this kind exist for the config (distinct and run need
 * V >= n, pair n >= 2 and V >= n-1, triple n >= 3 and V >= n-2, gap
 * V >= 5); else SL_EINVAL saying why. */
int sl_stress_check(const SlModelConfig *c, SlStressKind kind, SlError *err);
/* The width of the cluster window, max(n+2, V/4) capped at V. */
int sl_stress_cluster_width(const SlModelConfig *c);
/* One list of `kind` into values [n]; the kind must pass sl_stress_check. */
void sl_stress_list(const SlModelConfig *c, SlStressKind kind, SlRng *rng, int *values /* [n] */);

#endif
