/* finite_check.h: is what the model computed a number?  A model whose
 * weights are finite can still overflow float32 in the forward pass (scores
 * of +inf, then a softmax of NaN); everything read from such outputs
 * (argmax, accuracy, JSON) would be silently wrong.  These find the first
 * entry that is not finite and say where, so that a caller refuses the
 * result with one clear message instead. */
#ifndef SORTLENS_FINITE_CHECK_H
#define SORTLENS_FINITE_CHECK_H

#include <stdint.h>

#include "sortlens/forward.h"
#include "sortlens/model.h"

/* x has shape [shape[0], ..., shape[ndim-1]]; dims names each axis for the
 * message ("list", "position", ...; NULL: "index").  0 when every entry is
 * finite, else SL_EFORMAT with "NAME[list 0, position 12, value 3] is nan". */
int sl_check_finite(const char *name, const float *x, int ndim, const int64_t *shape,
                    const char *const *dims, SlError *err);

/* Every activation of the cache's last forward, in hook order (hook_embed
 * ... logits), so that the message names the first tensor that overflowed.
 * Masked attention scores (-inf by definition) are allowed. */
int sl_cache_check_finite(const SlActCache *c, SlError *err);

/* One forward over tokens [1, T] with a cache of its own, then
 * sl_cache_check_finite: a quick probe of a model before long work. */
int sl_forward_check_finite(const SlModel *m, const int *tokens, int T, SlError *err);

#endif
