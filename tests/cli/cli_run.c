/* cli_run.c: see cli_run.h. */
#include "cli_run.h"

#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

static const char *given_exe;

const char *cli_exe(void)
{
    const char *env = getenv("SORTLENS_EXE");
    return env && *env ? env : given_exe;
}

int cli_main(int argc, char **argv, Suite *(*make)(void))
{
    given_exe = argc > 1 ? argv[1] : sortlens_exe();
    if (!cli_exe() || access(cli_exe(), X_OK) != 0) {
        printf("no sortlens executable (give it as the first argument)\n");
        return 1;
    }
    return run_suite(make());
}

char *cli_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        char *empty = calloc(1, 1);
        if (len)
            *len = 0;
        return empty;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (size_t got; (got = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
        n += got;
        if (cap - n < 2)
            buf = realloc(buf, cap *= 2);
    }
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = n;
    return buf;
}

pid_t cli_spawn(const char *const args[], const char *stdout_path, const char *stderr_path)
{
    return test_spawn(cli_exe(), args, stdout_path, stderr_path);
}

int cli_wait(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void cli_run(CliRun *r, const char *stdout_path, const char *const args[])
{
    const char *dir = cli_tempdir();
    char outf[PATH_MAX], errf[PATH_MAX];
    snprintf(outf, sizeof outf, "%s/out", dir);
    snprintf(errf, sizeof errf, "%s/err", dir);
    r->status = cli_wait(cli_spawn(args, stdout_path ? stdout_path : outf, errf));
    r->out = stdout_path ? calloc(1, 1) : cli_slurp(outf, NULL);
    r->err = cli_slurp(errf, NULL);
    cli_rmtree(dir);
}

int cli_sh(const char *cmd, const char *errfile, char *errbuf, size_t errsize)
{
    size_t len = strlen(cmd) + strlen(errfile) + 16;
    char *full = malloc(len);
    ck_assert_ptr_nonnull(full);
    snprintf(full, len, "%s 2> '%s'", cmd, errfile);
    int st = system(full);
    free(full);
    errbuf[0] = '\0';
    FILE *f = fopen(errfile, "r");
    if (f) {
        size_t got = fread(errbuf, 1, errsize - 1, f);
        errbuf[got] = '\0';
        fclose(f);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void cli_run_free(CliRun *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

const char *cli_tempdir(void)
{
    static char buf[8][64];
    static int next;
    char *b = buf[next++ % 8];
    snprintf(b, 64, "/tmp/sortlens-cli-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(b));
    return b;
}

void cli_rmtree(const char *dir)
{
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "chmod -R u+rwx '%s' 2>/dev/null; rm -rf '%s'", dir, dir);
    ck_assert_int_eq(system(cmd), 0);
}

const char *cli_path(const char *dir, const char *name)
{
    static char buf[8][PATH_MAX];
    static int next;
    char *b = buf[next++ % 8];
    snprintf(b, PATH_MAX, "%s/%s", dir, name);
    return b;
}

const char *cli_copy_model(const char *dir, const char *name)
{
    const char *src = getenv("SORTLENS_SOURCE");
    char from[PATH_MAX];
    snprintf(from, sizeof from, "%s/data/sortlens-default.safetensors", src && *src ? src : ".");
    size_t len;
    if (access(from, R_OK) != 0)
        return NULL;
    char *bytes = cli_slurp(from, &len);
    const char *to = cli_path(dir, name);
    FILE *f = fopen(to, "wb");
    ck_assert(f && fwrite(bytes, 1, len, f) == len && fclose(f) == 0);
    free(bytes);
    return to;
}

bool cli_is_root(void) { return geteuid() == 0; }
