/* grid.c: cells, clipped canvases, UTF-8 text and text dumps for tests. */
#include "render.h"
#include "sortlens/utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const Cell blank = {.ch = ' '};

Grid *grid_new(int w, int h)
{
    Grid *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    if (grid_resize(g, w, h) < 0) {
        free(g);
        return NULL;
    }
    return g;
}

void grid_free(Grid *g)
{
    if (!g)
        return;
    free(g->cells);
    free(g);
}

int grid_resize(Grid *g, int w, int h)
{
    if (w < 0 || h < 0 || (long long)w * h > 10000000LL)   /* a sane bound: 10M cells */
        return -1;
    size_t n = (size_t)w * (size_t)h;
    Cell *c = malloc((n ? n : 1) * sizeof *c);
    if (!c)
        return -1;
    free(g->cells);
    g->cells = c;
    g->w = w;
    g->h = h;
    grid_clear(g);
    return 0;
}

void grid_clear(Grid *g)
{
    size_t n = (size_t)g->w * (size_t)g->h;
    for (size_t i = 0; i < n; i++)
        g->cells[i] = blank;
}

const Cell *grid_cell(const Grid *g, int x, int y)
{
    if (x < 0 || y < 0 || x >= g->w || y >= g->h)
        return NULL;
    return &g->cells[(size_t)y * g->w + x];
}

static size_t put_utf8(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

void grid_row_text(const Grid *g, int x, int y, int w, char *buf, size_t size)
{
    size_t len = 0;
    if (size == 0)
        return;
    for (int i = 0; i < w; i++) {
        const Cell *c = grid_cell(g, x + i, y);
        char tmp[4];
        size_t k = put_utf8(tmp, c ? c->ch : ' ');
        if (len + k + 1 > size)
            break;
        memcpy(buf + len, tmp, k);
        len += k;
    }
    buf[len] = '\0';
}

char *grid_dump_text(const Grid *g)
{
    size_t cap = (size_t)g->h * ((size_t)g->w * 4 + 1) + 1;
    char *out = malloc(cap), *p = out;
    if (!out)
        return NULL;
    for (int y = 0; y < g->h; y++) {
        char *line = p;
        for (int x = 0; x < g->w; x++)
            p += put_utf8(p, g->cells[(size_t)y * g->w + x].ch);
        while (p > line && p[-1] == ' ')
            p--;
        *p++ = '\n';
    }
    *p = '\0';
    return out;
}

/* '.' default, roles as capitals from 'A', the diverging ramp as
 * '0'..'9' (blue..just below zero), 'z' for zero, 'a'..'j' (above zero ..
 * red), the sequential ramp as 'k'..'z' would clash, so as '!'-based
 * punctuation: see seq_chars. */
static char color_char(int c)
{
    static const char seq_chars[SEQ_LEVELS + 1] = "!\"#$%&'()*+,-/:;";
    if (c == COL_DEFAULT)
        return '.';
    if (c < COL_ROLES)
        return (char)('A' + c - 1);
    if (c < COL_SEQ0) {
        int l = c - COL_DIV0;
        if (l < DIV_CENTER)
            return (char)('0' + l);
        if (l == DIV_CENTER)
            return 'z';
        return (char)('a' + l - DIV_CENTER - 1);
    }
    if (c < COL_COUNT)
        return seq_chars[c - COL_SEQ0];
    return '?';
}

char *grid_dump_colors(const Grid *g, bool background)
{
    size_t cap = (size_t)g->h * ((size_t)g->w + 1) + 1;
    char *out = malloc(cap), *p = out;
    if (!out)
        return NULL;
    for (int y = 0; y < g->h; y++) {
        for (int x = 0; x < g->w; x++) {
            const Cell *c = &g->cells[(size_t)y * g->w + x];
            *p++ = color_char(background ? c->bg : c->fg);
        }
        *p++ = '\n';
    }
    *p = '\0';
    return out;
}

/* ---- canvases ------------------------------------------------------------- */

Canvas canvas_of(Grid *g, Style s)
{
    Canvas cv = {.g = g, .r = {0, 0, g->w, g->h}, .style = s};
    return cv;
}

Canvas canvas_sub(Canvas cv, int x, int y, int w, int h)
{
    Canvas sub = cv;
    if (x < 0) {
        w += x;
        x = 0;
    }
    if (y < 0) {
        h += y;
        y = 0;
    }
    if (x > cv.r.w)
        x = cv.r.w;
    if (y > cv.r.h)
        y = cv.r.h;
    if (w > cv.r.w - x)
        w = cv.r.w - x;
    if (h > cv.r.h - y)
        h = cv.r.h - y;
    sub.r.x = cv.r.x + x;
    sub.r.y = cv.r.y + y;
    sub.r.w = w < 0 ? 0 : w;
    sub.r.h = h < 0 ? 0 : h;
    return sub;
}

static Cell *cv_cell(Canvas *cv, int x, int y)
{
    if (x < 0 || y < 0 || x >= cv->r.w || y >= cv->r.h)
        return NULL;
    int gx = cv->r.x + x, gy = cv->r.y + y;
    if (gx < 0 || gy < 0 || gx >= cv->g->w || gy >= cv->g->h)
        return NULL;
    return &cv->g->cells[(size_t)gy * cv->g->w + gx];
}

static void stamp(const Canvas *cv, Cell *c)
{
    c->tag = cv->tag;
    c->ta = cv->ta;
    c->tb = cv->tb;
    c->tc = cv->tc;
}

void cv_put(Canvas *cv, int x, int y, uint32_t ch, int fg, int bg, int attr)
{
    Cell *c = cv_cell(cv, x, y);
    if (!c)
        return;
    c->ch = ch;
    c->fg = (uint8_t)fg;
    c->bg = (uint8_t)bg;
    c->attr = (uint8_t)attr;
    stamp(cv, c);
}

static int text_impl(Canvas *cv, int x, int y, const char *s, int fg, int bg, int attr, bool set_bg)
{
    while (*s) {
        uint32_t cp = render_utf8_next(&s);
        if (cp < 0x20 || cp == 0x7f)
            cp = '?';
        Cell *c = cv_cell(cv, x, y);
        if (c) {
            c->ch = cp;
            c->fg = (uint8_t)fg;
            if (set_bg)
                c->bg = (uint8_t)bg;
            c->attr = (uint8_t)attr;
            stamp(cv, c);
        }
        x++;
        if (x >= cv->r.w && !c)
            break;
    }
    return x;
}

int cv_text(Canvas *cv, int x, int y, const char *s, int fg, int attr)
{
    return text_impl(cv, x, y, s, fg, 0, attr, false);
}

int cv_text_bg(Canvas *cv, int x, int y, const char *s, int fg, int bg, int attr)
{
    return text_impl(cv, x, y, s, fg, bg, attr, true);
}

int cv_printf(Canvas *cv, int x, int y, int fg, int attr, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return cv_text(cv, x, y, buf, fg, attr);
}

void cv_fill(Canvas *cv, uint32_t ch, int fg, int bg, int attr)
{
    for (int y = 0; y < cv->r.h; y++)
        for (int x = 0; x < cv->r.w; x++)
            cv_put(cv, x, y, ch, fg, bg, attr);
}

/* ---- UTF-8 ---------------------------------------------------------------- */

/* The renderer's iterator over the core's one strict decoder
 * (sl_utf8_decode): an invalid byte gives U+FFFD and advances one, so that
 * the next byte is tried as the start of a character. */
uint32_t render_utf8_next(const char **sp)
{
    uint32_t cp;
    size_t len = sl_utf8_decode((const uint8_t *)*sp, 4, &cp);   /* stops at a NUL */
    if (len == 0) {
        *sp += 1;
        return 0xfffd;
    }
    *sp += len;
    return cp;
}

int render_utf8_width(const char *s)
{
    int n = 0;
    while (*s) {
        render_utf8_next(&s);
        n++;
    }
    return n;
}

void render_text_sanitize(const char *in, char *out, size_t size)
{
    size_t n = 0;
    if (size == 0)
        return;
    for (; *in && n + 1 < size; in++)
        out[n++] = (*in >= 0x20 && *in < 0x7f) ? *in : '?';
    out[n] = '\0';
}
