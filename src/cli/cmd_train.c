/* cmd_train.c: `sortlens train`: train a model from scratch on fresh random
 * lists and write it as safetensors with its recipe in __metadata__. */
#include "cli.h"

#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "sortlens/atomic_write.h"
#include "sortlens/blas_runtime.h"
#include "sortlens/checkpoint.h"
#include "sortlens/tables.h"
#include "sortlens/train.h"
#include "sortlens/train_state.h"
#include "train_args.h"
#include "train_run.h"

/* Held-out lists come from their own seed, whatever --seed is, so that runs
 * are compared on the same lists. */
#define HELD_OUT_SEED 0x686f6c646f7574ULL

/* The signal that asked the run to stop (SIGINT, SIGTERM, SIGHUP), or 0. */
static volatile sig_atomic_t stop_signal;
static const int stop_signals[] = {SIGINT, SIGTERM, SIGHUP};
#define N_STOP_SIGNALS 3

static void on_stop_signal(int sig)
{
    if (stop_signal) {   /* the second one: stop at once, without saving */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    stop_signal = sig;   /* the loop saves and exits; nothing else is safe here */
}

/* Installs on_stop_signal for the stop signals, from the first step until
 * the model is saved, and puts the old handlers back. */
static void catch_stop_signals(struct sigaction old[N_STOP_SIGNALS])
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    stop_signal = 0;
    for (int i = 0; i < N_STOP_SIGNALS; i++)
        sigaction(stop_signals[i], &sa, &old[i]);
}

static void restore_stop_signals(const struct sigaction old[N_STOP_SIGNALS])
{
    for (int i = 0; i < N_STOP_SIGNALS; i++)
        sigaction(stop_signals[i], &old[i], NULL);
}

static const char *signal_name(int sig) { return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "SIGHUP"; }

/* A metadata entry of the model, formatted (train_meta_set). */
#define set_meta(m, ...) train_meta_set((m)->meta, __VA_ARGS__)

static void print_eval(const char *when, const SlTrainEval *ev)
{
    printf("%s: held-out loss %.6f, token accuracy %.6f, list accuracy %.6f (%ld lists)\n",
           when, ev->loss, ev->token_accuracy, ev->list_accuracy, ev->lists);
    fflush(stdout);
}

/* What a run ended with, for the metadata and the summary. */
typedef struct TrainResult {
    long steps_done;
    double final_loss, last_batch_loss;
    long final_loss_window;
    int stopped_by;   /* the signal that stopped the run, or 0 */
    bool have_eval;
    SlTrainEval eval;
} TrainResult;

/* The recipe and the outcome of the run, in the model's __metadata__. */
static int set_train_metadata(SlModel *m, const TrainArgs *t, const char *command, const TrainResult *r)
{
    const SlTrainOptions *o = &t->o;
    return set_meta(m, "trainer", "sortlens train %s", SORTLENS_VERSION) ||
           set_meta(m, "training_command", "%s", command) ||
           set_meta(m, "seed", "%" PRIu64, o->seed) ||
           set_meta(m, "steps", "%ld", o->steps) ||
           set_meta(m, "steps_done", "%ld", r->steps_done) ||
           set_meta(m, "interrupted", "%s", r->steps_done < o->steps ? "true" : "false") ||
           set_meta(m, "batch", "%d", o->batch) ||
           set_meta(m, "lr", "%.10g", o->lr) ||
           set_meta(m, "weight_decay", "%.10g", o->weight_decay) ||
           (o->weight_decay_end >= 0 && set_meta(m, "weight_decay_end", "%.10g", o->weight_decay_end)) ||
           (o->weight_decay_qk >= 0 && set_meta(m, "weight_decay_qk", "%.10g", o->weight_decay_qk)) ||
           (o->hard_share > 0 && set_meta(m, "hard_share", "%.10g", o->hard_share)) ||
           set_meta(m, "betas", "%.10g,%.10g", o->beta1, o->beta2) ||
           set_meta(m, "eps", "%.10g", o->eps) ||
           set_meta(m, "schedule", "%s", o->schedule == SL_TRAIN_SCHEDULE_COSINE ? "cosine" : "constant") ||
           set_meta(m, "warmup", "%ld", o->warmup) ||
           set_meta(m, "train_biases", "%s", o->train_biases ? "true" : "false") ||
           set_meta(m, "blas_threads", "%ld", t->threads) ||
           (r->stopped_by && set_meta(m, "stopped_by", "%s", signal_name(r->stopped_by))) ||
           /* no step, no loss: nothing rather than a made-up 0 */
           (r->steps_done > 0 && (set_meta(m, "final_loss", "%.9g", r->final_loss) ||
                                  set_meta(m, "final_loss_window", "%ld", r->final_loss_window) ||
                                  set_meta(m, "last_batch_loss", "%.9g", r->last_batch_loss))) ||
           (r->have_eval && (set_meta(m, "heldout_lists", "%ld", r->eval.lists) ||
                             set_meta(m, "heldout_loss", "%.9g", r->eval.loss) ||
                             set_meta(m, "heldout_token_accuracy", "%.9g", r->eval.token_accuracy) ||
                             set_meta(m, "heldout_list_accuracy", "%.9g", r->eval.list_accuracy)));
}

static int train_main(int argc, char **argv, const TrainResume *resume);

int cmd_train(int argc, char **argv)
{
    TrainResume resume;
    int status = train_resume_prepare(argc, argv, &resume);
    if (status > 0)
        return status;
    if (resume.active)   /* the run's own command line, as if typed again */
        status = train_main(resume.argc, resume.argv, &resume);
    else
        status = train_main(argc, argv, &resume);
    train_resume_free(&resume);
    return status;
}

/* One run's state, from the model's start to its save. */
typedef struct TrainRun {
    const TrainArgs *args;
    const TrainResume *resume;
    SlTrainOptions o;
    SlModelConfig c;
    const char *out;             /* where the model goes */
    char *command;               /* the recipe's command line */
    SlModel *m;
    SlTrainer *t;
    int *held;                   /* [eval_lists, n_ctx] the held-out lists' tokens */
    TrainLossWindow *recent;
    TrainSnapshots snaps;
    long step, first_step;       /* the next step; the step this process began at */
    double loss;                 /* the last batch's */
    double start;                /* cli_now() when the steps began */
} TrainRun;

/* The model (loaded, resumed or new), its trainer, the step-0 snapshot
 * and the held-out lists: EXIT_OK, or the status of a reported failure. */
static int train_start(TrainRun *R, int argc, char **argv)
{
    const TrainArgs *a = R->args;
    const TrainResume *resume = R->resume;
    SlError err = {0};
    int status = train_load_start(resume, a->init, &R->c, &R->m);
    if (status != EXIT_OK)
        return status;
    if (!R->m && (R->m = sl_model_new(&R->c, &err)))
        sl_train_init_params(R->m, R->o.seed);
    if (!R->m) {
        cli_error("train: %s", err.message);
        return EXIT_RUNTIME;
    }
    /* What can be saved must also load: building the circuit tables now
     * refuses a model too large for them before any step is taken. */
    if (sl_model_prepare(R->m, &err)) {
        cli_error("train: this model could never be saved or loaded: %s", err.message);
        return err.code == SL_ENOMEM ? EXIT_RUNTIME : EXIT_USAGE;
    }
    sl_tables_free(R->m->tables);   /* the trainer keeps its own; they are rebuilt for the save */
    R->m->tables = NULL;
    if (!(R->t = sl_trainer_new(R->m, &R->o, &err))) {
        cli_error("train: %s", err.message);
        return cli_exit_code(err.code);
    }
    if (resume->active && (sl_train_state_restore(R->t, resume->state, resume->dir, &err) ||
                           train_loss_window_restore(R->recent, resume->state, resume->dir))) {
        if (err.message[0])
            cli_error("%s", err.message);
        return EXIT_RUNTIME;
    }
    if (R->t->step > R->o.steps) {
        cli_error("train: the run is at step %ld already; --steps %ld would go back", R->t->step, R->o.steps);
        return EXIT_USAGE;
    }
    if ((status = train_snapshots_begin(&R->snaps, R->out, a->snapshot_every, (int)a->snapshots, &R->o, resume->active,
                                        argc, argv, R->command)) != EXIT_OK)
        return status;
    if (!resume->active && R->snaps.on && train_snapshots_write(&R->snaps, R->t, R->recent, NULL))
        return EXIT_RUNTIME;   /* step 0: the initialisation */
    R->held = malloc((size_t)a->eval_lists * R->c.n_ctx * sizeof(int));
    if (!R->held) {
        cli_error("train: out of memory for %ld held-out lists", a->eval_lists);
        return EXIT_RUNTIME;
    }
    SlRng r;
    int values[SL_MODEL_MAX_CTX];
    sl_rng_seed(&r, HELD_OUT_SEED);
    for (long b = 0; b < a->eval_lists; b++) {
        sl_task_random_list(&R->c, &r, values);
        sl_task_make_tokens(&R->c, values, R->held + (size_t)b * R->c.n_ctx);
    }
    return EXIT_OK;
}

/* The steps, until --steps or a stop signal, with progress, evaluations and
 * snapshots on the way; false after a reported failure. */
static bool train_steps(TrainRun *R)
{
    const long steps = R->o.steps, eval_every = R->args->eval_every, eval_lists = R->args->eval_lists;
    SlError err = {0};
    Progress bar;
    progress_begin(&bar, "train", steps);
    bool tty = bar.active;
    R->start = cli_now();
    double last_line = R->start;
    R->step = R->first_step = R->t->step;
    R->loss = R->step > 0 ? R->recent->recent[(R->step - 1) % TRAIN_LOSS_WINDOW] : 0.0;
    SlTrainEval ev;
    for (; R->step < steps && !stop_signal; R->step++) {
        if (sl_trainer_step(R->t, &R->loss, &err)) {
            progress_end(&bar);
            cli_error("train: step %ld: %s", R->step + 1, err.message);
            return false;
        }
        if (!isfinite(R->loss)) {
            progress_end(&bar);
            cli_error("train: the loss became %g at step %ld: training diverged; try a lower --lr (now %g)", R->loss,
                      R->step + 1, R->o.lr);
            return false;
        }
        train_loss_window_add(R->recent, R->step, R->loss);
        long done_steps = R->step + 1;
        double now = cli_now(), rate = (done_steps - R->first_step) / (now - R->start > 1e-9 ? now - R->start : 1e-9);
        char extra[96];
        snprintf(extra, sizeof extra, "loss %.4f  %.0f steps/s", R->loss, rate);
        if (tty) {
            progress_update(&bar, done_steps, extra);
        } else if (now - last_line >= 10.0) {
            fprintf(stderr, "train: step %ld/%ld  loss %.4f  %.0f steps/s  %.0fs left\n", done_steps, steps, R->loss,
                    rate, (steps - done_steps) / rate);
            last_line = now;
        }
        bool evaluated = false;
        if (eval_every > 0 && done_steps % eval_every == 0 && done_steps < steps) {
            evaluated = true;
            if (sl_trainer_evaluate(R->t, R->held, eval_lists, &ev, &err)) {
                progress_end(&bar);
                cli_error("train: evaluation: %s", err.message);
                return false;
            }
            char when[64];
            snprintf(when, sizeof when, "step %ld", done_steps);
            if (tty)
                fputs("\r\033[K", stderr);
            print_eval(when, &ev);
        }
        if (done_steps < steps && train_snapshots_due(&R->snaps, done_steps) &&
            train_snapshots_write(&R->snaps, R->t, R->recent, evaluated ? &ev : NULL)) {
            progress_end(&bar);
            return false;
        }
    }
    progress_end(&bar);
    return true;
}

/* After the steps: the final evaluation and snapshot, the recipe in the
 * metadata, the save and the summary; EXIT_OK or EXIT_RUNTIME. */
static int train_finish(TrainRun *R)
{
    const long step = R->step, eval_lists = R->args->eval_lists;
    SlError err = {0};
    SlTrainEval ev;
    double wall = cli_now() - R->start;
    long window;
    double final_loss = train_loss_window_mean(R->recent, step, &window);
    bool have_eval = step > 0 && sl_trainer_evaluate(R->t, R->held, eval_lists, &ev, &err) == 0;
    if (step > 0 && !have_eval) {
        cli_error("train: evaluation: %s", err.message);
        return EXIT_RUNTIME;
    }
    /* The last step's snapshot and state, so that the run can go on from here. */
    if (R->snaps.on && (train_snapshots_write(&R->snaps, R->t, R->recent, have_eval ? &ev : NULL) ||
                        train_snapshots_finish(&R->snaps)))
        return EXIT_RUNTIME;

    TrainResult result = {.steps_done = step, .final_loss = final_loss, .last_batch_loss = R->loss,
                          .final_loss_window = window, .stopped_by = stop_signal, .have_eval = have_eval};
    if (have_eval)
        result.eval = ev;
    if (set_train_metadata(R->m, R->args, R->command, &result)) {
        cli_error("train: out of memory for the metadata");
        return EXIT_RUNTIME;
    }
    if (sl_model_prepare(R->m, &err) || sl_ckpt_save(R->m, R->out, &err)) {
        cli_error("%s", err.message);
        return EXIT_RUNTIME;
    }
    long trained = step - R->first_step;
    if (trained > 0)
        printf("trained %ld steps in %.1f s (%.1f ms/step); final loss %.6f (mean of the last %ld steps)\n", trained,
               wall, 1000.0 * wall / trained, final_loss, window);
    else
        printf("trained 0 steps: no loss (the %s weights are saved)\n", R->first_step > 0 ? "run's" : "initial");
    if (R->snaps.on)
        printf("snapshots: %ld written to %s; they held training up %.1f ms (%.2f%% of %.1f s)\n", R->snaps.written,
               R->snaps.dir, 1000.0 * R->snaps.busy, wall > 0 ? 100.0 * R->snaps.busy / wall : 0.0, wall);
    if (have_eval)
        print_eval("final", &ev);
    if (stop_signal)
        fprintf(stderr, "sortlens: train: interrupted after %ld of %ld steps (%s); saved the model so far to %s\n",
                step, R->o.steps, signal_name(stop_signal), R->out);
    else
        printf("wrote %s\n", R->out);
    return EXIT_OK;
}

static int train_main(int argc, char **argv, const TrainResume *resume)
{
    TrainArgs args = {0};
    args.not_recipe = calloc((size_t)argc + 1, sizeof *args.not_recipe);
    if (!args.not_recipe) {
        cli_error("train: out of memory");
        return EXIT_RUNTIME;
    }
    int parsed = train_args_parse(&args, argc, argv);
    if (parsed >= 0) {
        free(args.not_recipe);
        return parsed;
    }
    /* A resumed run's model file is beside its run directory, wherever that is now. */
    TrainRun R = {.args = &args, .resume = resume, .o = args.o, .c = args.c,
                  .out = resume->active ? resume->out : args.out};
    int status = EXIT_RUNTIME;
    SlError err = {0};
    /* the caller's buffer, and one per worker thread the count starts */
    if (!cli_blas_ready((int)args.threads)) {
        free(args.not_recipe);
        return EXIT_RUNTIME;
    }
    sl_blas_set_threads((int)args.threads);
    cli_blas_note();
    /* Where the model goes is checked now, not after the run. */
    if (sl_atomic_check(R.out, NULL, &err)) {
        cli_error("%s", err.message);
        free(args.not_recipe);
        return EXIT_RUNTIME;
    }
    R.command = train_args_command(argc, argv, args.not_recipe);   /* argv[0] is "train" */
    R.recent = calloc(1, sizeof *R.recent);
    if (!R.command || !R.recent)
        cli_error("train: out of memory");
    else if ((status = train_start(&R, argc, argv)) == EXIT_OK) {
        struct sigaction old_sa[N_STOP_SIGNALS];
        catch_stop_signals(old_sa);
        /* The handlers stay until the model is saved: a signal after the
         * steps still saves (a second one stops at once). */
        status = train_steps(&R) ? train_finish(&R) : EXIT_RUNTIME;
        restore_stop_signals(old_sa);
    }
    train_snapshots_end(&R.snaps);
    free(args.not_recipe);
    free(R.recent);
    free(R.command);
    free(R.held);
    sl_trainer_free(R.t);
    sl_model_free(R.m);
    return status;
}
