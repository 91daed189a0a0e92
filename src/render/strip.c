/* strip.c: the token strip, the prediction rows under it, the output line
 * and the selected prediction in full. */
#include "panel_draw.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The label column left of the strip and the prediction rows. */
#define STRIP_LABEL_W 9

/* The strip's window keeps the selected query and the token it predicts
 * while it can, and centres them with the cursor when it must move. */
static int strip_first(const Scene *sc, int w, int cw, int first)
{
    int lo = sc->sel - 1 < sc->cursor ? sc->sel - 1 : sc->cursor;
    int hi = sc->sel + 1 > sc->cursor ? sc->sel + 1 : sc->cursor;
    return scroll_first((ScrollWant){.count = sc->T, .visible = (w - STRIP_LABEL_W) / cw, .lo = lo, .hi = hi,
                                     .anchor = sc->sel, .prev = first, .keep_lo = sc->sel, .keep_hi = sc->sel + 1});
}

int render_strip(Canvas *cv, const Scene *sc, int cw, int first)
{
    if (cw > 8)
        cw = 8;
    first = strip_first(sc, cv->r.w, cw, first);
    cv_text(cv, 0, 0, "tokens", COL_LABEL, 0);
    int visible = (cv->r.w - STRIP_LABEL_W) / cw;
    for (int p = first; p < sc->T && p < first + visible; p++) {
        int x = STRIP_LABEL_W + (p - first) * cw;
        char lab[16];
        int tok = sc->tokens[p];
        scene_token_label(sc, tok, cw - 1, lab, sizeof lab);
        int fg = COL_DEFAULT, attr = 0, bg = COL_DEFAULT;
        if (tok >= sc->Vo)
            fg = COL_LABEL;
        int bi = p - sc->n - 2;   /* index into b_1..b_n */
        if (bi >= 0 && bi < sc->n && sc->greedy && tok != sc->sorted[bi]) {
            fg = COL_BAD;          /* the model's own wrong output, fed back */
            attr = ATTR_BOLD;
        }
        if (p == sc->block_source) {
            fg = COL_BAD;
            attr |= ATTR_UNDERLINE;
        }
        if (p == sc->sel)
            bg = COL_SELECT, fg = COL_INK_DARK, attr |= ATTR_BOLD;
        else if (p == sc->cursor)
            bg = COL_CURSOR, fg = COL_INK_DARK;
        Canvas t = *cv;
        canvas_tag(&t, TAG_TOKEN, p, 0, 0);
        char cell[24];
        snprintf(cell, sizeof cell, "%*s ", cw - 1, lab);
        cv_text_bg(&t, x, 0, cell, fg, bg, attr);
        /* marks: the query above, the cursor */
        if (p == sc->sel)
            cv_put(&t, x + cw - 2, 1, glyph(cv->style, GL_MARK_UP), COL_KEY, COL_DEFAULT, ATTR_BOLD);
        if (p == sc->cursor)
            cv_put(&t, x + cw - 3 >= x ? x + cw - 3 : x, 1, cv->style.utf8 ? 0x2191 : '|', COL_LABEL, COL_DEFAULT,
                   ATTR_BOLD);
    }
    if (first > 0)
        cv_put(cv, STRIP_LABEL_W - 1, 0, glyph(cv->style, GL_ELLIPSIS), COL_DIM, COL_DEFAULT, 0);
    if (first + visible < sc->T)
        cv_put(cv, STRIP_LABEL_W + visible * cw, 0, glyph(cv->style, GL_ELLIPSIS), COL_DIM, COL_DEFAULT, 0);
    /* what the marks mean, after the last mark when there is room */
    char qn[16], kn[16], buf[96];
    scene_pos_name(sc, sc->sel, qn, sizeof qn);
    scene_pos_name(sc, sc->cursor, kn, sizeof kn);
    snprintf(buf, sizeof buf, "%s query %s   %s source %s", glyph_str(cv->style, GL_MARK_UP), qn,
             cv->style.utf8 ? "\u2191" : "|", kn);
    int mark_end = STRIP_LABEL_W + (sc->T - first) * cw;
    if (mark_end + 2 + render_utf8_width(buf) <= cv->r.w)
        cv_text(cv, mark_end + 2, 1, buf, COL_DIM, 0);
    cv_text(cv, 0, 1, "", COL_DIM, 0);
    return first;
}
void render_predictions(Canvas *cv, const Scene *sc, int cw, int first)
{
    if (cw > 8)
        cw = 8;
    first = strip_first(sc, cv->r.w, cw, first);
    int visible = (cv->r.w - STRIP_LABEL_W) / cw;
    cv_text(cv, 0, 0, "predicts", COL_LABEL, 0);
    cv_text(cv, 0, 1, "p %", COL_LABEL, 0);
    cv_text(cv, 0, 2, "runner-up", COL_LABEL, 0);
    for (int i = 0; i < sc->n; i++) {
        int p = sc->n + 2 + i;   /* the token position it predicts */
        if (p < first || p >= first + visible)
            continue;
        int x = STRIP_LABEL_W + (p - first) * cw;
        int q = p - 1;           /* the query position that predicts it */
        Canvas t = *cv;
        canvas_tag(&t, TAG_PRED, q, 0, 0);
        bool right = sc->pred[i] == sc->sorted[i];
        bool changed = sc->base_pred && sc->base_pred[i] != sc->pred[i];
        char buf[24];
        /* narrow cells (3) keep two digits and mark only the wrong values */
        snprintf(buf, sizeof buf, "%*d", cw >= 4 ? cw - 2 : 2, sc->pred[i]);
        int attr = ATTR_BOLD | (changed ? ATTR_UNDERLINE : 0);
        int bg = q == sc->sel ? COL_SELECT : COL_DEFAULT;
        int fg = q == sc->sel ? COL_INK_DARK : right ? COL_GOOD : COL_BAD;
        int xe = cv_text_bg(&t, x, 0, buf, fg, bg, attr);
        if (cw >= 4 || !right)
            cv_put(&t, xe, 0, glyph(cv->style, right ? GL_RIGHT : GL_WRONG), right ? COL_GOOD : COL_BAD,
                   COL_DEFAULT, ATTR_BOLD);
        /* the probability as a floor percentage (never claims 100 too early),
         * on the sequential ramp */
        float pr = sc->prob[(size_t)i * sc->Vo + sc->pred[i]];
        if (isnan(pr)) {   /* logits that are not numbers: no probability, no runner-up */
            cv_text(&t, x, 1, cw >= 4 ? "  ?" : " ?", COL_BAD, ATTR_BOLD);
            continue;
        }
        int pct = (int)floorf(pr * 100.0f);
        if (pct > 100)
            pct = 100;
        if (pct < 0)
            pct = 0;
        if (cw < 4 && pct > 99)   /* two columns: a certain prediction reads "1.", never 99 */
            snprintf(buf, sizeof buf, "1.");
        else
            snprintf(buf, sizeof buf, "%*d", cw >= 4 ? cw - 1 : 2, pct);
        Cell hc = heat_cell(cv->style, RAMP_SEQUENTIAL, pr, 0, 1);
        if (cv->style.depth >= DEPTH_256)
            cv_text_bg(&t, x, 1, buf, hc.fg, hc.bg, 0);
        else
            cv_text(&t, x, 1, buf, COL_DEFAULT, 0);
        const int *tv = sc->top_idx + (size_t)i * SCENE_TOPK;
        const double *tp = sc->top_prob + (size_t)i * SCENE_TOPK;
        if (tv[1] >= 0) {
            snprintf(buf, sizeof buf, "%*d", cw >= 4 ? cw - 2 : 2, tv[1]);
            cv_text(&t, x, 2, buf, tp[1] >= 0.05 ? COL_WARN : COL_DIM, 0);
        }
    }
}
static int write_values(Canvas *cv, int x, int y, const Scene *sc, const int *vals, bool mark)
{
    for (int i = 0; i < sc->n; i++) {
        char buf[16];
        snprintf(buf, sizeof buf, "%d", vals[i]);
        bool right = vals[i] == sc->sorted[i];
        x = cv_text(cv, x, y, buf, mark && !right ? COL_BAD : COL_VALUE, mark && !right ? ATTR_BOLD | ATTR_UNDERLINE : ATTR_BOLD);
        x++;
    }
    return x;
}
void render_output_line(Canvas *cv, const Scene *sc)
{
    int x = cv_text(cv, 0, 0, "output", COL_LABEL, 0) + 3;
    x = write_values(cv, x, 0, sc, sc->pred, true) + 1;
    int right = scene_right(sc, sc->pred);
    char buf[64];
    if (right == sc->n)
        snprintf(buf, sizeof buf, "%s sorted", glyph_str(cv->style, GL_RIGHT));
    else
        snprintf(buf, sizeof buf, "%s %d/%d right", glyph_str(cv->style, GL_WRONG), right, sc->n);
    x = cv_text(cv, x, 0, buf, right == sc->n ? COL_GOOD : COL_BAD, ATTR_BOLD) + 3;
    if (sc->nonfinite_logits > 0) {   /* nothing below means anything: say it first */
        char at[16];
        scene_pos_name(sc, sc->first_nonfinite, at, sizeof at);
        snprintf(buf, sizeof buf, "logits are not numbers (NaN/Inf) at %s", at);
        x = cv_text(cv, x, 0, buf, COL_BAD, ATTR_BOLD);
        if (sc->nonfinite_logits > 1)
            x = cv_printf(cv, x, 0, COL_BAD, ATTR_BOLD, " and %d more positions", sc->nonfinite_logits - 1);
        cv_text(cv, x, 0, ": the model overflows", COL_BAD, 0);
    } else if (sc->message) {   /* a note (a refusal, the reopening command) outranks the comparison; Esc clears it */
        cv_text(cv, x, 0, sc->message, sc->message_bad ? COL_BAD : COL_WARN, 0);
    } else if (sc->base_pred) {
        bool same = memcmp(sc->base_pred, sc->pred, (size_t)sc->n * sizeof(int)) == 0;
        x = cv_text(cv, x, 0, same ? "no change from the intervention" : "without interventions:", COL_WARN, 0) + 1;
        if (!same) {
            x = write_values(cv, x, 0, sc, sc->base_pred, false);
            int br = scene_right(sc, sc->base_pred);
            cv_printf(cv, x, 0, COL_DIM, 0, "(%d/%d)", br, sc->n);
        }
    }
}
void render_pred_detail(Canvas *cv, const Scene *sc)
{
    int i = scene_pred_index(sc, sc->sel);
    if (i < 0)
        return;
    char qn[16], bn[16], buf[256];
    scene_pos_name(sc, sc->sel, qn, sizeof qn);
    scene_pos_name(sc, sc->sel + 1, bn, sizeof bn);
    const int *tv = sc->top_idx + (size_t)i * SCENE_TOPK;
    const double *tp = sc->top_prob + (size_t)i * SCENE_TOPK;
    int x = cv_printf(cv, 0, 0, COL_LABEL, 0, "at %s (pos %d) %s %s:", qn, sc->sel, glyph_str(cv->style, GL_ARROW), bn);
    if (isnan(sc->prob[(size_t)i * sc->Vo])) {
        cv_text(cv, x + 1, 0, "the logits here are not numbers (NaN/Inf): the forward overflowed", COL_BAD, ATTR_BOLD);
        return;
    }
    snprintf(buf, sizeof buf, "%d", sc->pred[i]);
    x = cv_text(cv, x + 1, 0, buf, COL_VALUE, ATTR_BOLD);
    x = cv_printf(cv, x + 1, 0, COL_DEFAULT, 0, "p %.4f", (double)sc->prob[(size_t)i * sc->Vo + sc->pred[i]]);
    x = cv_text(cv, x, 0, ";  then", COL_DIM, 0);
    for (int k = 1; k < SCENE_TOPK; k++) {
        if (tv[k] < 0)
            break;
        x = cv_printf(cv, x + 1, 0, COL_DEFAULT, 0, tp[k] >= 0.001 ? "%d (%.4f)" : "%d (%.1e)", tv[k], (double)tp[k]);
    }
    bool right = sc->pred[i] == sc->sorted[i];
    x = cv_printf(cv, x + 2, 0, COL_DIM, 0, "true %d", sc->sorted[i]);
    x = cv_text(cv, x + 1, 0, glyph_str(cv->style, right ? GL_RIGHT : GL_WRONG), right ? COL_GOOD : COL_BAD, ATTR_BOLD);
    if (!right)
        cv_printf(cv, x + 1, 0, COL_BAD, 0, "(p of %d: %.4f)", sc->sorted[i],
                  (double)sc->prob[(size_t)i * sc->Vo + sc->sorted[i]]);
}
