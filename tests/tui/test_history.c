/* The explorer's history of lists (src/tui/history.c): `,` and `.` step
 * back and forward through the lists shown (the first, random ones, the
 * wrong ones f found, typed ones); a new list after stepping back drops the
 * ones after it; the oldest go past HISTORY_MAX. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "explorer_fixture.h"
#include "history.h"
#include "test_util.h"

START_TEST(test_history_order)
{
    History h = {0};
    int a[3] = {1, 2, 3}, b[3] = {4, 5, 6}, c[3] = {7, 8, 9};
    ck_assert(history_note(&h, a, 3));
    ck_assert(history_note(&h, a, 3));   /* the same list again: not a new entry */
    ck_assert(history_note(&h, b, 3));
    ck_assert_int_eq(h.count, 2);
    ck_assert_ptr_null(history_step(&h, +1));
    const int *v = history_step(&h, -1);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(memcmp(v, a, sizeof a), 0);
    ck_assert_ptr_null(history_step(&h, -1));
    ck_assert(history_note(&h, c, 3));   /* after stepping back: b goes */
    ck_assert_int_eq(h.count, 2);
    ck_assert_int_eq(memcmp(history_step(&h, -1), a, sizeof a), 0);
    ck_assert_int_eq(memcmp(history_step(&h, +1), c, sizeof c), 0);
    for (int i = 0; i < HISTORY_MAX + 10; i++) {   /* full: the oldest go */
        int x[3] = {i, i, -i};
        ck_assert(history_note(&h, x, 3));
    }
    ck_assert_int_eq(h.count, HISTORY_MAX);
    ck_assert_int_eq(h.pos, HISTORY_MAX - 1);
    ck_assert_int_eq(h.lists[(size_t)h.pos * 3], HISTORY_MAX + 9);
    ck_assert_int_eq(h.lists[0], 10);   /* 2 + 266 noted, 256 kept: a, c and the first 10 have gone */
    history_free(&h);
}
END_TEST

static bool same(const int *x, const int *y, int n) { return memcmp(x, y, (size_t)n * sizeof *x) == 0; }

START_TEST(test_history_keys)
{
    ExplorerFixture f;
    if (!explorer_fixture_open(&f))
        return;
    App *a = &f.a;
    const Scene *sc = explorer_scene(f.ex);
    int n = sc->n, seen[4][64];
    memcpy(seen[0], sc->values, (size_t)n * sizeof(int));
    app_key(a, 'r');
    memcpy(seen[1], sc->values, (size_t)n * sizeof(int));
    app_key(a, 'f');   /* a wrong one, kept */
    memcpy(seen[2], sc->values, (size_t)n * sizeof(int));
    int wrong = 0;
    for (int i = 0; i < n; i++)
        wrong += sc->pred[i] != sc->sorted[i];
    ck_assert_int_gt(wrong, 0);
    app_key(a, 'r');
    memcpy(seen[3], sc->values, (size_t)n * sizeof(int));
    for (int i = 2; i >= 0; i--) {
        app_key(a, ',');
        ck_assert_msg(same(sc->values, seen[i], n), "back to list %d", i);
    }
    app_key(a, ',');   /* the first: stays */
    ck_assert(same(sc->values, seen[0], n));
    app_key(a, '.');
    app_key(a, '.');
    ck_assert(same(sc->values, seen[2], n));   /* the wrong one f found */
    explorer_fixture_close(&f);
}
END_TEST

static Suite *history_suite(void)
{
    Suite *s = suite_create("history");
    TCase *tc = tcase_create("history");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_history_order);
    tcase_add_test(tc, test_history_keys);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(history_suite()); }
