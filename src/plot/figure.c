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

/* Appends item with a copy of text (may be NULL) as its text.  Each kind's
 * constructor below gives every field the kind uses, FIG_NONE for a colour
 * it has none of and -1 for no group; the rest stays 0. */
static void push(Figure *f, FigItem item, const char *text)
{
    if (f->failed)
        return;
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 256;
        FigItem *items = realloc(f->items, cap * sizeof *items);
        if (!items) {
            f->failed = true;
            return;
        }
        f->items = items;
        f->cap = cap;
    }
    item.text = NULL;
    if (text && !(item.text = strdup(text))) {
        f->failed = true;
        return;
    }
    f->items[f->n++] = item;
}

void fig_rect(Figure *f, double x, double y, double w, double h, uint32_t fill, uint32_t stroke,
              double stroke_width, int group, const char *title)
{
    push(f, (FigItem){.kind = FIG_RECT, .x = x, .y = y, .w = w, .h = h, .fill = fill, .stroke = stroke,
                      .stroke_width = stroke_width, .group = group},
         title);
}

void fig_text(Figure *f, double x, double y, double size, FigAnchor anchor, bool bold, bool vertical,
              uint32_t ink, const char *text)
{
    push(f, (FigItem){.kind = FIG_TEXT, .x = x, .y = y, .fill = ink, .stroke = FIG_NONE, .size = size,
                      .anchor = anchor, .bold = bold, .vertical = vertical, .group = -1},
         text);
}

void fig_line(Figure *f, double x1, double y1, double x2, double y2, uint32_t color, double width)
{
    push(f, (FigItem){.kind = FIG_LINE, .x = x1, .y = y1, .w = x2 - x1, .h = y2 - y1, .fill = FIG_NONE,
                      .stroke = color, .stroke_width = width, .group = -1},
         NULL);
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
