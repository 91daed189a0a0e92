/* job.c: work on a thread of its own (job.h). */
#include "job.h"

#include <string.h>
#include <time.h>

void job_init(Job *j)
{
    memset(j, 0, sizeof *j);
    atomic_init(&j->cancel, false);
    atomic_init(&j->finished, false);
    atomic_init(&j->done, 0);
}

static void *run(void *arg)
{
    Job *j = arg;
    SlError err = {0};
    j->rc = j->fn(j, j->ctx, &err);
    j->err = err;
    atomic_store(&j->finished, true);   /* rc and err are complete before */
    return NULL;
}

int job_start(Job *j, JobFn fn, void *ctx, SlError *err)
{
    job_stop(j);
    j->fn = fn;
    j->ctx = ctx;
    j->rc = 0;
    memset(&j->err, 0, sizeof j->err);
    atomic_store(&j->cancel, false);
    atomic_store(&j->finished, false);
    atomic_store(&j->done, 0);
    int rc = pthread_create(&j->thread, NULL, run, j);
    if (rc) {
        atomic_store(&j->finished, true);
        return sl_error_set(err, SL_ENOMEM, "cannot start a thread for the work: %s", strerror(rc));
    }
    j->started = true;
    return 0;
}

void job_stop(Job *j)
{
    if (!j->started)
        return;
    atomic_store(&j->cancel, true);
    pthread_join(j->thread, NULL);
    j->started = false;
}

bool job_finished(const Job *j) { return atomic_load(&j->finished); }

bool job_running(const Job *j) { return j->started && !atomic_load(&j->finished); }

bool job_reap(Job *j)
{
    if (!j->started || !atomic_load(&j->finished))
        return false;
    pthread_join(j->thread, NULL);
    j->started = false;
    return true;
}

void job_wait(Job *j)
{
    while (job_running(j)) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    job_reap(j);
}

void job_progress(void *job, long done, long total)
{
    (void)total;
    atomic_store(&((Job *)job)->done, done);
}

static long job_read(void *ctx, int *values, long max, SlError *err)
{
    JobSource *js = ctx;
    if (atomic_load(&js->job->cancel))
        return sl_error_set(err, SL_EINTR, "stopped");
    return js->inner.read(js->inner.ctx, values, max, err);
}

void job_source(JobSource *js, Job *j, SlListSource *out)
{
    js->job = j;
    *out = (SlListSource){job_read, js, js->inner.total};
}
