/* curves.c: the progress page's figures, computed on the job thread
 * (curves.h). */
#include "curves.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sortlens/run.h"

void curves_init(Curves *c)
{
    memset(c, 0, sizeof *c);
    c->lists = SL_CURVE_LISTS;
    job_init(&c->job);
    atomic_init(&c->ready, 0);
    atomic_init(&c->failed, 0);
}

/* The worker: snapshots ready..target-1, in order; a snapshot that fails
 * is left unknown (NAN) and counted, and the next one is measured. */
static int compute(Job *job, void *ctx, SlError *err)
{
    Curves *c = ctx;
    long work = sl_explain_work(c->lists);
    for (int i = atomic_load(&c->ready); i < c->target; i++) {
        if (atomic_load(&job->cancel))
            return sl_error_set(err, SL_EINTR, "stopped");
        SlError e = {0};
        double *out = c->values + (size_t)i * SL_CURVE_COUNT;
        char *path = sl_run_snapshot_path(c->dir, c->steps[i]);
        SlProgressPart part = {job_progress, job, work * i, work * c->target};
        int rc = path ? sl_curve_values_of_file(path, c->lists, SL_CURVE_SEED, out, sl_progress_part, &part, &e)
                      : sl_error_set(&e, SL_ENOMEM, "out of memory");
        free(path);
        if (rc < 0) {
            for (int k = 0; k < SL_CURVE_COUNT; k++)
                out[k] = NAN;
            if (atomic_load(&c->failed) == 0)
                memcpy(c->failure, e.message, sizeof c->failure);
            atomic_fetch_add(&c->failed, 1);
        }
        atomic_store(&c->ready, i + 1);
    }
    return 0;
}

/* Takes the run's listing while the worker is idle: appended snapshots
 * keep what was computed; any other change starts again. */
static int sync_listing(Curves *c, SlError *err)
{
    const SlRun *run = c->snaps->run;
    int ready = atomic_load(&c->ready);
    bool prefix = run->count >= c->count &&
                  (c->count == 0 || memcmp(run->steps, c->steps, (size_t)c->count * sizeof *c->steps) == 0);
    if (prefix && run->count == c->count)
        return 0;
    if (run->count > c->cap) {
        long *steps = realloc(c->steps, (size_t)run->count * sizeof *steps);
        if (steps)
            c->steps = steps;
        double *values = steps ? realloc(c->values, (size_t)run->count * SL_CURVE_COUNT * sizeof *values) : NULL;
        if (!values)
            return sl_error_set(err, SL_ENOMEM, "out of memory for the progress curves");
        c->values = values;
        c->cap = run->count;
    }
    memcpy(c->steps, run->steps, (size_t)run->count * sizeof *c->steps);
    if (!prefix) {
        ready = 0;
        atomic_store(&c->failed, 0);
    }
    c->count = run->count;
    atomic_store(&c->ready, ready);
    c->seen_ready = -1;   /* draw again */
    return 0;
}

/* Starts the worker when the listing has snapshots not yet computed. */
static int start(Curves *c, SlError *err)
{
    if (job_running(&c->job))
        return 0;
    job_reap(&c->job);
    int rc = sync_listing(c, err);
    if (rc < 0 || atomic_load(&c->ready) >= c->count)
        return rc;
    c->target = c->count;
    return job_start(&c->job, compute, c, err);
}

int curves_open(Curves *c, const Snapshots *s, SlError *err)
{
    if (c->snaps != s) {
        job_stop(&c->job);
        free(c->dir);
        if (!(c->dir = strdup(s->run->dir)))
            return sl_error_set(err, SL_ENOMEM, "out of memory for the progress curves");
        c->snaps = s;
        c->count = 0;
        atomic_store(&c->ready, 0);
    }
    c->on = true;
    return start(c, err);
}

bool curves_tick(Curves *c)
{
    if (!c->snaps)
        return false;
    SlError err = {0};
    if (start(c, &err) < 0 && atomic_fetch_add(&c->failed, 1) == 0)   /* the worker is idle: no race */
        memcpy(c->failure, err.message, sizeof c->failure);
    int ready = atomic_load(&c->ready);
    long done = atomic_load(&c->job.done);
    bool moved = ready != c->seen_ready || (job_running(&c->job) && done != c->seen_done);
    c->seen_ready = ready;
    c->seen_done = done;
    return moved && c->on;
}

bool curves_busy(const Curves *c) { return job_running(&c->job); }

void curves_wait(Curves *c) { job_wait(&c->job); }

void curves_panel(Curves *c, CurvesPanel *p)
{
    const SlRun *run = c->snaps->run;
    const char *base = strrchr(run->dir, '/');
    char name[128];
    render_text_sanitize(base && base[1] ? base + 1 : run->dir, name, sizeof name);
    snprintf(c->title, sizeof c->title, "Progress of %s", name);
    int ready = atomic_load(&c->ready);
    memset(p, 0, sizeof *p);
    p->title = c->title;
    p->count = c->count;
    p->steps = c->steps;
    p->values = c->values;
    p->computed = ready;
    /* the marker: the snapshot shown, where it sits in the curves' listing */
    p->marker = -1;
    long step = run->steps[c->snaps->current];
    for (int i = 0; i < c->count; i++)
        if (c->steps[i] == step)
            p->marker = i;
    int failed = atomic_load(&c->failed);
    if (failed) {
        char failure[SL_ERROR_MAX];
        render_text_sanitize(c->failure, failure, sizeof failure);
        snprintf(c->note, sizeof c->note, "%d snapshot%s unreadable, left out: %s", failed, failed == 1 ? "" : "s",
                 failure);
        p->note = c->note;
        p->note_bad = true;
    } else if (ready < c->count) {
        long work = sl_explain_work(c->lists) * c->count, done = atomic_load(&c->job.done);
        snprintf(c->note, sizeof c->note, "measuring snapshot %d of %d (explain, %ld lists each): %ld%%", ready + 1,
                 c->count, c->lists, work > 0 ? done * 100 / work : 0);
        p->note = c->note;
    }
}

void curves_free(Curves *c)
{
    job_stop(&c->job);
    job_reap(&c->job);
    free(c->steps);
    free(c->values);
    free(c->dir);
    c->dir = NULL;
    c->steps = NULL;
    c->values = NULL;
    c->count = c->cap = 0;
}
