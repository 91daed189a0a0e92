/* patching.c: the patching panel of a clean / corrupted pair: the
 * normalised logit difference of sl_patch (1: the clean run's, 0: the
 * corrupted run's) as a heatmap of hook x position for the selected
 * prediction position, the value under the source cursor at the end of each
 * row, and layer 0's four QK terms patched for the query, per source. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "panel_draw.h"
#include "sortlens/patch.h"

#define PATCH_LABEL_W 23

/* One row: its label, T cells from x0 (cw wide each, the cursor marked),
 * and the value at the cursor on the right. */
static void patch_row(Canvas *cv, const Scene *sc, int y, const char *label, const float *x, int last, int cw, int x0)
{
    cv_text(cv, 1, y, label, COL_LABEL, 0);
    for (int k = 0; k < sc->T; k++) {
        float v = k <= last ? x[k] : NAN;
        Cell c = k <= last ? heat_cell_sat(cv->style, v, 1.0f) : (Cell){.ch = glyph(cv->style, GL_MASK), .fg = COL_DIM};
        bool cur = k == sc->cursor;
        for (int i = 0; i < cw; i++) {
            uint32_t ch = cur && i == 0 && k <= last ? glyph(cv->style, GL_CURSOR) : c.ch;
            int fg = cur && i == 0 ? (cv->style.depth >= DEPTH_256 ? palette_ink_on(c.bg) : COL_KEY) : c.fg;
            cv_put(cv, x0 + k * cw + i, y, ch, fg, c.bg, cur ? ATTR_BOLD : c.attr);
        }
    }
    char buf[32];
    if (sc->cursor <= last && sc->cursor < sc->T)
        snprintf(buf, sizeof buf, "%+8.4f", (double)x[sc->cursor]);
    else
        snprintf(buf, sizeof buf, "%8s", "-");
    cv_text(cv, x0 + sc->T * cw + 1, y, buf, COL_VALUE, 0);
}

static void patch_header(Canvas *cv, const Scene *sc, const PatchPanel *pp, int y, int cw, int x0)
{
    char buf[256];
    int x = cv_text(cv, 1, y, "clean", COL_DIM, 0) + 1;
    for (int i = 0; i < sc->n; i++) {
        snprintf(buf, sizeof buf, "%d", pp->clean[i]);
        bool differs = pp->clean[i] != sc->values[i];
        x = cv_text(cv, x, y, buf, differs ? COL_KEY : COL_DEFAULT, differs ? ATTR_BOLD : 0) + 1;
    }
    cv_text(cv, x + 1, y, "(corrupted: the list above)", COL_DIM, 0);
    if (!pp->r)
        return;
    const SlPatchResult *r = pp->r;
    snprintf(buf, sizeof buf, "b%d: clean answer %d, corrupted %d; LD clean %+.3f, corrupted %+.3f", r->at,
             r->clean_answer, r->corrupt_answer, r->ld_clean, r->ld_corrupt);
    cv_text(cv, 1, y + 1, buf, COL_DEFAULT, 0);
    /* the corrupted run's tokens over the cells; the cursor's position named at the right */
    for (int k = 0; k < sc->T && cw >= 2; k++) {
        char tl[8];
        scene_token_label(sc, pp->tokens[k], cw - 1, tl, sizeof tl);   /* a column between labels */
        cv_text(cv, x0 + k * cw + cw - 1 - render_utf8_width(tl), y + 2, tl, k == sc->cursor ? COL_KEY : COL_DIM, k == sc->cursor ? ATTR_BOLD : 0);
    }
    char pn[16];
    scene_pos_name(sc, sc->cursor, pn, sizeof pn);
    cv_printf(cv, x0 + sc->T * cw + 1, y + 2, COL_DIM, 0, "at %s", pn);
}

void render_patching(Canvas *cv, const Scene *sc, const PatchPanel *pp)
{
    char buf[160];
    const SlPatchResult *r = pp->r;
    snprintf(buf, sizeof buf, "patching: clean %s corrupted, normalised logit difference",
             glyph_str(cv->style, GL_ARROW));
    panel_section(cv, 0, buf, true);
    int cw = cv->r.w >= PATCH_LABEL_W + 2 + 3 * sc->T + 10 ? 3 : cv->r.w >= PATCH_LABEL_W + 2 + 2 * sc->T + 10 ? 2 : 1;
    int x0 = PATCH_LABEL_W + 2;
    patch_header(cv, sc, pp, 1, cw, x0);
    if (!r) {
        cv_text(cv, 1, 3, pp->error && pp->error[0] ? pp->error : "no patching yet", COL_BAD, 0);
        return;
    }
    int y = 4, last = r->query;   /* a patch after the query changes nothing there */
    for (int i = 0; i < r->n_hooks && y < cv->r.h - 1; i++) {
        const SlPatchHook *h = &r->hooks[i];
        const char *name = strncmp(h->name, "blocks.", 7) == 0 ? h->name + 7 : h->name;
        for (int hd = 0; hd < (h->heads ? h->heads : 1) && y < cv->r.h - 1; hd++) {
            if (h->heads)
                snprintf(buf, sizeof buf, "%.19s h%d", name, hd);
            else
                snprintf(buf, sizeof buf, "%.22s", name);
            patch_row(cv, sc, y++, buf, h->exact + (size_t)hd * r->T, last, cw, x0);
        }
    }
    char qn[16];
    scene_pos_name(sc, r->query, qn, sizeof qn);
    if (r->score_terms && y < cv->r.h - 2) {
        snprintf(buf, sizeof buf, "layer 0: the QK terms of the query %s's score, per source", qn);
        cv_text(cv, 1, y++, buf, COL_DIM, 0);
        static const char *nm[4] = {"tok-tok", "tok-pos", "pos-tok", "pos-pos"};
        for (int hd = 0; hd < r->H; hd++)
            for (int t = 0; t < 4 && y < cv->r.h - 1; t++) {
                snprintf(buf, sizeof buf, "%s h%d", nm[t], hd);
                patch_row(cv, sc, y++, buf, r->score_terms + ((size_t)hd * 4 + t) * r->T, last, cw, x0);
            }
    }
    if (y < cv->r.h) {
        int used = render_colorbar_caps(cv, 1, y, 30, 1.0f);
        cv_text(cv, used + 2, y, "1: as clean, 0: as corrupted", COL_DIM, 0);
    }
}
