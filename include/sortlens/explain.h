/* explain.h: the numbers that state the published interpretation of a sort
 * model, computed in one call so that `sortlens explain`, an explain over a
 * run's snapshots and scripts all measure the same things the same way.
 * The words that go with the numbers are the CLI's (cmd_explain.c). */
#ifndef SORTLENS_EXPLAIN_H
#define SORTLENS_EXPLAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "sortlens/circuits.h"
#include "sortlens/decode.h"
#include "sortlens/model.h"

#include "sortlens/stress.h"

/* How many of the largest singular values are reported. */
#define SL_EXPLAIN_TOP_SV 3

/* The metrics of one attention head (layer, head).  For layers after the
 * first the circuit metrics use the direct circuits (circuits.h).  The
 * spectral metrics are of the value block of each token circuit (rows and
 * columns 0..Vo-1, BOS and MID left out), a square matrix [Vo, Vo]. */
typedef struct SlExplainHead {
    int layer, head;
    int ov_hits, ov_total;     /* sl_circuit_ov_copy_count */
    int qk_hits, qk_total;     /* sl_circuit_qk_next_token_count */
    /* The effective OV circuit: the token OV circuit plus the mean of the
     * position OV circuit over the unsorted positions 1..n (what a key that
     * holds value x among the inputs writes, on average); rows 0..Vo-1
     * whose argmax over the Vo value columns is on the diagonal. */
    int eff_ov_hits, eff_ov_total;
    /* TransformerLens's copying score of the OV token circuit: the sum of
     * its eigenvalues over the sum of their absolute values (moduli), in
     * -1..1; near 1 when the circuit maps each value mostly to itself. */
    double ov_copying_score;
    /* The largest singular values of the OV and the token-token QK value
     * blocks, and the share of the squared Frobenius norm (the sum of all
     * squared singular values) each one carries. */
    double ov_singular[SL_EXPLAIN_TOP_SV], ov_singular_share[SL_EXPLAIN_TOP_SV];
    double qk_singular[SL_EXPLAIN_TOP_SV], qk_singular_share[SL_EXPLAIN_TOP_SV];
    int n_singular;            /* how many of the above are set: min(SL_EXPLAIN_TOP_SV, Vo) */
    SlAttentionStats att;        /* sl_circuit_attention_stats */
} SlExplainHead;

/* Accuracy on one stress set (stress.h) of `lists` lists from the seed. */
typedef struct SlExplainStress {
    bool possible;             /* false: no list of this kind exists for the model's shape */
    SlEvalResult res;
} SlExplainStress;

typedef struct SlExplain {
    long lists;                /* random lists per statistic */
    uint64_t seed;
    int n_heads;               /* L * H entries in heads */
    SlExplainHead *heads;      /* [L * H], index l * H + h */
    int primary;               /* the layer-0 head whose top key most often holds the answer */
    SlAblationRow ablations[SL_ABLATION_COUNT];
    SlExplainStress stress[SL_STRESS_KINDS];   /* by SlStressKind */
    /* The L2 norm of every parameter together (sqrt of the sum of squares
     * over all tensors, biases included), as
     * torch.cat([p.flatten() for p in model.parameters()]).norm(): what
     * weight decay pulls down over a training run. */
    double weight_norm;
} SlExplain;

/* Computes every metric of model m over `lists` random lists from `seed`
 * (the same lists for every statistic and every ablation; each stress set
 * is `lists` lists of its kind from the same seed).  progress (may
 * be NULL) counts lists evaluated, of sl_explain_work(lists).  On success
 * the caller releases out with sl_explain_free; on failure nothing is left
 * to free. */
int sl_explain_compute(const SlModel *m, long lists, uint64_t seed, SlExplain *out, SlProgressFn progress,
                       void *progress_ctx, SlError *err);
long sl_explain_work(long lists);
void sl_explain_free(SlExplain *x);   /* accepts NULL and a zeroed struct */

#endif
