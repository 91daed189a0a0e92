/* hooks.h: TransformerLens's hook points, by id and by name, and hook
 * functions that read or edit an activation while the forward pass runs,
 * for activation patching (TL's run_with_hooks).
 *
 * One table (src/core/cache.c) names the hooks; it drives the cache's lookup
 * by name (sl_cache_get), its export (sl_cache_to_tensors) and the names here.
 *
 * A hook function sees the activation of the whole batch, in
 * TransformerLens's shape (below), and may change it in place; the forward
 * pass goes on from the changed values, exactly as a TL hook that returns
 * an edited tensor.  Since the batch is whole, many patched runs go in one
 * batched forward: sequence b of the batch can be patched from its own
 * clean run (edit act[b, ...] only).
 *
 *   id                    name (layer L)                  shape
 *   SL_HOOK_EMBED         hook_embed                      [B, T, D]
 *   SL_HOOK_POS_EMBED     hook_pos_embed                  [B, T, D]
 *   SL_HOOK_RESID_PRE     blocks.L.hook_resid_pre         [B, T, D]
 *   SL_HOOK_Q             blocks.L.attn.hook_q            [B, T, H, E]
 *   SL_HOOK_K             blocks.L.attn.hook_k            [B, T, H, E]
 *   SL_HOOK_V             blocks.L.attn.hook_v            [B, T, H, E]
 *   SL_HOOK_ATTN_SCORES   blocks.L.attn.hook_attn_scores  [B, H, T, T] (scaled; masked entries -inf)
 *   SL_HOOK_PATTERN       blocks.L.attn.hook_pattern      [B, H, T, T]
 *   SL_HOOK_Z             blocks.L.attn.hook_z            [B, T, H, E]
 *   SL_HOOK_ATTN_OUT      blocks.L.hook_attn_out          [B, T, D]
 *   SL_HOOK_RESID_POST    blocks.L.hook_resid_post        [B, T, D]
 *   SL_HOOK_LOGITS        logits                          [B, T, Vo] (cache only: TL has no hook there)
 *
 * Order, per layer, as TL runs them: resid_pre, q, k, v, attn_scores,
 * pattern, z, attn_out, resid_post (embed and pos_embed first, once).  The
 * SlIntervention of the same forward is applied before the hook of the
 * activation it changes (a QK term removed shows in attn_scores; an
 * ablated z is what hook_z sees), so a hook has the last word.
 * hook_resid_pre of layer 0 is embed + pos_embed; of layer L > 0 it is a
 * copy of resid_post of layer L - 1 (editing it leaves the cached
 * resid_post as it was, as in TL's cache).  The cache holds every value
 * after its hook, except hook_resid_pre, which is not cached: the table
 * computes it for export, and sl_cache_get does not find it. */
#ifndef SORTLENS_HOOKS_H
#define SORTLENS_HOOKS_H

#include <stdint.h>

#include "sortlens/error.h"

typedef enum {
    SL_HOOK_EMBED,
    SL_HOOK_POS_EMBED,
    SL_HOOK_RESID_PRE,
    SL_HOOK_Q,
    SL_HOOK_K,
    SL_HOOK_V,
    SL_HOOK_ATTN_SCORES,
    SL_HOOK_PATTERN,
    SL_HOOK_Z,
    SL_HOOK_ATTN_OUT,
    SL_HOOK_RESID_POST,
    SL_HOOK_LOGITS,
    SL_HOOK_COUNT
} SlHookId;

/* Called at a hook point with the activation act (shape[0..ndim), ndim =
 * sl_hook_ndim(hook_id)) of layer `layer` (0 for hook_embed and
 * hook_pos_embed); head_or_minus1 is -1: the tensor holds every head, in
 * TL's layout (q[b, t, h, e] is act[((b * T + t) * H + h) * E + e]).
 * Return 0 to go on; a negative SL_E* code (with err filled) stops the
 * forward, which returns that code. */
typedef int (*SlHookFn)(void *ctx, int hook_id, int layer, int head_or_minus1, float *act, const int64_t *shape,
                        SlError *err);

typedef struct SlHook {
    SlHookId hook;   /* SL_HOOK_EMBED .. SL_HOOK_RESID_POST */
    int layer;       /* -1: every layer (ignored for hook_embed, hook_pos_embed) */
    SlHookFn fn;
    void *ctx;
} SlHook;

/* The hooks of one forward, called in the order given where several share
 * a point.  NULL or n == 0: none. */
typedef struct SlHooks {
    const SlHook *hooks;
    int n;
} SlHooks;

/* TL's name of a hook at layer `layer` ("blocks.1.attn.hook_q",
 * "hook_embed") into buf; returns buf, or NULL for an unknown id. */
const char *sl_hook_name(SlHookId id, int layer, char *buf, int size);

/* The number of dimensions of a hook's activation (3 or 4); 0 if unknown. */
int sl_hook_ndim(SlHookId id);

/* Parses a TL hook name into its id and layer ("blocks.L." prefix; for a
 * one-layer model, n_layers 1, the names without it also work).  Returns
 * 0, or SL_EINVAL with a message for an unknown name or layer. */
int sl_hook_parse(const char *name, int n_layers, SlHookId *id, int *layer, SlError *err);

#endif
