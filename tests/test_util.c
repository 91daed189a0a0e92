#include "test_util.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

const char *sortlens_exe(void)
{
    static char path[PATH_MAX + 16];
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0)
        return NULL;
    self[len] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return NULL;
    *slash = '\0';
    snprintf(path, sizeof path, "%s/../sortlens", self);
    return access(path, X_OK) == 0 ? path : NULL;
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
