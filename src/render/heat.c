/* heat.c: a value -> a heat cell, for every colour depth; colour bars;
 * glyph tables; compact numbers. */
#include "render.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- glyphs --------------------------------------------------------------- */

static const struct {
    uint32_t utf8;
    uint32_t ascii;
    const char *utf8_s, *ascii_s;
} glyphs[GL_COUNT] = {
    [GL_RIGHT] = {0x2713, '+', "\u2713", "+"},
    [GL_WRONG] = {0x2717, 'x', "\u2717", "x"},
    [GL_MARK_UP] = {0x25b2, '^', "\u25b2", "^"},
    [GL_MARK_DOWN] = {0x25bc, 'v', "\u25bc", "v"},
    [GL_MARK_RIGHT] = {0x25b6, '>', "\u25b6", ">"},
    [GL_MARK_LEFT] = {0x25c0, '<', "\u25c0", "<"},
    [GL_MASK] = {0x00b7, '.', "\u00b7", "."},
    [GL_HLINE] = {0x2500, '-', "\u2500", "-"},
    [GL_VLINE] = {0x2502, '|', "\u2502", "|"},
    [GL_UPPER_HALF] = {0x2580, '#', "\u2580", "#"},
    [GL_CURSOR] = {0x00d7, 'X', "\u00d7", "X"},
    [GL_ELLIPSIS] = {0x2026, '~', "\u2026", "~"},
    [GL_SQRT] = {0x221a, 'V', "\u221a", "sqrt"},
    [GL_ARROW] = {0x2192, '>', "\u2192", "->"},
    [GL_BLOCK] = {0x2588, '#', "\u2588", "#"},
};

uint32_t glyph(Style s, GlyphId id)
{
    if (id < 0 || id >= GL_COUNT)
        return '?';
    return s.utf8 ? glyphs[id].utf8 : glyphs[id].ascii;
}

const char *glyph_str(Style s, GlyphId id)
{
    if (id < 0 || id >= GL_COUNT)
        return "?";
    return s.utf8 ? glyphs[id].utf8_s : glyphs[id].ascii_s;
}

/* ---- ramps ---------------------------------------------------------------- */

int ramp_level(RampKind k, float v, float lo, float hi)
{
    if (isnan(v))
        return -1;
    if (k == RAMP_DIVERGING) {
        double range = fmax(fabs((double)lo), fabs((double)hi));
        if (!(range > 0) || isinf(range))   /* no usable range: only the sign is known */
            return v > 0 ? DIV_LEVELS - 1 : v < 0 ? 0 : DIV_CENTER;
        long l = lround((double)v / range * DIV_CENTER);
        if (l < -DIV_CENTER)
            l = -DIV_CENTER;
        if (l > DIV_CENTER)
            l = DIV_CENTER;
        return (int)l + DIV_CENTER;
    }
    double span = (double)hi - (double)lo;
    if (!(span > 0) || isinf(span))
        return v > lo ? SEQ_LEVELS - 1 : 0;
    double t = ((double)v - lo) / span;
    long l = lround(t * (SEQ_LEVELS - 1));
    if (l < 0)
        l = 0;
    if (l > SEQ_LEVELS - 1)
        l = SEQ_LEVELS - 1;
    return (int)l;
}

int ramp_color(RampKind k, int level)
{
    if (level < 0)
        return COL_DEFAULT;
    return k == RAMP_DIVERGING ? COL_DIV0 + level : COL_SEQ0 + level;
}

/* Glyph ramps for terminals without enough colours.  Sequential: the
 * classic ten-step ASCII ramp.  Diverging: four steps on each side with
 * different shapes, so that the sign survives without colour:
 * positive . + * #, negative , - = %.  In 8 colours with UTF-8, shade
 * blocks carry the size and the colour the sign. */
static const char seq_ascii[] = " .:-=+*#%@";
static const char div_pos[] = " .+*#";
static const char div_neg[] = " ,-=%";
static const uint32_t shades[5] = {' ', 0x2591, 0x2592, 0x2593, 0x2588};

uint32_t ramp_glyph(Style s, RampKind k, int level)
{
    if (level < 0)
        return ' ';
    if (k == RAMP_SEQUENTIAL) {
        if (s.depth == DEPTH_8 && s.utf8) {
            int i = (int)lround((double)level * 4 / (SEQ_LEVELS - 1));
            return shades[i];
        }
        int i = (int)lround((double)level * 9 / (SEQ_LEVELS - 1));
        return (uint32_t)seq_ascii[i];
    }
    int m = level - DIV_CENTER, mag = m < 0 ? -m : m;
    int i = (mag * 4 + DIV_CENTER - 1) / DIV_CENTER;   /* 0 only for exact zero, then 1..4 */
    if (s.depth == DEPTH_8 && s.utf8)
        return shades[i];
    return (uint32_t)(m < 0 ? div_neg[i] : div_pos[i]);
}

/* One cell of colour col at the style's depth: a background with readable
 * ink in true and 256 colours; in 8 colours the glyph glyph8 in that colour
 * (the TUI maps it to the sign's hue); without colour the glyph glyph_mono. */
static Cell colour_cell(Style s, int col, uint32_t glyph8, uint32_t glyph_mono)
{
    Cell c = {.ch = ' '};
    switch (s.depth) {
    case DEPTH_TRUE:
    case DEPTH_256:
        c.bg = (uint8_t)col;
        c.fg = (uint8_t)palette_ink_on(col);
        break;
    case DEPTH_8:
        c.ch = glyph8;
        c.fg = (uint8_t)col;
        break;
    case DEPTH_MONO:
        c.ch = glyph_mono;
        break;
    }
    return c;
}

Cell heat_cell(Style s, RampKind k, float v, float lo, float hi)
{
    int level = ramp_level(k, v, lo, hi);
    if (level < 0)   /* not a number: said, never coloured as if it were one */
        return (Cell){.ch = '?', .fg = COL_BAD, .attr = ATTR_BOLD};
    uint32_t glyph = ramp_glyph(s, k, level);
    return colour_cell(s, ramp_color(k, level), glyph, glyph);
}

Cell heat_cell_pair(Style s, RampKind k, float top, float bottom, float lo, float hi)
{
    Cell c = {.ch = ' '};
    if (!style_half_blocks(s))
        return heat_cell(s, k, top, lo, hi);
    int lt = ramp_level(k, top, lo, hi), lb = ramp_level(k, bottom, lo, hi);
    if (lt < 0 && lb < 0)
        return c;
    if (lt < 0) {   /* only the lower half: draw it as the background of a blank upper half */
        c.ch = 0x2584;   /* lower half block */
        c.fg = (uint8_t)ramp_color(k, lb);
        return c;
    }
    c.ch = 0x2580;   /* upper half block: fg on top, bg below */
    c.fg = (uint8_t)ramp_color(k, lt);
    c.bg = (uint8_t)(lb < 0 ? COL_DEFAULT : ramp_color(k, lb));
    return c;
}

/* ---- clipped diverging scales ---------------------------------------------- */

bool heat_beyond(float v, float range)
{
    /* a hair of tolerance: the value that set a percentile range is not beyond it */
    return range > 0 && isfinite(range) && fabsf(v) > range * (1.0f + 1e-6f);
}

/* The colour id of v on a clipped scale, or -1 for NaN. */
static int sat_color(float v, float range)
{
    if (isnan(v))
        return -1;
    if (heat_beyond(v, range))
        return v > 0 ? COL_OVER : COL_UNDER;
    return ramp_color(RAMP_DIVERGING, ramp_level(RAMP_DIVERGING, v, -range, range));
}

Cell heat_cell_sat(Style s, float v, float range)
{
    if (!heat_beyond(v, range))
        return heat_cell(s, RAMP_DIVERGING, v, -range, range);
    int col = sat_color(v, range);
    uint32_t mark = col == COL_OVER ? '@' : '&';
    return colour_cell(s, col, s.utf8 ? 0x2588 : mark, mark);
}

Cell heat_cell_pair_sat(Style s, float top, float bottom, float range)
{
    Cell c = {.ch = ' '};
    if (!style_half_blocks(s))
        return heat_cell_sat(s, top, range);
    int ct = sat_color(top, range), cb = sat_color(bottom, range);
    if (ct < 0 && cb < 0)
        return c;
    if (ct < 0) {
        c.ch = 0x2584;   /* lower half block */
        c.fg = (uint8_t)cb;
        return c;
    }
    c.ch = 0x2580;
    c.fg = (uint8_t)ct;
    c.bg = (uint8_t)(cb < 0 ? COL_DEFAULT : cb);
    return c;
}

/* ---- numbers -------------------------------------------------------------- */

void fmt_num(char *buf, size_t size, double v, int width, bool sign)
{
    if (size == 0)
        return;
    if (width < 1)
        width = 1;
    if (width > 24)
        width = 24;
    if (isnan(v)) {
        snprintf(buf, size, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, size, v > 0 ? (sign ? "+inf" : "inf") : "-inf");
        return;
    }
    /* as many decimals as fit, then fewer, then scientific */
    for (int dec = 4; dec >= 0; dec--) {
        char tmp[64];
        snprintf(tmp, sizeof tmp, sign ? "%+.*f" : "%.*f", dec, v);
        if ((int)strlen(tmp) <= width) {
            snprintf(buf, size, "%s", tmp);
            return;
        }
    }
    for (int dec = 2; dec >= 0; dec--) {
        char tmp[64];
        snprintf(tmp, sizeof tmp, sign ? "%+.*e" : "%.*e", dec, v);
        if ((int)strlen(tmp) <= width || dec == 0) {
            snprintf(buf, size, "%s", tmp);
            return;
        }
    }
}

void fmt_short(char *buf, size_t size, double v, bool sign)
{
    double a = fabs(v);
    const char *f = a >= 1e5 ? (sign ? "%+.2g" : "%.2g") : a >= 100 ? (sign ? "%+.0f" : "%.0f")
                  : a >= 10 ? (sign ? "%+.1f" : "%.1f") : a == 0 ? (sign ? "0" : "0") : (sign ? "%+.2f" : "%.2f");
    snprintf(buf, size, f, v);
}

/* ---- colour bar ----------------------------------------------------------- */

int render_colorbar(Canvas *cv, int x, int y, int w, RampKind k, float lo, float hi)
{
    char a[24], b[24];
    if (k == RAMP_DIVERGING) {
        float range = fmaxf(fabsf(lo), fabsf(hi));
        lo = -range;
        hi = range;
    }
    fmt_short(a, sizeof a, lo, k == RAMP_DIVERGING);
    fmt_short(b, sizeof b, hi, k == RAMP_DIVERGING);
    int la = (int)strlen(a), lb = (int)strlen(b);
    int cells = w - la - lb - 2;
    if (cells < 3) {   /* no room for the bar: the range alone */
        char tmp[40];
        snprintf(tmp, sizeof tmp, "%s..%s", a, b);
        cv_text(cv, x, y, tmp, COL_DIM, 0);
        return render_utf8_width(tmp) < w ? render_utf8_width(tmp) : w;
    }
    if (k == RAMP_DIVERGING && cells % 2 == 0)
        cells--;   /* an odd count puts one cell exactly on zero */
    int cx = cv_text(cv, x, y, a, COL_DIM, 0) + 1;
    for (int i = 0; i < cells; i++) {
        /* the value at the centre of cell i */
        float v = lo + (hi - lo) * (cells == 1 ? 0.5f : (float)i / (float)(cells - 1));
        Cell c = heat_cell(cv->style, k, v, lo, hi);
        if (cv->style.depth >= DEPTH_256)
            c.ch = ' ';
        cv_put(cv, cx + i, y, c.ch, c.fg, c.bg, c.attr);
    }
    cv_text(cv, cx + cells + 1, y, b, COL_DIM, 0);
    return cx + cells + 1 + lb - x;
}

int render_colorbar_caps(Canvas *cv, int x, int y, int w, float range)
{
    char a[24], b[24];
    range = fabsf(range);
    fmt_short(a, sizeof a, -range, true);
    fmt_short(b, sizeof b, range, true);
    int la = (int)strlen(a), lb = (int)strlen(b);
    int cells = w - la - lb - 4;   /* two spaces, two caps */
    if (cells < 3)
        return render_colorbar(cv, x, y, w, RAMP_DIVERGING, -range, range);
    if (cells % 2 == 0)
        cells--;
    int cx = cv_text(cv, x, y, a, COL_DIM, 0) + 1;
    Cell cap = heat_cell_sat(cv->style, -2 * range - 1, range);
    cv_put(cv, cx, y, cv->style.depth >= DEPTH_256 ? '<' : cap.ch, cap.fg, cap.bg, cap.attr);
    cx++;
    for (int i = 0; i < cells; i++) {
        float v = -range + 2 * range * (cells == 1 ? 0.5f : (float)i / (float)(cells - 1));
        Cell c = heat_cell(cv->style, RAMP_DIVERGING, v, -range, range);
        if (cv->style.depth >= DEPTH_256)
            c.ch = ' ';
        cv_put(cv, cx + i, y, c.ch, c.fg, c.bg, c.attr);
    }
    cap = heat_cell_sat(cv->style, 2 * range + 1, range);
    cv_put(cv, cx + cells, y, cv->style.depth >= DEPTH_256 ? '>' : cap.ch, cap.fg, cap.bg, cap.attr);
    cv_text(cv, cx + cells + 2, y, b, COL_DIM, 0);
    return cx + cells + 2 + lb - x;
}
