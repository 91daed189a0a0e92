/* test_layout.c: the explorer's screens (src/tui/app.c, no curses) drawn
 * whole into grids from the bundled model and read back as text: which
 * panels a terminal size holds, the whole circuits (z), the facets of the QK
 * terms (F), the scale (n), the circuit cursor (H/L) and a click.  Expected
 * figures come from the model's shape and `sortlens explain`'s. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "explorer_fixture.h"
#include "grid_rows.h"
#include "render.h"
#include "sortlens/circuits.h"
#include "test_util.h"

static const Style C256_UTF8 = {DEPTH_256, true};

/* The text of the grid after drawing the app at w x h. */
static char *draw_app(App *a, Grid *g, int w, int h)
{
    ck_assert_int_eq(grid_resize(g, w, h), 0);
    app_draw(a, g);
    return grid_dump_text(g);
}

/* Index of the line holding `needle`, or -1. */
static int line_of(const Grid *g, const char *needle)
{
    for (int y = 0; y < g->h; y++)
        if (strstr(test_grid_row(g, y), needle))
            return y;
    return -1;
}

START_TEST(test_layout_whole_circuits)
{
    ExplorerFixture f;
    if (!explorer_fixture_open(&f))
        return;
    explorer_select(f.ex, explorer_scene(f.ex)->n + 1);
    App a = f.a;
    a.style = C256_UTF8;
    Grid *g = grid_new(1, 1);

    /* 120x36 as it opens: one screen, the circuits windowed, and saying so
     * with arrows and the last column shown */
    free(draw_app(&a, g, 120, 36));
    ck_assert(!a.paged);
    int y = line_of(g, "QK token-token");
    ck_assert_int_ge(y, 0);
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, y + 1), "\u25b6"));   /* hidden columns to the right */

    /* z: both whole circuits at 120x36: 52 query rows in 26 lines from
     * token 0 to MID, a label on every 5th column (2 digits and a blank
     * take 3 of the 1-column cells: the step rounds up to 5) up to BOS (50)
     * and every line's upper row, said in the title; nothing hidden */
    ck_assert(app_key(&a, 'z'));
    free(draw_app(&a, g, 120, 36));
    y = line_of(g, "QK token-token");
    ck_assert_int_ge(y, 0);
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, y), "OV token"));
    ck_assert_ptr_null(strstr(test_grid_row(g, y), " of 5"));   /* no "rows 0-25 of 52" */
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, y), "labels every 2nd row, 5th col"));
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, y + 1), "    5    10   15   20   25   30   35   40   45   B "));
    ck_assert_ptr_null(strstr(test_grid_row(g, y + 1), "\u25b6"));
    ck_assert_int_eq(strncmp(test_grid_row(g, y + 3), "   2", 4), 0);              /* second line: rows 2 and 3 */
    ck_assert_int_eq(strncmp(test_grid_row(g, y + 2), "   0", 4), 0);              /* first matrix line: token 0 */
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, y + 2 + 25), "MID"));          /* 26th: tokens 50 (BOS), 51 (MID) */
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, y + 2 + 25), "BOS"));          /* OV token's last line */
    /* readout and colour bar under them, then the key line */
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, y + 28), "query MID, key 0:"));
    /* the count `sortlens explain` gives for this model ("QK next value") */
    int qk_hits, qk_total;
    SlError qk_err = {0};
    ck_assert_int_eq(sl_circuit_qk_next_token_count(f.m, 0, 0, &qk_hits, &qk_total, &qk_err), 0);
    char qk_label[64];
    snprintf(qk_label, sizeof qk_label, "argmax=value+1 %d/%d", qk_hits, qk_total);
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, y + 28), qk_label));
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, y + 29), "-1.00"));
    ck_assert_int_eq(y + 29, 34);   /* the bar is the last line before the key line */
    ck_assert(line_of(g, "tokens   BOS  42") >= 0);                 /* the strip stays */

    /* 132x43 zoomed: the whole top block too */
    free(draw_app(&a, g, 132, 43));
    ck_assert(line_of(g, "predicts") >= 0);
    ck_assert(line_of(g, "output   0 3 8 11 17 26 26 30 42 49") >= 0);
    y = line_of(g, "QK token-token");
    ck_assert_ptr_null(strstr(test_grid_row(g, y), " of 5"));
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, y + 28), "argmax=diagonal 50/50"));   /* explain: OV 50/50 */

    /* 160x48 without zoom: the attention heatmap and both whole circuits */
    ck_assert(app_key(&a, 'z'));
    free(draw_app(&a, g, 160, 48));
    ck_assert(!a.paged);
    y = line_of(g, "QK token-token");
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, y), "attention weights"));
    ck_assert_ptr_null(strstr(test_grid_row(g, y), " of 5"));
    ck_assert_ptr_null(strstr(test_grid_row(g, y + 1), "\u25b6"));
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, y + 1), "45   B"));

    /* n cycles the scale; H/L move the circuit cursor and its readout */
    ck_assert(app_key(&a, 'n'));
    free(draw_app(&a, g, 160, 48));
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, y), "values p99"));
    ck_assert(app_key(&a, 'L'));
    free(draw_app(&a, g, 160, 48));
    ck_assert(line_of(g, "query MID, key 1:") >= 0);
    ck_assert(app_key(&a, 'n'));
    ck_assert(app_key(&a, 'n'));
    free(draw_app(&a, g, 160, 48));
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, y), "per row"));

    /* a click on an OV token cell (source 10, out 20) reads its value out */
    const Cell *hit = NULL;
    for (int i = 0; i < g->w * g->h && !hit; i++) {
        const Cell *c = &g->cells[i];
        if (c->tag == TAG_CIRCUIT && c->tc == 1 && c->ta == 10 && c->tb == 20)
            hit = c;
    }
    ck_assert_ptr_nonnull(hit);
    ck_assert(app_click(&a, hit));
    free(draw_app(&a, g, 160, 48));
    ck_assert(line_of(g, "source 10, out 20:") >= 0);
    /* a switched-off term is named on its panel, whose table is unchanged */
    ck_assert(app_key(&a, '1'));
    free(draw_app(&a, g, 160, 48));
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, y), "[OFF] QK token-token"));
    grid_free(g);
    f.a = a;
    explorer_fixture_close(&f);
}
END_TEST

START_TEST(test_facet_view)
{
    /* issue 14.3: F shows the four QK terms at once, each titled with its scale */
    ExplorerFixture f;
    if (!explorer_fixture_open(&f))
        return;
    App a = f.a;
    a.style = C256_UTF8;
    Grid *g = grid_new(1, 1);
    free(draw_app(&a, g, 220, 60));
    ck_assert_int_lt(line_of(g, "QK pos-pos"), 0);   /* one QK panel only, token-token */
    /* issue 14.1 (part): at 220 columns heatmap cells are 4 wide, so that
     * every label stands apart, BOS and MID spelled out ("B42172614..." at 2) */
    int ya = line_of(g, "attention weights");
    ck_assert_int_ge(ya, 0);
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, ya + 1), "      BOS  42  17  26   3  49   0  26  11   8  30 MID   0   3"));
    ck_assert(app_key(&a, 'F'));
    free(draw_app(&a, g, 220, 60));
    static const char *names[4] = {"QK token-token", "QK token-pos", "QK pos-token", "QK pos-pos"};
    for (int t = 0; t < 4; t++) {
        int y = line_of(g, names[t]);
        ck_assert_int_ge(y, 0);
        ck_assert_ptr_nonnull(strstr(test_grid_row(g, y), "per row"));
    }
    ck_assert_int_lt(line_of(g, "OV token"), 0);   /* in place of the QK and OV panels */
    /* F again: the combined 74x74 matrix, whole at 220x60 (37 lines of half
     * blocks), the token and position blocks apart by a rule and a column;
     * the cursor cell is the token-token block's, the readout says so */
    ck_assert(app_key(&a, 'F'));
    free(draw_app(&a, g, 220, 60));
    int yc = line_of(g, "QK combined");
    ck_assert_int_ge(yc, 0);
    ck_assert_ptr_null(strstr(test_grid_row(g, yc), " of 74"));
    ck_assert_int_lt(line_of(g, "QK pos-pos"), 0);
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, yc + 1), "p0"));   /* the key positions' labels */
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, yc + 2 + 26), "\u2500\u2500\u2500"));   /* the rule after 26 lines (52 token rows) */
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, yc + 2 + 27), " p0"));            /* then the position rows */
    ck_assert(line_of(g, "(tok-tok)") >= 0);
    const Scene *sc = explorer_scene(a.ex);
    const float *all = sc->circuit[SCENE_QK_COMBINED], *pp = sc->circuit[SL_CIRCUIT_QK_POS_POS];
    ck_assert_ptr_nonnull(all);
    ck_assert_float_eq(all[(size_t)(sc->V + 3) * (sc->V + sc->T) + sc->V + 2], pp[3 * sc->T + 2]);
    ck_assert(app_key(&a, 'F'));   /* and off */
    free(draw_app(&a, g, 220, 60));
    ck_assert_int_lt(line_of(g, "QK combined"), 0);
    ck_assert(line_of(g, "OV token") >= 0);
    grid_free(g);
    f.a = a;
    explorer_fixture_close(&f);
}
END_TEST

static Suite *layout_suite(void)
{
    Suite *s = suite_create("layout");
    TCase *tc = tcase_create("layout");
    tcase_add_test(tc, test_layout_whole_circuits);
    tcase_add_test(tc, test_facet_view);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(layout_suite()); }
