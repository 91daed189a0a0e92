/* palette.c: the colour scheme table (htop style): one row per role with
 * its RGB, its 8-colour stand-in and the attributes that replace it in
 * monochrome; the two ramps are interpolated from published anchors. */
#include "render.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct RoleSpec {
    const char *name;
    uint32_t rgb;
    int ansi8;       /* -1: the terminal default */
    int mono_attr;   /* replaces the colour in monochrome */
    int attr;        /* added in every mode */
} RoleSpec;

/* ANSI numbers as curses COLOR_*: 0 black 1 red 2 green 3 yellow 4 blue
 * 5 magenta 6 cyan 7 white. */
static const RoleSpec roles[COL_ROLES] = {
    [COL_DEFAULT] = {"default", 0x000000, -1, 0, 0},
    [COL_TITLE] = {"title", 0xffffff, 7, ATTR_BOLD | ATTR_REVERSE, ATTR_BOLD},
    [COL_BAR] = {"bar", 0x1c4f7c, 4, ATTR_REVERSE, 0},
    [COL_DIM] = {"dim", 0x8a8a8a, -1, ATTR_DIM, 0},
    [COL_LABEL] = {"label", 0x5fafd7, 6, 0, 0},
    [COL_VALUE] = {"value", 0xffffff, -1, ATTR_BOLD, ATTR_BOLD},
    [COL_GOOD] = {"good", 0x5fd75f, 2, 0, 0},
    [COL_BAD] = {"bad", 0xff5f5f, 1, ATTR_BOLD | ATTR_UNDERLINE, ATTR_BOLD},
    [COL_WARN] = {"warn", 0xffaf00, 3, ATTR_BOLD, 0},
    [COL_SELECT] = {"select", 0xffd75f, 3, ATTR_REVERSE, 0},
    [COL_CURSOR] = {"cursor", 0x5fd7d7, 6, ATTR_REVERSE | ATTR_UNDERLINE, 0},
    [COL_KEY] = {"key", 0xffd75f, 3, ATTR_BOLD, ATTR_BOLD},
    [COL_EDIT] = {"edit", 0x303030, 4, ATTR_REVERSE, 0},
    [COL_INK_DARK] = {"ink-dark", 0x000000, 0, 0, 0},
    [COL_INK_LIGHT] = {"ink-light", 0xffffff, 7, 0, 0},
    /* beyond a clipped scale: hues next to the ramp's ends (red -> magenta,
     * blue -> cyan), bright where the ends are dark, so they cannot be
     * mistaken for the largest level (matplotlib's set_over / set_under) */
    [COL_OVER] = {"over", 0xff00ff, 5, ATTR_BOLD, 0},
    [COL_UNDER] = {"under", 0x00ffff, 6, ATTR_BOLD, 0},
};

/* ColorBrewer RdBu (Brewer, colorbrewer2.org), 11 classes, reversed so
 * that negative is blue and positive red, as "blue-white-red" reads. */
static const uint32_t rdbu[11] = {
    0x053061, 0x2166ac, 0x4393c3, 0x92c5de, 0xd1e5f0, 0xf7f7f7,
    0xfddbc7, 0xf4a582, 0xd6604d, 0xb2182b, 0x67001f,
};
/* viridis (matplotlib), 9 anchors: perceptually uniform and readable on a
 * dark terminal, low values dark. */
static const uint32_t viridis[9] = {
    0x440154, 0x472c7a, 0x3b518b, 0x2c718e, 0x21908d, 0x27ad81, 0x5cc863, 0xaadc32, 0xfde725,
};

static uint32_t lerp_rgb(const uint32_t *anchors, int n, double t)
{
    if (t <= 0)
        return anchors[0];
    if (t >= 1)
        return anchors[n - 1];
    double pos = t * (n - 1);
    int i = (int)pos;
    double f = pos - i;
    uint32_t a = anchors[i], b = anchors[i + 1 < n ? i + 1 : i], out = 0;
    for (int sh = 0; sh <= 16; sh += 8) {
        double ca = (a >> sh) & 0xff, cb = (b >> sh) & 0xff;
        uint32_t c = (uint32_t)lround(ca + (cb - ca) * f);
        out |= (c & 0xff) << sh;
    }
    return out;
}

uint32_t palette_ramp_rgb(RampKind k, double t)
{
    return k == RAMP_DIVERGING ? lerp_rgb(rdbu, 11, t) : lerp_rgb(viridis, 9, t);
}

uint32_t palette_rgb(int color)
{
    if (color > COL_DEFAULT && color < COL_ROLES)
        return roles[color].rgb;
    if (color >= COL_DIV0 && color < COL_DIV0 + DIV_LEVELS)
        return palette_ramp_rgb(RAMP_DIVERGING, (double)(color - COL_DIV0) / (DIV_LEVELS - 1));
    if (color >= COL_SEQ0 && color < COL_COUNT)
        return palette_ramp_rgb(RAMP_SEQUENTIAL, (double)(color - COL_SEQ0) / (SEQ_LEVELS - 1));
    return 0;
}

/* xterm-256: 16..231 a 6x6x6 cube with levels 0,95,135,175,215,255;
 * 232..255 greys 8,18,..,238. */
static const int cube_levels[6] = {0, 95, 135, 175, 215, 255};


static long dist2(int r1, int g1, int b1, int r2, int g2, int b2)
{
    /* weighted towards green, as the eye is (a cheap "redmean"-free compromise) */
    long dr = r1 - r2, dg = g1 - g2, db = b1 - b2;
    return 3 * dr * dr + 4 * dg * dg + 2 * db * db;
}

/* sRGB -> CIE 1976 L*a*b* under D65 (IEC 61966-2-1 for the transfer curve,
 * CIE 15 for Lab), so that "nearest" means nearest to the eye: with plain
 * RGB distances the cube's teal (0,95,95) won for the darkest RdBu blue. */
static void srgb_to_lab(int r8, int g8, int b8, double lab[3])
{
    double c[3] = {r8 / 255.0, g8 / 255.0, b8 / 255.0};
    for (int i = 0; i < 3; i++)
        c[i] = c[i] > 0.04045 ? pow((c[i] + 0.055) / 1.055, 2.4) : c[i] / 12.92;
    double xyz[3] = {
        (0.4124 * c[0] + 0.3576 * c[1] + 0.1805 * c[2]) / 0.95047,
        0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2],
        (0.0193 * c[0] + 0.1192 * c[1] + 0.9505 * c[2]) / 1.08883,
    };
    for (int i = 0; i < 3; i++)
        xyz[i] = xyz[i] > 0.008856 ? cbrt(xyz[i]) : 7.787 * xyz[i] + 16.0 / 116.0;
    lab[0] = 116 * xyz[1] - 16;
    lab[1] = 500 * (xyz[0] - xyz[1]);
    lab[2] = 200 * (xyz[1] - xyz[2]);
}

/* The RGB of xterm-256 colour i (16..255). */
static void xterm_rgb(int i, int *r, int *g, int *b)
{
    if (i >= 232) {
        *r = *g = *b = 8 + 10 * (i - 232);
        return;
    }
    i -= 16;
    *r = cube_levels[i / 36];
    *g = cube_levels[(i / 6) % 6];
    *b = cube_levels[i % 6];
}

int rgb_to_xterm256(uint32_t rgb)
{
    int r = (rgb >> 16) & 0xff, g = (rgb >> 8) & 0xff, b = rgb & 0xff;
    double want[3];
    srgb_to_lab(r, g, b, want);
    int best = 16;
    double bd = -1;
    for (int i = 16; i < 256; i++) {   /* 16..255 only: 0..15 vary between terminals */
        int xr, xg, xb;
        double have[3];
        xterm_rgb(i, &xr, &xg, &xb);
        srgb_to_lab(xr, xg, xb, have);
        double d = (want[0] - have[0]) * (want[0] - have[0]) + (want[1] - have[1]) * (want[1] - have[1]) +
                   (want[2] - have[2]) * (want[2] - have[2]);
        if (bd < 0 || d < bd) {
            bd = d;
            best = i;
        }
    }
    return best;
}

int rgb_to_ansi8(uint32_t rgb)
{
    static const int ansi[8][3] = {
        {0, 0, 0}, {205, 0, 0}, {0, 205, 0}, {205, 205, 0},
        {0, 0, 238}, {205, 0, 205}, {0, 205, 205}, {229, 229, 229},
    };
    int r = (rgb >> 16) & 0xff, g = (rgb >> 8) & 0xff, b = rgb & 0xff, best = 0;
    long bd = -1;
    for (int i = 0; i < 8; i++) {
        long d = dist2(r, g, b, ansi[i][0], ansi[i][1], ansi[i][2]);
        if (bd < 0 || d < bd) {
            bd = d;
            best = i;
        }
    }
    return best;
}

int palette_xterm256(int color)
{
    /* the search over 240 colours in Lab is done once per id: this is
     * called for every cell of every frame */
    static int cache[COL_COUNT];
    static bool ready;
    if (color <= COL_DEFAULT || color >= COL_COUNT)
        return -1;
    if (color < COL_ROLES && roles[color].ansi8 < 0 && color != COL_DIM)
        return -1;
    if (!ready) {
        for (int c = 1; c < COL_COUNT; c++)
            cache[c] = rgb_to_xterm256(palette_rgb(c));
        ready = true;
    }
    return cache[color];
}

int palette_ansi8(int color)
{
    if (color <= COL_DEFAULT || color >= COL_COUNT)
        return -1;
    if (color < COL_ROLES)
        return roles[color].ansi8;
    /* Ramps in 8 colours carry the hue only (the glyph carries the size):
     * blue below zero, red above, white at zero, yellow for the sequential. */
    if (color < COL_SEQ0) {
        int l = color - COL_DIV0;
        return l < DIV_CENTER ? 4 : l > DIV_CENTER ? 1 : 7;
    }
    return 3;
}

int palette_mono_attr(int color)
{
    if (color > COL_DEFAULT && color < COL_ROLES)
        return roles[color].mono_attr;
    return 0;
}

int palette_role_attr(int color)
{
    if (color > COL_DEFAULT && color < COL_ROLES)
        return roles[color].attr;
    return 0;
}

const char *palette_name(int color)
{
    static char buf[16];
    if (color >= 0 && color < COL_ROLES)
        return roles[color].name;
    if (color >= COL_DIV0 && color < COL_DIV0 + DIV_LEVELS) {
        snprintf(buf, sizeof buf, "div%+d", color - COL_DIV0 - DIV_CENTER);
        return buf;
    }
    if (color >= COL_SEQ0 && color < COL_COUNT) {
        snprintf(buf, sizeof buf, "seq%d", color - COL_SEQ0);
        return buf;
    }
    return "?";
}

int palette_ink_on(int bg)
{
    uint32_t rgb = palette_rgb(bg);
    if (bg == COL_DEFAULT)
        return COL_DEFAULT;
    /* relative luminance (ITU-R BT.709 weights) on the gamma-encoded values is
     * enough to pick black or white text */
    double lum = 0.2126 * ((rgb >> 16) & 0xff) + 0.7152 * ((rgb >> 8) & 0xff) + 0.0722 * (rgb & 0xff);
    return lum > 140 ? COL_INK_DARK : COL_INK_LIGHT;
}
