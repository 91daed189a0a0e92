/* test_cli_options.c: the one argument walker and the one integer parser,
 * as every command sees them (issue 19 item 9, issue 17 item 8, issue 10
 * item 6). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_run.h"
#include "test_util.h"

static void expect_usage(const char *const args[], const char *needle)
{
    CliRun r;
    cli_run(&r, NULL, args);
    ck_assert_msg(r.status == 2, "%s %s: exit %d (%s)", args[0], args[1], r.status, r.err);
    ck_assert_msg(strncmp(r.err, "sortlens: ", 10) == 0 && strstr(r.err, needle), "%s %s: stderr '%s' lacks '%s'",
                  args[0], args[1], r.err, needle);
    ck_assert_msg(strchr(r.err, '\n') == r.err + strlen(r.err) - 1, "more than one line: %s", r.err);
    ck_assert_str_eq(r.out, "");
    cli_run_free(&r);
}

/* 19.9: --seed overflowed silently (99999999999999999999 became 2^64-1,
 * " -5" became 2^64-5); every integer option refuses both, naming them. */
START_TEST(test_seed_overflow_and_space_refused)
{
    const char *a[] = {"train", "--out", "/nonexistent-dir/never", "--seed", "99999999999999999999", NULL};
    expect_usage(a, "--seed: 99999999999999999999 is outside 0..18446744073709551615");
    const char *b[] = {"train", "--out", "/nonexistent-dir/never", "--seed", " -5", NULL};
    expect_usage(b, "--seed: ' -5' is not an integer");
    const char *c[] = {"train", "--out", "/nonexistent-dir/never", "--seed", "-5", NULL};
    expect_usage(c, "--seed: -5 is outside 0..");
    const char *d[] = {"eval", "--lists", " 5", NULL};
    expect_usage(d, "--lists: ' 5' is not an integer");
    const char *e[] = {"eval", "--seed", "99999999999999999999", NULL};
    expect_usage(e, "--seed: 99999999999999999999 is outside 0..9223372036854775807");
    const char *f[] = {"circuit", "ov", "--layer", "99999999999999999999", NULL};
    expect_usage(f, "--layer: 99999999999999999999 is outside 0..");
    const char *g[] = {"train", "--out", "/nonexistent-dir/never", "--steps", "+5", NULL};
    expect_usage(g, "--steps: '+5' is not an integer");
    const char *h[] = {"train", "--out", "/nonexistent-dir/never", "--lr", " 0.1", NULL};
    expect_usage(h, "--lr: ' 0.1' is not a number");
}
END_TEST

/* Every decimal option goes through the one decimal parser: the same
 * refusals as its own suite, as each command reports them. */
START_TEST(test_decimal_options_refuse_hostile_texts)
{
    const char *bad[] = {" 1", "1e999", "nan", "0x1p3", "", "1,5", "inf", "+0.1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[64];
        if (strcmp(bad[i], "1e999") == 0)
            snprintf(want, sizeof want, "--lr: 1e999 is outside the range of a double");
        else
            snprintf(want, sizeof want, "--lr: '%s' is not a number", bad[i]);
        const char *a[] = {"train", "--out", "/nonexistent-dir/never", "--lr", bad[i], NULL};
        expect_usage(a, want);
        char betas[32];
        snprintf(betas, sizeof betas, "0.9,%s", bad[i]);
        const char *b[] = {"train", "--out", "/nonexistent-dir/never", "--betas", betas, NULL};
        expect_usage(b, "is not two numbers in [0, 1) separated by a comma");
        snprintf(betas, sizeof betas, "%s,0.98", bad[i]);
        const char *c[] = {"train", "--out", "/nonexistent-dir/never", "--betas", betas, NULL};
        expect_usage(c, "is not two numbers in [0, 1) separated by a comma");
    }
    const char *d[] = {"train", "--out", "/nonexistent-dir/never", "--weight-decay", "1e-999", NULL};
    expect_usage(d, "--weight-decay: 1e-999 is outside the range of a double");
    const char *e[] = {"train", "--out", "/nonexistent-dir/never", "--hard-share", "1.5", NULL};
    expect_usage(e, "--hard-share: 1.5 is not a share in [0, 1]");
    const char *f[] = {"train", "--out", "/nonexistent-dir/never", "--hard-share", "-0.1", NULL};
    expect_usage(f, "--hard-share: -0.1 is not a share in [0, 1]");
}
END_TEST

/* mean takes --ablate as eval does: a bad spec is bad usage, a head's
 * replaced output has no attribution (shown as "-"), the spec is echoed. */
START_TEST(test_mean_ablate)
{
    const char *a[] = {"mean", "--lists", "5", "--ablate", "head:7.0", NULL};
    expect_usage(a, "head 7.0: the model has layers 0..0");
    const char *b[] = {"mean", "--lists", "5", "--ablate", "ov:pos@query=MID", NULL};
    expect_usage(b, "ov:pos");
    const char *c[] = {"mean", "--lists", "5", "--resample-seed", "-1", NULL};
    expect_usage(c, "--resample-seed: -1 is outside 0..");
    CliRun r;
    const char *d[] = {"mean", "--lists", "5", "--ablate", "HEAD:0.0@query=b3", NULL};
    cli_run(&r, NULL, d);
    ck_assert_msg(r.status == 0 && strstr(r.out, "Ablation: head:0.0@query=b3\n") && strstr(r.out, "\n  b3 ") &&
                      strstr(strstr(r.out, "\n  b3 "), "         -\n"),
                  "%d %s %s", r.status, r.out, r.err);
    cli_run_free(&r);
}
END_TEST

/* 10.6: the shared rows (--model, --lists, --seed, --layer, --head,
 * --step, --ablate, --resample-seed) are parsed once, with each command's
 * own range, and an ambiguous prefix still names the command's first row. */
START_TEST(test_shared_rows)
{
    const char *seeds[] = {"eval", "mean", "explain", "generate", "compare", "tui"};
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        const char *a[] = {seeds[i], "--seed", "x", NULL};
        expect_usage(a, "--seed: 'x' is not an integer");
    }
    const char *layers[] = {"circuit", "plot", "tui"};
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
        const char *a[] = {layers[i], "--layer", "-1", NULL};
        expect_usage(a, "--layer: -1 is outside 0..");
        const char *b[] = {layers[i], "--head", "1.5", NULL};
        expect_usage(b, "--head: '1.5' is not an integer");
    }
    const char *steps[] = {"eval", "explain", "generate", "circuit", "predict", "tui"};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        const char *a[] = {steps[i], "--step", "-3", NULL};
        expect_usage(a, "--step: -3 is outside 0..2000000000");
    }
    const char *e[] = {"eval", "--lists", "0", NULL};
    expect_usage(e, "--lists: 0 is outside 1..1000000000");
    const char *x[] = {"explain", "--lists", "0", NULL};
    expect_usage(x, "--lists: 0 is outside 1..100000000");
    const char *pl[] = {"plot", "mean-attention", "--lists", "0", NULL};
    expect_usage(pl, "--lists: 0 is outside 1..10000000");
    const char *g[] = {"generate", "--kind", "gap", "--lists", "0", NULL};
    expect_usage(g, "--lists: 0 is outside 1..4611686018427387903");
    const char *r[] = {"predict", "--resample-seed", "-1", "1", NULL};
    expect_usage(r, "--resample-seed: -1 is outside 0..9223372036854775807");
    const char *s1[] = {"eval", "--s", "3", NULL};
    expect_usage(s1, "'--s' is ambiguous (--seed or another)");
    const char *s2[] = {"tui", "--a", "3", NULL};
    expect_usage(s2, "'--a' is ambiguous (--at or another)");
    const char *s3[] = {"plot", "--l", "3", NULL};
    expect_usage(s3, "'--l' is ambiguous (--list or another)");
    const char *s4[] = {"patch", "--a", "3", NULL};
    expect_usage(s4, "'--a' is ambiguous (--at or another)");
}
END_TEST

/* 10.6: every command walks its arguments the same way: the same message
 * for an unknown option, a missing value, a value given to a flag. */
START_TEST(test_one_walker_one_set_of_messages)
{
    const char *cmds[] = {"predict", "eval", "info", "circuit", "explain", "train", "convert", "tui"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char want[128];
        snprintf(want, sizeof want, "%s: unknown option '--frobnicate'; try 'sortlens %s --help'", cmds[i], cmds[i]);
        const char *a[] = {cmds[i], "--frobnicate=3", NULL};
        expect_usage(a, want);
        snprintf(want, sizeof want, "%s: --help takes no value", cmds[i]);
        const char *b[] = {cmds[i], "--help=yes", NULL};
        expect_usage(b, want);
    }
    const char *c[] = {"eval", "--lists", NULL};
    expect_usage(c, "eval: --lists needs a value");
    const char *d[] = {"train", "--s", "3", NULL};
    expect_usage(d, "train: '--s' is ambiguous");
}
END_TEST

/* Options before, between and after the words of a list; "-3" is a value
 * of the list (refused as one), not an option; "--" ends the options. */
START_TEST(test_predict_arguments_anywhere)
{
    CliRun r;
    const char *a[] = {"predict", "5", "3", "--json", "9", "1", "0", "2", "8", "7", "4", "6", NULL};
    cli_run(&r, NULL, a);
    ck_assert_msg(r.status == 0 && strncmp(r.out, "{\"input\":[5,3,9,1,0,2,8,7,4,6]", 30) == 0, "%d %s %s", r.status,
                  r.out, r.err);
    cli_run_free(&r);
    const char *b[] = {"predict", "-3", "1", "2", "3", "4", "5", "6", "7", "8", "9", NULL};
    cli_run(&r, NULL, b);
    ck_assert_msg(r.status == 2 && strstr(r.err, "the list:") && !strstr(r.err, "option"), "%d %s", r.status, r.err);
    cli_run_free(&r);
    /* a list every bundled model so far sorts right (a run of ten consecutive values is a hard case) */
    const char *c[] = {"predict", "--", "42", "17", "26", "3", "49", "0", "26", "8", "31", "12", NULL};
    cli_run(&r, NULL, c);
    ck_assert_msg(r.status == 0 && strcmp(r.out, "0 3 8 12 17 26 26 31 42 49\n") == 0, "%d %s %s", r.status, r.out, r.err);
    cli_run_free(&r);
}
END_TEST

static Suite *make(void)
{
    Suite *s = suite_create("cli-options");
    TCase *tc = tcase_create("options");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_seed_overflow_and_space_refused);
    tcase_add_test(tc, test_decimal_options_refuse_hostile_texts);
    tcase_add_test(tc, test_mean_ablate);
    tcase_add_test(tc, test_shared_rows);
    tcase_add_test(tc, test_one_walker_one_set_of_messages);
    tcase_add_test(tc, test_predict_arguments_anywhere);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return cli_main(argc, argv, make); }
