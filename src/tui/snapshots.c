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
    if (!(s->models = calloc((size_t)s->run->count, sizeof *s->models))) {
        sl_error_set(err, SL_ENOMEM, "out of memory for the run's snapshots");
        snapshots_free(s);
        return NULL;
    }
    s->given = given;
    s->given_index = s->current = at;
    return s;
}

void snapshots_free(Snapshots *s)
{
    if (!s)
        return;
    for (int i = 0; s->run && s->models && i < s->run->count; i++)
        sl_model_free(s->models[i]);
    free(s->models);
    sl_run_free(s->run);
    free(s);
}

int snapshots_target(const Snapshots *s, int arg)
{
    int last = s->run->count - 1;
    int i = arg == -2 ? 0 : arg == 2 ? last : s->current + arg;
    return i < 0 ? 0 : i > last ? last : i;
}

const SlModel *snapshots_model(Snapshots *s, int i, SlError *err)
{
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
    int current = index_of(run, s->run->steps[s->current]);
    int given = index_of(run, s->run->steps[s->given_index]);
    if (!models || current < 0 || given < 0) {   /* the snapshot shown went away: keep the old listing */
        free(models);
        sl_run_free(run);
        return sl_error_set(err, current < 0 || given < 0 ? SL_EIO : SL_ENOMEM,
                            "%s: the snapshot shown is gone from the run", s->run->dir);
    }
    for (int i = 0; i < s->run->count; i++) {
        int j = index_of(run, s->run->steps[i]);
        if (j >= 0)
            models[j] = s->models[i];
        else
            sl_model_free(s->models[i]);
    }
    int added = run->count > s->run->count;
    free(s->models);
    sl_run_free(s->run);
    s->run = run;
    s->models = models;
    s->current = current;
    s->given_index = given;
    return added;
}
