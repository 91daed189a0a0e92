/* test_cli_blas.c: `sortlens info` on the BLAS library against OpenBLAS's
 * own report, the note on generic kernels that train and eval give once
 * (issue 15 item 3), and SORTLENS_KERNELS (issue 10 item 2). */
#include <cblas.h>
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_run.h"
#include "test_util.h"

static json_t *info_blas(json_t **root)
{
    CliRun r;
    cli_run(&r, NULL, (const char *const[]){"info", "--json", NULL});
    ck_assert_msg(r.status == 0, "info --json: exit %d: %s", r.status, r.err);
    json_error_t jerr;
    *root = json_loads(r.out, 0, &jerr);
    ck_assert_msg(*root != NULL, "info --json is not JSON: %s", jerr.text);
    cli_run_free(&r);
    json_t *b = json_object_get(*root, "blas");
    ck_assert_msg(json_is_object(b), "info --json has no blas object");
    return b;
}

static const char *str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    ck_assert_msg(json_is_string(v), "blas.%s is not a string", key);
    return json_string_value(v);
}

static bool cpuinfo_has(const char *flag) { return test_cpuinfo_flag(flag) == 1; }

/* True, and says the test is skipped, when there is no bundled model (the
 * commands run on it by default). */
static bool no_bundled_model(void)
{
    const char *dir = cli_tempdir();
    bool have_model = cli_copy_model(dir, "m.st") != NULL;
    cli_rmtree(dir);
    if (!have_model)
        printf("skipped: no bundled model in data/\n");
    return !have_model;
}

/* OpenBLAS's own report (config, kernels, threads), one per line: what this
 * program prints when started with --openblas-report. */
static void print_openblas_report(void)
{
    printf("%s\n%s\n%d\n", openblas_get_config(), openblas_get_corename(), openblas_get_num_threads());
}

/* OpenBLAS's report from a fresh start of this program, not from this
 * process: under valgrind this process runs on valgrind's simulated CPU
 * (OpenBLAS picks Haswell there), while the programs it starts run on the
 * real one, as the sortlens it compares with does. */
static void native_openblas_report(char config[256], char corename[64], int *threads)
{
    char self[4096], cmd[4200];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    ck_assert(n > 0);
    self[n] = '\0';
    snprintf(cmd, sizeof cmd, "'%s' --openblas-report", self);
    FILE *p = popen(cmd, "r");
    ck_assert(p != NULL);
    ck_assert(fgets(config, 256, p) && fgets(corename, 64, p) && fscanf(p, "%d", threads) == 1);
    config[strcspn(config, "\n")] = '\0';
    corename[strcspn(corename, "\n")] = '\0';
    ck_assert_int_eq(pclose(p), 0);
}

/* The blas block says what OpenBLAS itself says in a process started with
 * the same library and environment. */
START_TEST(test_info_blas_matches_openblas)
{
    if (no_bundled_model())
        return;
    char config[256], corename[64];
    int threads;
    native_openblas_report(config, corename, &threads);
    json_t *root, *b = info_blas(&root);
    ck_assert_str_eq(str(b, "name"), "OpenBLAS");
    ck_assert_str_eq(str(b, "config"), config);
    ck_assert_str_eq(str(b, "corename"), corename);
    ck_assert_int_eq(json_integer_value(json_object_get(b, "threads")), threads);
    /* the version the headers were built against ("  OpenBLAS 0.3.21 ") */
    char want[64];
    ck_assert_int_eq(sscanf(OPENBLAS_VERSION, " OpenBLAS %63s", want), 1);
    ck_assert_str_eq(str(b, "version"), want);
    /* the shared object, or libsortlens where OpenBLAS's static library is linked into it */
    if (json_is_true(json_object_get(b, "linked_in")))
        ck_assert_msg(strstr(str(b, "path"), "libsortlens"), "path %s", str(b, "path"));
    else
        ck_assert_msg(strstr(str(b, "path"), "openblas"), "path %s", str(b, "path"));
    json_t *cpu = json_object_get(b, "cpu");
    ck_assert(json_is_true(json_object_get(cpu, "avx2")) == cpuinfo_has("avx2"));
    ck_assert(json_is_true(json_object_get(cpu, "fma")) == cpuinfo_has("fma"));
    ck_assert(json_is_true(json_object_get(cpu, "avx512")) == (cpuinfo_has("avx512f") && cpuinfo_has("avx512bw") &&
                                                               cpuinfo_has("avx512dq") && cpuinfo_has("avx512vl")));
    ck_assert(json_is_null(json_object_get(b, "coretype_env")) == (getenv("OPENBLAS_CORETYPE") == NULL));
    printf("  blas: %s, kernels %s, %d threads\n", str(b, "config"), str(b, "corename"), threads);
    json_decref(root);

    CliRun r;
    cli_run(&r, NULL, (const char *const[]){"info", NULL});
    ck_assert_int_eq(r.status, 0);
    char line[256];
    snprintf(line, sizeof line, "kernels %s (", corename);
    ck_assert_msg(strstr(r.out, "blas:        OpenBLAS ") && strstr(r.out, line), "%s", r.out);
    cli_run_free(&r);
}
END_TEST

static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* With OpenBLAS's generic Prescott kernels forced (in this test's
 * environment only), train and eval say so once each, with the variable
 * that selects the processor's own kernels; info says it too. */
START_TEST(test_generic_kernels_noted_once)
{
    const char *dir = cli_tempdir();
    if (!cli_copy_model(dir, "m.st")) {
        printf("skipped: no bundled model in data/\n");
        cli_rmtree(dir);
        return;
    }
    const char *better = cpuinfo_has("avx512f") && cpuinfo_has("avx512bw") && cpuinfo_has("avx512dq") &&
                                 cpuinfo_has("avx512vl")
                             ? "SkylakeX"
                         : cpuinfo_has("avx2") && cpuinfo_has("fma") ? "Haswell"
                                                                      : NULL;
    char fix[64];
    snprintf(fix, sizeof fix, "OPENBLAS_CORETYPE=%s", better ? better : "");
    setenv("OPENBLAS_CORETYPE", "Prescott", 1);
    const char *const runs[][12] = {
        {"eval", "--lists", "20", NULL},
        {"train", "--out", cli_path(dir, "t.st"), "--steps", "3", "--eval-lists", "4", NULL},
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        CliRun r;
        cli_run(&r, NULL, runs[i]);
        ck_assert_msg(r.status == 0, "%s: exit %d: %s", runs[i][0], r.status, r.err);
        if (better) {
            ck_assert_msg(count(r.err, fix) == 1 && count(r.err, "generic Prescott kernels") == 1, "%s: %s",
                          runs[i][0], r.err);
            ck_assert_msg(count(r.out, "OPENBLAS_CORETYPE=") == 0, "%s: the note went to stdout", runs[i][0]);
        } else {
            ck_assert_msg(count(r.err, "OPENBLAS_CORETYPE=") == 0, "%s, no AVX2: %s", runs[i][0], r.err);
        }
        cli_run_free(&r);
    }
    json_t *root, *b = info_blas(&root);
    ck_assert_str_eq(str(b, "corename"), "Prescott");
    ck_assert_str_eq(str(b, "coretype_env"), "Prescott");
    ck_assert(json_is_true(json_object_get(b, "generic_kernels")) == (better != NULL));
    if (better) {
        ck_assert_str_eq(str(b, "better_coretype"), better);
        ck_assert_msg(strstr(str(b, "note"), fix), "%s", str(b, "note"));
    }
    json_decref(root);
    unsetenv("OPENBLAS_CORETYPE");
    cli_rmtree(dir);
}
END_TEST

/* SORTLENS_KERNELS=portable chooses the portable kernels (info says which
 * ran); a value it does not know is named on stderr, once, and the run goes
 * on with the default choice. */
START_TEST(test_kernels_variable)
{
    if (no_bundled_model())
        return;
    const char *dflt = cpuinfo_has("avx2") && cpuinfo_has("fma") ? "avx2" : "portable";
    static const struct {
        const char *value, *want;
        bool named;
    } cases[] = {{NULL, NULL, false}, {"portable", "portable", false}, {"auto", NULL, false}, {"avx512\x1b[2J", NULL, true}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].value)
            setenv("SORTLENS_KERNELS", cases[i].value, 1);
        else
            unsetenv("SORTLENS_KERNELS");
        CliRun r;
        cli_run(&r, NULL, (const char *const[]){"info", "--json", NULL});
        ck_assert_msg(r.status == 0, "%s: exit %d: %s", cases[i].value, r.status, r.err);
        json_t *root = json_loads(r.out, 0, NULL);
        ck_assert(root != NULL);
        ck_assert_str_eq(json_string_value(json_object_get(root, "kernels")), cases[i].want ? cases[i].want : dflt);
        json_decref(root);
        if (cases[i].named)
            ck_assert_msg(count(r.err, "SORTLENS_KERNELS='avx512\\x1b[2J' is not a choice") == 1 && !strchr(r.err, '\x1b'),
                          "%s", r.err);
        else
            ck_assert_str_eq(r.err, "");
        cli_run_free(&r);
    }
    unsetenv("SORTLENS_KERNELS");
}
END_TEST

/* SORTLENS_THREADS sets eval's workers (info --json: eval_threads); unset,
 * the processors online, at most 8; a value not a count from 1 to 8 is named
 * on stderr, once, and the default is used. */
START_TEST(test_threads_variable)
{
    if (no_bundled_model())
        return;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    const long dflt = online < 1 ? 1 : online > 8 ? 8 : online;
    static const struct {
        const char *value;
        long want;   /* 0: the default */
        bool named;
    } cases[] = {{NULL, 0, false}, {"", 0, false}, {"3", 3, false}, {"8", 8, false},
                 {"9", 0, true}, {"0", 0, true}, {"2x", 0, true}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].value)
            setenv("SORTLENS_THREADS", cases[i].value, 1);
        else
            unsetenv("SORTLENS_THREADS");
        CliRun r;
        cli_run(&r, NULL, (const char *const[]){"info", "--json", NULL});
        ck_assert_msg(r.status == 0, "%s: exit %d: %s", cases[i].value, r.status, r.err);
        json_t *root = json_loads(r.out, 0, NULL);
        ck_assert(root != NULL);
        ck_assert_int_eq(json_integer_value(json_object_get(root, "eval_threads")), cases[i].want ? cases[i].want : dflt);
        json_decref(root);
        if (cases[i].named) {
            char want[96];
            snprintf(want, sizeof want, "SORTLENS_THREADS='%s' is not a count from 1 to 8", cases[i].value);
            ck_assert_msg(count(r.err, want) == 1, "%s", r.err);
        } else {
            ck_assert_str_eq(r.err, "");
        }
        cli_run_free(&r);
    }
    unsetenv("SORTLENS_THREADS");
}
END_TEST

static Suite *make(void)
{
    Suite *s = suite_create("cli-blas");
    TCase *tc = tcase_create("blas");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_info_blas_matches_openblas);
    tcase_add_test(tc, test_generic_kernels_noted_once);
    tcase_add_test(tc, test_kernels_variable);
    tcase_add_test(tc, test_threads_variable);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--openblas-report") == 0) {
        print_openblas_report();
        return 0;
    }
    return cli_main(argc, argv, make);
}
