/* test_curves.c: the explorer's progress page on a run (src/tui/curves.c):
 * the figures its worker computes for each snapshot against
 * sl_explain_compute's own on the same file (the JSON route, explain --json,
 * is tests/plot/check_progress.py's), the trainer's loss from the metadata, a
 * malformed snapshot left out and named, a snapshot added while the page is
 * open, the marker at the snapshot shown, the page reached through T in the
 * app and saved by S; and the bound on the snapshots the explorer keeps. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "curves.h"
#include "grid_rows.h"
#include "sortlens/checkpoint.h"
#include "sortlens/run.h"
#include "test_util.h"

enum { LISTS = 40 };
static char dir[64];
static SlModel *bundled;

/* Snapshot `step` of the bundled model's weights times scale, with
 * train_loss `loss` (NULL: none) in its metadata. */
static void write_snapshot(long step, float scale, const char *loss)
{
    SlError err = {0};
    for (size_t i = 0; i < bundled->num_params; i++)
        bundled->param_memory[i] *= scale;
    SlTensorSet *meta = sl_tensorset_new();
    ck_assert_ptr_nonnull(meta);
    if (loss)
        ck_assert_int_eq(sl_tensorset_set_meta(meta, "train_loss", loss, &err), 0);
    SlTensorSet *snap = sl_run_snapshot_tensors(bundled, meta, &err);
    ck_assert_msg(snap != NULL, "%s", err.message);
    ck_assert_msg(sl_run_write_snapshot(dir, step, snap, &err) == 0, "%s", err.message);
    sl_tensorset_free(snap);
    sl_tensorset_free(meta);
    for (size_t i = 0; i < bundled->num_params; i++)
        bundled->param_memory[i] /= scale;
}

static void setup(void)
{
    SlError err = {0};
    bundled = sl_ckpt_load(bundled_model_path(), &err);
    ck_assert_msg(bundled != NULL, "%s", err.message);
    test_tmpdir_make(dir, "curves");
    write_snapshot(0, 0.25f, NULL);
    write_snapshot(100, 0.5f, "1.25");
    write_snapshot(200, 1.0f, "0.0625");
    /* a snapshot that is no safetensors file at all */
    char *bad = sl_run_snapshot_path(dir, 300);
    FILE *f = fopen(bad, "wb");
    ck_assert_ptr_nonnull(f);
    fputs("\x10\0\0\0\0\0\0\0{not json", f);
    fclose(f);
    free(bad);
}

static void teardown(void)
{
    test_tmpdir_remove(dir);
    sl_model_free(bundled);
}

/* sl_explain_compute's figures for the snapshot of step, by the fields
 * the curves are documented to be. */
static void expect_values(long step, double loss, const double *got)
{
    SlError err = {0};
    char *path = sl_run_snapshot_path(dir, step);
    SlModel *m = sl_ckpt_load(path, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    SlExplain ex;
    ck_assert_msg(sl_explain_compute(m, LISTS, SL_CURVE_SEED, &ex, NULL, NULL, &err) == 0, "%s", err.message);
    const SlExplainHead *p = &ex.heads[ex.primary];
    double norm = 0;
    for (size_t i = 0; i < m->num_params; i++)
        norm += (double)m->param_memory[i] * m->param_memory[i];
    if (isnan(loss))
        ck_assert(isnan(got[SL_CURVE_LOSS]));
    else
        ck_assert_double_eq(got[SL_CURVE_LOSS], loss);
    ck_assert_double_eq(got[SL_CURVE_LIST_ACC], ex.ablations[SL_ABLATION_CLEAN].res.list_accuracy);
    ck_assert_double_eq(got[SL_CURVE_OV_COPY], (double)p->ov_hits / p->ov_total);
    ck_assert_double_eq(got[SL_CURVE_TOP_KEY], p->att.top_source_correct);
    ck_assert_double_eq(got[SL_CURVE_ON_ANSWER], p->att.correct_mass);
    ck_assert_double_eq(got[SL_CURVE_AFTER_MID], p->att.mass_after_mid);
    ck_assert_double_eq(got[SL_CURVE_QK_NEXT], (double)p->qk_hits / p->qk_total);
    ck_assert_double_eq_tol(got[SL_CURVE_WEIGHT_NORM], sqrt(norm), 1e-9 * sqrt(norm));
    sl_explain_free(&ex);
    sl_model_free(m);
    free(path);
}

START_TEST(test_values_failure_and_growth)
{
    SlError err = {0};
    char *p200 = sl_run_snapshot_path(dir, 200);
    SlModel *shown = sl_ckpt_load(p200, &err);
    ck_assert_msg(shown != NULL, "%s", err.message);
    free(p200);
    Snapshots *s = snapshots_open(dir, 200, shown, &err);
    ck_assert_msg(s != NULL, "%s", err.message);
    Curves c;
    curves_init(&c);
    c.lists = LISTS;
    ck_assert_int_eq(curves_open(&c, s, &err), 0);
    curves_wait(&c);
    ck_assert(curves_tick(&c));
    ck_assert_int_eq(atomic_load(&c.ready), 4);
    expect_values(0, NAN, c.values);
    expect_values(100, 1.25, c.values + SL_CURVE_COUNT);
    expect_values(200, 0.0625, c.values + 2 * SL_CURVE_COUNT);
    for (int k = 0; k < SL_CURVE_COUNT; k++)
        ck_assert(isnan(c.values[3 * SL_CURVE_COUNT + k]));   /* the malformed one: unknown, not zero */
    CurvesPanel p;
    curves_panel(&c, &p);
    ck_assert_int_eq(p.marker, 2);
    ck_assert_msg(p.note && p.note_bad && strstr(p.note, "1 snapshot unreadable") && strstr(p.note, "step-0000300"),
                  "%s", p.note ? p.note : "(no note)");
    /* a snapshot the training adds: listed again, measured, the rest kept */
    double before = c.values[SL_CURVE_COUNT + SL_CURVE_TOP_KEY];
    write_snapshot(400, 1.0f, "0.03");
    ck_assert_int_eq(snapshots_refresh(s, &err), 1);
    curves_tick(&c);
    curves_wait(&c);
    ck_assert(curves_tick(&c));
    ck_assert_int_eq(c.count, 5);
    ck_assert_int_eq(atomic_load(&c.ready), 5);
    ck_assert_double_eq(c.values[SL_CURVE_COUNT + SL_CURVE_TOP_KEY], before);
    expect_values(400, 0.03, c.values + 4 * SL_CURVE_COUNT);
    curves_free(&c);
    snapshots_free(s);
    sl_model_free(shown);
}
END_TEST

/* T in the app: the page, its marker following ( ); T again: back. */
START_TEST(test_app_key)
{
    SlError err = {0};
    char *p200 = sl_run_snapshot_path(dir, 200);
    SlModel *shown = sl_ckpt_load(p200, &err);
    free(p200);
    ck_assert_msg(shown != NULL, "%s", err.message);
    Explorer *ex = explorer_new(shown, "curves", 1, &err);
    ck_assert_msg(ex != NULL, "%s", err.message);
    App a;
    app_init(&a, ex, (Style){DEPTH_256, true});
    a.curves.lists = LISTS;
    ck_assert_ptr_nonnull(a.snaps = snapshots_open(dir, 200, shown, &err));
    ck_assert_int_eq(app_set_snapshot(&a, a.snaps->current, &err), 0);
    Grid *g = grid_new(100, 30);
    app_key(&a, 'T');
    ck_assert(a.curves.on);
    curves_wait(&a.curves);
    app_tick(&a);
    app_draw(&a, g);
    char *text = grid_dump_text(g);
    ck_assert_msg(strstr(text, "marker: step 200 (3 of 4)") && strstr(text, "top key right"), "%s", text);
    free(text);
    /* S: the page as the figure of plot progress, in the current directory */
    char cwd[4096];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(dir), 0);
    app_key(&a, 'S');
    FILE *svg = fopen("sortlens-progress-1.svg", "r");
    ck_assert_msg(svg != NULL, "S wrote no sortlens-progress-1.svg");
    static char body[1 << 20];
    size_t got = fread(body, 1, sizeof body - 1, svg);
    body[got] = '\0';
    fclose(svg);
    char want[96];
    snprintf(want, sizeof want, "top key right at step 200: %.17g<", a.curves.values[2 * SL_CURVE_COUNT + SL_CURVE_TOP_KEY]);
    ck_assert_msg(strstr(body, want), "the SVG lacks '%s'", want);
    unlink("sortlens-progress-1.svg");
    ck_assert_int_eq(chdir(cwd), 0);
    app_key(&a, '(');
    app_draw(&a, g);
    text = grid_dump_text(g);
    ck_assert_msg(strstr(text, "marker: step 100 (2 of 4)"), "%s", text);
    free(text);
    app_key(&a, 'T');
    ck_assert(!a.curves.on);
    grid_free(g);
    app_free(&a);
    snapshots_free(a.snaps);
    explorer_free(ex);
    sl_model_free(shown);
}
END_TEST

/* The snapshots kept within their bound: past it the one asked for least
 * recently goes (never the current or the given one), and is read again,
 * the same weights, when it is asked for again. */
START_TEST(test_snapshots_bound)
{
    SlError err = {0};
    write_snapshot(50, 0.75f, NULL);
    write_snapshot(150, 0.9f, NULL);
    char *p200 = sl_run_snapshot_path(dir, 200);
    SlModel *shown = sl_ckpt_load(p200, &err);
    free(p200);
    ck_assert_msg(shown != NULL, "%s", err.message);
    Snapshots *s = snapshots_open(dir, 200, shown, &err);   /* 0 50 100 150 200 300: 200 is index 4 */
    ck_assert_msg(s != NULL, "%s", err.message);
    s->keep_bytes = 1;   /* the floor: 3 kept */
    for (int i = 0; i < 4; i++) {
        ck_assert_ptr_nonnull(snapshots_model(s, i, &err));
        s->current = i;
        ck_assert_int_le(s->kept, 3);
    }
    ck_assert_ptr_null(s->models[0]);   /* the least recently asked for */
    ck_assert_ptr_nonnull(s->models[1]);
    ck_assert_ptr_nonnull(s->models[3]);
    const SlModel *again = snapshots_model(s, 0, &err);
    ck_assert_ptr_nonnull(again);
    ck_assert_ptr_nonnull(s->models[3]);   /* the current one stays */
    ck_assert_ptr_null(s->models[1]);
    for (size_t i = 0; i < again->num_params; i++)   /* step 0 is the bundled weights / 4 */
        ck_assert_float_eq_tol(again->param_memory[i], bundled->param_memory[i] * 0.25f,
                               1e-6f * (1 + fabsf(bundled->param_memory[i])));
    ck_assert_ptr_eq(snapshots_model(s, 4, &err), shown);   /* the given one is never read nor freed */
    snapshots_free(s);
    sl_model_free(shown);
}
END_TEST

static Suite *curves_suite(void)
{
    Suite *s = suite_create("curves");
    TCase *tc = tcase_create("run");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_values_failure_and_growth);
    tcase_add_test(tc, test_app_key);
    tcase_add_test(tc, test_snapshots_bound);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(curves_suite()); }
