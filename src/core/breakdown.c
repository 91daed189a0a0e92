/* breakdown.c: evaluation by the shape of the list (breakdown.h). */
#include "sortlens/breakdown.h"

#include <string.h>

#include "sortlens/task.h"

static const char *const axis_names[SL_BREAKDOWN_AXES] = {"by_multiplicity", "by_largest_gap", "by_span"};
static const char *const labels[SL_BREAKDOWN_AXES][SL_BREAKDOWN_BUCKETS] = {
    {"1", "2", "3", "4+"},
    {"0-4", "5-9", "10-19", "20+"},
    {"0-9", "10-19", "20-39", "40+"},
};
/* The lowest value of buckets 1..3 on each axis (bucket 0 starts at its
 * axis's smallest possible value: 1 for multiplicity, 0 otherwise). */
static const int lower[SL_BREAKDOWN_AXES][SL_BREAKDOWN_BUCKETS - 1] = {{2, 3, 4}, {5, 10, 20}, {10, 20, 40}};

const char *sl_breakdown_axis_name(SlBreakdownAxis axis)
{
    return axis >= 0 && axis < SL_BREAKDOWN_AXES ? axis_names[axis] : "?";
}

const char *sl_breakdown_bucket_label(SlBreakdownAxis axis, int bucket)
{
    if (axis < 0 || axis >= SL_BREAKDOWN_AXES || bucket < 0 || bucket >= SL_BREAKDOWN_BUCKETS)
        return "?";
    return labels[axis][bucket];
}

void sl_breakdown_init(SlBreakdown *bd, int n)
{
    memset(bd, 0, sizeof *bd);
    bd->n = n;
}

static int bucket_of(SlBreakdownAxis axis, int x)
{
    int b = 0;
    while (b < SL_BREAKDOWN_BUCKETS - 1 && x >= lower[axis][b])
        b++;
    return b;
}

/* The buckets of a list sorted in ascending order. */
static void buckets_of_sorted(int n, const int *sorted, int *which)
{
    int mult = 1, run = 1, gap = 0;
    for (int i = 1; i < n; i++) {
        int d = sorted[i] - sorted[i - 1];
        run = d == 0 ? run + 1 : 1;
        if (run > mult)
            mult = run;
        if (d > gap)
            gap = d;
    }
    which[SL_BY_MULTIPLICITY] = bucket_of(SL_BY_MULTIPLICITY, mult);
    which[SL_BY_LARGEST_GAP] = bucket_of(SL_BY_LARGEST_GAP, gap);
    which[SL_BY_SPAN] = bucket_of(SL_BY_SPAN, sorted[n - 1] - sorted[0]);
}

void sl_breakdown_buckets(int n, const int *values, int *which)
{
    int sorted[SL_MODEL_MAX_CTX / 2];
    sl_task_sort_values(n, values, sorted);
    buckets_of_sorted(n, sorted, which);
}

void sl_breakdown_add_sorted(SlBreakdown *bd, const int *sorted, const SlListOutcome *outcome)
{
    int which[SL_BREAKDOWN_AXES];
    buckets_of_sorted(bd->n, sorted, which);
    bool right = outcome->first_wrong < 0;
    bd->lists++;
    if (!right && outcome->first_wrong < bd->n)
        bd->first_wrong[outcome->first_wrong]++;
    for (int a = 0; a < SL_BREAKDOWN_AXES; a++) {
        SlBucket *b = &bd->bucket[a][which[a]];
        b->lists++;
        b->lists_right += right;
        b->tokens += bd->n;
        b->tokens_right += outcome->tokens_right;
    }
}

void sl_breakdown_add(SlBreakdown *bd, const int *values, const SlListOutcome *outcome)
{
    int sorted[SL_MODEL_MAX_CTX / 2];
    sl_task_sort_values(bd->n, values, sorted);
    sl_breakdown_add_sorted(bd, sorted, outcome);
}

void sl_breakdown_merge(SlBreakdown *bd, const SlBreakdown *from)
{
    bd->lists += from->lists;
    for (int i = 0; i < bd->n; i++)
        bd->first_wrong[i] += from->first_wrong[i];
    for (int a = 0; a < SL_BREAKDOWN_AXES; a++)
        for (int k = 0; k < SL_BREAKDOWN_BUCKETS; k++) {
            SlBucket *b = &bd->bucket[a][k];
            const SlBucket *f = &from->bucket[a][k];
            b->lists += f->lists;
            b->lists_right += f->lists_right;
            b->tokens += f->tokens;
            b->tokens_right += f->tokens_right;
        }
}
