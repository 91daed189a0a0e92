/* explore.h: the explorer's state and what it computes, without curses:
 * the list, the mode, the interventions, the selection, and the results of
 * the one forward path (decode.h) that every change reruns. */
#ifndef SORTLENS_EXPLORE_H
#define SORTLENS_EXPLORE_H

#include <stdbool.h>
#include <stdint.h>

#include "panels.h"
#include "sortlens/decode.h"
#include "sortlens/forward.h"
#include "sortlens/task.h"

typedef struct Explorer {
    const Model *m;          /* not owned */
    int n, T, V, Vo, L, H, E;
    ActCache *cache;         /* one sequence: what the screen shows */
    ActCache *batch;         /* EXPLORE_FIND_BATCH sequences, for `f` (made on first use) */

    int *values;             /* [n] the list */
    int *sorted;             /* [n] */
    int *tokens;             /* [T] the sequence shown */
    int *pred;               /* [n] */
    int *base_pred;          /* [n] without interventions */
    float *prob;             /* [n, Vo] */
    float *pattern;          /* [T, T] layer, head shown */
    float *scores;           /* [T, T] */
    bool has_base;           /* an intervention is active: base_pred is meaningful */

    bool greedy;
    Intervention iv;         /* layer 0, the head shown */
    int layer, head;
    int sel, cursor;
    bool show_scores;
    int qk_view, ov_view, focus_view;
    int free_row, free_col, free_panel;
    float qk_range[4], ov_range[2];
    float robust_range[CV_COUNT];   /* CS_VALUES ranges of the head shown */
    int circuit_scale;              /* CS_* */
    int ov_copy_hits, qk_next_hits; /* the published counts, -1 if unknown */

    Rng rng;
    char label[128];
    char message[192];
    bool message_bad;
    double compute_seconds;  /* the last recompute */
} Explorer;

#define EXPLORE_FIND_BATCH 256
#define EXPLORE_FIND_MAX 100000   /* lists tried by `f` before giving up */

/* label names the model on the title line (a path is fine: it is shortened
 * and sanitised).  The first list is drawn from seed. */
Explorer *explorer_new(const Model *m, const char *label, uint64_t seed, SlError *err);
void explorer_free(Explorer *ex);   /* accepts NULL */

/* Reruns the model on the current list, mode and interventions. */
int explorer_recompute(Explorer *ex, SlError *err);
/* Sets the list (n values already checked) and recomputes. */
int explorer_set_list(Explorer *ex, const int *values, SlError *err);
/* Parses text with task_parse_list; on failure err holds the reason and the
 * list is unchanged. */
int explorer_set_list_text(Explorer *ex, const char *text, SlError *err);
int explorer_random(Explorer *ex, SlError *err);
/* Draws random lists until the model (in the current mode, with the current
 * interventions) gets one wrong; shows it.  Returns 1 found, 0 none. */
int explorer_find_wrong(Explorer *ex, SlError *err);

/* Moves: the selection among prediction positions; the source cursor. */
void explorer_step(Explorer *ex, int delta);
void explorer_select(Explorer *ex, int query);   /* the cursor follows to the most attended source */
void explorer_move_cursor(Explorer *ex, int delta);
void explorer_set_cursor(Explorer *ex, int key);
/* Switches, each followed by a recompute by the caller. */
void explorer_toggle_term(Explorer *ex, int term);   /* 0..3 */
void explorer_toggle_ov_pos(Explorer *ex);
void explorer_toggle_block(Explorer *ex);           /* the source under the cursor */
void explorer_clear_interventions(Explorer *ex);
void explorer_cycle_view(Explorer *ex, int delta);
void explorer_cycle_scale(Explorer *ex);
/* Moves the cursor of the focused circuit panel by rows / columns (it
 * starts from the marks); the panel's window follows it. */
void explorer_move_circuit_cursor(Explorer *ex, int drow, int dcol);
void explorer_set_head(Explorer *ex, int layer, int head);

/* A Scene pointing into the explorer's arrays (valid until the next change). */
void explorer_scene(const Explorer *ex, Scene *sc);
/* Writes the list as "a b c ..." into buf. */
void explorer_list_text(const Explorer *ex, char *buf, size_t size);

#endif
