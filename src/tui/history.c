/* history.c: the lists shown (history.h). */
#include "history.h"

#include <stdlib.h>
#include <string.h>

bool history_note(History *h, const int *values, int n)
{
    if (!h->lists || h->n != n) {
        free(h->lists);
        *h = (History){.n = n, .lists = malloc((size_t)HISTORY_MAX * n * sizeof(int))};
        if (!h->lists)
            return false;
    }
    size_t bytes = (size_t)n * sizeof(int);
    if (h->count > 0 && memcmp(h->lists + (size_t)h->pos * n, values, bytes) == 0)
        return true;
    h->count = h->count > 0 ? h->pos + 1 : 0;   /* what was after the one shown goes */
    if (h->count == HISTORY_MAX) {               /* full: the oldest goes */
        memmove(h->lists, h->lists + n, (size_t)(HISTORY_MAX - 1) * bytes);
        h->count--;
    }
    memcpy(h->lists + (size_t)h->count * n, values, bytes);
    h->pos = h->count++;
    return true;
}

int history_add(History *h, const int *lists, int count, int n)
{
    int added = 0;
    for (int i = 0; i < count; i++) {
        const int *v = lists + (size_t)i * n;
        bool same = h->lists && h->n == n && h->count > 0 &&
                    memcmp(h->lists + (size_t)h->pos * n, v, (size_t)n * sizeof *v) == 0;
        if (!history_note(h, v, n))
            break;
        added += !same;
    }
    return added;
}

const int *history_step(History *h, int delta)
{
    int to = h->pos + delta;
    if (!h->lists || to < 0 || to >= h->count)
        return NULL;
    h->pos = to;
    return h->lists + (size_t)to * h->n;
}

void history_free(History *h)
{
    free(h->lists);
    memset(h, 0, sizeof *h);
}
