/* ablation.h: the one language of ablations, shared by `predict`, `eval`,
 * `patch`, `predict --cache` and the explorer's status line.
 *
 * A spec is a comma-separated list of ablations; each is one of
 *   qk:TERM            the QK score term TERM removed (token-token, token-pos,
 *                      pos-token, pos-pos; also tt, tp, pt, pp)
 *   ov:pos             W_pos (and b_V) dropped from the values (OV path)
 *   source:POS         no query may attend to key position POS
 *   direct             the direct path (embeddings read by W_U) removed
 *   head:L.H           head H of layer L: its output (hook_z) zeroed
 *   mean:head:L.H      its output replaced by its mean over the training
 *                      distribution, per position (SL_ABLATION_MEAN_LISTS
 *                      teacher-forced random lists from SL_ABLATION_MEAN_SEED)
 *   resample:head:L.H  its output taken from another random list's clean,
 *                      teacher-forced run (a seeded draw per list)
 * each optionally scoped with `@L.H` (qk, ov, source: one head; default every
 * head of layer 0) and `@query=POS` (only that query position).  POS is a
 * position index 0..n_ctx-1 or its name: BOS, a1..an, MID, b1..bn.
 * Names are case-insensitive; sl_ablation_format writes the canonical form
 * ("qk:token-token@0.0,head:0.1@query=MID"), which parses back to the same.
 *
 * A list the forward's own SlIntervention (forward.h) can express runs
 * through it, on every path (the explorer's toggles, explain's table); any
 * other list (several head scopes at once, query scopes, a head's output at
 * every position, resampling) runs through the hook API (hooks.h) on the
 * general path: sl_ablation_run_*.  Only ov:pos@query and direct@query are
 * refused, with a message.
 */
#ifndef SORTLENS_ABLATION_H
#define SORTLENS_ABLATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sortlens/forward.h"
#include "sortlens/hooks.h"
#include "sortlens/model.h"

#define SL_ABLATION_MAX 32            /* specs in one list */
#define SL_ABLATION_MEAN_LISTS 1000   /* lists behind mean:head:L.H */
#define SL_ABLATION_MEAN_SEED 12345   /* their seed (eval's default lists use seed 1) */
#define SL_ABLATION_TEXT_MAX 1024     /* the longest formatted spec list */
#define SL_ABLATION_RESAMPLE_STREAM 0x726573616d706c65ULL   /* "resample": see sl_ablation_run_new */

typedef enum {
    SL_ABLATE_QK,             /* qk:TERM */
    SL_ABLATE_OV_POS,         /* ov:pos */
    SL_ABLATE_SOURCE,         /* source:POS */
    SL_ABLATE_DIRECT,         /* direct */
    SL_ABLATE_HEAD_ZERO,      /* head:L.H */
    SL_ABLATE_HEAD_MEAN,      /* mean:head:L.H */
    SL_ABLATE_HEAD_RESAMPLE,  /* resample:head:L.H */
} SlAblationKind;

typedef struct SlAblationSpec {
    SlAblationKind kind;
    unsigned qk_term;   /* one QK_TERM_* bit (SL_ABLATE_QK) */
    int source;         /* key position (SL_ABLATE_SOURCE) */
    int layer, head;    /* the head ablated (head kinds) or the @L.H scope; head -1: every head of the layer */
    int query;          /* @query=POS, or -1: every query */
} SlAblationSpec;

typedef struct SlAblation {
    int count;
    SlAblationSpec spec[SL_ABLATION_MAX];
} SlAblation;

/* Parses a spec list (see above) against a model's shape: layers, heads
 * and positions must exist.  An empty text is no ablation.  SL_EINVAL and a
 * message naming the spec on failure. */
int sl_ablation_parse(const char *text, const SlModelConfig *c, SlAblation *out, SlError *err);

/* The canonical text of a spec list into buf ("" for none); returns the
 * length, or -1 if it does not fit (buf then holds a truncated prefix). */
int sl_ablation_format(const SlAblation *a, const SlModelConfig *c, char *buf, size_t size);

/* A position's name: BOS, a1..an, MID, b1..bn (buf of 16 bytes at least). */
void sl_position_name(const SlModelConfig *c, int pos, char *buf, size_t size);
/* Parses a position index or name; SL_EINVAL with a message. */
int sl_position_parse(const SlModelConfig *c, const char *text, int *pos, SlError *err);

/* Does the list need the per-position mean of some head's hook_z? */
bool sl_ablation_needs_mean(const SlAblation *a);

/* The SlIntervention that applies the whole list in the forward pass.  For
 * mean:head:L.H@query=POS it points ablate_mean_z at mean_z, which the
 * caller provides ([H, E], the head's mean at that position filled in by
 * sl_ablation_mean_z); mean_z may be NULL when no mean is needed.
 * SL_EINVAL with a message for what the forward's SlIntervention cannot
 * express: resample, a head's output at every position, query scopes on
 * qk/ov/source, heads with different scopes. */
int sl_ablation_to_intervention(const SlAblation *a, const SlModelConfig *c, float *mean_z, SlIntervention *iv,
                                SlError *err);

/* The spec list of an SlIntervention (the explorer's toggles), so that its
 * status line reads as a user would type it.  force_* (not a user-facing
 * ablation) is left out. */
void sl_ablation_from_intervention(const SlIntervention *iv, const SlModelConfig *c, SlAblation *out);

/* Mean hook_z of `layer`, every head, at every position, over `lists`
 * teacher-forced random lists from `seed` (sl_task_random_list, in order):
 * mean_z [T = n_ctx, H, E].  The training distribution's mean, as
 * mean:head:L.H uses it with SL_ABLATION_MEAN_LISTS and SL_ABLATION_MEAN_SEED. */
int sl_ablation_mean_z(const SlModel *m, int layer, long lists, uint64_t seed, float *mean_z, SlError *err);

/* ---- running an ablation ------------------------------------------------ */

#include "sortlens/decode.h"
#include "sortlens/population.h"

/* An ablation prepared for one model: the SlIntervention when it expresses
 * the whole list, else the hooks and what they need (per-position means,
 * the resampled lists' clean hook_z). */
typedef struct SlAblationRun SlAblationRun;

/* resample_seed: the other lists of resample:head:L.H are drawn in order
 * from SlRng(resample_seed ^ SL_ABLATION_RESAMPLE_STREAM), one per list run
 * (sl_task_random_list): a stream of its own, so that the same number as the
 * lists' seed still draws other lists.
 * force_hooks: take the hook path even when the SlIntervention would do
 * (for tests that check one against the other). */
SlAblationRun *sl_ablation_run_new(const SlModel *m, const SlAblation *a, uint64_t resample_seed, bool force_hooks,
                                   SlError *err);
void sl_ablation_run_free(SlAblationRun *r);   /* accepts NULL */
bool sl_ablation_run_hooked(const SlAblationRun *r);

/* The forward of B sequences of T tokens under the ablation (the cache as
 * sl_model_forward fills it).  For resampling, list i of the batch takes its
 * other list's hook_z: the first call draws B of them, each later call
 * continues the draw only when `next_lists` is true (a new batch of lists;
 * false: the same lists again, e.g. the next greedy step). */
int sl_ablation_forward(SlAblationRun *r, const int *tokens, int B, int T, SlActCache *cache, bool next_lists,
                        SlError *err);

/* The same with more hooks, run after the ablation's own at each point
 * (patching: a patch has the last word).  Always the hook path; the
 * resampled lists are not drawn again. */
int sl_ablation_forward_with(SlAblationRun *r, const int *tokens, int B, int T, SlActCache *cache, const SlHook *extra,
                             int n_extra, SlError *err);
/* r is NULL or runs no ablation at all; r resamples some head. */
bool sl_ablation_run_is_none(const SlAblationRun *r);
bool sl_ablation_run_resamples(const SlAblationRun *r);

/* Teacher-forced argmax [B, n] and greedy predictions [B, n] (either may be
 * NULL) of B lists under the ablation; the cache then holds the forward
 * over the last sequences run (the greedy ones if asked for, else the
 * teacher-forced ones).  The lists are new lists for resampling. */
int sl_ablation_predict(SlAblationRun *r, const int *values /* [B, n] */, int B, int *teacher_forced, int *greedy,
                        int *greedy_tokens /* [B, n_ctx] or NULL */, SlActCache *cache, SlError *err);

/* sl_population_eval under the ablation: every list of src, the same
 * figures and breakdowns (bd may be NULL).  Through sl_population_eval
 * itself when the SlIntervention expresses the list. */
int sl_ablation_eval(SlAblationRun *r, SlListSource *src, SlEvalResult *res, SlBreakdown *bd, SlProgressFn progress,
                     void *progress_ctx, SlError *err);

/* sl_population_mean under the ablation: the means of the ablated,
 * teacher-forced runs of every list of src.  pattern and dla_correct come
 * from those runs (the attribution through the ablated pattern and values:
 * ov:pos drops W_pos and b_V from them).  score_terms are the terms as they
 * enter the ablated score: a removed qk: term is 0 in its scope, so that
 * the four still sum to hook_attn_scores where a key is not masked
 * (source:POS masks the key after the score; the terms stay as they are).
 * Where a head's output is replaced (head:, mean:head:, resample:head: on
 * layer 0, at the queries in scope), dla_correct is NAN: that output is no
 * longer a sum over sources.  Through sl_population_mean itself when r runs
 * no ablation. */
int sl_ablation_mean(SlAblationRun *r, SlListSource *src, SlPopulationMean *out, SlProgressFn progress,
                     void *progress_ctx, SlError *err);

#endif
