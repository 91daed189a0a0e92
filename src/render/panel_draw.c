/* panel_draw.c: small drawing helpers the panels share. */
#include "panel_draw.h"

#include <math.h>

void panel_hline(Canvas *cv, int x, int y, int w)
{
    for (int i = 0; i < w; i++)
        cv_put(cv, x + i, y, glyph(cv->style, GL_HLINE), COL_DIM, COL_DEFAULT, 0);
}

void panel_section(Canvas *cv, int y, const char *text, bool focused)
{
    panel_hline(cv, 0, y, 1);
    int x = cv_text(cv, 2, y, text, focused ? COL_KEY : COL_LABEL, focused ? ATTR_BOLD : 0);
    panel_hline(cv, x + 1, y, cv->r.w - x - 1);
}

void panel_bar(Canvas *cv, int x, int y, int cells, double fraction, int fg)
{
    if (!(fraction > 0))
        fraction = 0;   /* NaN too */
    if (fraction > 1)
        fraction = 1;
    long eighths = lround(fraction * cells * 8.0);
    for (int c = 0; c < cells; c++) {
        long e = eighths - (long)c * 8;
        uint32_t ch = ' ';
        if (e >= 8)
            ch = glyph(cv->style, GL_BLOCK);
        else if (e > 0)   /* U+2589..U+258F: seven eighths .. one eighth, from the left */
            ch = cv->style.utf8 ? (uint32_t)(0x2590 - e) : (e >= 4 ? '#' : ' ');
        cv_put(cv, x + c, y, ch, fg, COL_DEFAULT, 0);
    }
}
