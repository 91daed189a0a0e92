/* save_view.h: `S` writes the view on screen as an SVG figure, drawn by the
 * same code as `sortlens plot` (src/plot), to a new file in the current
 * directory: sortlens-VIEW-N.svg with the first N that names no file, so
 * that nothing is ever overwritten. */
#ifndef SORTLENS_SAVE_VIEW_H
#define SORTLENS_SAVE_VIEW_H

#include <stddef.h>

#include "plot.h"

struct App;

/* The plot view of what the screen shows (the heatmap's weights or scores,
 * the focused circuit, the facet, the combined matrix, the means of a
 * population, the patching of a pair). */
SlPlotView save_view_of(const struct App *a);
/* Writes it; path gets the file's name.  0, or a negative code with err
 * saying why (nothing is written then). */
int save_view(const struct App *a, char *path, size_t size, SlError *err);

#endif
