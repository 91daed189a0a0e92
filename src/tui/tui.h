/* tui.h: the ncurses front of the explorer (terminal checks, colours, the
 * key loop); everything it shows is drawn by app.c into a grid. */
#ifndef SORTLENS_TUI_H
#define SORTLENS_TUI_H

#include <stdbool.h>
#include <stdint.h>

#include "sortlens/listfile.h"
#include "sortlens/model.h"

typedef struct TuiOptions {
    const char *model_label;   /* shown on the title line */
    const char *list_text;     /* --list as typed, or NULL for a random list: the explorer parses it */
    uint64_t seed;             /* of the random lists */
    long bench_frames;         /* >= 0: time that many key redraws, report on stderr, quit */
    const char *bench_keys;    /* ASCII keys pressed before those redraws, untimed (a panel to open), or NULL */
    /* the state to open in (--at, --source, --view, --layer, --head,
     * --teacher-forced), checked against the model; -1 (at: 0) for the default */
    long at, source, layer, head;
    int view;                  /* SlCircuitKind, or -1 */
    int facet, scale;          /* --facet (FACET_*), --scale (CS_*), or -1 */
    long cell_row, cell_col;   /* --cell: the circuit cursor's cell, or -1 */
    bool teacher_forced;
    const char *ablate;        /* --ablate SPEC (ablation.h), or NULL */
    const char *run_dir;       /* --model names a run directory: step through its snapshots; or NULL */
    long step;                 /* the snapshot shown first (-1: the last), as --step */
    double start_time;         /* monotonic seconds when the command started */
    const SlListFile *input;   /* --input: the population mode's and the atlas's lists, or NULL */
    const char *input_name;    /* its name as the titles show it (printable) */
} TuiOptions;

/* Checks the terminal and runs the explorer until `q` or a signal (Ctrl-C,
 * TERM, HUP): 0, with *stop_signal the signal's number or 0.  Otherwise a
 * negative SL_E* code with err filled: SL_EINVAL for a bad --list, SL_EIO
 * for a terminal that cannot be used or that went away, SL_ENOMEM. */
int tui_run(const SlModel *m, const TuiOptions *opt, int *stop_signal, SlError *err);

/* Why this terminal cannot run the explorer (NULL if it can): no tty,
 * TERM unset or dumb, or unknown to terminfo. */
const char *tui_terminal_problem(char *buf, size_t size);

#endif
