/* keys.c: the key line and the help screen, drawn from the entries the
 * explorer passes (its action table, src/tui/actions.h). */
#include "panel_draw.h"

#include <stdio.h>

void render_keys(Canvas *cv, const KeyEntry *keys, int n)
{
    cv_fill(cv, ' ', COL_TITLE, COL_BAR, 0);
    int x = 1;
    for (int i = 0; i < n; i++) {   /* in order of importance, as many as fit */
        int need = render_utf8_width(keys[i].keys) + 1 + render_utf8_width(keys[i].text) + 2;
        if (x + need > cv->r.w)
            continue;   /* a shorter one further on may still fit */
        x = cv_text_bg(cv, x, 0, keys[i].keys, COL_KEY, COL_BAR, ATTR_BOLD) + 1;
        x = cv_text_bg(cv, x, 0, keys[i].text, COL_TITLE, COL_BAR, 0) + 2;
    }
}

void render_help(Canvas *cv, const KeyEntry *keys, int n)
{
    cv_fill(cv, ' ', COL_DEFAULT, COL_DEFAULT, 0);
    panel_section(cv, 0, "keys (any key closes this help)", true);
    int y = 1, x = 1, key_w = 8, col_w = 0;
    for (int i = 0; i < n; i++)
        if (render_utf8_width(keys[i].keys) + 1 > key_w)
            key_w = render_utf8_width(keys[i].keys) + 1;
    for (int i = 0; i < n; i++) {
        int w = key_w + render_utf8_width(keys[i].text);
        if (w > col_w)
            col_w = w;
    }
    /* one column when every key fits under the title; else two, the help
     * lines cut to the column with an ellipsis, so that every key shows */
    int rows_avail = cv->r.h - 1;
    int columns = n > rows_avail ? 2 : 1;
    if (columns == 2 && cv->r.w < 2 * col_w + 4)
        col_w = (cv->r.w - x - 3) / 2;
    int per_col = (n + columns - 1) / columns;
    for (int i = 0; i < n; i++) {
        int c = i / per_col, r = i % per_col;
        int cx = x + c * (col_w + 3);
        Canvas cell = canvas_sub(*cv, cx, y + r, col_w, 1);
        cv_text(&cell, 0, 0, keys[i].keys, COL_KEY, ATTR_BOLD);
        int end = cv_text(&cell, key_w, 0, keys[i].text, COL_DEFAULT, 0);
        if (end > col_w && col_w > key_w)   /* cut: say so */
            cv_put(&cell, col_w - 1, 0, glyph(cv->style, GL_ELLIPSIS), COL_DIM, COL_DEFAULT, 0);
    }
    y += per_col + 1;
    static const char *notes[] = {
        "Colours: blue negative, white zero, red positive (scores, circuits); dark to bright for weights.",
        "The four QK terms add up to the score times sqrt(d_head); a term switched off is left out.",
        "Greedy feeds the model's own outputs back; teacher-forced gives it the true sorted prefix.",
        "Environment: NO_COLOR turns colour off; COLORTERM=truecolor asks for 24-bit colour.",
    };
    for (size_t i = 0; i < sizeof notes / sizeof notes[0]; i++) {
        cv_text(cv, 1, y++, notes[i], COL_DIM, 0);
        if (i == 0) {   /* the circuit marks, in the glyphs of this terminal */
            char buf[200];
            snprintf(buf, sizeof buf, "Circuits: %s the query's row (OV: the source's), %s the cursor's key (OV: the "
                     "prediction), %s the answer.", glyph_str(cv->style, GL_MARK_RIGHT),
                     glyph_str(cv->style, GL_MARK_DOWN), glyph_str(cv->style, GL_RIGHT));
            cv_text(cv, 1, y++, buf, COL_DIM, 0);
        }
    }
}
