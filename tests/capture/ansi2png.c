/* ansi2png: a terminal screen captured with `tmux capture-pane -e -p`
 * (text with SGR escapes: 24-bit, 256 and 8 colours, bold, reverse) drawn
 * as a PNG with cairo, one cell per character, so that docs/ can show the
 * explorer as a terminal shows it.
 *
 * usage: ansi2png COLS ROWS IN.txt OUT.png
 * Block elements (U+2580..U+259F) are drawn as rectangles, so that half
 * blocks tile without gaps whatever the font; everything else with the
 * monospace font cairo finds (DejaVu Sans Mono on Debian). */
#include <cairo.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CW 8.0    /* cell width and height in pixels */
#define CH 16.0

typedef struct {
    uint32_t ch, fg, bg;
    int bold, fg_default, bg_default;
} Cell;

static const uint32_t DEF_FG = 0xd0d0d0, DEF_BG = 0x1c1c1c;

static uint32_t xterm256(int n)
{
    static const uint32_t base[16] = {0x000000, 0xcd0000, 0x00cd00, 0xcdcd00, 0x0000ee, 0xcd00cd, 0x00cdcd, 0xe5e5e5,
                                      0x7f7f7f, 0xff0000, 0x00ff00, 0xffff00, 0x5c5cff, 0xff00ff, 0x00ffff, 0xffffff};
    if (n < 16)
        return base[n < 0 ? 0 : n];
    if (n < 232) {
        static const int lv[6] = {0, 95, 135, 175, 215, 255};
        n -= 16;
        return (uint32_t)(lv[n / 36] << 16 | lv[n / 6 % 6] << 8 | lv[n % 6]);
    }
    int g = 8 + 10 * (n - 232);
    return (uint32_t)(g << 16 | g << 8 | g);
}

static uint32_t utf8_decode(const unsigned char **s)
{
    const unsigned char *p = *s;
    uint32_t c = *p++;
    int extra = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
    if (extra)
        c &= 0x3f >> extra;
    for (int i = 0; i < extra && (*p & 0xc0) == 0x80; i++)
        c = c << 6 | (*p++ & 0x3f);
    *s = p;
    return c;
}

static void set_rgb(cairo_t *cr, uint32_t rgb)
{
    cairo_set_source_rgb(cr, (rgb >> 16 & 255) / 255.0, (rgb >> 8 & 255) / 255.0, (rgb & 255) / 255.0);
}

/* Block elements as rectangles: upper/lower eighths, left eighths, shades;
 * braille patterns as their dots (the progress page's curves). */
static int draw_block(cairo_t *cr, uint32_t ch, double x, double y, uint32_t fg, uint32_t bg)
{
    double w = CW, h = CH;
    set_rgb(cr, fg);
    if (ch == 0x2580) {
        cairo_rectangle(cr, x, y, w, h / 2);
    } else if (ch >= 0x2581 && ch <= 0x2588) {   /* lower 1/8 .. full */
        double f = (ch - 0x2580) / 8.0;
        cairo_rectangle(cr, x, y + h * (1 - f), w, h * f);
    } else if (ch >= 0x2589 && ch <= 0x258f) {   /* left 7/8 .. 1/8 */
        double f = (0x2590 - ch) / 8.0;
        cairo_rectangle(cr, x, y, w * f, h);
    } else if (ch == 0x2590) {
        cairo_rectangle(cr, x + w / 2, y, w / 2, h);
    } else if (ch >= 0x2591 && ch <= 0x2593) {   /* shades: a mix of fg and bg */
        double f = (ch - 0x2590) / 4.0;
        uint32_t mix = 0;
        for (int s = 0; s < 24; s += 8) {
            double v = ((fg >> s) & 255) * f + ((bg >> s) & 255) * (1 - f);
            mix |= (uint32_t)(v + 0.5) << s;
        }
        set_rgb(cr, mix);
        cairo_rectangle(cr, x, y, w, h);
    } else if (ch > 0x2800 && ch <= 0x28ff) {   /* braille: dots 1-3 and 7 left, 4-6 and 8 right */
        static const int col[8] = {0, 0, 0, 1, 1, 1, 0, 1}, row[8] = {0, 1, 2, 0, 1, 2, 3, 3};
        double r = (w / 4 < h / 8 ? w / 4 : h / 8) * 0.8;
        for (int b = 0; b < 8; b++)
            if ((ch - 0x2800) >> b & 1) {
                cairo_new_sub_path(cr);
                cairo_arc(cr, x + w * (col[b] * 2 + 1) / 4, y + h * (row[b] * 2 + 1) / 8, r, 0, 6.283185307179586);
            }
    } else {
        return 0;
    }
    cairo_fill(cr);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: ansi2png COLS ROWS IN.txt OUT.png\n");
        return 2;
    }
    int cols = atoi(argv[1]), rows = atoi(argv[2]);
    if (cols < 1 || rows < 1 || cols > 1000 || rows > 1000) {
        fprintf(stderr, "ansi2png: bad size %sx%s\n", argv[1], argv[2]);
        return 2;
    }
    FILE *f = fopen(argv[3], "rb");
    if (!f) {
        perror(argv[3]);
        return 1;
    }
    static unsigned char buf[8 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    Cell *cells = calloc((size_t)cols * rows, sizeof *cells);
    for (int i = 0; i < cols * rows; i++)
        cells[i] = (Cell){' ', DEF_FG, DEF_BG, 0, 1, 1};
    uint32_t fg = DEF_FG, bg = DEF_BG;
    int bold = 0, reverse = 0, fgd = 1, bgd = 1, x = 0, y = 0;
    const unsigned char *p = buf;
    while (*p && y < rows) {
        if (*p == 0x1b && p[1] == '[') {   /* SGR */
            p += 2;
            int par[32], np = 0, v = 0, have = 0;
            while (*p && (*p == ';' || (*p >= '0' && *p <= '9'))) {
                if (*p == ';') {
                    if (np < 32)
                        par[np++] = have ? v : 0;
                    v = have = 0;
                } else {
                    v = v * 10 + (*p - '0');
                    have = 1;
                }
                p++;
            }
            if (np < 32)
                par[np++] = have ? v : 0;
            char fin = (char)*p;
            if (*p)
                p++;
            if (fin != 'm')
                continue;
            for (int i = 0; i < np; i++) {
                int c = par[i];
                if (c == 0)
                    fg = DEF_FG, bg = DEF_BG, bold = reverse = 0, fgd = bgd = 1;
                else if (c == 1)
                    bold = 1;
                else if (c == 22)
                    bold = 0;
                else if (c == 7)
                    reverse = 1;
                else if (c == 27)
                    reverse = 0;
                else if (c >= 30 && c <= 37)
                    fg = xterm256(c - 30), fgd = 0;
                else if (c >= 90 && c <= 97)
                    fg = xterm256(c - 90 + 8), fgd = 0;
                else if (c >= 40 && c <= 47)
                    bg = xterm256(c - 40), bgd = 0;
                else if (c >= 100 && c <= 107)
                    bg = xterm256(c - 100 + 8), bgd = 0;
                else if (c == 39)
                    fg = DEF_FG, fgd = 1;
                else if (c == 49)
                    bg = DEF_BG, bgd = 1;
                else if ((c == 38 || c == 48) && i + 1 < np) {
                    uint32_t col = 0;
                    if (par[i + 1] == 2 && i + 4 < np) {
                        col = (uint32_t)(par[i + 2] << 16 | par[i + 3] << 8 | par[i + 4]);
                        i += 4;
                    } else if (par[i + 1] == 5 && i + 2 < np) {
                        col = xterm256(par[i + 2]);
                        i += 2;
                    } else {
                        continue;
                    }
                    if (c == 38)
                        fg = col, fgd = 0;
                    else
                        bg = col, bgd = 0;
                }
            }
            continue;
        }
        if (*p == '\n') {
            p++;
            x = 0;
            y++;
            continue;
        }
        if (*p == '\r' || *p < 0x20) {
            p++;
            continue;
        }
        uint32_t ch = utf8_decode(&p);
        if (x < cols) {
            Cell *c = &cells[y * cols + x];
            c->ch = ch;
            c->fg = reverse ? bg : fg;
            c->bg = reverse ? fg : bg;
            c->bold = bold;
            c->fg_default = reverse ? bgd : fgd;
            c->bg_default = reverse ? fgd : bgd;
        }
        x++;
    }
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)(cols * CW), (int)(rows * CH));
    cairo_t *cr = cairo_create(s);
    cairo_set_antialias(cr, CAIRO_ANTIALIAS_NONE);
    for (int yy = 0; yy < rows; yy++)
        for (int xx = 0; xx < cols; xx++) {
            const Cell *c = &cells[yy * cols + xx];
            set_rgb(cr, c->bg);
            cairo_rectangle(cr, xx * CW, yy * CH, CW, CH);
            cairo_fill(cr);
        }
    cairo_set_antialias(cr, CAIRO_ANTIALIAS_DEFAULT);
    cairo_set_font_size(cr, 13.0);
    for (int yy = 0; yy < rows; yy++)
        for (int xx = 0; xx < cols; xx++) {
            const Cell *c = &cells[yy * cols + xx];
            if (c->ch == ' ')
                continue;
            cairo_set_antialias(cr, CAIRO_ANTIALIAS_NONE);
            if (draw_block(cr, c->ch, xx * CW, yy * CH, c->fg, c->bg))
                continue;
            cairo_set_antialias(cr, CAIRO_ANTIALIAS_DEFAULT);
            cairo_select_font_face(cr, "DejaVu Sans Mono", CAIRO_FONT_SLANT_NORMAL,
                                   c->bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
            char u[8] = {0};
            uint32_t ch = c->ch;
            if (ch < 0x80) {
                u[0] = (char)ch;
            } else if (ch < 0x800) {
                u[0] = (char)(0xc0 | ch >> 6), u[1] = (char)(0x80 | (ch & 0x3f));
            } else if (ch < 0x10000) {
                u[0] = (char)(0xe0 | ch >> 12), u[1] = (char)(0x80 | (ch >> 6 & 0x3f)), u[2] = (char)(0x80 | (ch & 0x3f));
            } else {
                u[0] = (char)(0xf0 | ch >> 18), u[1] = (char)(0x80 | (ch >> 12 & 0x3f));
                u[2] = (char)(0x80 | (ch >> 6 & 0x3f)), u[3] = (char)(0x80 | (ch & 0x3f));
            }
            set_rgb(cr, c->fg);
            cairo_move_to(cr, xx * CW, yy * CH + 12.0);
            cairo_show_text(cr, u);
        }
    cairo_destroy(cr);
    cairo_status_t st = cairo_surface_write_to_png(s, argv[4]);
    cairo_surface_destroy(s);
    free(cells);
    if (st != CAIRO_STATUS_SUCCESS) {
        fprintf(stderr, "ansi2png: %s: %s\n", argv[4], cairo_status_to_string(st));
        return 1;
    }
    return 0;
}
