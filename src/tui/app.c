/* app.c: screens (draw + key tables), layout and the list editor. */
#include "app.h"

#include <stdio.h>
#include <string.h>

#include "panels.h"

void app_init(App *a, Explorer *ex, Style style)
{
    memset(a, 0, sizeof *a);
    a->ex = ex;
    a->style = style;
    a->strip_first = -1;
}

static void recompute(App *a)
{
    SlError err = {0};
    if (explorer_recompute(a->ex, &err) < 0)
        snprintf(a->error, sizeof a->error, "%s", err.message);
    else
        a->error[0] = '\0';
}

/* ---- the list editor -------------------------------------------------------- */

static void edit_begin(App *a, int first_char)
{
    a->editing = true;
    a->edit_err[0] = '\0';
    if (first_char) {
        a->edit[0] = (char)first_char;
        a->edit_len = 1;
    } else {
        explorer_list_text(a->ex, a->edit, sizeof a->edit);
        a->edit_len = (int)strlen(a->edit);
    }
    a->edit[a->edit_len] = '\0';
    a->edit_cur = a->edit_len;
}

static bool edit_allowed(int key) { return (key >= '0' && key <= '9') || key == ' ' || key == ',' || key == '[' || key == ']'; }

static void edit_refuse(App *a, int key)
{
    int n = a->ex->Vo - 1;
    if (key >= 0x21 && key < 0x7f)
        snprintf(a->edit_err, sizeof a->edit_err, "'%c' is not allowed: type values 0..%d separated by spaces or commas", key, n);
    else if (key == 0xfffd)
        snprintf(a->edit_err, sizeof a->edit_err, "invalid UTF-8 is not allowed: type values 0..%d separated by spaces or commas", n);
    else if (key < AK_BASE)
        snprintf(a->edit_err, sizeof a->edit_err, "U+%04X is not allowed: type values 0..%d separated by spaces or commas", (unsigned)key, n);
    else
        snprintf(a->edit_err, sizeof a->edit_err, "that key does not edit: Enter applies, Esc cancels");
}

static bool edit_key(App *a, int key)
{
    if (key == AK_ESC) {
        a->editing = false;
        a->edit_err[0] = '\0';
        return true;
    }
    if (key == AK_ENTER || key == '\n' || key == '\r') {
        SlError err = {0};
        if (explorer_set_list_text(a->ex, a->edit, &err) < 0) {
            snprintf(a->edit_err, sizeof a->edit_err, "%s", err.message);
            return true;
        }
        a->ex->message[0] = '\0';
        a->editing = false;
        a->edit_err[0] = '\0';
        a->strip_first = -1;
        return true;
    }
    switch (key) {
    case AK_BACKSPACE:
    case 8:
    case 127:
        if (a->edit_cur > 0) {
            memmove(a->edit + a->edit_cur - 1, a->edit + a->edit_cur, (size_t)(a->edit_len - a->edit_cur + 1));
            a->edit_cur--;
            a->edit_len--;
        }
        a->edit_err[0] = '\0';
        return true;
    case AK_DELETE:
    case 4:   /* Ctrl-D */
        if (a->edit_cur < a->edit_len) {
            memmove(a->edit + a->edit_cur, a->edit + a->edit_cur + 1, (size_t)(a->edit_len - a->edit_cur));
            a->edit_len--;
        }
        a->edit_err[0] = '\0';
        return true;
    case AK_LEFT:
        if (a->edit_cur > 0)
            a->edit_cur--;
        return true;
    case AK_RIGHT:
        if (a->edit_cur < a->edit_len)
            a->edit_cur++;
        return true;
    case AK_HOME:
    case 1:   /* Ctrl-A */
        a->edit_cur = 0;
        return true;
    case AK_END:
    case 5:   /* Ctrl-E */
        a->edit_cur = a->edit_len;
        return true;
    case 21:   /* Ctrl-U: clear */
        a->edit_len = a->edit_cur = 0;
        a->edit[0] = '\0';
        a->edit_err[0] = '\0';
        return true;
    case AK_RESIZE:
    case AK_REDRAW:
        return true;
    case '\t':
    case AK_TAB:
        key = ' ';   /* a pasted tab separates values like a space */
        break;
    }
    if (!edit_allowed(key)) {
        edit_refuse(a, key);
        return true;
    }
    if (a->edit_len >= APP_EDIT_MAX) {
        snprintf(a->edit_err, sizeof a->edit_err, "the list is too long (at most %d characters); Ctrl-U clears it", APP_EDIT_MAX);
        return true;
    }
    memmove(a->edit + a->edit_cur + 1, a->edit + a->edit_cur, (size_t)(a->edit_len - a->edit_cur + 1));
    a->edit[a->edit_cur++] = (char)key;
    a->edit_len++;
    a->edit_err[0] = '\0';
    return true;
}

/* ---- keys shared by every screen -------------------------------------------- */

static bool common_key(App *a, int key)
{
    Explorer *ex = a->ex;
    SlError err = {0};
    switch (key) {
    case AK_LEFT:
    case 'h':
        explorer_step(ex, -1);
        return true;
    case AK_RIGHT:
    case 'l':
        explorer_step(ex, +1);
        return true;
    case AK_HOME:
        explorer_select(ex, ex->n + 1);
        return true;
    case AK_END:
        explorer_select(ex, 2 * ex->n);
        return true;
    case AK_UP:
    case 'k':
        explorer_move_cursor(ex, -1);
        return true;
    case AK_DOWN:
    case 'j':
        explorer_move_cursor(ex, +1);
        return true;
    case 'e':
        edit_begin(a, 0);
        return true;
    case 'r':
        if (explorer_random(ex, &err) < 0)
            snprintf(a->error, sizeof a->error, "%s", err.message);
        a->strip_first = -1;
        return true;
    case 'f':
        if (explorer_find_wrong(ex, &err) < 0)
            snprintf(a->error, sizeof a->error, "%s", err.message);
        a->strip_first = -1;
        return true;
    case 'g':
        ex->greedy = !ex->greedy;
        recompute(a);
        return true;
    case '1':
    case '2':
    case '3':
    case '4':
        explorer_toggle_term(ex, key - '1');
        recompute(a);
        return true;
    case 'p':
        explorer_toggle_ov_pos(ex);
        recompute(a);
        return true;
    case 'a':
        explorer_toggle_block(ex);
        recompute(a);
        return true;
    case 'x':
        explorer_clear_interventions(ex);
        recompute(a);
        return true;
    case 'c':
        explorer_cycle_view(ex, +1);
        if (a->paged && a->page != PAGE_CIRCUITS)
            a->page = PAGE_CIRCUITS;
        return true;
    case 'C':
        explorer_cycle_view(ex, -1);
        if (a->paged && a->page != PAGE_CIRCUITS)
            a->page = PAGE_CIRCUITS;
        return true;
    case 's':
        ex->show_scores = !ex->show_scores;
        return true;
    case 'n':
        explorer_cycle_scale(ex);
        return true;
    case 'z':
        a->zoom = !a->zoom;
        if (a->paged)
            a->page = PAGE_CIRCUITS;
        return true;
    case 'H':
        explorer_move_circuit_cursor(ex, 0, -1);
        return true;
    case 'L':
        explorer_move_circuit_cursor(ex, 0, +1);
        return true;
    case 'K':
        explorer_move_circuit_cursor(ex, -1, 0);
        return true;
    case 'J':
        explorer_move_circuit_cursor(ex, +1, 0);
        return true;
    case '[':
    case ']':
        explorer_set_head(ex, ex->layer, ex->head + (key == ']' ? 1 : -1));
        recompute(a);
        return true;
    case '{':
    case '}':
        explorer_set_head(ex, ex->layer + (key == '}' ? 1 : -1), ex->head);
        recompute(a);
        return true;
    case AK_TAB:
    case '\t':
        a->page = (a->page + 1) % PAGE_COUNT;
        return true;
    case AK_BTAB:
        a->page = (a->page + PAGE_COUNT - 1) % PAGE_COUNT;
        return true;
    case '?':
        a->help = true;
        return true;
    case 'q':
    case 'Q':
        a->quit = true;
        return false;
    case AK_RESIZE:
    case AK_REDRAW:
        return true;
    case AK_ESC:
        ex->message[0] = '\0';
        return true;
    }
    if (key == '0' || (key >= '5' && key <= '9')) {   /* 1-4 are the QK switches */
        edit_begin(a, key);
        return true;
    }
    return false;
}

/* ---- screens ----------------------------------------------------------------- */

typedef struct Screen {
    const char *name;
    void (*draw)(App *a, Canvas *cv, const Scene *sc);
    bool (*key)(App *a, int key);
} Screen;

/* The top block shared by the one-screen layout and the Sort page:
 * status, strip, marks, three prediction rows, output, detail, cursor. */
#define TOP_LINES 9

static int strip_cell_width(const Scene *sc, int w)
{
    int digits = 1;
    for (int v = sc->Vo - 1; v >= 10; v /= 10)
        digits++;
    int cw = digits + 2 < 4 ? 4 : digits + 2;
    if (9 + sc->T * cw > w && cw == 4 && digits <= 2)
        cw = 3;
    return cw;
}

static void draw_top(App *a, Canvas *cv, const Scene *sc)
{
    Canvas c;
    int cw = strip_cell_width(sc, cv->r.w);
    c = canvas_sub(*cv, 0, 0, cv->r.w, 1);
    render_status(&c, sc);
    c = canvas_sub(*cv, 0, 1, cv->r.w, 2);
    a->strip_first = render_strip(&c, sc, cw, a->strip_first);
    c = canvas_sub(*cv, 0, 3, cv->r.w, 3);
    render_predictions(&c, sc, cw, a->strip_first);
    c = canvas_sub(*cv, 0, 6, cv->r.w, 1);
    render_output_line(&c, sc);
    if (a->editing) {
        c = canvas_sub(*cv, 0, 7, cv->r.w, 2);
        render_editor(&c, sc, a->edit, a->edit_cur, a->edit_err[0] ? a->edit_err : NULL);
    } else {
        c = canvas_sub(*cv, 0, 7, cv->r.w, 1);
        render_pred_detail(&c, sc);
        c = canvas_sub(*cv, 0, 8, cv->r.w, 1);
        render_cursor_line(&c, sc);
    }
}

/* The two circuit panels side by side in cv, each whole when both fit;
 * else they share the width, or (zoomed, or no room for two) the focused
 * one is drawn alone. */
static void draw_circuits(App *a, Canvas *cv, const Scene *sc)
{
    int wq, hq, wo, ho;
    render_circuit_size(sc, sc->qk_view, a->style, &wq, &hq);
    render_circuit_size(sc, sc->ov_view, a->style, &wo, &ho);
    int w = cv->r.w;
    if (w < 2 * 24 + 1 || (a->zoom && wq + wo > w)) {   /* one panel: the view `c` chose last */
        bool qk = sc->focus_view <= CV_QK_PP;
        Canvas c = canvas_sub(*cv, 0, 0, w, cv->r.h);
        render_circuit(&c, sc, qk ? sc->qk_view : sc->ov_view, qk ? 0 : 1, true);
        return;
    }
    int left, gap = 1;
    if (wq + wo + 1 <= w)
        left = wq + (w - wq - wo - 1) / 2;
    else if (wq + wo <= w)
        left = wq, gap = 0;   /* the right panel's gutter (marks, labels) keeps them apart */
    else
        left = (int)((long)(w - 1) * wq / (wq + wo));
    Canvas c = canvas_sub(*cv, 0, 0, left, cv->r.h);
    render_circuit(&c, sc, sc->qk_view, 0, sc->focus_view <= CV_QK_PP);
    c = canvas_sub(*cv, left + gap, 0, w - left - gap, cv->r.h);
    render_circuit(&c, sc, sc->ov_view, 1, sc->focus_view > CV_QK_PP);
}

/* Zoomed: as much of the top block as the whole circuits leave room for,
 * the most telling lines first, drawn in their usual order. */
static void draw_zoomed(App *a, Canvas *cv, const Scene *sc)
{
    int wq, hq, wo, ho;
    render_circuit_size(sc, sc->qk_view, a->style, &wq, &hq);
    render_circuit_size(sc, sc->ov_view, a->style, &wo, &ho);
    int need = hq > ho ? hq : ho, room = cv->r.h - need;
    if (room >= TOP_LINES) {
        draw_top(a, cv, sc);
        Canvas c = canvas_sub(*cv, 0, TOP_LINES, cv->r.w, cv->r.h - TOP_LINES);
        draw_circuits(a, &c, sc);
        return;
    }
    if (room < 2)
        room = 2;   /* the strip at least: the circuits get windowed below it */
    int cw = strip_cell_width(sc, cv->r.w), y = 0;
    bool detail = room >= 3, cursor = room >= 4, status = room >= 5, output = room >= 6;
    Canvas c;
    if (status) {
        c = canvas_sub(*cv, 0, y++, cv->r.w, 1);
        render_status(&c, sc);
    }
    c = canvas_sub(*cv, 0, y, cv->r.w, 2);
    a->strip_first = render_strip(&c, sc, cw, a->strip_first);
    y += 2;
    if (a->editing) {
        c = canvas_sub(*cv, 0, y, cv->r.w, 2);
        render_editor(&c, sc, a->edit, a->edit_cur, a->edit_err[0] ? a->edit_err : NULL);
        y += 2;
    } else {
        if (output) {
            c = canvas_sub(*cv, 0, y++, cv->r.w, 1);
            render_output_line(&c, sc);
        }
        if (detail) {
            c = canvas_sub(*cv, 0, y++, cv->r.w, 1);
            render_pred_detail(&c, sc);
        }
        if (cursor) {
            c = canvas_sub(*cv, 0, y++, cv->r.w, 1);
            render_cursor_line(&c, sc);
        }
    }
    c = canvas_sub(*cv, 0, y, cv->r.w, cv->r.h - y);
    draw_circuits(a, &c, sc);
}

static void draw_one_screen(App *a, Canvas *cv, const Scene *sc)
{
    if (a->zoom) {
        draw_zoomed(a, cv, sc);
        return;
    }
    draw_top(a, cv, sc);
    int y0 = TOP_LINES;   /* the panels' own title lines separate them from the top */
    Canvas area = canvas_sub(*cv, 0, y0, cv->r.w, cv->r.h - y0);
    int aw, ah;
    render_attention_size(sc, 2, &aw, &ah);
    if (ah > area.r.h)
        ah = area.r.h;
    Canvas c = canvas_sub(area, 0, 0, aw, ah);
    render_attention(&c, sc, 2);
    int rest = area.r.h - ah;
    if (rest >= 6) {   /* room under the heatmap: the cursor in full, then the sources */
        c = canvas_sub(area, 0, ah, aw, 5);
        render_cursor_detail(&c, sc);
        if (rest - 6 >= 4) {
            c = canvas_sub(area, 0, ah + 6, aw, rest - 6);
            render_sources(&c, sc);
        }
    }
    /* one column between the heatmap and the circuits when that lets both circuits show whole */
    int wq, hq, wo, ho, gap = 2;
    render_circuit_size(sc, sc->qk_view, a->style, &wq, &hq);
    render_circuit_size(sc, sc->ov_view, a->style, &wo, &ho);
    if (area.r.w - aw - 2 < wq + wo && area.r.w - aw - 1 >= wq + wo)
        gap = 1;
    c = canvas_sub(area, aw + gap, 0, area.r.w - aw - gap, area.r.h);
    draw_circuits(a, &c, sc);
}

static void draw_page_sort(App *a, Canvas *cv, const Scene *sc)
{
    draw_top(a, cv, sc);
    Canvas c = canvas_sub(*cv, 0, TOP_LINES, cv->r.w, cv->r.h - TOP_LINES);
    render_sources(&c, sc);
}

static void draw_page_attention(App *a, Canvas *cv, const Scene *sc)
{
    Canvas c = canvas_sub(*cv, 0, 0, cv->r.w, 1);
    if (a->editing) {
        c = canvas_sub(*cv, 0, 0, cv->r.w, 2);
        render_editor(&c, sc, a->edit, a->edit_cur, a->edit_err[0] ? a->edit_err : NULL);
        c = canvas_sub(*cv, 0, 2, cv->r.w, 1);
    } else {
        render_cursor_line(&c, sc);
        c = canvas_sub(*cv, 0, 1, cv->r.w, 1);
    }
    render_output_line(&c, sc);
    int aw, ah;
    render_attention_size(sc, 2, &aw, &ah);
    int y0 = 2 + a->editing;
    c = canvas_sub(*cv, 0, y0, aw, cv->r.h - y0);
    render_attention(&c, sc, 2);
    int room_right = cv->r.w - aw - 2;
    if (room_right >= 40) {
        c = canvas_sub(*cv, aw + 2, y0, room_right, 5);
        render_cursor_detail(&c, sc);
        c = canvas_sub(*cv, aw + 2, y0 + 6, room_right, cv->r.h - y0 - 6);
        render_sources(&c, sc);
    } else if (cv->r.h - y0 - ah >= 5) {
        c = canvas_sub(*cv, 0, y0 + ah, cv->r.w, 5);
        render_cursor_detail(&c, sc);
    }
}

static void draw_page_circuits(App *a, Canvas *cv, const Scene *sc)
{
    Canvas c = canvas_sub(*cv, 0, 0, cv->r.w, 1);
    if (a->editing) {
        c = canvas_sub(*cv, 0, 0, cv->r.w, 2);
        render_editor(&c, sc, a->edit, a->edit_cur, a->edit_err[0] ? a->edit_err : NULL);
    } else {
        render_status(&c, sc);
        c = canvas_sub(*cv, 0, 1, cv->r.w, 1);
        render_cursor_line(&c, sc);
    }
    c = canvas_sub(*cv, 0, 2, cv->r.w, cv->r.h - 2);
    draw_circuits(a, &c, sc);
}

static void draw_help(App *a, Canvas *cv, const Scene *sc)
{
    (void)a;
    render_help(cv, sc);
}

static bool help_key(App *a, int key)
{
    if (key == AK_RESIZE || key == AK_REDRAW)
        return true;
    a->help = false;   /* any key closes the help; q too, rather than quitting by surprise */
    return true;
}

static bool main_key(App *a, int key)
{
    if (a->editing)
        return edit_key(a, key);
    return common_key(a, key);
}

static const Screen screen_one = {"explorer", draw_one_screen, main_key};
static const Screen screen_pages[PAGE_COUNT] = {
    {"1 Sort", draw_page_sort, main_key},
    {"2 Attention", draw_page_attention, main_key},
    {"3 Circuits", draw_page_circuits, main_key},
};
static const Screen screen_help = {"help", draw_help, help_key};

/* ---- layout ------------------------------------------------------------------ */

void app_one_screen_size(const App *a, int *w, int *h)
{
    Scene sc;
    explorer_scene(a->ex, &sc);
    int aw, ah;
    render_attention_size(&sc, 2, &aw, &ah);
    int strip = 9 + sc.T * 4;
    *w = aw + 2 + 2 * 30;
    if (*w < strip)
        *w = strip;
    if (*w < 110)
        *w = 110;
    /* title, top block, at least 20 lines of panels, the key line */
    *h = 1 + TOP_LINES + (ah < 20 ? ah : 20) + 1;
}

static const Screen *current_screen(App *a, int w, int h)
{
    int ow, oh;
    app_one_screen_size(a, &ow, &oh);
    a->paged = !(w >= ow && h >= oh);
    if (a->help)
        return &screen_help;
    return a->paged ? &screen_pages[a->page] : &screen_one;
}

bool app_key(App *a, int key)
{
    /* the screen that was drawn last takes the key */
    if (a->help)
        return screen_help.key(a, key);
    return a->paged ? screen_pages[a->page].key(a, key) : screen_one.key(a, key);
}

bool app_click(App *a, const Cell *cell)
{
    Explorer *ex = a->ex;
    if (!cell || a->editing || a->help)
        return false;
    switch (cell->tag) {
    case TAG_TOKEN:
        if (scene_pred_index(&(Scene){.n = ex->n}, cell->ta) >= 0)
            explorer_select(ex, cell->ta);
        else
            explorer_set_cursor(ex, cell->ta);
        return true;
    case TAG_PRED:
        if (cell->ta >= ex->n + 1 && cell->ta <= 2 * ex->n)
            explorer_select(ex, cell->ta);
        return true;
    case TAG_ATTN:
        if (cell->ta >= ex->n + 1 && cell->ta <= 2 * ex->n)
            explorer_select(ex, cell->ta);
        explorer_set_cursor(ex, cell->tb);
        return true;
    case TAG_SOURCE:
        explorer_set_cursor(ex, cell->ta);
        return true;
    case TAG_CIRCUIT:
        ex->free_row = cell->ta;
        ex->free_col = cell->tb;
        ex->free_panel = cell->tc;
        return true;
    case TAG_PAGE:
        if (cell->ta < PAGE_COUNT)
            a->page = cell->ta;
        return true;
    }
    return false;
}

void app_draw(App *a, Grid *g)
{
    grid_clear(g);
    Canvas cv = canvas_of(g, a->style);
    if (g->w < APP_MIN_W || g->h < APP_MIN_H) {
        render_too_small(&cv, APP_MIN_W, APP_MIN_H);
        return;
    }
    Scene sc;
    explorer_scene(a->ex, &sc);
    if (a->error[0]) {
        sc.message = a->error;
        sc.message_bad = true;
    }
    const Screen *s = current_screen(a, g->w, g->h);
    Canvas title = canvas_sub(cv, 0, 0, g->w, 1);
    render_title(&title, &sc, a->paged ? "1 Sort|2 Attention|3 Circuits" : NULL, a->page);
    Canvas body = canvas_sub(cv, 0, 1, g->w, g->h - 2);
    s->draw(a, &body, &sc);
    Canvas keys = canvas_sub(cv, 0, g->h - 1, g->w, 1);
    render_keys(&keys, a->paged);
}
