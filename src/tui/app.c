/* app.c: screens (draw + key tables), the layout, and dispatch through the
 * action table (the list editor's keys: list_editor.c).
 *
 * Longer than 600 lines because each screen is a pair of functions (draw,
 * key) over the App state and the layout that picks one, and they read
 * best beside the one dispatch they share. */
#include "app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions.h"
#include "list_editor.h"
#include "panels.h"
#include "save_view.h"
#include "sortlens/names.h"

void app_init(App *a, Explorer *ex, Style style)
{
    memset(a, 0, sizeof *a);
    a->ex = ex;
    a->style = style;
    a->strip_first = -1;
    atlas_init(&a->atlas, NULL, NULL);
    curves_init(&a->curves);
}

void app_set_input(App *a, const SlListFile *f, const char *name)
{
    a->input = f;
    a->input_name = name;
    popview_set_file(&a->pop, f, name);
    atlas_free(&a->atlas);
    atlas_init(&a->atlas, f, name);
}

bool app_busy(const App *a) { return atlas_busy(&a->atlas) || popview_busy(&a->pop) || curves_busy(&a->curves); }

bool app_tick(App *a)
{
    bool atlas = atlas_tick(&a->atlas) && a->atlas.on;
    atlas = curves_tick(&a->curves) || atlas;
    SlError err = {0};
    int pop = popview_tick(&a->pop, &err);
    if (pop < 0)
        explorer_set_message(a->ex, true, err.message);
    return atlas || pop != 0;
}

void app_free(App *a)
{
    atlas_free(&a->atlas);
    curves_free(&a->curves);
    pair_end(&a->pair);
    popview_free(&a->pop);
    history_free(&a->history);
}

/* ---- actions (actions.h): one table drives dispatch, the key line, the help -- */

/* Keys as the table binds them: a tab, a newline, a carriage return arrive
 * as their own bytes from tests and scripts, as AK_* from tui.c. */
static int normalise_key(int key)
{
    switch (key) {
    case '\t': return AK_TAB;
    case '\n':
    case '\r': return AK_ENTER;
    case 12: return AK_REDRAW;
    case 27: return AK_ESC;
    }
    return key;
}

static void report(App *a, int rc, const SlError *err)
{
    if (rc < 0)
        snprintf(a->error, sizeof a->error, "%s", err->message);
    else
        a->error[0] = '\0';
}

static const char *const facet_options[FACET_MODES] = {"off", "terms", "combined"};

const char *app_facet_option(int facet) { return facet >= 0 && facet < FACET_MODES ? facet_options[facet] : "?"; }

int app_facet_from_option(const char *name) { return sl_names_find(facet_options, FACET_MODES, name); }

void app_cursor_matrix(int facet, const Scene *sc, int *panel, int *view)
{
    if (facet == FACET_COMBINED) {
        *panel = CIRCUIT_PANEL_COMBINED;
        *view = SCENE_QK_COMBINED;
    } else if (facet == FACET_TERMS || circuit_kind_is_qk(sc->focus_view)) {
        *panel = CIRCUIT_PANEL_QK;
        *view = sc->qk_view;
    } else {
        *panel = CIRCUIT_PANEL_OV;
        *view = sc->ov_view;
    }
}

int app_open_circuit_state(Explorer *ex, int facet, int scale, long row, long col, SlError *err)
{
    const Scene *sc = explorer_scene(ex);
    explorer_set_scale(ex, scale);
    if (facet == FACET_TERMS && !circuit_kind_is_qk(sc->focus_view))
        explorer_focus_view(ex, sc->qk_view);
    if (row < 0 && col < 0)
        return 0;
    int panel, view, rows, cols;
    app_cursor_matrix(facet, sc, &panel, &view);
    scene_circuit_shape(sc, view, &rows, &cols);
    if (row >= rows || col >= cols)
        return sl_error_set(err, SL_EINVAL, "--cell %ld,%ld is outside the %d x %d %s matrix (0..%d, 0..%d)", row, col,
                            rows, cols, circuit_view_name(view), rows - 1, cols - 1);
    explorer_set_circuit_cell(ex, (int)row, (int)col, panel);
    return 0;
}

/* The options of what only the App holds, for the command line that reopens
 * the state: the facet, the circuits' colour scale and a moved circuit
 * cursor (only where they differ from how the explorer opens). */
static void app_state_args(const App *a, char *buf, size_t size)
{
    const Scene *sc = explorer_scene(a->ex);
    int len = 0, panel, view;
    buf[0] = '\0';
    if (a->facet != FACET_OFF)
        len = snprintf(buf, size, " --facet %s", app_facet_option(a->facet));
    if (len >= 0 && (size_t)len < size && sc->circuit_scale != CS_ROW)
        len += snprintf(buf + len, size - (size_t)len, " --scale %s", circuit_scale_option(sc->circuit_scale));
    app_cursor_matrix(a->facet, sc, &panel, &view);
    if (len >= 0 && (size_t)len < size && sc->free_panel == panel && sc->free_row >= 0 && sc->free_col >= 0)
        snprintf(buf + len, size - (size_t)len, " --cell %d,%d", sc->free_row, sc->free_col);
}

/* `w`: the command line that opens exactly this state, on the output line
 * (the model's path in single quotes, as a shell reads it). */
static void show_reopen(App *a)
{
    char args[2400], more[160], path[1024] = "", line[3600];
    explorer_state_args(a->ex, args, sizeof args);
    app_state_args(a, more, sizeof more);
    if (a->model_path) {
        size_t j = 0;
        path[j++] = '\'';
        for (const char *c = a->model_path; *c && j + 6 < sizeof path; c++) {
            if (*c == '\'') {   /* ' -> '\'' */
                memcpy(path + j, "'\\''", 4);
                j += 4;
            } else {
                path[j++] = *c;
            }
        }
        path[j++] = '\'';
        path[j] = '\0';
    }
    char step[40] = "";
    if (a->snaps)
        snprintf(step, sizeof step, " --step %ld", a->snaps->run->steps[a->snaps->current]);
    snprintf(line, sizeof line, "sortlens%s%s%s %s%s", path[0] ? " --model " : "", path, step, args, more);
    render_text_sanitize(line, a->reopen, sizeof a->reopen);
    explorer_set_message(a->ex, false, a->reopen);
}

/* `( ) ^ $`: another snapshot of the run; the list, the position, the view
 * and the interventions stay. */
static int app_show_snapshot(App *a, int arg, SlError *err)
{
    if (!a->snaps) {
        explorer_set_message(a->ex, true, "( ) ^ $ step through a run's snapshots: open a run directory "
                                          "(train --snapshot-every) with --model");
        return 0;
    }
    return app_set_snapshot(a, snapshots_target(a->snaps, arg), err);
}

int app_set_snapshot(App *a, int index, SlError *err)
{
    const SlModel *m = snapshots_model(a->snaps, index, err);
    if (!m)
        return err->code;
    char label[160];
    snapshots_label(a->snaps, index, label, sizeof label);
    int rc = explorer_set_model(a->ex, m, label, err);
    if (rc < 0)
        return rc;
    a->snaps->current = index;
    /* what the pair, the population mode and the atlas computed was of the old model */
    pair_model_changed(&a->pair, m);
    rc = popview_model_changed(&a->pop, m, err);
    int rc2 = atlas_model_changed(&a->atlas, m, rc < 0 ? NULL : err);
    return rc < 0 ? rc : rc2;
}

static bool run_action(App *a, ActionId id, int arg)
{
    Explorer *ex = a->ex;
    SlError err = {0};
    switch (id) {
    case ACT_POSITION: explorer_step(ex, arg); return true;
    case ACT_FIRST_LAST: explorer_select_first_last(ex, arg); return true;
    case ACT_SOURCE: explorer_move_cursor(ex, arg); return true;
    case ACT_EDIT: list_editor_begin(a); return true;
    case ACT_RANDOM:   /* of a pair: another one-value change of the clean list */
        report(a, a->pair.on ? pair_randomise(&a->pair, ex, &err) : explorer_random(ex, &err), &err);
        a->strip_first = -1;
        return true;
    case ACT_FIND_WRONG:
        report(a, explorer_find_wrong(ex, &err), &err);
        a->strip_first = -1;
        return true;
    case ACT_GREEDY: report(a, explorer_toggle_greedy(ex, &err), &err); return true;
    case ACT_QK_TERM: report(a, explorer_toggle_term(ex, arg, &err), &err); return true;
    case ACT_OV_POS: report(a, explorer_toggle_ov_pos(ex, &err), &err); return true;
    case ACT_BLOCK: report(a, explorer_toggle_block(ex, &err), &err); return true;
    case ACT_CLEAR: report(a, explorer_clear_interventions(ex, &err), &err); return true;
    case ACT_VIEW:
        explorer_cycle_view(ex, arg);
        while (a->facet == FACET_TERMS && !circuit_kind_is_qk(explorer_scene(ex)->focus_view))
            explorer_cycle_view(ex, arg);   /* the facet shows the four QK terms only */
        if (a->paged)
            a->page = PAGE_CIRCUITS;
        return true;
    case ACT_ZOOM:
        a->zoom = !a->zoom;
        if (a->paged)
            a->page = PAGE_CIRCUITS;
        return true;
    case ACT_SCALE: explorer_cycle_scale(ex); return true;
    case ACT_FACET:
        a->facet = (a->facet + 1) % FACET_MODES;
        if (a->facet == FACET_TERMS && !circuit_kind_is_qk(explorer_scene(ex)->focus_view))
            explorer_focus_view(ex, explorer_scene(ex)->qk_view);   /* the facet's focus is a QK term */
        if (a->paged)
            a->page = PAGE_CIRCUITS;
        return true;
    case ACT_PAN: {
        static const int drow[4] = {0, +1, -1, 0}, dcol[4] = {-1, 0, 0, +1};   /* H J K L */
        int panel, view;
        app_cursor_matrix(a->facet, explorer_scene(ex), &panel, &view);
        explorer_move_circuit_cursor(ex, panel, view, drow[arg], dcol[arg]);
        return true;
    }
    case ACT_PAIR:
        if (a->pair.on)
            pair_end(&a->pair);
        else
            report(a, pair_begin(&a->pair, explorer_model(ex), ex, 1, &err), &err);
        if (a->paged && a->pair.on)
            a->page = PAGE_CIRCUITS;
        a->strip_first = -1;
        return true;
    case ACT_ATLAS:
        if (a->atlas.on)
            a->atlas.on = false;
        else
            report(a, atlas_open(&a->atlas, explorer_model(ex), &err), &err);
        return true;
    case ACT_POPULATION: report(a, popview_toggle(&a->pop, explorer_model(ex), &err), &err); return true;
    case ACT_POP_KIND: report(a, popview_step_kind(&a->pop, explorer_model(ex), arg, &err), &err); return true;
    case ACT_HISTORY: {
        const int *v = history_step(&a->history, arg);
        if (!v) {
            explorer_set_message(ex, false, arg < 0 ? "no list before this one" : "no list after this one");
            return true;
        }
        report(a, explorer_set_list(ex, v, &err), &err);
        a->strip_first = -1;
        return true;
    }
    case ACT_ATTRIBUTION: explorer_toggle_attribution(ex); return true;
    case ACT_COMPARED: explorer_step_compared(ex, arg); return true;
    case ACT_SCORES: explorer_toggle_scores(ex); return true;
    case ACT_LABELS: explorer_toggle_named_positions(ex); return true;
    case ACT_HEAD:
        explorer_step_head(ex, 0, arg, &err);
        report(a, err.code, &err);
        return true;
    case ACT_LAYER:
        explorer_step_head(ex, arg, 0, &err);
        report(a, err.code, &err);
        return true;
    case ACT_SNAPSHOT: report(a, app_show_snapshot(a, arg, &err), &err); return true;
    case ACT_CURVES:
        if (a->curves.on)
            a->curves.on = false;
        else if (!a->snaps)
            explorer_set_message(ex, true, "T draws a run's progress over its snapshots: open a run directory "
                                           "(train --snapshot-every) with --model");
        else
            report(a, curves_open(&a->curves, a->snaps, &err), &err);
        return true;
    case ACT_PAGE: a->page = (a->page + PAGE_COUNT + arg) % PAGE_COUNT; return true;
    case ACT_REOPEN: show_reopen(a); return true;
    case ACT_SAVE: {   /* errors are shown, never fatal */
        char path[128], note[SL_ERROR_MAX + 160];
        if (save_view(a, path, sizeof path, &err) < 0) {
            snprintf(note, sizeof note, "S: %s", err.message);
            explorer_set_message(ex, true, note);
        } else {
            snprintf(note, sizeof note, "wrote %s (sortlens plot %s of this state)", path, sl_plot_view_name(save_view_of(a)));
            explorer_set_message(ex, false, note);
        }
        return true;
    }
    case ACT_HELP: a->help = true; return true;
    case ACT_DISMISS: explorer_set_message(ex, false, NULL); return true;
    case ACT_REDRAW: return true;
    case ACT_QUIT: a->quit = true; return false;
    case ACT_COUNT: break;
    }
    return false;
}

static bool common_key(App *a, int key)
{
    if (key == AK_RESIZE)
        return true;
    int arg = 0;
    const Action *act = action_for_key(normalise_key(key), &arg);
    return act ? run_action(a, act->id, arg) : false;
}

/* The key line's entries: by rank, Tab only where there are pages. */
static int key_line_entries(const App *a, KeyEntry *out)
{
    int n = 0;
    for (int rank = 1; rank <= ACT_COUNT; rank++)
        for (int i = 0; i < ACT_COUNT; i++) {
            const Action *act = &app_actions[i];
            if (act->rank != rank || !act->line_key || (act->id == ACT_PAGE && !a->paged))
                continue;
            const char *k = !a->style.utf8 && act->line_key_ascii ? act->line_key_ascii : act->line_key;
            out[n++] = (KeyEntry){k, act->label};
        }
    return n;
}

static int help_entries(KeyEntry *out)
{
    int n = 0;
    for (int i = 0; i < ACT_COUNT; i++)
        out[n++] = (KeyEntry){app_actions[i].help_keys, app_actions[i].help};
    out[n++] = (KeyEntry){"mouse", "click a token, a heatmap cell or a circuit cell to select it"};
    return n;
}

/* ---- screens ----------------------------------------------------------------- */

typedef struct Screen {
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

/* A one-line panel (render_status, render_cursor_line, ...). */
typedef void LinePanel(Canvas *cv, const Scene *sc);

/* From row y of cv down, one line each, the panels lines[0..n-1]; or, while
 * the list is being edited, the editor in their place, on two lines.  The
 * row after what was drawn. */
static int draw_lines_or_editor(App *a, Canvas *cv, const Scene *sc, int y, LinePanel *const *lines, int n)
{
    Canvas c;
    if (a->editing) {
        c = canvas_sub(*cv, 0, y, cv->r.w, 2);
        render_editor(&c, sc, a->edit, a->edit_cur, a->edit_err[0] ? a->edit_err : NULL);
        return y + 2;
    }
    for (int i = 0; i < n; i++) {
        c = canvas_sub(*cv, 0, y++, cv->r.w, 1);
        lines[i](&c, sc);
    }
    return y;
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
    draw_lines_or_editor(a, cv, sc, 7, (LinePanel *const[]){render_pred_detail, render_cursor_line}, 2);
}

/* The largest cell level (render_circuit_size_level) at which the QK and
 * OV panels fit side by side in w x h, whole; 0 when none does. */
static int circuit_pair_level(const App *a, const Scene *sc, int w, int h)
{
    for (int level = CIRC_LEVELS - 1; level > 0; level--) {
        int wq, hq, wo, ho;
        render_circuit_size_level(sc, sc->qk_view, a->style, level, &wq, &hq);
        render_circuit_size_level(sc, sc->ov_view, a->style, level, &wo, &ho);
        if (wq + wo + 1 <= w && hq <= h && ho <= h)
            return level;
    }
    return 0;
}

/* The two circuit panels side by side in cv, each whole when both fit;
 * else they share the width, or (zoomed, or no room for two) the focused
 * one is drawn alone. */
/* Sizes of the facet's columns (or rows) from what each needs: the needs
 * when they fit in room (the last gets what is left, for its readout's
 * text); else, of two, the smaller whole when it takes at
 * most half and the other the rest (the token-sized term is the one cut);
 * else shares in proportion. */
static void facet_split(const int need[], int n, int room, int out[])
{
    int sum = 0;
    for (int i = 0; i < n; i++)
        sum += need[i];
    if (sum <= room) {
        memcpy(out, need, sizeof(int) * (size_t)n);
        out[n - 1] += room - sum;
        return;
    }
    int small = n == 2 && need[1] < need[0] ? 1 : 0;
    if (n == 2 && need[small] <= room / 2) {
        out[small] = need[small];
        out[1 - small] = room - need[small];
        return;
    }
    for (int i = 0, given = 0; i < n; i++) {
        out[i] = i == n - 1 ? room - given : (int)((long)room * need[i] / sum);
        given += out[i];
    }
}

/* `F`: the four QK terms at once, 2x2 where the height allows, else 1x4;
 * each with its own colour scale of the kind `n` chose (the titles say
 * which), the cursor and marks as in the QK panel.  Columns and rows are
 * sized to their terms (token-token and pos-token 52 keys wide, token-pos
 * and pos-pos 22), all at the largest cell size at which the four fit. */
static void draw_facet(App *a, Canvas *cv, const Scene *sc)
{
    bool grid2 = cv->r.h >= 2 * (CIRC_EXTRA_LINES + 4) || cv->r.w < 4 * 24;
    int cols = grid2 ? 2 : 4, rows = grid2 ? 2 : 1;
    int colw[4], rowh[2], needw[4], needh[2], level;
    for (level = CIRC_LEVELS - 1; level >= 0; level--) {
        memset(needw, 0, sizeof needw);
        memset(needh, 0, sizeof needh);
        for (int t = 0; t < SL_SCORE_TERMS; t++) {
            int w, h, r = t / cols, c = t % cols;
            render_circuit_size_level(sc, SL_CIRCUIT_QK_TOKEN_TOKEN + t, a->style, level, &w, &h);
            needw[c] = w > needw[c] ? w : needw[c];
            needh[r] = h > needh[r] ? h : needh[r];
        }
        int sw = cols - 1, sh = 0;
        for (int c = 0; c < cols; c++)
            sw += needw[c];
        for (int r = 0; r < rows; r++)
            sh += needh[r];
        if (sw <= cv->r.w && sh <= cv->r.h)
            break;
    }
    level = level < 0 ? 0 : level;   /* none fits: the split below cuts them */
    facet_split(needw, cols, cv->r.w - (cols - 1), colw);
    facet_split(needh, rows, cv->r.h, rowh);
    for (int t = 0; t < SL_SCORE_TERMS; t++) {
        int kind = SL_CIRCUIT_QK_TOKEN_TOKEN + t, r = t / cols, c = t % cols, x = 0, y = 0;
        for (int i = 0; i < c; i++)
            x += colw[i] + 1;
        for (int i = 0; i < r; i++)
            y += rowh[i];
        bool focused = sc->qk_view == kind;   /* the one H J K L move in */
        Canvas sub = canvas_sub(*cv, x, y, colw[c], rowh[r]);
        render_circuit_at(&sub, sc, kind, focused ? CIRCUIT_PANEL_QK : CIRCUIT_PANEL_OTHER + kind, focused, level);
    }
}

/* The circuit with the same keys (or sources) as view, read from the other
 * half of the query's (source's) residual stream, [W_E; W_pos]: token-token
 * and pos-token, token-pos and pos-pos, OV token and OV position.  Each is
 * the other's companion, so a click on one swaps them. */
static int companion_view(int view)
{
    switch (view) {
    case SL_CIRCUIT_QK_TOKEN_TOKEN: return SL_CIRCUIT_QK_POS_TOKEN;
    case SL_CIRCUIT_QK_POS_TOKEN: return SL_CIRCUIT_QK_TOKEN_TOKEN;
    case SL_CIRCUIT_QK_TOKEN_POS: return SL_CIRCUIT_QK_POS_POS;
    case SL_CIRCUIT_QK_POS_POS: return SL_CIRCUIT_QK_TOKEN_POS;
    case SL_CIRCUIT_OV: return SL_CIRCUIT_OV_POS;
    default: return SL_CIRCUIT_OV;
    }
}

/* Under the panel of view drawn in r (at the top of it), where r leaves room
 * for it whole (from about 220x80 under the token circuits), its companion. */
static void draw_companion(App *a, Canvas *cv, const Scene *sc, int view, Rect r)
{
    int other = companion_view(view), w, h;
    render_circuit_size_level(sc, view, a->style, render_circuit_fit(sc, view, a->style, r.w, r.h), &w, &h);
    r.y += h;   /* its title's rule keeps them apart */
    r.h -= h;
    if (r.h < CIRC_EXTRA_LINES + 2)
        return;
    int level = render_circuit_fit(sc, other, a->style, r.w, r.h);
    render_circuit_size_level(sc, other, a->style, level, &w, &h);
    if (w > r.w || h > r.h)   /* only whole: a window of it would say little */
        return;
    /* the room left over split above and below it, so that neither the gap
     * between the panels nor the one under them stands out */
    Canvas c = canvas_sub(*cv, r.x, r.y + (r.h - h) / 2, r.w, h);
    render_circuit(&c, sc, other, CIRCUIT_PANEL_OTHER + other, false);
}

static void draw_circuits(App *a, Canvas *cv, const Scene *sc)
{
    if (a->pair.on) {   /* the patching panel in place of the circuits */
        pair_update(&a->pair, sc);
        PatchPanel pp = {a->pair.have ? &a->pair.result : NULL, a->pair.error, a->pair.clean, a->pair.tokens};
        render_patching(cv, sc, &pp);
        return;
    }
    if (a->facet == FACET_TERMS) {
        draw_facet(a, cv, sc);
        return;
    }
    if (a->facet == FACET_COMBINED) {   /* the whole, its four blocks apart */
        render_circuit(cv, sc, SCENE_QK_COMBINED, CIRCUIT_PANEL_COMBINED, true);
        return;
    }
    int wq, hq, wo, ho, w = cv->r.w;
    int level = circuit_pair_level(a, sc, w, cv->r.h);
    render_circuit_size_level(sc, sc->qk_view, a->style, level, &wq, &hq);
    render_circuit_size_level(sc, sc->ov_view, a->style, level, &wo, &ho);
    if (w < 2 * 24 + 1 || (a->zoom && wq + wo > w)) {   /* one panel: the view `c` chose last */
        bool qk = circuit_kind_is_qk(sc->focus_view);
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
    render_circuit(&c, sc, sc->qk_view, CIRCUIT_PANEL_QK, circuit_kind_is_qk(sc->focus_view));
    draw_companion(a, cv, sc, sc->qk_view, (Rect){0, 0, left, cv->r.h});
    c = canvas_sub(*cv, left + gap, 0, w - left - gap, cv->r.h);
    render_circuit(&c, sc, sc->ov_view, CIRCUIT_PANEL_OV, !circuit_kind_is_qk(sc->focus_view));
    draw_companion(a, cv, sc, sc->ov_view, (Rect){left + gap, 0, w - left - gap, cv->r.h});
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
    LinePanel *lines[3];   /* those there is room for, in this order */
    int n = 0;
    if (output)
        lines[n++] = render_output_line;
    if (detail)
        lines[n++] = render_pred_detail;
    if (cursor)
        lines[n++] = render_cursor_line;
    y = draw_lines_or_editor(a, cv, sc, y, lines, n);
    c = canvas_sub(*cv, 0, y, cv->r.w, cv->r.h - y);
    draw_circuits(a, &c, sc);
}

/* Heatmap cells: as wide (2 to 4 columns) as the room beside what shares
 * the line allows (both circuits whole, or the readouts of the Attention
 * page), so that labels stand apart: at 3 every value has its label, at 4
 * every position name too. */
static int heat_cw(const App *a, const Scene *sc, int w, int beside)
{
    (void)a;
    for (int cw = 4; cw > 2; cw--) {
        int aw, ah;
        render_attention_size(sc, cw, &aw, &ah);
        if (w >= aw + 2 + beside)
            return cw;
    }
    return 2;
}

#define TEXT_W 56   /* the cursor's readout on its lines, and the sources' table */

static void draw_one_screen(App *a, Canvas *cv, const Scene *sc)
{
    if (a->zoom) {
        draw_zoomed(a, cv, sc);
        return;
    }
    draw_top(a, cv, sc);
    int y0 = TOP_LINES;   /* the panels' own title lines separate them from the top */
    Canvas area = canvas_sub(*cv, 0, y0, cv->r.w, cv->r.h - y0);
    /* the circuits as large as leaves the left column the heatmap with every
     * value labelled and the readouts' width; else at their smallest */
    int aw3, ah3, level = 0, wq, hq, wo, ho;
    render_attention_size(sc, 3, &aw3, &ah3);
    int left_min = aw3 > TEXT_W ? aw3 : TEXT_W;
    for (int l = CIRC_LEVELS - 1; l > 0 && !level; l--) {
        render_circuit_size_level(sc, sc->qk_view, a->style, l, &wq, &hq);
        render_circuit_size_level(sc, sc->ov_view, a->style, l, &wo, &ho);
        if (hq <= area.r.h && ho <= area.r.h && area.r.w - (wq + wo + 1) - 2 >= left_min)
            level = l;
    }
    render_circuit_size_level(sc, sc->qk_view, a->style, level, &wq, &hq);
    render_circuit_size_level(sc, sc->ov_view, a->style, level, &wo, &ho);
    int cw = heat_cw(a, sc, area.r.w, wq + wo + 1), aw, ah;
    render_attention_size(sc, cw, &aw, &ah);
    /* each query two lines high when that leaves the readouts and the
     * sources up to MID their room */
    int detail_h = render_cursor_detail_height(sc, a->style, aw > TEXT_W ? aw : TEXT_W);
    if (area.r.h >= (2 * sc->T + 3) + 1 + detail_h + 1 + 2 + sc->n + 2)
        ah = 2 * sc->T + 3;
    if (ah > area.r.h)
        ah = area.r.h;
    Canvas c = canvas_sub(area, 0, 0, aw, ah);
    render_attention(&c, sc, cw);
    /* the readouts under the heatmap get the width their text needs, where
     * that leaves the circuits theirs */
    int gap = 2;
    if (area.r.w - aw - 2 < wq + wo && area.r.w - aw - 1 >= wq + wo)
        gap = 1;
    int text_w = area.r.w - (wq + wo + 1) - gap;
    text_w = text_w > TEXT_W ? TEXT_W : text_w;
    text_w = text_w < aw ? aw : text_w;
    int left = text_w > aw ? text_w : aw;
    detail_h = render_cursor_detail_height(sc, a->style, text_w);
    int rest = area.r.h - ah;
    if (rest >= detail_h + 1) {   /* room under the heatmap: the cursor in full, then the sources */
        c = canvas_sub(area, 0, ah, text_w, detail_h);
        render_cursor_detail(&c, sc);
        if (rest - detail_h - 1 >= 4) {
            c = canvas_sub(area, 0, ah + detail_h + 1, text_w, rest - detail_h - 1);
            render_sources(&c, sc);
        }
    }
    c = canvas_sub(area, left + gap, 0, area.r.w - left - gap, area.r.h);
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
    int y0 = draw_lines_or_editor(a, cv, sc, 0, (LinePanel *const[]){render_cursor_line}, 1);
    Canvas c = canvas_sub(*cv, 0, y0++, cv->r.w, 1);
    render_output_line(&c, sc);
    int aw, ah, cw = heat_cw(a, sc, cv->r.w, 60);   /* 60: the sources' columns */
    render_attention_size(sc, cw, &aw, &ah);
    c = canvas_sub(*cv, 0, y0, aw, cv->r.h - y0);
    render_attention(&c, sc, cw);
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
    int y = draw_lines_or_editor(a, cv, sc, 0, (LinePanel *const[]){render_status, render_cursor_line}, 2);
    Canvas c = canvas_sub(*cv, 0, y, cv->r.w, cv->r.h - y);
    draw_circuits(a, &c, sc);
}

static void draw_help(App *a, Canvas *cv, const Scene *sc)
{
    (void)a;
    (void)sc;
    KeyEntry keys[ACT_COUNT + 1];
    render_help(cv, keys, help_entries(keys));
}

static bool help_key(App *a, int key)
{
    if (key == AK_RESIZE || key == AK_REDRAW)
        return true;
    a->help = false;   /* any key closes the help; q too, rather than quitting by surprise */
    return true;
}

/* The atlas page: the rows' population, through the core's evaluation. */
static void draw_atlas(App *a, Canvas *cv, const Scene *sc)
{
    AtlasPanel p;
    atlas_panel(&a->atlas, &p);
    if (sc->message) {   /* what a key just did (Enter on a row without wrong lists) */
        p.note = sc->message;
        p.note_bad = sc->message_bad;
    }
    render_atlas(cv, &p);
    a->atlas.first_line = p.first_line;
}

/* Enter on the atlas: the row's wrong lists go into the history after the
 * list shown, and the first of them is shown at its first wrong position;
 * `,` and `.` step through them. */
static void atlas_load(App *a)
{
    Explorer *ex = a->ex;
    const Scene *sc = explorer_scene(ex);
    const int n = sc->n;
    char what[256], note[400];
    int *lists = malloc((size_t)(HISTORY_MAX - 1) * n * sizeof *lists);
    if (!lists) {
        explorer_set_message(ex, true, "out of memory for the atlas's lists");
        return;
    }
    long wrong = 0, got = atlas_row_failures(&a->atlas, lists, HISTORY_MAX - 1, &wrong, what, sizeof what);
    if (got == 0) {
        snprintf(note, sizeof note, "no wrong lists in %s", what);
        explorer_set_message(ex, false, note);
        free(lists);
        return;
    }
    history_note(&a->history, sc->values, n);   /* the list shown before, to come back to */
    int added = history_add(&a->history, lists, (int)got, n);
    const int *first = history_step(&a->history, 1 - added);
    SlError err = {0};
    int rc = first ? explorer_set_list(ex, first, &err) : 0;
    free(lists);
    if (rc < 0) {
        report(a, rc, &err);
        return;
    }
    for (int i = 0; i < n; i++)   /* open on the first wrong position, as f does */
        if (sc->pred[i] != sc->sorted[i]) {
            explorer_select(ex, n + 1 + i);
            break;
        }
    /* fewer than the row's wrong lists: the history's room, or (a large
     * file) only the first ATLAS_KEEP wrong lists of a population are kept */
    char count[96];
    if (got < wrong)
        snprintf(count, sizeof count, "the first %ld of its %ld wrong lists", got, wrong);
    else
        snprintf(count, sizeof count, "%ld wrong list%s", got, got == 1 ? "" : "s");
    snprintf(note, sizeof note, "%s: %s, this the first; . the next, , the one before", what, count);
    explorer_set_message(ex, false, note);
    a->atlas.on = false;
    a->strip_first = -1;
}

static bool atlas_key(App *a, int key)
{
    Atlas *at = &a->atlas;
    switch (normalise_key(key)) {
    case AK_UP: case 'k': atlas_move(at, -1); return true;
    case AK_DOWN: case 'j': atlas_move(at, +1); return true;
    case AK_PGUP: atlas_move(at, -10); return true;
    case AK_PGDN: atlas_move(at, +10); return true;
    case AK_HOME: atlas_move(at, -ATLAS_ROWS_MAX); return true;
    case AK_END: atlas_move(at, +ATLAS_ROWS_MAX); return true;
    case AK_TAB: atlas_move_section(at, +1); return true;
    case AK_BTAB: atlas_move_section(at, -1); return true;
    case AK_LEFT: case 'h': atlas_step_focus(at, -1); return true;
    case AK_RIGHT: case 'l': atlas_step_focus(at, +1); return true;
    case AK_ENTER: atlas_load(a); return true;
    case AK_ESC: at->on = false; return true;
    case AK_RESIZE: return true;
    }
    int arg = 0;
    const Action *act = action_for_key(normalise_key(key), &arg);
    if (act && (act->id == ACT_ATLAS || act->id == ACT_QUIT || act->id == ACT_HELP || act->id == ACT_REDRAW))
        return run_action(a, act->id, arg);
    explorer_set_message(a->ex, false, "the atlas: Up/Down a row, Tab a section, Left/Right the population, Enter "
                                       "its wrong lists, A or Esc back");
    return true;
}

/* The progress page: the curves of the run, the marker at the snapshot shown. */
static void draw_curves(App *a, Canvas *cv, const Scene *sc)
{
    CurvesPanel p;
    curves_panel(&a->curves, &p);
    if (sc->message && !p.note) {   /* what a key just did */
        p.note = sc->message;
        p.note_bad = sc->message_bad;
    }
    render_curves(cv, &p);
}

static bool curves_key(App *a, int key)
{
    int arg = 0;
    key = normalise_key(key);
    if (key == AK_ESC) {
        a->curves.on = false;
        return true;
    }
    if (key == AK_RESIZE)
        return true;
    const Action *act = action_for_key(key, &arg);
    if (act && (act->id == ACT_CURVES || act->id == ACT_SNAPSHOT || act->id == ACT_SAVE || act->id == ACT_QUIT ||
                act->id == ACT_HELP || act->id == ACT_REDRAW))
        return run_action(a, act->id, arg);
    explorer_set_message(a->ex, false, "the progress page: ( ) ^ $ move the marker (the snapshot shown), S saves it as SVG, T or Esc back");
    return true;
}

static bool main_key(App *a, int key)
{
    if (a->editing)
        return list_editor_key(a, key);
    return common_key(a, key);
}

static const Screen screen_one = {draw_one_screen, main_key};
static const Screen screen_pages[PAGE_COUNT] = {
    {draw_page_sort, main_key},
    {draw_page_attention, main_key},
    {draw_page_circuits, main_key},
};
static const Screen screen_help = {draw_help, help_key};
static const Screen screen_atlas = {draw_atlas, atlas_key};
static const Screen screen_curves = {draw_curves, curves_key};

/* ---- layout ------------------------------------------------------------------ */

void app_one_screen_size(const App *a, int *w, int *h)
{
    const Scene *sc = explorer_scene(a->ex);
    int aw, ah;
    render_attention_size(sc, 2, &aw, &ah);
    int strip = 9 + sc->T * 4;
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
    if (a->atlas.on)
        return &screen_atlas;
    if (a->curves.on && a->snaps)
        return &screen_curves;
    return a->paged ? &screen_pages[a->page] : &screen_one;
}

bool app_key(App *a, int key)
{
    /* the screen that was drawn last takes the key */
    if (a->help)
        return screen_help.key(a, key);
    if (a->atlas.on && !a->editing)
        return screen_atlas.key(a, key);
    if (a->curves.on && a->snaps && !a->editing)
        return screen_curves.key(a, key);
    const Scene *sc = explorer_scene(a->ex);
    history_note(&a->history, sc->values, sc->n);   /* the first list, or one shown by another way */
    bool redraw = a->paged ? screen_pages[a->page].key(a, key) : screen_one.key(a, key);
    history_note(&a->history, sc->values, sc->n);   /* a list typed, random, found wrong, of a pair */
    return redraw;
}

bool app_click(App *a, const Cell *cell)
{
    Explorer *ex = a->ex;
    const Scene *sc = explorer_scene(ex);
    if (!cell || a->editing || a->help)
        return false;
    switch (cell->tag) {
    case TAG_TOKEN:
        if (scene_pred_index(sc, cell->ta) >= 0)
            explorer_select(ex, cell->ta);
        else
            explorer_set_cursor(ex, cell->ta);
        return true;
    case TAG_PRED:
        if (scene_pred_index(sc, cell->ta) >= 0)
            explorer_select(ex, cell->ta);
        return true;
    case TAG_ATTN:
        if (scene_pred_index(sc, cell->ta) >= 0)
            explorer_select(ex, cell->ta);
        explorer_set_cursor(ex, cell->tb);
        return true;
    case TAG_SOURCE:
        explorer_set_cursor(ex, cell->ta);
        return true;
    case TAG_CIRCUIT:
        if (cell->tc >= CIRCUIT_PANEL_OTHER) {   /* a circuit beside the focused ones: it gets the focus */
            int kind = cell->tc - CIRCUIT_PANEL_OTHER;
            explorer_focus_view(ex, kind);
            explorer_set_circuit_cell(ex, cell->ta, cell->tb, circuit_kind_is_qk(kind) ? CIRCUIT_PANEL_QK : CIRCUIT_PANEL_OV);
        } else {
            explorer_set_circuit_cell(ex, cell->ta, cell->tb, cell->tc);
        }
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
    Scene sc = *explorer_scene(a->ex);   /* a copy: an engine failure replaces the note */
    if (a->error[0]) {
        sc.message = a->error;
        sc.message_bad = true;
    }
    popview_scene(&a->pop, &sc);
    const Screen *s = current_screen(a, g->w, g->h);
    Canvas title = canvas_sub(cv, 0, 0, g->w, 1);
    render_title(&title, &sc, a->paged && s != &screen_atlas && s != &screen_curves ? "1 Sort|2 Attention|3 Circuits" : NULL, a->page);
    Canvas body = canvas_sub(cv, 0, 1, g->w, g->h - 2);
    s->draw(a, &body, &sc);
    Canvas keys = canvas_sub(cv, 0, g->h - 1, g->w, 1);
    KeyEntry entries[ACT_COUNT];
    render_keys(&keys, entries, key_line_entries(a, entries));
}
