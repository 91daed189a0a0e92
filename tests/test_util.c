#include "test_util.h"

#include "sortlens/model.h"
#include "sortlens/task.h"

#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
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
    const char *path = getenv("SORTLENS_EXE");
    if (!path || !*path)
        path = getenv("SORTLENS_BUILD_EXE");
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

char *test_tmpdir_new(const char *tag)
{
    char dir[64];
    test_tmpdir_make(dir, tag);
    return strdup(dir);
}

char *test_path_in(const char *dir, const char *name)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char *p = malloc(len);
    ck_assert_ptr_nonnull(p);
    snprintf(p, len, "%s/%s", dir, name);
    return p;
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

double json_max_abs(json_t *x)
{
    if (json_is_number(x))
        return fabs(json_number_value(x));
    double m = 0;
    size_t i;
    json_t *v;
    const char *key;
    if (json_is_array(x))
        json_array_foreach(x, i, v) m = fmax(m, json_max_abs(v));
    else if (json_is_object(x))
        json_object_foreach(x, key, v) m = fmax(m, json_max_abs(v));
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

pid_t test_spawn(const char *exe, const char *const args[], const char *out, const char *errf)
{
    ck_assert_msg(exe != NULL, "no sortlens executable");
    const char *argv[64] = {exe};
    int argc = 1;
    for (int i = 0; args[i] && argc < 63; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    fflush(stdout);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || o < 0 || e < 0)
            _exit(126);
        dup2(in, 0);
        dup2(o, 1);
        dup2(e, 2);
        signal(SIGPIPE, SIG_DFL);
        execv(exe, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

pid_t spawn_sortlens(char *const args[], const char *out, const char *errf)
{
    return test_spawn(sortlens_exe(), (const char *const *)args, out, errf);
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

void test_make_run(const char *dir, long steps, long every, char run[256])
{
    char out[256], steps_s[24], every_s[24];
    snprintf(out, sizeof out, "%s/r.safetensors", dir);
    snprintf(run, 256, "%s/r.run", dir);
    snprintf(steps_s, sizeof steps_s, "%ld", steps);
    snprintf(every_s, sizeof every_s, "%ld", every);
    char *args[] = {"train", "--out", out, "--steps", steps_s, "--snapshot-every", every_s, "--seed", "2", NULL};
    char *errtext = NULL;
    int status = run_sortlens(args, NULL, &errtext);
    ck_assert_msg(status == 0, "train: exit %d: %s", status, errtext ? errtext : "");
    free(errtext);
}

SlTensorSet *test_tiny_model_tensors(void)
{
    SlModelConfig c = {.n_layers = 1, .n_heads = 1, .d_model = 4, .d_head = 4, .d_vocab_out = 4, .list_len = 2};
    sl_model_config_derive(&c);
    SlError err = {0};
    SlModel *m = sl_model_new(&c, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    SlTensorSet *ts = sl_model_to_tensors(m, &err);
    ck_assert_msg(ts != NULL, "%s", err.message);
    sl_model_free(m);
    return ts;
}

bool test_has_terminal_controls(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == 0x1b || *p == 0x07 || *p == 0x9b || *p == '\r')
            return true;
        if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
            return true;
    }
    return false;
}

bool test_have_torch(void)
{
    return access("/usr/bin/python3", X_OK) == 0 && system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0;
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

SlModel *test_random_model(int L, int H, int D, int E, int Vo, int n, uint64_t seed)
{
    return test_random_model_scaled(L, H, D, E, Vo, n, seed, 1.5f);
}

SlModel *test_random_model_scaled(int L, int H, int D, int E, int Vo, int n, uint64_t seed, float weight_scale)
{
    SlModelConfig c = {.n_layers = L, .n_heads = H, .d_model = D, .d_head = E, .d_vocab_out = Vo, .list_len = n};
    sl_model_config_derive(&c);
    SlError err = {0};
    SlModel *m = sl_model_new(&c, &err);
    ck_assert_msg(m, "%s", err.message);
    SlRng r;
    sl_rng_seed(&r, seed);
    for (int i = 0; i < SL_NUM_PARAM_TENSORS; i++) {
        float *w = sl_model_params_get(&m->params, i);
        float sd = i == SL_P_W_E || i == SL_P_W_POS ? 1.0f : sl_model_param_is_bias(i) ? 0.2f : weight_scale / sqrtf((float)D);
        for (size_t j = 0; j < m->param_sizes[i]; j++)
            w[j] = sd * sl_rng_normal(&r);
    }
    ck_assert_int_eq(sl_model_prepare(m, &err), 0);
    return m;
}
