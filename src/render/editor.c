/* editor.c: the list editor's line and the "too small" note. */
#include "panel_draw.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- editor and small screens -------------------------------------------- */

void render_editor(Canvas *cv, const Scene *sc, const char *text, int cursor, const char *error)
{
    cv_fill(cv, ' ', COL_DEFAULT, COL_DEFAULT, 0);
    char hint[96];
    snprintf(hint, sizeof hint, "edit: %d values 0..%d", sc->n, sc->Vo - 1);
    int x = cv_text(cv, 0, 0, hint, COL_KEY, ATTR_BOLD) + 1;
    int tail = render_utf8_width("  Enter apply  Esc cancel");
    int field = cv->r.w - x - tail;
    if (field < 10)
        field = cv->r.w - x;
    if (field < 1)
        field = 1;
    int len = (int)strlen(text);
    /* scroll the field so that the cursor stays in view */
    int start = cursor - field + 1;
    if (start < 0)
        start = 0;
    for (int i = 0; i < field; i++) {
        int j = start + i;
        uint32_t ch = j < len ? (uint32_t)(unsigned char)text[j] : ' ';
        bool cur = j == cursor;
        cv_put(cv, x + i, 0, ch, cur ? COL_INK_DARK : COL_DEFAULT, cur ? COL_KEY : COL_EDIT, cur ? ATTR_REVERSE : 0);
    }
    if (field >= 10)
        cv_text(cv, x + field, 0, "  Enter apply  Esc cancel", COL_DIM, 0);
    if (error && cv->r.h > 1)
        cv_text(cv, 0, 1, error, COL_BAD, ATTR_BOLD);
}
void render_too_small(Canvas *cv, int need_w, int need_h)
{
    char buf[96];
    cv_fill(cv, ' ', COL_DEFAULT, COL_DEFAULT, 0);
    snprintf(buf, sizeof buf, "sortlens needs at least %dx%d (now %dx%d); q quits", need_w, need_h, cv->r.w, cv->r.h);
    /* wrap over the lines there are */
    int len = (int)strlen(buf), y = 0, w = cv->r.w;
    if (w < 1)
        return;
    for (int i = 0; i < len && y < cv->r.h; i += w, y++) {
        char line[96];
        snprintf(line, sizeof line, "%.*s", w, buf + i);
        cv_text(cv, 0, y, line, COL_WARN, ATTR_BOLD);
    }
}
