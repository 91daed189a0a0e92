/* explain.h: the numbers that state the published interpretation of a sort
 * model, computed in one call so that `sortlens explain`, an explain over a
 * run's snapshots and scripts all measure the same things the same way.
 * The words that go with the numbers are the CLI's (cmd_explain.c). */
#ifndef SORTLENS_EXPLAIN_H
#define SORTLENS_EXPLAIN_H

#include <stdint.h>

#include "sortlens/circuits.h"
#include "sortlens/decode.h"
#include "sortlens/model.h"

/* The metrics of one attention head (layer, head).  For layers after the
 * first the circuit counts use the direct circuits (circuits.h). */
typedef struct SlExplainHead {
    int layer, head;
    int ov_hits, ov_total;     /* circuit_ov_copy_count */
    int qk_hits, qk_total;     /* circuit_qk_next_token_count */
    AttentionStats att;        /* circuit_attention_stats */
} SlExplainHead;

typedef struct SlExplain {
    long lists;                /* random lists per statistic */
    uint64_t seed;
    int n_heads;               /* L * H entries in heads */
    SlExplainHead *heads;      /* [L * H], index l * H + h */
    int primary;               /* the layer-0 head whose top key most often holds the answer */
    AblationRow ablations[ABLATION_COUNT];
} SlExplain;

/* Computes every metric of model m over `lists` random lists from `seed`
 * (the same lists for every statistic and every ablation).  progress (may
 * be NULL) counts lists evaluated, of sl_explain_work(lists).  On success
 * the caller releases out with sl_explain_free; on failure nothing is left
 * to free. */
int sl_explain_compute(const Model *m, long lists, uint64_t seed, SlExplain *out, ProgressFn progress,
                       void *progress_ctx, SlError *err);
long sl_explain_work(long lists);
void sl_explain_free(SlExplain *x);   /* accepts NULL and a zeroed struct */

#endif
