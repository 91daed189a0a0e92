/* figure_svg.c: a Figure as SVG 1.1, written here rather than by cairo's
 * SVG surface because that surface has no way to give a shape a child
 * element: every heat cell is a <rect> with a <title> holding its exact
 * value (browsers show it on hover, scripts read it back), and the cells of
 * each matrix sit in a <g id="..."> named after it.  The drawing is the
 * same list of items the cairo backend draws. */
#include "figure.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* XML character data / attribute value: the five specials escaped, and
 * control characters (not allowed in XML 1.0) dropped. */
static void put_escaped(FILE *out, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&apos;", out); break;
        default:
            if (c >= 0x20 || c == '\t')
                fputc(c, out);
        }
    }
}

static void put_color(FILE *out, const char *attr, uint32_t rgb)
{
    if (rgb == FIG_NONE)
        fprintf(out, " %s=\"none\"", attr);
    else
        fprintf(out, " %s=\"#%06x\"", attr, (unsigned)rgb);
}

static void put_item(FILE *out, const FigItem *it)
{
    switch (it->kind) {
    case FIG_RECT:
        fprintf(out, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"", it->x, it->y, it->w, it->h);
        put_color(out, "fill", it->fill);
        if (it->stroke != FIG_NONE) {
            put_color(out, "stroke", it->stroke);
            fprintf(out, " stroke-width=\"%.2f\"", it->stroke_width);
        }
        if (it->text) {
            fputs("><title>", out);
            put_escaped(out, it->text);
            fputs("</title></rect>\n", out);
        } else {
            fputs("/>\n", out);
        }
        break;
    case FIG_LINE:
        fprintf(out, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"", it->x, it->y, it->x + it->w,
                it->y + it->h);
        put_color(out, "stroke", it->stroke);
        fprintf(out, " stroke-width=\"%.2f\"/>\n", it->stroke_width);
        break;
    case FIG_TEXT: {
        static const char *anchors[] = {"start", "middle", "end"};
        fprintf(out, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"%.2f\" text-anchor=\"%s\"", it->x, it->y, it->size,
                anchors[it->anchor]);
        if (it->bold)
            fputs(" font-weight=\"bold\"", out);
        if (it->vertical)
            fprintf(out, " transform=\"rotate(-90 %.2f %.2f)\"", it->x, it->y);
        put_color(out, "fill", it->fill);
        fputc('>', out);
        put_escaped(out, it->text);
        fputs("</text>\n", out);
        break;
    }
    }
}

int figure_render_svg(const Figure *f, unsigned char **data, size_t *size, SlError *err)
{
    *data = NULL;
    *size = 0;
    if (f->failed)
        return sl_error_set(err, SL_ENOMEM, "out of memory while laying out the figure");
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    if (!out)
        return sl_error_set(err, SL_ENOMEM, "out of memory for the SVG");
    int w = (int)(f->w + 0.999), h = (int)(f->h + 0.999);
    fprintf(out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"%s\">\n"
            "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n",
            w, h, w, h, FIG_FONT_FAMILY_SVG, w, h);
    int open_group = -1;
    for (size_t i = 0; i < f->n; i++) {
        const FigItem *it = &f->items[i];
        if (it->group != open_group) {
            if (open_group >= 0)
                fputs("</g>\n", out);
            if (it->group >= 0) {
                fputs("<g id=\"", out);
                put_escaped(out, f->groups[it->group]);
                fputs("\">\n", out);
            }
            open_group = it->group;
        }
        put_item(out, it);
    }
    if (open_group >= 0)
        fputs("</g>\n", out);
    fputs("</svg>\n", out);
    bool failed = ferror(out) != 0;
    if (fclose(out) != 0 || failed) {
        free(buf);
        return sl_error_set(err, SL_ENOMEM, "out of memory for the SVG");
    }
    *data = (unsigned char *)buf;
    *size = len;
    return 0;
}
