/* cli.h: what the subcommands share: error reports, the default model,
 * progress bars.  Only the CLI and TUI print; the core never does. */
#ifndef SORTLENS_CLI_H
#define SORTLENS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "sortlens/error.h"
#include "sortlens/model.h"
#include "sortlens/population.h"

/* Exit codes, as documented in sortlens(1). */
enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

/* "sortlens: <message>\n" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* s escaped for a text output or a message (sl_text_escape: no control,
 * no newline, no byte that is not UTF-8 reaches the terminal), in one of
 * eight static buffers that the next calls reuse: for a name from outside
 * (a path, an argument, a name read from a file) in a printf. */
const char *cli_text(const char *s);
/* Maps an SL_E* code to an exit status: SL_EINVAL -> 2, others -> 1. */
int cli_exit_code(int sl_code);

/* Prints root as one compact JSON line on stdout (keys in insertion order,
 * reals to `precision` significant digits) and releases it; EXIT_OK, or
 * EXIT_RUNTIME with a message when memory runs out (root may be NULL then). */
int cli_put_json_line(json_t *root, int precision);
/* The same with jansson's dump flags (JSON_INDENT(2), ...).  Every JSON
 * output goes through it, and it adds JSON_ENSURE_ASCII: a string from a
 * file (a path, a metadata value) leaves as \uXXXX for every character
 * outside ASCII, so that no C1 control (U+009B, a one-character CSI)
 * reaches a terminal; ESC and newlines are escaped as JSON requires. */
int cli_put_json(json_t *root, size_t flags);
/* A file's name (or any string from outside) as a JSON string: as it is
 * when it is UTF-8, else escaped as sl_text_escape does (a byte that is not
 * UTF-8 as \xNN), so that a name is never dropped or made null; NULL only
 * when memory runs out. */
json_t *cli_json_name(const char *name);

/* The one check of standard output, run by main after every command (and
 * --help, --version): a write that failed anywhere (a full disk, /dev/full)
 * is reported once, "sortlens: standard output: REASON", and the status
 * becomes 1.  Commands do not check stdout themselves. */
int cli_finish_output(int status);

/* The bundled model: $SORTLENS_MODEL, else next to an installed executable
 * (../share/sortlens/), else the build tree's data/, else the configured
 * install datadir.  Returns NULL (and a message in err) when none exists. */
const char *cli_default_model_path(SlError *err);
/* sl_blas_check_memory(buffers) with the message printed; false when there
 * is no room (exit 1).  cli_load_model runs it with 1; commands that load
 * otherwise too, and train with its thread count. */
bool cli_blas_ready(int buffers);
/* Says on stderr, once per process, when OpenBLAS runs generic kernels on a
 * processor with AVX2 or AVX-512, and which OPENBLAS_CORETYPE fixes it
 * (sl_blas_kernel_note); train and eval, whose time goes into BLAS, call it. */
void cli_blas_note(void);
/* Under an address-space limit (ulimit -v), OpenBLAS's worker threads,
 * started when the library loads, take 128 MB each or spin for ever trying,
 * in a race with any check: so main runs itself again, at once, with
 * OPENBLAS_NUM_THREADS=1 (unless the user set it), and the check is exact. */
void cli_one_blas_thread_under_memory_limit(char **argv);
/* sl_blas_set_threads(threads), unless the environment chose a count for
 * OpenBLAS (OPENBLAS_NUM_THREADS, GOTO_NUM_THREADS or OMP_NUM_THREADS, the
 * variables it reads): the user's choice stands. */
void cli_blas_threads_unless_set(int threads);
/* Loads --model PATH, or the default when path is NULL; prints the error
 * and returns NULL on failure (exit 1). */
SlModel *cli_load_model(const char *path);
/* The same for a run directory (a training run's snapshots, sortlens/run.h):
 * its last snapshot, or with step >= 0 the last one at or before step (said
 * on stderr when not exactly there); step >= 0 with a model file is an
 * error.  cli_model_file gives the file's path (malloc'ed; NULL after the
 * message). */
SlModel *cli_load_model_at(const char *path, long step);
char *cli_model_file(const char *path, long step);
/* explain's JSON object for model m at path (cmd_explain.c), and how it is
 * written; NULL when memory runs out. */
struct SlExplain;
json_t *cli_explain_json(const char *path, const SlModel *m, const struct SlExplain *ex);
#define CLI_EXPLAIN_JSON_FLAGS (JSON_PRESERVE_ORDER | JSON_INDENT(2) | JSON_REAL_PRECISION(10))
/* `sortlens explain` over every snapshot of a run directory (explain_run.c). */
int explain_run(const char *dir, long lists, uint64_t seed, bool json);
/* `sortlens plot progress --model RUN_DIR` (plot_progress.c); lists <= 0:
 * explain's default.  format is an SlPlotFormat (plot.h). */
int plot_progress(const char *dir, long lists, const char *out, int format);
/* The columns of explain's headline numbers (the primary head's, and the
 * clean ablation row's accuracy and loss) in a table: header, then a row. */
void cli_explain_columns_header(void);
void cli_explain_columns(const struct SlExplain *ex);
/* The same for an evaluation's token accuracy, list accuracy and loss. */
struct SlEvalResult;
void cli_eval_columns_header(void);
void cli_eval_columns(const struct SlEvalResult *r);

/* --step N, in every command that takes --model: one table row and case. */
#define CLI_OPT_STEP 0x5350
#define CLI_STEP_OPTION {"step", required_argument, NULL, CLI_OPT_STEP}
bool cli_parse_step(const char *text, long *step);

/* An output file (predict --cache, convert's OUT), checked before any work:
 * it must be writable (else the reason, EXIT_RUNTIME), and an existing file
 * is replaced only with force (else EXIT_USAGE, saying so, and saying when
 * it is the model being read, input).  EXIT_OK when it may be written. */
int cli_check_output(const char *out, bool force, const char *input);

/* --ablate SPEC (NULL: none) for model m, as every command takes it:
 * parsed into abl (a bad spec: its message, *status EXIT_USAGE), its
 * canonical text into text (SL_ABLATION_TEXT_MAX bytes, "" for none), and
 * prepared to run (sl_ablation_run_new with resample_seed and force_hooks).
 * NULL after the message, with *status set. */
struct SlAblation;
struct SlAblationRun;
struct SlAblationRun *cli_ablation_run(const SlModel *m, const char *spec, long resample_seed, bool force_hooks,
                                       struct SlAblation *abl, char *text, int *status);

/* path, or the bundled model's path when it is NULL: names the model in
 * messages. */
const char *cli_model_label(const char *path);
/* Models whose forward overflows to NaN/Inf (issue 18): one forward over a
 * random list (seed) is checked entry by entry; when something is not a
 * number, "LABEL: the model's outputs are not numbers: TENSOR[...] is nan"
 * is printed and EXIT_RUNTIME returned, else EXIT_OK.  Commands run it
 * before long work, and refuse results that are not numbers with
 * cli_report_not_numbers (what: "loss nan"), so that every command fails the
 * same way (exit 1) and no JSON is written short. */
int cli_check_finite_outputs(const char *label, const SlModel *m, uint64_t seed);
int cli_report_not_numbers(const char *label, const char *what);

/* Progress bar on stderr, drawn only when stderr is a terminal. */
typedef struct Progress {
    bool active;
    const char *label;
    double start;       /* seconds */
    double last_draw;
    long total;
} Progress;
void progress_begin(Progress *p, const char *label, long total);
void progress_update(Progress *p, long done, const char *extra /* may be NULL */);
void progress_end(Progress *p);
/* A SlProgressFn (decode.h) adapter whose ctx is a Progress. */
void progress_callback(void *ctx, long done, long total);

/* The one walk over a subcommand's arguments, with getopt_long:
 *
 *     static const struct option opts[] = {{"model", required_argument, NULL, 'm'}, ...,
 *                                           {"help", no_argument, NULL, 'h'}, {0}};
 *     CliArgs args;
 *     cli_args_begin(&args, "eval", argc, argv, opts);
 *     for (int c; (c = cli_args_next(&args, &value)) != CLI_ARG_END;)
 *         switch (c) { case 'm': ...; case CLI_ARG_POSITIONAL: ...; case CLI_ARG_BAD: return EXIT_USAGE; }
 *
 * Options are long ("--steps 5", "--steps=5", unambiguous prefixes) except
 * -h, which must map to the same val as --help.  Positional arguments come
 * back in order wherever they stand; after "--", and for a word like "-3"
 * (a bad list value, not an option), everything is positional.  A bad option
 * (unknown, ambiguous, missing or unwanted value) is reported as
 * "sortlens: CMD: ...; try 'sortlens CMD --help'" and comes back as
 * CLI_ARG_BAD.  argv[first..end-1] are the words the last option or
 * positional took; name is the option as "--steps" for messages. */
#include <getopt.h>
enum { CLI_ARG_END = -1, CLI_ARG_POSITIONAL = 1, CLI_ARG_BAD = '?' };
/* The option rows many commands share, declared once (args.c):
 *   --model PATH, --step N (cli_parse_step), --lists N (1..lists_max),
 *   --seed S (0..LONG_MAX), --layer L (0..layer_max), --head H
 *   (0..head_max), --ablate SPEC, --resample-seed S (0..LONG_MAX),
 *   --input FILE (a population command's lists), --kind KIND (a stress
 *   kind's name, which the command parses with cli_parse_stress_kind once
 *   it has checked what comes first), --list LIST (a list as text, which the
 *   command parses with sl_task_parse_list once it has the model), --json.
 * A command puts CLI_SHARED_ROW("lists") in its table where the row
 * stands (the order decides which option an ambiguous prefix names), sets
 * the defaults and ranges in a CliShared, and walks with
 * cli_args_begin_shared: cli_args_next then parses those values into the
 * CliShared itself, with the one message per option ("--lists: 0 is
 * outside 1..N"), and hands back only the command's own options.  A bad
 * value comes back as CLI_ARG_BAD, reported. */
#define CLI_SHARED 0x53ff
#define CLI_SHARED_ROW(name) {name, no_argument, NULL, CLI_SHARED}
typedef struct CliShared {
    const char *model;           /* NULL: the default model */
    long step;                   /* -1: none */
    long lists, lists_max;       /* the command sets the default and the maximum */
    long seed;
    long layer, layer_max, head, head_max;
    const char *ablate;          /* NULL: none */
    long resample_seed;          /* default 1 */
    const char *input;           /* NULL: none */
    const char *kind;            /* NULL: none */
    const char *list;            /* NULL: none */
    bool json;                   /* --json given */
    bool lists_given, seed_given, layer_given, head_given;
} CliShared;
/* The defaults every command starts from: --step -1, --resample-seed 1,
 * --layer and --head 0 in 0..SL_MODEL_MAX_LAYERS - 1, 0..SL_MODEL_MAX_HEADS - 1. */
CliShared cli_shared(void);
/* cli_shared for a command that draws random lists: --lists' default and
 * maximum, and --seed's default. */
CliShared cli_shared_lists(long lists, long lists_max, long seed);

typedef struct CliArgs {
    const char *cmd;
    int argc;
    char **argv;
    const struct option *opts;
    bool dashes;     /* "--" seen */
    int first, end;  /* argv span of the last option or positional */
    char name[40];   /* "--steps" */
    CliShared *shared;           /* NULL: no shared rows */
    struct option all[64];       /* the command's table, its shared rows filled in */
} CliArgs;
void cli_args_begin(CliArgs *a, const char *cmd, int argc, char **argv, const struct option *opts);
int cli_args_next(CliArgs *a, const char **value);
void cli_args_begin_shared(CliArgs *a, const char *cmd, int argc, char **argv, const struct option *opts,
                           CliShared *shared);
/* Appends word and a space to *joined (malloc'ed, *len its length): a list
 * given as several words, wherever they stand; false when memory runs out. */
bool cli_append_word(char **joined, size_t *len, const char *word);
/* "sortlens: CMD: unexpected argument 'ARG'; try ..."; returns EXIT_USAGE. */
int cli_args_unexpected(CliArgs *a, const char *arg);
/* The walk itself, after cli_args_begin[_shared], for a command whose own
 * options are applied one at a time: --help prints usage(stdout) (EXIT_OK),
 * a bad option (reported) is EXIT_USAGE, and every other option and each
 * positional goes to apply(ctx, c, value), which says why and returns
 * false when it is bad (EXIT_USAGE).  With apply NULL the command has no
 * options of its own but the shared rows: a positional is
 * cli_args_unexpected.  -1 when the command goes on, else the exit status. */
typedef bool (*CliApplyFn)(void *ctx, int c, const char *value);
int cli_args_walk(CliArgs *a, void (*usage)(FILE *out), CliApplyFn apply, void *ctx);
/* The shared rows of a command that evaluates a population (eval, mean):
 * random lists or --input's, under an optional --ablate, and --json;
 * each command adds its own at the end of its rows. */
#define CLI_POPULATION_ROWS "model", "lists", "seed", "input", "ablate", "resample-seed", "json"
/* The whole walk of a command whose options are shared rows only, and
 * --help: rows names them in the order of its table (NULL-terminated),
 * --help after them.  -1 when the command goes on, else the exit status. */
int cli_args_shared_only(const char *cmd, int argc, char **argv, const char *const *rows, CliShared *shared,
                         void (*usage)(FILE *out));

double cli_now(void);   /* monotonic seconds */

/* Parse an option's value (opt is its name, for the message) with the one
 * integer parser (sortlens/parse_int.h), or as a double; print a usage
 * error "OPT: ..." and return false when it is not one. */
bool cli_parse_long(const char *opt, const char *text, long min, long max, long *out);
bool cli_parse_u64(const char *opt, const char *text, uint64_t max, uint64_t *out);
bool cli_parse_double(const char *opt, const char *text, double *out);
/* --kind KIND, a stress kind's name (sortlens/stress.h); "--kind: ..." and
 * false when it names none. */
bool cli_parse_stress_kind(const char *text, SlStressKind *kind);

/* Subcommands: each handles its own --help and returns an exit status. */
/* The lists a population command reads (population_input.c): the file of
 * --input ("-": standard input), checked whole, or `lists` random lists of
 * `kind` drawn from `seed`.  cli_population_open returns 0 or an SL_E* code
 * with err filled; cli_population_close releases what it opened. */
typedef struct CliPopulation {
    SlListFile *file;        /* NULL: random lists */
    SlStressSource stress;
    SlListSource src;        /* what the population functions read */
} CliPopulation;
int cli_population_open(CliPopulation *p, const SlModelConfig *c, const char *input, SlStressKind kind, long lists,
                        long seed, SlError *err);
void cli_population_close(CliPopulation *p);
/* --input's name for a summary line: escaped, or "standard input" for "-". */
const char *cli_input_label(const char *input);

int cmd_info(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_circuit(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_mean(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_tui(int argc, char **argv);
int cmd_patch(int argc, char **argv);
int cmd_attribute(int argc, char **argv);

#endif
