/* circuit.c: a circuit panel: title, column ticks, matrix rows, the value
 * under the cursor and the colour bar. */
#include "panel_draw.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CIRC_GUTTER 4   /* mark + 3-char label */

void render_circuit_size(const Scene *sc, int view, Style st, int *w, int *h)
{
    int rows, cols;
    scene_circuit_shape(sc, view, &rows, &cols);
    *w = CIRC_GUTTER + cols;
    *h = (style_half_blocks(st) ? (rows + 1) / 2 : rows) + CIRC_EXTRA_LINES;
}
static void axis_label(const Scene *sc, int view, bool is_row, int idx, char *buf, size_t size)
{
    if (!circuit_axis_is_token(view, is_row) && sc->named_positions)
        scene_pos_name(sc, idx, buf, size);
    else if (circuit_axis_is_token(view, is_row))
        scene_token_label(sc, idx, 3, buf, size);
    else
        snprintf(buf, size, "%d", idx);
}
static RowNorm row_norm_of(const float *data, int cols, int r, int scale)
{
    RowNorm n = {0, 1};
    if (scale != CS_ROW || r < 0)
        return n;
    float s;
    circuit_row_norm(data + (size_t)r * cols, cols, &n.mean, &s);
    n.inv = s > 0 ? 1 / s : 0;
    return n;
}
/* The section title of a circuit panel, as much as fits: the name, the
 * scale, the formula, and which rows and columns are in view. */
static void circuit_title(Canvas *cv, const Scene *sc, int view, bool focused, const char *clip)
{
    char buf[200];
    const char *name = circuit_view_name(view), *f = circuit_view_formula(view);
    const char *scale = circuit_scale_name(sc->circuit_scale);
    const char *sep = cv->style.utf8 ? " \u00b7 " : " | ";
    int w = cv->r.w - 4;   /* "─ " + text + " ─" */
    int ln = render_utf8_width(name), lf = render_utf8_width(f) + 2, ls = render_utf8_width(scale) + 3, lc = clip ? render_utf8_width(clip) + 3 : 0;
    bool with_clip = clip && ln + lc <= w;
    bool with_scale = ln + (with_clip ? lc : 0) + ls <= w;
    bool with_f = ln + (with_clip ? lc : 0) + (with_scale ? ls : 0) + lf <= w;
    /* the panel draws the model's table, whatever is switched off: say so */
    bool off = scene_iv_here(sc) && ((circuit_kind_is_qk(view) && (sc->qk_off & (1u << circuit_kind_term(view)))) ||
                                     (view == SL_CIRCUIT_OV_POS && sc->ov_drop_pos));
    const char *pre = !off ? "" : view == SL_CIRCUIT_OV_POS ? "[removed] " : "[OFF] ";
    snprintf(buf, sizeof buf, "%s%s%s%s%s%s%s%s", pre, name, with_f ? "  " : "", with_f ? f : "", with_scale ? sep : "",
             with_scale ? scale : "", with_clip ? sep : "", with_clip ? clip : "");
    panel_section(cv, 0, buf, focused);
}

/* Where a circuit panel is: its matrix, the scale, the marks and cursor,
 * and the window of rows and columns in view. */
typedef struct CircuitPanel {
    Canvas *cv;
    const Scene *sc;
    int view, panel;
    const float *data;    /* [rows, cols] */
    int rows, cols;
    int scale;
    float range;          /* of CS_VALUES / CS_WHOLE; 1 per row */
    bool half;            /* two matrix rows per line */
    int mr, mc, ans;      /* marked row and column, the answer's column */
    int cr, cc;           /* the cursor cell */
    int r0, c0;           /* first row and column in view */
    int vis_rows, vis_cols;           /* room */
    int visible_rows, visible_cols;   /* shown */
    int nlines;           /* matrix lines drawn */
} CircuitPanel;

/* Sizes the window around the cursor and the marks; false when there is no room. */
static bool circuit_window(CircuitPanel *p)
{
    int lines_avail = p->cv->r.h - CIRC_EXTRA_LINES;   /* title, ticks, value line, colour bar */
    p->vis_rows = p->half ? lines_avail * 2 : lines_avail;
    p->vis_cols = p->cv->r.w - CIRC_GUTTER;
    if (p->vis_cols < p->cols)
        p->vis_cols--;   /* a column for the "more to the right" arrow */
    if (p->vis_rows < 1 || p->vis_cols < 1)
        return false;
    p->r0 = scroll_pair(p->rows, p->vis_rows, p->cr, p->mr >= 0 ? p->mr : p->cr);
    if (p->half)
        p->r0 &= ~1;   /* whole pairs, so that a row keeps its half */
    p->c0 = scroll_pair(p->cols, p->vis_cols, p->cc, p->mc >= 0 ? p->mc : p->cc);
    p->visible_rows = p->rows - p->r0 < p->vis_rows ? p->rows - p->r0 : p->vis_rows;
    p->visible_cols = p->cols - p->c0 < p->vis_cols ? p->cols - p->c0 : p->vis_cols;
    p->nlines = p->half ? (p->visible_rows + 1) / 2 : p->visible_rows;
    return true;
}

/* "rows 0-25 cols 3-40 of 52x52": which part is in view, or "" when all. */
static void circuit_clip_text(const CircuitPanel *p, char *clip, size_t size)
{
    int r1 = p->r0 + p->visible_rows - 1, c1 = p->c0 + p->visible_cols - 1;
    clip[0] = '\0';
    if (p->visible_rows < p->rows && p->visible_cols < p->cols)
        snprintf(clip, size, "rows %d-%d cols %d-%d of %dx%d", p->r0, r1, p->c0, c1, p->rows, p->cols);
    else if (p->visible_rows < p->rows)
        snprintf(clip, size, "rows %d-%d of %d", p->r0, r1, p->rows);
    else if (p->visible_cols < p->cols)
        snprintf(clip, size, "cols %d-%d of %d", p->c0, c1, p->cols);
}

/* Line 1: column ticks every 10, the marked column, the answer; at a cut
 * edge an arrow with the first / last column shown next to it, so that the
 * window is plain without the title.  Ticks keep clear of those labels. */
static void circuit_ticks(const CircuitPanel *p)
{
    Canvas *cv = p->cv;
    Style st = cv->style;
    char buf[32];
    int mc = p->mc, ans = p->ans, c0 = p->c0, vis_cols = p->vis_cols;
    int lo_end = CIRC_GUTTER, hi_start = CIRC_GUTTER + vis_cols;   /* ticks live in [lo_end, hi_start) */
    /* key positions named (`t`): ticks at BOS, a1, MID and b1 */
    bool named_ticks = p->sc->named_positions && !circuit_axis_is_token(p->view, false);
    int n = p->sc->n, tick_end = -1;
    if (c0 > 0) {
        cv_put(cv, CIRC_GUTTER - 1, 1, glyph(st, GL_MARK_LEFT), COL_WARN, COL_DEFAULT, ATTR_BOLD);
        int len = snprintf(buf, sizeof buf, "%d", c0);
        bool clash = (mc >= c0 && mc < c0 + len + 1) || (ans >= c0 && ans < c0 + len + 1);
        if (!clash && vis_cols > 2 * len + 2) {
            cv_text(cv, CIRC_GUTTER, 1, buf, COL_WARN, 0);
            lo_end = CIRC_GUTTER + len + 1;
        }
    }
    if (c0 + p->visible_cols < p->cols) {
        int last = c0 + p->visible_cols - 1, len = snprintf(buf, sizeof buf, "%d", last);
        int xe = CIRC_GUTTER + vis_cols;   /* the arrow's column */
        bool clash = (mc > last - len - 1 && mc <= last) || (ans > last - len - 1 && ans <= last);
        cv_put(cv, xe, 1, glyph(st, GL_MARK_RIGHT), COL_WARN, COL_DEFAULT, ATTR_BOLD);
        if (!clash && vis_cols > 2 * len + 2) {
            cv_text(cv, xe - len, 1, buf, COL_WARN, 0);
            hi_start = xe - len - 1;
        }
    }
    for (int c = c0; c < p->cols && c < c0 + vis_cols; c++) {
        int x = CIRC_GUTTER + c - c0;
        if (c == mc) {
            cv_put(cv, x, 1, glyph(st, GL_MARK_DOWN), c == ans ? COL_GOOD : COL_KEY, COL_DEFAULT, ATTR_BOLD);
        } else if (c == ans) {
            cv_put(cv, x, 1, glyph(st, GL_RIGHT), COL_GOOD, COL_DEFAULT, ATTR_BOLD);
        } else if (named_ticks ? (c == 1 || c == n + 1 || c == n + 2) : (c % 10 == 0 && c + 1 < p->cols)) {
            int len = named_ticks ? (axis_label(p->sc, p->view, false, c, buf, sizeof buf), (int)strlen(buf))
                                  : snprintf(buf, sizeof buf, "%d", c);
            bool clash = (mc > c && mc < c + len + 1) || (ans > c && ans < c + len + 1);
            if (!clash && x >= lo_end && x + len <= hi_start && x > tick_end) {
                cv_text(cv, x, 1, buf, COL_DIM, 0);
                tick_end = x + len;   /* the next tick keeps a blank after this one */
            }
        }
    }
}

/* One matrix line at y: matrix rows ra and (half blocks) rb, -1 for none:
 * the row label (the marked row wins, else every 10th), the cells, the cursor. */
static void circuit_line(const CircuitPanel *p, int line)
{
    Canvas *cv = p->cv;
    Style st = cv->style;
    char buf[32];
    int y = 2 + line, mr = p->mr;
    int ra = p->r0 + (p->half ? 2 * line : line), rb = p->half ? ra + 1 : -1;
    if (rb >= p->rows)
        rb = -1;
    int labrow = -1;
    if (ra == mr || rb == mr)
        labrow = mr;
    else if (ra % 10 == 0)
        labrow = ra;
    else if (rb >= 0 && rb % 10 == 0)
        labrow = rb;
    /* a window cut at the top or bottom names its first and last rows, as
     * the column arrows name theirs */
    bool first_cut = line == 0 && p->r0 > 0, last_cut = line == p->nlines - 1 && p->r0 + p->visible_rows < p->rows;
    if (labrow < 0 && first_cut)
        labrow = ra;
    else if (labrow < 0 && last_cut)
        labrow = rb >= 0 ? rb : ra;
    if (labrow >= 0) {
        axis_label(p->sc, p->view, true, labrow, buf, sizeof buf);
        char lab[8];
        snprintf(lab, sizeof lab, "%3.3s", buf);
        if (labrow == mr)
            cv_put(cv, 0, y, glyph(st, GL_MARK_RIGHT), COL_KEY, COL_DEFAULT, ATTR_BOLD);
        cv_text(cv, 1, y, lab, labrow == mr ? COL_KEY : COL_DIM, labrow == mr ? ATTR_BOLD : 0);
    }
    if (labrow != mr && (first_cut || last_cut))
        cv_put(cv, 0, y, glyph(st, line == 0 ? GL_MARK_UP : GL_MARK_DOWN), COL_WARN, COL_DEFAULT, ATTR_BOLD);
    RowNorm na = row_norm_of(p->data, p->cols, ra, p->scale), nb = row_norm_of(p->data, p->cols, rb, p->scale);
    for (int c = p->c0; c < p->cols && c < p->c0 + p->vis_cols; c++) {
        int x = CIRC_GUTTER + c - p->c0;
        float va = shown(p->data[(size_t)ra * p->cols + c], na);
        float vb = rb >= 0 ? shown(p->data[(size_t)rb * p->cols + c], nb) : NAN;
        bool bad = !isfinite(va) || (rb >= 0 && !isfinite(vb));   /* a product that overflowed */
        /* pos-pos: a query never sees a later key, so those cells are the
         * causal mask, as in the heatmap (the table holds values there) */
        bool mask_a = p->view == SL_CIRCUIT_QK_POS_POS && c > ra, mask_b = p->view == SL_CIRCUIT_QK_POS_POS && c > rb;
        if (mask_a)
            va = NAN;
        if (mask_b)
            vb = NAN;
        Cell cell = p->half ? heat_cell_pair_sat(st, va, vb, p->range) : heat_cell_sat(st, va, p->range);
        if (mask_a && (!p->half || rb < 0 || mask_b))
            cell = (Cell){.ch = glyph(st, GL_MASK), .fg = COL_DIM};
        else if (bad && !mask_a)
            cell = (Cell){.ch = '?', .fg = COL_BAD, .attr = ATTR_BOLD};
        Canvas t = *cv;
        bool cur_here = c == p->cc && (ra == p->cr || rb == p->cr);
        canvas_tag(&t, TAG_CIRCUIT, cur_here ? p->cr : ra, c, p->panel);
        if (cur_here) {
            /* the cursor cell shows its own value's colour with a mark */
            Cell own = heat_cell_sat(st, p->cr == ra ? va : vb, p->range);
            int fg = st.depth >= DEPTH_256 ? palette_ink_on(own.bg) : COL_KEY;
            cv_put(&t, x, y, glyph(st, GL_CURSOR), fg, own.bg, ATTR_BOLD);
        } else {
            cv_put(&t, x, y, cell.ch, cell.fg, cell.bg, cell.attr);
        }
    }
}

/* The value under the cursor at line vy, its place on the scale, and the
 * published count for this view. */
static void circuit_readout(const CircuitPanel *p, int vy)
{
    Canvas *cv = p->cv;
    const Scene *sc = p->sc;
    int view = p->view, cr = p->cr, cc = p->cc;
    char buf[200];
    if (vy >= cv->r.h || cr < 0 || cc < 0 || cr >= p->rows || cc >= p->cols)
        return;
    char rl[16], cl[16];
    axis_label(sc, view, true, cr, rl, sizeof rl);
    axis_label(sc, view, false, cc, cl, sizeof cl);
    bool qk = circuit_kind_is_qk(view);
    bool rowtok = circuit_axis_is_token(view, true), coltok = circuit_axis_is_token(view, false);
    const char *rk = !qk ? (rowtok ? "source" : "source pos") : (rowtok ? "query" : "query pos");
    const char *ck = !qk ? "out" : (coltok ? "key" : "key pos");
    float v = p->data[(size_t)cr * p->cols + cc];
    /* positions also by name (pos 11 = MID), when the line has room */
    char rn[16] = "", cn[16] = "";
    if (!rowtok && cv->r.w >= 50) {
        scene_pos_name(sc, cr, rn, sizeof rn);
        snprintf(rl + strlen(rl), sizeof rl - strlen(rl), "=%s", rn);
    }
    if (!coltok && cv->r.w >= 50) {
        scene_pos_name(sc, cc, cn, sizeof cn);
        snprintf(cl + strlen(cl), sizeof cl - strlen(cl), "=%s", cn);
    }
    int x = cv_printf(cv, 1, vy, COL_DIM, 0, "%s %s, %s %s:", rk, rl, ck, cl);
    x = cv_printf(cv, x + 1, vy, COL_VALUE, ATTR_BOLD, fabsf(v) >= 1000 ? "%+.0f" : "%+.3f", (double)v);
    if (p->scale == CS_ROW) {
        RowNorm n = row_norm_of(p->data, p->cols, cr, p->scale);
        snprintf(buf, sizeof buf, "(row %+.2f)", (double)shown(v, n));
        if (x + 1 + render_utf8_width(buf) <= cv->r.w)
            x = cv_text(cv, x + 1, vy, buf, COL_DIM, 0);
    } else if (heat_beyond(v, p->range) && x + 9 <= cv->r.w) {
        x = cv_text(cv, x + 1, vy, "(beyond)", v > 0 ? COL_OVER : COL_UNDER, 0);
    }
    int hits = !sc->counts_known ? -1 : view == SL_CIRCUIT_OV ? sc->ov_copy_hits
                                      : view == SL_CIRCUIT_QK_TOKEN_TOKEN ? sc->qk_next_hits : -1;
    if (hits >= 0) {
        snprintf(buf, sizeof buf, view == SL_CIRCUIT_OV ? "argmax=diagonal %d/%d" : "argmax=value+1 %d/%d", hits, sc->Vo);
        if (x + 2 + render_utf8_width(buf) <= cv->r.w)
            cv_text(cv, cv->r.w - render_utf8_width(buf), vy, buf, hits == sc->Vo ? COL_GOOD : COL_LABEL, 0);
    }
}

/* The colour bar at line by and what sets its range. */
static void circuit_colorbar(const CircuitPanel *p, int by)
{
    Canvas *cv = p->cv;
    if (by >= cv->r.h)
        return;
    long beyond = 0;
    if (p->scale != CS_ROW)   /* cells beyond the range, anywhere in the matrix */
        for (size_t i = 0; i < (size_t)p->rows * p->cols; i++)
            beyond += heat_beyond(p->data[i], p->range);
    int room = cv->r.w - 2;
    const char *desc;
    if (p->scale == CS_ROW)
        desc = "each row centred, to its own max";
    else if (p->scale == CS_WHOLE)
        desc = "max |x| of the whole matrix";
    else if (circuit_axis_has_specials(p->view, true) || circuit_axis_has_specials(p->view, false))
        desc = "99th pct of |x|, BOS/MID rows+cols left out";
    else
        desc = "99th percentile of |x|";
    char d[96];
    if (beyond > 0)
        snprintf(d, sizeof d, "%s; %ld beyond", desc, beyond);
    else
        snprintf(d, sizeof d, "%s", desc);
    int bw = room < 40 ? room : 40;
    if (room >= 25 + 1 + render_utf8_width(d))
        bw = room - 1 - render_utf8_width(d) < 40 ? room - 1 - render_utf8_width(d) : 40;
    int used = p->scale == CS_VALUES ? render_colorbar_caps(cv, 1, by, bw, p->range)
                                     : render_colorbar(cv, 1, by, bw, RAMP_DIVERGING, -p->range, p->range);
    if (used + 2 + render_utf8_width(d) <= room + 1)
        cv_text(cv, used + 2, by, d, COL_DIM, 0);
}

void render_circuit(Canvas *cv, const Scene *sc, int view, int panel, bool focused)
{
    CircuitPanel p = {.cv = cv, .sc = sc, .view = view, .panel = panel};
    float whole = 0;
    scene_circuit_shape(sc, view, &p.rows, &p.cols);
    p.data = scene_circuit_data(sc, view, &whole);
    if (!p.data) {
        circuit_title(cv, sc, view, focused, NULL);
        cv_text(cv, 1, 1, "(no circuit tables for this model)", COL_DIM, 0);
        return;
    }
    p.scale = sc->circuit_scale >= 0 && sc->circuit_scale < CS_COUNT ? sc->circuit_scale : CS_ROW;
    p.range = p.scale == CS_ROW ? 1.0f : scene_circuit_range(sc, view, p.scale);
    p.half = style_half_blocks(cv->style);
    scene_circuit_marks(sc, view, &p.mr, &p.mc);
    p.ans = scene_circuit_answer_col(sc, view);
    p.cr = p.mr, p.cc = p.mc;   /* the cursor: the marks, unless a cell was clicked or moved to */
    if (sc->free_panel == panel && sc->free_row >= 0 && sc->free_row < p.rows && sc->free_col >= 0 &&
        sc->free_col < p.cols) {
        p.cr = sc->free_row;
        p.cc = sc->free_col;
    }
    if (!circuit_window(&p)) {
        circuit_title(cv, sc, view, focused, NULL);
        return;
    }
    char clip[128];
    circuit_clip_text(&p, clip, sizeof clip);
    circuit_title(cv, sc, view, focused, clip[0] ? clip : NULL);
    circuit_ticks(&p);
    for (int line = 0; line < p.nlines; line++)
        circuit_line(&p, line);
    circuit_readout(&p, 2 + p.nlines);
    circuit_colorbar(&p, 3 + p.nlines);
}
