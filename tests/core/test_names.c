/* test_names.c: the one name -> enum lookup (sortlens/names.h), over
 * tables written here by hand: each name back to its index, every near
 * miss refused. */
#include <check.h>
#include <stddef.h>

#include "sortlens/names.h"
#include "test_util.h"

static const char *const colours[] = {"red", "green", NULL, "blue"};

START_TEST(test_finds_each_name)
{
    ck_assert_int_eq(sl_names_find(colours, 4, "red"), 0);
    ck_assert_int_eq(sl_names_find(colours, 4, "green"), 1);
    ck_assert_int_eq(sl_names_find(colours, 4, "blue"), 3);
}
END_TEST

START_TEST(test_refuses_near_misses)
{
    /* exact only: no prefix, no case folding, no trailing space */
    ck_assert_int_eq(sl_names_find(colours, 4, "re"), -1);
    ck_assert_int_eq(sl_names_find(colours, 4, "reds"), -1);
    ck_assert_int_eq(sl_names_find(colours, 4, "Red"), -1);
    ck_assert_int_eq(sl_names_find(colours, 4, "red "), -1);
    ck_assert_int_eq(sl_names_find(colours, 4, ""), -1);
    /* the count bounds the search: "blue" stands past the first three */
    ck_assert_int_eq(sl_names_find(colours, 3, "blue"), -1);
    ck_assert_int_eq(sl_names_find(colours, 0, "red"), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("names");
    TCase *tc = tcase_create("names");
    tcase_add_test(tc, test_finds_each_name);
    tcase_add_test(tc, test_refuses_near_misses);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
