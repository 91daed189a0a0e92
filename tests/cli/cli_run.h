/* cli_run.h: running the sortlens executable from the CLI suites: its exit
 * status, standard output and standard error, in a throw-away directory. */
#ifndef SORTLENS_CLI_RUN_H
#define SORTLENS_CLI_RUN_H

#include <check.h>
#include <stdbool.h>
#include <sys/types.h>

/* $SORTLENS_EXE (to run the suites against another build, e.g. the
 * baseline's, and see which tests fail there), else the executable given to
 * cli_main (the suite's first argument, from meson). */
const char *cli_exe(void);
/* Every suite's main: runs s with the executable from argv[1]. */
int cli_main(int argc, char **argv, Suite *(*make)(void));

typedef struct CliRun {
    int status;     /* exit status, or 128 + the signal that ended it */
    char *out;      /* standard output (empty when it went to stdout_path) */
    char *err;      /* standard error */
} CliRun;

/* Runs sortlens with args (NULL-terminated, without the program name), its
 * standard input from /dev/null and standard output to stdout_path when it
 * is not NULL; fills r (free with cli_run_free). */
void cli_run(CliRun *r, const char *stdout_path, const char *const args[]);
void cli_run_free(CliRun *r);
/* The same, started in the background: stdout and stderr go to files. */
pid_t cli_spawn(const char *const args[], const char *stdout_path, const char *stderr_path);
int cli_wait(pid_t pid);   /* exit status, or 128 + signal */

/* Runs cmd through sh with its standard error to errfile; returns the exit
 * status (-1 when it did not exit) and that standard error in errbuf. */
int cli_sh(const char *cmd, const char *errfile, char *errbuf, size_t errsize);

/* A fresh directory under /tmp (static buffer per call, up to 8 live), and
 * removing it with everything in it. */
const char *cli_tempdir(void);
void cli_rmtree(const char *dir);
/* dir/name in a static buffer (8 live). */
const char *cli_path(const char *dir, const char *name);

/* The bundled model copied into dir (so that a test may overwrite it); NULL
 * when there is no bundled model. */
const char *cli_copy_model(const char *dir, const char *name);
char *cli_slurp(const char *path, size_t *len);
bool cli_is_root(void);

#endif
