/* snapshots.c: a run's snapshots in the explorer (snapshots.h). */
#include "snapshots.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sortlens/checkpoint.h"

Snapshots *snapshots_open(const char *dir, long step, const SlModel *given, SlError *err)
{
    Snapshots *s = calloc(1, sizeof *s);
    if (!s) {
        sl_error_set(err, SL_ENOMEM, "out of memory for the run's snapshots");
        return NULL;
    }
    int at;
    if (!(s->run = sl_run_open(dir, err)) || sl_run_find(s->run, step, &at, err) < 0) {
        snapshots_free(s);
        return NULL;
    }
    s->models = calloc((size_t)s->run->count, sizeof *s->models);
    s->shown = calloc((size_t)s->run->count, sizeof *s->shown);
    if (!s->models || !s->shown) {
        sl_error_set(err, SL_ENOMEM, "out of memory for the run's snapshots");
        snapshots_free(s);
        return NULL;
    }
    s->given = given;
    s->given_index = s->current = at;
    s->keep_bytes = SNAPSHOTS_KEEP_BYTES;
    return s;
}

void snapshots_free(Snapshots *s)
{
    if (!s)
        return;
    for (int i = 0; s->run && s->models && i < s->run->count; i++)
        sl_model_free(s->models[i]);
    free(s->models);
    free(s->shown);
    sl_run_free(s->run);
    free(s);
}

int snapshots_target(const Snapshots *s, int arg)
{
    int last = s->run->count - 1;
    int i = arg == -2 ? 0 : arg == 2 ? last : s->current + arg;
    return i < 0 ? 0 : i > last ? last : i;
}

/* How many snapshots of m's size s->keep_bytes holds (3 at least). */
static int keep_max(const Snapshots *s, const SlModel *m)
{
    long bytes = (long)(m->num_params * sizeof(float));
    long n = bytes > 0 ? s->keep_bytes / bytes : 3;
    return n < 3 ? 3 : n > 1000000 ? 1000000 : (int)n;
}

/* Frees the kept model asked for least recently, other than keep, the
 * current and the given one. */
static void evict_one(Snapshots *s, int keep)
{
    int oldest = -1;
    for (int j = 0; j < s->run->count; j++)
        if (s->models[j] && j != keep && j != s->current && (oldest < 0 || s->shown[j] < s->shown[oldest]))
            oldest = j;
    if (oldest >= 0) {
        sl_model_free(s->models[oldest]);
        s->models[oldest] = NULL;
        s->kept--;
    }
}

const SlModel *snapshots_model(Snapshots *s, int i, SlError *err)
{
    s->shown[i] = ++s->clock;
    if (i == s->given_index)
        return s->given;
    if (!s->models[i]) {
        char *path = sl_run_snapshot_path(s->run->dir, s->run->steps[i]);
        if (!path) {
            sl_error_set(err, SL_ENOMEM, "out of memory");
            return NULL;
        }
        s->models[i] = sl_ckpt_load(path, err);
        free(path);
        if (!s->models[i])
            return NULL;
        for (s->kept++; s->kept > keep_max(s, s->models[i]);)
            evict_one(s, i);
    }
    return s->models[i];
}

void snapshots_label(const Snapshots *s, int i, char *buf, size_t size)
{
    const char *base = strrchr(s->run->dir, '/');
    base = base ? base + 1 : s->run->dir;
    snprintf(buf, size, "%s step %ld (%d of %d)", base, s->run->steps[i], i + 1, s->run->count);
}

/* Where step sits in run, or -1. */
static int index_of(const SlRun *run, long step)
{
    for (int i = 0; i < run->count; i++)
        if (run->steps[i] == step)
            return i;
    return -1;
}

int snapshots_refresh(Snapshots *s, SlError *err)
{
    SlRun *run = sl_run_open(s->run->dir, err);
    if (!run)
        return err ? err->code : SL_EIO;
    bool same = run->count == s->run->count &&
                memcmp(run->steps, s->run->steps, (size_t)run->count * sizeof *run->steps) == 0;
    if (same) {
        sl_run_free(run);
        return 0;
    }
    SlModel **models = calloc((size_t)run->count, sizeof *models);
    unsigned long *shown = calloc((size_t)run->count, sizeof *shown);
    int current = index_of(run, s->run->steps[s->current]);
    int given = index_of(run, s->run->steps[s->given_index]);
    if (!models || !shown || current < 0 || given < 0) {   /* the snapshot shown went away: keep the old listing */
        free(models);
        free(shown);
        sl_run_free(run);
        return sl_error_set(err, current < 0 || given < 0 ? SL_EIO : SL_ENOMEM,
                            "%s: the snapshot shown is gone from the run", s->run->dir);
    }
    for (int i = 0; i < s->run->count; i++) {
        int j = index_of(run, s->run->steps[i]);
        if (j >= 0) {
            models[j] = s->models[i];
            shown[j] = s->shown[i];
        } else if (s->models[i]) {
            sl_model_free(s->models[i]);
            s->kept--;
        }
    }
    int added = run->count > s->run->count;
    free(s->models);
    free(s->shown);
    s->shown = shown;
    sl_run_free(s->run);
    s->run = run;
    s->models = models;
    s->current = current;
    s->given_index = given;
    return added;
}
