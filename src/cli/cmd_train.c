/* cmd_train.c: `sortlens train`: train a model from scratch on fresh random
 * lists and write it as safetensors with its recipe in __metadata__. */
#include "cli.h"

#include <cblas.h>
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
#include "sortlens/checkpoint.h"
#include "sortlens/train.h"
#include "sortlens/train_state.h"
#include "train_run.h"

/* Held-out lists come from their own seed, whatever --seed is, so that runs
 * are compared on the same lists. */
#define HELD_OUT_SEED 0x686f6c646f7574ULL

static volatile sig_atomic_t stop_requested;

static void on_sigint(int sig)
{
    (void)sig;
    stop_requested = 1;   /* the loop saves and exits; nothing else is safe here */
}

static void usage(FILE *out)
{
    fprintf(out,
        "usage: sortlens train --out PATH [OPTIONS]\n"
        "\n"
        "Train an attention-only transformer to sort lists, from random weights, on\n"
        "fresh random lists (values uniform, with replacement), and write it as\n"
        "safetensors with TransformerLens names; the config, the command (without\n"
        "--out), the seed and the final loss go in its metadata. Loss: mean\n"
        "cross-entropy over the n prediction positions. Optimizer: AdamW as\n"
        "torch.optim.AdamW.\n"
        "\n"
        "options (defaults are the recipe the seed model was trained with):\n"
        "  --out PATH            where to write the model (required)\n"
        "  --steps N             optimizer steps (10000)\n"
        "  --batch N             fresh lists per step (256)\n"
        "  --lr X                peak learning rate (0.001)\n"
        "  --weight-decay X      AdamW's decoupled weight decay (0.01)\n"
        "  --betas B1,B2         AdamW's betas (0.9,0.98)\n"
        "  --eps X               AdamW's epsilon (1e-8)\n"
        "  --schedule NAME       constant, or cosine from the peak to 0 after the\n"
        "                        warm-up (constant)\n"
        "  --warmup N            linear warm-up from lr/N to lr over N steps (0)\n"
        "  --seed S              initialisation and data seed (0); the same seed on the\n"
        "                        same machine gives the same file\n"
        "  --list-len N          list length n (10); n_ctx = 2n + 2\n"
        "  --max-num N           values are 0..N-1 (50)\n"
        "  --d-model N           residual width (128)\n"
        "  --heads N             attention heads per layer (1)\n"
        "  --d-head N            width of each head (d-model / heads)\n"
        "  --layers N            layers (1)\n"
        "  --train-biases        train the biases too (default: they stay at zero, as\n"
        "                        the seed's were)\n"
        "  --eval-every N        every N steps print loss, per-token (teacher-forced)\n"
        "                        and whole-list (greedy) accuracy on the held-out lists\n"
        "                        (0: only at the end)\n"
        "  --eval-lists N        held-out lists, the same for every seed (2000)\n"
        "  --threads N           OpenBLAS threads (1; the results depend on it)\n"
        "  --snapshot-every K    keep the weights every K steps, step 0 (the\n"
        "                        initialisation) and the last step included, as\n"
        "                        step-NNNNNNN.safetensors in the run directory: OUT\n"
        "                        with .safetensors replaced by .run\n"
        "  --snapshots N         N snapshots instead: half of them evenly over the\n"
        "                        first tenth of the run (where the circuits form),\n"
        "                        the rest evenly over the other nine tenths; with\n"
        "                        snapshots, the optimizer state goes beside them\n"
        "                        (optimizer.safetensors) and the run can continue\n"
        "  --resume RUN_DIR      continue a run from its last snapshot with its own\n"
        "                        options, optimizer state and data stream, to --steps\n"
        "                        N if given (the only option allowed with it); it\n"
        "                        writes the run's model file again and adds snapshots\n"
        "  --init MODEL          start from MODEL's weights (any format; a run: its\n"
        "                        last snapshot) instead of random ones; the\n"
        "                        architecture is MODEL's\n"
        "  --help                this text\n"
        "\n"
        "A progress bar (step, loss, steps/s, time left) is drawn on stderr when it is\n"
        "a terminal, else a plain line every 10 seconds. Ctrl-C stops the run at the\n"
        "end of the current step, saves the model trained so far (its metadata says\n"
        "so) and exits with status 0; a second Ctrl-C stops at once, without saving.\n"
        "Exit status: 0 saved, 1 could not write the model or training diverged\n"
        "(the loss is no longer a number), 2 bad usage.\n");
}

/* The command line, shell-quoted where needed, for the metadata.  --out and
 * its path are left out: where a model is written is not part of how it was
 * made, and the same command then gives the same bytes wherever it writes. */
static char *join_command(int argc, char **argv)
{
    size_t len = 16;
    for (int i = 0; i < argc; i++)
        len += 3 + 4 * strlen(argv[i]);
    char *s = malloc(len), *p = s;
    if (!s)
        return NULL;
    p += sprintf(p, "sortlens");
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--out") == 0) {
            i++;
            continue;
        }
        if (strncmp(a, "--out=", 6) == 0)
            continue;
        bool plain = *a != '\0';
        for (const char *c = a; *c; c++)
            if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=.,/+:@", *c))
                plain = false;
        *p++ = ' ';
        if (plain) {
            p += sprintf(p, "%s", a);
            continue;
        }
        *p++ = '\'';
        for (const char *c = a; *c; c++) {
            if (*c == '\'') {
                memcpy(p, "'\\''", 4);
                p += 4;
            } else {
                *p++ = *c;
            }
        }
        *p++ = '\'';
        *p = '\0';
    }
    return s;
}

static bool parse_betas(const char *text, double *b1, double *b2)
{
    char *end;
    *b1 = strtod(text, &end);
    if (end == text || *end != ',')
        goto bad;
    const char *second = end + 1;
    *b2 = strtod(second, &end);
    if (end == second || *end)
        goto bad;
    if (!(*b1 >= 0 && *b1 < 1 && *b2 >= 0 && *b2 < 1))
        goto bad;
    return true;
bad:
    cli_error("--betas: '%s' is not two numbers in [0, 1) separated by a comma, like 0.9,0.98", text);
    return false;
}

static int set_meta(Model *m, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int set_meta(Model *m, const char *key, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return tensorset_set_meta(m->meta, key, buf, NULL);
}

/* Writes to PATH.tmp and renames it, so that no half-written model is left
 * behind under PATH. */
static int save_model(Model *m, const char *path, SlError *err)
{
    size_t len = strlen(path) + 8;
    char *tmp = malloc(len);
    if (!tmp)
        return sl_error_set(err, SL_ENOMEM, "out of memory");
    snprintf(tmp, len, "%s.tmp", path);
    int rc = ckpt_save(m, tmp, err);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = sl_error_set(err, SL_EIO, "%s: cannot rename %s into place", path, tmp);
    if (rc)
        unlink(tmp);
    free(tmp);
    return rc;
}

static void print_eval(const char *when, const TrainEval *ev)
{
    printf("%s: held-out loss %.6f, token accuracy %.6f, list accuracy %.6f (%ld lists)\n",
           when, ev->loss, ev->token_accuracy, ev->list_accuracy, ev->lists);
    fflush(stdout);
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

static int train_main(int argc, char **argv, const TrainResume *resume)
{
    TrainOptions o;
    train_options_default(&o);
    ModelConfig c = TRAIN_DEFAULT_ARCH;
    const char *out = NULL, *init = NULL;
    long eval_every = 0, eval_lists = 2000, threads = 1, snapshot_every = 0, snapshots = 0;
    int status = EXIT_RUNTIME;
    SlError err = {0};

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return EXIT_OK;
        }
        if (strcmp(a, "--train-biases") == 0) {
            o.train_biases = true;
            continue;
        }
        /* Every other option takes a value: "--opt VALUE" or "--opt=VALUE". */
        char name[32];
        const char *val, *eq = strchr(a, '=');
        if (strncmp(a, "--", 2) != 0) {
            cli_error("train: unexpected argument '%s'; try 'sortlens train --help'", a);
            return EXIT_USAGE;
        }
        if (eq) {
            snprintf(name, sizeof name, "%.*s", (int)(eq - a) < 31 ? (int)(eq - a) : 31, a);
            val = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a);
            if (i + 1 >= argc) {
                cli_error("train: %s needs a value; try 'sortlens train --help'", a);
                return EXIT_USAGE;
            }
            val = argv[++i];
        }
        long lv;
        bool ok = true;
        if (strcmp(name, "--out") == 0) {
            out = val;
        } else if (strcmp(name, "--steps") == 0) {
            ok = cli_parse_long(name, val, 0, 1000000000L, &o.steps);
        } else if (strcmp(name, "--batch") == 0) {
            ok = cli_parse_long(name, val, 1, 65536, &lv);
            o.batch = (int)lv;
        } else if (strcmp(name, "--lr") == 0) {
            ok = cli_parse_double(name, val, &o.lr);
            if (ok && !(o.lr > 0 && o.lr < 1e3)) {
                cli_error("--lr: %s is not a learning rate in (0, 1000)", val);
                ok = false;
            }
        } else if (strcmp(name, "--weight-decay") == 0) {
            ok = cli_parse_double(name, val, &o.weight_decay);
            if (ok && !(o.weight_decay >= 0 && o.weight_decay < 1e3)) {
                cli_error("--weight-decay: %s is not in [0, 1000)", val);
                ok = false;
            }
        } else if (strcmp(name, "--betas") == 0) {
            ok = parse_betas(val, &o.beta1, &o.beta2);
        } else if (strcmp(name, "--eps") == 0) {
            ok = cli_parse_double(name, val, &o.eps);
            if (ok && !(o.eps > 0 && o.eps < 1)) {
                cli_error("--eps: %s is not in (0, 1)", val);
                ok = false;
            }
        } else if (strcmp(name, "--schedule") == 0) {
            if (strcmp(val, "constant") == 0) {
                o.schedule = TRAIN_SCHEDULE_CONSTANT;
            } else if (strcmp(val, "cosine") == 0) {
                o.schedule = TRAIN_SCHEDULE_COSINE;
            } else {
                cli_error("--schedule: '%s' is not constant or cosine", val);
                ok = false;
            }
        } else if (strcmp(name, "--warmup") == 0) {
            ok = cli_parse_long(name, val, 0, 1000000000L, &o.warmup);
        } else if (strcmp(name, "--seed") == 0) {
            char *end;
            unsigned long long s = strtoull(val, &end, 10);
            if (end == val || *end || *val == '-') {
                cli_error("--seed: '%s' is not a non-negative integer", val);
                ok = false;
            }
            o.seed = (uint64_t)s;
        } else if (strcmp(name, "--list-len") == 0) {
            ok = cli_parse_long(name, val, 1, 1000, &lv);
            c.list_len = (int)lv;
        } else if (strcmp(name, "--max-num") == 0) {
            ok = cli_parse_long(name, val, 1, 10000, &lv);
            c.d_vocab_out = (int)lv;
        } else if (strcmp(name, "--d-model") == 0) {
            ok = cli_parse_long(name, val, 1, MODEL_MAX_DIM, &lv);
            c.d_model = (int)lv;
        } else if (strcmp(name, "--heads") == 0) {
            ok = cli_parse_long(name, val, 1, MODEL_MAX_HEADS, &lv);
            c.n_heads = (int)lv;
        } else if (strcmp(name, "--d-head") == 0) {
            ok = cli_parse_long(name, val, 1, MODEL_MAX_DIM, &lv);
            c.d_head = (int)lv;
        } else if (strcmp(name, "--layers") == 0) {
            ok = cli_parse_long(name, val, 1, MODEL_MAX_LAYERS, &lv);
            c.n_layers = (int)lv;
        } else if (strcmp(name, "--eval-every") == 0) {
            ok = cli_parse_long(name, val, 0, 1000000000L, &eval_every);
        } else if (strcmp(name, "--eval-lists") == 0) {
            ok = cli_parse_long(name, val, 1, 1000000, &eval_lists);
        } else if (strcmp(name, "--threads") == 0) {
            ok = cli_parse_long(name, val, 1, 256, &threads);
        } else if (strcmp(name, "--snapshot-every") == 0) {
            ok = cli_parse_long(name, val, 1, 1000000000L, &snapshot_every);
        } else if (strcmp(name, "--snapshots") == 0) {
            ok = cli_parse_long(name, val, 2, 100000, &snapshots);
        } else if (strcmp(name, "--init") == 0) {
            init = val;
        } else if (strcmp(name, "--resume") == 0) {
            cli_error("%s: the recorded command holds --resume", resume->dir ? resume->dir : "train");
            ok = false;
        } else {
            cli_error("train: unknown option %s; try 'sortlens train --help'", name);
            return EXIT_USAGE;
        }
        if (!ok)
            return EXIT_USAGE;
    }
    if (resume->active)
        out = resume->out;   /* beside the run directory, wherever that is now */
    if (!out) {
        cli_error("train: --out PATH is required; try 'sortlens train --help'");
        return EXIT_USAGE;
    }
    if (c.d_head == 0) {
        if (c.d_model % c.n_heads) {
            cli_error("train: --d-model %d is not a multiple of --heads %d; give --d-head", c.d_model, c.n_heads);
            return EXIT_USAGE;
        }
        c.d_head = c.d_model / c.n_heads;
    }
    if (o.warmup > o.steps) {
        cli_error("train: --warmup %ld is longer than --steps %ld", o.warmup, o.steps);
        return EXIT_USAGE;
    }
    model_config_derive(&c);
    if (model_config_validate(&c, &err)) {
        cli_error("train: %s", err.message);
        return EXIT_USAGE;
    }
    /* A fixed thread count: OpenBLAS splits a product by thread count, so
     * the bytes of a run depend on it. */
    openblas_set_num_threads((int)threads);

    Model *m = NULL;
    Trainer *t = NULL;
    int *held = NULL;
    char *command = join_command(argc, argv);   /* argv[0] is "train" */
    TrainLossWindow *recent = calloc(1, sizeof *recent);
    TrainSnapshots snaps = {0};
    if (!command || !recent) {
        cli_error("train: out of memory");
        goto done;
    }
    if ((status = train_load_start(resume, init, &c, &m)) != EXIT_OK)
        goto done;
    status = EXIT_RUNTIME;
    if (!m && (m = model_new(&c, &err)))
        train_init_params(m, o.seed);
    if (!m) {
        cli_error("train: %s", err.message);
        goto done;
    }
    if (!(t = trainer_new(m, &o, &err))) {
        cli_error("train: %s", err.message);
        status = cli_exit_code(err.code);
        goto done;
    }
    if (resume->active && (sl_train_state_restore(t, resume->state, resume->dir, &err) ||
                           train_loss_window_restore(recent, resume->state, resume->dir))) {
        if (err.message[0])
            cli_error("%s", err.message);
        goto done;
    }
    if (t->step > o.steps) {
        cli_error("train: the run is at step %ld already; --steps %ld would go back", t->step, o.steps);
        status = EXIT_USAGE;
        goto done;
    }
    if ((status = train_snapshots_begin(&snaps, out, snapshot_every, (int)snapshots, &o, resume->active, argc, argv,
                                        command)) != EXIT_OK)
        goto done;
    status = EXIT_RUNTIME;
    if (!resume->active && snaps.on && train_snapshots_write(&snaps, t, recent, NULL))
        goto done;   /* step 0: the initialisation */
    held = malloc((size_t)eval_lists * c.n_ctx * sizeof(int));
    if (!held) {
        cli_error("train: out of memory for %ld held-out lists", eval_lists);
        goto done;
    }
    {
        Rng r;
        int values[MODEL_MAX_CTX];
        rng_seed(&r, HELD_OUT_SEED);
        for (long b = 0; b < eval_lists; b++) {
            task_random_list(&c, &r, values);
            task_make_tokens(&c, values, held + (size_t)b * c.n_ctx);
        }
    }

    struct sigaction sa, old_sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_sa);
    stop_requested = 0;

    Progress bar;
    progress_begin(&bar, "train", o.steps);
    bool tty = bar.active;
    double start = cli_now(), last_line = start;
    long step = t->step, first_step = t->step;
    double loss = step > 0 ? recent->recent[(step - 1) % TRAIN_LOSS_WINDOW] : 0.0;
    TrainEval ev;
    for (; step < o.steps && !stop_requested; step++) {
        if (trainer_step(t, &loss, &err)) {
            progress_end(&bar);
            cli_error("train: step %ld: %s", step + 1, err.message);
            goto restore;
        }
        if (!isfinite(loss)) {
            progress_end(&bar);
            cli_error("train: the loss became %g at step %ld: training diverged; try a lower --lr (now %g)", loss,
                      step + 1, o.lr);
            goto restore;
        }
        train_loss_window_add(recent, step, loss);
        long done_steps = step + 1;
        double now = cli_now(), rate = (done_steps - first_step) / (now - start > 1e-9 ? now - start : 1e-9);
        char extra[96];
        snprintf(extra, sizeof extra, "loss %.4f  %.0f steps/s", loss, rate);
        if (tty) {
            progress_update(&bar, done_steps, extra);
        } else if (now - last_line >= 10.0) {
            fprintf(stderr, "train: step %ld/%ld  loss %.4f  %.0f steps/s  %.0fs left\n", done_steps, o.steps, loss,
                    rate, (o.steps - done_steps) / rate);
            last_line = now;
        }
        bool evaluated = false;
        if (eval_every > 0 && done_steps % eval_every == 0 && done_steps < o.steps) {
            evaluated = true;
            if (trainer_evaluate(t, held, eval_lists, &ev, &err)) {
                progress_end(&bar);
                cli_error("train: evaluation: %s", err.message);
                goto restore;
            }
            char when[64];
            snprintf(when, sizeof when, "step %ld", done_steps);
            if (tty)
                fputs("\r\033[K", stderr);
            print_eval(when, &ev);
        }
        if (done_steps < o.steps && train_snapshots_due(&snaps, done_steps) &&
            train_snapshots_write(&snaps, t, recent, evaluated ? &ev : NULL)) {
            progress_end(&bar);
            goto restore;
        }
    }
    progress_end(&bar);
    /* A second Ctrl-C while the model is evaluated and saved stops at once. */
    sigaction(SIGINT, &old_sa, NULL);
    double wall = cli_now() - start;
    long window;
    double final_loss = train_loss_window_mean(recent, step, &window);
    bool have_eval = step > 0 && trainer_evaluate(t, held, eval_lists, &ev, &err) == 0;
    if (step > 0 && !have_eval) {
        cli_error("train: evaluation: %s", err.message);
        goto restore;
    }
    /* The last step's snapshot and state, so that the run can go on from here. */
    if (snaps.on && train_snapshots_write(&snaps, t, recent, have_eval ? &ev : NULL))
        goto restore;

    if (set_meta(m, "trainer", "sortlens train %s", SORTLENS_VERSION) ||
        set_meta(m, "training_command", "%s", command) ||
        set_meta(m, "seed", "%" PRIu64, o.seed) ||
        set_meta(m, "steps", "%ld", o.steps) ||
        set_meta(m, "steps_done", "%ld", step) ||
        set_meta(m, "interrupted", "%s", step < o.steps ? "true" : "false") ||
        set_meta(m, "batch", "%d", o.batch) ||
        set_meta(m, "lr", "%.10g", o.lr) ||
        set_meta(m, "weight_decay", "%.10g", o.weight_decay) ||
        set_meta(m, "betas", "%.10g,%.10g", o.beta1, o.beta2) ||
        set_meta(m, "eps", "%.10g", o.eps) ||
        set_meta(m, "schedule", "%s", o.schedule == TRAIN_SCHEDULE_COSINE ? "cosine" : "constant") ||
        set_meta(m, "warmup", "%ld", o.warmup) ||
        set_meta(m, "train_biases", "%s", o.train_biases ? "true" : "false") ||
        set_meta(m, "blas_threads", "%ld", threads) ||
        set_meta(m, "final_loss", "%.9g", final_loss) ||
        set_meta(m, "final_loss_window", "%ld", window) ||
        set_meta(m, "last_batch_loss", "%.9g", loss) ||
        (have_eval && (set_meta(m, "heldout_lists", "%ld", ev.lists) ||
                       set_meta(m, "heldout_loss", "%.9g", ev.loss) ||
                       set_meta(m, "heldout_token_accuracy", "%.9g", ev.token_accuracy) ||
                       set_meta(m, "heldout_list_accuracy", "%.9g", ev.list_accuracy)))) {
        cli_error("train: out of memory for the metadata");
        goto restore;
    }
    if (model_prepare(m, &err) || save_model(m, out, &err)) {
        cli_error("%s", err.message);
        goto restore;
    }
    long trained = step - first_step;
    printf("trained %ld steps in %.1f s (%.1f ms/step); final loss %.6f (mean of the last %ld steps)\n",
           trained, wall, trained ? 1000.0 * wall / trained : 0.0, final_loss, window);
    if (have_eval)
        print_eval("final", &ev);
    if (step < o.steps)
        fprintf(stderr, "sortlens: train: interrupted after %ld of %ld steps; saved the model so far to %s\n",
                step, o.steps, out);
    else
        printf("wrote %s\n", out);
    status = EXIT_OK;
restore:
    sigaction(SIGINT, &old_sa, NULL);
done:
    train_snapshots_end(&snaps);
    free(recent);
    free(command);
    free(held);
    trainer_free(t);
    model_free(m);
    return status;
}
