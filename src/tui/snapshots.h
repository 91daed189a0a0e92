/* snapshots.h: the explorer opened on a training run (run.h): which
 * snapshot is shown, the ones read so far (read when first shown, then kept:
 * a snapshot is about half a megabyte, and stepping back and forth must not
 * read it again; up to SNAPSHOTS_KEEP_BYTES of weights, past which the one
 * shown least recently goes and is read again when it is shown again), and
 * the run's listing, read again now and then so that
 * the snapshots a training still writes appear as they are written (the
 * writer renames each into place, so a listed file is always whole). */
#ifndef SORTLENS_SNAPSHOTS_H
#define SORTLENS_SNAPSHOTS_H

#include <stddef.h>

#include "sortlens/error.h"
#include "sortlens/model.h"
#include "sortlens/run.h"

/* The weights the snapshots read may hold together (at least 3 snapshots
 * are kept whatever their size: the one shown and its two neighbours). */
#define SNAPSHOTS_KEEP_BYTES (64L << 20)

typedef struct Snapshots {
    SlRun *run;
    SlModel **models;      /* [run->count] read ones, or NULL */
    unsigned long *shown;  /* [run->count] when each was last asked for (a clock), 0 never */
    unsigned long clock;
    int kept;              /* models read and kept */
    long keep_bytes;       /* SNAPSHOTS_KEEP_BYTES (a test may take less) */
    const SlModel *given;  /* the one the explorer opened with (not owned), at index given_index */
    int given_index;
    int current;           /* index into run->steps */
} Snapshots;

/* Lists dir; the explorer shows given, the snapshot of `step`. */
Snapshots *snapshots_open(const char *dir, long step, const SlModel *given, SlError *err);
void snapshots_free(Snapshots *s);   /* accepts NULL */

/* The index a key asks for from the current one: -1 / +1 the previous /
 * next, -2 / +2 the first / last; clamped to the run. */
int snapshots_target(const Snapshots *s, int arg);
/* The model of snapshot index i, read on first use and kept (within
 * SNAPSHOTS_KEEP_BYTES: the least recently asked for other than i, the
 * current and the given one is freed).  The pointer stays valid until
 * another snapshot is asked for. */
const SlModel *snapshots_model(Snapshots *s, int i, SlError *err);
/* "NAME step N (i of count)", the title of snapshot i (no slash: the title
 * keeps what follows the last one, as of a path). */
void snapshots_label(const Snapshots *s, int i, char *buf, size_t size);

/* Lists the run again; snapshots added since appear (1), none (0); those
 * read are kept under their steps.  Negative with err on failure (the old
 * listing stays). */
int snapshots_refresh(Snapshots *s, SlError *err);

#endif
