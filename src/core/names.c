/* names.c: name -> enum over a table of names (see names.h). */
#include "sortlens/names.h"

#include <string.h>

int sl_names_find(const char *const *names, int count, const char *name)
{
    for (int v = 0; v < count; v++)
        if (names[v] && strcmp(names[v], name) == 0)
            return v;
    return -1;
}
