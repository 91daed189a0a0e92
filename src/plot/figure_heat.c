/* figure_heat.c: the heat panel, a labelled matrix with a colour bar. */
#include "figure.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define TITLE_SIZE 12.0
#define AXIS_SIZE 10.0
#define LABEL_SIZE_MAX 9.0
#define LABEL_SIZE_MIN 5.5   /* smaller is unreadable in print: label every k-th row instead */
#define PAD 4.0
#define BAR_GAP 10.0
#define BAR_W 12.0
#define BAR_MIN_H 80.0
#define BAR_STRIPES 128
#define MASK_GREY 0xd9d9d9u
#define INK 0x000000u
#define INK_DIM 0x555555u

typedef struct Layout {
    double label_size;
    int row_step, col_step;       /* a label on every k-th row / column */
    bool col_vertical;            /* column labels read upwards */
    double left, top;             /* the matrix's corner, from the panel's */
    double mat_w, mat_h;
    double row_label_w, col_label_h;
    double bar_h, bar_label_w;
    double w, h;
} Layout;

static int label_step(double cell, double size)
{
    /* labels need about 1.2 x their size of room across */
    int step = 1;
    while (cell * step < size * 1.2)
        step++;
    return step;
}

static void tick_label(char *buf, size_t size, RampKind ramp, double v)
{
    fmt_short(buf, size, v, ramp == RAMP_DIVERGING && v != 0);
}

static int ticks(const HeatPanel *p, double *vals)
{
    if (p->ramp == RAMP_DIVERGING) {
        double r = p->hi;
        vals[0] = r, vals[1] = r / 2, vals[2] = 0, vals[3] = -r / 2, vals[4] = -r;
        return 5;
    }
    for (int i = 0; i < 5; i++)
        vals[i] = p->hi - (p->hi - p->lo) * i / 4.0;
    return 5;
}

static void layout(Figure *f, const HeatPanel *p, Layout *L)
{
    memset(L, 0, sizeof *L);
    double cell_min = fmin(p->cell_w, p->cell_h);
    L->label_size = fmax(LABEL_SIZE_MIN, fmin(LABEL_SIZE_MAX, 0.8 * cell_min));
    L->row_step = label_step(p->cell_h, L->label_size);
    double widest_col = 0;
    for (int r = 0; r < p->rows; r += L->row_step)
        L->row_label_w = fmax(L->row_label_w, fig_text_width(f, p->row_labels[r], L->label_size, false));
    for (int c = 0; c < p->cols; c++)
        widest_col = fmax(widest_col, fig_text_width(f, p->col_labels[c], L->label_size, false));
    /* Column labels lie flat when every one fits its cell, else read upwards. */
    L->col_vertical = widest_col > p->cell_w - 2;
    L->col_step = L->col_vertical ? label_step(p->cell_w, L->label_size) : 1;
    L->col_label_h = L->col_vertical ? widest_col : L->label_size * 1.2;
    L->mat_w = p->cols * p->cell_w;
    L->mat_h = p->rows * p->cell_h;
    L->left = AXIS_SIZE * 1.8 + L->row_label_w + PAD;
    L->top = p->title ? TITLE_SIZE * 1.8 : PAD;
    double right = 0;
    if (p->colorbar) {
        double vals[5];
        int n = ticks(p, vals);
        for (int i = 0; i < n; i++) {
            char buf[32];
            tick_label(buf, sizeof buf, p->ramp, vals[i]);
            L->bar_label_w = fmax(L->bar_label_w, fig_text_width(f, buf, AXIS_SIZE * 0.9, false));
        }
        L->bar_h = fmax(L->mat_h, BAR_MIN_H);
        right = BAR_GAP + BAR_W + 4 + L->bar_label_w + PAD;
    }
    double title_w = p->title ? fig_text_width(f, p->title, TITLE_SIZE, true) : 0;
    L->w = fmax(L->left + L->mat_w + right, L->left + title_w) + PAD + 1;   /* + 1: heat_draw rounds the corner up */
    L->h = L->top + fmax(L->mat_h, L->bar_h) + PAD + L->col_label_h + PAD + AXIS_SIZE * 1.6 + 1;
}

float heat_range(const float *data, const unsigned char *masked, size_t count)
{
    float r = 0;
    for (size_t i = 0; i < count; i++)
        if ((!masked || !masked[i]) && isfinite(data[i]) && fabsf(data[i]) > r)
            r = fabsf(data[i]);
    return r > 0 ? r : 1;
}

void heat_size(Figure *f, const HeatPanel *p, double *w, double *h)
{
    Layout L;
    layout(f, p, &L);
    *w = L.w;
    *h = L.h;
}

static uint32_t cell_color(const HeatPanel *p, float v)
{
    double t = p->hi > p->lo ? ((double)v - p->lo) / ((double)p->hi - p->lo) : 0.5;
    return palette_ramp_rgb(p->ramp, t);
}

/* Black on light cells, white on dark ones (relative luminance, sRGB
 * weights without linearising: enough to pick one of two inks). */
static uint32_t ink_on(uint32_t rgb)
{
    double lum = 0.2126 * ((rgb >> 16) & 0xff) + 0.7152 * ((rgb >> 8) & 0xff) + 0.0722 * (rgb & 0xff);
    return lum > 128 ? 0x000000 : 0xffffff;
}

static void axis_title(Figure *f, const char *text, int step, double x, double y, bool vertical)
{
    char buf[160];
    if (step > 1)
        snprintf(buf, sizeof buf, "%s (labels every %d)", text, step);
    else
        snprintf(buf, sizeof buf, "%s", text);
    fig_text(f, x, y, AXIS_SIZE, FIG_MIDDLE, false, vertical, INK, buf);
}

void heat_draw(Figure *f, const HeatPanel *p, double x0, double y0)
{
    Layout L;
    layout(f, p, &L);
    /* whole points: at 2 pixels per point no cell edge falls inside a pixel,
     * so no seam of blended colour shows between cells */
    double mx = ceil(x0 + L.left), my = ceil(y0 + L.top);
    if (p->title)
        fig_text(f, mx, y0 + TITLE_SIZE * 1.2, TITLE_SIZE, FIG_START, true, false, INK, p->title);

    int group = fig_group(f, p->id);
    char title[256];
    for (int r = 0; r < p->rows; r++) {
        for (int c = 0; c < p->cols; c++) {
            size_t i = (size_t)r * p->cols + c;
            bool masked = p->masked && p->masked[i];
            float v = p->data[i];
            uint32_t fill = masked || !isfinite(v) ? MASK_GREY : cell_color(p, v);
            /* %.9g: enough digits to read every float back exactly */
            snprintf(title, sizeof title, "%s %s, %s %s: %.9g%s", p->row_name,
                     p->row_titles ? p->row_titles[r] : p->row_labels[r], p->col_name,
                     p->col_titles ? p->col_titles[c] : p->col_labels[c], (double)v, masked ? " (masked)" : "");
            /* the cells overlap by a hair so that no seam shows between them */
            fig_rect(f, mx + c * p->cell_w, my + r * p->cell_h, p->cell_w + 0.05, p->cell_h + 0.05, fill,
                     FIG_NONE, 0, group, title);
        }
    }
    if (p->annotate) {
        double size = fmin(LABEL_SIZE_MAX, p->cell_h * 0.42);
        for (int r = 0; r < p->rows; r++)
            for (int c = 0; c < p->cols; c++) {
                size_t i = (size_t)r * p->cols + c;
                if (p->masked && p->masked[i])
                    continue;
                char buf[32];
                fmt_short(buf, sizeof buf, p->data[i], true);
                fig_text(f, mx + (c + 0.5) * p->cell_w, my + (r + 0.5) * p->cell_h + size * 0.35, size, FIG_MIDDLE,
                         false, false, ink_on(cell_color(p, p->data[i])), buf);
            }
    }
    fig_rect(f, mx, my, L.mat_w, L.mat_h, FIG_NONE, 0x808080, 0.5, -1, NULL);
    if (p->split_col > 0 && p->split_col < p->cols)
        fig_line(f, mx + p->split_col * p->cell_w, my, mx + p->split_col * p->cell_w, my + L.mat_h, INK, 1.5);
    if (p->split_row > 0 && p->split_row < p->rows)
        fig_line(f, mx, my + p->split_row * p->cell_h, mx + L.mat_w, my + p->split_row * p->cell_h, INK, 1.5);
    if (p->mark_row >= 0 && p->mark_row < p->rows)
        fig_rect(f, mx, my + p->mark_row * p->cell_h, L.mat_w, p->cell_h, FIG_NONE, INK, 1.5, -1, NULL);

    /* row labels, right-aligned against the matrix */
    for (int r = 0; r < p->rows; r += L.row_step)
        fig_text(f, mx - PAD, my + (r + 0.5) * p->cell_h + L.label_size * 0.35, L.label_size, FIG_END, false,
                 false, INK_DIM, p->row_labels[r]);
    /* column labels under it */
    double cy = my + fmax(L.mat_h, L.bar_h) + PAD;
    for (int c = 0; c < p->cols; c += L.col_step) {
        double cx = mx + (c + 0.5) * p->cell_w;
        if (L.col_vertical)
            fig_text(f, cx + L.label_size * 0.35, cy, L.label_size, FIG_END, false, true, INK_DIM, p->col_labels[c]);
        else
            fig_text(f, cx, cy + L.label_size, L.label_size, FIG_MIDDLE, false, false, INK_DIM, p->col_labels[c]);
    }
    /* axis titles, one per block when the matrix is split */
    double ay = cy + L.col_label_h + PAD + AXIS_SIZE;
    if (p->split_col > 0 && p->col_axis_b) {
        axis_title(f, p->col_axis, L.col_step, mx + p->split_col * p->cell_w / 2, ay, false);
        axis_title(f, p->col_axis_b, L.col_step, mx + (p->split_col + p->cols) * p->cell_w / 2, ay, false);
    } else {
        axis_title(f, p->col_axis, L.col_step, mx + L.mat_w / 2, ay, false);
    }
    double ax = x0 + AXIS_SIZE * 1.1;
    if (p->split_row > 0 && p->row_axis_b) {
        axis_title(f, p->row_axis, L.row_step, ax, my + p->split_row * p->cell_h / 2, true);
        axis_title(f, p->row_axis_b, L.row_step, ax, my + (p->split_row + p->rows) * p->cell_h / 2, true);
    } else {
        axis_title(f, p->row_axis, L.row_step, ax, my + L.mat_h / 2, true);
    }

    if (p->colorbar) {
        double bx = mx + L.mat_w + BAR_GAP, stripe = L.bar_h / BAR_STRIPES;
        for (int i = 0; i < BAR_STRIPES; i++) {
            /* stripe i shows the value at its centre; the top is hi */
            double t = 1.0 - (i + 0.5) / BAR_STRIPES;
            fig_rect(f, bx, my + i * stripe, BAR_W, stripe + 0.05, palette_ramp_rgb(p->ramp, t), FIG_NONE, 0, -1,
                     NULL);
        }
        fig_rect(f, bx, my, BAR_W, L.bar_h, FIG_NONE, 0x808080, 0.5, -1, NULL);
        double vals[5];
        int n = ticks(p, vals);
        for (int i = 0; i < n; i++) {
            double ty = my + L.bar_h * (p->hi - vals[i]) / (p->hi - p->lo);
            char buf[32];
            tick_label(buf, sizeof buf, p->ramp, vals[i]);
            fig_line(f, bx + BAR_W, ty, bx + BAR_W + 3, ty, INK, 0.75);
            fig_text(f, bx + BAR_W + 4, ty + AXIS_SIZE * 0.3, AXIS_SIZE * 0.9, FIG_START, false, false, INK, buf);
        }
    }
}
