/* The explorer's failure atlas (src/tui/atlas.c, drawn by src/render/atlas.c)
 * on the bundled model, against an independent path through the CLI: each
 * population's row, and the breakdown and first-wrong rows of one of them,
 * hold the numbers of `sortlens eval --input FILE --json` on the same lists
 * (`sortlens generate --kind KIND --lists 1000 --seed 1` for the kinds, 100
 * under memcheck, the file of `tui --input` for its row), both in the atlas's state and on the
 * drawn page; Enter loads a row's wrong lists into the history, each wrong
 * first where the row says, and `.` steps through them. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "explorer_fixture.h"
#include "render.h"
#include "test_util.h"

/* `sortlens eval --input path --json`, parsed. */
static json_t *cli_eval(const char *path)
{
    char *args[] = {"eval", "--model", (char *)bundled_model_path(), "--input", (char *)path, "--json", NULL};
    return fixture_sortlens_json(args);
}

static double num(json_t *x) { return json_is_number(x) ? json_number_value(x) : NAN; }

/* The drawn line whose row label is label (after "> " or "  "), or NULL. */
static const char *row_line(const char *text, const char *label, char *buf, size_t size)
{
    for (const char *line = text; line && *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        size_t ll = strlen(label);
        if (len > 2 + ll && (line[0] == ' ' || line[0] == '>') && line[1] == ' ' && strncmp(line + 2, label, ll) == 0 &&
            line[2 + ll] == ' ') {
            snprintf(buf, size, "%.*s", (int)len, line);
            return buf;
        }
        line = eol ? eol + 1 : NULL;
    }
    return NULL;
}

/* A row (state and drawn) against {lists, list_accuracy, token_accuracy}. */
static void check_row(const AtlasRow *r, const char *text, long lists, double list_acc, double token_acc,
                      const char *what)
{
    ck_assert_msg(r->lists == lists, "%s: %ld lists, eval %ld", what, r->lists, lists);
    if (isnan(list_acc)) {   /* an empty bucket: null in the JSON, "-" on the page */
        ck_assert(isnan(r->share));
        return;
    }
    ck_assert_msg(fabs(r->share - list_acc) < 1e-9, "%s: list accuracy %.10f, eval %.10f", what, r->share, list_acc);
    if (!isnan(token_acc))
        ck_assert_msg(fabs(r->token_acc - token_acc) < 1e-9, "%s: token accuracy %.10f, eval %.10f", what,
                      r->token_acc, token_acc);
    char line[512], want[64];
    ck_assert_msg(row_line(text, r->label, line, sizeof line), "%s: no drawn row '%s'", what, r->label);
    snprintf(want, sizeof want, "%8ld  %.4f", lists, list_acc);
    ck_assert_msg(strstr(line, want), "%s: the drawn row '%s' lacks '%s'", what, line, want);
    if (!isnan(token_acc)) {
        snprintf(want, sizeof want, " %.4f ", token_acc);
        ck_assert_msg(strstr(line, want), "%s: the drawn row '%s' lacks '%s'", what, line, want);
    }
}

static char *draw(App *a, Grid *g)
{
    app_draw(a, g);
    return grid_dump_text(g);
}

/* Moves the atlas's selection to row. */
static void select_row(App *a, int row)
{
    while (a->atlas.sel < row)
        ck_assert(app_key(a, AK_DOWN));
    while (a->atlas.sel > row)
        ck_assert(app_key(a, 'k'));
}

START_TEST(test_atlas_equals_eval)
{
    ExplorerFixture f;
    if (!explorer_fixture_open(&f))
        return;
    App *a = &f.a;
    char dir[64], input[128], path[128];
    test_tmpdir_make(dir, "atlas");
    snprintf(input, sizeof input, "%s/gap.txt", dir);
    fixture_generate("gap", test_light_workload() ? "50" : "300", "7", input);
    SlError err = {0};
    SlListFile *file = sl_list_file_open(&explorer_model(f.ex)->cfg, input, &err);
    ck_assert_msg(file, "%s", err.message);
    app_set_input(a, file, "gap.txt");
    /* under memcheck (test_light_workload) 100 lists of each kind, not 1000 */
    const char *per_kind = test_light_workload() ? "100" : "1000";
    a->atlas.lists = atol(per_kind);
    ck_assert(app_key(a, 'A'));
    ck_assert(a->atlas.on);
    atlas_wait(&a->atlas);
    ck_assert(app_tick(a));
    ck_assert_msg(a->atlas.job.rc == 0, "%s", a->atlas.job.err.message);
    Grid *g = grid_new(160, 60);
    char *text = draw(a, g);
    ck_assert_msg(strstr(text, "failure atlas"), "no atlas page:\n%s", text);
    ck_assert_int_eq(a->atlas.n_pops, 1 + SL_STRESS_KINDS);   /* the bundled model makes every kind */

    /* every population's row against eval --input on the same lists */
    const int n = explorer_scene(f.ex)->n;
    json_t *evals[1 + SL_STRESS_KINDS];
    for (int i = 0; i < a->atlas.n_pops; i++) {
        const AtlasPop *p = &a->atlas.pops[i];
        if (p->file) {
            snprintf(path, sizeof path, "%s", input);
        } else {
            snprintf(path, sizeof path, "%s/%s.txt", dir, sl_stress_name(p->kind));
            fixture_generate(sl_stress_name(p->kind), per_kind, "1", path);
        }
        json_t *j = evals[i] = cli_eval(path);
        check_row(&a->atlas.rows[i], text, (long)json_integer_value(json_object_get(j, "lists")),
                  num(json_object_get(j, "list_accuracy")), num(json_object_get(j, "token_accuracy")), p->name);
        long wrong = 0;
        json_t *fw = json_object_get(j, "first_wrong_position");
        for (int k = 0; k < n; k++)
            wrong += (long)json_integer_value(json_array_get(fw, (size_t)k));
        ck_assert_int_eq(a->atlas.rows[i].wrong, wrong);
    }
    free(text);

    /* the breakdown and first-wrong rows of the file's population (row 0,
     * the focus at first) and of the cluster lists */
    const int pops[2] = {0, 1 + SL_STRESS_CLUSTER};
    for (int t = 0; t < 2; t++) {
        select_row(a, pops[t]);
        ck_assert_int_eq(a->atlas.focus, pops[t]);
        text = draw(a, g);
        json_t *j = evals[pops[t]];
        AtlasPanel p;
        atlas_panel(&a->atlas, &p);
        ck_assert_int_eq(p.n_sections, 4);
        static const char *const axes[2] = {"by_multiplicity", "by_largest_gap"};
        for (int ax = 0; ax < 2; ax++) {
            const AtlasSectionView *sv = &p.sections[1 + ax];
            ck_assert_msg(strstr(text, sv->title), "no section '%s' drawn", sv->title);
            for (int b = 0; b < SL_BREAKDOWN_BUCKETS; b++) {
                const AtlasRow *r = &p.rows[sv->first + b];
                json_t *bucket = json_object_get(json_object_get(j, axes[ax]), r->label);
                ck_assert_msg(bucket, "eval has no %s bucket '%s'", axes[ax], r->label);
                char what[96];
                snprintf(what, sizeof what, "%s %s %s", a->atlas.pops[pops[t]].name, axes[ax], r->label);
                /* rows of one section share labels with no other row drawn but the
                 * first wrong's: look for the line in this section's part only */
                const char *part = strstr(text, sv->title);
                check_row(r, part, (long)json_integer_value(json_object_get(bucket, "lists")),
                          num(json_object_get(bucket, "list_accuracy")), num(json_object_get(bucket, "token_accuracy")),
                          what);
            }
        }
        const AtlasSectionView *sv = &p.sections[3];
        ck_assert(sv->histogram);
        json_t *fw = json_object_get(j, "first_wrong_position");
        long wrong = a->atlas.pops[pops[t]].wrong;
        for (int k = 0; k < n; k++) {
            const AtlasRow *r = &p.rows[sv->first + k];
            long count = (long)json_integer_value(json_array_get(fw, (size_t)k));
            char what[64];
            snprintf(what, sizeof what, "first wrong at b%d", k + 1);
            check_row(r, strstr(text, sv->title), count, (double)count / (double)wrong, NAN, what);
        }
        free(text);
    }

    /* Enter on the cluster lists' most common first wrong position: its wrong
     * lists, each first wrong there, one after the other with . */
    json_t *fw = json_object_get(evals[1 + SL_STRESS_CLUSTER], "first_wrong_position");
    int most = 0;
    for (int k = 1; k < n; k++)
        if (json_integer_value(json_array_get(fw, (size_t)k)) > json_integer_value(json_array_get(fw, (size_t)most)))
            most = k;
    long count = (long)json_integer_value(json_array_get(fw, (size_t)most));
    ck_assert_int_gt(count, 1);
    int before[64];
    memcpy(before, explorer_scene(f.ex)->values, (size_t)n * sizeof *before);
    ck_assert(app_key(a, AK_TAB));   /* to the cluster lists' breakdowns, then their first wrong rows */
    ck_assert(app_key(a, AK_TAB));
    ck_assert(app_key(a, AK_TAB));
    ck_assert_int_eq(a->atlas.sel, a->atlas.n_pops + 2 * SL_BREAKDOWN_BUCKETS);
    select_row(a, a->atlas.n_pops + 2 * SL_BREAKDOWN_BUCKETS + most);
    ck_assert_int_eq(a->atlas.focus, 1 + SL_STRESS_CLUSTER);
    ck_assert(app_key(a, AK_ENTER));
    ck_assert(!a->atlas.on);
    const Scene *sc = explorer_scene(f.ex);
    ck_assert_msg(sc->message && strstr(sc->message, "cluster lists first wrong at b"), "note: %s",
                  sc->message ? sc->message : "(none)");
    long expect = count < HISTORY_MAX - 1 ? count : HISTORY_MAX - 1, seen = 0;
    for (;; seen++) {
        int first = -1;
        for (int i = 0; i < n && first < 0; i++)
            if (sc->pred[i] != sc->sorted[i])
                first = i;
        ck_assert_msg(first == most, "list %ld: first wrong at b%d, not b%d", seen, first + 1, most + 1);
        int lo = sc->values[0], hi = sc->values[0];
        for (int i = 1; i < n; i++) {
            lo = sc->values[i] < lo ? sc->values[i] : lo;
            hi = sc->values[i] > hi ? sc->values[i] : hi;
        }
        ck_assert_msg(hi - lo < sl_stress_cluster_width(&explorer_model(f.ex)->cfg), "list %ld is no cluster", seen);
        app_key(a, '.');
        if (sc->message && strstr(sc->message, "no list after"))
            break;
    }
    ck_assert_int_eq(seen + 1, expect);   /* distinct lists here: the history keeps each */
    for (long i = 0; i < expect; i++)
        app_key(a, ',');
    ck_assert_int_eq(memcmp(sc->values, before, (size_t)n * sizeof *before), 0);   /* the list shown before */

    for (int i = 0; i < a->atlas.n_pops; i++)
        json_decref(evals[i]);
    grid_free(g);
    explorer_fixture_close(&f);
    sl_list_file_close(file);
    test_tmpdir_remove(dir);
}
END_TEST

/* A snapshot switch (another model) drops what was computed and starts
 * again; closing and reopening the page keeps it. */
START_TEST(test_atlas_model_changed)
{
    ExplorerFixture f;
    if (!explorer_fixture_open(&f))
        return;
    App *a = &f.a;
    a->atlas.lists = test_light_workload() ? 100 : ATLAS_LISTS;
    ck_assert(app_key(a, 'A'));
    atlas_wait(&a->atlas);
    app_tick(a);
    long wrong = a->atlas.pops[0].wrong;
    ck_assert_int_eq(a->atlas.pops[0].res.lists, a->atlas.lists);
    ck_assert(app_key(a, AK_ESC));
    ck_assert(!a->atlas.on);
    ck_assert(app_key(a, 'A'));   /* kept: nothing started again */
    ck_assert(!atlas_busy(&a->atlas));
    ck_assert_int_eq(atomic_load(&a->atlas.ready), a->atlas.n_pops);
    SlError err = {0};
    ck_assert_int_eq(atlas_model_changed(&a->atlas, explorer_model(f.ex), &err), 0);
    ck_assert_int_lt(atomic_load(&a->atlas.ready), a->atlas.n_pops);
    atlas_wait(&a->atlas);
    ck_assert_int_eq(a->atlas.pops[0].wrong, wrong);   /* the same model: the same numbers */
    explorer_fixture_close(&f);   /* also while it computes: */
    ck_assert(explorer_fixture_open(&f));
    ck_assert(app_key(&f.a, 'A'));
    explorer_fixture_close(&f);
}
END_TEST

static Suite *atlas_suite(void)
{
    Suite *s = suite_create("atlas");
    TCase *tc = tcase_create("atlas");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_atlas_equals_eval);
    tcase_add_test(tc, test_atlas_model_changed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(atlas_suite()); }
