/* test_render.c: the render layer read back as text and colour ids.
 * Expected values come from hand calculations on small hand-made scenes
 * (never from earlier output of the program); the explorer drawn whole on
 * a model is tested in tests/tui (test_layout.c, test_explorer.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grid_rows.h"
#include "panels.h"
#include "render.h"
#include "sortlens/circuits.h"
#include "test_util.h"

static const Style MONO_ASCII = {DEPTH_MONO, false};
static const Style MONO_UTF8 = {DEPTH_MONO, true};
static const Style C256_UTF8 = {DEPTH_256, true};
static const Style C8_UTF8 = {DEPTH_8, true};

/* ---- a small hand-made scene: n = 3, values 0..5 ---------------------------- */

enum { N = 3, VO = 6, V = 8, T = 8 };
static int values[N] = {5, 1, 3}, sorted_v[N] = {1, 3, 5};
static int tokens[T] = {6, 5, 1, 3, 7, 1, 3, 5};   /* BOS 5 1 3 MID 1 3 5 */
static int pred[N] = {1, 3, 5};
static float prob[N * VO], pattern[T * T], scores[T * T];
static float qk_tt[V * V], qk_tp[V * T], qk_pt[T * V], qk_pp[T * T], ov_tok[V * VO], ov_pos[T * VO];
static int top_idx[N * SCENE_TOPK];
static double top_prob[N * SCENE_TOPK];

static Scene make_scene(void)
{
    for (int i = 0; i < N; i++) {
        for (int v = 0; v < VO; v++)
            prob[i * VO + v] = 0.005f;
        prob[i * VO + pred[i]] = 0.9f;
        prob[i * VO + (pred[i] + 1) % VO] = 0.08f;
        /* the three most probable by hand: the prediction, the next value,
         * then the smallest value that is neither (all 0.005 after those) */
        int third = 0;
        while (third == pred[i] || third == (pred[i] + 1) % VO)
            third++;
        int t3[SCENE_TOPK] = {pred[i], (pred[i] + 1) % VO, third};
        double p3[SCENE_TOPK] = {0.9, 0.08, 0.005};
        for (int k = 0; k < SCENE_TOPK; k++) {
            top_idx[i * SCENE_TOPK + k] = t3[k];
            top_prob[i * SCENE_TOPK + k] = p3[k];
        }
    }
    /* uniform attention over the visible keys; scores k - q */
    for (int q = 0; q < T; q++)
        for (int k = 0; k < T; k++) {
            pattern[q * T + k] = k <= q ? 1.0f / (float)(q + 1) : 0.0f;
            scores[q * T + k] = k <= q ? (float)(k - q) : -INFINITY;
        }
    for (int r = 0; r < V; r++)
        for (int c = 0; c < V; c++)
            qk_tt[r * V + c] = (float)(r - c);
    for (int i = 0; i < V * T; i++) {
        qk_tp[i] = (float)(i % 5) - 2;
        qk_pt[i] = 1;
    }
    for (int i = 0; i < T * T; i++)
        qk_pp[i] = 0.5f;
    for (int i = 0; i < V * VO; i++)
        ov_tok[i] = (i / VO == i % VO) ? 4.0f : -1.0f;
    for (int i = 0; i < T * VO; i++)
        ov_pos[i] = 0.25f;
    Scene sc = {
        .n = N, .T = T, .Vo = VO, .V = V, .L = 1, .H = 1, .E = 4,
        .model_label = "toy.safetensors",
        .values = values, .sorted = sorted_v, .tokens = tokens, .greedy = true,
        .pred = pred, .prob = prob, .base_pred = NULL, .top_idx = top_idx, .top_prob = top_prob,
        .first_nonfinite = -1, .iv_head = -1, .top_source = 0,
        .pattern = pattern, .scores = scores,
        .circuit = {[SL_CIRCUIT_QK_TOKEN_TOKEN] = qk_tt, [SL_CIRCUIT_QK_TOKEN_POS] = qk_tp, [SL_CIRCUIT_QK_POS_TOKEN] = qk_pt,
                    [SL_CIRCUIT_QK_POS_POS] = qk_pp, [SL_CIRCUIT_OV] = ov_tok, [SL_CIRCUIT_OV_POS] = ov_pos},
        .circuit_max = {[SL_CIRCUIT_QK_TOKEN_TOKEN] = 7, [SL_CIRCUIT_QK_TOKEN_POS] = 2, [SL_CIRCUIT_QK_POS_TOKEN] = 1,
                        [SL_CIRCUIT_QK_POS_POS] = 0.5f, [SL_CIRCUIT_OV] = 4, [SL_CIRCUIT_OV_POS] = 0.25f},
        .sel = N + 1, .cursor = 2, .block_source = -1,
        .focus_view = SL_CIRCUIT_QK_TOKEN_TOKEN, .qk_view = SL_CIRCUIT_QK_TOKEN_TOKEN, .ov_view = SL_CIRCUIT_OV,
        .free_row = -1, .free_col = -1, .free_panel = -1,
    };
    return sc;
}

/* ---- ramps and heat cells ------------------------------------------------- */

START_TEST(test_ramp_levels)
{
    /* diverging over [-4, 4]: 21 levels, zero at 10, v/4*10 rounded */
    ck_assert_int_eq(ramp_level(RAMP_DIVERGING, 0, -4, 4), 10);
    ck_assert_int_eq(ramp_level(RAMP_DIVERGING, 4, -4, 4), 20);
    ck_assert_int_eq(ramp_level(RAMP_DIVERGING, -4, -4, 4), 0);
    ck_assert_int_eq(ramp_level(RAMP_DIVERGING, 2, -4, 4), 15);
    ck_assert_int_eq(ramp_level(RAMP_DIVERGING, -1, -4, 4), 7);   /* -2.5 rounds away from zero: -3 */
    ck_assert_int_eq(ramp_level(RAMP_DIVERGING, 100, -4, 4), 20); /* clamped */
    ck_assert_int_eq(ramp_level(RAMP_DIVERGING, NAN, -4, 4), -1);
    ck_assert_int_eq(ramp_level(RAMP_DIVERGING, 1, 0, 0), 20);    /* no range: sign only */
    /* the range is symmetric: [-1, 4] behaves as [-4, 4] */
    ck_assert_int_eq(ramp_level(RAMP_DIVERGING, 2, -1, 4), 15);
    /* sequential over [0, 1]: 16 levels, t*15 rounded */
    ck_assert_int_eq(ramp_level(RAMP_SEQUENTIAL, 0, 0, 1), 0);
    ck_assert_int_eq(ramp_level(RAMP_SEQUENTIAL, 1, 0, 1), 15);
    ck_assert_int_eq(ramp_level(RAMP_SEQUENTIAL, 0.5f, 0, 1), 8);   /* 7.5 -> 8 */
    ck_assert_int_eq(ramp_level(RAMP_SEQUENTIAL, 0.2f, 0, 1), 3);
    ck_assert_int_eq(ramp_level(RAMP_SEQUENTIAL, -3, 0, 1), 0);
    ck_assert_int_eq(ramp_color(RAMP_DIVERGING, 10), COL_DIV0 + 10);
    ck_assert_int_eq(ramp_color(RAMP_SEQUENTIAL, 3), COL_SEQ0 + 3);
}
END_TEST

START_TEST(test_monochrome_ramps)
{
    /* sequential: the ten-step ASCII ramp " .:-=+*#%@", level l -> index round(l*9/15) */
    const char *ramp = " .:-=+*#%@";
    for (int l = 0; l < SEQ_LEVELS; l++) {
        int idx = (l * 9 + 7) / 15;   /* round half up, as lround for these values */
        ck_assert_uint_eq(ramp_glyph(MONO_ASCII, RAMP_SEQUENTIAL, l), (uint32_t)ramp[idx]);
    }
    /* diverging: zero blank, four steps a side with different shapes */
    ck_assert_uint_eq(ramp_glyph(MONO_ASCII, RAMP_DIVERGING, 10), ' ');
    ck_assert_uint_eq(ramp_glyph(MONO_ASCII, RAMP_DIVERGING, 20), '#');
    ck_assert_uint_eq(ramp_glyph(MONO_ASCII, RAMP_DIVERGING, 11), '.');
    ck_assert_uint_eq(ramp_glyph(MONO_ASCII, RAMP_DIVERGING, 0), '%');
    ck_assert_uint_eq(ramp_glyph(MONO_ASCII, RAMP_DIVERGING, 9), ',');
    ck_assert_uint_eq(ramp_glyph(MONO_ASCII, RAMP_DIVERGING, 15), '+');   /* mag 5 -> ceil(20/10) = 2 */
    ck_assert_uint_eq(ramp_glyph(MONO_ASCII, RAMP_DIVERGING, 5), '-');
    /* monochrome uses the ASCII ramps even in UTF-8 (finer than shade blocks) */
    ck_assert_uint_eq(ramp_glyph(MONO_UTF8, RAMP_SEQUENTIAL, 15), '@');
    /* 8 colours with UTF-8: shade blocks carry the size */
    ck_assert_uint_eq(ramp_glyph(C8_UTF8, RAMP_DIVERGING, 20), 0x2588);
    ck_assert_uint_eq(ramp_glyph(C8_UTF8, RAMP_DIVERGING, 0), 0x2588);
    ck_assert_uint_eq(ramp_glyph(C8_UTF8, RAMP_DIVERGING, 11), 0x2591);
    ck_assert_uint_eq(ramp_glyph(C8_UTF8, RAMP_SEQUENTIAL, 0), ' ');
}
END_TEST

START_TEST(test_heat_cells_by_depth)
{
    /* 256 colours: the colour is the background, the glyph blank */
    Cell c = heat_cell(C256_UTF8, RAMP_DIVERGING, 2, -4, 4);
    ck_assert_uint_eq(c.ch, ' ');
    ck_assert_int_eq(c.bg, COL_DIV0 + 15);
    /* monochrome: the glyph alone */
    c = heat_cell(MONO_ASCII, RAMP_DIVERGING, -4, -4, 4);
    ck_assert_uint_eq(c.ch, '%');
    ck_assert_int_eq(c.bg, COL_DEFAULT);
    ck_assert_int_eq(c.fg, COL_DEFAULT);
    /* 8 colours: glyph for the size, the ramp colour as fg (mapped to the sign's hue) */
    c = heat_cell(C8_UTF8, RAMP_DIVERGING, 4, -4, 4);
    ck_assert_uint_eq(c.ch, 0x2588);
    ck_assert_int_eq(c.fg, COL_DIV0 + 20);
    ck_assert_int_eq(palette_ansi8(c.fg), 1);                 /* red */
    ck_assert_int_eq(palette_ansi8(COL_DIV0 + 2), 4);         /* blue */
    /* half blocks: upper half = top value (fg), lower = bottom value (bg) */
    c = heat_cell_pair(C256_UTF8, RAMP_DIVERGING, -4, 4, -4, 4);
    ck_assert_uint_eq(c.ch, 0x2580);
    ck_assert_int_eq(c.fg, COL_DIV0 + 0);
    ck_assert_int_eq(c.bg, COL_DIV0 + 20);
    /* an odd last row: the lower half stays blank */
    c = heat_cell_pair(C256_UTF8, RAMP_DIVERGING, 4, NAN, -4, 4);
    ck_assert_int_eq(c.fg, COL_DIV0 + 20);
    ck_assert_int_eq(c.bg, COL_DEFAULT);
    /* no half blocks without UTF-8: falls back to one value per cell */
    Style ascii256 = {DEPTH_256, false};
    ck_assert(!style_half_blocks(ascii256));
    c = heat_cell_pair(ascii256, RAMP_DIVERGING, 4, -4, -4, 4);
    ck_assert_uint_eq(c.ch, ' ');
    ck_assert_int_eq(c.bg, COL_DIV0 + 20);
}
END_TEST

START_TEST(test_palette)
{
    /* ramp ends are the published anchors */
    ck_assert_uint_eq(palette_rgb(COL_DIV0), 0x053061);
    ck_assert_uint_eq(palette_rgb(COL_DIV0 + DIV_CENTER), 0xf7f7f7);
    ck_assert_uint_eq(palette_rgb(COL_DIV0 + DIV_LEVELS - 1), 0x67001f);
    ck_assert_uint_eq(palette_rgb(COL_SEQ0), 0x440154);
    ck_assert_uint_eq(palette_rgb(COL_SEQ0 + SEQ_LEVELS - 1), 0xfde725);
    /* level 1 of RdBu: halfway between the first two anchors 0x053061 and 0x2166ac */
    ck_assert_uint_eq(palette_rgb(COL_DIV0 + 1), ((0x05 + 0x21 + 1) / 2) << 16 | ((0x30 + 0x66 + 1) / 2) << 8 | ((0x61 + 0xac + 1) / 2));
    /* xterm-256: 16 + 36 r + 6 g + b on the cube levels 0,95,135,175,215,255; greys 232.. */
    ck_assert_int_eq(rgb_to_xterm256(0xff0000), 196);
    ck_assert_int_eq(rgb_to_xterm256(0x000000), 16);
    ck_assert_int_eq(rgb_to_xterm256(0xffffff), 231);
    ck_assert_int_eq(rgb_to_xterm256(0x808080), 244);   /* grey 8 + 10*12 = 128 */
    ck_assert_int_eq(rgb_to_xterm256(0x5f87af), 16 + 36 * 1 + 6 * 2 + 3);
    /* nearest in CIE Lab, not in RGB: the darkest RdBu blue 0x053061 is
     * Delta E 20.5 from 24 = (0,95,135) and 23.6 from 23 = (0,95,95), the teal
     * an RGB distance picks; 0x92c5de (level 6) goes to 117 = (135,215,255),
     * not 116 = (135,215,215) (worked out apart, in Python) */
    ck_assert_int_eq(rgb_to_xterm256(0x053061), 24);
    ck_assert_int_eq(rgb_to_xterm256(0x92c5de), 117);
    /* so the blue levels of the diverging ramp stay blue (more blue than
     * green) in 256 colours, and every red level red */
    for (int l = 0; l < DIV_LEVELS; l++) {
        int x = palette_xterm256(COL_DIV0 + l), i = x - 16;
        ck_assert_int_ge(x, 16);
        int r = x >= 232 ? 8 + 10 * (x - 232) : (int[]){0, 95, 135, 175, 215, 255}[i / 36];
        int gg = x >= 232 ? r : (int[]){0, 95, 135, 175, 215, 255}[(i / 6) % 6];
        int b = x >= 232 ? r : (int[]){0, 95, 135, 175, 215, 255}[i % 6];
        if (l < DIV_CENTER - 3)   /* level 7 is as near grey-cyan 152 as the cube gets */
            ck_assert_msg(b > gg && b > r, "level %d -> %d = (%d,%d,%d) is not blue", l, x, r, gg, b);
        if (l > DIV_CENTER + 1)
            ck_assert_msg(r > gg && r > b, "level %d -> %d = (%d,%d,%d) is not red", l, x, r, gg, b);
    }
    ck_assert_int_eq(rgb_to_ansi8(0xff0000), 1);
    ck_assert_int_eq(rgb_to_ansi8(0x0000ff), 4);
    ck_assert_int_eq(rgb_to_ansi8(0xf0f0f0), 7);
    /* ink: dark on white, light on dark blue */
    ck_assert_int_eq(palette_ink_on(COL_DIV0 + DIV_CENTER), COL_INK_DARK);
    ck_assert_int_eq(palette_ink_on(COL_DIV0), COL_INK_LIGHT);
    /* the default colour stays the terminal's */
    ck_assert_int_eq(palette_xterm256(COL_DEFAULT), -1);
    ck_assert_int_eq(palette_ansi8(COL_DEFAULT), -1);
}
END_TEST

/* ---- colour bar ----------------------------------------------------------- */

START_TEST(test_colorbar)
{
    Grid *g = grid_new(20, 1);
    Canvas cv = canvas_of(g, C256_UTF8);
    /* "-2.00" (5) + space + cells + space + "+2.00" (5): 20 - 12 = 8 cells,
     * made odd (7) so that the middle one is exactly zero */
    int used = render_colorbar(&cv, 0, 0, 20, RAMP_DIVERGING, -2, 2);
    ck_assert_int_eq(used, 19);
    char *text = grid_dump_text(g);
    ck_assert_str_eq(text, "-2.00         +2.00\n");
    free(text);
    char *cols = grid_dump_colors(g, true);
    /* cells at -2, -4/3, -2/3, 0, 2/3, 4/3, 2: levels 0, 3, 7, 10, 13, 17, 20
     * -> '0' '3' '7' 'z' 'c' 'g' 'j' (see grid_dump_colors) */
    ck_assert_int_eq(cols[6], '0');
    ck_assert_int_eq(cols[7], '3');
    ck_assert_int_eq(cols[8], '7');
    ck_assert_int_eq(cols[9], 'z');
    ck_assert_int_eq(cols[10], 'c');
    ck_assert_int_eq(cols[11], 'g');
    ck_assert_int_eq(cols[12], 'j');
    free(cols);
    /* sequential in monochrome: the glyph ramp, from blank to '@' */
    grid_clear(g);
    cv = canvas_of(g, MONO_ASCII);
    render_colorbar(&cv, 0, 0, 19, RAMP_SEQUENTIAL, 0, 1);
    /* 12 cells at i/11 (no ties): levels round(15i/11) = 0 1 3 4 5 7 8 10 11 12 14 15,
     * glyph index round(9l/15) = 0 1 2 2 3 4 5 6 7 7 8 9 */
    ck_assert_str_eq(test_grid_row(g, 0), "0  .::-=+*##%@ 1.00");
    /* no room for a bar: the range alone */
    grid_clear(g);
    render_colorbar(&cv, 0, 0, 8, RAMP_SEQUENTIAL, 0, 1);
    ck_assert_str_eq(test_grid_row(g, 0), "0..1.00");
    grid_free(g);
}
END_TEST

/* ---- panels --------------------------------------------------------------- */

/* The failure atlas page from hand-made rows: bars of share x cells (40 at
 * 91 columns: 91 - 31 - 20), "-" for an empty row, "computing..." for one
 * not yet computed, a long label cut before the numbers, eighths in UTF-8,
 * and the sections scrolled so that the selected row shows. */
START_TEST(test_atlas_page)
{
    AtlasRow rows[5] = {
        {"uniform", 1000, 0.5, 0.9985, 500},
        {"a-very-long-label", 200, 0.0, 0.25, 200},
        {"gap", -1, NAN, NAN, -1},
        {"1", 0, NAN, NAN, 0},
        {"b6", 636, 1.0 / 16, NAN, -1},
    };
    AtlasPanel p = {.title = "failure atlas", .note = "evaluating", .n_sections = 2, .rows = rows, .sel = 0};
    p.sections[0] = (AtlasSectionView){"by kind", false, 0, 4};
    p.sections[1] = (AtlasSectionView){"first wrong", true, 4, 1};
    Grid *g = grid_new(91, 20);
    Canvas cv = canvas_of(g, MONO_ASCII);
    render_atlas(&cv, &p);
    ck_assert_str_eq(test_grid_row(g, 0), "failure atlas");
    ck_assert_str_eq(test_grid_row(g, 1), "evaluating");
    ck_assert_str_eq(test_grid_row(g, 2), "                lists list acc                                         token acc  wrong");
    ck_assert_str_eq(test_grid_row(g, 3), "- by kind ---------------------------------------------------------------------------------");
    char want[128];
    snprintf(want, sizeof want, "> uniform        1000  0.5000  %-40s 0.9985      500", "####################");
    ck_assert_str_eq(test_grid_row(g, 4), want);
    snprintf(want, sizeof want, "  a-very-lon      200  0.0000  %-40s 0.2500      200", "");
    ck_assert_str_eq(test_grid_row(g, 5), want);
    ck_assert_str_eq(test_grid_row(g, 6), "  gap        computing...");
    snprintf(want, sizeof want, "  1                 0       -  %-40s               0", "");
    ck_assert_str_eq(test_grid_row(g, 7), want);
    ck_assert_str_eq(test_grid_row(g, 8), "");
    ck_assert_str_eq(test_grid_row(g, 9), "- first wrong -----------------------------------------------------------------------------");
    ck_assert_str_eq(test_grid_row(g, 10), "  b6              636  0.0625  ###");   /* 2.5 cells: in ASCII a half cell is a # */
    grid_free(g);
    /* UTF-8: the half cell as an eighths glyph (U+258C, four eighths) */
    g = grid_new(91, 20);
    cv = canvas_of(g, C256_UTF8);
    render_atlas(&cv, &p);
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, 10), "\u2588\u2588\u258c"));
    grid_free(g);
    /* 6 lines: the title lines and 3 of the sections' 9; the last row selected shows */
    g = grid_new(91, 6);
    cv = canvas_of(g, MONO_ASCII);
    p.sel = 4;
    render_atlas(&cv, &p);
    ck_assert_int_gt(p.first_line, 0);
    char *text = grid_dump_text(g);
    ck_assert_msg(strstr(text, "> b6"), "the selected row is not drawn:\n%s", text);
    ck_assert_ptr_null(strstr(text, "uniform"));
    free(text);
    grid_free(g);
}
END_TEST

START_TEST(test_token_strip)
{
    Scene sc = make_scene();
    Grid *g = grid_new(80, 2);
    Canvas cv = canvas_of(g, MONO_ASCII);
    int first = render_strip(&cv, &sc, 4, -1);
    ck_assert_int_eq(first, 0);
    ck_assert_str_eq(test_grid_row(g, 0), "tokens   BOS   5   1   3 MID   1   3   5");
    /* marks: '^' under the query (MID, pos 4), '|' under the cursor (pos 2) */
    const char *marks = test_grid_row(g, 1);
    ck_assert_int_eq(marks[9 + 4 * 4 + 2], '^');
    ck_assert_int_eq(marks[9 + 2 * 4 + 1], '|');
    ck_assert_ptr_nonnull(strstr(marks, "^ query MID"));
    ck_assert_ptr_nonnull(strstr(marks, "| source a2"));
    /* the query cell is highlighted, the cursor cell too */
    ck_assert_int_eq(grid_cell(g, 9 + 4 * 4 + 1, 0)->bg, COL_SELECT);
    ck_assert_int_eq(grid_cell(g, 9 + 2 * 4 + 1, 0)->bg, COL_CURSOR);
    /* clicks on a token cell name its position */
    ck_assert_int_eq(grid_cell(g, 9 + 3 * 4 + 1, 0)->tag, TAG_TOKEN);
    ck_assert_int_eq(grid_cell(g, 9 + 3 * 4 + 1, 0)->ta, 3);
    grid_free(g);
}
END_TEST

START_TEST(test_token_strip_scrolls)
{
    Scene sc = make_scene();
    sc.sel = 6;
    sc.cursor = 5;
    Grid *g = grid_new(9 + 3 * 4, 2);   /* room for three cells */
    Canvas cv = canvas_of(g, MONO_ASCII);
    int first = render_strip(&cv, &sc, 4, -1);
    /* the query (6), its prediction (7) and the cursor (5) stay in view */
    ck_assert_int_eq(first, 5);
    ck_assert_str_eq(test_grid_row(g, 0), "tokens  ~  1   3   5");
    grid_free(g);
}
END_TEST

START_TEST(test_prediction_rows)
{
    Scene sc = make_scene();
    int wrong[N] = {1, 4, 5};
    sc.pred = wrong;
    for (int v = 0; v < VO; v++)
        prob[1 * VO + v] = v == 4 ? 0.6f : v == 3 ? 0.3f : 0.025f;
    int t1[SCENE_TOPK] = {4, 3, 0};   /* sl_decode_top_k of that row */
    double p1[SCENE_TOPK] = {0.6, 0.3, 0.025};
    memcpy(top_idx + SCENE_TOPK, t1, sizeof t1);
    memcpy(top_prob + SCENE_TOPK, p1, sizeof p1);
    Grid *g = grid_new(60, 3);
    Canvas cv = canvas_of(g, MONO_ASCII);
    render_predictions(&cv, &sc, 4, 0);
    /* under b1..b3 (positions 5..7, columns 9 + 4p): value + right/wrong mark */
    ck_assert_str_eq(test_grid_row(g, 0), "predicts                      1+  4x  5+");
    /* floor of the percentage (0.9f * 100 rounds to 90.0f) */
    ck_assert_str_eq(test_grid_row(g, 1), "p %                           90  60  90");
    ck_assert_str_eq(test_grid_row(g, 2), "runner-up                     2   3   0");
    /* the wrong value is marked as such in colour too */
    ck_assert_int_eq(grid_cell(g, 9 + 6 * 4 + 1, 0)->fg, COL_BAD);
    ck_assert_int_eq(grid_cell(g, 9 + 7 * 4 + 1, 0)->fg, COL_GOOD);
    grid_free(g);
}
END_TEST

START_TEST(test_output_line)
{
    Scene sc = make_scene();
    Grid *g = grid_new(90, 1);
    Canvas cv = canvas_of(g, MONO_ASCII);
    render_output_line(&cv, &sc);
    ck_assert_str_eq(test_grid_row(g, 0), "output   1 3 5  + sorted");
    int wrong[N] = {1, 4, 5};
    sc.pred = wrong;
    sc.base_pred = pred;   /* an intervention changed b2 */
    grid_clear(g);
    render_output_line(&cv, &sc);
    ck_assert_str_eq(test_grid_row(g, 0), "output   1 4 5  x 2/3 right   without interventions: 1 3 5 (3/3)");
    grid_free(g);
}
END_TEST

START_TEST(test_attention_heatmap_mono)
{
    Scene sc = make_scene();
    sc.circuit_scale = CS_WHOLE;   /* weights on 0..1 */
    int w, h;
    render_attention_size(&sc, 2, &w, &h);
    ck_assert_int_eq(w, 5 + 2 * T);
    ck_assert_int_eq(h, T + 3);
    Grid *g = grid_new(w, h);
    Canvas cv = canvas_of(g, MONO_ASCII);
    render_attention(&cv, &sc, 2);
    /* key labels: B 5 1 3 M 1 3 5, right-aligned in 2 columns */
    ck_assert_str_eq(test_grid_row(g, 1), "      B 5 1 3 M 1 3 5");
    /* row q has weight 1/(q+1) on keys 0..q: q=0 -> 1.0 -> '@'; later keys masked '.' */
    ck_assert_str_eq(test_grid_row(g, 2), " BOS @@. . . . . . .");
    /* q=1: 0.5 -> level 8 -> ramp index round(8*9/15)=5 -> '+' */
    ck_assert_str_eq(test_grid_row(g, 3), "   5 ++++. . . . . .");
    /* q=4 (MID, selected, marked '>'): 0.2 -> level 3 -> index 2 -> ':'; the
     * cursor (key 2) drawn as brackets */
    ck_assert_str_eq(test_grid_row(g, 6), ">MID ::::[]::::. . .");
    /* the colour bar under the rows */
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, 2 + T), "weight 0"));
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, 2 + T), "1.00"));
    /* a click on a heat cell names query and key */
    const Cell *c = grid_cell(g, 5 + 2 * 1, 6);
    ck_assert_int_eq(c->tag, TAG_ATTN);
    ck_assert_int_eq(c->ta, 4);
    ck_assert_int_eq(c->tb, 1);
    grid_free(g);
}
END_TEST

START_TEST(test_attention_heatmap_colours)
{
    Scene sc = make_scene();
    sc.show_scores = true;
    sc.circuit_scale = CS_WHOLE;   /* scores over max |score| of every row */
    Grid *g = grid_new(5 + 2 * T, T + 3);
    Canvas cv = canvas_of(g, C256_UTF8);
    render_attention(&cv, &sc, 2);
    /* scores k - q, range max |score| = 7: (q=7, k=0) = -7 -> level 0;
     * (q=7, k=7) = 0 -> level 10; (q=7, k=4) = -3 -> round(-30/7 = -4.29) = -4 -> 6 */
    ck_assert_int_eq(grid_cell(g, 5 + 0, 2 + 7)->bg, COL_DIV0 + 0);
    ck_assert_int_eq(grid_cell(g, 5 + 2 * 7, 2 + 7)->bg, COL_DIV0 + 10);
    ck_assert_int_eq(grid_cell(g, 5 + 2 * 4 + 1, 2 + 7)->bg, COL_DIV0 + 6);
    /* the mask has no colour */
    ck_assert_int_eq(grid_cell(g, 5 + 2 * 5, 2 + 3)->bg, COL_DEFAULT);
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, 2 + T), "-7.00"));
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, 2 + T), "+7.00"));
    grid_free(g);
}
END_TEST


START_TEST(test_attention_heatmap_scales)
{
    Scene sc = make_scene();
    Grid *g = grid_new(60, T + 3);
    Canvas cv = canvas_of(g, C256_UTF8);
    /* per row (the default): each row's largest weight is the brightest; the
     * toy's rows are uniform, so every visible cell is level 15 */
    ck_assert_float_eq(scene_attention_range(&sc, CS_ROW, false), 1.0f);
    render_attention(&cv, &sc, 2);
    ck_assert_int_eq(grid_cell(g, 5 + 2 * 2, 2 + 5)->bg, COL_SEQ0 + 15);
    ck_assert_int_eq(grid_cell(g, 5 + 0, 2 + 7)->bg, COL_SEQ0 + 15);
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, 0), "per row"));
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, 2 + T), "each row to its max"));
    /* values: the largest weight of the prediction rows MID..b2 (4..6) is
     * 1/5 at MID: rows above (BOS 1, a1 0.5, ...) are beyond it; b2's 1/7
     * -> (1/7)/(1/5)*15 = 10.7 -> level 11 */
    sc.circuit_scale = CS_VALUES;
    ck_assert_float_eq_tol(scene_attention_range(&sc, CS_VALUES, false), 0.2f, 1e-6f);
    grid_clear(g);
    render_attention(&cv, &sc, 2);
    ck_assert_int_eq(grid_cell(g, 5 + 0, 2 + 0)->bg, COL_OVER);
    ck_assert_int_eq(grid_cell(g, 5 + 0, 2 + 6)->bg, COL_SEQ0 + 11);
    /* rows 0..3 hold 1 + 2 + 3 + 4 = 10 cells above 1/5 */
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, 2 + T), "max of rows MID..b2; 10 beyond"));
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, 2 + T), "0.20"));
    /* scores per row: q=7 holds k - 7 for k = 0..7, mean -3.5, largest
     * distance 3.5: k = 0 -> -1 (level 0), k = 7 -> +1 (level 20) */
    sc.circuit_scale = CS_ROW;
    sc.show_scores = true;
    grid_clear(g);
    render_attention(&cv, &sc, 2);
    ck_assert_int_eq(grid_cell(g, 5 + 0, 2 + 7)->bg, COL_DIV0 + 0);
    ck_assert_int_eq(grid_cell(g, 5 + 2 * 7, 2 + 7)->bg, COL_DIV0 + 20);
    /* scores, values: max |score| over rows 4..6 is 6 (q=6, k=0); row 7's -7 is beyond */
    ck_assert_float_eq(scene_attention_range(&sc, CS_VALUES, true), 6.0f);
    ck_assert_float_eq(scene_attention_range(&sc, CS_WHOLE, true), 7.0f);
    sc.circuit_scale = CS_VALUES;
    grid_clear(g);
    render_attention(&cv, &sc, 2);
    ck_assert_int_eq(grid_cell(g, 5 + 0, 2 + 7)->bg, COL_UNDER);
    grid_free(g);
}
END_TEST

START_TEST(test_circuit_half_blocks)
{
    Scene sc = make_scene();
    sc.circuit_scale = CS_WHOLE;   /* the hand calculation below is over the whole range 7 */
    int w, h;
    render_circuit_size(&sc, SL_CIRCUIT_QK_TOKEN_TOKEN, C256_UTF8, &w, &h);
    ck_assert_int_eq(w, 4 + V);
    ck_assert_int_eq(h, 2 + V / 2 + 2);
    Grid *g = grid_new(w + 30, h);
    Canvas cv = canvas_sub(canvas_of(g, C256_UTF8), 0, 0, w + 30, h);
    render_circuit(&cv, &sc, SL_CIRCUIT_QK_TOKEN_TOKEN, 0, true);
    /* m[r][c] = r - c over range 7; line 0 of the matrix holds rows 0 and 1.
     * column 3: top -3 -> level 6, bottom -2 -> round(-20/7) = -3 -> level 7 */
    const Cell *c = grid_cell(g, 4 + 3, 2);
    ck_assert_uint_eq(c->ch, 0x2580);
    ck_assert_int_eq(c->fg, COL_DIV0 + 6);
    ck_assert_int_eq(c->bg, COL_DIV0 + 7);
    /* rows 6, 7 at line 3; column 0: 6 -> round(60/7)=9 -> 19; 7 -> 20 */
    c = grid_cell(g, 4 + 0, 2 + 3);
    ck_assert_int_eq(c->fg, COL_DIV0 + 19);
    ck_assert_int_eq(c->bg, COL_DIV0 + 20);
    /* marks: query token MID (7) is the row, key token of pos 2 (1) the column */
    c = grid_cell(g, 4 + 1, 1);
    ck_assert_uint_eq(c->ch, 0x25bc);
    c = grid_cell(g, 0, 2 + 3);
    ck_assert_uint_eq(c->ch, 0x25b6);
    /* the cursor cell (row 7, col 1) carries a mark in its own value's colour: 6 -> 19 */
    c = grid_cell(g, 4 + 1, 2 + 3);
    ck_assert_uint_eq(c->ch, 0x00d7);
    ck_assert_int_eq(c->bg, COL_DIV0 + 19);
    ck_assert_int_eq(c->tag, TAG_CIRCUIT);
    ck_assert_int_eq(c->ta, 7);
    ck_assert_int_eq(c->tb, 1);
    /* the value under the cursor */
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, 2 + 4), "query MID, key 1: +6.000"));
    grid_free(g);
}
END_TEST


/* ---- circuit colour scales ------------------------------------------------ */

/* OV token of the toy scene with a copying diagonal (4 on it, -1 off it) and
 * huge BOS (-1000) and MID (+500) rows, like the trained models' BOS row. */
static void ov_with_big_bos(Scene *sc, float row_offset)
{
    for (int r = 0; r < V; r++)
        for (int c = 0; c < VO; c++)
            ov_tok[r * VO + c] = r == VO ? -1000.0f : r == VO + 1 ? 500.0f
                                                     : (r == c ? 4.0f : -1.0f) + row_offset * (float)r;
    sc->circuit_max[SL_CIRCUIT_OV] = 1000;   /* max |x| of the whole matrix, as the explorer computes it */
}

START_TEST(test_value_range_percentile)
{
    /* 1..200 over a 10x20 position-only view: every cell counts; nearest rank
     * ceil(0.99 * 200) = 198 -> the 198th smallest, 198 */
    static float m[200];
    for (int i = 0; i < 200; i++)
        m[i] = (float)(i + 1) * (i % 2 ? -1.0f : 1.0f);   /* signs do not matter: |x| */
    ck_assert_float_eq(circuit_value_range(m, 10, 20, SL_CIRCUIT_QK_POS_POS, 5), 198.0f);
    /* token-token with Vo = 5: only the 5x5 block of value rows and columns,
     * |x| = r*20 + c + 1 for r, c < 5: 25 cells, rank ceil(24.75) = 25 -> the
     * largest, 4*20 + 4 + 1 = 85; the 200 elsewhere is left out */
    ck_assert_float_eq(circuit_value_range(m, 10, 20, SL_CIRCUIT_QK_TOKEN_TOKEN, 5), 85.0f);
    /* OV token: token rows 0..4 only, output columns all of them: |x| = 1..100,
     * rank ceil(99) = 99 */
    ck_assert_float_eq(circuit_value_range(m, 10, 20, SL_CIRCUIT_OV, 5), 99.0f);
    ck_assert_float_eq(circuit_value_range(NULL, 10, 20, SL_CIRCUIT_OV, 5), 0.0f);
    ck_assert(circuit_axis_is_token(SL_CIRCUIT_QK_TOKEN_POS, true));
    ck_assert(!circuit_axis_is_token(SL_CIRCUIT_QK_TOKEN_POS, false));
    ck_assert(!circuit_axis_is_token(SL_CIRCUIT_OV_POS, true));
}
END_TEST

START_TEST(test_ov_scale_ignores_bos_row)
{
    Scene sc = make_scene();
    ov_with_big_bos(&sc, 0);
    sc.circuit_scale = CS_VALUES;
    /* value block 6x6: |x| is 4 on 6 cells, 1 on 30; rank ceil(35.64) = 36 -> 4.
     * The BOS and MID rows (1000, 500) do not set it. */
    ck_assert_float_eq(scene_circuit_range(&sc, SL_CIRCUIT_OV, CS_VALUES), 4.0f);
    ck_assert_float_eq(scene_circuit_range(&sc, SL_CIRCUIT_OV, CS_WHOLE), 1000.0f);
    sc.robust_range[SL_CIRCUIT_OV] = 2.5f;   /* a cached range wins */
    ck_assert_float_eq(scene_circuit_range(&sc, SL_CIRCUIT_OV, CS_VALUES), 2.5f);
    sc.robust_range[SL_CIRCUIT_OV] = 0;
    sc.cursor = 1;   /* token 5: keeps the cursor mark off the cells checked below */
    Grid *g = grid_new(90, 8);
    Canvas cv = canvas_of(g, C256_UTF8);
    render_circuit(&cv, &sc, SL_CIRCUIT_OV, 1, true);
    /* line 0 holds rows 0 (top) and 1 (bottom); column 0: 4 -> the full red
     * (level 20), -1 -> round(-10/4) = -3 -> level 7 */
    const Cell *c = grid_cell(g, 4 + 0, 2);
    ck_assert_uint_eq(c->ch, 0x2580);
    ck_assert_int_eq(c->fg, COL_DIV0 + 20);
    ck_assert_int_eq(c->bg, COL_DIV0 + 7);
    /* line 3: BOS row (6) and MID row (7) are beyond the range: marked */
    c = grid_cell(g, 4 + 2, 2 + 3);
    ck_assert_int_eq(c->fg, COL_UNDER);
    ck_assert_int_eq(c->bg, COL_OVER);
    /* the colour bar says what sets the range, and how many cells are beyond */
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, 7), "-4.00 <"));
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, 7), "> +4.00"));
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, 7), "99th pct of |x|, BOS/MID rows+cols left out; 12 beyond"));
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, 0), "OV token"));
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, 0), "values p99"));
    /* the old scale (whole matrix) pales the diagonal to white: 4/1000 -> level 10 */
    sc.circuit_scale = CS_WHOLE;
    grid_clear(g);
    render_circuit(&cv, &sc, SL_CIRCUIT_OV, 1, true);
    ck_assert_int_eq(grid_cell(g, 4 + 0, 2)->fg, COL_DIV0 + DIV_CENTER);
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, 7), "max |x| of the whole matrix"));
    ck_assert_ptr_null(strstr(test_grid_row(g, 7), "beyond"));
    /* without colour the beyond cells keep a glyph of their own */
    Cell m = heat_cell_sat(MONO_ASCII, -1000, 4);
    ck_assert_uint_eq(m.ch, '&');
    m = heat_cell_sat(MONO_ASCII, 500, 4);
    ck_assert_uint_eq(m.ch, '@');
    m = heat_cell_sat(MONO_ASCII, 4, 4);   /* at the range: the ramp's end, not beyond */
    ck_assert_uint_eq(m.ch, '#');
    grid_free(g);
}
END_TEST

START_TEST(test_circuit_row_scale)
{
    Scene sc = make_scene();
    /* row r is offset by 100 r: under one range for the whole matrix the
     * diagonal would vanish; per row, each row's mean -1/6 + 100 r is white,
     * the diagonal (4.1667 above it) the full red, the rest -0.8333/4.1667 =
     * -0.2 -> level 8 */
    ov_with_big_bos(&sc, 100);
    ck_assert_int_eq(sc.circuit_scale, CS_ROW);   /* the default */
    float mean, scale;
    circuit_row_norm(ov_tok + 3 * VO, VO, &mean, &scale);
    ck_assert_float_eq_tol(mean, 300.0f - 1.0f / 6.0f, 1e-3f);
    ck_assert_float_eq_tol(scale, 25.0f / 6.0f, 1e-3f);
    sc.cursor = 1;
    Grid *g = grid_new(90, 8);
    Canvas cv = canvas_of(g, C256_UTF8);
    render_circuit(&cv, &sc, SL_CIRCUIT_OV, 1, true);
    for (int r = 0; r < VO; r++) {
        for (int col = 0; col < VO; col++) {
            const Cell *c = grid_cell(g, 4 + col, 2 + r / 2);
            int got = r % 2 ? c->bg : c->fg;
            if (c->ch == 0x00d7)   /* the cursor cell carries its own colour as bg */
                got = c->bg;
            ck_assert_int_eq(got, COL_DIV0 + (r == col ? 20 : 8));
        }
    }
    /* a flat row (BOS) is all white, not noise blown up */
    ck_assert_int_eq(grid_cell(g, 4 + 3, 2 + 3)->fg, COL_DIV0 + DIV_CENTER);
    /* the cursor (source token 5, predicted 1) reads raw and per row:
     * -1 + 500 = 499; (499 - (500 - 1/6)) / (25/6) = -0.2 */
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, 6), "source 5, out 1: +499.000 (row -0.20)"));
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, 7), "-1.00"));
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, 7), "each row centred, to its own max"));
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, 0), "per row"));
    grid_free(g);
}
END_TEST

START_TEST(test_circuit_marks_and_window)
{
    Scene sc = make_scene();
    sc.cursor = 1;   /* key token 5; the answer at MID is 1, at position 2 of the list */
    ck_assert_int_eq(scene_circuit_answer_col(&sc, SL_CIRCUIT_QK_TOKEN_TOKEN), 1);
    ck_assert_int_eq(scene_circuit_answer_col(&sc, SL_CIRCUIT_QK_POS_POS), 2);
    ck_assert_int_eq(scene_circuit_answer_col(&sc, SL_CIRCUIT_OV), 1);
    sc.sel = 2;   /* not a prediction position: no answer */
    ck_assert_int_eq(scene_circuit_answer_col(&sc, SL_CIRCUIT_QK_TOKEN_TOKEN), -1);
    sc.sel = N + 1;
    Grid *g = grid_new(60, 8);
    Canvas cv = canvas_of(g, C256_UTF8);
    render_circuit(&cv, &sc, SL_CIRCUIT_QK_TOKEN_TOKEN, 0, true);
    /* ticks line: the key token 5 marked, the answer 1 ticked */
    ck_assert_uint_eq(grid_cell(g, 4 + 5, 1)->ch, 0x25bc);
    ck_assert_uint_eq(grid_cell(g, 4 + 1, 1)->ch, 0x2713);
    ck_assert_int_eq(grid_cell(g, 4 + 1, 1)->fg, COL_GOOD);
    /* the counts, when known */
    sc.counts_known = true;
    sc.qk_next_hits = 5;
    grid_clear(g);
    render_circuit(&cv, &sc, SL_CIRCUIT_QK_TOKEN_TOKEN, 0, true);
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, 6), "argmax=value+1 5/6"));
    /* a short panel: rows 4..7 of 8 in view (the marked row 7 must show), an
     * up arrow where rows are hidden, and the window named in the title */
    Grid *s = grid_new(60, 6);
    Canvas sv = canvas_of(s, C256_UTF8);
    render_circuit(&sv, &sc, SL_CIRCUIT_QK_TOKEN_TOKEN, 0, true);
    ck_assert_ptr_nonnull(strstr(test_grid_row(s, 0), "rows 4-7 of 8"));
    ck_assert_uint_eq(grid_cell(s, 0, 2)->ch, 0x25b2);
    /* a narrow panel: 6 of 8 columns (one column goes to the arrow), the
     * last one shown named before the arrow */
    Grid *n = grid_new(11, 8);
    Canvas nv = canvas_of(n, C256_UTF8);
    sc.cursor = 2;   /* key token 1: columns 0..5 */
    render_circuit(&nv, &sc, SL_CIRCUIT_QK_TOKEN_TOKEN, 0, true);
    ck_assert_uint_eq(grid_cell(n, 10, 1)->ch, 0x25b6);
    ck_assert_uint_eq(grid_cell(n, 9, 1)->ch, '5');
    grid_free(g);
    grid_free(s);
    grid_free(n);
}
END_TEST

START_TEST(test_named_positions_and_mask)
{
    /* issue 14.2: `t` names positions on the heatmap's axes; labels never
     * touch (one that would is left out, the cursor's placed first) */
    Scene sc = make_scene();
    sc.named_positions = true;
    int w, h;
    render_attention_size(&sc, 2, &w, &h);
    Grid *g = grid_new(w, h);
    Canvas cv = canvas_of(g, MONO_ASCII);
    render_attention(&cv, &sc, 2);
    ck_assert_str_eq(test_grid_row(g, 1), "     BOS a2  MID b2");
    ck_assert_str_eq(strncmp(test_grid_row(g, 3), "  a1 ", 5) == 0 ? "ok" : test_grid_row(g, 3), "ok");
    grid_free(g);
    /* the pos-pos circuit shows the causal mask: key after query masked */
    sc.named_positions = false;
    sc.circuit_scale = CS_WHOLE;
    render_circuit_size(&sc, SL_CIRCUIT_QK_POS_POS, MONO_ASCII, &w, &h);
    g = grid_new(w, h);
    cv = canvas_of(g, MONO_ASCII);
    render_circuit(&cv, &sc, SL_CIRCUIT_QK_POS_POS, 0, true);
    /* matrix line 0 is query position 0: keys 1.. are masked, key 0 is not */
    uint32_t mask = glyph(MONO_ASCII, GL_MASK);
    ck_assert_uint_eq(grid_cell(g, 4 + 5, 2)->ch, mask);
    ck_assert_uint_ne(grid_cell(g, 4 + 0, 2)->ch, mask);
    ck_assert_uint_ne(grid_cell(g, 4 + 3, 2 + 5)->ch, mask);   /* query 5, key 3: seen */
    grid_free(g);
}
END_TEST

START_TEST(test_qk_terms_lookup)
{
    /* the scene's terms are sl_circuit_score_terms' [4, T, T]; here filled by
     * hand from the toy tables: term t of (q, k) at t * T*T + q * T + k */
    Scene sc = make_scene();
    static float terms[SL_SCORE_TERMS * T * T];
    for (int q = 0; q < T; q++)
        for (int k = 0; k <= q; k++) {
            int tq = tokens[q], tk = tokens[k];
            terms[0 * T * T + q * T + k] = qk_tt[tq * V + tk];
            terms[1 * T * T + q * T + k] = qk_tp[tq * T + k];
            terms[2 * T * T + q * T + k] = qk_pt[q * V + tk];
            terms[3 * T * T + q * T + k] = qk_pp[q * T + k];
        }
    sc.score_terms = terms;
    float t[4];
    /* query MID (pos 4, token 7), key pos 2 (token 1) */
    ck_assert(scene_score_terms_at(&sc, 4, 2, t));
    ck_assert_float_eq(t[0], 6.0f);              /* tt[7][1] = 7 - 1 */
    ck_assert_float_eq(t[1], (float)((7 * T + 2) % 5) - 2);   /* tp[7][2] */
    ck_assert_float_eq(t[2], 1.0f);
    ck_assert_float_eq(t[3], 0.5f);
    sc.score_terms = NULL;   /* another layer than 0: no terms */
    ck_assert(!scene_score_terms_at(&sc, 4, 2, t));
}
END_TEST

/* ---- grids, canvases, text -------------------------------------------------- */

START_TEST(test_canvas_clipping)
{
    Grid *g = grid_new(10, 3);
    Canvas cv = canvas_of(g, MONO_ASCII);
    Canvas sub = canvas_sub(cv, 2, 1, 4, 1);
    cv_text(&sub, -1, 0, "abcdefgh", COL_DEFAULT, 0);
    cv_text(&sub, 0, 1, "zzz", COL_DEFAULT, 0);    /* below the sub-canvas: nothing */
    cv_put(&sub, 4, 0, 'Q', COL_DEFAULT, COL_DEFAULT, 0);
    char *text = grid_dump_text(g);
    ck_assert_str_eq(text, "\n  bcde\n\n");
    free(text);
    /* sub-canvases past the edges shrink to nothing, never beyond */
    Canvas far = canvas_sub(cv, 20, 20, 5, 5);
    ck_assert_int_eq(far.r.w, 0);
    ck_assert_int_eq(far.r.h, 0);
    cv_fill(&far, 'X', COL_DEFAULT, COL_DEFAULT, 0);
    Canvas neg = canvas_sub(cv, -3, -3, 5, 5);
    ck_assert_int_eq(neg.r.w, 2);
    ck_assert_int_eq(neg.r.h, 2);
    grid_free(g);
}
END_TEST

START_TEST(test_tiny_grids)
{
    /* every panel on a 1x1 and a 0x0 grid: nothing written outside, no crash */
    Scene sc = make_scene();
    for (int size = 0; size <= 2; size++) {
        Grid *g = grid_new(size, size);
        ck_assert_ptr_nonnull(g);
        Canvas cv = canvas_of(g, C256_UTF8);
        render_title(&cv, &sc, "1 Sort|2 Attention", 0);
        render_status(&cv, &sc);
        render_strip(&cv, &sc, 4, -1);
        render_predictions(&cv, &sc, 4, 0);
        render_output_line(&cv, &sc);
        render_pred_detail(&cv, &sc);
        render_cursor_line(&cv, &sc);
        render_attention(&cv, &sc, 2);
        render_cursor_detail(&cv, &sc);
        render_sources(&cv, &sc);
        render_circuit(&cv, &sc, SL_CIRCUIT_OV_POS, 1, false);
        KeyEntry keys[2] = {{"q", "quit"}, {"?", "help"}};
        render_keys(&cv, keys, 2);
        render_help(&cv, keys, 2);
        render_editor(&cv, &sc, "1 2", 3, "bad");
        render_too_small(&cv, 40, 10);
        if (size == 1)
            ck_assert_uint_eq(grid_cell(g, 0, 0)->ch, 's');
        grid_free(g);
    }
}
END_TEST

START_TEST(test_too_small_note)
{
    Grid *g = grid_new(20, 4);
    Canvas cv = canvas_of(g, MONO_ASCII);
    render_too_small(&cv, 40, 10);
    char *text = grid_dump_text(g);
    /* the note wraps over the lines there are */
    ck_assert_str_eq(text, "sortlens needs at le\nast 40x10 (now 20x4)\n; q quits\n\n");
    free(text);
    grid_free(g);
}
END_TEST

START_TEST(test_utf8)
{
    const char *s = "a\xc3\xa9\xe2\x96\x80\xff\xc3(\xe0\x80\x80";
    ck_assert_uint_eq(render_utf8_next(&s), 'a');
    ck_assert_uint_eq(render_utf8_next(&s), 0xe9);
    ck_assert_uint_eq(render_utf8_next(&s), 0x2580);
    ck_assert_uint_eq(render_utf8_next(&s), 0xfffd);   /* 0xff */
    ck_assert_uint_eq(render_utf8_next(&s), 0xfffd);   /* 0xc3 without continuation */
    ck_assert_uint_eq(render_utf8_next(&s), '(');
    ck_assert_uint_eq(render_utf8_next(&s), 0xfffd);   /* overlong */
    char out[16];
    render_text_sanitize("a\x1b[2Jb\xc3\xa9", out, sizeof out);
    ck_assert_str_eq(out, "a?[2Jb??");
    /* control characters never reach the grid */
    Grid *g = grid_new(4, 1);
    Canvas cv = canvas_of(g, MONO_ASCII);
    cv_text(&cv, 0, 0, "a\tb\n", COL_DEFAULT, 0);
    ck_assert_str_eq(test_grid_row(g, 0), "a?b?");
    grid_free(g);
}
END_TEST

START_TEST(test_numbers)
{
    char b[32];
    fmt_short(b, sizeof b, 0.25, false);
    ck_assert_str_eq(b, "0.25");
    fmt_short(b, sizeof b, 31.44, true);
    ck_assert_str_eq(b, "+31.4");
    fmt_short(b, sizeof b, -1040.2, true);
    ck_assert_str_eq(b, "-1040");
    fmt_num(b, sizeof b, 3.14159, 6, false);
    ck_assert_str_eq(b, "3.1416");
    fmt_num(b, sizeof b, -123456.0, 6, true);
    ck_assert_str_eq(b, "-1e+05");
    fmt_num(b, sizeof b, NAN, 6, true);
    ck_assert_str_eq(b, "nan");
}
END_TEST

START_TEST(test_names)
{
    Scene sc = make_scene();
    char b[16];
    scene_pos_name(&sc, 0, b, sizeof b);
    ck_assert_str_eq(b, "BOS");
    scene_pos_name(&sc, 3, b, sizeof b);
    ck_assert_str_eq(b, "a3");
    scene_pos_name(&sc, 4, b, sizeof b);
    ck_assert_str_eq(b, "MID");
    scene_pos_name(&sc, 7, b, sizeof b);
    ck_assert_str_eq(b, "b3");
    scene_token_label(&sc, 6, 1, b, sizeof b);
    ck_assert_str_eq(b, "B");
    scene_token_label(&sc, 7, 3, b, sizeof b);
    ck_assert_str_eq(b, "MID");
    int rows, cols;
    scene_circuit_shape(&sc, SL_CIRCUIT_QK_TOKEN_POS, &rows, &cols);
    ck_assert_int_eq(rows, V);
    ck_assert_int_eq(cols, T);
    scene_circuit_shape(&sc, SL_CIRCUIT_OV_POS, &rows, &cols);
    ck_assert_int_eq(rows, T);
    ck_assert_int_eq(cols, VO);
    int r, c;
    scene_circuit_marks(&sc, SL_CIRCUIT_OV, &r, &c);   /* source token of pos 2 (1) -> predicted value at MID (1) */
    ck_assert_int_eq(r, 1);
    ck_assert_int_eq(c, 1);
    scene_circuit_marks(&sc, SL_CIRCUIT_QK_POS_TOKEN, &r, &c);    /* query position 4, key token 1 */
    ck_assert_int_eq(r, 4);
    ck_assert_int_eq(c, 1);
}
END_TEST

START_TEST(test_layout_sizes)
{
    /* issue 14.1: cells grow with the room, a label on every column where it
     * fits, else every k-th with the step in the title; hand-computed cells
     * of the toy's token-token circuit m[r][c] = r - c over range 7 in
     * monochrome (glyphs: ,-= % for -1..-7 and .+*# for 1..7 as
     * round(v / 7 * 10) falls; see test_monochrome_ramps) */
    Scene sc = make_scene();
    sc.circuit_scale = CS_WHOLE;
    int w, h;
    render_circuit_size_level(&sc, SL_CIRCUIT_QK_TOKEN_TOKEN, MONO_ASCII, 3, &w, &h);
    ck_assert_int_eq(w, 4 + 3 * V);
    ck_assert_int_eq(h, V + 4);
    render_circuit_size_level(&sc, SL_CIRCUIT_QK_TOKEN_TOKEN, C256_UTF8, 0, &w, &h);
    ck_assert_int_eq(h, V / 2 + 4);   /* half blocks */
    ck_assert_int_eq(render_circuit_fit(&sc, SL_CIRCUIT_QK_TOKEN_TOKEN, MONO_ASCII, 28, 12), 3);
    ck_assert_int_eq(render_circuit_fit(&sc, SL_CIRCUIT_QK_TOKEN_TOKEN, MONO_ASCII, 27, 12), 2);
    ck_assert_int_eq(render_circuit_fit(&sc, SL_CIRCUIT_QK_TOKEN_TOKEN, MONO_ASCII, 28, 11), 0);
    ck_assert_int_eq(label_step(2, 1), 5);   /* "10" and a blank: 3 cells -> 5 */
    ck_assert_int_eq(label_step(2, 2), 2);
    ck_assert_int_eq(label_step(2, 3), 1);
    ck_assert_int_eq(label_step(3, 1), 5);
    ck_assert_int_eq(label_step(9, 1), 10);

    /* 28x12: three columns a cell, every column labelled (the key token 1
     * is the marked column and the answer), every row */
    Grid *g = grid_new(28, 12);
    Canvas cv = canvas_of(g, MONO_ASCII);
    render_circuit(&cv, &sc, SL_CIRCUIT_QK_TOKEN_TOKEN, 0, true);
    ck_assert_str_eq(test_grid_row(g, 0), "- QK token-token | whole ---");
    ck_assert_str_eq(test_grid_row(g, 1), "      0  v  2  3  4  5  B  M");
    ck_assert_str_eq(test_grid_row(g, 2), "   0   ,,,------======%%%%%%");
    ck_assert_str_eq(test_grid_row(g, 3), "   1...   ,,,------======%%%");
    ck_assert_str_eq(test_grid_row(g, 8), " BOS###******++++++...   ,,,");
    ck_assert_str_eq(test_grid_row(g, 9), ">MID###[X]******++++++...");
    ck_assert_str_eq(test_grid_row(g, 10), " query MID, key 1: +6.000");
    grid_free(g);

    /* 20x12: two columns, still every label */
    g = grid_new(20, 12);
    cv = canvas_of(g, MONO_ASCII);
    render_circuit(&cv, &sc, SL_CIRCUIT_QK_TOKEN_TOKEN, 0, true);
    ck_assert_str_eq(test_grid_row(g, 1), "     0 v 2 3 4 5 B M");
    ck_assert_str_eq(test_grid_row(g, 2), "   0  ,,----====%%%%");
    ck_assert_str_eq(test_grid_row(g, 9), ">MID##[]****++++..");
    grid_free(g);

    /* 40x12 but one column a cell (only 12 wide for the matrix): a label on
     * every 2nd column, said in the title */
    g = grid_new(40, 12);
    Canvas nv = canvas_sub(canvas_of(g, MONO_ASCII), 0, 0, 12, 12);
    render_circuit(&nv, &sc, SL_CIRCUIT_QK_TOKEN_TOKEN, 0, true);
    ck_assert_str_eq(test_grid_row(g, 1), "     v2 4 B");   /* 0 keeps its blank from the mark */
    ck_assert_str_eq(test_grid_row(g, 2), "   0 ,--==%%");
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, 0), "QK"));
    grid_free(g);
    /* the heatmap at 29x19: cells 3 wide and two lines high, every key
     * labelled; weights 1/(q+1): BOS '@', MID 0.2 ':'; the cursor (key 2)
     * bracketed on both lines */
    sc.circuit_scale = CS_WHOLE;
    g = grid_new(5 + 3 * T, 2 * T + 3);
    cv = canvas_of(g, MONO_ASCII);
    render_attention(&cv, &sc, 3);
    ck_assert_str_eq(test_grid_row(g, 1), "       B  5  1  3  M  1  3  5");
    ck_assert_str_eq(test_grid_row(g, 2), " BOS @@@.  .  .  .  .  .  .");
    ck_assert_str_eq(test_grid_row(g, 3), "     @@@");
    ck_assert_str_eq(test_grid_row(g, 10), ">MID ::::::[:]::::::.  .  .");
    ck_assert_str_eq(test_grid_row(g, 11), "     ::::::[:]::::::");
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, 2 + 2 * T), "weight 0"));
    ck_assert_ptr_null(strstr(test_grid_row(g, 0), "labelled every"));
    grid_free(g);
    /* at 2 columns with the positions named ("a1", "MID": 3 wide with the
     * blank, 2 cells) every 2nd key, said in the title */
    sc.named_positions = true;
    g = grid_new(60, T + 3);
    cv = canvas_of(g, MONO_ASCII);
    render_attention(&cv, &sc, 2);
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, 0), "keys labelled every 2nd"));
    grid_free(g);
    sc.named_positions = false;

    /* the sources of MID (5: BOS a1 a2 a3 MID) cut to 3 rows around the
     * cursor (a2): the title says how many and which, arrows at the cut edges */
    g = grid_new(70, 5);
    cv = canvas_of(g, MONO_UTF8);
    render_sources(&cv, &sc);
    ck_assert_ptr_nonnull(strstr(test_grid_row(g, 0), "where MID (pos 4) looks \u00b7 3 of 5 (a1..a3), \u2191\u2193 scrolls"));
    ck_assert_int_eq(strncmp(test_grid_row(g, 2), "\u25b2a1", 4), 0);
    ck_assert_int_eq(strncmp(test_grid_row(g, 3), " a2", 3), 0);
    ck_assert_int_eq(strncmp(test_grid_row(g, 4), "\u25bca3", 4), 0);
    grid_free(g);
}
END_TEST

static Suite *render_suite(void)
{
    Suite *s = suite_create("render");
    TCase *tc = tcase_create("render");
    tcase_add_test(tc, test_ramp_levels);
    tcase_add_test(tc, test_monochrome_ramps);
    tcase_add_test(tc, test_heat_cells_by_depth);
    tcase_add_test(tc, test_palette);
    tcase_add_test(tc, test_colorbar);
    tcase_add_test(tc, test_atlas_page);
    tcase_add_test(tc, test_token_strip);
    tcase_add_test(tc, test_token_strip_scrolls);
    tcase_add_test(tc, test_prediction_rows);
    tcase_add_test(tc, test_output_line);
    tcase_add_test(tc, test_attention_heatmap_mono);
    tcase_add_test(tc, test_attention_heatmap_colours);
    tcase_add_test(tc, test_attention_heatmap_scales);
    tcase_add_test(tc, test_circuit_half_blocks);
    tcase_add_test(tc, test_value_range_percentile);
    tcase_add_test(tc, test_ov_scale_ignores_bos_row);
    tcase_add_test(tc, test_circuit_row_scale);
    tcase_add_test(tc, test_circuit_marks_and_window);
    tcase_add_test(tc, test_qk_terms_lookup);
    tcase_add_test(tc, test_named_positions_and_mask);
    tcase_add_test(tc, test_canvas_clipping);
    tcase_add_test(tc, test_tiny_grids);
    tcase_add_test(tc, test_too_small_note);
    tcase_add_test(tc, test_utf8);
    tcase_add_test(tc, test_numbers);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_layout_sizes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(render_suite()); }
