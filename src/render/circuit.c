/* circuit.c: a circuit panel: title, column ticks, matrix rows, the value
 * under the cursor and the colour bar. */
#include "panel_draw.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CIRC_GUTTER 4   /* mark + 3-char label */

/* Level -> cell width and whether two matrix rows share a line. */
static int level_cw(int level) { return level <= 1 ? 1 : level; }
static bool level_half(Style st, int level) { return level == 0 && style_half_blocks(st); }

void render_circuit_size_level(const Scene *sc, int view, Style st, int level, int *w, int *h)
{
    int rows, cols, split = view == SCENE_QK_COMBINED;   /* a gap column and line between the blocks */
    scene_circuit_shape(sc, view, &rows, &cols);
    *w = CIRC_GUTTER + cols * level_cw(level) + split;
    *h = (level_half(st, level) ? (rows + 1) / 2 : rows) + split + CIRC_EXTRA_LINES;
}
void render_circuit_size(const Scene *sc, int view, Style st, int *w, int *h)
{
    render_circuit_size_level(sc, view, st, 0, w, h);
}
int render_circuit_fit(const Scene *sc, int view, Style st, int w, int h)
{
    for (int level = CIRC_LEVELS - 1; level > 0; level--) {
        int lw, lh;
        render_circuit_size_level(sc, view, st, level, &lw, &lh);
        if (lw <= w && lh <= h)
            return level;
    }
    return 0;
}
int label_step(int width, int cw)
{
    int need = (width + 1 + cw - 1) / (cw > 0 ? cw : 1);   /* cells a label and its blank take */
    for (int step = 1;; step *= 10) {
        if (need <= step)
            return step;
        if (need <= 2 * step)
            return 2 * step;
        if (need <= 5 * step)
            return 5 * step;
    }
}

/* Whether index idx of an axis of the view is a token (else a position):
 * the combined matrix has its tokens first, then its positions. */
static bool axis_tok(const Scene *sc, int view, bool is_row, int idx)
{
    return view == SCENE_QK_COMBINED ? idx < sc->V : circuit_axis_is_token(view, is_row);
}
/* A label of `width` columns at most: tokens "BOS"/"B", values; positions
 * by name (`t`) or number ("p3" in the combined matrix, beside its tokens). */
static void axis_label_w(const Scene *sc, int view, bool is_row, int idx, int width, char *buf, size_t size)
{
    int pos = view == SCENE_QK_COMBINED && idx >= sc->V ? idx - sc->V : idx;
    if (axis_tok(sc, view, is_row, idx))
        scene_token_label(sc, idx, width, buf, size);
    else if (sc->named_positions)
        scene_pos_name(sc, pos, buf, size);
    else if (view == SCENE_QK_COMBINED)
        snprintf(buf, size, "p%d", pos);
    else
        snprintf(buf, size, "%d", pos);
}
static void axis_label(const Scene *sc, int view, bool is_row, int idx, char *buf, size_t size)
{
    axis_label_w(sc, view, is_row, idx, 3, buf, size);
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
/* "labels every 2nd row, 5th col" (brief: "step 2 rows, 5 cols"), or ""
 * when every row and column is labelled. */
static void step_text(int rstep, int cstep, bool brief, char *buf, size_t size)
{
    char r[24] = "", c[24] = "";
    if (rstep > 1)
        snprintf(r, sizeof r, brief ? "%d rows" : "%d%s row", rstep, rstep == 2 ? "nd" : "th");
    if (cstep > 1)
        snprintf(c, sizeof c, brief ? "%d cols" : "%d%s col", cstep, cstep == 2 ? "nd" : "th");
    if (r[0] || c[0])
        snprintf(buf, size, "%s %s%s%s", brief ? "step" : "labels every", r, r[0] && c[0] ? ", " : "", c);
    else
        buf[0] = '\0';
}
/* The section title of a circuit panel, as much as fits: the name, which
 * rows and columns are in view, the scale, the label steps, the formula. */
static void circuit_title(Canvas *cv, const Scene *sc, int view, bool focused, const char *clip, int rstep, int cstep)
{
    char buf[260], steps[64];
    const char *name = circuit_view_name(view), *f = circuit_view_formula(view);
    const char *scale = circuit_scale_name(sc->circuit_scale);
    const char *sep = cv->style.utf8 ? " \u00b7 " : " | ";
    int w = cv->r.w - 4;   /* "─ " + text + " ─" */
    int ln = render_utf8_width(name), lf = render_utf8_width(f) + 2, ls = render_utf8_width(scale) + 3, lc = clip ? render_utf8_width(clip) + 3 : 0;
    bool with_clip = clip && ln + lc <= w;
    int used = ln + (with_clip ? lc : 0);
    bool with_scale = used + ls <= w;
    used += with_scale ? ls : 0;
    step_text(rstep, cstep, false, steps, sizeof steps);
    if (steps[0] && used + render_utf8_width(steps) + 3 > w)
        step_text(rstep, cstep, true, steps, sizeof steps);
    int lt = steps[0] ? render_utf8_width(steps) + 3 : 0;
    bool with_steps = lt && used + lt <= w;
    used += with_steps ? lt : 0;
    bool with_f = used + lf <= w;
    /* the panel draws the model's table, whatever is switched off: say so */
    bool off = scene_iv_here(sc) && ((circuit_kind_is_qk(view) && (sc->qk_off & (1u << circuit_kind_term(view)))) ||
                                     (view == SL_CIRCUIT_OV_POS && sc->ov_drop_pos));
    const char *pre = !off ? "" : view == SL_CIRCUIT_OV_POS ? "[removed] " : "[OFF] ";
    snprintf(buf, sizeof buf, "%s%s%s%s%s%s%s%s%s%s", pre, name, with_f ? "  " : "", with_f ? f : "",
             with_clip ? sep : "", with_clip ? clip : "", with_scale ? sep : "", with_scale ? scale : "",
             with_steps ? sep : "", with_steps ? steps : "");
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
    int cw;               /* columns per cell */
    int split;            /* the combined matrix: the first position row and column (a gap before it), else -1 */
    int rstep, cstep;     /* a label every rstep-th row, cstep-th column */
    int mr, mc, ans;      /* marked row and column, the answer's column */
    int mr2, mc2;         /* the combined matrix: the query's and key's position row and column, else -1 */
    int cr, cc;           /* the cursor cell */
    int r0, c0;           /* first row and column in view */
    int vis_rows, vis_cols;           /* room */
    int visible_rows, visible_cols;   /* shown */
    int nlines;           /* matrix lines drawn, the gap line included */
    int gap_line;         /* the line of the gap between the blocks, or -1 */
} CircuitPanel;

/* The x of column c in view, past the gap when c is a position column. */
static int col_x(const CircuitPanel *p, int c)
{
    return CIRC_GUTTER + (c - p->c0) * p->cw + (p->split >= 0 && p->c0 < p->split && c >= p->split);
}

/* Sizes the window around the cursor and the marks; false when there is no room. */
static bool circuit_window(CircuitPanel *p)
{
    int gap = p->split >= 0;
    int lines_avail = p->cv->r.h - CIRC_EXTRA_LINES - gap;   /* title, ticks, value line, colour bar */
    p->vis_rows = p->half ? lines_avail * 2 : lines_avail;
    p->vis_cols = (p->cv->r.w - CIRC_GUTTER - gap) / p->cw;
    if (p->vis_cols < p->cols)
        p->vis_cols = (p->cv->r.w - CIRC_GUTTER - gap - 1) / p->cw;   /* a column for the "more to the right" arrow */
    if (p->vis_rows < 1 || p->vis_cols < 1)
        return false;
    p->r0 = scroll_pair(p->rows, p->vis_rows, p->cr, p->mr >= 0 ? p->mr : p->cr);
    if (p->half)
        p->r0 &= ~1;   /* whole pairs, so that a row keeps its half */
    p->c0 = scroll_pair(p->cols, p->vis_cols, p->cc, p->mc >= 0 ? p->mc : p->cc);
    p->visible_rows = p->rows - p->r0 < p->vis_rows ? p->rows - p->r0 : p->vis_rows;
    p->visible_cols = p->cols - p->c0 < p->vis_cols ? p->cols - p->c0 : p->vis_cols;
    p->nlines = p->half ? (p->visible_rows + 1) / 2 : p->visible_rows;
    p->gap_line = -1;
    /* the gap line between the token and the position rows, when both are in
     * view (with half blocks only where the split falls between two lines) */
    if (p->split > p->r0 && p->split < p->r0 + p->visible_rows && (!p->half || (p->split - p->r0) % 2 == 0)) {
        p->gap_line = p->half ? (p->split - p->r0) / 2 : p->split - p->r0;
        p->nlines++;
    }
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

/* The widest label of an axis, in cells of width cw. */
static int axis_label_width(const CircuitPanel *p, bool is_row, int n, int cw)
{
    int w = 1;
    char buf[32];
    for (int i = 0; i < n; i++) {
        axis_label_w(p->sc, p->view, is_row, i, cw > 1 ? cw - 1 : 1, buf, sizeof buf);
        int l = (int)strlen(buf);
        w = l > w ? l : w;
    }
    return w;
}

/* Whether column c gets a tick (every cstep-th, counted from each block's start). */
static bool col_ticked(const CircuitPanel *p, int c)
{
    int i = p->split >= 0 && c >= p->split ? c - p->split : c;
    return i % p->cstep == 0;
}

/* Line 1: column labels every cstep-th column, the marked column, the
 * answer; at a cut edge an arrow with the first / last column shown next to
 * it, so that the window is plain without the title.  Labels keep a blank
 * between them and clear of the edge labels. */
static void circuit_ticks(const CircuitPanel *p)
{
    Canvas *cv = p->cv;
    Style st = cv->style;
    char buf[32];
    int mc = p->mc, ans = p->ans, c0 = p->c0, vis_cols = p->vis_cols, cw = p->cw;
    int last_shown = c0 + p->visible_cols - 1;
    int right_edge = col_x(p, last_shown) + cw;                 /* the column after the last cell */
    int lo_end = CIRC_GUTTER, hi_start = right_edge;           /* labels live in [lo_end, hi_start) */
    int tick_end = -1;
    if (c0 > 0) {
        cv_put(cv, CIRC_GUTTER - 1, 1, glyph(st, GL_MARK_LEFT), COL_WARN, COL_DEFAULT, ATTR_BOLD);
        int len = snprintf(buf, sizeof buf, "%d", c0);
        bool clash = (mc >= c0 && mc < c0 + (len + cw) / cw) || (ans >= c0 && ans < c0 + (len + cw) / cw);
        if (!clash && vis_cols * cw > 2 * len + 2) {
            cv_text(cv, CIRC_GUTTER, 1, buf, COL_WARN, 0);
            lo_end = CIRC_GUTTER + len + 1;
        }
    }
    if (c0 + p->visible_cols < p->cols) {
        int len = snprintf(buf, sizeof buf, "%d", last_shown);
        int xe = right_edge;   /* the arrow's column */
        int span = (len + cw) / cw;
        bool clash = (mc > last_shown - span && mc <= last_shown) || (ans > last_shown - span && ans <= last_shown);
        cv_put(cv, xe, 1, glyph(st, GL_MARK_RIGHT), COL_WARN, COL_DEFAULT, ATTR_BOLD);
        if (!clash && vis_cols * cw > 2 * len + 2) {
            cv_text(cv, xe - len, 1, buf, COL_WARN, 0);
            hi_start = xe - len - 1;
        }
    }
    /* the marks first, then the labels around them */
    for (int c = c0; c <= last_shown; c++) {
        int x = col_x(p, c) + cw - 1;
        if (c == mc || c == p->mc2)
            cv_put(cv, x, 1, glyph(st, GL_MARK_DOWN), c == ans ? COL_GOOD : COL_KEY, COL_DEFAULT, ATTR_BOLD);
        else if (c == ans)
            cv_put(cv, x, 1, glyph(st, GL_RIGHT), COL_GOOD, COL_DEFAULT, ATTR_BOLD);
    }
    for (int c = c0; c <= last_shown; c++) {
        if (c == mc || c == ans || c == p->mc2 || !col_ticked(p, c))
            continue;
        int x = col_x(p, c);
        axis_label_w(p->sc, p->view, false, c, cw > 1 ? cw - 1 : 1, buf, sizeof buf);
        int len = (int)strlen(buf), start = len <= cw ? x + cw - len : x;
        bool clash = false;   /* a mark within the label or the blank after it */
        for (int d = c; d < p->cols && d <= c + (len + cw) / cw; d++)
            clash |= d != c && (d == mc || d == ans || d == p->mc2) && col_x(p, d) + cw - 1 <= start + len;
        if (!clash && start >= lo_end && start + len <= hi_start && start > tick_end) {
            cv_text(cv, start, 1, buf, COL_DIM, 0);
            tick_end = start + len;   /* the next label keeps a blank after this one */
        }
    }
}

/* One matrix line at y: matrix rows ra and (half blocks) rb, -1 for none:
 * the row label (the marked row wins, else every rstep-th), the cells, the
 * cursor; or the gap line between the combined matrix's blocks. */
static void circuit_line(const CircuitPanel *p, int line)
{
    Canvas *cv = p->cv;
    Style st = cv->style;
    char buf[32];
    int y = 2 + line, mr = p->mr, cw = p->cw;
    int right_edge = col_x(p, p->c0 + p->visible_cols - 1) + cw;
    if (line == p->gap_line) {
        for (int x = CIRC_GUTTER; x < right_edge; x++)
            cv_put(cv, x, y, glyph(st, GL_HLINE), COL_DIM, COL_DEFAULT, 0);
        if (p->split > p->c0 && p->split < p->c0 + p->visible_cols)
            cv_put(cv, col_x(p, p->split) - 1, y, st.utf8 ? 0x253c : '+', COL_DIM, COL_DEFAULT, 0);
        return;
    }
    int l = p->gap_line >= 0 && line > p->gap_line ? line - 1 : line;
    int ra = p->r0 + (p->half ? 2 * l : l), rb = p->half ? ra + 1 : -1;
    if (rb >= p->rows)
        rb = -1;
    int labrow = -1;
    bool marked_a = ra == mr || ra == p->mr2, marked_b = rb >= 0 && (rb == mr || rb == p->mr2);
    if (marked_a || marked_b)
        labrow = marked_a ? ra : rb;
    else if ((ra - (p->split >= 0 && ra >= p->split ? p->split : 0)) % p->rstep == 0)
        labrow = ra;
    /* a window cut at the top or bottom names its first and last rows, as
     * the column arrows name theirs */
    bool first_cut = l == 0 && p->r0 > 0;
    bool last_cut = line == p->nlines - 1 && p->r0 + p->visible_rows < p->rows;
    if (labrow < 0 && first_cut)
        labrow = ra;
    else if (labrow < 0 && last_cut)
        labrow = rb >= 0 ? rb : ra;
    bool marked = labrow >= 0 && (labrow == mr || labrow == p->mr2);
    if (labrow >= 0) {
        axis_label(p->sc, p->view, true, labrow, buf, sizeof buf);
        char lab[8];
        snprintf(lab, sizeof lab, "%3.3s", buf);
        if (marked)
            cv_put(cv, 0, y, glyph(st, GL_MARK_RIGHT), COL_KEY, COL_DEFAULT, ATTR_BOLD);
        cv_text(cv, 1, y, lab, marked ? COL_KEY : COL_DIM, marked ? ATTR_BOLD : 0);
    }
    if (!marked && (first_cut || last_cut))
        cv_put(cv, 0, y, glyph(st, l == 0 ? GL_MARK_UP : GL_MARK_DOWN), COL_WARN, COL_DEFAULT, ATTR_BOLD);
    RowNorm na = row_norm_of(p->data, p->cols, ra, p->scale), nb = row_norm_of(p->data, p->cols, rb, p->scale);
    /* pos-pos: a query never sees a later key, so those cells are the
     * causal mask, as in the heatmap (the table holds values there) */
    int pp0 = p->view == SL_CIRCUIT_QK_POS_POS ? 0 : p->view == SCENE_QK_COMBINED ? p->split : -1;
    for (int c = p->c0; c < p->cols && c < p->c0 + p->vis_cols; c++) {
        int x = col_x(p, c);
        if (p->split >= 0 && c == p->split && p->c0 < p->split)
            cv_put(cv, x - 1, y, glyph(st, GL_VLINE), COL_DIM, COL_DEFAULT, 0);
        float va = shown(p->data[(size_t)ra * p->cols + c], na);
        float vb = rb >= 0 ? shown(p->data[(size_t)rb * p->cols + c], nb) : NAN;
        bool bad = !isfinite(va) || (rb >= 0 && !isfinite(vb));   /* a product that overflowed */
        bool mask_a = pp0 >= 0 && ra >= pp0 && c >= pp0 && c > ra;
        bool mask_b = pp0 >= 0 && rb >= pp0 && c >= pp0 && c > rb;
        if (mask_a)
            va = NAN;
        if (mask_b)
            vb = NAN;
        Cell cell = p->half ? heat_cell_pair_sat(st, va, vb, p->range) : heat_cell_sat(st, va, p->range);
        bool masked = mask_a && (!p->half || rb < 0 || mask_b);
        if (masked)
            cell = (Cell){.ch = glyph(st, GL_MASK), .fg = COL_DIM};
        else if (bad && !mask_a)
            cell = (Cell){.ch = '?', .fg = COL_BAD, .attr = ATTR_BOLD};
        Canvas t = *cv;
        bool cur_here = c == p->cc && (ra == p->cr || rb == p->cr);
        canvas_tag(&t, TAG_CIRCUIT, cur_here ? p->cr : ra, c, p->panel);
        for (int j = 0; j < cw; j++) {
            /* the mask glyph once per cell, at its right */
            uint32_t ch = masked && j != cw - 1 ? ' ' : cell.ch;
            if (cur_here) {
                /* the cursor cell shows its own value's colour with a mark */
                Cell own = heat_cell_sat(st, p->cr == ra ? va : vb, p->range);
                int fg = st.depth >= DEPTH_256 ? palette_ink_on(own.bg) : COL_KEY;
                uint32_t mark = cw == 1 ? glyph(st, GL_CURSOR) : j == 0 ? '[' : j == cw - 1 ? ']' : glyph(st, GL_CURSOR);
                cv_put(&t, x + j, y, mark, fg, own.bg, ATTR_BOLD);
            } else {
                cv_put(&t, x + j, y, ch, cell.fg, cell.bg, cell.attr);
            }
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
    bool qk = circuit_kind_is_qk(view) || view == SCENE_QK_COMBINED;
    bool rowtok = axis_tok(sc, view, true, cr), coltok = axis_tok(sc, view, false, cc);
    const char *rk = !qk ? (rowtok ? "source" : "source pos") : (rowtok ? "query" : "query pos");
    const char *ck = !qk ? "out" : (coltok ? "key" : "key pos");
    float v = p->data[(size_t)cr * p->cols + cc];
    /* positions also by name (pos 11 = MID), when the line has room */
    char rn[16] = "", cn[16] = "";
    int rpos = view == SCENE_QK_COMBINED && !rowtok ? cr - sc->V : cr, cpos = view == SCENE_QK_COMBINED && !coltok ? cc - sc->V : cc;
    if (!rowtok && cv->r.w >= 50 && !sc->named_positions) {
        scene_pos_name(sc, rpos, rn, sizeof rn);
        snprintf(rl + strlen(rl), sizeof rl - strlen(rl), "=%s", rn);
    }
    if (!coltok && cv->r.w >= 50 && !sc->named_positions) {
        scene_pos_name(sc, cpos, cn, sizeof cn);
        snprintf(cl + strlen(cl), sizeof cl - strlen(cl), "=%s", cn);
    }
    int x = cv_printf(cv, 1, vy, COL_DIM, 0, "%s %s, %s %s:", rk, rl, ck, cl);
    x = cv_printf(cv, x + 1, vy, COL_VALUE, ATTR_BOLD, fabsf(v) >= 1000 ? "%+.0f" : "%+.3f", (double)v);
    if (view == SCENE_QK_COMBINED) {   /* which of the four terms the cell belongs to */
        static const char *blocks[4] = {"tok-tok", "tok-pos", "pos-tok", "pos-pos"};
        snprintf(buf, sizeof buf, "(%s)", blocks[(rowtok ? 0 : 2) + (coltok ? 0 : 1)]);
        if (x + 1 + render_utf8_width(buf) <= cv->r.w)
            x = cv_text(cv, x + 1, vy, buf, COL_LABEL, 0);
    }
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
    else if (p->view == SCENE_QK_COMBINED || circuit_axis_has_specials(p->view, true) ||
             circuit_axis_has_specials(p->view, false))
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
    render_circuit_at(cv, sc, view, panel, focused, CIRC_LEVELS - 1);
}

void render_circuit_at(Canvas *cv, const Scene *sc, int view, int panel, bool focused, int max_level)
{
    CircuitPanel p = {.cv = cv, .sc = sc, .view = view, .panel = panel, .split = -1, .mr2 = -1, .mc2 = -1};
    float whole = 0;
    scene_circuit_shape(sc, view, &p.rows, &p.cols);
    p.data = scene_circuit_data(sc, view, &whole);
    if (!p.data) {
        circuit_title(cv, sc, view, focused, NULL, 1, 1);
        cv_text(cv, 1, 1, "(no circuit tables for this model)", COL_DIM, 0);
        return;
    }
    int level = render_circuit_fit(sc, view, cv->style, cv->r.w, cv->r.h);
    level = level > max_level ? max_level : level;
    p.cw = level_cw(level);
    p.half = level_half(cv->style, level);
    p.scale = sc->circuit_scale >= 0 && sc->circuit_scale < CS_COUNT ? sc->circuit_scale : CS_ROW;
    p.range = p.scale == CS_ROW ? 1.0f : scene_circuit_range(sc, view, p.scale);
    scene_circuit_marks(sc, view, &p.mr, &p.mc);
    if (view == SCENE_QK_COMBINED) {
        p.split = sc->V;
        p.mr2 = sc->V + sc->sel;
        p.mc2 = sc->V + sc->cursor;
    }
    p.ans = scene_circuit_answer_col(sc, view);
    p.cr = p.mr, p.cc = p.mc;   /* the cursor: the marks, unless a cell was clicked or moved to */
    if (sc->free_panel == panel && sc->free_row >= 0 && sc->free_row < p.rows && sc->free_col >= 0 &&
        sc->free_col < p.cols) {
        p.cr = sc->free_row;
        p.cc = sc->free_col;
    }
    /* every row labelled when each has its line; with half blocks each line
     * is labelled with its upper row */
    p.rstep = p.half ? 2 : 1;
    p.cstep = label_step(axis_label_width(&p, false, p.cols, p.cw), p.cw);
    if (!circuit_window(&p)) {
        circuit_title(cv, sc, view, focused, NULL, 1, 1);
        return;
    }
    char clip[128];
    circuit_clip_text(&p, clip, sizeof clip);
    circuit_title(cv, sc, view, focused, clip[0] ? clip : NULL, p.rstep, p.cstep);
    circuit_ticks(&p);
    for (int line = 0; line < p.nlines; line++)
        circuit_line(&p, line);
    circuit_readout(&p, 2 + p.nlines);
    circuit_colorbar(&p, 3 + p.nlines);
}
