/* job.h: work the explorer does on a thread of its own (the atlas's
 * evaluations, the means over a large file), so that the screen keeps
 * answering: started, asked how far it has come, stopped on request.  The
 * key loop wakes often while a job runs (app_busy) and draws again when it
 * has moved on (app_tick). */
#ifndef SORTLENS_JOB_H
#define SORTLENS_JOB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "sortlens/population.h"

typedef struct Job Job;
/* The work, on the job's thread: 0 or a negative SL_E* code with err
 * filled (SL_EINTR when it stopped because it was asked to). */
typedef int (*JobFn)(Job *job, void *ctx, SlError *err);

struct Job {
    pthread_t thread;
    bool started;             /* a thread to join */
    atomic_bool cancel, finished;
    atomic_long done;         /* units of work done (job_progress) */
    JobFn fn;
    void *ctx;
    int rc;                   /* once finished: what fn returned */
    SlError err;              /* and its message (written before finished) */
};

void job_init(Job *j);
/* Runs fn(j, ctx) on a new thread (a job still running is stopped first). */
int job_start(Job *j, JobFn fn, void *ctx, SlError *err);
/* Asks the job to stop and waits for it (nothing when none runs). */
void job_stop(Job *j);
/* Started and not yet finished. */
bool job_running(const Job *j);
/* Finished: its thread joined; true once per job that ended. */
bool job_reap(Job *j);
bool job_finished(const Job *j);
/* Waits until the job has finished, and reaps it (tests; the key loop
 * never waits). */
void job_wait(Job *j);
/* An SlProgressFn (ctx: the job) storing done. */
void job_progress(void *job, long done, long total);

/* A list source that stops with SL_EINTR once the job is asked to stop:
 * wrap the source a job's core call reads. */
typedef struct JobSource {
    SlListSource inner;
    Job *job;
} JobSource;
void job_source(JobSource *js, Job *j, SlListSource *out);

#endif
