/* The explorer's population mode (src/tui/popview.c) on the bundled model:
 * m shows means over 1000 uniform lists, M the next stress kind; the
 * heatmap's weights and the score terms under the cursor are those of
 * `sortlens mean --lists 1000 --seed 1 [--kind KIND] --json`, and the titles
 * say the size and kind. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "explorer_fixture.h"
#include "panels.h"
#include "render.h"
#include "sortlens/run.h"
#include "test_util.h"

static json_t *cli_mean(const char *model, const char *kind)
{
    char *args[] = {"mean", "--model", (char *)model, "--lists", "1000", "--seed", "1", "--json",
                    kind ? "--kind" : NULL, (char *)kind, NULL};
    return fixture_sortlens_json(args);
}

static double num(json_t *x) { return json_is_number(x) ? json_number_value(x) : NAN; }

/* The drawn scene's arrays against mean --json (layer 0, head 0). */
static void check_scene(const Scene *sc, json_t *j, int lists)
{
    ck_assert_int_eq((int)json_integer_value(json_object_get(j, "lists")), lists);
    json_t *pat = json_array_get(json_array_get(json_object_get(j, "pattern"), 0), 0);
    json_t *st = json_object_get(j, "score_terms");
    static const char *terms[4] = {"token_token", "token_pos", "pos_token", "pos_pos"};
    float root = sqrtf((float)sc->E);
    int checked = 0;
    for (int q = 0; q < sc->T; q++)
        for (int k = 0; k <= q; k++) {
            double w = num(json_array_get(json_array_get(pat, (size_t)q), (size_t)k));
            ck_assert_msg(fabs(sc->pattern[q * sc->T + k] - w) <= 1e-5, "pattern[%d][%d]: %g, mean %g", q, k,
                          (double)sc->pattern[q * sc->T + k], w);
            float t[4];
            ck_assert(scene_score_terms_at(sc, q, k, t));
            double sum = 0;
            for (int i = 0; i < 4; i++) {
                double want = num(json_array_get(json_array_get(json_array_get(json_object_get(st, terms[i]), 0),
                                                                (size_t)q), (size_t)k));
                ck_assert_msg(fabs(t[i] / root - want) <= 1e-4 * (1 + fabs(want)), "%s[%d][%d]: %g, mean %g",
                              terms[i], q, k, (double)(t[i] / root), want);
                sum += want;
            }
            ck_assert(fabs(sc->scores[q * sc->T + k] - sum) <= 1e-4 * (1 + fabs(sum)));
            checked++;
        }
    ck_assert_int_gt(checked, 0);
}

/* The scene app_draw draws: the explorer's with the population mode's arrays. */
static Scene drawn_scene(App *a)
{
    Scene sc = *explorer_scene(a->ex);
    popview_scene(&a->pop, &sc);
    return sc;
}

START_TEST(test_population_means_equal_mean)
{
    ExplorerFixture f;
    if (!explorer_fixture_open(&f))
        return;
    App *a = &f.a;
    Grid *g = grid_new(160, 48);
    ck_assert(app_key(a, 'm'));
    ck_assert(a->pop.on);
    Scene sc = drawn_scene(a);
    ck_assert_ptr_nonnull(sc.population);
    ck_assert_str_eq(sc.population, "1000 uniform lists");
    json_t *j = cli_mean(bundled_model_path(), NULL);
    check_scene(&sc, j, 1000);
    json_decref(j);
    app_draw(a, g);
    char *text = grid_dump_text(g);
    ck_assert_msg(strstr(text, "mean attention weights over 1000 uniform lists"), "no population title");
    free(text);
    ck_assert(app_key(a, 'M'));   /* the next kind: distinct */
    sc = drawn_scene(a);
    ck_assert_str_eq(sc.population, "1000 distinct lists");
    j = cli_mean(bundled_model_path(), "distinct");
    check_scene(&sc, j, 1000);
    json_decref(j);
    ck_assert(app_key(a, 'm'));   /* back to the list */
    ck_assert(!a->pop.on);
    sc = drawn_scene(a);
    ck_assert_ptr_null(sc.population);
    grid_free(g);
    explorer_fixture_close(&f);
}
END_TEST

/* `sortlens mean --input path --json`. */
static json_t *cli_mean_input(const char *path)
{
    char *args[] = {"mean", "--model", (char *)bundled_model_path(), "--input", (char *)path, "--json", NULL};
    return fixture_sortlens_json(args);
}

/* --input FILE: the file's lists are m's population, averaged at once when
 * small and in the background when large (the list's own arrays and a
 * note until then); M goes on to the kinds. */
START_TEST(test_population_of_a_file)
{
    ExplorerFixture f;
    if (!explorer_fixture_open(&f))
        return;
    App *a = &f.a;
    char dir[64], small[128], large[128];
    test_tmpdir_make(dir, "popview");
    snprintf(small, sizeof small, "%s/run.txt", dir);
    snprintf(large, sizeof large, "%s/gap.txt", dir);
    int n_large = POPVIEW_SYNC_LISTS + 500;
    char count[16];
    snprintf(count, sizeof count, "%d", n_large);
    fixture_generate("run", "300", "5", small);
    fixture_generate("gap", count, "5", large);
    SlError err = {0};
    const SlModelConfig *c = &explorer_model(f.ex)->cfg;
    SlListFile *fs = sl_list_file_open(c, small, &err), *fl = sl_list_file_open(c, large, &err);
    ck_assert_msg(fs && fl, "%s", err.message);

    app_set_input(a, fs, "run.txt");   /* small: at once */
    ck_assert(app_key(a, 'm'));
    Scene sc = drawn_scene(a);
    ck_assert_ptr_nonnull(sc.population);
    ck_assert_str_eq(sc.population, "300 lists of run.txt");
    json_t *j = cli_mean_input(small);
    check_scene(&sc, j, 300);
    json_decref(j);
    ck_assert(app_key(a, 'M'));   /* the file first, then the kinds */
    sc = drawn_scene(a);
    ck_assert_str_eq(sc.population, "1000 uniform lists");
    ck_assert(app_key(a, 'm'));

    app_set_input(a, fl, "gap.txt");   /* large: in the background */
    ck_assert(app_key(a, 'm'));
    ck_assert(a->pop.on);
    sc = drawn_scene(a);
    printf("2500 lists: %s\n", a->pop.computing ? "averaged in the background" : "done at once");
    ck_assert(a->pop.computing);   /* until the key loop's tick takes the result */
    {
        ck_assert_ptr_null(sc.population);
        ck_assert_ptr_eq(sc.pattern, explorer_scene(f.ex)->pattern);   /* the list's own, said so: */
        ck_assert_msg(sc.message && strstr(sc.message, "averaging 2500 lists of gap.txt"), "note: %s",
                      sc.message ? sc.message : "(none)");
    }
    popview_wait(&a->pop);
    ck_assert(app_tick(a));
    ck_assert(!a->pop.computing);
    sc = drawn_scene(a);
    ck_assert_ptr_nonnull(sc.population);
    ck_assert_str_eq(sc.population, "2500 lists of gap.txt");
    j = cli_mean_input(large);
    check_scene(&sc, j, n_large);
    json_decref(j);
    ck_assert(app_key(a, 'M'));   /* to the kinds, and back to the file: it starts again, and stops on free */
    ck_assert_str_eq(drawn_scene(a).population, "1000 uniform lists");
    ck_assert_int_eq(popview_step_kind(&a->pop, explorer_model(f.ex), -1, &err), 0);
    ck_assert(a->pop.from_file);
    explorer_fixture_close(&f);
    sl_list_file_close(fs);
    sl_list_file_close(fl);
    test_tmpdir_remove(dir);
}
END_TEST

/* Opened on a run, population mode on: a switch to another snapshot shows
 * that snapshot's means (`sortlens mean` on its file), not the old ones. */
START_TEST(test_population_follows_the_snapshot)
{
    char dir[64], run[256];
    test_tmpdir_make(dir, "popview");
    test_make_run(dir, 40, 20, run);
    char *last = sl_run_snapshot_path(run, 40), *first = sl_run_snapshot_path(run, 0);
    ExplorerFixture f;
    explorer_fixture_open_run(&f, run);
    App *a = &f.a;
    ck_assert(app_key(a, 'm'));
    Scene sc = drawn_scene(a);
    json_t *j = cli_mean(last, NULL);
    check_scene(&sc, j, 1000);
    json_decref(j);
    ck_assert(app_key(a, '^'));   /* the first snapshot: the initialisation */
    ck_assert_int_eq(a->snaps->current, 0);
    ck_assert_msg(a->error[0] == '\0', "%s", a->error);
    ck_assert(a->pop.on);
    sc = drawn_scene(a);
    j = cli_mean(first, NULL);
    check_scene(&sc, j, 1000);
    json_decref(j);
    free(last);
    free(first);
    explorer_fixture_close(&f);
    test_tmpdir_remove(dir);
}
END_TEST

static Suite *popview_suite(void)
{
    Suite *s = suite_create("popview");
    TCase *tc = tcase_create("popview");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_population_means_equal_mean);
    tcase_add_test(tc, test_population_follows_the_snapshot);
    tcase_add_test(tc, test_population_of_a_file);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(popview_suite()); }
