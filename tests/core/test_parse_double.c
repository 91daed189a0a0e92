/* test_parse_double.c: the one decimal parser (sortlens/parse_double.h),
 * against hand-written cases: the values are C literals (the compiler's
 * own correctly rounded conversion), the refusals the hostile texts a user
 * or a file could hand it. */
#include <check.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sortlens/parse_double.h"
#include "test_util.h"

static void expect_value(const char *text, double want)
{
    SlError err = {0};
    double v = -12345;
    ck_assert_msg(sl_parse_double(text, &v, &err) == 0, "'%s': %s", text, err.message);
    ck_assert_msg(v == want && signbit(v) == signbit(want), "'%s' gave %.17g, expected %.17g", text, v, want);
}

static void expect_refused(const char *text, const char *message)
{
    SlError err = {0};
    double v = 7;
    ck_assert_msg(sl_parse_double(text, &v, &err) == SL_EINVAL, "'%s' accepted as %.17g", text, v);
    ck_assert_msg(strcmp(err.message, message) == 0, "'%s': '%s', expected '%s'", text, err.message, message);
    ck_assert(v == 7);   /* untouched */
}

START_TEST(test_accepts_decimals)
{
    expect_value("0", 0.0);
    expect_value("-0", -0.0);
    expect_value("1", 1.0);
    expect_value("0.1", 0.1);
    expect_value(".5", 0.5);
    expect_value("5.", 5.0);
    expect_value("-2.5e2", -250.0);
    expect_value("1e-3", 1e-3);
    expect_value("3E+2", 300.0);
    expect_value("0.98", 0.98);
    expect_value("1.7976931348623157e308", 1.7976931348623157e308);
    expect_value("2.2250738585072014e-308", 2.2250738585072014e-308);   /* the smallest normal */
    expect_value("0e-999", 0.0);   /* an exact zero, not an underflow */
    expect_value("000.250", 0.25);
}
END_TEST

START_TEST(test_refuses_hostile_texts)
{
    expect_refused(" 1", "' 1' is not a number");
    expect_refused("1 ", "'1 ' is not a number");
    expect_refused("\t1", "'\\t1' is not a number");
    expect_refused("", "'' is not a number");
    expect_refused("-", "'-' is not a number");
    expect_refused(".", "'.' is not a number");
    expect_refused("+1", "'+1' is not a number");
    expect_refused("1,5", "'1,5' is not a number");
    expect_refused("0x1p3", "'0x1p3' is not a number");
    expect_refused("0x10", "'0x10' is not a number");
    expect_refused("nan", "'nan' is not a number");
    expect_refused("NaN", "'NaN' is not a number");
    expect_refused("-nan", "'-nan' is not a number");
    expect_refused("inf", "'inf' is not a number");
    expect_refused("-Infinity", "'-Infinity' is not a number");
    expect_refused("1e", "'1e' is not a number");
    expect_refused("1e+", "'1e+' is not a number");
    expect_refused("e5", "'e5' is not a number");
    expect_refused("1.5.2", "'1.5.2' is not a number");
    expect_refused("1e5.5", "'1e5.5' is not a number");
    expect_refused("--1", "'--1' is not a number");
    expect_refused("1_000", "'1_000' is not a number");
    expect_refused("1e999", "1e999 is outside the range of a double");
    expect_refused("-1e999", "-1e999 is outside the range of a double");
    expect_refused("1e-999", "1e-999 is outside the range of a double");
    expect_refused("1e-310", "1e-310 is outside the range of a double");   /* subnormal */
    /* a long text is shown cut */
    expect_refused("123456789012345678901234567890123456789012345678901234567890x",
                   "'123456789012345678901234567890123456789012345678...' is not a number");
}
END_TEST

/* The decimal point is '.' in every locale.  This machine may have no
 * locale with a comma; then the case says so and checks the C locale. */
START_TEST(test_any_locale)
{
    const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "C.UTF-8"};
    const char *set = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !set; i++)
        set = setlocale(LC_NUMERIC, names[i]);
    if (!set || strcmp(localeconv()->decimal_point, ",") != 0)
        fprintf(stderr, "SKIP (part): no locale with a decimal comma here; '.' checked in %s\n", set ? set : "C");
    expect_value("0.25", 0.25);
    expect_refused("0,25", "'0,25' is not a number");
    setlocale(LC_NUMERIC, "C");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("parse_double");
    TCase *tc = tcase_create("parse_double");
    tcase_add_test(tc, test_accepts_decimals);
    tcase_add_test(tc, test_refuses_hostile_texts);
    tcase_add_test(tc, test_any_locale);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
