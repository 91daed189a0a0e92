/* test_parse_int.c: the one integer parser (sortlens/parse_int.h), against
 * hand-written cases: whole text only, the sign, overflow reported as the
 * number typed. */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "sortlens/parse_int.h"
#include "test_util.h"

static void expect_i64(const char *text, int64_t min, int64_t max, int64_t want)
{
    SlError err = {0};
    int64_t v = -12345;
    ck_assert_msg(sl_parse_i64(text, min, max, &v, &err) == 0, "'%s': %s", text, err.message);
    ck_assert_msg(v == want, "'%s' gave %lld", text, (long long)v);
}

static void expect_refused(const char *text, int64_t min, int64_t max, const char *message)
{
    SlError err = {0};
    int64_t v = 7;
    ck_assert_msg(sl_parse_i64(text, min, max, &v, &err) == SL_EINVAL, "'%s' accepted as %lld", text, (long long)v);
    ck_assert_msg(strcmp(err.message, message) == 0, "'%s': '%s', expected '%s'", text, err.message, message);
    ck_assert_int_eq(v, 7);   /* untouched */
}

START_TEST(test_accepts_whole_integers)
{
    expect_i64("0", 0, 49, 0);
    expect_i64("49", 0, 49, 49);
    expect_i64("007", 0, 49, 7);
    expect_i64("-5", -10, 10, -5);
    expect_i64("9223372036854775807", INT64_MIN, INT64_MAX, INT64_MAX);
    expect_i64("-9223372036854775808", INT64_MIN, INT64_MAX, INT64_MIN);
}
END_TEST

START_TEST(test_refuses_with_the_text_typed)
{
    expect_refused("99999999999999999999", 0, 49, "99999999999999999999 is outside 0..49");
    expect_refused("9999999999", 0, 49, "9999999999 is outside 0..49");
    expect_refused("-5", 0, 49, "-5 is outside 0..49");
    expect_refused("50", 0, 49, "50 is outside 0..49");
    expect_refused("9223372036854775808", INT64_MIN, INT64_MAX, "9223372036854775808 is outside "
                   "-9223372036854775808..9223372036854775807");
    expect_refused(" -5", 0, 49, "' -5' is not an integer");
    expect_refused("5 ", 0, 49, "'5 ' is not an integer");
    expect_refused("+5", 0, 49, "'+5' is not an integer");
    expect_refused("", 0, 49, "'' is not an integer");
    expect_refused("-", 0, 49, "'-' is not an integer");
    expect_refused("1.5", 0, 49, "'1.5' is not an integer");
    expect_refused("0x10", 0, 49, "'0x10' is not an integer");
    expect_refused("12abc", 0, 49, "'12abc' is not an integer");
}
END_TEST

START_TEST(test_u64_and_span)
{
    SlError err = {0};
    uint64_t u = 0;
    ck_assert_int_eq(sl_parse_u64("18446744073709551615", 0, UINT64_MAX, &u, &err), 0);
    ck_assert(u == UINT64_MAX);
    ck_assert_int_eq(sl_parse_u64("18446744073709551616", 0, UINT64_MAX, &u, &err), SL_EINVAL);
    ck_assert_str_eq(err.message, "18446744073709551616 is outside 0..18446744073709551615");
    ck_assert_int_eq(sl_parse_u64("-1", 0, UINT64_MAX, &u, &err), SL_EINVAL);
    ck_assert_str_eq(err.message, "-1 is outside 0..18446744073709551615");
    ck_assert_int_eq(sl_parse_u64("-0", 0, 5, &u, &err), 0);
    ck_assert(u == 0);
    int64_t v;
    ck_assert_int_eq(sl_parse_i64_span("42,17", 2, 0, 49, &v, &err), 0);   /* stops at the span's end */
    ck_assert_int_eq(v, 42);
    ck_assert_int_eq(sl_parse_i64_span("4217", 4, 0, 49, &v, &err), SL_EINVAL);
    ck_assert_str_eq(err.message, "4217 is outside 0..49");
    /* a long number is shown cut, never as another number */
    const char *huge = "123456789012345678901234567890123456789012345678901234567890";
    ck_assert_int_eq(sl_parse_i64(huge, 0, 49, &v, &err), SL_EINVAL);
    ck_assert_str_eq(err.message, "123456789012345678901234567890123456789012345678... is outside 0..49");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("parse_int");
    TCase *tc = tcase_create("parse_int");
    tcase_add_test(tc, test_accepts_whole_integers);
    tcase_add_test(tc, test_refuses_with_the_text_typed);
    tcase_add_test(tc, test_u64_and_span);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
