/* forward.h: the one forward pass that serves everything (CLI, explorer,
 * circuits, tests), with an activation cache named after TransformerLens
 * hooks and an optional intervention, so that an ablation in the explorer
 * and in a test is the same code path. */
#ifndef SORTLENS_FORWARD_H
#define SORTLENS_FORWARD_H

#include <stdbool.h>

#include "sortlens/hooks.h"
#include "sortlens/model.h"

/* Activations for a batch of B sequences of T tokens (T <= n_ctx).
 * Layer-stacked arrays are [L, ...]; masked scores are -INFINITY. */
typedef struct SlActCache {
    int B, T;            /* as of the last forward (<= capacity) */
    int cap_B, cap_T;    /* allocated capacity */
    int L, H, D, E, Vo;
    float *embed;        /* [B, T, D]        hook_embed */
    float *pos_embed;    /* [B, T, D]        hook_pos_embed (expanded over B, as TL) */
    float *q;            /* [L, B, T, H, E]  blocks.l.attn.hook_q */
    float *k;            /* [L, B, T, H, E]  blocks.l.attn.hook_k */
    float *v;            /* [L, B, T, H, E]  blocks.l.attn.hook_v */
    float *scores;       /* [L, B, H, T, T]  blocks.l.attn.hook_attn_scores (scaled, masked) */
    float *pattern;      /* [L, B, H, T, T]  blocks.l.attn.hook_pattern */
    float *z;            /* [L, B, T, H, E]  blocks.l.attn.hook_z */
    float *attn_out;     /* [L, B, T, D]     blocks.l.hook_attn_out */
    float *resid_post;   /* [L, B, T, D]     blocks.l.hook_resid_post */
    float *logits;       /* [B, T, Vo]       logits */
    float *scratch;      /* implementation workspace */
    size_t scratch_size;
    void *block;         /* the one allocation the arrays above are carved from */
} SlActCache;

SlActCache *sl_cache_new(const SlModelConfig *cfg, int cap_B, int cap_T, SlError *err);
void sl_cache_free(SlActCache *c);   /* accepts NULL */
/* How many sequences of T tokens an activation cache holds within `bytes`
 * (SL_CACHE_BATCH_BYTES for the loops over many lists): at least 1, at most
 * max_B.  A loop that keeps whole caches takes its batches this size, so
 * its memory grows with one list's T x T arrays, not with a batch of them
 * (256 lists of 1202 tokens would need 4 GB). */
int sl_cache_batch_within(const SlModelConfig *cfg, int T, int max_B, size_t bytes);
#define SL_CACHE_BATCH_BYTES ((size_t)64 << 20)

/* Looks an activation up by its TransformerLens hook name ("hook_embed",
 * "blocks.0.attn.hook_pattern", "logits", ...; for L = 1 the short names
 * "attn.hook_q", "hook_attn_out", "hook_resid_post" also work).  Returns the
 * data of the last forward and its shape in TL's order ([B, T, H, E] for q,
 * [B, H, T, T] for scores); NULL for an unknown name. */
const float *sl_cache_get(const SlActCache *c, const char *hook, int *ndim, int64_t shape[5]);

/* Every activation of the last forward as float tensors named after
 * TransformerLens hooks, in TL's shapes and hook order: hook_embed,
 * hook_pos_embed, then per layer l blocks.l.hook_resid_pre (computed: the
 * cache does not hold it), blocks.l.attn.hook_q, hook_k, hook_v,
 * hook_attn_scores, hook_pattern, hook_z, blocks.l.hook_attn_out,
 * blocks.l.hook_resid_post, and logits (always the long names, as
 * run_with_cache keys them); the hook table in cache.c lists them.  Copies;
 * NULL and a message on failure. */
SlTensorSet *sl_cache_to_tensors(const SlActCache *c, SlError *err);

/* Interventions (issue: circuits). All apply to one layer (default 0) and
 * one head (-1: every head). The QK and OV-pos interventions are defined on
 * layer 0, where the residual stream is W_E[t] + W_pos[p]. */
enum {
    SL_QK_TERM_TOK_TOK = 1 << 0,
    SL_QK_TERM_TOK_POS = 1 << 1,
    SL_QK_TERM_POS_TOK = 1 << 2,
    SL_QK_TERM_POS_POS = 1 << 3,
};
typedef enum { SL_ABLATE_NONE, SL_ABLATE_ZERO, SL_ABLATE_MEAN } SlAblateKind;

typedef struct SlIntervention {
    int layer;               /* default 0 */
    int head;                /* default -1: all heads */
    unsigned qk_terms_off;   /* QK_TERM_* bits: those terms are removed from the scores */
    bool ov_drop_pos;        /* values use W_E W_V only (W_pos, b_V dropped from OV) */
    bool drop_direct;        /* logits without the direct path (embed + pos through W_U) */
    int ablate_position;     /* -1 none: the head's output (hook_z) at this query position ... */
    SlAblateKind ablate_kind;  /* ... set to zero or to ablate_mean_z */
    const float *ablate_mean_z; /* [H, E] mean hook_z, for SL_ABLATE_MEAN */
    int block_source;        /* -1 none: no query may attend to this key position */
    int force_query;         /* -1 none: pattern row of this query ... */
    int force_source;        /* ... becomes one-hot on this key position */
} SlIntervention;

/* What each intervention does, in the order the forward pass applies them
 * (layer `layer`, heads `head`):
 *   qk_terms_off  the scores are the sum of the remaining QK terms only (the
 *                 position side carries b_Q and b_K, as in tables.h); the
 *                 hook_q/hook_k activations keep their true values.
 *   block_source  key position s is masked (-inf score) for every query.  A
 *                 query left with no key at all (query 0 when s = 0) gets an
 *                 all-zero pattern row and so z = 0, not a NaN.
 *   force_*       the pattern row of force_query becomes one-hot on
 *                 force_source (scores are left as they were).
 *   ov_drop_pos   hook_v = W_E[t] W_V (no W_pos, no b_V) for the chosen heads.
 *   ablate_*      hook_z at query ablate_position becomes 0 or ablate_mean_z[h];
 *                 attn_out, resid_post and the logits follow from it.
 *   drop_direct   the logits read resid_post - hook_embed - hook_pos_embed:
 *                 for one layer, logits = attn_out W_U + b_U.
 * Positions at or beyond the sequence's length have no effect, so greedy
 * decoding sees the same intervention at every step. */
void sl_intervention_init(SlIntervention *iv);   /* no intervention */
bool sl_intervention_is_none(const SlIntervention *iv);
/* Checks the fields against a model (layer and head in range, QK and OV-pos
 * on layer 0, positions below n_ctx, force_source <= force_query, a mean for
 * SL_ABLATE_MEAN); SL_EINVAL with a message naming the field. iv may be NULL. */
int sl_intervention_validate(const SlIntervention *iv, const SlModelConfig *c, SlError *err);

typedef enum {
    SL_FORWARD_AUTO,     /* tables when n_layers == 1, else general */
    SL_FORWARD_GENERAL,  /* BLAS over the residual stream, any model */
    SL_FORWARD_TABLES,   /* one-layer fast path over SlCircuitTables */
} SlForwardPath;

/* Runs B sequences of T tokens (each < d_vocab) and fills the whole cache.
 * iv may be NULL.  Returns 0 or a negative SL_E* code. */
int sl_model_forward(const SlModel *m, const int *tokens /* [B, T] */, int B, int T,
                  SlActCache *cache, const SlIntervention *iv, SlForwardPath path, SlError *err);

/* The same with hooks (hooks.h), TransformerLens's run_with_hooks: each
 * hook function sees, and may edit in place, the activation of the whole
 * batch at its hook point, and the forward goes on from what it leaves.
 * hooks NULL or empty: sl_model_forward.  With hooks set the forward takes the
 * general path (SL_FORWARD_AUTO or SL_FORWARD_GENERAL; SL_FORWARD_TABLES is refused),
 * since the tables path never holds most activations as such.  The cache
 * is filled as by sl_model_forward, with the hooked values. */
int sl_model_forward_hooked(const SlModel *m, const int *tokens /* [B, T] */, int B, int T, SlActCache *cache,
                            const SlIntervention *iv, SlForwardPath path, const SlHooks *hooks, SlError *err);

#endif
