/* curves.h: the explorer's progress page, opened on a training run: the
 * curves of sortlens/curves.h over the run's snapshots, with a marker at the
 * snapshot on screen (render_curves draws them).
 *
 * Each snapshot's figures take an explain (sl_curve_values_of_file), about
 * a second each, so they are computed on a thread of their own, in order,
 * and the curves fill in as they arrive; the snapshots a training still
 * writes are picked up (curves_tick follows the run's listing). */
#ifndef SORTLENS_TUI_CURVES_H
#define SORTLENS_TUI_CURVES_H

#include <stdatomic.h>
#include <stdbool.h>

#include "job.h"
#include "panels.h"
#include "snapshots.h"
#include "sortlens/curves.h"

typedef struct Curves {
    bool on;
    const Snapshots *snaps;   /* the run (not owned); NULL until opened */
    char *dir;                /* its directory, the worker's own copy (a refresh replaces snaps->run) */
    long lists;               /* explain's lists per snapshot: SL_CURVE_LISTS (a test may take fewer) */
    int count, cap;
    long *steps;              /* [count] the listing the values are of */
    double *values;           /* [cap, SL_CURVE_COUNT] */
    /* the worker writes values[i] (and a failure's message) before it makes
     * ready i + 1; steps and values are reallocated only while it is idle */
    Job job;
    atomic_int ready;
    int target;               /* what the worker computes up to */
    atomic_int failed;        /* snapshots that could not be read or measured */
    char failure[SL_ERROR_MAX];   /* the first one's message, written before failed leaves 0 */
    int seen_ready;
    long seen_done;
    char note[SL_ERROR_MAX + 96];
    char title[200];
} Curves;

void curves_init(Curves *c);
/* Opens the page on run s (the listing is taken as it is, and the
 * computation started for what is not computed yet). */
int curves_open(Curves *c, const Snapshots *s, SlError *err);
/* Follows the run's listing (new snapshots are computed), restarts the
 * worker when there is more to do, and says whether to draw again. */
bool curves_tick(Curves *c);
bool curves_busy(const Curves *c);
void curves_wait(Curves *c);   /* tests */
/* The page as render_curves draws it, the marker at the snapshot shown. */
void curves_panel(Curves *c, CurvesPanel *p);
void curves_free(Curves *c);

#endif
