/* figure.h: a figure as a list of drawing items (filled boxes, text,
 * lines) in points, laid out once and then written by a backend: cairo for
 * PNG and PDF (figure_cairo.c), a small writer of our own for SVG
 * (figure_svg.c), because cairo's SVG surface cannot attach a <title> to a
 * shape and every heat cell carries its exact value in one.
 *
 * The heat panel (figure_heat.c) is the one chart every view is made of: a
 * labelled matrix with a title, axis titles and a colour bar, in the
 * render layer's ramps (RdBu centred on zero for signed values, viridis for
 * weights).  No curses, no printing: errors come back as SlError.
 */
#ifndef SORTLENS_PLOT_FIGURE_H
#define SORTLENS_PLOT_FIGURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "render.h"
#include "sortlens/error.h"

#define FIG_NONE 0xffffffffu   /* no fill / no stroke */

/* The font text is measured and drawn in (Debian's cairo pulls it in through
 * fontconfig); SVG names fallbacks of similar width for other machines. */
#define FIG_FONT_FAMILY "DejaVu Sans"
#define FIG_FONT_FAMILY_SVG "'DejaVu Sans', Verdana, sans-serif"

typedef enum { FIG_RECT, FIG_TEXT, FIG_LINE } FigKind;
typedef enum { FIG_START, FIG_MIDDLE, FIG_END } FigAnchor;

typedef struct FigItem {
    FigKind kind;
    double x, y, w, h;   /* rect: the box; line: from (x, y) to (x + w, y + h);
                            text: the anchor point on the baseline */
    uint32_t fill;       /* rect fill or text ink, 0xRRGGBB or FIG_NONE */
    uint32_t stroke;     /* rect outline or line colour, or FIG_NONE */
    double stroke_width;
    double size;         /* text: font size in points */
    FigAnchor anchor;    /* text */
    bool bold;           /* text */
    bool vertical;       /* text: turned 90 degrees anticlockwise (reads upwards) */
    int group;           /* heat cells: index into Figure.groups; -1 otherwise */
    char *text;          /* text: the string; rect: its exact value for SVG's <title>, or NULL */
} FigItem;

typedef struct Figure {
    double w, h;          /* points (PNG: pixels at scale 1) */
    FigItem *items;
    size_t n, cap;
    char **groups;        /* names of the matrices (SVG <g id>) */
    int ngroups;
    bool failed;          /* an allocation failed: the figure is incomplete */
    void *measure;        /* the cairo module's context used to measure text */
} Figure;

Figure *figure_new(SlError *err);
void figure_free(Figure *f);   /* accepts NULL */

/* Appending never fails loudly: an allocation failure sets f->failed, which
 * the backends report. */
void fig_rect(Figure *f, double x, double y, double w, double h, uint32_t fill, uint32_t stroke,
              double stroke_width, int group, const char *title);
void fig_text(Figure *f, double x, double y, double size, FigAnchor anchor, bool bold, bool vertical,
              uint32_t ink, const char *text);
void fig_line(Figure *f, double x1, double y1, double x2, double y2, uint32_t color, double width);
int fig_group(Figure *f, const char *name);   /* a new group's index (-1 on failure) */
/* Width in points of text at size (the font the backends use). */
double fig_text_width(Figure *f, const char *text, double size, bool bold);

/* ---- heat panel ------------------------------------------------------------ */

#define FIG_LABEL_MAX 24

typedef struct HeatPanel {
    const char *title;        /* above the matrix */
    const char *id;           /* SVG group id of the cells ("attention", "qk-token-token", ...) */
    int rows, cols;
    const float *data;        /* [rows, cols] */
    const unsigned char *masked;   /* [rows, cols] or NULL: 1 = drawn grey, left out of the scale */
    const char (*row_labels)[FIG_LABEL_MAX];   /* [rows] */
    const char (*col_labels)[FIG_LABEL_MAX];   /* [cols] */
    const char (*row_titles)[FIG_LABEL_MAX];   /* [rows] names in the cells' titles; NULL: the labels */
    const char (*col_titles)[FIG_LABEL_MAX];   /* [cols] */
    const char *row_name, *col_name;   /* in each cell's title: "query", "key", "token", ... */
    /* Axis titles; with a split, one per block (a before it, b after). */
    const char *row_axis, *row_axis_b, *col_axis, *col_axis_b;
    int split_row, split_col; /* -1, or the first row / column of the second block (drawn as a line) */
    int mark_row;             /* -1, or a row outlined (the query shown) */
    RampKind ramp;
    float lo, hi;             /* the colour scale; diverging: lo = -hi */
    double cell_w, cell_h;    /* points */
    bool annotate;            /* write each value in its cell */
    bool colorbar;
} HeatPanel;

/* The symmetric range max |x| of the unmasked cells (1 if they are all 0). */
float heat_range(const float *data, const unsigned char *masked, size_t count);
/* Size of the panel as heat_draw lays it out. */
void heat_size(Figure *f, const HeatPanel *p, double *w, double *h);
/* Draws the panel with its top-left corner at (x, y). */
void heat_draw(Figure *f, const HeatPanel *p, double x, double y);

/* ---- backends ---------------------------------------------------------------- */

typedef enum { FIG_FORMAT_SVG, FIG_FORMAT_PNG, FIG_FORMAT_PDF } FigFormat;

/* The whole file, malloc'ed, into *data / *size.  PNG is drawn at 2 pixels
 * per point (so its size is 2 f->w x 2 f->h), PDF at f->w x f->h points, SVG
 * in user units equal to points. */
int figure_render_cairo(const Figure *f, FigFormat format, unsigned char **data, size_t *size, SlError *err);
int figure_render_svg(const Figure *f, unsigned char **data, size_t *size, SlError *err);

#define FIG_PNG_SCALE 2

/* ---- the cairo module --------------------------------------------------------- */

/* Cairo (text measuring, PNG and PDF) is a module of its own,
 * sortlens-cairo.so (figure_cairo.c), loaded by cairo_module.c the first
 * time a figure is made: linked into the program, cairo's 17 libraries were
 * mapped and relocated at the start of every command, about 1.8 ms of a
 * start that takes 5 without them, for the few runs that draw a figure.
 * The module calls nothing of ours; it reports a failure as a code and a
 * message, which the caller turns into an SlError. */
#define FIG_CAIRO_ABI 1   /* raised whenever this struct or Figure changes */
typedef struct FigCairo {
    int abi;
    void *(*measure_new)(void);   /* NULL on failure */
    void (*measure_free)(void *measure);
    double (*text_width)(void *measure, const char *text, double size, bool bold);
    /* 0, or SL_ENOMEM / SL_EIO with *message set */
    int (*render)(const Figure *f, FigFormat format, unsigned char **data, size_t *size, const char **message);
} FigCairo;
#define FIG_CAIRO_SYMBOL "sortlens_figure_cairo"

/* The loaded module (once per process), or NULL with err set. */
const FigCairo *fig_cairo(SlError *err);

/* A figure's bytes written to path whole or not at all (sl_atomic_*). */
int plot_write_bytes(const char *path, const unsigned char *data, size_t size, SlError *err);

#endif
