/* test_curves.c: the progress page (render_curves) read back cell by cell
 * from hand-made values: each point's braille dot where the hand
 * calculation puts it (x evenly by snapshot, y linear in the range, 0..1 for
 * fractions, min..max otherwise), the marker's column, the values written at
 * the marker, and the page at tiny and huge sizes, with one snapshot, in
 * ASCII. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grid_rows.h"
#include "panels.h"
#include "render.h"
#include "test_util.h"

static const Style C256_UTF8 = {DEPTH_256, true};
static const Style MONO_ASCII = {DEPTH_MONO, false};

enum { COUNT = 5 };
static const long steps[COUNT] = {0, 10, 20, 40, 80};
static double values[COUNT * SL_CURVE_COUNT];

static CurvesPanel make_panel(int marker)
{
    for (int i = 0; i < COUNT; i++)
        for (int c = 0; c < SL_CURVE_COUNT; c++) {
            double v;
            if (c == SL_CURVE_LOSS)
                v = i == 0 ? NAN : 4.0 / i;          /* unknown at step 0, then 4, 2, 1.33, 1 */
            else if (c == SL_CURVE_WEIGHT_NORM)
                v = 10 + 5 * i;                      /* 10..30 */
            else
                v = fmod(0.1 * c + 0.23 * i, 1.0);   /* fractions, different per curve */
            values[i * SL_CURVE_COUNT + c] = v;
        }
    return (CurvesPanel){"Progress of test.run", NULL, false, COUNT, steps, values, COUNT, marker};
}

/* The range by hand: fractions 0..1; the loss 1..4; the norm 10..30. */
static void hand_range(int c, double *lo, double *hi)
{
    *lo = c == SL_CURVE_LOSS ? 1 : c == SL_CURVE_WEIGHT_NORM ? 10 : 0;
    *hi = c == SL_CURVE_LOSS ? 4 : c == SL_CURVE_WEIGHT_NORM ? 30 : 1;
}

/* Every finite point of every curve has its dot lit, where the hand
 * calculation says; returns the points checked. */
static int check_dots(const Grid *g, const CurvesPanel *p, Style st)
{
    CurvePlot plots[SL_CURVE_COUNT];
    curves_layout(p, st, g->w, g->h, plots);
    int checked = 0, xs = st.utf8 ? 2 : 1, ys = st.utf8 ? 4 : 1;
    for (int c = 0; c < SL_CURVE_COUNT; c++) {
        const Rect a = plots[c].area;
        ck_assert_int_gt(a.w, 0);
        ck_assert_msg(a.x >= 0 && a.y >= 1 && a.x + a.w <= g->w && a.y + a.h <= g->h, "curve %d's plot is off the grid", c);
        double lo, hi;
        hand_range(c, &lo, &hi);
        ck_assert_double_eq_tol(plots[c].lo, lo, 1e-12);
        ck_assert_double_eq_tol(plots[c].hi, hi, 1e-12);
        int DW = a.w * xs, DH = a.h * ys;
        for (int i = 0; i < p->count; i++) {
            double v = p->values[i * SL_CURVE_COUNT + c];
            if (!isfinite(v))
                continue;
            int dx = p->count == 1 ? DW / 2 : (int)lround((double)i * (DW - 1) / (p->count - 1));
            int dy = (int)lround((hi - v) / (hi - lo) * (DH - 1));
            const Cell *cell = grid_cell(g, a.x + dx / xs, a.y + dy / ys);
            if (st.utf8) {
                static const unsigned bits[2][4] = {{0x01, 0x02, 0x04, 0x40}, {0x08, 0x10, 0x20, 0x80}};
                ck_assert_msg(cell->ch >= 0x2800 && cell->ch <= 0x28ff && ((cell->ch - 0x2800) & bits[dx % 2][dy % 4]),
                              "curve %d point %d (%g): no dot at (%d, %d) of the plot (cell U+%04X)", c, i, v, dx, dy,
                              (unsigned)cell->ch);
            } else {
                ck_assert_msg(cell->ch == '*', "curve %d point %d: '%c' at (%d, %d)", c, i, (int)cell->ch, dx, dy);
            }
            checked++;
        }
        /* the name on the line above the plot */
        char row[256];
        grid_row_text(g, plots[c].box.x, plots[c].box.y, plots[c].box.w, row, sizeof row);
        ck_assert_msg(strncmp(row, sl_curve_info(c)->name, strlen(sl_curve_info(c)->name)) == 0, "'%s'", row);
    }
    return checked;
}

START_TEST(test_points_and_marker)
{
    static const int sizes[][2] = {{80, 22}, {160, 46}, {300, 98}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        Grid *g = grid_new(sizes[s][0], sizes[s][1]);
        CurvesPanel p = make_panel(2);
        Canvas cv = canvas_of(g, C256_UTF8);
        render_curves(&cv, &p);
        ck_assert_int_eq(check_dots(g, &p, C256_UTF8), SL_CURVE_COUNT * COUNT - 1);   /* the loss at step 0 is unknown */
        /* the marker: one column of each plot, the one snapshot 2's dots are in */
        CurvePlot plots[SL_CURVE_COUNT];
        curves_layout(&p, C256_UTF8, g->w, g->h, plots);
        for (int c = 0; c < SL_CURVE_COUNT; c++) {
            const Rect a = plots[c].area;
            int mcol = (int)lround(2.0 * (a.w * 2 - 1) / (COUNT - 1)) / 2;
            for (int x = 0; x < a.w; x++)
                for (int y = 0; y < a.h; y++)
                    ck_assert_msg((grid_cell(g, a.x + x, a.y + y)->bg == COL_SELECT) == (x == mcol),
                                  "%dx%d curve %d: the marker at column %d, expected %d", g->w, g->h, c, x, mcol);
            /* the value at the marker on the name line, as %.4f for a fraction */
            char row[256], want[32];
            grid_row_text(g, plots[c].box.x, plots[c].box.y, plots[c].box.w, row, sizeof row);
            double v = values[2 * SL_CURVE_COUNT + c];
            snprintf(want, sizeof want, sl_curve_info(c)->fraction ? "%.4f" : "%.4g", v);
            ck_assert_msg(strstr(row, want), "'%s' lacks %s", row, want);
        }
        char *text = grid_dump_text(g);
        ck_assert_msg(strstr(text, "marker: step 20 (3 of 5)"), "%s", text);
        free(text);
        grid_free(g);
    }
}
END_TEST

/* The page fills in: points not computed yet are not drawn, the marker's
 * value says it is coming. */
START_TEST(test_partial)
{
    Grid *g = grid_new(80, 22);
    CurvesPanel p = make_panel(4);
    p.computed = 2;
    Canvas cv = canvas_of(g, C256_UTF8);
    render_curves(&cv, &p);
    CurvePlot plots[SL_CURVE_COUNT];
    curves_layout(&p, C256_UTF8, g->w, g->h, plots);
    int lit = 0;
    for (int x = 0; x < plots[SL_CURVE_OV_COPY].area.w; x++)
        for (int y = 0; y < plots[SL_CURVE_OV_COPY].area.h; y++) {
            const Cell *cell = grid_cell(g, plots[SL_CURVE_OV_COPY].area.x + x, plots[SL_CURVE_OV_COPY].area.y + y);
            if (cell->ch > 0x2800 && cell->ch <= 0x28ff) {   /* only the first quarter: 2 of 5 */
                ck_assert_int_le(x, plots[SL_CURVE_OV_COPY].area.w / 4 + 1);
                lit++;
            }
        }
    ck_assert_int_gt(lit, 0);
    char *text = grid_dump_text(g);
    ck_assert_msg(strstr(text, "computing..."), "%s", text);
    free(text);
    grid_free(g);
}
END_TEST

START_TEST(test_one_snapshot_and_ascii)
{
    Grid *g = grid_new(100, 30);
    CurvesPanel p = make_panel(0);
    p.count = p.computed = 1;
    Canvas cv = canvas_of(g, MONO_ASCII);
    render_curves(&cv, &p);
    /* one point each (the loss has none), in the middle; one value: its range widened */
    CurvePlot plots[SL_CURVE_COUNT];
    curves_layout(&p, MONO_ASCII, g->w, g->h, plots);
    ck_assert_double_eq_tol(plots[SL_CURVE_WEIGHT_NORM].lo, 9, 1e-12);
    ck_assert_double_eq_tol(plots[SL_CURVE_WEIGHT_NORM].hi, 11, 1e-12);
    const Rect a = plots[SL_CURVE_WEIGHT_NORM].area;
    ck_assert_int_eq(grid_cell(g, a.x + a.w / 2, a.y + (int)lround((a.h - 1) / 2.0))->ch, '*');
    for (int y = 0; y < g->h; y++)
        for (int x = 0; x < g->w; x++)
            ck_assert_int_lt(grid_cell(g, x, y)->ch, 0x80);   /* nothing but ASCII without UTF-8 */
    grid_free(g);
}
END_TEST

/* Too small for plots: a table of the values at the marker, nothing cut
 * into a wrong number; and the smallest canvases draw without a crash. */
START_TEST(test_tiny)
{
    Grid *g = grid_new(40, 10);
    CurvesPanel p = make_panel(3);
    Canvas cv = canvas_of(g, C256_UTF8);
    render_curves(&cv, &p);
    char *text = grid_dump_text(g);
    char want[64];
    snprintf(want, sizeof want, "top key right %.4f", values[3 * SL_CURVE_COUNT + SL_CURVE_TOP_KEY]);
    ck_assert_msg(strstr(text, want), "%s", text);
    free(text);
    grid_free(g);
    for (int w = 1; w < 30; w += 7)
        for (int h = 1; h < 12; h += 3) {
            Grid *t = grid_new(w, h);
            Canvas tc = canvas_of(t, C256_UTF8);
            render_curves(&tc, &p);
            grid_free(t);
        }
}
END_TEST

static Suite *curves_suite(void)
{
    Suite *s = suite_create("curves");
    TCase *tc = tcase_create("render");
    tcase_add_test(tc, test_points_and_marker);
    tcase_add_test(tc, test_partial);
    tcase_add_test(tc, test_one_snapshot_and_ascii);
    tcase_add_test(tc, test_tiny);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(curves_suite()); }
