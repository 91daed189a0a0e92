/* panels.c: the explorer's panels, from a Scene to cells. */
#include "panels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- scene helpers -------------------------------------------------------- */

void scene_token_label(const Scene *sc, int token, int width, char *buf, size_t size)
{
    if (token == sc->Vo)
        snprintf(buf, size, "%s", width >= 3 ? "BOS" : "B");
    else if (token == sc->Vo + 1)
        snprintf(buf, size, "%s", width >= 3 ? "MID" : "M");
    else
        snprintf(buf, size, "%d", token);
}

void scene_pos_name(const Scene *sc, int pos, char *buf, size_t size)
{
    if (pos == 0)
        snprintf(buf, size, "BOS");
    else if (pos <= sc->n)
        snprintf(buf, size, "a%d", pos);
    else if (pos == sc->n + 1)
        snprintf(buf, size, "MID");
    else
        snprintf(buf, size, "b%d", pos - sc->n - 1);
}

int scene_right(const Scene *sc, const int *pred)
{
    int right = 0;
    for (int i = 0; i < sc->n; i++)
        right += pred[i] == sc->sorted[i];
    return right;
}

void scene_topk(const Scene *sc, int i, int *vals, float *probs, int k)
{
    const float *p = sc->prob + (size_t)i * sc->Vo;
    for (int j = 0; j < k; j++) {
        vals[j] = -1;
        probs[j] = -1;
    }
    for (int v = 0; v < sc->Vo; v++) {
        float x = p[v];
        for (int j = 0; j < k; j++) {
            if (x > probs[j]) {   /* insert, shifting the rest down */
                for (int m = k - 1; m > j; m--) {
                    vals[m] = vals[m - 1];
                    probs[m] = probs[m - 1];
                }
                vals[j] = v;
                probs[j] = x;
                break;
            }
        }
    }
}

bool scene_qk_terms(const Scene *sc, int q, int k, float terms[4])
{
    if (sc->layer != 0 || !sc->qk[0] || q < 0 || k < 0 || q >= sc->T || k >= sc->T)
        return false;
    int tq = sc->tokens[q], tk = sc->tokens[k], V = sc->V, T = sc->T;
    terms[0] = sc->qk[CV_QK_TT][(size_t)tq * V + tk];
    terms[1] = sc->qk[CV_QK_TP][(size_t)tq * T + k];
    terms[2] = sc->qk[CV_QK_PT][(size_t)q * V + tk];
    terms[3] = sc->qk[CV_QK_PP][(size_t)q * T + k];
    return true;
}

float scene_ov_contribution(const Scene *sc, int q, int k, int value)
{
    /* the head's output reaches the logits directly only in a one-layer model */
    if (sc->L != 1 || !sc->ov_tok || value < 0 || value >= sc->Vo || k > q)
        return NAN;
    int tk = sc->tokens[k];
    float ov = sc->ov_tok[(size_t)tk * sc->Vo + value];
    if (!sc->ov_drop_pos)
        ov += sc->ov_pos[(size_t)k * sc->Vo + value];
    return sc->pattern[(size_t)q * sc->T + k] * ov;
}

void scene_circuit_shape(const Scene *sc, int view, int *rows, int *cols)
{
    int V = sc->V, T = sc->T, Vo = sc->Vo;
    static const int tok_rows[CV_COUNT] = {1, 1, 0, 0, 1, 0};
    static const int tok_cols[CV_COUNT] = {1, 0, 1, 0, -1, -1};
    *rows = tok_rows[view] ? V : T;
    *cols = tok_cols[view] > 0 ? V : tok_cols[view] == 0 ? T : Vo;
}

const float *scene_circuit_data(const Scene *sc, int view, float *range)
{
    if (view >= CV_QK_TT && view <= CV_QK_PP) {
        *range = sc->qk_range[view];
        return sc->qk[view];
    }
    *range = sc->ov_range[view - CV_OV_TOK];
    return view == CV_OV_TOK ? sc->ov_tok : sc->ov_pos;
}

const char *circuit_view_name(int view)
{
    static const char *names[CV_COUNT] = {"QK token-token", "QK token-pos", "QK pos-token", "QK pos-pos",
                                          "OV token", "OV position"};
    return view >= 0 && view < CV_COUNT ? names[view] : "?";
}

const char *circuit_view_formula(int view)
{
    static const char *f[CV_COUNT] = {"W_E W_Q W_K^T W_E^T", "W_E W_Q W_K^T W_pos^T", "W_pos W_Q W_K^T W_E^T",
                                      "W_pos W_Q W_K^T W_pos^T", "W_E W_V W_O W_U", "W_pos W_V W_O W_U"};
    return view >= 0 && view < CV_COUNT ? f[view] : "?";
}

void scene_circuit_marks(const Scene *sc, int view, int *row, int *col)
{
    int q = sc->sel, k = sc->cursor, i = scene_pred_index(sc, q);
    int tq = sc->tokens[q], tk = sc->tokens[k];
    int out = i >= 0 ? sc->pred[i] : -1;
    switch (view) {
    case CV_QK_TT: *row = tq; *col = tk; break;
    case CV_QK_TP: *row = tq; *col = k; break;
    case CV_QK_PT: *row = q; *col = tk; break;
    case CV_QK_PP: *row = q; *col = k; break;
    case CV_OV_TOK: *row = tk; *col = out; break;
    default: *row = k; *col = out; break;
    }
}

/* What one cell of a view shows under a scale: the value itself, or (per
 * row) its distance from the row's mean over the row's own largest one. */
typedef struct RowNorm {
    float mean, inv;
} RowNorm;

static float shown(float v, RowNorm n) { return (v - n.mean) * n.inv; }

/* ---- small drawing helpers ------------------------------------------------ */

static void hline(Canvas *cv, int x, int y, int w)
{
    for (int i = 0; i < w; i++)
        cv_put(cv, x + i, y, glyph(cv->style, GL_HLINE), COL_DIM, COL_DEFAULT, 0);
}

/* A section title: "── text ────" across the canvas width. */
static void section(Canvas *cv, int y, const char *text, bool focused)
{
    hline(cv, 0, y, 1);
    int x = cv_text(cv, 2, y, text, focused ? COL_KEY : COL_LABEL, focused ? ATTR_BOLD : 0);
    hline(cv, x + 1, y, cv->r.w - x - 1);
}

static int text_at(Canvas *cv, int x, int y, int fg, int attr, const char *s)
{
    return cv_text(cv, x, y, s, fg, attr);
}

/* ---- title, status, keys -------------------------------------------------- */

void render_title(Canvas *cv, const Scene *sc, const char *page_tabs, int page)
{
    cv_fill(cv, ' ', COL_TITLE, COL_BAR, 0);
    char buf[256];
    int x = cv_text_bg(cv, 1, 0, "sortlens", COL_TITLE, COL_BAR, ATTR_BOLD) + 2;
    if (page_tabs) {
        /* "1 Sort|2 Attention|3 Circuits": the current one reversed */
        char tabs[128];
        snprintf(tabs, sizeof tabs, "%s", page_tabs);
        int idx = 0;
        for (char *tok = strtok(tabs, "|"); tok; tok = strtok(NULL, "|"), idx++) {
            Canvas t = *cv;
            canvas_tag(&t, TAG_PAGE, idx, 0, 0);
            x = cv_text_bg(&t, x, 0, tok, COL_TITLE, COL_BAR, idx == page ? ATTR_REVERSE | ATTR_BOLD : 0) + 1;
        }
        x++;
    }
    const char *mode = sc->greedy ? "greedy" : "teacher-forced";
    snprintf(buf, sizeof buf, "%s  ? help", mode);
    int right_w = utf8_width(buf) + 1;
    if (cv->r.w - right_w > x)
        cv_text_bg(cv, cv->r.w - right_w, 0, buf, COL_TITLE, COL_BAR, ATTR_BOLD);
    else
        right_w = 0;
    /* the model and its shape, as much as fits */
    char cfg[128];
    snprintf(cfg, sizeof cfg, "  %d layer%s %d head%s, lists of %d values 0..%d", sc->L, sc->L == 1 ? "" : "s", sc->H,
             sc->H == 1 ? "" : "s", sc->n, sc->Vo - 1);
    const char *label = sc->model_label ? sc->model_label : "";
    int room = cv->r.w - right_w - x - 1;
    if (utf8_width(label) + utf8_width(cfg) <= room)
        snprintf(buf, sizeof buf, "%s%s", label, cfg);
    else
        snprintf(buf, sizeof buf, "%s", label);
    if (room > 0) {
        Canvas t = canvas_sub(*cv, x, 0, room, 1);
        cv_text_bg(&t, 0, 0, buf, COL_TITLE, COL_BAR, 0);
    }
}

void render_status(Canvas *cv, const Scene *sc)
{
    bool narrow = cv->r.w < 110;
    static const char *long_terms[4] = {"tok-tok", "tok-pos", "pos-tok", "pos-pos"};
    static const char *short_terms[4] = {"tt", "tp", "pt", "pp"};
    const char *const *terms = narrow ? short_terms : long_terms;
    int x = text_at(cv, 0, 0, COL_LABEL, 0, narrow ? "QK" : "QK terms") + 1;
    for (int t = 0; t < 4; t++) {
        bool off = sc->qk_off & (1u << t);
        char buf[32];
        x = cv_printf(cv, x, 0, COL_KEY, ATTR_BOLD, "%d", t + 1);
        snprintf(buf, sizeof buf, "%s %s", terms[t], off ? "OFF" : "on");
        x = cv_text(cv, x + 1, 0, buf, off ? COL_BAD : COL_DEFAULT, off ? ATTR_BOLD : 0) + 2;
    }
    x = cv_text(cv, x, 0, glyph_str(cv->style, GL_VLINE), COL_DIM, 0) + 1;
    x = cv_text(cv, x, 0, "p", COL_KEY, ATTR_BOLD) + 1;
    x = cv_text(cv, x, 0, narrow ? "W_pos" : "W_pos in OV", COL_DEFAULT, 0) + 1;
    x = cv_text(cv, x, 0, sc->ov_drop_pos ? "OFF" : "on", sc->ov_drop_pos ? COL_BAD : COL_DEFAULT,
                sc->ov_drop_pos ? ATTR_BOLD : 0) + 2;
    x = cv_text(cv, x, 0, glyph_str(cv->style, GL_VLINE), COL_DIM, 0) + 1;
    x = cv_text(cv, x, 0, "a", COL_KEY, ATTR_BOLD) + 1;
    x = cv_text(cv, x, 0, narrow ? "blocked" : "blocked source", COL_DEFAULT, 0) + 1;
    if (sc->block_source >= 0) {
        char name[16], buf[48];
        scene_pos_name(sc, sc->block_source, name, sizeof name);
        snprintf(buf, sizeof buf, narrow ? "%s" : "%s (pos %d)", name, sc->block_source);
        x = cv_text(cv, x, 0, buf, COL_BAD, ATTR_BOLD) + 2;
    } else {
        x = cv_text(cv, x, 0, "none", COL_DEFAULT, 0) + 2;
    }
    if (sc->H > 1 || sc->L > 1) {
        x = cv_text(cv, x, 0, glyph_str(cv->style, GL_VLINE), COL_DIM, 0) + 1;
        cv_printf(cv, x, 0, COL_DEFAULT, 0, "layer %d/%d head %d/%d", sc->layer, sc->L, sc->head, sc->H);
    }
}

static const struct KeyHelp {
    const char *key, *what;
    bool in_line;   /* shown on the key line */
} key_help[] = {
    {"\u2190\u2192 h l", "step the prediction position", true},
    {"\u2191\u2193 k j", "move the cursor over source positions", true},
    {"e 0-9", "edit the list (Enter applies, Esc cancels)", true},
    {"r", "a random list", true},
    {"f", "find a random list the model gets wrong", true},
    {"g", "greedy / teacher-forced", true},
    {"1-4", "QK term tok-tok, tok-pos, pos-tok, pos-pos off / on", true},
    {"p", "W_pos in the OV path off / on", true},
    {"a", "block attention to the source under the cursor (again: unblock)", true},
    {"x", "clear every intervention", false},
    {"c C", "next / previous circuit view (4 QK terms, OV token, OV position)", true},
    {"z", "zoom: the circuits whole, in place of the heatmap", true},
    {"n", "colour scale: per row / values p99 / whole matrix", true},
    {"H J K L", "move the circuit cursor; a cut panel pans with it", true},
    {"s", "attention heatmap: weights / scores", true},
    {"[ ]", "previous / next head (models with several heads)", false},
    {"{ }", "previous / next layer (models with several layers)", false},
    {"Tab", "next page (small terminals)", true},
    {"mouse", "click a token, a heatmap cell or a circuit cell to select it", false},
    {"?", "this help", true},
    {"q", "quit", true},
};

void render_keys(Canvas *cv, bool pages)
{
    cv_fill(cv, ' ', COL_TITLE, COL_BAR, 0);
    int x = 1;
    Style st = cv->style;
    /* the key line lists keys by importance, as many as fit */
    static const char *const order[] = {"\u2190\u2192 h l", "\u2191\u2193 k j", "e 0-9", "r", "Tab", "?", "q", "z", "c C",
                                        "n", "g", "1-4", "p", "a", "H J K L", "f", "s"};
    for (size_t o = 0; o < sizeof order / sizeof order[0]; o++) {
        size_t i = 0;
        while (i < sizeof key_help / sizeof key_help[0] && strcmp(key_help[i].key, order[o]) != 0)
            i++;
        if (i == sizeof key_help / sizeof key_help[0] || !key_help[i].in_line ||
            (!pages && strcmp(key_help[i].key, "Tab") == 0))
            continue;
        /* short forms for the line */
        const char *k = key_help[i].key, *w = key_help[i].what;
        static const char *short_what[][2] = {
            {"\u2190\u2192 h l", "position"}, {"\u2191\u2193 k j", "source"}, {"e 0-9", "edit"},
            {"r", "random"}, {"f", "find wrong"}, {"g", "greedy/TF"}, {"1-4", "QK terms"},
            {"p", "W_pos"}, {"a", "ablate"}, {"c C", "circuit"}, {"s", "scores"}, {"Tab", "page"},
            {"z", "zoom"}, {"n", "scale"}, {"H J K L", "pan"},
            {"?", "help"}, {"q", "quit"},
        };
        for (size_t j = 0; j < sizeof short_what / sizeof short_what[0]; j++)
            if (strcmp(short_what[j][0], k) == 0)
                w = short_what[j][1];
        if (strcmp(k, "\u2190\u2192 h l") == 0)
            k = st.utf8 ? "\u2190\u2192" : "h/l";
        else if (strcmp(k, "\u2191\u2193 k j") == 0)
            k = st.utf8 ? "\u2191\u2193" : "j/k";
        else if (strcmp(k, "e 0-9") == 0)
            k = "e";
        else if (strcmp(k, "c C") == 0)
            k = "c";
        else if (strcmp(k, "H J K L") == 0)
            k = "HJKL";
        int need = utf8_width(k) + 1 + utf8_width(w) + 2;
        if (x + need > cv->r.w)
            continue;   /* a shorter one further on may still fit */
        x = cv_text_bg(cv, x, 0, k, COL_KEY, COL_BAR, ATTR_BOLD) + 1;
        x = cv_text_bg(cv, x, 0, w, COL_TITLE, COL_BAR, 0) + 2;
    }
}

void render_help(Canvas *cv, const Scene *sc)
{
    cv_fill(cv, ' ', COL_DEFAULT, COL_DEFAULT, 0);
    section(cv, 0, "keys (any key closes this help)", true);
    int y = 1, x = 1;
    int n = (int)(sizeof key_help / sizeof key_help[0]);
    int col_w = 0;
    for (int i = 0; i < n; i++) {
        int w = 8 + utf8_width(key_help[i].what);
        if (w > col_w)
            col_w = w;
    }
    int rows_avail = cv->r.h - 1 - 5;
    if (rows_avail < 1)
        rows_avail = cv->r.h - 1;
    int columns = cv->r.w >= 2 * col_w + 4 && n > rows_avail ? 2 : 1;
    int per_col = (n + columns - 1) / columns;
    for (int i = 0; i < n; i++) {
        int c = i / per_col, r = i % per_col;
        int cx = x + c * (col_w + 3);
        cv_text(cv, cx, y + r, key_help[i].key, COL_KEY, ATTR_BOLD);
        cv_text(cv, cx + 8, y + r, key_help[i].what, COL_DEFAULT, 0);
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
    (void)sc;
}

/* ---- token strip and predictions ------------------------------------------ */

/* The label column left of the strip and the prediction rows. */
#define STRIP_LABEL_W 9

static int strip_first(const Scene *sc, int w, int cw, int first)
{
    int visible = (w - STRIP_LABEL_W) / cw;
    if (visible < 1)
        visible = 1;
    if (visible >= sc->T)
        return 0;
    /* keep the selected query, its predicted token and the cursor in view */
    int lo = sc->sel - 1 < sc->cursor ? sc->sel - 1 : sc->cursor;
    int hi = sc->sel + 1 > sc->cursor ? sc->sel + 1 : sc->cursor;
    if (first < 0 || sc->sel < first || sc->sel + 1 >= first + visible) {
        first = (lo + hi) / 2 - visible / 2;
        if (hi - lo >= visible)
            first = sc->sel - visible / 2;
    }
    if (first > sc->T - visible)
        first = sc->T - visible;
    if (first < 0)
        first = 0;
    return first;
}

int render_strip(Canvas *cv, const Scene *sc, int cw, int first)
{
    if (cw > 8)
        cw = 8;
    first = strip_first(sc, cv->r.w, cw, first);
    text_at(cv, 0, 0, COL_LABEL, 0, "tokens");
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
    if (mark_end + 2 + utf8_width(buf) <= cv->r.w)
        text_at(cv, mark_end + 2, 1, COL_DIM, 0, buf);
    text_at(cv, 0, 1, COL_DIM, 0, "");
    return first;
}

void render_predictions(Canvas *cv, const Scene *sc, int cw, int first)
{
    if (cw > 8)
        cw = 8;
    first = strip_first(sc, cv->r.w, cw, first);
    int visible = (cv->r.w - STRIP_LABEL_W) / cw;
    text_at(cv, 0, 0, COL_LABEL, 0, "predicts");
    text_at(cv, 0, 1, COL_LABEL, 0, "p %");
    text_at(cv, 0, 2, COL_LABEL, 0, "runner-up");
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
        int pct = (int)floorf(pr * 100.0f);
        if (pct > 100)
            pct = 100;
        if (pct < 0)
            pct = 0;
        if (cw < 4 && pct > 99)
            pct = 99;   /* two digits in narrow cells; the detail line has the exact value */
        snprintf(buf, sizeof buf, "%*d", cw >= 4 ? cw - 1 : 2, pct);
        Cell hc = heat_cell(cv->style, RAMP_SEQUENTIAL, pr, 0, 1);
        if (cv->style.depth >= DEPTH_256)
            cv_text_bg(&t, x, 1, buf, hc.fg, hc.bg, 0);
        else
            cv_text(&t, x, 1, buf, COL_DEFAULT, 0);
        int tv[2];
        float tp[2];
        scene_topk(sc, i, tv, tp, 2);
        if (tv[1] >= 0) {
            snprintf(buf, sizeof buf, "%*d", cw >= 4 ? cw - 2 : 2, tv[1]);
            cv_text(&t, x, 2, buf, tp[1] >= 0.05f ? COL_WARN : COL_DIM, 0);
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
    int x = text_at(cv, 0, 0, COL_LABEL, 0, "output") + 3;
    x = write_values(cv, x, 0, sc, sc->pred, true) + 1;
    int right = scene_right(sc, sc->pred);
    char buf[64];
    if (right == sc->n)
        snprintf(buf, sizeof buf, "%s sorted", glyph_str(cv->style, GL_RIGHT));
    else
        snprintf(buf, sizeof buf, "%s %d/%d right", glyph_str(cv->style, GL_WRONG), right, sc->n);
    x = cv_text(cv, x, 0, buf, right == sc->n ? COL_GOOD : COL_BAD, ATTR_BOLD) + 3;
    if (sc->base_pred) {
        bool same = memcmp(sc->base_pred, sc->pred, (size_t)sc->n * sizeof(int)) == 0;
        x = cv_text(cv, x, 0, same ? "no change from the intervention" : "without interventions:", COL_WARN, 0) + 1;
        if (!same) {
            x = write_values(cv, x, 0, sc, sc->base_pred, false);
            int br = scene_right(sc, sc->base_pred);
            cv_printf(cv, x, 0, COL_DIM, 0, "(%d/%d)", br, sc->n);
        }
    } else if (sc->message) {
        cv_text(cv, x, 0, sc->message, sc->message_bad ? COL_BAD : COL_WARN, 0);
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
    int tv[SCENE_TOPK];
    float tp[SCENE_TOPK];
    scene_topk(sc, i, tv, tp, SCENE_TOPK);
    int x = cv_printf(cv, 0, 0, COL_LABEL, 0, "at %s (pos %d) %s %s:", qn, sc->sel, glyph_str(cv->style, GL_ARROW), bn);
    snprintf(buf, sizeof buf, "%d", sc->pred[i]);
    x = cv_text(cv, x + 1, 0, buf, COL_VALUE, ATTR_BOLD);
    x = cv_printf(cv, x + 1, 0, COL_DEFAULT, 0, "p %.4f", (double)sc->prob[(size_t)i * sc->Vo + sc->pred[i]]);
    x = cv_text(cv, x, 0, ";  then", COL_DIM, 0);
    for (int k = 1; k < SCENE_TOPK; k++) {
        if (tv[k] < 0)
            break;
        x = cv_printf(cv, x + 1, 0, COL_DEFAULT, 0, tp[k] >= 0.001f ? "%d (%.4f)" : "%d (%.1e)", tv[k], (double)tp[k]);
    }
    bool right = sc->pred[i] == sc->sorted[i];
    x = cv_printf(cv, x + 2, 0, COL_DIM, 0, "true %d", sc->sorted[i]);
    x = cv_text(cv, x + 1, 0, glyph_str(cv->style, right ? GL_RIGHT : GL_WRONG), right ? COL_GOOD : COL_BAD, ATTR_BOLD);
    if (!right)
        cv_printf(cv, x + 1, 0, COL_BAD, 0, "(p of %d: %.4f)", sc->sorted[i],
                  (double)sc->prob[(size_t)i * sc->Vo + sc->sorted[i]]);
}

void render_cursor_line(Canvas *cv, const Scene *sc)
{
    char qn[16], kn[16], tl[16], buf[320];
    int q = sc->sel, k = sc->cursor;
    scene_pos_name(sc, q, qn, sizeof qn);
    scene_pos_name(sc, k, kn, sizeof kn);
    scene_token_label(sc, sc->tokens[k], 3, tl, sizeof tl);
    int x = cv_printf(cv, 0, 0, COL_LABEL, 0, "%s %s %s (pos %d = %s):", qn,
                      cv->r.w < 100 ? glyph_str(cv->style, GL_ARROW) : "attends to", kn, k, tl);
    if (k > q) {
        cv_text(cv, x + 1, 0, "masked: a query never sees later positions", COL_DIM, 0);
        return;
    }
    float w = sc->pattern[(size_t)q * sc->T + k], s = sc->scores[(size_t)q * sc->T + k];
    x = cv_printf(cv, x + 1, 0, COL_VALUE, ATTR_BOLD, "weight %.4f", (double)w);
    x = cv_printf(cv, x + 2, 0, COL_DEFAULT, 0, "score %+.3f", (double)s);
    float t[4];
    if (cv->r.w < 100) {   /* no room for the terms on this line */
        if (sc->block_source == k)
            cv_text(cv, x + 2, 0, "(blocked)", COL_BAD, 0);
        return;
    }
    if (scene_qk_terms(sc, q, k, t)) {
        static const char *nm[4] = {"tt", "tp", "pt", "pp"};
        x = cv_text(cv, x + 1, 0, "= (", COL_DIM, 0);
        for (int j = 0; j < 4; j++) {
            bool off = sc->qk_off & (1u << j);
            if (j)
                x = cv_text(cv, x + 1, 0, "+", COL_DIM, 0) + 1;
            if (off)
                snprintf(buf, sizeof buf, "%s off", nm[j]);
            else
                snprintf(buf, sizeof buf, "%s %+.2f", nm[j], (double)t[j]);
            x = cv_text(cv, x, 0, buf, off ? COL_BAD : COL_DEFAULT, 0);
        }
        cv_printf(cv, x, 0, COL_DIM, 0, ") / %s%d", glyph_str(cv->style, GL_SQRT), sc->E);
    } else if (sc->block_source == k) {
        cv_text(cv, x + 2, 0, "(blocked)", COL_BAD, 0);
    }
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

/* First index of a window of `visible` out of `count` that keeps a and b in view. */
static int window_first(int count, int visible, int a, int b)
{
    if (visible >= count)
        return 0;
    int lo = a < b ? a : b, hi = a < b ? b : a;
    int first = (lo + hi) / 2 - visible / 2;
    if (hi - lo >= visible)
        first = a - visible / 2;
    if (first > count - visible)
        first = count - visible;
    if (first < 0)
        first = 0;
    return first;
}

void render_attention(Canvas *cv, const Scene *sc, int cw)
{
    Style st = cv->style;
    char buf[128];
    bool scores = sc->show_scores;
    int scale = sc->circuit_scale >= 0 && sc->circuit_scale < CS_COUNT ? sc->circuit_scale : CS_ROW;
    float range = scene_attention_range(sc, scale, scores);
    const char *sep = st.utf8 ? " \u00b7 " : " | ";
    if (sc->H > 1 || sc->L > 1)
        snprintf(buf, sizeof buf, "attention %s, layer %d head %d (query %s key)%s%s", scores ? "scores" : "weights",
                 sc->layer, sc->head, st.utf8 ? "\u00d7" : "x", sep, circuit_scale_name(scale));
    else
        snprintf(buf, sizeof buf, "attention %s (query %s key)%s%s", scores ? "scores" : "weights",
                 st.utf8 ? "\u00d7" : "x", sep, circuit_scale_name(scale));
    if (utf8_width(buf) + 4 > cv->r.w)   /* the scale goes first when the title is too long */
        *strstr(buf, sep) = '\0';
    section(cv, 0, buf, false);
    int T = sc->T;
    int vis_cols = (cv->r.w - ATTN_GUTTER) / cw, vis_rows = cv->r.h - 3;
    if (vis_cols < 1 || vis_rows < 1)
        return;
    int c0 = window_first(T, vis_cols, sc->cursor, sc->sel);
    int r0 = window_first(T, vis_rows, sc->sel, sc->cursor);
    /* key labels */
    for (int k = c0; k < T && k < c0 + vis_cols; k++) {
        char lab[16];
        scene_token_label(sc, sc->tokens[k], 1, lab, sizeof lab);
        if ((int)strlen(lab) > cw)
            snprintf(lab, sizeof lab, "%d", k % 100);
        int x = ATTN_GUTTER + (k - c0) * cw;
        /* adjacent labels touch ("4217"): alternate their colour (and, in
         * monochrome, their weight) so that each reads on its own */
        int fg = sc->tokens[k] >= sc->Vo ? COL_LABEL : (k % 2 ? COL_DEFAULT : COL_DIM), bg = COL_DEFAULT;
        int attr = k % 2 ? ATTR_BOLD : 0;
        if (k == sc->cursor)
            fg = COL_INK_DARK, bg = COL_CURSOR;
        if (k == sc->block_source)
            fg = COL_BAD, attr = ATTR_BOLD | ATTR_UNDERLINE;
        snprintf(buf, sizeof buf, "%*s", cw, lab);
        Canvas t = *cv;
        canvas_tag(&t, TAG_SOURCE, k, 0, 0);
        cv_text_bg(&t, x, 1, buf, fg, bg, attr);
    }
    for (int q = r0; q < T && q < r0 + vis_rows; q++) {
        int y = 2 + q - r0;
        char lab[16];
        scene_token_label(sc, sc->tokens[q], 3, lab, sizeof lab);
        snprintf(buf, sizeof buf, "%3s", lab);
        bool selq = q == sc->sel;
        if (selq)
            cv_put(cv, 0, y, glyph(st, GL_MARK_RIGHT), COL_KEY, COL_DEFAULT, ATTR_BOLD);
        Canvas t = *cv;
        RowNorm rn = attention_row_norm(sc, q, scores, scale);
        canvas_tag(&t, TAG_PRED, q, 0, 0);
        cv_text_bg(&t, 1, y, buf, selq ? COL_INK_DARK : sc->tokens[q] >= sc->Vo ? COL_LABEL : COL_DIM,
                   selq ? COL_SELECT : COL_DEFAULT, selq ? ATTR_BOLD : 0);
        for (int k = c0; k < T && k < c0 + vis_cols; k++) {
            int x = ATTN_GUTTER + (k - c0) * cw;
            canvas_tag(&t, TAG_ATTN, q, k, 0);
            bool cur = selq && k == sc->cursor;
            if (k > q) {   /* the causal mask */
                cv_put(&t, x, y, cur ? '[' : glyph(st, GL_MASK), cur ? COL_KEY : COL_DIM, COL_DEFAULT, 0);
                if (cw > 1)
                    cv_put(&t, x + 1, y, cur ? ']' : ' ', COL_KEY, COL_DEFAULT, 0);
                continue;
            }
            float v = scores ? sc->scores[(size_t)q * T + k] : sc->pattern[(size_t)q * T + k];
            v = isfinite(v) ? shown(v, rn) : 0.0f;
            Cell c = scores || heat_beyond(v, range) ? heat_cell_sat(st, v, range)
                                                     : heat_cell(st, RAMP_SEQUENTIAL, v, 0, range);
            if (scores && !isfinite(v))   /* a blocked source has a -inf score */
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
    int by = 2 + (T - r0 < vis_rows ? T - r0 : vis_rows);
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
        int nw = note[0] ? utf8_width(note) + 1 : 0;
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

void render_cursor_detail(Canvas *cv, const Scene *sc)
{
    char qn[16], kn[16], tl[16];
    int q = sc->sel, k = sc->cursor;
    scene_pos_name(sc, q, qn, sizeof qn);
    scene_pos_name(sc, k, kn, sizeof kn);
    scene_token_label(sc, sc->tokens[k], 3, tl, sizeof tl);
    section(cv, 0, "under the cursor", false);
    int x = cv_printf(cv, 1, 1, COL_DEFAULT, 0, "%s (%d) %s %s (%d) = %s:", qn, q, glyph_str(cv->style, GL_ARROW), kn, k, tl);
    if (k > q) {
        cv_text(cv, x + 1, 1, "masked", COL_DIM, 0);
        cv_text(cv, 1, 2, "a query never attends to a later position", COL_DIM, 0);
        return;
    }
    float w = sc->pattern[(size_t)q * sc->T + k], s = sc->scores[(size_t)q * sc->T + k];
    x = cv_printf(cv, x + 1, 1, COL_VALUE, ATTR_BOLD, "weight %.4f", (double)w);
    if (isfinite(s))
        cv_printf(cv, x + 2, 1, COL_DEFAULT, 0, "score %+.4f", (double)s);
    else
        cv_text(cv, x + 2, 1, "score -inf (blocked)", COL_BAD, 0);
    float t[4];
    if (!scene_qk_terms(sc, q, k, t)) {
        cv_text(cv, 1, 2, "(the four QK terms are defined for layer 0)", COL_DIM, 0);
        return;
    }
    static const char *nm[4] = {"tok-tok", "tok-pos", "pos-tok", "pos-pos"};
    float sum = 0;
    for (int j = 0; j < 4; j++) {
        bool off = sc->qk_off & (1u << j);
        int y = 2 + j / 2, xx = 1 + (j % 2) * 21;
        cv_text(cv, xx, y, j == 0 ? "=" : "+", COL_DIM, 0);
        if (off)
            cv_printf(cv, xx + 2, y, COL_BAD, ATTR_BOLD, "%s %9s", nm[j], "off");
        else
            cv_printf(cv, xx + 2, y, COL_DEFAULT, 0, "%s %+9.3f", nm[j], (double)t[j]);
        if (!off)
            sum += t[j];
    }
    cv_printf(cv, 1, 4, COL_DIM, 0, "  (sum %+.3f) / %s%d = %+.4f, the score", (double)sum, glyph_str(cv->style, GL_SQRT),
              sc->E, (double)(sum / sqrtf((float)sc->E)));
}

void render_sources(Canvas *cv, const Scene *sc)
{
    int q = sc->sel, i = scene_pred_index(sc, q);
    char qn[16], buf[160];
    scene_pos_name(sc, q, qn, sizeof qn);
    int value = i >= 0 ? sc->pred[i] : -1;
    snprintf(buf, sizeof buf, "where %s (pos %d) looks", qn, q);
    section(cv, 0, buf, false);
    int rows = cv->r.h - 2;
    if (rows < 1)
        return;
    bool have_ov = !isnan(scene_ov_contribution(sc, q, 0, value));
    cv_text(cv, 1, 1, "pos tok weight", COL_DIM, 0);
    cv_text(cv, 30, 1, "score", COL_DIM, 0);
    if (have_ov)
        cv_printf(cv, 37, 1, COL_DIM, 0, "OV %s %d", glyph_str(cv->style, GL_ARROW), value);
    int first = window_first(q + 1, rows, sc->cursor, sc->cursor);
    for (int k = first; k <= q && k < first + rows; k++) {
        int y = 2 + k - first;
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
        /* a bar of 10 cells in eighths */
        int eighths = (int)lroundf(w * 80.0f);
        for (int c = 0; c < 10; c++) {
            int e = eighths - c * 8;
            uint32_t ch = ' ';
            if (e >= 8)
                ch = glyph(cv->style, GL_BLOCK);
            else if (e > 0)
                ch = cv->style.utf8 ? (uint32_t)(0x2590 - e) : (e >= 4 ? '#' : ' ');
            cv_put(&t, 9 + c, y, ch, k == sc->block_source ? COL_BAD : COL_LABEL, COL_DEFAULT, 0);
        }
        float s = sc->scores[(size_t)q * sc->T + k];
        snprintf(buf, sizeof buf, "%.4f", (double)w);
        cv_text(&t, 20, y, buf, COL_VALUE, w >= 0.1f ? ATTR_BOLD : 0);
        if (isfinite(s))
            snprintf(buf, sizeof buf, "%+8.2f", (double)s);
        else
            snprintf(buf, sizeof buf, "%8s", "blocked");
        cv_text(&t, 27, y, buf, isfinite(s) ? COL_DEFAULT : COL_BAD, 0);
        float ov = scene_ov_contribution(sc, q, k, value);
        if (!isnan(ov)) {
            snprintf(buf, sizeof buf, "%+9.2f", (double)ov);
            cv_text(&t, 36, y, buf, ov > 0.5f ? COL_GOOD : ov < -0.5f ? COL_BAD : COL_DIM, 0);
        }
    }
}

/* ---- circuit scales ------------------------------------------------------- */

bool circuit_axis_is_token(int view, bool is_row)
{
    if (is_row)
        return view == CV_QK_TT || view == CV_QK_TP || view == CV_OV_TOK;
    return view == CV_QK_TT || view == CV_QK_PT;   /* OV columns are output values, all of them values */
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

float circuit_value_range(const float *data, int rows, int cols, int view, int Vo)
{
    if (!data || rows < 1 || cols < 1)
        return 0;
    int nr = circuit_axis_is_token(view, true) && Vo < rows ? Vo : rows;
    int nc = circuit_axis_is_token(view, false) && Vo < cols ? Vo : cols;
    size_t n = (size_t)nr * (size_t)nc, k = 0;
    float *a = malloc(n * sizeof *a);
    if (!a) {   /* no memory for the sort: the largest |x| of the value block */
        float m = 0;
        for (int r = 0; r < nr; r++)
            for (int c = 0; c < nc; c++)
                if (fabsf(data[(size_t)r * cols + c]) > m)
                    m = fabsf(data[(size_t)r * cols + c]);
        return m;
    }
    for (int r = 0; r < nr; r++)
        for (int c = 0; c < nc; c++) {
            float v = fabsf(data[(size_t)r * cols + c]);
            if (isfinite(v))
                a[k++] = v;
        }
    float out = 0;
    if (k > 0) {
        qsort(a, k, sizeof *a, cmp_float);
        /* nearest rank: the smallest value with at least p% of the cells at or below it */
        size_t rank = (k * CS_PERCENTILE + 99) / 100;
        out = a[rank > 0 ? rank - 1 : 0];
    }
    free(a);
    return out;
}

float scene_circuit_range(const Scene *sc, int view, int scale)
{
    float whole = 0;
    const float *data = scene_circuit_data(sc, view, &whole);
    if (scale != CS_VALUES || !data)
        return whole;
    if (sc->robust_range[view] > 0)
        return sc->robust_range[view];
    int rows, cols;
    scene_circuit_shape(sc, view, &rows, &cols);
    float r = circuit_value_range(data, rows, cols, view, sc->Vo);
    return r > 0 ? r : whole;
}

void circuit_row_norm(const float *row, int cols, float *mean, float *scale)
{
    double s = 0;
    for (int c = 0; c < cols; c++)
        s += row[c];
    float m = cols > 0 ? (float)(s / cols) : 0;
    float mx = 0;
    for (int c = 0; c < cols; c++)
        if (fabsf(row[c] - m) > mx)
            mx = fabsf(row[c] - m);
    *mean = m;
    *scale = mx;
}

const char *circuit_scale_name(int scale)
{
    static const char *names[CS_COUNT] = {"per row", "values p99", "whole"};
    return scale >= 0 && scale < CS_COUNT ? names[scale] : "?";
}

int scene_circuit_answer_col(const Scene *sc, int view)
{
    int i = scene_pred_index(sc, sc->sel);
    if (i < 0 || !sc->sorted)
        return -1;
    int ans = sc->sorted[i];
    if (view == CV_QK_TP || view == CV_QK_PP) {   /* key positions: where the answer sits in the list */
        for (int p = 1; p <= sc->n; p++)
            if (sc->values && sc->values[p - 1] == ans)
                return p;
        return -1;
    }
    return ans;
}

/* ---- circuit panels ------------------------------------------------------- */

#define CIRC_GUTTER 4   /* mark + 3-char label */

void render_circuit_size(const Scene *sc, int view, Style st, int *w, int *h)
{
    int rows, cols;
    scene_circuit_shape(sc, view, &rows, &cols);
    *w = CIRC_GUTTER + cols;
    *h = (style_half_blocks(st) ? (rows + 1) / 2 : rows) + CIRC_EXTRA_LINES;
}

static void axis_label(const Scene *sc, int view, bool is_row, int idx, char *buf, size_t size)
{
    bool tok;
    if (is_row)
        tok = view == CV_QK_TT || view == CV_QK_TP || view == CV_OV_TOK;
    else
        tok = view == CV_QK_TT || view == CV_QK_PT || view >= CV_OV_TOK;
    if (tok)
        scene_token_label(sc, idx, 3, buf, size);
    else
        snprintf(buf, size, "%d", idx);
}


static RowNorm row_norm_of(const float *data, int cols, int r, int scale)
{
    RowNorm n = {0, 1};
    if (scale != CS_ROW || r < 0)
        return n;
    float s;
    circuit_row_norm(data + (size_t)r * cols, cols, &n.mean, &s);
    n.inv = s > 0 ? 1 / s : 0;
    return n;
}

/* The section title of a circuit panel, as much as fits: the name, the
 * scale, the formula, and which rows and columns are in view. */
static void circuit_title(Canvas *cv, const Scene *sc, int view, bool focused, const char *clip)
{
    char buf[200];
    const char *name = circuit_view_name(view), *f = circuit_view_formula(view);
    const char *scale = circuit_scale_name(sc->circuit_scale);
    const char *sep = cv->style.utf8 ? " \u00b7 " : " | ";
    int w = cv->r.w - 4;   /* "─ " + text + " ─" */
    int ln = utf8_width(name), lf = utf8_width(f) + 2, ls = utf8_width(scale) + 3, lc = clip ? utf8_width(clip) + 3 : 0;
    bool with_clip = clip && ln + lc <= w;
    bool with_scale = ln + (with_clip ? lc : 0) + ls <= w;
    bool with_f = ln + (with_clip ? lc : 0) + (with_scale ? ls : 0) + lf <= w;
    /* the panel draws the model's table, whatever is switched off: say so */
    bool off = (view <= CV_QK_PP && (sc->qk_off & (1u << view))) || (view == CV_OV_POS && sc->ov_drop_pos);
    const char *pre = !off ? "" : view == CV_OV_POS ? "[removed] " : "[OFF] ";
    snprintf(buf, sizeof buf, "%s%s%s%s%s%s%s%s", pre, name, with_f ? "  " : "", with_f ? f : "", with_scale ? sep : "",
             with_scale ? scale : "", with_clip ? sep : "", with_clip ? clip : "");
    section(cv, 0, buf, focused);
}

void render_circuit(Canvas *cv, const Scene *sc, int view, int panel, bool focused)
{
    Style st = cv->style;
    char buf[200];
    int rows, cols;
    float whole = 0;
    scene_circuit_shape(sc, view, &rows, &cols);
    const float *data = scene_circuit_data(sc, view, &whole);
    if (!data) {
        circuit_title(cv, sc, view, focused, NULL);
        cv_text(cv, 1, 1, "(no circuit tables for this model)", COL_DIM, 0);
        return;
    }
    int scale = sc->circuit_scale >= 0 && sc->circuit_scale < CS_COUNT ? sc->circuit_scale : CS_ROW;
    float range = scale == CS_ROW ? 1.0f : scene_circuit_range(sc, view, scale);
    bool half = style_half_blocks(st);
    int mr, mc;
    scene_circuit_marks(sc, view, &mr, &mc);
    int ans = scene_circuit_answer_col(sc, view);
    int cr = mr, cc = mc;   /* the cursor: the marks, unless a cell was clicked or moved to */
    if (sc->free_panel == panel && sc->free_row >= 0 && sc->free_row < rows && sc->free_col >= 0 && sc->free_col < cols) {
        cr = sc->free_row;
        cc = sc->free_col;
    }
    int lines_avail = cv->r.h - CIRC_EXTRA_LINES;   /* title, ticks, value line, colour bar */
    int vis_rows = half ? lines_avail * 2 : lines_avail;
    int vis_cols = cv->r.w - CIRC_GUTTER;
    if (vis_cols < cols)
        vis_cols--;   /* a column for the "more to the right" arrow */
    if (vis_rows < 1 || vis_cols < 1) {
        circuit_title(cv, sc, view, focused, NULL);
        return;
    }
    int r0 = window_first(rows, vis_rows, cr, mr >= 0 ? mr : cr);
    if (half)
        r0 &= ~1;   /* whole pairs, so that a row keeps its half */
    int c0 = window_first(cols, vis_cols, cc, mc >= 0 ? mc : cc);
    int visible_rows = rows - r0 < vis_rows ? rows - r0 : vis_rows;
    int visible_cols = cols - c0 < vis_cols ? cols - c0 : vis_cols;
    char clip[128] = "";
    if (visible_rows < rows && visible_cols < cols)
        snprintf(clip, sizeof clip, "rows %d-%d cols %d-%d of %dx%d", r0, r0 + visible_rows - 1, c0,
                 c0 + visible_cols - 1, rows, cols);
    else if (visible_rows < rows)
        snprintf(clip, sizeof clip, "rows %d-%d of %d", r0, r0 + visible_rows - 1, rows);
    else if (visible_cols < cols)
        snprintf(clip, sizeof clip, "cols %d-%d of %d", c0, c0 + visible_cols - 1, cols);
    circuit_title(cv, sc, view, focused, clip[0] ? clip : NULL);

    /* Hidden columns: an arrow at each cut edge with the first / last column
     * shown next to it, so that the window is plain without the title.
     * Ticks keep clear of those labels. */
    int lo_end = CIRC_GUTTER, hi_start = CIRC_GUTTER + vis_cols;   /* ticks live in [lo_end, hi_start) */
    if (c0 > 0) {
        cv_put(cv, CIRC_GUTTER - 1, 1, glyph(st, GL_MARK_LEFT), COL_WARN, COL_DEFAULT, ATTR_BOLD);
        int len = snprintf(buf, sizeof buf, "%d", c0);
        bool clash = (mc >= c0 && mc < c0 + len + 1) || (ans >= c0 && ans < c0 + len + 1);
        if (!clash && vis_cols > 2 * len + 2) {
            cv_text(cv, CIRC_GUTTER, 1, buf, COL_WARN, 0);
            lo_end = CIRC_GUTTER + len + 1;
        }
    }
    if (c0 + visible_cols < cols) {
        int last = c0 + visible_cols - 1, len = snprintf(buf, sizeof buf, "%d", last);
        int xe = CIRC_GUTTER + vis_cols;   /* the arrow's column */
        bool clash = (mc > last - len - 1 && mc <= last) || (ans > last - len - 1 && ans <= last);
        cv_put(cv, xe, 1, glyph(st, GL_MARK_RIGHT), COL_WARN, COL_DEFAULT, ATTR_BOLD);
        if (!clash && vis_cols > 2 * len + 2) {
            cv_text(cv, xe - len, 1, buf, COL_WARN, 0);
            hi_start = xe - len - 1;
        }
    }
    /* column ticks every 10, the marked column, the answer */
    for (int c = c0; c < cols && c < c0 + vis_cols; c++) {
        int x = CIRC_GUTTER + c - c0;
        if (c == mc) {
            cv_put(cv, x, 1, glyph(st, GL_MARK_DOWN), c == ans ? COL_GOOD : COL_KEY, COL_DEFAULT, ATTR_BOLD);
        } else if (c == ans) {
            cv_put(cv, x, 1, glyph(st, GL_RIGHT), COL_GOOD, COL_DEFAULT, ATTR_BOLD);
        } else if (c % 10 == 0 && c + 1 < cols) {
            int len = snprintf(buf, sizeof buf, "%d", c);
            bool clash = (mc > c && mc < c + len + 1) || (ans > c && ans < c + len + 1);
            if (!clash && x >= lo_end && x + len <= hi_start)
                cv_text(cv, x, 1, buf, COL_DIM, 0);
        }
    }
    int nlines = half ? (visible_rows + 1) / 2 : visible_rows;
    long beyond = 0;
    for (int line = 0; line < nlines; line++) {
        int y = 2 + line;
        int ra = r0 + (half ? 2 * line : line), rb = half ? ra + 1 : -1;
        if (rb >= rows)
            rb = -1;
        /* row label: the marked row wins, else every 10th, else nothing */
        int labrow = -1;
        if (ra == mr || rb == mr)
            labrow = mr;
        else if (ra % 10 == 0)
            labrow = ra;
        else if (rb >= 0 && rb % 10 == 0)
            labrow = rb;
        if (labrow >= 0) {
            axis_label(sc, view, true, labrow, buf, sizeof buf);
            char lab[8];
            snprintf(lab, sizeof lab, "%3.3s", buf);
            if (labrow == mr)
                cv_put(cv, 0, y, glyph(st, GL_MARK_RIGHT), COL_KEY, COL_DEFAULT, ATTR_BOLD);
            cv_text(cv, 1, y, lab, labrow == mr ? COL_KEY : COL_DIM, labrow == mr ? ATTR_BOLD : 0);
        }
        if (labrow != mr && ((line == 0 && r0 > 0) || (line == nlines - 1 && r0 + visible_rows < rows)))
            cv_put(cv, 0, y, glyph(st, line == 0 ? GL_MARK_UP : GL_MARK_DOWN), COL_WARN, COL_DEFAULT, ATTR_BOLD);
        RowNorm na = row_norm_of(data, cols, ra, scale), nb = row_norm_of(data, cols, rb, scale);
        for (int c = c0; c < cols && c < c0 + vis_cols; c++) {
            int x = CIRC_GUTTER + c - c0;
            float va = shown(data[(size_t)ra * cols + c], na);
            float vb = rb >= 0 ? shown(data[(size_t)rb * cols + c], nb) : NAN;
            Cell cell = half ? heat_cell_pair_sat(st, va, vb, range) : heat_cell_sat(st, va, range);
            Canvas t = *cv;
            bool cur_here = c == cc && (ra == cr || rb == cr);
            canvas_tag(&t, TAG_CIRCUIT, cur_here ? cr : ra, c, panel);
            if (cur_here) {
                /* the cursor cell shows its own value's colour with a mark */
                Cell own = heat_cell_sat(st, cr == ra ? va : vb, range);
                int fg = st.depth >= DEPTH_256 ? palette_ink_on(own.bg) : COL_KEY;
                cv_put(&t, x, y, glyph(st, GL_CURSOR), fg, own.bg, ATTR_BOLD);
            } else {
                cv_put(&t, x, y, cell.ch, cell.fg, cell.bg, cell.attr);
            }
        }
    }
    if (scale != CS_ROW)   /* cells beyond the range, anywhere in the matrix */
        for (size_t i = 0; i < (size_t)rows * cols; i++)
            beyond += heat_beyond(data[i], range);
    /* the value under the cursor, and the published count for this view */
    int vy = 2 + nlines;
    if (vy < cv->r.h && cr >= 0 && cc >= 0 && cr < rows && cc < cols) {
        char rl[16], cl[16];
        axis_label(sc, view, true, cr, rl, sizeof rl);
        axis_label(sc, view, false, cc, cl, sizeof cl);
        bool rowtok = circuit_axis_is_token(view, true), coltok = circuit_axis_is_token(view, false);
        const char *rk = view >= CV_OV_TOK ? (rowtok ? "source" : "source pos") : (rowtok ? "query" : "query pos");
        const char *ck = view >= CV_OV_TOK ? "out" : (coltok ? "key" : "key pos");
        float v = data[(size_t)cr * cols + cc];
        /* positions also by name (pos 11 = MID), when the line has room */
        char rn[16] = "", cn[16] = "";
        if (!rowtok && cv->r.w >= 50) {
            scene_pos_name(sc, cr, rn, sizeof rn);
            snprintf(rl + strlen(rl), sizeof rl - strlen(rl), "=%s", rn);
        }
        if (!coltok && view < CV_OV_TOK && cv->r.w >= 50) {
            scene_pos_name(sc, cc, cn, sizeof cn);
            snprintf(cl + strlen(cl), sizeof cl - strlen(cl), "=%s", cn);
        }
        int x = cv_printf(cv, 1, vy, COL_DIM, 0, "%s %s, %s %s:", rk, rl, ck, cl);
        x = cv_printf(cv, x + 1, vy, COL_VALUE, ATTR_BOLD, fabsf(v) >= 1000 ? "%+.0f" : "%+.3f", (double)v);
        /* the value's place on the scale, when it fits whole */
        if (scale == CS_ROW) {
            RowNorm n = row_norm_of(data, cols, cr, scale);
            snprintf(buf, sizeof buf, "(row %+.2f)", (double)shown(v, n));
            if (x + 1 + utf8_width(buf) <= cv->r.w)
                x = cv_text(cv, x + 1, vy, buf, COL_DIM, 0);
        } else if (heat_beyond(v, range) && x + 9 <= cv->r.w) {
            x = cv_text(cv, x + 1, vy, "(beyond)", v > 0 ? COL_OVER : COL_UNDER, 0);
        }
        int hits = !sc->counts_known ? -1 : view == CV_OV_TOK ? sc->ov_copy_hits : view == CV_QK_TT ? sc->qk_next_hits : -1;
        if (hits >= 0) {
            snprintf(buf, sizeof buf, view == CV_OV_TOK ? "argmax=diagonal %d/%d" : "argmax=value+1 %d/%d", hits,
                     sc->Vo);
            if (x + 2 + utf8_width(buf) <= cv->r.w)
                cv_text(cv, cv->r.w - utf8_width(buf), vy, buf, hits == sc->Vo ? COL_GOOD : COL_LABEL, 0);
        }
    }
    /* the colour bar and what sets its range */
    if (vy + 1 < cv->r.h) {
        int room = cv->r.w - 2;
        const char *desc;
        if (scale == CS_ROW)
            desc = "each row centred, to its own max";
        else if (scale == CS_WHOLE)
            desc = "max |x| of the whole matrix";
        else if (circuit_axis_is_token(view, true) || circuit_axis_is_token(view, false))
            desc = "99th pct of |x|, BOS/MID rows+cols left out";
        else
            desc = "99th percentile of |x|";
        char d[96];
        if (beyond > 0)
            snprintf(d, sizeof d, "%s; %ld beyond", desc, beyond);
        else
            snprintf(d, sizeof d, "%s", desc);
        int bw = room < 40 ? room : 40;
        if (room >= 25 + 1 + utf8_width(d))
            bw = room - 1 - utf8_width(d) < 40 ? room - 1 - utf8_width(d) : 40;
        int used = scale == CS_VALUES ? render_colorbar_caps(cv, 1, vy + 1, bw, range)
                                      : render_colorbar(cv, 1, vy + 1, bw, RAMP_DIVERGING, -range, range);
        if (used + 2 + utf8_width(d) <= room + 1)
            cv_text(cv, used + 2, vy + 1, d, COL_DIM, 0);
    }
}

/* ---- editor and small screens -------------------------------------------- */

void render_editor(Canvas *cv, const Scene *sc, const char *text, int cursor, const char *error)
{
    cv_fill(cv, ' ', COL_DEFAULT, COL_DEFAULT, 0);
    char hint[96];
    snprintf(hint, sizeof hint, "edit: %d values 0..%d", sc->n, sc->Vo - 1);
    int x = cv_text(cv, 0, 0, hint, COL_KEY, ATTR_BOLD) + 1;
    int tail = utf8_width("  Enter apply  Esc cancel");
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
