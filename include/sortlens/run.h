/* run.h: a training run on disk.
 *
 * `sortlens train --out OUT --snapshot-every K` (or --snapshots N) writes,
 * beside OUT, a run directory (OUT with ".safetensors" replaced by ".run")
 * holding
 *   step-NNNNNNN.safetensors  ordinary model files (every command, and
 *                             PyTorch's load_state_dict, reads them), the
 *                             weights after NNNNNNN updates; step 0 is the
 *                             initialisation;
 *   optimizer.safetensors     what continues the run from its last snapshot
 *                             (train_state.h): Adam's moments, the step,
 *                             the data stream's random state.
 * A run directory stands for a model wherever one is expected: its last
 * snapshot, or the last one at or before a given step.
 */
#ifndef SORTLENS_RUN_H
#define SORTLENS_RUN_H

#include <stdbool.h>

#include "sortlens/error.h"
#include "sortlens/model.h"
#include "sortlens/tensor.h"

#define SL_RUN_STATE_FILE "optimizer.safetensors"

/* The snapshots of a run directory, ascending by step. */
typedef struct SlRun {
    char *dir;          /* as given, without trailing slashes */
    long *steps;        /* [count] ascending, distinct */
    int count;
} SlRun;

/* The run directory of a model written to out: out with a trailing
 * ".safetensors" replaced by ".run", else out + ".run".  malloc'ed (NULL
 * when memory runs out). */
char *sl_run_dir_for_out(const char *out);

/* dir/step-NNNNNNN.safetensors (at least seven digits).  malloc'ed. */
char *sl_run_snapshot_path(const char *dir, long step);

/* True when path names a directory (the test for "is this a run"). */
bool sl_run_is_dir(const char *path);

/* Lists dir's step-*.safetensors files.  Other files are ignored; a name
 * that starts "step-" but is not step-<digits>.safetensors is too.  Fails
 * (SL_EFORMAT) when dir holds no snapshot, naming the directory. */
SlRun *sl_run_open(const char *dir, SlError *err);
void sl_run_free(SlRun *run);   /* accepts NULL */

/* The index of the last snapshot at or before step, or of the last snapshot
 * when step < 0.  SL_EINVAL (with the first step in the message) when every
 * snapshot comes after step. */
int sl_run_find(const SlRun *run, long step, int *index, SlError *err);

/* Resolves a model path: a file is returned as is (*step_out = -1); a run
 * directory becomes the path of sl_run_find(step)'s snapshot, its step in
 * *step_out.  Returns a malloc'ed path or NULL with err filled. */
char *sl_run_resolve(const char *path, long step, long *step_out, SlError *err);

/* Creates dir (one level) unless it exists as a directory already. */
int sl_run_make_dir(const char *dir, SlError *err);

/* A snapshot of m: its tensors and metadata (copies, so that training may
 * go on while it is written), with the metadata of extra_meta (may be NULL)
 * added.  Then writes it as dir's snapshot of `step`, through the atomic
 * writer (atomic_write.h), so that a reader never sees half a snapshot. */
SlTensorSet *sl_run_snapshot_tensors(const SlModel *m, const SlTensorSet *extra_meta, SlError *err);
int sl_run_write_snapshot(const char *dir, long step, const SlTensorSet *snapshot, SlError *err);

/* Writes / reads dir's training state (SL_RUN_STATE_FILE; its tensors come
 * from train_state.h), replacing it whole, as a snapshot is written. */
int sl_run_write_state(const char *dir, const SlTensorSet *state, SlError *err);
SlTensorSet *sl_run_read_state(const char *dir, SlError *err);

/* Which steps of a run of `total` updates get a snapshot.  every > 0: step
 * 0 and every multiple of `every`.  count > 0: `count` snapshots (fewer when
 * the run has fewer than count + 1 steps), step 0 and step total among them:
 * half of them evenly over the first tenth of the run, where the circuits
 * form, the rest evenly over the other nine tenths.  Both may be given (the
 * union); the last step of a run always gets one (the caller writes it when
 * training stops, so that the run can continue from it). */
typedef struct SlSnapshotPlan {
    long every;         /* 0: none by period */
    long total;
    long *steps;        /* [count] ascending: the --snapshots steps */
    int count;
} SlSnapshotPlan;

int sl_snapshot_plan_init(SlSnapshotPlan *plan, long total, long every, int count, SlError *err);
void sl_snapshot_plan_free(SlSnapshotPlan *plan);
bool sl_snapshot_plan_due(const SlSnapshotPlan *plan, long step);

#endif
