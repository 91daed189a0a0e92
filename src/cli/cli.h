/* cli.h: what the subcommands share: error reports, the default model,
 * progress bars.  Only the CLI and TUI print; the core never does. */
#ifndef SORTLENS_CLI_H
#define SORTLENS_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "sortlens/error.h"
#include "sortlens/model.h"

/* Exit codes, as documented in sortlens(1). */
enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

/* "sortlens: <message>\n" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Maps an SL_E* code to an exit status: SL_EINVAL -> 2, others -> 1. */
int cli_exit_code(int sl_code);

/* Prints root as one compact JSON line on stdout (keys in insertion order,
 * reals to `precision` significant digits) and releases it; EXIT_OK, or
 * EXIT_RUNTIME with a message when memory runs out (root may be NULL then). */
int cli_put_json_line(json_t *root, int precision);

/* The bundled model: $SORTLENS_MODEL, else next to an installed executable
 * (../share/sortlens/), else the build tree's data/, else the configured
 * install datadir.  Returns NULL (and a message in err) when none exists. */
const char *cli_default_model_path(SlError *err);
/* Loads --model PATH, or the default when path is NULL; prints the error
 * and returns NULL on failure (exit 1). */
Model *cli_load_model(const char *path);

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
/* A ProgressFn (decode.h) adapter whose ctx is a Progress. */
void progress_callback(void *ctx, long done, long total);

/* Reports a getopt_long failure of subcommand cmd (c is ':' for a missing
 * value, else an unknown option) and returns EXIT_USAGE. */
int cli_getopt_error(const char *cmd, int c, char **argv);

double cli_now(void);   /* monotonic seconds */

/* Parses a non-negative long / a double option value; prints a usage error. */
bool cli_parse_long(const char *opt, const char *text, long min, long max, long *out);
bool cli_parse_double(const char *opt, const char *text, double *out);

/* Subcommands: each handles its own --help and returns an exit status. */
int cmd_info(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_circuit(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_tui(int argc, char **argv);

#endif
