/* curves.c: the progress page of a training run (panels.h, render_curves):
 * one braille line plot per curve, laid out in 1, 2, 4 or 8 columns,
 * whichever gives the plots the most room; a table of the values at the
 * marker when even the smallest plots do not fit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "panel_draw.h"

enum {
    CV_HEADER = 1,     /* the title line */
    CV_YLABEL = 6,     /* the y ticks' labels, right-aligned, then the axis column */
    CV_MIN_BOX_W = 24, /* a curve's name and its value must fit its line */
    CV_MIN_AREA_W = 12,
    CV_MIN_AREA_H = 2,
};

static void y_range(const CurvesPanel *p, int c, double *lo, double *hi)
{
    sl_curve_range(c, p->values, p->computed < p->count ? p->computed : p->count, lo, hi);
}

void curves_layout(const CurvesPanel *p, Style st, int w, int h, CurvePlot plots[SL_CURVE_COUNT])
{
    memset(plots, 0, sizeof(CurvePlot) * SL_CURVE_COUNT);
    static const int choices[] = {1, 2, 4, 8};
    int best = -1, best_score = 0;
    for (int k = 0; k < 4; k++) {
        int cols = choices[k], rows = SL_CURVE_COUNT / cols;
        int bw = w / cols, bh = (h - CV_HEADER - 1) / rows;   /* -1: the steps' line */
        int aw = bw - 1 - CV_YLABEL - 1, ah = bh - 1;
        if (bw < CV_MIN_BOX_W || aw < CV_MIN_AREA_W || ah < CV_MIN_AREA_H)
            continue;
        int score = aw < 3 * ah ? aw : 3 * ah;   /* a cell is about twice as tall as wide: plots 3:2 or wider */
        if (score > best_score) {
            best_score = score;
            best = cols;
        }
    }
    if (best < 0)
        return;
    int rows = SL_CURVE_COUNT / best, bw = w / best, bh = (h - CV_HEADER - 1) / rows;
    for (int c = 0; c < SL_CURVE_COUNT; c++) {
        CurvePlot *cp = &plots[c];
        cp->box = (Rect){(c % best) * bw, CV_HEADER + (c / best) * bh, bw - 1, bh};
        cp->area = (Rect){cp->box.x + CV_YLABEL + 1, cp->box.y + 1, bw - 1 - CV_YLABEL - 1, bh - 1};
        cp->dots_x = st.utf8 ? 2 : 1;
        cp->dots_y = st.utf8 ? 4 : 1;
        y_range(p, c, &cp->lo, &cp->hi);
    }
}

void curves_dot(const CurvePlot *cp, int count, int i, double v, int *dx, int *dy)
{
    int DW = cp->area.w * cp->dots_x, DH = cp->area.h * cp->dots_y;
    *dx = count <= 1 ? DW / 2 : (int)lround((double)i * (DW - 1) / (count - 1));
    long y = lround((cp->hi - v) / (cp->hi - cp->lo) * (DH - 1));
    *dy = (int)(y < 0 ? 0 : y > DH - 1 ? DH - 1 : y);
}

/* The bit of dot (x, y) inside a braille cell (U+2800 + bits). */
static unsigned braille_bit(int x, int y)
{
    static const unsigned bits[2][4] = {{0x01, 0x02, 0x04, 0x40}, {0x08, 0x10, 0x20, 0x80}};
    return bits[x & 1][y & 3];
}

static void set_dot(const CurvePlot *cp, unsigned char *mask, int x, int y)
{
    int cx = x / cp->dots_x, cy = y / cp->dots_y;
    if (cx < 0 || cy < 0 || cx >= cp->area.w || cy >= cp->area.h)
        return;
    mask[cy * cp->area.w + cx] |= (unsigned char)(cp->dots_x == 2 ? braille_bit(x % 2, y % 4) : 1);
}

/* A straight line of dots from (x0, y0) to (x1, y1) (Bresenham). */
static void dot_line(const CurvePlot *cp, unsigned char *mask, int x0, int y0, int x1, int y1)
{
    int ddx = abs(x1 - x0), ddy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, e = ddx + ddy;
    for (;;) {
        set_dot(cp, mask, x0, y0);
        if (x0 == x1 && y0 == y1)
            return;
        int e2 = 2 * e;
        if (e2 >= ddy) {
            e += ddy;
            x0 += sx;
        }
        if (e2 <= ddx) {
            e += ddx;
            y0 += sy;
        }
    }
}

/* A curve's value as its line shows it. */
static void fmt_value(char *buf, size_t size, int c, double v)
{
    if (isnan(v))
        snprintf(buf, size, "-");
    else if (sl_curve_info(c)->fraction)
        snprintf(buf, size, "%.4f", v);
    else
        snprintf(buf, size, "%.4g", v);
}

/* The name line's value: at the marker, or why there is none. */
static void marker_text(const CurvesPanel *p, int c, char *buf, size_t size)
{
    if (p->marker < 0 || p->marker >= p->count)
        snprintf(buf, size, " ");
    else if (p->marker >= p->computed)
        snprintf(buf, size, "computing...");
    else
        fmt_value(buf, size, c, p->values[(size_t)p->marker * SL_CURVE_COUNT + c]);
}

static void draw_plot(Canvas *cv, const CurvesPanel *p, int c, const CurvePlot *cp, unsigned char *mask)
{
    char buf[64];
    int x = cv_text(cv, cp->box.x, cp->box.y, sl_curve_info(c)->name, COL_LABEL, ATTR_BOLD);
    marker_text(p, c, buf, sizeof buf);
    Canvas line = canvas_sub(*cv, cp->box.x, cp->box.y, cp->box.w, 1);   /* never into the next plot */
    cv_text(&line, x - cp->box.x + 2, 0, buf, COL_VALUE, 0);
    /* the y axis, ticked at its ends and, with room, its middle */
    for (int r = 0; r < cp->area.h; r++)
        cv_put(cv, cp->area.x - 1, cp->area.y + r, glyph(cv->style, GL_VLINE), COL_DIM, COL_DEFAULT, 0);
    int ticks[3] = {0, cp->area.h - 1, cp->area.h >= 5 ? (cp->area.h - 1) / 2 : -1};
    for (int t = 0; t < 3; t++) {
        if (ticks[t] < 0)
            continue;
        /* the value at the tick row's top dot (the bottom row: its bottom dot, lo) */
        double f = t == 1 ? 1.0 : (double)ticks[t] * cp->dots_y / (cp->area.h * cp->dots_y - 1);
        fmt_short(buf, sizeof buf, cp->hi - f * (cp->hi - cp->lo), false);
        int len = (int)strlen(buf);
        Canvas lab = canvas_sub(*cv, cp->box.x, cp->area.y + ticks[t], CV_YLABEL, 1);
        cv_text(&lab, CV_YLABEL - len > 0 ? CV_YLABEL - len : 0, 0, buf, COL_DIM, 0);
    }
    /* the dots: each computed point, joined to the next when both are known */
    memset(mask, 0, (size_t)cp->area.w * cp->area.h);
    int px = 0, py = 0;
    bool prev = false;
    for (int i = 0; i < p->computed && i < p->count; i++) {
        double v = p->values[(size_t)i * SL_CURVE_COUNT + c];
        if (!isfinite(v)) {
            prev = false;
            continue;
        }
        int dx, dy;
        curves_dot(cp, p->count, i, v, &dx, &dy);
        if (prev)
            dot_line(cp, mask, px, py, dx, dy);
        else
            set_dot(cp, mask, dx, dy);
        px = dx;
        py = dy;
        prev = true;
    }
    int mcol = -1;
    if (p->marker >= 0 && p->marker < p->count) {
        int dx, dy;
        curves_dot(cp, p->count, p->marker, cp->lo, &dx, &dy);
        mcol = dx / cp->dots_x;
    }
    for (int r = 0; r < cp->area.h; r++)
        for (int col = 0; col < cp->area.w; col++) {
            unsigned char m = mask[r * cp->area.w + col];
            uint32_t ch = !m ? ' ' : cp->dots_x == 2 ? 0x2800u + m : '*';
            if (m || col == mcol)
                cv_put(cv, cp->area.x + col, cp->area.y + r, ch, col == mcol ? COL_INK_DARK : COL_VALUE,
                       col == mcol ? COL_SELECT : COL_DEFAULT, 0);   /* dark dots on the marker's light column */
        }
}

/* Under the plots of the last row: the first and last steps, and the
 * marker's where it does not run into them. */
static void draw_steps(Canvas *cv, const CurvesPanel *p, const CurvePlot *cp, int y)
{
    if (p->count < 1)
        return;
    char first[24], last[24], mark[24];
    snprintf(first, sizeof first, "%ld", p->steps[0]);
    snprintf(last, sizeof last, "%ld", p->steps[p->count - 1]);
    int lw = (int)strlen(last), end = cp->area.x + cp->area.w;
    cv_text(cv, cp->box.x, y, "step", COL_DIM, 0);
    int after_first = cv_text(cv, cp->area.x, y, first, COL_DIM, 0);
    if (p->count > 1 && end - lw > after_first)
        cv_text(cv, end - lw, y, last, COL_DIM, 0);
    if (p->marker > 0 && p->marker < p->count - 1) {
        int dx, dy;
        curves_dot(cp, p->count, p->marker, cp->lo, &dx, &dy);
        snprintf(mark, sizeof mark, "%ld", p->steps[p->marker]);
        int mw = (int)strlen(mark), mx = cp->area.x + dx / cp->dots_x - mw / 2;
        if (mx > after_first && mx + mw < end - lw)
            cv_text(cv, mx, y, mark, COL_KEY, ATTR_BOLD);
    }
}

/* No room for plots: each curve's value at the marker, one a line. */
static void draw_table(Canvas *cv, const CurvesPanel *p)
{
    char buf[64];
    for (int c = 0; c < SL_CURVE_COUNT && CV_HEADER + c < cv->r.h; c++) {
        int x = cv_text(cv, 0, CV_HEADER + c, sl_curve_info(c)->name, COL_LABEL, 0);
        marker_text(p, c, buf, sizeof buf);
        cv_text(cv, x + 1, CV_HEADER + c, buf, COL_VALUE, 0);
    }
}

void render_curves(Canvas *cv, const CurvesPanel *p)
{
    int x = cv_text(cv, 0, 0, p->title, COL_TITLE, ATTR_BOLD);
    if (p->marker >= 0 && p->marker < p->count)
        x = cv_printf(cv, x, 0, COL_KEY, 0, "  marker: step %ld (%d of %d)", p->steps[p->marker], p->marker + 1,
                      p->count);
    if (p->note)
        x = cv_text(cv, x + 2, 0, p->note, p->note_bad ? COL_BAD : COL_WARN, 0);
    CurvePlot plots[SL_CURVE_COUNT];
    curves_layout(p, cv->style, cv->r.w, cv->r.h, plots);
    if (plots[0].area.w == 0) {
        draw_table(cv, p);
        return;
    }
    if (x + 40 < cv->r.w)
        cv_text(cv, x + 2, 0, "x: the snapshots in order, evenly spaced", COL_DIM, 0);
    unsigned char *mask = malloc((size_t)plots[0].area.w * plots[0].area.h);
    if (!mask) {
        cv_text(cv, 0, 1, "out of memory for the curves", COL_BAD, 0);
        return;
    }
    int bottom = 0;
    for (int c = 0; c < SL_CURVE_COUNT; c++) {
        draw_plot(cv, p, c, &plots[c], mask);
        if (plots[c].box.y + plots[c].box.h > bottom)
            bottom = plots[c].box.y + plots[c].box.h;
    }
    for (int c = 0; c < SL_CURVE_COUNT; c++)
        if (plots[c].box.y + plots[c].box.h == bottom)
            draw_steps(cv, p, &plots[c], bottom);
    free(mask);
}
