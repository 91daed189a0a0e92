/* figure_cairo.c: the cairo module (figure.h): text measured, and a Figure
 * drawn into PNG or PDF bytes.  Built as sortlens-cairo.so; its one exported
 * name is the FigCairo table at the end. */
#include "figure.h"

#include <cairo-pdf.h>
#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cairo's stream callbacks append to a memory buffer. */
typedef struct Bytes {
    unsigned char *data;
    size_t size, cap;
    bool failed;
} Bytes;

static cairo_status_t bytes_write(void *closure, const unsigned char *data, unsigned int length)
{
    Bytes *b = closure;
    if (b->size + length > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->size + length)
            cap *= 2;
        unsigned char *p = realloc(b->data, cap);
        if (!p) {
            b->failed = true;
            return CAIRO_STATUS_WRITE_ERROR;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->size, data, length);
    b->size += length;
    return CAIRO_STATUS_SUCCESS;
}

static void set_rgb(cairo_t *cr, uint32_t rgb)
{
    cairo_set_source_rgb(cr, ((rgb >> 16) & 0xff) / 255.0, ((rgb >> 8) & 0xff) / 255.0, (rgb & 0xff) / 255.0);
}

static void draw_item(cairo_t *cr, const FigItem *it)
{
    switch (it->kind) {
    case FIG_RECT:
        cairo_rectangle(cr, it->x, it->y, it->w, it->h);
        if (it->fill != FIG_NONE) {
            set_rgb(cr, it->fill);
            if (it->stroke != FIG_NONE)
                cairo_fill_preserve(cr);
            else
                cairo_fill(cr);
        }
        if (it->stroke != FIG_NONE) {
            set_rgb(cr, it->stroke);
            cairo_set_line_width(cr, it->stroke_width);
            cairo_stroke(cr);
        }
        cairo_new_path(cr);
        break;
    case FIG_LINE:
        cairo_move_to(cr, it->x, it->y);
        cairo_line_to(cr, it->x + it->w, it->y + it->h);
        set_rgb(cr, it->stroke);
        cairo_set_line_width(cr, it->stroke_width);
        cairo_stroke(cr);
        break;
    case FIG_TEXT: {
        cairo_text_extents_t ext;
        cairo_select_font_face(cr, FIG_FONT_FAMILY, CAIRO_FONT_SLANT_NORMAL,
                               it->bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
        cairo_set_font_size(cr, it->size);
        cairo_text_extents(cr, it->text, &ext);
        double dx = it->anchor == FIG_START ? 0 : it->anchor == FIG_MIDDLE ? -ext.x_advance / 2 : -ext.x_advance;
        cairo_save(cr);
        cairo_translate(cr, it->x, it->y);
        if (it->vertical)
            cairo_rotate(cr, -M_PI / 2);
        cairo_move_to(cr, dx, 0);
        set_rgb(cr, it->fill);
        cairo_show_text(cr, it->text);
        cairo_restore(cr);
        break;
    }
    }
}

/* A 1x1 surface is enough to ask cairo how wide a string is. */
static void *measure_new(void)
{
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1);
    cairo_t *cr = cairo_create(s);
    cairo_surface_destroy(s);   /* cr keeps its own reference */
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        cairo_destroy(cr);
        return NULL;
    }
    return cr;
}

static void measure_free(void *measure)
{
    cairo_destroy(measure);
}

static double text_width(void *measure, const char *text, double size, bool bold)
{
    cairo_t *cr = measure;
    cairo_text_extents_t ext;
    cairo_select_font_face(cr, FIG_FONT_FAMILY, CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
    cairo_text_extents(cr, text, &ext);
    return ext.x_advance;
}

static int render(const Figure *f, FigFormat format, unsigned char **data, size_t *size, const char **message)
{
    *data = NULL;
    *size = 0;
    Bytes out = {0};
    cairo_surface_t *s;
    int scale = format == FIG_FORMAT_PNG ? FIG_PNG_SCALE : 1;
    if (format == FIG_FORMAT_PDF)
        s = cairo_pdf_surface_create_for_stream(bytes_write, &out, f->w, f->h);
    else
        s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)ceil(f->w) * scale, (int)ceil(f->h) * scale);
    cairo_t *cr = cairo_create(s);
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        *message = cairo_status_to_string(cairo_status(cr));
        cairo_destroy(cr);
        cairo_surface_destroy(s);
        free(out.data);
        return SL_ENOMEM;
    }
    cairo_scale(cr, scale, scale);
    set_rgb(cr, 0xffffff);
    cairo_paint(cr);
    for (size_t i = 0; i < f->n; i++)
        draw_item(cr, &f->items[i]);
    cairo_status_t st = cairo_status(cr);
    cairo_destroy(cr);
    if (format == FIG_FORMAT_PNG && st == CAIRO_STATUS_SUCCESS)
        st = cairo_surface_write_to_png_stream(s, bytes_write, &out);
    cairo_surface_finish(s);   /* the PDF is written out here */
    if (st == CAIRO_STATUS_SUCCESS)
        st = cairo_surface_status(s);
    cairo_surface_destroy(s);
    if (st != CAIRO_STATUS_SUCCESS || out.failed) {
        free(out.data);
        *message = out.failed ? "out of memory for the file" : cairo_status_to_string(st);
        return out.failed ? SL_ENOMEM : SL_EIO;
    }
    *data = out.data;
    *size = out.size;
    return 0;
}

__attribute__((visibility("default"))) const FigCairo sortlens_figure_cairo = {
    .abi = FIG_CAIRO_ABI,
    .measure_new = measure_new,
    .measure_free = measure_free,
    .text_width = text_width,
    .render = render,
};
