/* atlas.c: the failure atlas page (panels.h, render_atlas): a title, a
 * note, the column heads, then each section's title line and its rows,
 * scrolled so that the selected row is in view. */
#include <math.h>
#include <stdio.h>

#include "panel_draw.h"

enum { AT_LISTS = 13, AT_SHARE = 23, AT_BAR = 31 };

/* Columns after the bar: token accuracy and lists wrong. */
static int bar_cells(int w) { return w - AT_BAR - 20 > 40 ? 40 : w - AT_BAR - 20 < 5 ? 5 : w - AT_BAR - 20; }

static void draw_row(Canvas *cv, int y, const AtlasRow *r, bool histogram, bool selected)
{
    int cells = bar_cells(cv->r.w), after = AT_BAR + cells + 1;
    char buf[64];
    if (selected)
        for (int x = 0; x < AT_LISTS - 1; x++)
            cv_put(cv, x, y, ' ', COL_INK_DARK, COL_SELECT, 0);
    cv_text(cv, 0, y, selected ? ">" : " ", COL_KEY, ATTR_BOLD);
    Canvas label = canvas_sub(*cv, 2, y, AT_LISTS - 3, 1);   /* a long label is cut, never over the numbers */
    if (selected)
        cv_text_bg(&label, 0, 0, r->label, COL_INK_DARK, COL_SELECT, ATTR_BOLD);
    else
        cv_text(&label, 0, 0, r->label, COL_LABEL, 0);
    if (r->lists < 0) {
        cv_text(cv, AT_LISTS, y, "computing...", COL_DIM, 0);
        return;
    }
    cv_printf(cv, AT_LISTS, y, COL_DEFAULT, 0, "%8ld", r->lists);
    if (isnan(r->share)) {
        cv_text(cv, AT_SHARE + 5, y, "-", COL_DIM, 0);
    } else {
        snprintf(buf, sizeof buf, "%.4f", r->share);
        int good = histogram ? COL_VALUE : r->share >= 0.95 ? COL_GOOD : r->share < 0.5 ? COL_BAD : COL_VALUE;
        cv_text(cv, AT_SHARE, y, buf, good, 0);
        panel_bar(cv, AT_BAR, y, cells, r->share, histogram ? COL_LABEL : good);
    }
    if (!isnan(r->token_acc))
        cv_printf(cv, after, y, COL_DEFAULT, 0, "%.4f", r->token_acc);
    if (r->wrong >= 0)
        cv_printf(cv, after + 8, y, r->wrong > 0 ? COL_BAD : COL_DIM, 0, "%7ld", r->wrong);
}

void render_atlas(Canvas *cv, AtlasPanel *p)
{
    cv_text(cv, 0, 0, p->title, COL_TITLE, ATTR_BOLD);
    if (p->note)
        cv_text(cv, 0, 1, p->note, p->note_bad ? COL_BAD : COL_WARN, 0);
    int cells = bar_cells(cv->r.w), after = AT_BAR + cells + 1;
    cv_text(cv, AT_LISTS + 3, 2, "lists", COL_DIM, 0);
    cv_text(cv, AT_SHARE - 1, 2, "list acc", COL_DIM, 0);
    cv_text(cv, after - 1, 2, "token acc", COL_DIM, 0);
    cv_text(cv, after + 10, 2, "wrong", COL_DIM, 0);
    /* the sections' lines: a title line and the rows of each, a blank between */
    int lines = 0, sel_line = 0;
    for (int s = 0; s < p->n_sections; s++) {
        const AtlasSectionView *sv = &p->sections[s];
        if (p->sel >= sv->first && p->sel < sv->first + sv->count)
            sel_line = lines + 1 + p->sel - sv->first;
        lines += 1 + sv->count + 1;
    }
    Canvas body = canvas_sub(*cv, 0, 3, cv->r.w, cv->r.h - 3);
    int visible = body.r.h;
    if (visible <= 0)
        return;
    int first = scroll_first((ScrollWant){lines, visible, sel_line - 1, sel_line, sel_line, p->first_line, sel_line,
                                          sel_line});
    p->first_line = first;
    int line = 0;
    for (int s = 0; s < p->n_sections; s++) {
        const AtlasSectionView *sv = &p->sections[s];
        bool has_sel = p->sel >= sv->first && p->sel < sv->first + sv->count;
        if (line - first >= 0 && line - first < visible)
            panel_section(&body, line - first, sv->title, has_sel);
        line++;
        for (int i = 0; i < sv->count; i++, line++)
            if (line - first >= 0 && line - first < visible)
                draw_row(&body, line - first, &p->rows[sv->first + i], sv->histogram, sv->first + i == p->sel);
        line++;
    }
}
