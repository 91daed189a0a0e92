/* test_cli_limits.c: the limits of the machine (issue 19 item 11): under an
 * address-space limit (ulimit -v) every command either runs or fails with a
 * message, exit 1; OpenBLAS's allocator used to spin for ever from about
 * 60 MB to 300 MB.  And big configurations (item 13): explain's memory
 * grows with one list's T x T arrays, not with a batch of them. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cli_run.h"
#include "test_util.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

#ifdef UNDER_ASAN
#define SKIP_UNDER_ASAN()                                                                   \
    do {                                                                                    \
        printf("skipped: AddressSanitizer's shadow memory cannot start under ulimit -v\n"); \
        return;                                                                             \
    } while (0)
#else
#define SKIP_UNDER_ASAN() ((void)0)
#endif

START_TEST(test_address_space_limits_end)
{
    SKIP_UNDER_ASAN();
    const char *dir = cli_tempdir();
    const char *cmds[] = {"info", "eval --lists 20", "predict 5 3 9 1 0 2 8 7 4 6",
                          "train --out DIR/m.st --steps 2 --list-len 3 --max-num 6 --d-model 16 --eval-lists 5"};
    int failed_with_message = 0, failed_in_openblas_init = 0, ran = 0;
    for (int kb = 60000; kb <= 420000; kb += 40000)
        for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
            char cmd[1024], args[256];
            snprintf(args, sizeof args, "%s", cmds[i]);
            char *d = strstr(args, "DIR");
            if (d) {
                char rest[256];
                snprintf(rest, sizeof rest, "%s", d + 3);
                snprintf(d, sizeof args - (size_t)(d - args), "%s%s", dir, rest);
            }
            /* timeout: a spin is a failure, not a hung suite */
            snprintf(cmd, sizeof cmd, "ulimit -v %d; exec timeout 60 '%s' %s >/dev/null 2>'%s/err'", kb, cli_exe(), args,
                     dir);
            int st = system(cmd);
            int status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
            char errpath[512];
            snprintf(errpath, sizeof errpath, "%s/err", dir);
            char *err = cli_slurp(errpath, NULL);
            /* Lowest limits: before main, the dynamic loader cannot map the
             * libraries, or OpenBLAS's start-up cannot start its threads;
             * each says so and stops the process itself. */
            if (status != 0 && status != 124 && (strstr(err, "OpenBLAS blas_thread_init: pthread_create failed") ||
                                                 strstr(err, "error while loading shared libraries"))) {
                free(err);
                failed_in_openblas_init++;
                continue;
            }
            ck_assert_msg(status == 0 || status == 1, "ulimit -v %d: %s: exit %d (124: still running after 60 s; 137/143 a signal) %s", kb,
                          cmds[i], status, err);
            if (status == 1) {
                ck_assert_msg(strncmp(err, "sortlens: ", 10) == 0 && strstr(err, "memory"),
                              "ulimit -v %d: %s: exit 1 with '%s'", kb, cmds[i], err);
                failed_with_message++;
            } else {
                ran++;
            }
            free(err);
        }
    printf("  under ulimit -v 60..420 MB: %d runs ended with our message, %d before main (the loader's or OpenBLAS's start-up's), %d "
           "ran\n", failed_with_message, failed_in_openblas_init, ran);
    ck_assert(failed_with_message > 0 && ran > 0);   /* both sides of the limit were seen */
    cli_rmtree(dir);
}
END_TEST

/* explain on lists of 300 values (n_ctx 602) within 500 MB of address
 * space: its attention statistics kept whole caches of 256 lists at once,
 * 830 MB resident here, and failed ("out of memory for an activation
 * cache"); in batches sized to 64 MB it needs about 80 MB resident, 300 MB
 * of address space with OpenBLAS's buffer. */
START_TEST(test_explain_long_lists_bounded)
{
    SKIP_UNDER_ASAN();
    const char *dir = cli_tempdir();
    const char *model = cli_path(dir, "long.st");
    CliRun r;
    cli_run(&r, NULL, (const char *const[]){"train", "--out", model, "--steps", "1", "--list-len", "300", "--max-num", "20",
                                            "--d-model", "16", "--eval-lists", "1", NULL});
    ck_assert_msg(r.status == 0, "train: exit %d: %s", r.status, r.err);
    cli_run_free(&r);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "ulimit -v 500000; exec timeout 280 '%s' explain --model '%s' --lists 256 >'%s/out' 2>'%s/err'",
             cli_exe(), model, dir, dir);
    int st = system(cmd);
    char *out = cli_slurp(cli_path(dir, "out"), NULL), *err = cli_slurp(cli_path(dir, "err"), NULL);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "explain under ulimit -v 500000: status %d: %s", st, err);
    ck_assert_msg(strstr(out, "lists of 300 values in 0..19") && strstr(out, "Ablations"), "%s", out);
    free(out);
    free(err);
    cli_rmtree(dir);
}
END_TEST

static Suite *make(void)
{
    Suite *s = suite_create("cli-limits");
    TCase *tc = tcase_create("limits");
    tcase_set_timeout(tc, 280);
    tcase_add_test(tc, test_address_space_limits_end);
    tcase_add_test(tc, test_explain_long_lists_bounded);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return cli_main(argc, argv, make); }
