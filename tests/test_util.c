#include "test_util.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *join(const char *env, const char *fallback, const char *relative, char *buf, size_t size)
{
    const char *root = getenv(env);
    snprintf(buf, size, "%s/%s", root && *root ? root : fallback, relative);
    return access(buf, R_OK) == 0 ? buf : NULL;
}

const char *shared_path(const char *relative)
{
    static char buf[8][PATH_MAX];
    static int next;
    char *b = buf[next++ % 8];
    return join("SORTLENS_SHARED", "../shared", relative, b, PATH_MAX);
}

const char *testdata_path(const char *relative)
{
    static char buf[8][PATH_MAX];
    static int next;
    char *b = buf[next++ % 8];
    return join("SORTLENS_TESTDATA", "tests/data", relative, b, PATH_MAX);
}

const char *bundled_model_path(void)
{
    static char path[PATH_MAX];
    const char *src = getenv("SORTLENS_SOURCE");
    snprintf(path, sizeof path, "%s/data/sortlens-default.safetensors", src && *src ? src : "..");
    return path;
}

/* The build's sortlens, whose path meson gives every test in
 * SORTLENS_BUILD_EXE (tests/meson.build). */
const char *sortlens_exe(void)
{
    const char *path = getenv("SORTLENS_BUILD_EXE");
    return path && access(path, X_OK) == 0 ? path : NULL;
}

void test_tmpdir_make(char dir[64], const char *tag)
{
    snprintf(dir, 64, "/tmp/sortlens-%.20s-XXXXXX", tag);
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

void test_tmpdir_remove(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

bool test_light_workload(void)
{
    const char *v = getenv("SORTLENS_TEST_LIGHT");
    return v && *v && strcmp(v, "0") != 0;
}

double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > m || d != d)
            m = d != d ? INFINITY : d;
    }
    return m;
}

double max_abs(const float *x, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs((double)x[i]) > m)
            m = fabs((double)x[i]);
    return m;
}

int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

pid_t spawn_sortlens(char *const args[], const char *out, const char *errf)
{
    const char *exe = sortlens_exe();
    char *argv[64] = {(char *)exe};
    int argc = 1;
    for (int i = 0; args[i] && argc < 63; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        if (!freopen(out, "w", stdout) || !freopen(errf, "w", stderr))
            _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

int wait_exit_status(pid_t pid)
{
    int st;
    ck_assert(waitpid(pid, &st, 0) == pid);
    ck_assert_msg(WIFEXITED(st), "sortlens did not exit normally");
    return WEXITSTATUS(st);
}

char *slurp_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert(buf && fread(buf, 1, (size_t)n, f) == (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

int run_sortlens(char *const args[], char **out, char **errtext)
{
    char outf[] = "/tmp/sortlens-test-out-XXXXXX", errf[] = "/tmp/sortlens-test-err-XXXXXX";
    close(mkstemp(outf));
    close(mkstemp(errf));
    int status = wait_exit_status(spawn_sortlens(args, outf, errf));
    char *o = slurp_file(outf, NULL), *e = slurp_file(errf, NULL);
    unlink(outf);
    unlink(errf);
    if (out)
        *out = o;
    else
        free(o);
    if (errtext)
        *errtext = e;
    else
        free(e);
    return status;
}

int test_cpuinfo_flag(const char *flag)
{
    FILE *f = fopen("/proc/cpuinfo", "r");   /* its size reads as 0: read it by lines */
    if (!f)
        return -1;
    char line[8192];
    int found = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "flags", 5) == 0 && strchr(line, ':')) {
            found = 0;
            char *save = NULL;
            for (char *t = strtok_r(strchr(line, ':') + 1, " \n", &save); t; t = strtok_r(NULL, " \n", &save))
                if (strcmp(t, flag) == 0)
                    found = 1;
            break;
        }
    fclose(f);
    return found;
}
