/* explore.h: the explorer's state and what it computes, without curses:
 * the list, the mode, the interventions, the selection, and what the core
 * computes from them (decode.h's one forward path, circuits.h's score terms,
 * attribution and circuits, sl_decode_top_k).  The state is opaque: the screen
 * reads it as a Scene and changes it only through these functions. */
#ifndef SORTLENS_EXPLORE_H
#define SORTLENS_EXPLORE_H

#include <stdbool.h>
#include <stdint.h>

#include "panels.h"
#include "sortlens/decode.h"
#include "sortlens/forward.h"
#include "sortlens/task.h"

typedef struct Explorer Explorer;

#define EXPLORE_FIND_BATCH 256
#define EXPLORE_FIND_MAX 100000   /* lists tried by `f` before giving up */

/* label names the model on the title line (a path is fine: it is shortened
 * and sanitised).  The first list is drawn from seed. */
Explorer *explorer_new(const SlModel *m, const char *label, uint64_t seed, SlError *err);
void explorer_free(Explorer *ex);   /* accepts NULL */

/* What the screen shows: the explorer's own scene (valid until the next
 * change, which may move its arrays). */
const Scene *explorer_scene(const Explorer *ex);
const SlModel *explorer_model(const Explorer *ex);
/* Shows another model of the same shape (a run's other snapshot): the list,
 * the mode, the interventions, the selection and the view stay; the
 * circuits and everything computed are redone, the title becomes label.
 * m is not owned.  SL_EFORMAT when the shapes differ. */
int explorer_set_model(Explorer *ex, const SlModel *m, const char *label, SlError *err);

/* Reruns the model on the current list, mode and interventions. */
int explorer_recompute(Explorer *ex, SlError *err);
/* Sets the list (n values already checked) and recomputes. */
int explorer_set_list(Explorer *ex, const int *values, SlError *err);
/* Parses text with sl_task_parse_list; on failure err holds the reason and the
 * list is unchanged. */
int explorer_set_list_text(Explorer *ex, const char *text, SlError *err);
int explorer_random(Explorer *ex, SlError *err);
/* Draws random lists until the model (in the current mode, with the current
 * interventions) gets one wrong; shows it.  Returns 1 found, 0 none. */
int explorer_find_wrong(Explorer *ex, SlError *err);

/* Moves: the selection among prediction positions; the source cursor. */
void explorer_step(Explorer *ex, int delta);
void explorer_select(Explorer *ex, int query);   /* the cursor follows to the most attended source */
void explorer_select_first_last(Explorer *ex, bool last);
void explorer_move_cursor(Explorer *ex, int delta);
void explorer_set_cursor(Explorer *ex, int key);

/* Switches that change what the model computes; each recomputes.  An
 * intervention acts on the head it was made on (on every head of a
 * one-head model); while one is active, a switch made on another head is
 * refused with a message (the engine scopes its interventions to one head),
 * and x clears them. */
int explorer_toggle_greedy(Explorer *ex, SlError *err);
int explorer_toggle_term(Explorer *ex, int term, SlError *err);   /* 0..3 */
int explorer_toggle_ov_pos(Explorer *ex, SlError *err);
int explorer_toggle_block(Explorer *ex, SlError *err);           /* the source under the cursor */
int explorer_clear_interventions(Explorer *ex, SlError *err);
/* The interventions in force, or NULL when there are none. */
const SlIntervention *explorer_intervention(const Explorer *ex);
/* Another layer or head (wrapping round); recomputes what is shown. */
int explorer_set_head(Explorer *ex, int layer, int head, SlError *err);
void explorer_step_head(Explorer *ex, int dlayer, int dhead, SlError *err);

/* Switches of the view alone. */
/* The per-source column: the logit difference between the prediction and
 * the compared value (sl_attribute, the default) / the absolute logit. */
void explorer_toggle_attribution(Explorer *ex);
/* The compared value: the previous (-1) / next (+1) value, skipping the
 * prediction, or back to the runner-up (0).  Shows the difference. */
void explorer_step_compared(Explorer *ex, int delta);
void explorer_toggle_scores(Explorer *ex);
/* Axis labels: tokens (values, BOS, MID) or named positions (BOS, a1.., MID, b1..). */
void explorer_toggle_named_positions(Explorer *ex);
void explorer_cycle_view(Explorer *ex, int delta);
/* Focuses a circuit view (SlCircuitKind), as `c` would reach it. */
void explorer_focus_view(Explorer *ex, int view);
void explorer_cycle_scale(Explorer *ex);
void explorer_set_scale(Explorer *ex, int scale);   /* CS_* */
/* Moves the circuit cursor of panel (CIRCUIT_PANEL_*), which shows view
 * (SlCircuitKind or SCENE_QK_COMBINED), by rows / columns; it starts from
 * the marks, or from where it was in that panel; the window follows it. */
void explorer_move_circuit_cursor(Explorer *ex, int panel, int view, int drow, int dcol);
/* A clicked circuit cell of panel (CIRCUIT_PANEL_*). */
void explorer_set_circuit_cell(Explorer *ex, int row, int col, int panel);
/* A note on the output line (found a wrong list, an intervention refused),
 * or none. */
void explorer_set_message(Explorer *ex, bool bad, const char *text);

/* Opens the state a command line names (`sortlens --at K --source P --view
 * NAME --layer L --head H --teacher-forced`): at 1..n is the position that
 * predicts b_K (0: keep), source a key position (-1: the top source), view
 * a SlCircuitKind (-1: keep), layer and head (-1: keep).  SL_EINVAL with a
 * message naming the option when one is out of range. */
int explorer_open_at(Explorer *ex, long at, long source, int view, long layer, long head, bool teacher_forced,
                     SlError *err);
/* Sets the interventions from --ablate text (ablation.h): the ones the
 * explorer switches (qk:TERM, ov:pos, source:POS on layer 0, scoped @0.H at
 * most); SL_EINVAL with the reason otherwise.  Recomputes. */
int explorer_set_ablation(Explorer *ex, const char *text, SlError *err);
/* The options that reopen the current state (without --model), as above:
 * "--list '42 17 ...' --at 3 --source 6 --view qk-token-token". */
void explorer_state_args(const Explorer *ex, char *buf, size_t size);

/* Writes the list as "a b c ..." into buf. */
void explorer_list_text(const Explorer *ex, char *buf, size_t size);
/* Seconds the last recompute took. */
double explorer_compute_seconds(const Explorer *ex);

#endif
