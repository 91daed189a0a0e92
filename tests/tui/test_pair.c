/* The explorer's clean / corrupted pair (src/tui/pair.c) and its patching
 * panel, on the bundled model: P takes the list as the clean one and shows a
 * one-value change; the panel's numbers are those of
 * `sortlens patch --clean A --corrupt B --at K --json` for the same pair at
 * every position where the sorted lists differ; r makes another one-value
 * change; P again closes it. */
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

static void list_text(const int *v, int n, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%d", i ? " " : "", v[i]);
}

static int differences(const int *a, const int *b, int n)
{
    int d = 0;
    for (int i = 0; i < n; i++)
        d += a[i] != b[i];
    return d;
}

/* `sortlens patch ... --json` for the pair at K, parsed (json_decref it). */
static json_t *cli_patch(const char *model, const int *clean, const int *corrupt, int n, int at)
{
    char c[512], k[512], at_s[16];
    list_text(clean, n, c, sizeof c);
    list_text(corrupt, n, k, sizeof k);
    snprintf(at_s, sizeof at_s, "%d", at);
    char *args[] = {"patch", "--model", (char *)model, "--clean", c, "--corrupt", k, "--at", at_s, "--json", NULL};
    return fixture_sortlens_json(args);
}

/* got against want within tol (absolute: 1e-4 of the pair's scale). */
static void check_floats(const char *what, const float *got, json_t *want, int T, double tol)
{
    ck_assert_msg(json_is_array(want) && (int)json_array_size(want) == T, "%s: not %d values in the JSON", what, T);
    for (int k = 0; k < T; k++) {
        json_t *x = json_array_get(want, (size_t)k);
        double w = json_is_number(x) ? json_number_value(x) : NAN;
        ck_assert_msg(fabs(got[k] - w) <= tol, "%s[%d]: panel %g, sortlens patch %g (tolerance %g)", what, k,
                      (double)got[k], w, tol);
    }
}

/* The panel's result against the CLI's, hook by hook and head by head, to
 * 1e-4 of the result's scale (its largest value, at least 1), as patch's
 * own suite compares with PyTorch: the CLI runs as a child process, never
 * under valgrind, so its BLAS kernels may differ from the panel's, and the
 * normalised results divide by ld_clean - ld_corrupt. */
static void check_against_cli(const SlPatchResult *r, json_t *j)
{
    ck_assert_int_eq(r->at, (int)json_integer_value(json_object_get(j, "at")));
    ck_assert_int_eq(r->clean_answer, (int)json_integer_value(json_object_get(j, "clean_answer")));
    ck_assert_int_eq(r->corrupt_answer, (int)json_integer_value(json_object_get(j, "corrupt_answer")));
    json_t *res = json_object_get(j, "results"), *st = json_object_get(j, "score_terms");
    const double ld = json_number_value(json_object_get(j, "ld_clean"));
    ck_assert_msg(fabs(r->ld_clean - ld) <= 1e-4 * fmax(1, fabs(ld)), "ld_clean: panel %.7g, sortlens patch %.7g",
                  (double)r->ld_clean, ld);
    const double tol = 1e-4 * fmax(1, fmax(json_max_abs(res), json_max_abs(st)));
    ck_assert_int_eq((int)json_object_size(res), r->n_hooks);
    for (int i = 0; i < r->n_hooks; i++) {
        const SlPatchHook *h = &r->hooks[i];
        json_t *v = json_object_get(res, h->name);
        ck_assert_msg(v != NULL, "sortlens patch has no %s", h->name);
        if (!h->heads)
            check_floats(h->name, h->exact, v, r->T, tol);
        for (int hd = 0; hd < h->heads; hd++)
            check_floats(h->name, h->exact + (size_t)hd * r->T, json_array_get(v, (size_t)hd), r->T, tol);
    }
    static const char *terms[4] = {"token_token", "token_pos", "pos_token", "pos_pos"};
    for (int hd = 0; hd < r->H; hd++)
        for (int t = 0; t < 4; t++)
            check_floats(terms[t], r->score_terms + ((size_t)hd * 4 + t) * r->T,
                         json_array_get(json_object_get(st, terms[t]), (size_t)hd), r->T, tol);
}

START_TEST(test_pair_panel_equals_patch)
{
    ExplorerFixture f;
    if (!explorer_fixture_open(&f))
        return;
    Explorer *ex = f.ex;
    App *a = &f.a;
    const Scene *sc = explorer_scene(ex);
    int n = sc->n, clean[64];
    memcpy(clean, sc->values, (size_t)n * sizeof *clean);
    Grid *g = grid_new(160, 48);
    ck_assert(app_key(a, 'P'));
    ck_assert(a->pair.on);
    ck_assert_int_eq(memcmp(a->pair.clean, clean, (size_t)n * sizeof *clean), 0);
    ck_assert_int_eq(differences(sc->values, clean, n), 1);   /* a one-value change */
    for (int round = 0; round < 2; round++) {
        int sorted_clean[64], sorted_corrupt[64], tested = 0;
        sl_task_sort_values(n, clean, sorted_clean);
        sl_task_sort_values(n, sc->values, sorted_corrupt);
        for (int at = 1; at <= n; at++) {
            explorer_select(ex, n + at);
            app_draw(a, g);
            if (sorted_clean[at - 1] == sorted_corrupt[at - 1]) {   /* nothing to patch: the panel says so */
                ck_assert(!a->pair.have);
                char *text = grid_dump_text(g);
                ck_assert_msg(strstr(text, "same in both sorted lists") != NULL, "no reason shown at b%d", at);
                free(text);
                continue;
            }
            ck_assert_msg(a->pair.have, "b%d: %s", at, a->pair.error);
            json_t *j = cli_patch(bundled_model_path(), clean, sc->values, n, at);
            check_against_cli(&a->pair.result, j);
            json_decref(j);
            /* the value at the source cursor, at the end of hook_embed's row */
            char want[32], *text = grid_dump_text(g);
            snprintf(want, sizeof want, "%+8.4f", (double)a->pair.result.hooks[0].exact[sc->cursor]);
            const char *line = strstr(text, "hook_embed");
            ck_assert_ptr_nonnull(line);
            const char *eol = strchr(line, '\n');
            ck_assert_msg(strstr(line, want) && strstr(line, want) < eol, "hook_embed's row lacks %s", want);
            free(text);
            tested++;
        }
        ck_assert_int_gt(tested, 0);
        printf("round %d: %d positions checked against sortlens patch\n", round, tested);
        fflush(stdout);
        ck_assert(app_key(a, 'r'));   /* another one-value change of the clean list */
        ck_assert_int_eq(differences(sc->values, clean, n), 1);
    }
    ck_assert(app_key(a, 'P'));
    ck_assert(!a->pair.on);
    grid_free(g);
    explorer_fixture_close(&f);
}
END_TEST

/* Opened on a run, a pair on: after a switch to another snapshot the
 * panel is that snapshot's patching (`sortlens patch` on its file). */
START_TEST(test_pair_follows_the_snapshot)
{
    char dir[64], run[256];
    test_tmpdir_make(dir, "pair");
    test_make_run(dir, 40, 20, run);
    char *last = sl_run_snapshot_path(run, 40), *first = sl_run_snapshot_path(run, 0);
    ExplorerFixture f;
    explorer_fixture_open_run(&f, run);
    App *a = &f.a;
    Explorer *ex = f.ex;
    Grid *g = grid_new(160, 48);
    ck_assert(app_key(a, 'P'));
    const Scene *sc = explorer_scene(ex);
    int n = sc->n, clean[64], sorted_clean[64], sorted_corrupt[64], at = 0;
    memcpy(clean, a->pair.clean, (size_t)n * sizeof *clean);
    sl_task_sort_values(n, clean, sorted_clean);
    sl_task_sort_values(n, sc->values, sorted_corrupt);
    for (int k = 1; k <= n && !at; k++)
        if (sorted_clean[k - 1] != sorted_corrupt[k - 1])
            at = k;
    ck_assert_int_gt(at, 0);
    explorer_select(ex, n + at);
    app_draw(a, g);
    ck_assert_msg(a->pair.have, "%s", a->pair.error);
    json_t *j = cli_patch(last, clean, sc->values, n, at);
    check_against_cli(&a->pair.result, j);
    json_decref(j);
    ck_assert(app_key(a, '^'));   /* the first snapshot: the initialisation */
    ck_assert_int_eq(a->snaps->current, 0);
    ck_assert(a->pair.on);
    app_draw(a, g);
    ck_assert_msg(a->pair.have, "%s", a->pair.error);
    j = cli_patch(first, clean, sc->values, n, at);
    check_against_cli(&a->pair.result, j);
    json_decref(j);
    free(last);
    free(first);
    grid_free(g);
    explorer_fixture_close(&f);
    test_tmpdir_remove(dir);
}
END_TEST

static Suite *pair_suite(void)
{
    Suite *s = suite_create("pair");
    TCase *tc = tcase_create("pair");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_pair_panel_equals_patch);
    tcase_add_test(tc, test_pair_follows_the_snapshot);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(pair_suite()); }
