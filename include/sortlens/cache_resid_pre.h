/* cache_resid_pre.h: blocks.l.hook_resid_pre, which the activation cache
 * does not store: the residual stream entering layer l, as
 * TransformerLens's run_with_cache keeps it (layer 0: hook_embed +
 * hook_pos_embed; layer l > 0: blocks.(l-1).hook_resid_post).
 * (Kept apart from forward.c for now; the cache's hook table may take it.) */
#ifndef SORTLENS_CACHE_RESID_PRE_H
#define SORTLENS_CACHE_RESID_PRE_H

#include "sortlens/forward.h"
#include "sortlens/tensor.h"

/* Adds blocks.l.hook_resid_pre [B, T, D] for every layer of the cache's last
 * forward to ts (copies).  0, or an error with a message. */
int sl_cache_add_resid_pre(const SlActCache *c, SlTensorSet *ts, SlError *err);

#endif
