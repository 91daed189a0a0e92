/* status.c: the title line and the status line of switches. */
#include "panel_draw.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    if (sc->population) {   /* population mode: its size and kind (or file) whole, where the panels cut it */
        char pop[200];
        snprintf(pop, sizeof pop, "means over %s  %s  ? help", sc->population, mode);
        if (render_utf8_width(pop) + 1 <= cv->r.w - x - 20)
            snprintf(buf, sizeof buf, "%s", pop);
    }
    int right_w = render_utf8_width(buf) + 1;
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
    if (render_utf8_width(label) + render_utf8_width(cfg) <= room)
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
    int x = cv_text(cv, 0, 0, narrow ? "QK" : "QK terms", COL_LABEL, 0) + 1;
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
        x = cv_printf(cv, x, 0, COL_DEFAULT, 0, "layer %d/%d head %d/%d", sc->layer, sc->L, sc->head, sc->H) + 2;
    }
    /* where the interventions act, as --ablate spells them: the switches
     * above belong to that head, not always to the one shown */
    if (sc->ablation_text && sc->ablation_text[0]) {
        x = cv_text(cv, x, 0, glyph_str(cv->style, GL_VLINE), COL_DIM, 0) + 1;
        cv_text(cv, x, 0, sc->ablation_text, COL_WARN, ATTR_BOLD);
    }
}
