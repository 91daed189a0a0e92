/* grid_rows.h: a grid's rows as text, for the suites that read grids back
 * (tests/render, tests/tui). */
#ifndef SORTLENS_GRID_ROWS_H
#define SORTLENS_GRID_ROWS_H

#include "render.h"

/* The text of row y of g, trailing blanks removed (a static buffer). */
const char *test_grid_row(const Grid *g, int y);

#endif
