/* patch.h: activation patching, as TransformerLens's patching module does
 * it: run the corrupted input, patch in one activation of the clean run at
 * a time (both runs teacher-forced on their own true sequences), and
 * measure the logit difference
 *   LD = logits[query, clean answer] - logits[query, corrupt answer]
 * normalised: (LD_patched - LD_corrupt) / (LD_clean - LD_corrupt), so 1 is
 * the clean run's and 0 the corrupted run's.
 *
 * Positions: the query is n + K, the position that predicts b_K (MID, at
 * n + 1, predicts b_1).  K defaults to the first place where the two sorted
 * lists differ.
 *
 * Hooks, in this order (TransformerLens's run_with_cache names):
 *   hook_embed, hook_pos_embed                    [T]
 *   per layer l: blocks.l.attn.hook_q, hook_k, hook_v, hook_z,
 *                blocks.l.attn.hook_pattern       [H, T]  (pattern: the query
 *                                                  row of that position)
 *                blocks.l.hook_attn_out, blocks.l.hook_resid_post   [T]
 * and for layer 0 the QK score terms (score_terms [H, 4, T]): the query's
 * score on key s gets the clean run's term (token-token .. pos-pos) for s.
 *
 * Attribution patching (the first-order estimate): the gradient of LD at
 * the corrupted run with respect to the activation, dotted with clean minus
 * corrupt, normalised the same way, beside every exact value.
 *
 * Two ways, the same results: one-layer models without ablation by exact
 * recomputation of the query's row from the two runs' caches (about a
 * millisecond a pair); any model, and any ablation (both runs under it),
 * through the hook API: every patched run in batched forwards, each batch
 * element patched at its own (hook, position). */
#ifndef SORTLENS_PATCH_H
#define SORTLENS_PATCH_H

#include <stdbool.h>

#include "sortlens/model.h"

#define SL_PATCH_MAX_HOOKS (2 + 7 * SL_MODEL_MAX_LAYERS)

typedef struct SlPatchHook {
    char name[48];        /* "blocks.0.attn.hook_k" */
    int layer;            /* -1 for hook_embed / hook_pos_embed */
    int heads;            /* H for per-head hooks, else 0 */
    float *exact;         /* [max(heads, 1), T] normalised metric */
    float *attribution;   /* [max(heads, 1), T] the linear estimate, or NULL */
} SlPatchHook;

typedef struct SlPatchResult {
    int at;                       /* K: the query predicts b_K */
    int query;                    /* n + K */
    int clean_answer, corrupt_answer;
    double ld_clean, ld_corrupt;  /* unnormalised */
    int L, H, T;                  /* T = n_ctx */
    int n_hooks;
    SlPatchHook hooks[SL_PATCH_MAX_HOOKS];
    float *score_terms;           /* [H, 4, T] layer 0, normalised; keys after the query 0 */
    float *score_terms_attribution;   /* [H, 4, T] or NULL */
    float *memory;                /* one block behind every array above */
} SlPatchResult;

/* The default K for two lists: the first place (1..n) where their sorted
 * versions differ; SL_EINVAL with a message if they never do. */
int sl_patch_default_at(const SlModelConfig *c, const int *clean, const int *corrupt, int *at, SlError *err);

struct SlAblationRun;

/* Patches every hook at every position.  clean, corrupt: the two lists
 * [n]; at: 1..n, or 0 for the default.  attribution: also compute the
 * estimates (one-layer models without ablation only).  run (may be NULL):
 * both runs under that ablation (resampling refused).  force_hooks: take
 * the hook path even where the recomputation would do (tests check one
 * against the other).  Fills *out (release it with sl_patch_result_free). */
int sl_patch(const SlModel *m, const int *clean, const int *corrupt, int at, bool attribution, struct SlAblationRun *run,
             bool force_hooks, SlPatchResult *out, SlError *err);
void sl_patch_result_free(SlPatchResult *r);   /* frees the arrays; r itself is the caller's */

/* A hook's result by name (NULL if none). */
const SlPatchHook *sl_patch_hook(const SlPatchResult *r, const char *name);

#endif
