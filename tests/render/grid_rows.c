/* grid_rows.c: see grid_rows.h. */
#include "grid_rows.h"

#include <string.h>

const char *test_grid_row(const Grid *g, int y)
{
    static char buf[4096];
    grid_row_text(g, 0, y, g->w, buf, sizeof buf);
    size_t n = strlen(buf);
    while (n > 0 && buf[n - 1] == ' ')
        buf[--n] = '\0';
    return buf;
}
