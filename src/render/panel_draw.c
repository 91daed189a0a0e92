/* panel_draw.c: small drawing helpers the panels share. */
#include "panel_draw.h"

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
