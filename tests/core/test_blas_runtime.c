/* test_blas_runtime.c: the rule that judges OpenBLAS's kernels against the
 * processor (sl_blas_better_coretype), as a table, and the note it gives. */
#include <check.h>
#include <cblas.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sortlens/blas_runtime.h"
#include "sortlens/cpu.h"
#include "test_util.h"

enum { AVX2 = SL_CPU_AVX2 | SL_CPU_FMA, AVX512 = SL_CPU_AVX2 | SL_CPU_FMA | SL_CPU_AVX512 };

START_TEST(test_better_coretype_table)
{
    static const struct {
        const char *core;
        unsigned cpu;
        const char *want;   /* NULL: nothing to say */
    } cases[] = {
        /* generic kernels on a processor that has more: the machine */
        {"Prescott", AVX512, "SkylakeX"},
        {"Prescott", AVX2, "Haswell"},
        {"Core2", AVX2, "Haswell"},
        {"Nehalem", AVX512, "SkylakeX"},
        {"Sandybridge", AVX2, "Haswell"},    /* AVX without AVX2 */
        {"Opteron_SSE3", AVX2, "Haswell"},
        {"Piledriver", AVX2, "Haswell"},
        {"Unknown", AVX2, "Haswell"},
        {"PRESCOTT", AVX2, "Haswell"},      /* builds for one processor name it in capitals */
        {"prescott", AVX512, "SkylakeX"},
        /* the processor has nothing better */
        {"Prescott", 0, NULL},
        {"Nehalem", SL_CPU_FMA, NULL},
        {"Prescott", SL_CPU_AVX2, NULL},    /* AVX2 without FMA: Haswell's kernels would not run */
        /* kernels that use AVX2 or AVX-512 already */
        {"Haswell", AVX2, NULL},
        {"Zen", AVX2, NULL},                /* this project's AMD EPYC */
        {"Haswell", AVX512, NULL},
        {"SkylakeX", AVX512, NULL},
        {"Cooperlake", AVX512, NULL},
        {"SapphireRapids", AVX512, NULL},
        /* names it does not know are left alone, as is none */
        {"NeoverseN1", AVX2, NULL},
        {"", AVX2, NULL},
        {NULL, AVX2, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = sl_blas_better_coretype(cases[i].core, cases[i].cpu);
        if (!cases[i].want)
            ck_assert_msg(got == NULL, "%s on cpu %#x: %s, expected nothing", cases[i].core ? cases[i].core : "(null)",
                          cases[i].cpu, got);
        else
            ck_assert_msg(got && strcmp(got, cases[i].want) == 0, "%s on cpu %#x: %s, expected %s", cases[i].core,
                          cases[i].cpu, got ? got : "nothing", cases[i].want);
    }
}
END_TEST

/* The note names the kernels, the processor's set and the variable, and
 * shows a hostile OPENBLAS_CORETYPE escaped. */
START_TEST(test_kernel_note)
{
    char note[512];
    SlBlasInfo b = {.name = "OpenBLAS", .corename = "Prescott", .cpu = AVX2, .better_coretype = "Haswell"};
    ck_assert(sl_blas_kernel_note(&b, note, sizeof note));
    ck_assert_msg(strstr(note, "generic Prescott kernels") && strstr(note, "which has AVX2") &&
                      strstr(note, "OPENBLAS_CORETYPE=Haswell") && !strstr(note, "is set to"),
                  "%s", note);
    b.coretype_env = "Pres\x1b[2Jcott";
    b.cpu = AVX512;
    b.better_coretype = "SkylakeX";
    ck_assert(sl_blas_kernel_note(&b, note, sizeof note));
    ck_assert_msg(strstr(note, "is set to 'Pres\\x1b[2Jcott'") && strstr(note, "which has AVX-512") &&
                      strstr(note, "OPENBLAS_CORETYPE=SkylakeX") && !strchr(note, '\x1b'),
                  "%s", note);
    b.better_coretype = NULL;
    ck_assert(!sl_blas_kernel_note(&b, note, sizeof note));
    ck_assert_str_eq(note, "");
}
END_TEST

/* sl_cpu_features against the kernel's reading of the processor. */
START_TEST(test_cpu_features)
{
    unsigned f = sl_cpu_features();
    if (test_cpuinfo_flag("fpu") != 1) {
        printf("skipped: no x86 /proc/cpuinfo to compare with\n");
        return;
    }
    ck_assert_int_eq(!!(f & SL_CPU_AVX2), test_cpuinfo_flag("avx2"));
    ck_assert_int_eq(!!(f & SL_CPU_FMA), test_cpuinfo_flag("fma"));
    /* valgrind's CPUID has no AVX-512 even where the processor has it */
    if (getenv("SORTLENS_TEST_VALGRIND"))
        ck_assert_int_eq(!!(f & SL_CPU_AVX512), 0);
    else
        ck_assert_int_eq(!!(f & SL_CPU_AVX512), test_cpuinfo_flag("avx512f") && test_cpuinfo_flag("avx512bw") &&
                                                    test_cpuinfo_flag("avx512dq") && test_cpuinfo_flag("avx512vl"));
    printf("  processor: AVX2 %d, FMA %d, AVX-512 %d\n", !!(f & SL_CPU_AVX2), !!(f & SL_CPU_FMA), !!(f & SL_CPU_AVX512));
}
END_TEST

/* The threads of this process, from /proc/self/task. */
static int task_count(void)
{
    DIR *d = opendir("/proc/self/task");
    ck_assert_msg(d != NULL, "no /proc/self/task");
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* C [n, n] = A B in cblas_sgemm, against the same sums in double. */
static void check_product(int n)
{
    float *a = malloc(3 * (size_t)n * n * sizeof *a), *b = a + (size_t)n * n, *c = b + (size_t)n * n;
    ck_assert(a != NULL);
    for (int i = 0; i < n * n; i++) {
        a[i] = (float)((i * 7 % 13) - 6) / 8.0f;
        b[i] = (float)((i * 5 % 11) - 5) / 4.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    for (int i = 0; i < n; i += 37)
        for (int j = 0; j < n; j += 41) {
            double want = 0;
            for (int k = 0; k < n; k++)
                want += (double)a[i * n + k] * b[k * n + j];
            ck_assert_msg(c[i * n + j] == (float)want, "C[%d,%d] = %g, expected %g", i, j, c[i * n + j], want);
        }
    free(a);
}

/* One BLAS thread stops OpenBLAS's workers (they would spin in
 * sched_yield); two starts one again, products stay right either way. */
START_TEST(test_one_thread_stops_workers)
{
    sl_blas_set_threads(2);
    check_product(512);   /* big enough for OpenBLAS to split it */
    int with_workers = task_count();
    ck_assert_msg(with_workers >= 2, "%d threads with two BLAS threads", with_workers);
    sl_blas_set_threads(1);
    ck_assert_int_eq(task_count(), with_workers - 1);
    check_product(512);
    ck_assert_int_eq(task_count(), with_workers - 1);
    sl_blas_set_threads(2);
    ck_assert_int_eq(task_count(), with_workers);
    check_product(512);
    sl_blas_set_threads(1);
    sl_blas_set_threads(1);   /* twice: nothing more to stop */
    ck_assert_int_eq(task_count(), with_workers - 1);
}
END_TEST

static Suite *make(void)
{
    Suite *s = suite_create("blas_runtime");
    TCase *tc = tcase_create("rule");
    tcase_add_test(tc, test_better_coretype_table);
    tcase_add_test(tc, test_kernel_note);
    tcase_add_test(tc, test_cpu_features);
    tcase_add_test(tc, test_one_thread_stops_workers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(make()); }
