/* pair.h: a clean / corrupted pair of lists in the explorer and its
 * activation patching (sl_patch, the numbers of `sortlens patch --json`).
 * The list on screen is the corrupted one: the user edits or randomises it
 * (a one-value change of the clean list by default) and the patching panel
 * follows it and the selected prediction position. */
#ifndef SORTLENS_PAIR_H
#define SORTLENS_PAIR_H

#include <stdbool.h>

#include "explore.h"
#include "sortlens/patch.h"
#include "sortlens/task.h"

typedef struct Pair {
    bool on;
    const SlModel *m;
    int n;
    int *clean;            /* [n] */
    int *corrupt;          /* [n] the list the result is for */
    int *tokens;           /* [T] its true sequence (teacher-forced, as patching runs it) */
    int at;                /* K of the result (the query n + K predicts b_K) */
    int at_asked;          /* the K asked for (0: the default) */
    bool tried;            /* (corrupt, at_asked) was patched, with a result or an error */
    bool have;             /* result holds the patching of (clean, corrupt, at) */
    SlPatchResult result;
    char error[SL_ERROR_MAX];   /* why there is no result, when !have */
    SlRng rng;
} Pair;

/* Takes the explorer's list as the clean one and shows a one-value change of
 * it (the corrupted list). */
int pair_begin(Pair *p, const SlModel *m, Explorer *ex, uint64_t seed, SlError *err);
/* A new corrupted list: another one-value change of the clean one. */
int pair_randomise(Pair *p, Explorer *ex, SlError *err);
/* Leaves the pair (the list on screen stays); frees what it holds. */
void pair_end(Pair *p);
/* Patches (clean, the list on screen) at the selected prediction position
 * (the default K when the selection is not one), unless that is done. */
void pair_update(Pair *p, const Scene *sc);
/* The explorer shows another model (a run's other snapshot): the pair
 * patches with m from now on; the next pair_update computes again. */
void pair_model_changed(Pair *p, const SlModel *m);

#endif
