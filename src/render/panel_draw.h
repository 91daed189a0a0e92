/* panel_draw.h: what the panel files (status.c, keys.c, strip.c,
 * attention.c, circuit.c, editor.c, atlas.c) share and nobody else needs. */
#ifndef SORTLENS_PANEL_DRAW_H
#define SORTLENS_PANEL_DRAW_H

#include "panels.h"

/* What one cell of a view shows under a scale: the value itself, or (per
 * row) its distance from the row's mean over the row's own largest one. */
typedef struct RowNorm {
    float mean, inv;
} RowNorm;

static inline float shown(float v, RowNorm n) { return (v - n.mean) * n.inv; }

/* A horizontal rule of w cells from (x, y). */
void panel_hline(Canvas *cv, int x, int y, int w);
/* A section title: "── text ────" across the canvas width. */
void panel_section(Canvas *cv, int y, const char *text, bool focused);

/* A bar of `cells` cells from (x, y), filled to fraction (clamped to
 * 0..1) in eighths of a cell (UTF-8; whole cells '#' in ASCII). */
void panel_bar(Canvas *cv, int x, int y, int cells, double fraction, int fg);

/* scroll_first keeping a and b in view, centred; a when both do not fit. */
int scroll_pair(int count, int visible, int a, int b);

#endif
