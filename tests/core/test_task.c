/* test_task.c: lists, tokens, parsing and the generator. */
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include "sortlens/task.h"
#include "test_util.h"

static SlModelConfig cfg10(void)
{
    SlModelConfig c = {.n_layers = 1, .n_heads = 1, .d_model = 128, .d_head = 128, .d_vocab_out = 50, .list_len = 10};
    sl_model_config_derive(&c);
    return c;
}

START_TEST(test_tokens_layout)
{
    SlModelConfig c = cfg10();
    int values[10] = {42, 17, 26, 3, 49, 0, 26, 8, 31, 12}, tokens[22];
    sl_task_make_tokens(&c, values, tokens);
    /* hand-written: BOS, the list, MID, the list sorted */
    int expect[22] = {50, 42, 17, 26, 3, 49, 0, 26, 8, 31, 12, 51, 0, 3, 8, 12, 17, 26, 26, 31, 42, 49};
    ck_assert_mem_eq(tokens, expect, sizeof expect);
    ck_assert_int_eq(c.n_ctx, 22);
    ck_assert_int_eq(c.d_vocab, 52);
}
END_TEST

START_TEST(test_parse_ok)
{
    SlModelConfig c = cfg10();
    int v[10];
    const int expect[10] = {5, 3, 9, 0, 49, 12, 12, 7, 1, 2};
    SlError err = {0};
    ck_assert_int_eq(sl_task_parse_list(&c, "5 3 9 0 49 12 12 7 1 2", v, &err), 0);
    ck_assert_mem_eq(v, expect, sizeof expect);
    ck_assert_int_eq(sl_task_parse_list(&c, "5,3,9,0,49,12,12,7,1,2", v, &err), 0);
    ck_assert_mem_eq(v, expect, sizeof expect);
    ck_assert_int_eq(sl_task_parse_list(&c, " [5, 3, 9, 0, 49, 12, 12, 7, 1, 2]\n", v, &err), 0);
    ck_assert_mem_eq(v, expect, sizeof expect);
}
END_TEST

static void expect_parse_error(const char *text, const char *needle)
{
    SlModelConfig c = cfg10();
    int v[10];
    SlError err = {0};
    ck_assert_int_eq(sl_task_parse_list(&c, text, v, &err), SL_EINVAL);
    ck_assert_msg(strstr(err.message, needle), "'%s': message '%s' lacks '%s'", text, err.message, needle);
}

START_TEST(test_parse_errors)
{
    expect_parse_error("1 2 3", "expected 10 numbers, got 3");
    expect_parse_error("1 2 3 4 5 6 7 8 9 10 11", "got more");
    expect_parse_error("1 2 3 4 5 6 7 8 9 50", "value 50 is outside 0..49");
    expect_parse_error("1 2 3 4 5 6 7 8 9 99999999999999999999", "outside 0..49");
    expect_parse_error("1 2 x 4 5 6 7 8 9 1", "'x' is not a number");
    expect_parse_error("1 2 -3 4 5 6 7 8 9 1", "negative");
    expect_parse_error("1 2 3.5 4 5 6 7 8 9 1", "'.' after a number");
    expect_parse_error("", "expected 10 numbers, got 0");
    expect_parse_error("\xff\xfe", "byte 0xff");
    expect_parse_error("[1 2 3 4 5 6 7 8 9 1", "'[' without ']'");
    /* issue 17.7/17.8: refused whole, with the text as typed */
    expect_parse_error("1.5 2 3 4 5 6 7 8 9 10", "'1.5': '.' after a number");
    expect_parse_error("-1 2 3 4 5 6 7 8 9 10", "'-1' is negative");
    expect_parse_error("(1 ... 10)", "'(1' is not a number");
    expect_parse_error("1,,2,3,4,5,6,7,8,9", "an empty value between two commas");
    expect_parse_error(",1,2,3,4,5,6,7,8,9,10", "a comma before the first value");
    expect_parse_error("1,2,3,4,5,6,7,8,9,10,", "a comma after the last value");
    expect_parse_error("1 2 3 4 5 6 7 8 9 99999999999999999999", "value 99999999999999999999 is outside 0..49");
    expect_parse_error("1 2 3 4 5 6 7 8 9 1x", "'1x': 'x' after a number");
}
END_TEST

START_TEST(test_rng_distribution)
{
    /* uniform over 0..49: each bucket of 500,000 draws within 5 sigma */
    SlRng r;
    sl_rng_seed(&r, 1234);
    long counts[50] = {0};
    const long draws = 500000;
    for (long i = 0; i < draws; i++)
        counts[sl_rng_below(&r, 50)]++;
    double expect = draws / 50.0, sigma = sqrt(expect * (1 - 1 / 50.0));
    for (int i = 0; i < 50; i++)
        ck_assert_msg(fabs(counts[i] - expect) < 5 * sigma, "bucket %d: %ld", i, counts[i]);
    /* normal: mean ~0, variance ~1 */
    double s = 0, s2 = 0;
    for (long i = 0; i < draws; i++) {
        double x = sl_rng_normal(&r);
        s += x;
        s2 += x * x;
    }
    ck_assert_double_lt(fabs(s / draws), 0.01);
    ck_assert_double_lt(fabs(s2 / draws - 1.0), 0.01);
    /* same seed, same stream */
    SlRng a, b;
    sl_rng_seed(&a, 7);
    sl_rng_seed(&b, 7);
    for (int i = 0; i < 100; i++)
        ck_assert_uint_eq(sl_rng_next(&a), sl_rng_next(&b));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("task");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_tokens_layout);
    tcase_add_test(tc, test_parse_ok);
    tcase_add_test(tc, test_parse_errors);
    tcase_add_test(tc, test_rng_distribution);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
