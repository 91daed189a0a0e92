/* train_run.c: snapshots, the training state and --resume for
 * `sortlens train` (see train_run.h). */
#include "train_run.h"

#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "sortlens/checkpoint.h"
#include "sortlens/parse_double.h"
#include "sortlens/train_state.h"

#define META_ARGV "train_argv"
#define META_OUT_NAME "out_name"
#define META_LOSS_SUM "train_loss_sum"
#define TENSOR_LOSS_WINDOW "train_loss_window"

/* ---- the loss window ------------------------------------------------------ */

void train_loss_window_add(TrainLossWindow *w, long step, double loss)
{
    w->sum += loss - w->recent[step % TRAIN_LOSS_WINDOW];
    w->recent[step % TRAIN_LOSS_WINDOW] = loss;
}

double train_loss_window_mean(const TrainLossWindow *w, long steps_done, long *window_out)
{
    long window = steps_done < TRAIN_LOSS_WINDOW ? steps_done : TRAIN_LOSS_WINDOW;
    if (window_out)
        *window_out = window;
    return window > 0 ? w->sum / (double)window : 0.0;
}

int train_loss_window_restore(TrainLossWindow *w, const SlTensorSet *state, const char *label)
{
    const SlTensor *t = sl_tensorset_find(state, TENSOR_LOSS_WINDOW);
    const char *sum = sl_tensorset_get_meta(state, META_LOSS_SUM);
    double s = 0.0;
    if (!t || t->dtype != SL_DT_F64 || t->nbytes != sizeof w->recent || !sum || sl_parse_double(sum, &s, NULL)) {
        cli_error("%s: the loss window (%s, %s) is missing or malformed", label, TENSOR_LOSS_WINDOW, META_LOSS_SUM);
        return EXIT_RUNTIME;
    }
    memcpy(w->recent, t->data, sizeof w->recent);
    w->sum = s;
    return EXIT_OK;
}

/* ---- --resume ----------------------------------------------------------------- */

void train_resume_free(TrainResume *r)
{
    if (r->argv)
        for (int i = 0; i < r->argc; i++)
            free(r->argv[i]);
    free(r->argv);
    free(r->dir);
    free(r->out);
    sl_tensorset_free(r->state);
    memset(r, 0, sizeof *r);
}

/* "--name VALUE" or "--name=VALUE" at argv[*i]: the value (advancing *i past
 * it), else NULL. */
static const char *option_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
    size_t len = strlen(name);
    const char *a = argv[*i];
    *missing = false;
    if (strncmp(a, name, len) != 0)
        return NULL;
    if (a[len] == '=')
        return a + len + 1;
    if (a[len] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

/* The recorded command, with --steps set to steps (when not NULL). */
static int rebuild_argv(TrainResume *r, json_t *arr, const char *steps)
{
    size_t n = json_array_size(arr);
    r->argv = calloc(n + 4, sizeof *r->argv);
    if (!r->argv)
        return -1;
    bool replaced = false;
    for (size_t i = 0; i < n; i++) {
        const char *a = json_string_value(json_array_get(arr, i));
        if (!a)
            return -2;
        char buf[64];
        if (steps && strcmp(a, "--steps") == 0 && i + 1 < n) {
            r->argv[r->argc++] = strdup(a);
            r->argv[r->argc++] = strdup(steps);
            i++;
            replaced = true;
        } else if (steps && strncmp(a, "--steps=", 8) == 0) {
            snprintf(buf, sizeof buf, "--steps=%s", steps);
            r->argv[r->argc++] = strdup(buf);
            replaced = true;
        } else {
            r->argv[r->argc++] = strdup(a);
        }
        if (!r->argv[r->argc - 1])
            return -1;
    }
    if (steps && !replaced) {
        if (!(r->argv[r->argc++] = strdup("--steps")) || !(r->argv[r->argc++] = strdup(steps)))
            return -1;
    }
    return 0;
}

int train_resume_prepare(int argc, char **argv, TrainResume *r)
{
    memset(r, 0, sizeof *r);
    const char *dir = NULL, *steps = NULL;
    bool any = false, missing;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--resume") == 0 || strncmp(argv[i], "--resume=", 9) == 0)
            any = true;
    if (!any)
        return -1;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if ((v = option_value(argc, argv, &i, "--resume", &missing)))
            dir = v;
        else if ((v = option_value(argc, argv, &i, "--steps", &missing)))
            steps = v;
        else if (missing) {
            cli_error("train: %s needs a value; try 'sortlens train --help'", argv[i]);
            return EXIT_USAGE;
        } else {
            cli_error("train: with --resume only --steps may be given (the run keeps its own options), not '%s'",
                      argv[i]);
            return EXIT_USAGE;
        }
    }
    long steps_value;
    if (steps && !cli_parse_long("--steps", steps, 0, 1000000000L, &steps_value))
        return EXIT_USAGE;
    SlError err = {0};
    r->state = sl_run_read_state(dir, &err);
    if (!r->state) {
        if (!sl_run_is_dir(dir))
            cli_error("train: --resume: %s is not a run directory (the .run directory beside a model trained with "
                      "--snapshot-every or --snapshots)", dir);
        else
            cli_error("%s", err.message);
        return EXIT_RUNTIME;
    }
    const char *text = sl_tensorset_get_meta(r->state, META_ARGV);
    const char *out_name = sl_tensorset_get_meta(r->state, META_OUT_NAME);
    json_error_t jerr;
    json_t *arr = text ? json_loads(text, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    int rc = EXIT_OK;
    if (!arr || !json_is_array(arr) || json_array_size(arr) < 1 || json_array_size(arr) > 1000 || !out_name ||
        !*out_name || strchr(out_name, '/')) {
        cli_error("%s/%s: the recorded command (%s) or model name (%s) is missing or malformed", dir, SL_RUN_STATE_FILE,
                  META_ARGV, META_OUT_NAME);
        rc = EXIT_RUNTIME;
        goto done;
    }
    int brc = rebuild_argv(r, arr, steps);
    if (brc == -2) {
        cli_error("%s/%s: the recorded command (%s) holds a non-string", dir, SL_RUN_STATE_FILE, META_ARGV);
        rc = EXIT_RUNTIME;
        goto done;
    }
    /* The model file sits beside the run directory under its recorded name. */
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/')
        dl--;
    size_t parent = dl;
    while (parent > 0 && dir[parent - 1] != '/')
        parent--;
    r->dir = strndup(dir, dl);
    r->out = malloc(parent + strlen(out_name) + 1);
    if (brc || !r->dir || !r->out) {
        cli_error("out of memory");
        rc = EXIT_RUNTIME;
        goto done;
    }
    snprintf(r->out, parent + strlen(out_name) + 1, "%.*s%s", (int)parent, dir, out_name);
    r->active = true;
done:
    json_decref(arr);
    if (rc)
        train_resume_free(r);
    return rc;
}

/* ---- where training starts ------------------------------------------------- */

static bool same_arch(const SlModelConfig *a, const SlModelConfig *b)
{
    return a->n_layers == b->n_layers && a->n_heads == b->n_heads && a->d_model == b->d_model &&
           a->d_head == b->d_head && a->d_vocab_out == b->d_vocab_out && a->list_len == b->list_len;
}

static void describe_arch(const SlModelConfig *c, char *buf, size_t size)
{
    snprintf(buf, size, "%d layer(s), %d head(s), d_model %d, d_head %d, lists of %d values in 0..%d", c->n_layers,
             c->n_heads, c->d_model, c->d_head, c->list_len, c->d_vocab_out - 1);
}

int train_load_start(const TrainResume *r, const char *init, SlModelConfig *c, SlModel **m)
{
    SlError err = {0};
    char have[160], want[160];
    *m = NULL;
    if (r->active) {
        long at = sl_train_state_step(r->state);
        char *snap = at >= 0 ? sl_run_snapshot_path(r->dir, at) : NULL;
        if (at < 0)
            cli_error("%s/%s: the step is missing or malformed", r->dir, SL_RUN_STATE_FILE);
        else if (!snap)
            cli_error("out of memory");
        else if (!(*m = sl_ckpt_load(snap, &err)))
            cli_error("%s (the training state is at step %ld, so the run goes on from that snapshot)", err.message, at);
        free(snap);
        if (!*m)
            return EXIT_RUNTIME;
        if (!same_arch(c, &(*m)->cfg)) {
            describe_arch(&(*m)->cfg, have, sizeof have);
            describe_arch(c, want, sizeof want);
            cli_error("%s: the snapshot is %s, but the run's command says %s", r->dir, have, want);
            goto fail_runtime;
        }
    } else if (init) {
        if (!(*m = cli_load_model(init)))
            return EXIT_RUNTIME;
        SlModelConfig dflt = TRAIN_DEFAULT_ARCH;
        dflt.d_head = dflt.d_model / dflt.n_heads;
        sl_model_config_derive(&dflt);
        if (!same_arch(c, &dflt) && !same_arch(c, &(*m)->cfg)) {
            describe_arch(&(*m)->cfg, have, sizeof have);
            describe_arch(c, want, sizeof want);
            cli_error("train: --init %s is %s, but the options say %s; leave the architecture options out", init,
                      have, want);
            sl_model_free(*m);
            *m = NULL;
            return EXIT_USAGE;
        }
        *c = (*m)->cfg;
    } else {
        return EXIT_OK;
    }
    /* The new file's metadata is its own: nothing of the old recipe stays. */
    SlTensorSet *fresh = sl_tensorset_new();
    if (!fresh) {
        cli_error("out of memory");
        goto fail_runtime;
    }
    sl_tensorset_free((*m)->meta);
    (*m)->meta = fresh;
    return EXIT_OK;
fail_runtime:
    sl_model_free(*m);
    *m = NULL;
    return EXIT_RUNTIME;
}

/* ---- snapshots ------------------------------------------------------------ */

int train_snapshots_begin(TrainSnapshots *s, const char *out, long every, int count, const SlTrainOptions *o,
                          bool resuming, int argc, char **argv, const char *command)
{
    SlError err = {0};
    memset(s, 0, sizeof *s);
    if (every <= 0 && count <= 0)
        return EXIT_OK;
    s->on = true;
    s->out = out;
    s->argc = argc;
    s->argv = argv;
    s->command = command;
    if (!(s->dir = sl_run_dir_for_out(out)) || sl_snapshot_plan_init(&s->plan, o->steps, every, count, &err)) {
        cli_error("train: %s", s->dir ? err.message : "out of memory");
        return EXIT_RUNTIME;
    }
    if (resuming)
        return EXIT_OK;
    if (sl_run_is_dir(s->dir)) {
        SlRun *run = sl_run_open(s->dir, NULL);
        if (run) {
            cli_error("train: %s already holds a run (snapshots up to step %ld); continue it with --resume %s, or "
                      "remove it",
                      s->dir, run->steps[run->count - 1], s->dir);
            sl_run_free(run);
            return EXIT_USAGE;
        }
    }
    if (sl_run_make_dir(s->dir, &err)) {
        cli_error("%s", err.message);
        return EXIT_RUNTIME;
    }
    return EXIT_OK;
}

void train_snapshots_end(TrainSnapshots *s)
{
    train_snapshots_finish(s);
    free(s->dir);
    sl_snapshot_plan_free(&s->plan);
    memset(s, 0, sizeof *s);
}

bool train_snapshots_due(const TrainSnapshots *s, long step) { return s->on && sl_snapshot_plan_due(&s->plan, step); }

int train_meta_set(SlTensorSet *ts, const char *key, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return sl_tensorset_set_meta(ts, key, buf, NULL);
}

/* The recorded command line as a JSON array of strings. */
static char *argv_json(int argc, char **argv)
{
    json_t *arr = json_array();
    for (int i = 0; arr && i < argc; i++)
        if (json_array_append_new(arr, json_string(argv[i]))) {
            json_decref(arr);
            return NULL;   /* out of memory, or not UTF-8 */
        }
    char *text = arr ? json_dumps(arr, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(arr);
    return text;
}

/* ---- the writer thread ---------------------------------------------------
 *
 * Writing a snapshot and the state costs little CPU but waits for the disk
 * (the atomic writer syncs each file and its directory: tens of ms on a
 * busy machine, more than the 100 steps between snapshots may take).  So the
 * training thread only copies the tensors, and one writer thread puts them
 * on disk while training goes on; the next snapshot waits for it. */

struct TrainSnapshotJob {
    const char *dir;
    long step;
    SlTensorSet *snapshot, *state;   /* owned, freed by the writer */
    int rc;
    SlError err;
};

static void *write_job(void *arg)
{
    TrainSnapshotJob *j = arg;
    /* the snapshot first, then the state that continues from it */
    j->rc = sl_run_write_snapshot(j->dir, j->step, j->snapshot, &j->err);
    if (j->rc == 0)
        j->rc = sl_run_write_state(j->dir, j->state, &j->err);
    sl_tensorset_free(j->snapshot);
    sl_tensorset_free(j->state);
    j->snapshot = j->state = NULL;
    return NULL;
}

int train_snapshots_finish(TrainSnapshots *s)
{
    if (!s->job)
        return EXIT_OK;
    double start = cli_now();
    pthread_join(s->writer, NULL);
    s->busy += cli_now() - start;
    int rc = s->job->rc;
    if (rc)
        cli_error("%s", s->job->err.message);
    free(s->job);
    s->job = NULL;
    return rc ? EXIT_RUNTIME : EXIT_OK;
}

static int start_writer(TrainSnapshots *s, long step, SlTensorSet *snapshot, SlTensorSet *state)
{
    int rc = train_snapshots_finish(s);   /* one at a time, in order */
    TrainSnapshotJob *j = rc == EXIT_OK ? calloc(1, sizeof *j) : NULL;
    if (!j) {
        if (rc == EXIT_OK)
            cli_error("train: out of memory for a snapshot");
        sl_tensorset_free(snapshot);
        sl_tensorset_free(state);
        return EXIT_RUNTIME;
    }
    *j = (TrainSnapshotJob){.dir = s->dir, .step = step, .snapshot = snapshot, .state = state};
    /* The writer inherits a mask without the stop signals: Ctrl-C is the
     * training thread's to see, and no write of the writer is cut short. */
    sigset_t stop, old;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop, &old);
    int started = pthread_create(&s->writer, NULL, write_job, j);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (started != 0) {   /* no thread: write it here */
        write_job(j);
        rc = j->rc;
        if (rc)
            cli_error("%s", j->err.message);
        free(j);
        return rc ? EXIT_RUNTIME : EXIT_OK;
    }
    s->job = j;
    return EXIT_OK;
}

static int snapshot_take(TrainSnapshots *s, const SlTrainer *t, const TrainLossWindow *w, const SlTrainEval *heldout);

int train_snapshots_write(TrainSnapshots *s, const SlTrainer *t, const TrainLossWindow *w, const SlTrainEval *heldout)
{
    double start = cli_now();
    int rc = snapshot_take(s, t, w, heldout);
    s->busy += cli_now() - start;   /* a wait for the one before is counted by finish */
    s->written += rc == EXIT_OK;
    return rc;
}

static int snapshot_take(TrainSnapshots *s, const SlTrainer *t, const TrainLossWindow *w, const SlTrainEval *heldout)
{
    SlError err = {0};
    long step = t->step, window;
    double loss = train_loss_window_mean(w, step, &window);
    const char *slash = strrchr(s->out, '/');
    SlTensorSet *snap_meta = sl_tensorset_new(), *state = NULL;
    char *args = argv_json(s->argc, s->argv);
    int rc = !snap_meta || !args;
    /* The snapshot: the recipe and where in the run it was taken. */
    rc = rc || train_meta_set(snap_meta, "trainer", "sortlens train %s", SORTLENS_VERSION) ||
         train_meta_set(snap_meta, "training_command", "%s", s->command) ||
         train_meta_set(snap_meta, "seed", "%" PRIu64, t->opt.seed) ||
         train_meta_set(snap_meta, "steps", "%ld", t->opt.steps) ||
         train_meta_set(snap_meta, "step", "%ld", step) ||
         train_meta_set(snap_meta, "lr", "%.10g", sl_train_lr_at(&t->opt, step > 0 ? step - 1 : 0)) ||
         (window > 0 && (train_meta_set(snap_meta, "train_loss", "%.9g", loss) ||
                         train_meta_set(snap_meta, "train_loss_window", "%ld", window)));
    if (!rc && heldout)
        rc = train_meta_set(snap_meta, "heldout_lists", "%ld", heldout->lists) ||
             train_meta_set(snap_meta, "heldout_loss", "%.9g", heldout->loss) ||
             train_meta_set(snap_meta, "heldout_token_accuracy", "%.9g", heldout->token_accuracy) ||
             train_meta_set(snap_meta, "heldout_list_accuracy", "%.9g", heldout->list_accuracy);
    if (rc) {
        cli_error("train: out of memory for a snapshot's metadata");
        goto fail;
    }
    /* Copies of the weights and of the state, taken now; written behind. */
    SlTensorSet *snap = sl_run_snapshot_tensors(t->model, snap_meta, &err);
    if (!snap)
        goto fail_err;
    int64_t wshape[1] = {TRAIN_LOSS_WINDOW};
    if (!(state = sl_train_state_tensors(t, &err))) {
        sl_tensorset_free(snap);
        goto fail_err;
    }
    if (!sl_tensorset_add(state, TENSOR_LOSS_WINDOW, SL_DT_F64, 1, wshape, w->recent, &err))
        goto fail_err;
    if (train_meta_set(state, META_LOSS_SUM, "%.17g", w->sum) || sl_tensorset_set_meta(state, META_ARGV, args, &err) ||
        sl_tensorset_set_meta(state, META_OUT_NAME, slash ? slash + 1 : s->out, &err)) {
        cli_error("train: out of memory for the training state");
        sl_tensorset_free(snap);
        goto fail;
    }
    sl_tensorset_free(snap_meta);
    free(args);
    return start_writer(s, step, snap, state);
fail_err:
    cli_error("%s", err.message);
fail:
    sl_tensorset_free(snap_meta);
    sl_tensorset_free(state);
    free(args);
    return EXIT_RUNTIME;
}
