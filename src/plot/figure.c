/* figure.c: the list of drawing items and text measurement. */
#include "figure.h"

#include <stdlib.h>
#include <string.h>


Figure *figure_new(SlError *err)
{
    Figure *f = calloc(1, sizeof *f);
    if (!f) {
        sl_error_set(err, SL_ENOMEM, "out of memory for a figure");
        return NULL;
    }
    /* Every backend lays text out by cairo's measure, SVG too. */
    const FigCairo *cairo = fig_cairo(err);
    if (!cairo) {
        free(f);
        return NULL;
    }
    if (!(f->measure = cairo->measure_new())) {
        free(f);
        sl_error_set(err, SL_ENOMEM, "cairo: cannot create a surface to measure text");
        return NULL;
    }
    return f;
}

void figure_free(Figure *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        free(f->items[i].text);
    free(f->items);
    for (int i = 0; i < f->ngroups; i++)
        free(f->groups[i]);
    free(f->groups);
    if (f->measure)
        fig_cairo(NULL)->measure_free(f->measure);   /* loaded: figure_new measured with it */
    free(f);
}

static FigItem *push(Figure *f, FigKind kind, const char *text)
{
    if (f->failed)
        return NULL;
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 256;
        FigItem *items = realloc(f->items, cap * sizeof *items);
        if (!items) {
            f->failed = true;
            return NULL;
        }
        f->items = items;
        f->cap = cap;
    }
    char *copy = NULL;
    if (text && !(copy = strdup(text))) {
        f->failed = true;
        return NULL;
    }
    FigItem *it = &f->items[f->n++];
    memset(it, 0, sizeof *it);
    it->kind = kind;
    it->fill = it->stroke = FIG_NONE;
    it->group = -1;
    it->text = copy;
    return it;
}

void fig_rect(Figure *f, double x, double y, double w, double h, uint32_t fill, uint32_t stroke,
              double stroke_width, int group, const char *title)
{
    FigItem *it = push(f, FIG_RECT, title);
    if (!it)
        return;
    it->x = x;
    it->y = y;
    it->w = w;
    it->h = h;
    it->fill = fill;
    it->stroke = stroke;
    it->stroke_width = stroke_width;
    it->group = group;
}

void fig_text(Figure *f, double x, double y, double size, FigAnchor anchor, bool bold, bool vertical,
              uint32_t ink, const char *text)
{
    FigItem *it = push(f, FIG_TEXT, text);
    if (!it)
        return;
    it->x = x;
    it->y = y;
    it->size = size;
    it->anchor = anchor;
    it->bold = bold;
    it->vertical = vertical;
    it->fill = ink;
}

void fig_line(Figure *f, double x1, double y1, double x2, double y2, uint32_t color, double width)
{
    FigItem *it = push(f, FIG_LINE, NULL);
    if (!it)
        return;
    it->x = x1;
    it->y = y1;
    it->w = x2 - x1;
    it->h = y2 - y1;
    it->stroke = color;
    it->stroke_width = width;
}

int fig_group(Figure *f, const char *name)
{
    if (f->failed)
        return -1;
    char **groups = realloc(f->groups, (size_t)(f->ngroups + 1) * sizeof *groups);
    if (!groups) {
        f->failed = true;
        return -1;
    }
    f->groups = groups;
    if (!(groups[f->ngroups] = strdup(name))) {
        f->failed = true;
        return -1;
    }
    return f->ngroups++;
}

double fig_text_width(Figure *f, const char *text, double size, bool bold)
{
    return fig_cairo(NULL)->text_width(f->measure, text, size, bold);
}
