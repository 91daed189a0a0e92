/* run.c: run directories: naming, listing and resolving snapshots, writing
 * one, and the plan of which steps get one (see run.h). */
#include "sortlens/run.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sortlens/safetensors.h"

#define SNAPSHOT_PREFIX "step-"
#define SNAPSHOT_SUFFIX ".safetensors"
#define PLAN_MAX_SNAPSHOTS 1000000

char *sl_run_dir_for_out(const char *out)
{
    size_t len = strlen(out), sl = strlen(SNAPSHOT_SUFFIX);
    if (len > sl && strcmp(out + len - sl, SNAPSHOT_SUFFIX) == 0)
        len -= sl;
    char *dir = malloc(len + 5);
    if (dir)
        snprintf(dir, len + 5, "%.*s.run", (int)len, out);
    return dir;
}

char *sl_run_snapshot_path(const char *dir, long step)
{
    size_t len = strlen(dir) + 48;
    char *path = malloc(len);
    if (path)
        snprintf(path, len, "%s/" SNAPSHOT_PREFIX "%07ld" SNAPSHOT_SUFFIX, dir, step);
    return path;
}

bool sl_run_is_dir(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* step-<digits>.safetensors -> the step, else -1. */
static long snapshot_step_of(const char *name)
{
    size_t pl = strlen(SNAPSHOT_PREFIX), sl = strlen(SNAPSHOT_SUFFIX), len = strlen(name);
    if (len <= pl + sl || strncmp(name, SNAPSHOT_PREFIX, pl) != 0 || strcmp(name + len - sl, SNAPSHOT_SUFFIX) != 0)
        return -1;
    long step = 0;
    for (size_t i = pl; i < len - sl; i++) {
        if (name[i] < '0' || name[i] > '9' || step > (0x7fffffffL - 9) / 10)
            return -1;   /* not digits, or past any step a run can reach */
        step = step * 10 + (name[i] - '0');
    }
    return step;
}

static int compare_steps(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

void sl_run_free(SlRun *run)
{
    if (!run)
        return;
    free(run->dir);
    free(run->steps);
    free(run);
}

SlRun *sl_run_open(const char *dir, SlError *err)
{
    SlRun *run = calloc(1, sizeof *run);
    DIR *d = NULL;
    if (!run)
        goto nomem;
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    if (!(run->dir = strndup(dir, len)))
        goto nomem;
    if (!(d = opendir(run->dir))) {
        sl_error_set(err, SL_EIO, "%s: cannot open the run directory: %s", run->dir, strerror(errno));
        goto fail;
    }
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        long step = snapshot_step_of(e->d_name);
        if (step < 0)
            continue;
        if (run->count == cap) {
            int ncap = cap ? 2 * cap : 64;
            long *s = realloc(run->steps, (size_t)ncap * sizeof *s);
            if (!s)
                goto nomem;
            run->steps = s;
            cap = ncap;
        }
        run->steps[run->count++] = step;
    }
    closedir(d);
    d = NULL;
    if (run->count == 0) {
        sl_error_set(err, SL_EFORMAT, "%s: a directory with no snapshot (step-NNNNNNN.safetensors) in it", run->dir);
        goto fail;
    }
    qsort(run->steps, (size_t)run->count, sizeof *run->steps, compare_steps);
    /* step-12 and step-0000012 name the same step: keep one */
    int kept = 1;
    for (int i = 1; i < run->count; i++)
        if (run->steps[i] != run->steps[kept - 1])
            run->steps[kept++] = run->steps[i];
    run->count = kept;
    return run;
nomem:
    sl_error_set(err, SL_ENOMEM, "out of memory listing %s", dir);
fail:
    if (d)
        closedir(d);
    sl_run_free(run);
    return NULL;
}

int sl_run_find(const SlRun *run, long step, int *index, SlError *err)
{
    if (step < 0) {
        *index = run->count - 1;
        return 0;
    }
    int best = -1;
    for (int i = 0; i < run->count && run->steps[i] <= step; i++)
        best = i;
    if (best < 0)
        return sl_error_set(err, SL_EINVAL, "%s: no snapshot at or before step %ld (the first is step %ld)", run->dir,
                            step, run->steps[0]);
    *index = best;
    return 0;
}

char *sl_run_resolve(const char *path, long step, long *step_out, SlError *err)
{
    *step_out = -1;
    if (!sl_run_is_dir(path)) {
        char *copy = strdup(path);
        if (!copy)
            sl_error_set(err, SL_ENOMEM, "out of memory");
        return copy;
    }
    SlRun *run = sl_run_open(path, err);
    if (!run)
        return NULL;
    char *snap = NULL;
    int i;
    if (sl_run_find(run, step, &i, err) == 0) {
        *step_out = run->steps[i];
        if (!(snap = sl_run_snapshot_path(run->dir, run->steps[i])))
            sl_error_set(err, SL_ENOMEM, "out of memory");
    }
    sl_run_free(run);
    return snap;
}

int sl_run_make_dir(const char *dir, SlError *err)
{
    if (mkdir(dir, 0777) == 0)
        return 0;
    if (errno == EEXIST && sl_run_is_dir(dir))
        return 0;
    if (errno == EEXIST)
        return sl_error_set(err, SL_EIO, "%s: exists and is not a directory; cannot keep the run's snapshots there",
                            dir);
    return sl_error_set(err, SL_EIO, "%s: cannot create the run directory: %s", dir, strerror(errno));
}

SlTensorSet *sl_run_snapshot_tensors(const SlModel *m, const SlTensorSet *extra_meta, SlError *err)
{
    SlTensorSet *ts = sl_model_to_tensors(m, err);
    for (int i = 0; ts && extra_meta && i < extra_meta->meta_count; i++)
        if (sl_tensorset_set_meta(ts, extra_meta->meta_keys[i], extra_meta->meta_values[i], err)) {
            sl_tensorset_free(ts);
            return NULL;
        }
    return ts;
}

int sl_run_write_snapshot(const char *dir, long step, const SlTensorSet *snapshot, SlError *err)
{
    char *path = sl_run_snapshot_path(dir, step);
    int rc = path ? sl_safetensors_write(path, snapshot, err) : sl_error_set(err, SL_ENOMEM, "out of memory");
    free(path);
    return rc;
}

static char *state_path(const char *dir)
{
    size_t len = strlen(dir) + sizeof SL_RUN_STATE_FILE + 2;
    char *path = malloc(len);
    if (path)
        snprintf(path, len, "%s/%s", dir, SL_RUN_STATE_FILE);
    return path;
}

int sl_run_write_state(const char *dir, const SlTensorSet *state, SlError *err)
{
    char *path = state_path(dir);
    int rc = path ? sl_safetensors_write(path, state, err) : sl_error_set(err, SL_ENOMEM, "out of memory");
    free(path);
    return rc;
}

SlTensorSet *sl_run_read_state(const char *dir, SlError *err)
{
    char *path = state_path(dir);
    if (!path) {
        sl_error_set(err, SL_ENOMEM, "out of memory");
        return NULL;
    }
    SlTensorSet *ts = sl_safetensors_read(path, err);
    free(path);
    return ts;
}

/* ---- the snapshot plan ---------------------------------------------------- */

int sl_snapshot_plan_init(SlSnapshotPlan *plan, long total, long every, int count, SlError *err)
{
    memset(plan, 0, sizeof *plan);
    plan->every = every > 0 ? every : 0;
    plan->total = total;
    if (count <= 0)
        return 0;
    if (count > PLAN_MAX_SNAPSHOTS)
        return sl_error_set(err, SL_EINVAL, "%d snapshots is more than %d", count, PLAN_MAX_SNAPSHOTS);
    long long S = total, N = count;
    if (S + 1 <= N)
        N = S + 1;   /* every step */
    if (!(plan->steps = malloc((size_t)N * sizeof *plan->steps)))
        return sl_error_set(err, SL_ENOMEM, "out of memory for %lld snapshot steps", N);
    if (N == S + 1) {
        for (long long i = 0; i < N; i++)
            plan->steps[i] = (long)i;
    } else if (N == 1) {
        plan->steps[0] = 0;
    } else {
        /* a early snapshots 0, E/a, 2E/a, ... below E, then b late ones
         * E + (S-E)/b ... S.  E is at least a so that the early steps stay
         * whole and distinct (a spacing >= 1 rounds to distinct integers);
         * then S - E >= b holds too, as S >= N = a + b. */
        long long a = N / 2, b = N - a, E = S / 10 > a ? S / 10 : a;
        for (long long i = 0; i < a; i++)
            plan->steps[i] = (long)((2 * i * E + a) / (2 * a));
        for (long long j = 1; j <= b; j++)
            plan->steps[a + j - 1] = (long)(E + (2 * j * (S - E) + b) / (2 * b));
    }
    plan->count = (int)N;
    return 0;
}

void sl_snapshot_plan_free(SlSnapshotPlan *plan)
{
    free(plan->steps);
    plan->steps = NULL;
    plan->count = 0;
}

bool sl_snapshot_plan_due(const SlSnapshotPlan *plan, long step)
{
    if (plan->every > 0 && step % plan->every == 0)
        return true;
    return plan->count > 0 && bsearch(&step, plan->steps, (size_t)plan->count, sizeof step, compare_steps) != NULL;
}
