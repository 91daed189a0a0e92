/* test_layout.c: the explorer's screens (src/tui/app.c, no curses) drawn
 * whole into grids from the bundled model and read back as text: which
 * panels a terminal size holds, the whole circuits (z), the facets of the QK
 * terms (F), the scale (n), the circuit cursor (H/L) and a click.  Expected
 * figures come from the model's shape and `sortlens explain`'s. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "explorer_fixture.h"
#include "grid_rows.h"
#include "render.h"
#include "save_view.h"
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
    /* at 160x48 the columns are sized to their terms: token-token (52 keys)
     * loses no column, only rows, and token-pos (22 keys) keeps the room
     * its readout needs */
    free(draw_app(&a, g, 160, 48));
    int yt = line_of(g, "QK token-token");
    ck_assert_int_ge(yt, 0);
    ck_assert_msg(strstr(test_grid_row(g, yt), " of 52"), "%s", test_grid_row(g, yt));
    ck_assert_ptr_null(strstr(test_grid_row(g, yt), "cols"));
    bool whole_readout = false;   /* token-pos's, beside token-token's on its line: "... key pos P: +x (row +y)" */
    for (int y = 0; y < g->h; y++) {
        const char *row = test_grid_row(g, y), *tp = strstr(row, "key pos ");
        whole_readout |= tp && strstr(tp, "(row ") && strstr(row, "query ") < tp;
    }
    ck_assert(whole_readout);
    free(draw_app(&a, g, 220, 60));
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

/* The screen at w x h with the output line's note cleared (it holds the
 * command line `w` showed), as text. */
static char *draw_quiet(App *a, Grid *g, int w, int h)
{
    explorer_set_message(a->ex, false, NULL);
    return draw_app(a, g, w, h);
}

START_TEST(test_facet_cursor_and_reopen)
{
    /* H J K L move the cursor in the combined matrix; `w` carries the facet,
     * the scale and the moved cursor, and those options open the very same
     * screen; S writes the facet and the combined figures */
    /* static: four copies of the explorer's state (about 600 KB each) make
     * a frame over valgrind's 2 MB limit, which it takes for a stack switch */
    static ExplorerFixture f, g2;
    if (!explorer_fixture_open(&f))
        return;
    static App a;
    a = f.a;
    a.style = C256_UTF8;
    Grid *g = grid_new(1, 1);
    const Scene *sc = explorer_scene(a.ex);
    explorer_select(a.ex, sc->n + 3);   /* b2, which holds 3: predicts b3 */
    ck_assert(app_key(&a, 'F'));
    ck_assert(app_key(&a, 'F'));
    ck_assert_int_eq(a.facet, FACET_COMBINED);
    /* the cursor starts on the token-token block's cell (query token 3, key
     * token of the source: BOS, 50); L L passes MID (51) into the position
     * columns (52 = position 0), J goes down a row: query token 4 */
    ck_assert(app_key(&a, 'L'));
    ck_assert(app_key(&a, 'L'));
    ck_assert(app_key(&a, 'J'));
    free(draw_app(&a, g, 220, 60));
    char want[96];
    snprintf(want, sizeof want, "query 4, key pos p0=BOS: %+.3f (tok-pos)",
             sc->circuit[SL_CIRCUIT_QK_TOKEN_POS][4 * sc->T + 0]);
    ck_assert_msg(line_of(g, want) >= 0, "no readout '%s'", want);
    for (int i = 0; i < 30; i++)   /* down into the pos-pos block: row 52 + 4, clamped at the edge */
        ck_assert(app_key(&a, 'J'));
    for (int i = 0; i < 100; i++)
        ck_assert(app_key(&a, 'K'));
    for (int i = 0; i < 55; i++)
        ck_assert(app_key(&a, 'J'));
    free(draw_app(&a, g, 220, 60));
    snprintf(want, sizeof want, "query pos p3=a3, key pos p0=BOS: %+.3f (pos-pos)",
             sc->circuit[SL_CIRCUIT_QK_POS_POS][3 * sc->T + 0]);
    ck_assert_msg(line_of(g, want) >= 0, "no readout '%s'", want);
    ck_assert(app_key(&a, 'n'));   /* values p99 */
    ck_assert(app_key(&a, 'w'));
    ck_assert_msg(strstr(a.reopen, " --at 3 ") && strstr(a.reopen, " --facet combined --scale p99 --cell 55,52"),
                  "%s", a.reopen);
    char *shown = draw_quiet(&a, g, 220, 60);

    /* the options of that line, as tui_run applies them, on a fresh explorer */
    ck_assert(explorer_fixture_open(&g2));
    static App b;
    b = g2.a;
    b.style = C256_UTF8;
    SlError err = {0};
    ck_assert_int_eq(explorer_open_at(b.ex, 3, -1, -1, -1, -1, false, &err), 0);
    ck_assert_int_eq(app_open_circuit_state(b.ex, FACET_COMBINED, CS_VALUES, 55, 52, &err), 0);
    b.facet = FACET_COMBINED;
    Grid *g_b = grid_new(1, 1);
    char *again = draw_quiet(&b, g_b, 220, 60);
    ck_assert_str_eq(again, shown);
    free(again);
    free(shown);
    /* a cell outside the matrix it lands in is refused, naming the option */
    ck_assert_int_eq(app_open_circuit_state(b.ex, FACET_COMBINED, -1, 74, 0, &err), SL_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.message, "--cell 74,0 is outside the 74 x 74 QK combined matrix"));
    ck_assert_int_eq(app_open_circuit_state(b.ex, FACET_OFF, -1, 0, 52, &err), SL_EINVAL);   /* token-token: 52 x 52 */

    /* the facet of the four terms: c focuses pos-token (skipping nothing
     * but QK terms), H moves its cursor only, w says so, and the options
     * reopen the same screen */
    ck_assert(app_key(&a, 'F'));   /* off */
    ck_assert(app_key(&a, 'F'));   /* the four terms */
    ck_assert(app_key(&a, 'n'));   /* whole */
    ck_assert(app_key(&a, 'c'));
    ck_assert(app_key(&a, 'c'));
    ck_assert_int_eq(sc->focus_view, SL_CIRCUIT_QK_POS_TOKEN);
    ck_assert(app_key(&a, 'H'));
    ck_assert(app_key(&a, 'w'));
    /* pos-token's marks: query position b2 (13), key token BOS (50); H: 49 */
    ck_assert_msg(strstr(a.reopen, " --view qk-pos-token") &&
                  strstr(a.reopen, " --facet terms --scale whole --cell 13,49"), "%s", a.reopen);
    shown = draw_quiet(&a, g, 300, 100);
    snprintf(want, sizeof want, "query pos 13=b2, key 49: %+.3f", sc->circuit[SL_CIRCUIT_QK_POS_TOKEN][13 * sc->V + 49]);
    ck_assert_msg(line_of(g, want) >= 0, "no readout '%s'", want);
    snprintf(want, sizeof want, "query 3, key BOS: %+.3f", sc->circuit[SL_CIRCUIT_QK_TOKEN_TOKEN][3 * sc->V + 50]);
    ck_assert_msg(line_of(g, want) >= 0, "the unfocused token-token panel's cursor moved too");
    explorer_fixture_close(&g2);
    ck_assert(explorer_fixture_open(&g2));
    b = g2.a;
    b.style = C256_UTF8;
    ck_assert_int_eq(explorer_open_at(b.ex, 3, -1, SL_CIRCUIT_QK_POS_TOKEN, -1, -1, false, &err), 0);
    ck_assert_int_eq(app_open_circuit_state(b.ex, FACET_TERMS, CS_WHOLE, 13, 49, &err), 0);
    b.facet = FACET_TERMS;
    again = draw_quiet(&b, g_b, 300, 100);
    ck_assert_str_eq(again, shown);
    free(again);
    free(shown);

    /* S: the facet and the combined matrix, as sortlens plot draws them */
    char *dir = test_tmpdir_new("facet-save"), cwd[4096], path[128];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(dir), 0);
    ck_assert_int_eq(save_view(&b, path, sizeof path, &err), 0);
    ck_assert_str_eq(path, "sortlens-qk-facet-1.svg");
    b.facet = FACET_COMBINED;
    ck_assert_int_eq(save_view(&b, path, sizeof path, &err), 0);
    ck_assert_str_eq(path, "sortlens-qk-combined-1.svg");
    char *svg = slurp_file(path, NULL);
    ck_assert_ptr_nonnull(svg);
    ck_assert_ptr_nonnull(strstr(svg, "<g id=\"qk-combined\""));
    free(svg);
    svg = slurp_file("sortlens-qk-facet-1.svg", NULL);
    for (int t = 0; t < 4; t++) {   /* the four terms' groups */
        char id[48];
        snprintf(id, sizeof id, "<g id=\"%s\"", sl_circuit_kind_name((SlCircuitKind)(SL_CIRCUIT_QK_TOKEN_TOKEN + t)));
        ck_assert_msg(strstr(svg, id), "no %s in the facet's SVG", id);
    }
    free(svg);
    ck_assert_int_eq(chdir(cwd), 0);
    test_tmpdir_remove(dir);
    free(dir);
    grid_free(g_b);
    grid_free(g);
    g2.a = b;
    explorer_fixture_close(&g2);
    f.a = a;
    explorer_fixture_close(&f);
}
END_TEST

/* The longest run of blank rows of g above its key line (the last row). */
static int blank_run(const Grid *g)
{
    int run = 0, longest = 0;
    for (int y = 0; y + 1 < g->h; y++) {
        const char *row = test_grid_row(g, y);
        run = row[strspn(row, " ")] ? 0 : run + 1;
        longest = run > longest ? run : longest;
    }
    return longest;
}

START_TEST(test_room_used)
{
    /* issue 14.1: at the five sizes of the captures, no band of empty rows
     * (4 at most, the room the two rows of circuits leave at 300x100, split
     * above and below the second); from 220x60 the position circuits stand
     * under the token ones, each with its readout */
    ExplorerFixture f;
    if (!explorer_fixture_open(&f))
        return;
    App a = f.a;
    a.style = C256_UTF8;
    Grid *g = grid_new(1, 1);
    const Scene *sc = explorer_scene(a.ex);
    explorer_select(a.ex, sc->n + 3);   /* b2, as the captures show it */
    static const int sizes[5][2] = {{80, 24}, {120, 36}, {160, 48}, {220, 60}, {300, 100}};
    for (int i = 0; i < 5; i++) {
        free(draw_app(&a, g, sizes[i][0], sizes[i][1]));
        ck_assert_msg(blank_run(g) <= 4, "%dx%d: %d empty rows in a row", sizes[i][0], sizes[i][1], blank_run(g));
        if (i == 2)   /* the token circuits fill the height: nothing under them */
            ck_assert_int_lt(line_of(g, "OV position"), 0);
        if (i >= 3)   /* the position circuits under them, in half blocks at 220x60 */
            ck_assert_int_gt(line_of(g, "OV position"), line_of(g, "OV token"));
    }
    free(draw_app(&a, g, 300, 100));
    int yq = line_of(g, "QK pos-token"), yo = line_of(g, "OV position");
    ck_assert_int_gt(yq, line_of(g, "QK token-token"));
    ck_assert_int_eq(yq, yo);
    char want[96];
    snprintf(want, sizeof want, "query pos 13=b2, key BOS: %+.3f", sc->circuit[SL_CIRCUIT_QK_POS_TOKEN][13 * sc->V + 50]);
    ck_assert_msg(line_of(g, want) >= 0, "no readout '%s'", want);
    /* a click on the companion focuses it: pos-token above, token-token under it */
    const Cell *hit = NULL;
    for (int i = 0; i < g->w * g->h && !hit; i++)
        if (g->cells[i].tag == TAG_CIRCUIT && g->cells[i].tc == CIRCUIT_PANEL_OTHER + SL_CIRCUIT_QK_POS_TOKEN &&
            g->cells[i].ta == 5 && g->cells[i].tb == 20)
            hit = &g->cells[i];
    ck_assert_ptr_nonnull(hit);
    ck_assert(app_click(&a, hit));
    ck_assert_int_eq(sc->qk_view, SL_CIRCUIT_QK_POS_TOKEN);
    free(draw_app(&a, g, 300, 100));
    ck_assert_int_lt(line_of(g, "QK pos-token"), line_of(g, "QK token-token"));
    snprintf(want, sizeof want, "query pos 5=a5, key 20: %+.3f", sc->circuit[SL_CIRCUIT_QK_POS_TOKEN][5 * sc->V + 20]);
    ck_assert_msg(line_of(g, want) >= 0, "no readout '%s'", want);
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
    tcase_add_test(tc, test_facet_cursor_and_reopen);
    tcase_add_test(tc, test_room_used);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(layout_suite()); }
