/* breakdown.h: evaluation broken down by the shape of the list: where the
 * first greedy error falls, and accuracy by the largest multiplicity of a
 * value, by the largest gap between consecutive sorted values, and by the
 * span (max - min).  The buckets are those of issue 11:
 *   multiplicity  "1" "2" "3" "4+"
 *   largest gap   "0-4" "5-9" "10-19" "20+"
 *   span          "0-9" "10-19" "20-39" "40+"                          */
#ifndef SORTLENS_BREAKDOWN_H
#define SORTLENS_BREAKDOWN_H

#include "sortlens/decode.h"
#include "sortlens/model.h"

enum { SL_BREAKDOWN_BUCKETS = 4 };
typedef enum { SL_BY_MULTIPLICITY, SL_BY_LARGEST_GAP, SL_BY_SPAN, SL_BREAKDOWN_AXES } SlBreakdownAxis;

typedef struct SlBucket {
    long lists, lists_right;     /* greedy: every b_i right */
    long tokens, tokens_right;   /* teacher-forced, n per list */
} SlBucket;

typedef struct SlBreakdown {
    int n;
    long lists;
    long first_wrong[SL_MODEL_MAX_CTX / 2];   /* [n]: lists whose first greedy error is at b_(i+1) */
    SlBucket bucket[SL_BREAKDOWN_AXES][SL_BREAKDOWN_BUCKETS];
} SlBreakdown;

void sl_breakdown_init(SlBreakdown *bd, int n);
/* Adds one list values [n] with its outcome. */
void sl_breakdown_add(SlBreakdown *bd, const int *values, const SlListOutcome *outcome);
/* The same for a list already sorted, sorted [n] in ascending order (the
 * buckets depend only on the values, not on their order). */
void sl_breakdown_add_sorted(SlBreakdown *bd, const int *sorted, const SlListOutcome *outcome);
/* Adds the counts of from (of the same n) to bd. */
void sl_breakdown_merge(SlBreakdown *bd, const SlBreakdown *from);
/* The bucket of each axis for values [n]: into which [SL_BREAKDOWN_AXES]. */
void sl_breakdown_buckets(int n, const int *values, int *which);
/* "by_multiplicity", "by_largest_gap", "by_span" (the JSON keys). */
const char *sl_breakdown_axis_name(SlBreakdownAxis axis);
/* "1", "2", "3", "4+", "0-4", ... */
const char *sl_breakdown_bucket_label(SlBreakdownAxis axis, int bucket);

#endif
