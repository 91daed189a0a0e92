/* attention.c: the attention heatmap, the cursor's readouts and the
 * sources of the selected query. */
#include "panel_draw.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void render_cursor_line(Canvas *cv, const Scene *sc)
{
    char qn[16], kn[16], tl[16], topn[16], buf[320];
    int q = sc->sel, k = sc->cursor, x;
    scene_pos_name(sc, q, qn, sizeof qn);
    scene_pos_name(sc, k, kn, sizeof kn);
    scene_token_label(sc, sc->tokens[k], 3, tl, sizeof tl);
    if (cv->r.w < 100) {   /* "MID → a9 (pos 9 = 13):", the cursor alone */
        x = cv_printf(cv, 0, 0, COL_LABEL, 0, "%s %s %s (pos %d = %s):", qn, glyph_str(cv->style, GL_ARROW), kn, k, tl);
    } else if (k == sc->top_source) {   /* "attends to" names the top source, never merely the cursor */
        x = cv_printf(cv, 0, 0, COL_LABEL, 0, "%s attends most to %s (pos %d = %s):", qn, kn, k, tl);
    } else {
        scene_pos_name(sc, sc->top_source, topn, sizeof topn);
        x = cv_printf(cv, 0, 0, COL_LABEL, 0, "%s attends most to %s; cursor %s (pos %d = %s):", qn, topn, kn, k, tl);
    }
    if (k > q) {
        cv_text(cv, x + 1, 0, "masked: a query never sees later positions", COL_DIM, 0);
        return;
    }
    float w = sc->pattern[(size_t)q * sc->T + k], s = sc->scores[(size_t)q * sc->T + k];
    bool blocked = scene_iv_here(sc) && sc->block_source == k;
    x = cv_printf(cv, x + 1, 0, COL_VALUE, ATTR_BOLD, "weight %.4f", (double)w);
    x = cv_printf(cv, x + 2, 0, COL_DEFAULT, 0, "score %+.3f", (double)s);
    float t[SL_SCORE_TERMS];
    if (cv->r.w < 100 || !scene_score_terms_at(sc, q, k, t)) {   /* no room, or no terms */
        if (blocked)
            cv_text(cv, x + 2, 0, "(blocked)", COL_BAD, 0);
        return;
    }
    static const char *nm[SL_SCORE_TERMS] = {"tt", "tp", "pt", "pp"};
    x = cv_text(cv, x + 1, 0, "= (", COL_DIM, 0);
    for (int j = 0; j < SL_SCORE_TERMS; j++) {
        bool off = scene_iv_here(sc) && (sc->qk_off & (1u << j));
        if (j)
            x = cv_text(cv, x + 1, 0, "+", COL_DIM, 0) + 1;
        if (off)
            snprintf(buf, sizeof buf, "%s off", nm[j]);
        else
            snprintf(buf, sizeof buf, "%s %+.2f", nm[j], (double)t[j]);
        x = cv_text(cv, x, 0, buf, off ? COL_BAD : COL_DEFAULT, 0);
    }
    cv_printf(cv, x, 0, COL_DIM, 0, ") / %s%d", glyph_str(cv->style, GL_SQRT), sc->E);
}

/* ---- attention heatmap ----------------------------------------------------- */

#define ATTN_GUTTER 5   /* mark + 3-char label + space */

void render_attention_size(const Scene *sc, int cw, int *w, int *h)
{
    *w = ATTN_GUTTER + sc->T * cw;
    *h = sc->T + 3;   /* title, key labels, T rows, colour bar */
}
float scene_attention_range(const Scene *sc, int scale, bool scores)
{
    if (scale == CS_ROW)
        return 1.0f;
    if (!scores && scale == CS_WHOLE)
        return 1.0f;
    int q0 = scale == CS_VALUES ? sc->n + 1 : 0, q1 = scale == CS_VALUES ? 2 * sc->n : sc->T - 1;
    if (q1 > sc->T - 1)
        q1 = sc->T - 1;
    float m = 0;
    for (int q = q0 < 0 ? 0 : q0; q <= q1; q++)
        for (int k = 0; k <= q; k++) {
            float v = scores ? fabsf(sc->scores[(size_t)q * sc->T + k]) : sc->pattern[(size_t)q * sc->T + k];
            if (isfinite(v) && v > m)
                m = v;
        }
    return m > 0 ? m : 1.0f;
}
/* Per row (CS_ROW): weights over the row's largest; scores centred on the
 * mean of the row's visible keys, over their largest distance from it. */
static RowNorm attention_row_norm(const Scene *sc, int q, bool scores, int scale)
{
    RowNorm n = {0, 1};
    if (scale != CS_ROW || q < 0 || q >= sc->T)
        return n;
    const float *row = (scores ? sc->scores : sc->pattern) + (size_t)q * sc->T;
    double sum = 0;
    int cnt = 0;
    float mx = 0;
    for (int k = 0; k <= q; k++)
        if (isfinite(row[k])) {
            sum += row[k];
            cnt++;
            if (!scores && row[k] > mx)
                mx = row[k];
        }
    if (scores) {
        n.mean = cnt ? (float)(sum / cnt) : 0;
        for (int k = 0; k <= q; k++)
            if (isfinite(row[k]) && fabsf(row[k] - n.mean) > mx)
                mx = fabsf(row[k] - n.mean);
    }
    n.inv = mx > 0 ? 1 / mx : 0;
    return n;
}
/* The label of position k on an axis: its token (BOS, MID, the value) or,
 * with named positions (`t`), its name (BOS, a3, MID, b1). */
static void axis_pos_label(const Scene *sc, int k, int width, char *buf, size_t size)
{
    if (sc->named_positions)
        scene_pos_name(sc, k, buf, size);
    else
        scene_token_label(sc, sc->tokens[k], width, buf, size);
}

/* The key labels of the heatmap on line 1: each right-aligned in its cell
 * or, wider than the cell, written from it over the next ones; a label
 * keeps a blank on each side, so that none runs into another ("4217") or is
 * cut.  The cursor's label is placed first; one that does not fit is left
 * out (its cell stays, with the cursor's colour where it is). */
static void attention_key_labels(Canvas *cv, const Scene *sc, int c0, int vis_cols, int cw, int step)
{
    int T = sc->T, w = cv->r.w;
    if (w <= 0)
        return;
    bool *taken = calloc((size_t)w + 2, sizeof *taken);   /* [w + 2]: column x at x + 1 */
    if (!taken)
        return;
    int order_first = sc->cursor >= c0 && sc->cursor < c0 + vis_cols ? sc->cursor : -1;
    for (int pass = 0; pass < 2; pass++)
        for (int k = pass == 0 ? order_first : c0; k >= 0 && k < T && k < c0 + vis_cols; k++) {
            if ((pass == 0 && k != order_first) || (pass == 1 && k == order_first))
                continue;
            char lab[16], buf[32];
            axis_pos_label(sc, k, cw - 1, lab, sizeof lab);
            bool labelled = pass == 0 || k % step == 0;   /* the cursor's, and every step-th */
            int x = ATTN_GUTTER + (k - c0) * cw, len = (int)strlen(lab);
            int start = len <= cw ? x + cw - len : x;
            bool fits = start + len <= w;
            for (int c = start - 1; fits && c <= start + len; c++)
                fits = c < -1 || c > w || !taken[c + 1];
            /* adjacent labels alternate their colour (and, in monochrome,
             * their weight) so that each reads on its own */
            int fg = sc->tokens[k] >= sc->Vo || sc->named_positions ? COL_LABEL : (k % 2 ? COL_DEFAULT : COL_DIM);
            int bg = COL_DEFAULT, attr = k % 2 ? ATTR_BOLD : 0;
            if (k == sc->cursor)
                fg = COL_INK_DARK, bg = COL_CURSOR;
            if (k == sc->block_source)
                fg = COL_BAD, attr = ATTR_BOLD | ATTR_UNDERLINE;
            Canvas t = *cv;
            canvas_tag(&t, TAG_SOURCE, k, 0, 0);
            if (!taken[x + 1]) {   /* the cell itself, blank, unless a label covers it */
                snprintf(buf, sizeof buf, "%*s", cw, "");
                cv_text_bg(&t, x, 1, buf, fg, bg, attr);
            }
            if (!fits || !labelled)
                continue;
            cv_text_bg(&t, start, 1, lab, fg, bg, attr);
            for (int c = start; c < start + len && c < w; c++)
                taken[c + 1] = true;
        }
    free(taken);
}

/* The label step of the heatmap's keys: the widest label and its blank in
 * cells of cw columns. */
static int attention_label_step(const Scene *sc, int cw)
{
    int width = 1;
    for (int k = 0; k < sc->T; k++) {
        char lab[16];
        axis_pos_label(sc, k, cw - 1, lab, sizeof lab);
        int l = (int)strlen(lab);
        width = l > width ? l : width;
    }
    return label_step(width, cw);
}

void render_attention(Canvas *cv, const Scene *sc, int cw)
{
    Style st = cv->style;
    char buf[128];
    bool scores = sc->show_scores;
    int scale = sc->circuit_scale >= 0 && sc->circuit_scale < CS_COUNT ? sc->circuit_scale : CS_ROW;
    float range = scene_attention_range(sc, scale, scores);
    const char *sep = st.utf8 ? " \u00b7 " : " | ";
    char what[96], stepped[48] = "";
    if (sc->population)   /* the means, not the list: said first */
        snprintf(what, sizeof what, "mean attention %s over %s", scores ? "scores" : "weights", sc->population);
    else if (sc->H > 1 || sc->L > 1)
        snprintf(what, sizeof what, "attention %s, layer %d head %d", scores ? "scores" : "weights", sc->layer, sc->head);
    else
        snprintf(what, sizeof what, "attention %s", scores ? "scores" : "weights");
    int step = attention_label_step(sc, cw);
    if (step > 1)   /* the keys labelled, said in the title */
        snprintf(stepped, sizeof stepped, "%skeys labelled every %d%s", sep, step, step == 2 ? "nd" : "th");
    /* what goes first when the title is too long: the scale (the colour
     * bar says it too), "(query x key)", then the label step */
    for (int drop = 0; drop < 4; drop++) {
        snprintf(buf, sizeof buf, "%s%s%s%s%s", what, drop < 2 ? (st.utf8 ? " (query \u00d7 key)" : " (query x key)") : "",
                 drop < 3 ? stepped : "", drop < 1 ? sep : "", drop < 1 ? circuit_scale_name(scale) : "");
        if (render_utf8_width(buf) + 4 <= cv->r.w)
            break;
    }
    panel_section(cv, 0, buf, false);
    int T = sc->T;
    /* each query two lines high where the canvas has room for that */
    int rh = cv->r.h - 3 >= 2 * T ? 2 : 1;
    int vis_cols = (cv->r.w - ATTN_GUTTER) / cw, vis_rows = (cv->r.h - 3) / rh;
    if (vis_cols < 1 || vis_rows < 1)
        return;
    int c0 = scroll_pair(T, vis_cols, sc->cursor, sc->sel);
    int r0 = scroll_pair(T, vis_rows, sc->sel, sc->cursor);
    attention_key_labels(cv, sc, c0, vis_cols, cw, step);
    for (int q = r0; q < T && q < r0 + vis_rows; q++)
      for (int sub = 0; sub < rh; sub++) {
        int y = 2 + (q - r0) * rh + sub;
        char lab[16];
        axis_pos_label(sc, q, 3, lab, sizeof lab);
        snprintf(buf, sizeof buf, "%3s", lab);
        bool selq = q == sc->sel;
        if (selq && sub == 0)
            cv_put(cv, 0, y, glyph(st, GL_MARK_RIGHT), COL_KEY, COL_DEFAULT, ATTR_BOLD);
        Canvas t = *cv;
        RowNorm rn = attention_row_norm(sc, q, scores, scale);
        canvas_tag(&t, TAG_PRED, q, 0, 0);
        if (sub > 0)
            snprintf(buf, sizeof buf, "   ");
        cv_text_bg(&t, 1, y, buf, selq ? COL_INK_DARK : sc->tokens[q] >= sc->Vo ? COL_LABEL : COL_DIM,
                   selq ? COL_SELECT : COL_DEFAULT, selq ? ATTR_BOLD : 0);
        for (int k = c0; k < T && k < c0 + vis_cols; k++) {
            int x = ATTN_GUTTER + (k - c0) * cw;
            canvas_tag(&t, TAG_ATTN, q, k, 0);
            bool cur = selq && k == sc->cursor;
            if (k > q) {   /* the causal mask */
                cv_put(&t, x, y, cur ? '[' : sub == 0 ? glyph(st, GL_MASK) : ' ', cur ? COL_KEY : COL_DIM, COL_DEFAULT, 0);
                if (cw > 1)
                    cv_put(&t, x + cw - 1, y, cur ? ']' : ' ', COL_KEY, COL_DEFAULT, 0);
                continue;
            }
            float raw = scores ? sc->scores[(size_t)q * T + k] : sc->pattern[(size_t)q * T + k];
            float v = isfinite(raw) ? shown(raw, rn) : 0.0f;
            Cell c = scores || heat_beyond(v, range) ? heat_cell_sat(st, v, range)
                                                     : heat_cell(st, RAMP_SEQUENTIAL, v, 0, range);
            if (isnan(raw) || isnan(v) || (!scores && isinf(raw)))   /* the model overflowed: say so */
                c = (Cell){.ch = '?', .fg = COL_BAD, .attr = ATTR_BOLD};
            else if (scores && !isfinite(raw))   /* a blocked source has a -inf score */
                c = (Cell){.ch = 'x', .fg = COL_BAD};
            for (int j = 0; j < cw; j++) {
                uint32_t ch = c.ch;
                int fg = c.fg;
                if (cur) {   /* the cursor: brackets in an ink that reads on the cell */
                    ch = j == 0 ? '[' : j == cw - 1 ? ']' : ch;
                    fg = st.depth >= DEPTH_256 ? palette_ink_on(c.bg) : COL_KEY;
                    if (cw == 1)
                        ch = glyph(st, GL_CURSOR);
                }
                cv_put(&t, x + j, y, ch, fg, c.bg, cur ? ATTR_BOLD : c.attr);
            }
        }
    }
    /* colour bar, and what sets its range */
    int by = 2 + (T - r0 < vis_rows ? T - r0 : vis_rows) * rh;
    if (by < cv->r.h) {
        char note[96] = "";
        char last[16];
        scene_pos_name(sc, 2 * sc->n, last, sizeof last);
        long beyond = 0;
        if (scale == CS_VALUES)
            for (int q = 0; q < T; q++)
                for (int k = 0; k <= q; k++) {
                    float v = scores ? sc->scores[(size_t)q * T + k] : sc->pattern[(size_t)q * T + k];
                    beyond += isfinite(v) && heat_beyond(v, range);
                }
        if (scale == CS_ROW)
            snprintf(note, sizeof note, scores ? "each row centred, to its max" : "each row to its max");
        else if (scale == CS_VALUES)
            snprintf(note, sizeof note, beyond ? "max of rows MID..%s; %ld beyond" : "max of rows MID..%s", last, beyond);
        else if (scores)
            snprintf(note, sizeof note, "max of all rows");
        int x = cv_text(cv, 1, by, scores ? "score" : "weight", COL_DIM, 0) + 1;
        int nw = note[0] ? render_utf8_width(note) + 1 : 0;
        int bw = cv->r.w - x - 1 - nw;
        if (bw < 16) {   /* no room for the note */
            bw = cv->r.w - x - 1;
            nw = 0;
        }
        if (bw > 40)
            bw = 40;
        int used = render_colorbar(cv, x, by, bw, scores ? RAMP_DIVERGING : RAMP_SEQUENTIAL, scores ? -range : 0, range);
        if (nw)
            cv_text(cv, x + used + 1, by, note, COL_DIM, 0);
    }
}
/* The first line of the cursor's readout ("MID (11) → a6 (6) = 0:") and
 * its weight and score, which go on a line of their own when both do not fit. */
static int cursor_head(const Scene *sc, Style st, char *buf, size_t size)
{
    char qn[16], kn[16], tl[16];
    int q = sc->sel, k = sc->cursor;
    scene_pos_name(sc, q, qn, sizeof qn);
    scene_pos_name(sc, k, kn, sizeof kn);
    scene_token_label(sc, sc->tokens[k], 3, tl, sizeof tl);
    snprintf(buf, size, "%s (%d) %s %s (%d) = %s:", qn, q, glyph_str(st, GL_ARROW), kn, k, tl);
    return render_utf8_width(buf);
}
#define CURSOR_VALUES_W 34   /* " weight 0.4794  score -inf (blocked)" */

int render_cursor_detail_height(const Scene *sc, Style st, int w)
{
    char buf[96];
    return 1 + cursor_head(sc, st, buf, sizeof buf) + CURSOR_VALUES_W + 1 > w ? 6 : 5;
}

void render_cursor_detail(Canvas *cv, const Scene *sc)
{
    char head[96];
    int q = sc->sel, k = sc->cursor;
    char title[128];
    snprintf(title, sizeof title, "under the cursor%s%s", sc->population ? ": means over " : "",
             sc->population ? sc->population : "");
    panel_section(cv, 0, title, false);
    cursor_head(sc, cv->style, head, sizeof head);
    int x = cv_text(cv, 1, 1, head, COL_DEFAULT, 0), y = 1;
    if (k > q) {
        cv_text(cv, x + 1, 1, "masked", COL_DIM, 0);
        cv_text(cv, 1, 2, "a query never attends to a later position", COL_DIM, 0);
        return;
    }
    if (render_cursor_detail_height(sc, cv->style, cv->r.w) > 5) {   /* the values on the next line */
        x = 2;
        y = 2;
    }
    float w = sc->pattern[(size_t)q * sc->T + k], s = sc->scores[(size_t)q * sc->T + k];
    x = cv_printf(cv, x + 1, y, COL_VALUE, ATTR_BOLD, "weight %.4f", (double)w);
    if (isfinite(s))
        cv_printf(cv, x + 2, y, COL_DEFAULT, 0, "score %+.4f", (double)s);
    else
        cv_text(cv, x + 2, y, "score -inf (blocked)", COL_BAD, 0);
    float t[SL_SCORE_TERMS];
    if (!scene_score_terms_at(sc, q, k, t)) {
        cv_text(cv, 1, y + 1, "(the four QK terms are defined for layer 0)", COL_DIM, 0);
        return;
    }
    static const char *nm[4] = {"tok-tok", "tok-pos", "pos-tok", "pos-pos"};
    float sum = 0;
    for (int j = 0; j < SL_SCORE_TERMS; j++) {
        bool off = scene_iv_here(sc) && (sc->qk_off & (1u << j));
        int yy = y + 1 + j / 2, xx = 1 + (j % 2) * 21;
        cv_text(cv, xx, yy, j == 0 ? "=" : "+", COL_DIM, 0);
        if (off)
            cv_printf(cv, xx + 2, yy, COL_BAD, ATTR_BOLD, "%s %9s", nm[j], "off");
        else
            cv_printf(cv, xx + 2, yy, COL_DEFAULT, 0, "%s %+9.3f", nm[j], (double)t[j]);
        if (!off)
            sum += t[j];
    }
    cv_printf(cv, 1, y + 3, COL_DIM, 0, "  (sum %+.3f) / %s%d = %+.4f, the score", (double)sum, glyph_str(cv->style, GL_SQRT),
              sc->E, (double)(sum / sqrtf((float)sc->E)));
}
void render_sources(Canvas *cv, const Scene *sc)
{
    int q = sc->sel, i = scene_pred_index(sc, q);
    char qn[16], buf[240];
    scene_pos_name(sc, q, qn, sizeof qn);
    int value = i >= 0 ? sc->pred[i] : -1;
    int rows = cv->r.h - 2;
    int first = scroll_pair(q + 1, rows > 0 ? rows : 1, sc->cursor, sc->cursor);
    int shown_rows = rows < q + 1 ? rows : q + 1;
    char pos[24], range[40] = "";
    snprintf(pos, sizeof pos, " (pos %d)", q);
    if (shown_rows < q + 1) {
        char a[16], b[16];
        scene_pos_name(sc, first, a, sizeof a);
        scene_pos_name(sc, first + shown_rows - 1, b, sizeof b);
        snprintf(range, sizeof range, " (%s..%s)", a, b);
    }
    /* "(pos 14)" goes first when the title is too long, then the range shown */
    for (int brief = 0; brief < 3; brief++) {
        char cut[120] = "";
        if (rows >= 1 && shown_rows < q + 1)   /* a table cut to fit says so, and what scrolls it */
            snprintf(cut, sizeof cut, "%s%d of %d%s, %s scrolls", cv->style.utf8 ? " \u00b7 " : " | ", shown_rows, q + 1,
                     brief < 2 ? range : "", cv->style.utf8 ? "\u2191\u2193" : "j/k");
        snprintf(buf, sizeof buf, "where %s%s looks%s%s%s", qn, brief ? "" : pos, sc->population ? ", mean over " : "",
                 sc->population ? sc->population : "", cut);
        if (render_utf8_width(buf) + 4 <= cv->r.w)
            break;
    }
    panel_section(cv, 0, buf, false);
    if (rows < 1)
        return;
    bool have_ov = sc->ov_src && value >= 0 && sc->ov_value == value;
    cv_text(cv, 1, 1, "pos tok weight", COL_DIM, 0);
    cv_text(cv, 30, 1, "score", COL_DIM, 0);
    if (have_ov && sc->ov_vs >= 0)   /* what the source adds to logit(value) - logit(ov_vs) */
        cv_printf(cv, 37, 1, COL_DIM, 0, "%d vs %d", value, sc->ov_vs);
    else if (have_ov)
        cv_printf(cv, 37, 1, COL_DIM, 0, "OV %s %d", glyph_str(cv->style, GL_ARROW), value);
    for (int k = first; k <= q && k < first + rows; k++) {
        int y = 2 + k - first;
        /* rows hidden above or below: an arrow at the edge */
        if ((k == first && first > 0) || (k == first + rows - 1 && k < q))
            cv_put(cv, 0, y, glyph(cv->style, k == first && first > 0 ? GL_MARK_UP : GL_MARK_DOWN), COL_WARN,
                   COL_DEFAULT, ATTR_BOLD);
        Canvas t = *cv;
        canvas_tag(&t, TAG_SOURCE, k, 0, 0);
        char name[16], tl[16];
        scene_pos_name(sc, k, name, sizeof name);
        scene_token_label(sc, sc->tokens[k], 3, tl, sizeof tl);
        bool cur = k == sc->cursor;
        int bg = cur ? COL_CURSOR : COL_DEFAULT, fg = cur ? COL_INK_DARK : COL_DEFAULT;
        snprintf(buf, sizeof buf, "%-4s%3s", name, tl);
        cv_text_bg(&t, 1, y, buf, fg, bg, cur ? ATTR_BOLD : 0);
        float w = sc->pattern[(size_t)q * sc->T + k];
        panel_bar(&t, 9, y, 10, w, k == sc->block_source ? COL_BAD : COL_LABEL);   /* in eighths */
        float s = sc->scores[(size_t)q * sc->T + k];
        snprintf(buf, sizeof buf, "%.4f", (double)w);
        cv_text(&t, 20, y, buf, COL_VALUE, w >= 0.1f ? ATTR_BOLD : 0);
        if (isfinite(s))
            snprintf(buf, sizeof buf, "%+8.2f", (double)s);
        else
            snprintf(buf, sizeof buf, "%8s", "blocked");
        cv_text(&t, 27, y, buf, isfinite(s) ? COL_DEFAULT : COL_BAD, 0);
        float ov = have_ov ? sc->ov_src[k] : NAN;
        if (have_ov) {
            snprintf(buf, sizeof buf, "%+9.2f", (double)ov);
            cv_text(&t, 36, y, buf, ov > 0.5f ? COL_GOOD : ov < -0.5f ? COL_BAD : COL_DIM, 0);
        }
    }
}
