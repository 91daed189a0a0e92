/* history.h: the lists the explorer has shown (typed, random, found wrong by
 * `f`, made by a pair), in order, so that a user can step back to one and
 * forward again, as a browser's history: showing a new list after stepping
 * back drops the ones after it.  At most HISTORY_MAX lists; the oldest go. */
#ifndef SORTLENS_HISTORY_H
#define SORTLENS_HISTORY_H

#include <stdbool.h>

#define HISTORY_MAX 256

typedef struct History {
    int n;            /* list length */
    int *lists;       /* [HISTORY_MAX, n] */
    int count, pos;   /* lists kept; the one shown (0..count-1) */
} History;

/* Records values [n] as the list shown, unless it is the one recorded there
 * already.  False when out of memory (nothing recorded). */
bool history_note(History *h, const int *values, int n);
/* Records count lists [count, n] in order, as history_note each: how many
 * became entries (a list equal to the one before it does not); the last
 * is the one shown. */
int history_add(History *h, const int *lists, int count, int n);
/* The list delta steps away (-1 back, +1 forward), now the one shown, or
 * NULL at either end. */
const int *history_step(History *h, int delta);
void history_free(History *h);

#endif
