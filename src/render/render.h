/* render.h: values -> a grid of cells (glyph + colour id), without curses.
 *
 * The explorer draws every frame into a Grid; the TUI only copies the cells
 * to the screen.  So everything that decides what a heatmap, a colour bar or
 * a prediction row looks like is plain C that the tests read back as text
 * (grid_dump_text, grid_dump_colors).
 *
 * Colours are ids into one scheme table (palette.c): a few roles (title,
 * good, bad, ...) and two ramps, the diverging blue-white-red one for
 * signed values (scores, circuits) and a sequential one for probabilities.
 * How an id reaches the screen depends on the terminal (Style.depth):
 * truecolor uses the RGB, 256 colours the nearest xterm colour, 8 colours a
 * glyph ramp in the sign's hue, monochrome a glyph ramp alone.
 */
#ifndef SORTLENS_RENDER_H
#define SORTLENS_RENDER_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- colour ids ---------------------------------------------------------- */

#define DIV_LEVELS 21   /* diverging ramp: level 10 is zero (white) */
#define DIV_CENTER 10
#define SEQ_LEVELS 16   /* sequential ramp: level 0 is the minimum */

enum {
    COL_DEFAULT = 0,  /* the terminal's own colour */
    COL_TITLE,        /* title bar text */
    COL_BAR,          /* title bar and key line background */
    COL_DIM,          /* secondary text, the causal mask */
    COL_LABEL,        /* labels of rows and fields */
    COL_VALUE,        /* numbers that matter */
    COL_GOOD,         /* a right prediction */
    COL_BAD,          /* a wrong prediction, an error */
    COL_WARN,         /* an active intervention */
    COL_SELECT,       /* background of the selected position */
    COL_CURSOR,       /* background of the source cursor */
    COL_KEY,          /* key names in the key line */
    COL_EDIT,         /* background of the list editor */
    COL_INK_DARK,     /* text drawn on a light heat cell */
    COL_INK_LIGHT,    /* text drawn on a dark heat cell */
    COL_OVER,         /* a value above the top of a clipped diverging scale */
    COL_UNDER,        /* a value below the bottom of a clipped diverging scale */
    COL_ROLES,
    COL_DIV0 = COL_ROLES,                /* DIV_LEVELS entries, blue .. white .. red */
    COL_SEQ0 = COL_DIV0 + DIV_LEVELS,    /* SEQ_LEVELS entries, dark .. bright */
    COL_COUNT = COL_SEQ0 + SEQ_LEVELS
};

enum { ATTR_BOLD = 1, ATTR_REVERSE = 2, ATTR_UNDERLINE = 4, ATTR_DIM = 8 };

typedef enum { DEPTH_MONO, DEPTH_8, DEPTH_256, DEPTH_TRUE } ColorDepth;

/* What the terminal can show: colour depth and whether the locale is UTF-8
 * (box drawing, marks and half blocks need it). */
typedef struct Style {
    ColorDepth depth;
    bool utf8;
} Style;

/* Half blocks (two matrix rows per line) need colours for both halves. */
static inline bool style_half_blocks(Style s) { return s.utf8 && s.depth >= DEPTH_256; }

/* The scheme table. */
uint32_t palette_rgb(int color);        /* 0xRRGGBB; COL_DEFAULT gives 0 */
int palette_xterm256(int color);        /* nearest xterm-256 index; -1 for the default */
int palette_ansi8(int color);           /* 0..7 (curses COLOR_*), -1 for the default */
int palette_mono_attr(int color);       /* ATTR_* that stand in for the role in monochrome */
int palette_role_attr(int color);       /* ATTR_* always added to a role (bold for BAD, ...) */
/* The ink (COL_INK_DARK or COL_INK_LIGHT) readable on a background colour. */
int palette_ink_on(int bg);
/* Nearest index of the 6x6x6 cube or grey ramp of xterm-256 (16..255). */
int rgb_to_xterm256(uint32_t rgb);
/* Nearest of the 8 ANSI colours (0 black .. 7 white). */
int rgb_to_ansi8(uint32_t rgb);

/* ---- cells and grids ------------------------------------------------------ */

/* What a cell means to a mouse click (set by the panel that drew it). */
enum {
    TAG_NONE,
    TAG_TOKEN,    /* a = position in the token strip */
    TAG_PRED,     /* a = the query position whose prediction this is */
    TAG_ATTN,     /* a = query, b = key of the attention heatmap */
    TAG_SOURCE,   /* a = key position in the source list */
    TAG_CIRCUIT,  /* a = row, b = column of the circuit panel; c = which panel */
    TAG_PAGE,     /* a = page index */
};

typedef struct Cell {
    uint32_t ch;        /* Unicode code point, one column wide */
    uint8_t fg, bg;     /* COL_* */
    uint8_t attr;       /* ATTR_* */
    uint8_t tag;        /* TAG_* */
    uint16_t ta, tb;    /* tag arguments */
    uint8_t tc;
} Cell;

typedef struct Grid {
    int w, h;
    Cell *cells;        /* [h, w] */
} Grid;

Grid *grid_new(int w, int h);          /* NULL on allocation failure */
void grid_free(Grid *g);               /* accepts NULL */
int grid_resize(Grid *g, int w, int h);   /* 0, or -1 (grid unchanged) */
void grid_clear(Grid *g);
const Cell *grid_cell(const Grid *g, int x, int y);   /* NULL outside */
/* The glyphs as UTF-8 lines (trailing blanks removed), malloc'ed. */
char *grid_dump_text(const Grid *g);
/* One character per cell: the colour id of bg (or fg when bg is default)
 * as a letter: '.' default, 'A'.. roles, '0'..'9','a'..'k' ramps (see grid.c). */
char *grid_dump_colors(const Grid *g, bool background);
/* The text of row y from column x, w cells, as UTF-8 into buf. */
void grid_row_text(const Grid *g, int x, int y, int w, char *buf, size_t size);

typedef struct Rect {
    int x, y, w, h;
} Rect;

/* A clipped view into a grid: coordinates are relative to r, and nothing is
 * ever written outside r (nor outside the grid). */
typedef struct Canvas {
    Grid *g;
    Rect r;
    Style style;
    uint8_t tag, tc;      /* stamped on every cell written */
    uint16_t ta, tb;
} Canvas;

Canvas canvas_of(Grid *g, Style s);
/* A sub-canvas at (x, y) of size w x h inside cv, clipped to it. */
Canvas canvas_sub(Canvas cv, int x, int y, int w, int h);
static inline void canvas_tag(Canvas *cv, int tag, int a, int b, int c)
{
    cv->tag = (uint8_t)tag;
    cv->ta = (uint16_t)a;
    cv->tb = (uint16_t)b;
    cv->tc = (uint8_t)c;
}
void cv_put(Canvas *cv, int x, int y, uint32_t ch, int fg, int bg, int attr);
/* Writes UTF-8 text from (x, y), clipped; bg stays as it was unless the
 * cell is written with cv_text_bg.  Returns the column after the text. */
int cv_text(Canvas *cv, int x, int y, const char *s, int fg, int attr);
int cv_text_bg(Canvas *cv, int x, int y, const char *s, int fg, int bg, int attr);
int cv_printf(Canvas *cv, int x, int y, int fg, int attr, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
void cv_fill(Canvas *cv, uint32_t ch, int fg, int bg, int attr);

/* Decodes one UTF-8 code point; invalid bytes give U+FFFD and advance 1. */
uint32_t render_utf8_next(const char **s);
/* Number of code points (= columns, for the glyphs we draw). */
int render_utf8_width(const char *s);
/* Copies untrusted text (a file name) into out, with anything that is not
 * printable ASCII replaced by '?', so that it cannot move the cursor or
 * take two columns. */
void render_text_sanitize(const char *in, char *out, size_t size);

/* ---- glyphs --------------------------------------------------------------- */

typedef enum {
    GL_RIGHT, GL_WRONG, GL_MARK_UP, GL_MARK_DOWN, GL_MARK_RIGHT, GL_MARK_LEFT, GL_MASK, GL_HLINE,
    GL_VLINE, GL_UPPER_HALF, GL_CURSOR, GL_ELLIPSIS, GL_SQRT, GL_ARROW, GL_BLOCK, GL_COUNT
} GlyphId;
/* The glyph for the style: UTF-8 or its ASCII stand-in. */
uint32_t glyph(Style s, GlyphId id);
const char *glyph_str(Style s, GlyphId id);

/* ---- heat cells ------------------------------------------------------------ */

typedef enum { RAMP_DIVERGING, RAMP_SEQUENTIAL } RampKind;

/* The ramp level of v: diverging over [-range, range] (0..DIV_LEVELS-1,
 * DIV_CENTER for zero), sequential over [lo, hi] (0..SEQ_LEVELS-1).
 * NaN gives -1; values beyond the range are clamped. */
int ramp_level(RampKind k, float v, float lo, float hi);
int ramp_color(RampKind k, int level);   /* COL_DIV0 + level or COL_SEQ0 + level */
/* The ramp's colour at t in [0, 1] (clamped), unquantised: 0 is the blue
 * (diverging) or dark (sequential) end.  Figures (src/plot) use it; the
 * terminal's levels are samples of it. */
uint32_t palette_ramp_rgb(RampKind k, double t);

/* The monochrome / 8-colour glyph of a level (see heat.c for the ramps). */
uint32_t ramp_glyph(Style s, RampKind k, int level);

/* One matrix value as one cell (glyph + colours) for the style. */
Cell heat_cell(Style s, RampKind k, float v, float lo, float hi);
/* Two values stacked in one cell with an upper half block: top is the fg,
 * bottom the bg.  Only for style_half_blocks(); bottom may be NaN (the
 * matrix has an odd number of rows): then the lower half is left blank. */
Cell heat_cell_pair(Style s, RampKind k, float top, float bottom, float lo, float hi);

/* The diverging cells of a clipped scale [-range, range]: a value beyond it
 * takes COL_OVER / COL_UNDER (magenta / cyan; '@' / '&' without colour)
 * instead of the ramp's end, so that clipping never hides a large value. */
bool heat_beyond(float v, float range);
Cell heat_cell_sat(Style s, float v, float range);
Cell heat_cell_pair_sat(Style s, float top, float bottom, float range);

/* A colour bar: "lo [cells] hi" in w columns at (x, y); for diverging
 * ramps lo = -hi.  Returns the columns used. */
int render_colorbar(Canvas *cv, int x, int y, int w, RampKind k, float lo, float hi);
/* The same with end caps in the beyond colours (a clipped diverging
 * scale): "lo <[cells]> hi". */
int render_colorbar_caps(Canvas *cv, int x, int y, int w, float range);

/* Colour-bar labels: 3 significant figures at most ("0.25", "+31.4", "-1040"). */
void fmt_short(char *buf, size_t size, double v, bool sign);
/* Compact number: at most `width` columns, sign shown when `sign`. */
void fmt_num(char *buf, size_t size, double v, int width, bool sign);

#endif
