/* train_run.h: what `sortlens train` does with a run directory: writing
 * snapshots and the training state as it trains (--snapshot-every,
 * --snapshots), and picking a run up again (--resume). */
#ifndef SORTLENS_CLI_TRAIN_RUN_H
#define SORTLENS_CLI_TRAIN_RUN_H

#include <pthread.h>
#include <stdbool.h>

#include "sortlens/run.h"
#include "sortlens/train.h"

/* A run continued with --resume RUN_DIR [--steps N]: the run's own command
 * line (as its state recorded it, --steps replaced by N), re-parsed as if
 * typed, and what continues it. */
typedef struct TrainResume {
    bool active;
    char *dir;            /* the run directory */
    char *out;            /* the run's model file: beside dir, under its recorded name */
    int argc;
    char **argv;          /* [argc + 1], argv[0] = "train", NULL-terminated; owned */
    SlTensorSet *state;     /* the training state read from dir */
} TrainResume;

/* When argv holds --resume, reads the run's state and fills r (r->active);
 * returns -1 when there is no --resume (r untouched but zeroed), else an
 * exit status (EXIT_OK to go on; the message is printed otherwise). */
int train_resume_prepare(int argc, char **argv, TrainResume *r);
void train_resume_free(TrainResume *r);

/* The window of the last batch losses that the reported loss averages. */
#define TRAIN_LOSS_WINDOW 100
typedef struct TrainLossWindow {
    double recent[TRAIN_LOSS_WINDOW];   /* recent[s % W]: the loss of update s + 1 */
    double sum;                         /* running sum of recent[] */
} TrainLossWindow;
void train_loss_window_add(TrainLossWindow *w, long step, double loss);   /* step: updates before this one */
double train_loss_window_mean(const TrainLossWindow *w, long steps_done, long *window_out);

/* The architecture options' values when none is given. */
#define TRAIN_DEFAULT_ARCH \
    ((SlModelConfig){.n_layers = 1, .n_heads = 1, .d_model = 128, .d_head = 0, .d_vocab_out = 50, .list_len = 10})

/* The model training starts from, when it is not a fresh initialisation:
 * the snapshot a resumed run stopped at, or --init MODEL (any format, or a
 * run: its last snapshot).  Its architecture must be c's (derived), unless
 * c is the default, which --init then replaces by MODEL's.  *m stays NULL
 * when neither applies; the model's own metadata is dropped (the new file
 * gets its own).  Returns an exit status, the message printed. */
int train_load_start(const TrainResume *r, const char *init, SlModelConfig *c, SlModel **m);

/* Snapshots of one training run. */
typedef struct TrainSnapshotJob TrainSnapshotJob;
typedef struct TrainSnapshots {
    bool on;
    char *dir;
    SlSnapshotPlan plan;
    int argc;
    char **argv;          /* the command as typed (or as resumed), recorded in the state */
    const char *command;  /* the training_command metadata */
    const char *out;
    TrainSnapshotJob *job;   /* the snapshot being written, if any */
    long written;            /* snapshots taken */
    double busy;             /* seconds the training thread spent on them (copying, waiting) */
    pthread_t writer;        /* ... by this thread */
} TrainSnapshots;

/* Sets s up for a run of o->steps updates (every/count as the options gave
 * them; both 0: off) writing out.  When starting afresh, refuses a run
 * directory that holds snapshots already. */
int train_snapshots_begin(TrainSnapshots *s, const char *out, long every, int count, const SlTrainOptions *o,
                          bool resuming, int argc, char **argv, const char *command);
void train_snapshots_end(TrainSnapshots *s);
/* Whether step (updates done) gets a snapshot during the loop. */
bool train_snapshots_due(const TrainSnapshots *s, long step);
/* Takes the snapshot of t's model at t->step and the state beside it
 * (copies) and has them written in the background, after the one before;
 * heldout is NULL unless the held-out lists were evaluated at this step.
 * train_snapshots_finish waits until everything taken is on disk.  Both
 * print the error (a write that failed in the background is reported by
 * the next call) and return an exit status. */
int train_snapshots_write(TrainSnapshots *s, const SlTrainer *t, const TrainLossWindow *w, const SlTrainEval *heldout);
int train_snapshots_finish(TrainSnapshots *s);

/* Sets a metadata entry, printf-formatted (at most 255 bytes). */
int train_meta_set(SlTensorSet *ts, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Restores the loss window recorded in a state. */
int train_loss_window_restore(TrainLossWindow *w, const SlTensorSet *state, const char *label);

#endif
