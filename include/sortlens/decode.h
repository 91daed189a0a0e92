/* decode.h: what the model predicts for lists: teacher-forced argmax, greedy
 * decoding (reusing the prefix's keys and values), the tutorial's loss, and
 * evaluation over random lists. */
#ifndef SORTLENS_DECODE_H
#define SORTLENS_DECODE_H

#include <stdint.h>

#include "sortlens/forward.h"
#include "sortlens/progress.h"

/* The tutorial's loss: mean cross-entropy of logits at positions n..2n-1+1
 * (MID..b_{n-1}) against b_1..b_n, over the B sequences in the cache. */
double sl_decode_loss(const SlModelConfig *c, const SlActCache *cache, const int *tokens /* [B, T] */);

/* Teacher-forced: argmax at each of the n prediction positions given the
 * true sorted prefix.  argmax [B, n]; logits left in cache. */
int sl_decode_teacher_forced(const SlModel *m, const int *values /* [B, n] */, int B,
                          int *argmax, SlActCache *cache, const SlIntervention *iv, SlError *err);

/* Greedy: the model's own predictions fill b_1..b_n.  out [B, n].  When
 * tokens_out is not NULL it receives the final sequences [B, n_ctx], and the
 * cache then holds a forward over them (so the explorer can show it). */
int sl_decode_greedy(const SlModel *m, const int *values /* [B, n] */, int B,
                  int *out, int *tokens_out, SlActCache *cache, const SlIntervention *iv, SlError *err);

/* The same three with an explicit path (SL_FORWARD_GENERAL or SL_FORWARD_TABLES),
 * so that the two can be checked against each other; the functions above
 * use SL_FORWARD_AUTO.  B may not exceed the cache's capacity (cap_B), whose
 * cap_T must be n_ctx.  Greedy decoding on the general path keeps each
 * layer's keys and values and runs one new position per step; with an
 * intervention it runs the whole prefix at each step instead, so that the
 * intervention is applied exactly as sl_model_forward applies it. */
int sl_decode_teacher_forced_path(const SlModel *m, const int *values, int B, int *argmax, SlActCache *cache,
                               const SlIntervention *iv, SlForwardPath path, SlError *err);
int sl_decode_greedy_path(const SlModel *m, const int *values, int B, int *out, int *tokens_out, SlActCache *cache,
                       const SlIntervention *iv, SlForwardPath path, SlError *err);

/* The k most probable values of one row of logits [Vo]: values idx[k] and
 * their softmax probabilities prob[k], most probable first (ties: the
 * smaller value first).  k is clamped to Vo; returns the k used. */
int sl_decode_top_k(const float *logits, int Vo, int k, int *idx, double *prob);

typedef struct SlEvalResult {
    long lists;
    double token_accuracy;        /* teacher-forced, per token */
    double list_accuracy;         /* greedy, whole list right */
    double loss;                  /* mean tutorial loss */
    double per_position_accuracy[SL_MODEL_MAX_CTX]; /* teacher-forced, [n] used */
} SlEvalResult;

/* What evaluation learns of one list. */
typedef struct SlListOutcome {
    int tokens_right;   /* teacher-forced argmaxes equal to the true b_i, of n */
    int first_wrong;    /* greedy: index 0..n-1 of the first wrong b_i; -1 when all n are right.
                           Greedy sees the true prefix up to its first mistake, so this is also
                           the first teacher-forced error. */
} SlListOutcome;

/* An evaluation over lists given batch by batch (a file, a stress set):
 * running totals and the workspace, so that any number of lists is
 * evaluated in bounded memory.  iv (may be NULL) must outlive it.
 * Each sl_evaluator_add splits its lists over worker threads, at least 512
 * lists a worker: as many workers as processors online, at most 8, or
 * SORTLENS_THREADS (1..8) when it is set.  Every figure, the loss to the
 * last bit included, is the same for any number of workers.  On the
 * general path each worker needs an OpenBLAS working buffer of its own;
 * where the address space has no room for them all, one worker evaluates. */
typedef struct SlEvaluator SlEvaluator;
SlEvaluator *sl_evaluator_new(const SlModel *m, const SlIntervention *iv, SlForwardPath path, SlError *err);
/* Evaluates B >= 0 lists values [B, n] (each value in 0..Vo-1) and adds
 * them to the totals; outcomes [B] (may be NULL) receives each list's. */
int sl_evaluator_add(SlEvaluator *ev, const int *values, long B, SlListOutcome *outcomes, SlError *err);
/* The totals so far as an SlEvalResult (NaN fields before any list). */
void sl_evaluator_result(const SlEvaluator *ev, SlEvalResult *res);
/* The lists so far broken down by their shape (breakdown.h): the same as
 * sl_breakdown_add of each list with its outcome, counted by the workers. */
typedef struct SlBreakdown SlBreakdown;
void sl_evaluator_breakdown(const SlEvaluator *ev, SlBreakdown *bd);
void sl_evaluator_free(SlEvaluator *ev);   /* accepts NULL */
/* The workers an evaluation starts with (SORTLENS_THREADS, else the
 * processors online, at most 8). */
int sl_eval_threads(void);
/* SL_EINVAL, with a message, when SORTLENS_THREADS is set to something
 * other than a count from 1 to 8 (it is then ignored). */
int sl_eval_threads_check_env(SlError *err);

/* Evaluates `lists` fresh random lists from seed, in batches. */
int sl_decode_eval(const SlModel *m, long lists, uint64_t seed, const SlIntervention *iv,
                SlEvalResult *res, SlProgressFn progress, void *progress_ctx, SlError *err);
/* The same on a given path.  The lists are drawn in order from one SlRng
 * seeded with seed (sl_task_random_list), so they do not depend on the path;
 * progress (may be NULL) is called after each batch of 4096 (split
 * over the evaluation's threads: see SlEvaluator). */
int sl_decode_eval_path(const SlModel *m, long lists, uint64_t seed, const SlIntervention *iv, SlForwardPath path,
                     SlEvalResult *res, SlProgressFn progress, void *progress_ctx, SlError *err);

#endif
