/* figure_curves.c: the progress figure of a training run (plot.h,
 * sl_plot_curves_render): the curves of sortlens/curves.h as small line
 * charts, four to a row, each point carrying its exact value. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "figure.h"
#include "plot.h"
#include "sortlens/curves.h"

#define CF_MARGIN 14.0
#define CF_TITLE 14.0
#define CF_SUBTITLE 9.5
#define CF_PLOT_W 210.0    /* the axes' box */
#define CF_PLOT_H 120.0
#define CF_LEFT 46.0       /* y tick labels and the y axis title */
#define CF_TOP 22.0        /* the chart's title */
#define CF_BOTTOM 34.0     /* x tick labels and the x axis title */
#define CF_GAP 16.0
#define CF_COLS 4
#define CF_TICK 8.0        /* tick label size */
#define CF_INK 0x1f77b4u   /* the line and its points */

static void y_range(const SlPlotCurves *cs, int c, double *lo, double *hi)
{
    sl_curve_range(c, cs->values, cs->count, lo, hi);
}

/* x of snapshot i inside a box from x0, evenly spaced. */
static double x_of(const SlPlotCurves *cs, int i, double x0)
{
    return cs->count <= 1 ? x0 + CF_PLOT_W / 2 : x0 + CF_PLOT_W * i / (cs->count - 1);
}

static void draw_axes(Figure *f, const SlPlotCurves *cs, int c, double ax, double ay, double lo, double hi)
{
    char buf[64];
    fig_rect(f, ax, ay, CF_PLOT_W, CF_PLOT_H, FIG_NONE, 0x888888, 0.8, -1, NULL);
    for (int t = 0; t <= 4; t++) {   /* y ticks at quarters */
        double v = lo + (hi - lo) * t / 4, y = ay + CF_PLOT_H * (1 - t / 4.0);
        snprintf(buf, sizeof buf, "%.3g", v);
        fig_line(f, ax - 3, y, ax, y, 0x888888, 0.8);
        if (t > 0 && t < 4)
            fig_line(f, ax, y, ax + CF_PLOT_W, y, 0xe6e6e6, 0.5);
        fig_text(f, ax - 5, y + CF_TICK * 0.35, CF_TICK, FIG_END, false, false, 0x333333, buf);
    }
    int ticks = cs->count < 6 ? cs->count : 6;
    for (int t = 0; t < ticks; t++) {   /* x ticks: evenly chosen snapshots, the first and the last among them */
        int i = ticks == 1 ? 0 : (int)lround((double)t * (cs->count - 1) / (ticks - 1));
        double x = x_of(cs, i, ax);
        snprintf(buf, sizeof buf, "%ld", cs->steps[i]);
        fig_line(f, x, ay + CF_PLOT_H, x, ay + CF_PLOT_H + 3, 0x888888, 0.8);
        fig_text(f, x, ay + CF_PLOT_H + 4 + CF_TICK, CF_TICK, FIG_MIDDLE, false, false, 0x333333, buf);
    }
    fig_text(f, ax + CF_PLOT_W / 2, ay + CF_PLOT_H + CF_BOTTOM - 6, CF_TICK + 0.5, FIG_MIDDLE, false, false, 0x333333,
             "step (snapshots evenly spaced)");
    fig_text(f, ax - CF_LEFT + 10, ay + CF_PLOT_H / 2, CF_TICK + 0.5, FIG_MIDDLE, false, true, 0x333333,
             sl_curve_info(c)->fraction ? "fraction" : c == SL_CURVE_LOSS ? "loss" : "L2 norm");
}

/* One chart: its title, axes, the line and the points (group c). */
static void draw_chart(Figure *f, const SlPlotCurves *cs, int c, double x0, double y0)
{
    const SlCurveInfo *info = sl_curve_info(c);
    double lo, hi, ax = x0 + CF_LEFT, ay = y0 + CF_TOP;
    y_range(cs, c, &lo, &hi);
    fig_text(f, ax, y0 + CF_TOP - 8, 10.5, FIG_START, true, false, 0x000000, info->name);
    draw_axes(f, cs, c, ax, ay, lo, hi);
    double px = 0, py = 0;
    bool prev = false;
    for (int i = 0; i < cs->count; i++) {
        double v = cs->values[(size_t)i * SL_CURVE_COUNT + c];
        if (!isfinite(v)) {
            prev = false;
            continue;
        }
        double x = x_of(cs, i, ax), y = ay + CF_PLOT_H * (hi - v) / (hi - lo);
        if (prev)
            fig_line(f, px, py, x, y, CF_INK, 1.4);
        px = x;
        py = y;
        prev = true;
    }
    int group = fig_group(f, info->json_key);
    for (int i = 0; i < cs->count; i++) {
        double v = cs->values[(size_t)i * SL_CURVE_COUNT + c];
        if (!isfinite(v))
            continue;
        char title[160];
        snprintf(title, sizeof title, "%s at step %ld: %.17g", info->name, cs->steps[i], v);
        double x = x_of(cs, i, ax), y = ay + CF_PLOT_H * (hi - v) / (hi - lo);
        fig_rect(f, x - 1.6, y - 1.6, 3.2, 3.2, CF_INK, FIG_NONE, 0, group, title);
    }
}

static int lay_out(Figure *f, const SlPlotCurves *cs)
{
    char title[256], clean[160], subtitle[200];
    render_text_sanitize(cs->run_label ? cs->run_label : "", clean, sizeof clean);
    snprintf(title, sizeof title, "Training progress%s%s", cs->run_label ? " of " : "", clean);
    snprintf(subtitle, sizeof subtitle,
             "%d snapshots, steps %ld..%ld; figures of sortlens explain (%ld random lists, seed %llu)", cs->count,
             cs->steps[0], cs->steps[cs->count - 1], cs->lists, cs->seed);
    fig_text(f, CF_MARGIN, CF_MARGIN + CF_TITLE, CF_TITLE, FIG_START, true, false, 0x000000, title);
    fig_text(f, CF_MARGIN, CF_MARGIN + CF_TITLE + CF_SUBTITLE * 1.6, CF_SUBTITLE, FIG_START, false, false, 0x555555,
             subtitle);
    double top = CF_MARGIN + CF_TITLE + CF_SUBTITLE * 1.8 + CF_GAP / 2;
    double cw = CF_LEFT + CF_PLOT_W + CF_GAP, ch = CF_TOP + CF_PLOT_H + CF_BOTTOM + CF_GAP / 2;
    for (int c = 0; c < SL_CURVE_COUNT; c++)
        draw_chart(f, cs, c, CF_MARGIN + (c % CF_COLS) * cw, top + (c / CF_COLS) * ch);
    int rows = (SL_CURVE_COUNT + CF_COLS - 1) / CF_COLS;
    f->w = ceil(fmax(CF_MARGIN * 2 + CF_COLS * cw - CF_GAP, CF_MARGIN * 2 + fig_text_width(f, title, CF_TITLE, true)));
    f->h = ceil(top + rows * ch + CF_MARGIN);
    return 0;
}

int sl_plot_curves_render(const SlPlotCurves *cs, SlPlotFormat format, unsigned char **data, size_t *size,
                          SlError *err)
{
    *data = NULL;
    *size = 0;
    if (format < SL_PLOT_SVG || format > SL_PLOT_PDF)
        return sl_error_set(err, SL_EINVAL, "unknown format %d", (int)format);
    if (cs->count < 1 || !cs->steps || !cs->values)
        return sl_error_set(err, SL_EINVAL, "a progress figure needs at least one snapshot");
    Figure *f = figure_new(err);
    if (!f)
        return err ? err->code : SL_ENOMEM;
    lay_out(f, cs);
    int rc = format == SL_PLOT_SVG ? figure_render_svg(f, data, size, err)
                                   : figure_render_cairo(f, format == SL_PLOT_PNG ? FIG_FORMAT_PNG : FIG_FORMAT_PDF,
                                                         data, size, err);
    figure_free(f);
    return rc;
}

int sl_plot_curves_write(const SlPlotCurves *cs, SlPlotFormat format, const char *path, SlError *err)
{
    unsigned char *data;
    size_t size;
    int rc = sl_plot_curves_render(cs, format, &data, &size, err);
    if (rc == 0)
        rc = plot_write_bytes(path, data, size, err);
    free(data);
    return rc;
}
