/* train_args.c: the command line of `sortlens train`: its usage text, its
 * options and their checks, and the command as recorded in the recipe
 * (see train_args.h). */
#include "train_args.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sortlens/parse_double.h"
#include "train_run.h"

static void usage(FILE *out)
{
    fprintf(out,
        "usage: sortlens train --out PATH [OPTIONS]\n"
        "       sortlens train --resume RUN_DIR [--steps N]\n"
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
        "  --weight-decay-end X  move the weight decay linearly from --weight-decay at\n"
        "                        the first step to X at the last (default: constant)\n"
        "  --weight-decay-qk X   weight decay of W_Q and W_K alone, constant (default:\n"
        "                        as the other weights)\n"
        "  --betas B1,B2         AdamW's betas (0.9,0.98)\n"
        "  --eps X               AdamW's epsilon (1e-8)\n"
        "  --schedule NAME       constant, or cosine from the peak to 0 after the\n"
        "                        warm-up (constant)\n"
        "  --warmup N            linear warm-up from lr/N to lr over N steps (0)\n"
        "  --seed S              initialisation and data seed (0); the same seed on the\n"
        "                        same machine gives the same file\n"
        "  --hard-share X        draw this share of each batch's lists (0..1, rounded\n"
        "                        to whole lists) from the kinds sorting models get\n"
        "                        wrong most: triple, cluster and gap (as in explain's\n"
        "                        stress sets), each kind equally likely; the rest stay\n"
        "                        uniform (0: all uniform)\n"
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
        "a terminal, else a plain line every 10 seconds. Ctrl-C (or SIGTERM, SIGHUP)\n"
        "stops the run at the end of the current step, saves the model trained so\n"
        "far (its metadata says so) and exits with status 0, also while the final\n"
        "evaluation runs; a second one stops at once, without saving.\n"
        "PATH is checked before training starts; the model is written beside it\n"
        "and renamed into place (a device or FIFO is written through; a symbolic\n"
        "link is followed), so PATH never holds half a model.  --steps 0 saves the\n"
        "initial weights, with no loss.\n"
        "With snapshots on, a stop also writes the last snapshot and the optimizer\n"
        "state, and --resume goes on as if the run had never stopped: the same bytes\n"
        "as an unbroken run (under --schedule cosine, only to the --steps it began\n"
        "with: a new --steps stretches the rest of the decay).\n"
        "Exit status: 0 saved, 1 could not write the model or training diverged\n"
        "(the loss is no longer a number), 2 bad usage or a model too large to\n"
        "save.\n");
}

/* The command line, shell-quoted where needed, for the metadata.  The words
 * of --out (skip[i] true) are left out: where a model is written is not part
 * of how it was made, and the same command then gives the same bytes
 * wherever it writes. */
char *train_args_command(int argc, char **argv, const bool *skip)
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
        if (skip[i])
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
    /* "B1,B2": each half with the one decimal parser */
    const char *comma = strchr(text, ',');
    char first[64];
    if (!comma || (size_t)(comma - text) >= sizeof first)
        goto bad;
    memcpy(first, text, (size_t)(comma - text));
    first[comma - text] = '\0';
    if (sl_parse_double(first, b1, NULL) || sl_parse_double(comma + 1, b2, NULL))
        goto bad;
    if (!(*b1 >= 0 && *b1 < 1 && *b2 >= 0 && *b2 < 1))
        goto bad;
    return true;
bad:
    cli_error("--betas: '%s' is not two numbers in [0, 1) separated by a comma, like 0.9,0.98", text);
    return false;
}



/* The options: one enum value, one table row, one case in apply_option and
 * one usage line each. */
enum {
    OPT_HELP = 'h',
    OPT_OUT = 256,
    OPT_STEPS,
    OPT_BATCH,
    OPT_LR,
    OPT_WEIGHT_DECAY,
    OPT_WEIGHT_DECAY_END,
    OPT_WEIGHT_DECAY_QK,
    OPT_BETAS,
    OPT_EPS,
    OPT_SCHEDULE,
    OPT_WARMUP,
    OPT_SEED,
    OPT_HARD_SHARE,
    OPT_LIST_LEN,
    OPT_MAX_NUM,
    OPT_D_MODEL,
    OPT_HEADS,
    OPT_D_HEAD,
    OPT_LAYERS,
    OPT_TRAIN_BIASES,
    OPT_EVAL_EVERY,
    OPT_EVAL_LISTS,
    OPT_THREADS,
    OPT_SNAPSHOT_EVERY,
    OPT_SNAPSHOTS,
    OPT_RESUME,
    OPT_INIT,
};

static const struct option train_options[] = {
    {"out", required_argument, NULL, OPT_OUT},
    {"steps", required_argument, NULL, OPT_STEPS},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"lr", required_argument, NULL, OPT_LR},
    {"weight-decay", required_argument, NULL, OPT_WEIGHT_DECAY},
    {"weight-decay-end", required_argument, NULL, OPT_WEIGHT_DECAY_END},
    {"weight-decay-qk", required_argument, NULL, OPT_WEIGHT_DECAY_QK},
    {"hard-share", required_argument, NULL, OPT_HARD_SHARE},
    {"betas", required_argument, NULL, OPT_BETAS},
    {"eps", required_argument, NULL, OPT_EPS},
    {"schedule", required_argument, NULL, OPT_SCHEDULE},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"seed", required_argument, NULL, OPT_SEED},
    {"list-len", required_argument, NULL, OPT_LIST_LEN},
    {"max-num", required_argument, NULL, OPT_MAX_NUM},
    {"d-model", required_argument, NULL, OPT_D_MODEL},
    {"heads", required_argument, NULL, OPT_HEADS},
    {"d-head", required_argument, NULL, OPT_D_HEAD},
    {"layers", required_argument, NULL, OPT_LAYERS},
    {"train-biases", no_argument, NULL, OPT_TRAIN_BIASES},
    {"eval-every", required_argument, NULL, OPT_EVAL_EVERY},
    {"eval-lists", required_argument, NULL, OPT_EVAL_LISTS},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"snapshot-every", required_argument, NULL, OPT_SNAPSHOT_EVERY},
    {"snapshots", required_argument, NULL, OPT_SNAPSHOTS},
    {"resume", required_argument, NULL, OPT_RESUME},
    {"init", required_argument, NULL, OPT_INIT},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* An int-valued option: parsed as a long in min..max. */
static bool parse_int_option(const char *name, const char *val, long min, long max, int *out)
{
    long v;
    if (!cli_parse_long(name, val, min, max, &v))
        return false;
    *out = (int)v;
    return true;
}

/* A double-valued option that must lie in lo < x < hi (or lo <= x when
 * closed_lo); says "NAME: VAL is not RANGE" otherwise. */
static bool parse_real_option(const char *name, const char *val, double lo, bool closed_lo, double hi,
                              const char *range, double *out)
{
    if (!cli_parse_double(name, val, out))
        return false;
    if (!((closed_lo ? *out >= lo : *out > lo) && *out < hi)) {
        cli_error("%s: %s is not %s", name, val, range);
        return false;
    }
    return true;
}

/* --hard-share: a share in [0, 1]. */
static bool parse_share(const char *name, const char *val, double *out)
{
    if (!cli_parse_double(name, val, out))
        return false;
    if (!(*out >= 0 && *out <= 1)) {
        cli_error("%s: %s is not a share in [0, 1]", name, val);
        return false;
    }
    return true;
}

/* Applies option id with its value; prints a usage error and returns false
 * when the value is bad. */
static bool apply_option(TrainArgs *t, int id, const char *name, const char *val)
{
    SlTrainOptions *o = &t->o;
    SlModelConfig *c = &t->c;
    switch (id) {
    case OPT_OUT: t->out = val; return true;
    case OPT_STEPS: return cli_parse_long(name, val, 0, 1000000000L, &o->steps);
    case OPT_BATCH: return parse_int_option(name, val, 1, 65536, &o->batch);
    case OPT_LR: return parse_real_option(name, val, 0, false, 1e3, "a learning rate in (0, 1000)", &o->lr);
    case OPT_WEIGHT_DECAY: return parse_real_option(name, val, 0, true, 1e3, "in [0, 1000)", &o->weight_decay);
    case OPT_WEIGHT_DECAY_END:
        return parse_real_option(name, val, 0, true, 1e3, "in [0, 1000)", &o->weight_decay_end);
    case OPT_WEIGHT_DECAY_QK:
        return parse_real_option(name, val, 0, true, 1e3, "in [0, 1000)", &o->weight_decay_qk);
    case OPT_HARD_SHARE: return parse_share(name, val, &o->hard_share);
    case OPT_BETAS: return parse_betas(val, &o->beta1, &o->beta2);
    case OPT_EPS: return parse_real_option(name, val, 0, false, 1, "in (0, 1)", &o->eps);
    case OPT_SCHEDULE:
        if (strcmp(val, "constant") == 0) {
            o->schedule = SL_TRAIN_SCHEDULE_CONSTANT;
        } else if (strcmp(val, "cosine") == 0) {
            o->schedule = SL_TRAIN_SCHEDULE_COSINE;
        } else {
            cli_error("--schedule: '%s' is not constant or cosine", val);
            return false;
        }
        return true;
    case OPT_WARMUP: return cli_parse_long(name, val, 0, 1000000000L, &o->warmup);
    case OPT_SEED: return cli_parse_u64(name, val, UINT64_MAX, &o->seed);
    case OPT_LIST_LEN: return parse_int_option(name, val, 1, 1000, &c->list_len);
    case OPT_MAX_NUM: return parse_int_option(name, val, 1, 10000, &c->d_vocab_out);
    case OPT_D_MODEL: return parse_int_option(name, val, 1, SL_MODEL_MAX_DIM, &c->d_model);
    case OPT_HEADS: return parse_int_option(name, val, 1, SL_MODEL_MAX_HEADS, &c->n_heads);
    case OPT_D_HEAD: return parse_int_option(name, val, 1, SL_MODEL_MAX_DIM, &c->d_head);
    case OPT_LAYERS: return parse_int_option(name, val, 1, SL_MODEL_MAX_LAYERS, &c->n_layers);
    case OPT_TRAIN_BIASES: o->train_biases = true; return true;
    case OPT_EVAL_EVERY: return cli_parse_long(name, val, 0, 1000000000L, &t->eval_every);
    case OPT_EVAL_LISTS: return cli_parse_long(name, val, 1, 1000000, &t->eval_lists);
    case OPT_THREADS: return cli_parse_long(name, val, 1, 256, &t->threads);
    case OPT_SNAPSHOT_EVERY: return cli_parse_long(name, val, 1, 1000000000L, &t->snapshot_every);
    case OPT_SNAPSHOTS: return cli_parse_long(name, val, 2, 100000, &t->snapshots);
    case OPT_INIT: t->init = val; return true;
    case OPT_RESUME:   /* train_resume_prepare took it; a recorded command never holds it */
        cli_error("train: --resume given twice, or recorded in a run's command");
        return false;
    }
    return false;
}

/* Fills t from the command line, then checks the options against each other
 * and completes the config.  Returns -1 when all is well, else the exit
 * status (0 after --help). */
int train_args_parse(TrainArgs *t, int argc, char **argv)
{
    sl_train_options_default(&t->o);
    t->c = TRAIN_DEFAULT_ARCH;
    t->eval_lists = 2000;
    t->threads = 1;
    CliArgs args;
    cli_args_begin(&args, "train", argc, argv, train_options);
    const char *val;
    for (int id; (id = cli_args_next(&args, &val)) != CLI_ARG_END;) {
        if (id == CLI_ARG_BAD)
            return EXIT_USAGE;
        if (id == CLI_ARG_POSITIONAL) {
            cli_error("train: unexpected argument '%s'; try 'sortlens train --help'", cli_text(val));
            return EXIT_USAGE;
        }
        if (id == OPT_HELP) {
            usage(stdout);
            return EXIT_OK;
        }
        if (!apply_option(t, id, args.name, val))
            return EXIT_USAGE;
        if (id == OPT_OUT)
            for (int i = args.first; i < args.end; i++)
                t->not_recipe[i] = true;
    }
    SlModelConfig *c = &t->c;
    if (!t->out) {
        cli_error("train: --out PATH is required; try 'sortlens train --help'");
        return EXIT_USAGE;
    }
    if (c->d_head == 0) {
        if (c->d_model % c->n_heads) {
            cli_error("train: --d-model %d is not a multiple of --heads %d; give --d-head", c->d_model, c->n_heads);
            return EXIT_USAGE;
        }
        c->d_head = c->d_model / c->n_heads;
    }
    if (t->o.warmup > t->o.steps) {
        cli_error("train: --warmup %ld is longer than --steps %ld", t->o.warmup, t->o.steps);
        return EXIT_USAGE;
    }
    sl_model_config_derive(c);
    SlError err = {0};
    if (sl_model_config_validate(c, &err)) {
        cli_error("train: %s", err.message);
        return EXIT_USAGE;
    }
    return -1;
}
