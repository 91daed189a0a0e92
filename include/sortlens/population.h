/* population.h: what a model does over many lists, not one: evaluation with
 * breakdowns over any source of lists (a seeded stress set, a file), and
 * the mean attention pattern, QK score terms and direct logit attribution
 * over a population, as the published analysis averages them. */
#ifndef SORTLENS_POPULATION_H
#define SORTLENS_POPULATION_H

#include <stdint.h>

#include "sortlens/breakdown.h"
#include "sortlens/decode.h"
#include "sortlens/listfile.h"
#include "sortlens/stress.h"

/* A source of lists: read() fills up to max lists values [max, n] and
 * returns how many (0 at the end) or a negative SL_E* code; total is the
 * number it will give (for progress bars). */
typedef struct SlListSource {
    long (*read)(void *ctx, int *values, long max, SlError *err);
    void *ctx;
    long total;
} SlListSource;

/* `lists` lists of a stress kind from one SlRng seeded with seed: for
 * SL_STRESS_UNIFORM the very lists sl_decode_eval draws from that seed. */
typedef struct SlStressSource {
    SlModelConfig cfg;
    SlStressKind kind;
    SlRng rng;
    long left;
} SlStressSource;
int sl_stress_source(SlStressSource *s, const SlModelConfig *c, SlStressKind kind, long lists, uint64_t seed,
                     SlListSource *out, SlError *err);
/* The lists of an opened file (listfile.h), from its current place. */
void sl_list_file_source(SlListFile *f, SlListSource *out);
/* The lists of an opened file from its first, through a reader of its own
 * (sl_list_file_read_at): several readers may take one file's lists at
 * once, from several threads.  r must outlive out. */
typedef struct SlListFileReader {
    const SlListFile *file;
    long next;
} SlListFileReader;
void sl_list_file_reader_source(SlListFileReader *r, const SlListFile *f, SlListSource *out);

/* Evaluates every list of src (teacher-forced and greedy, as sl_decode_eval)
 * into res, and into bd (may be NULL) by the shape of each list. */
int sl_population_eval(const SlModel *m, const SlIntervention *iv, SlListSource *src, SlEvalResult *res, SlBreakdown *bd,
                       SlProgressFn progress, void *progress_ctx, SlError *err);
/* Called for each list evaluated, in order: its values [n] and outcome. */
typedef void (*SlListOutcomeFn)(void *ctx, const int *values, const SlListOutcome *outcome);
/* sl_population_eval, telling each (may be NULL) every list's outcome, so
 * that a caller can keep the lists that fail. */
int sl_population_eval_each(const SlModel *m, const SlIntervention *iv, SlListSource *src, SlEvalResult *res,
                            SlBreakdown *bd, SlListOutcomeFn each, void *each_ctx, SlProgressFn progress,
                            void *progress_ctx, SlError *err);

/* Means over the teacher-forced sequences [BOS, a, MID, sorted a] of a
 * population.  Queries and keys index positions 0..T-1 (T = n_ctx). */
typedef struct SlPopulationMean {
    long lists;
    int L, H, T;
    double *pattern;      /* [L, H, T, T]  hook_pattern; 0 on masked keys */
    double *score_terms;  /* [4, H, T, T]  layer 0: the SCORE_TERM_* terms divided by sqrt(d_head),
                             so the four sum to hook_attn_scores; NAN on masked keys (k > q) */
    double *dla_correct;  /* [H, T, T]     layer 0: direct logit attribution of key k to the
                             logit of the correct next value at query q (sl_circuit_dla); defined
                             at the n prediction queries n+1..2n and keys k <= q, NAN elsewhere */
} SlPopulationMean;
int sl_population_mean(const SlModel *m, SlListSource *src, SlPopulationMean *out, SlProgressFn progress,
                       void *progress_ctx, SlError *err);
/* The same means over another forward: forward(ctx, tokens, B, T, cache,
 * err) fills the cache for B sequences (an ablated run, ablation.h's
 * sl_ablation_mean); pattern and dla_correct are then read from that cache
 * (the attribution through sl_circuit_dla, from its pattern and values),
 * score_terms still from the weights and the tokens.  forward NULL: the
 * model's own forward, as sl_population_mean. */
typedef int (*SlPopulationForward)(void *ctx, const int *tokens, int B, int T, SlActCache *cache, SlError *err);
int sl_population_mean_with(const SlModel *m, SlPopulationForward forward, void *forward_ctx, SlListSource *src,
                            SlPopulationMean *out, SlProgressFn progress, void *progress_ctx, SlError *err);
void sl_population_mean_free(SlPopulationMean *pm);   /* accepts NULL and a zeroed struct */

#endif
