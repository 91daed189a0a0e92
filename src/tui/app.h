/* app.h: the explorer's screens, keys and layout, without curses.
 *
 * Screens are function tables (draw, handle key), as in htop: the one-screen
 * layout for terminals with room, three pages (Tab) for smaller ones, the
 * help, and the "too small" note.  Keys arrive as Unicode code points or the
 * AK_* codes below (tui.c translates curses' KEY_*), so a test can drive the
 * whole explorer and read the grid back as text.
 */
#ifndef SORTLENS_APP_H
#define SORTLENS_APP_H

#include <stdbool.h>

#include "atlas.h"
#include "curves.h"
#include "explore.h"
#include "snapshots.h"
#include "history.h"
#include "pair.h"
#include "popview.h"
#include "render.h"

enum {
    AK_BASE = 0x110000,   /* past Unicode */
    AK_LEFT, AK_RIGHT, AK_UP, AK_DOWN, AK_HOME, AK_END, AK_PGUP, AK_PGDN,
    AK_ENTER, AK_BACKSPACE, AK_DELETE, AK_TAB, AK_BTAB, AK_ESC, AK_RESIZE, AK_REDRAW,
};

#define APP_EDIT_MAX 4096   /* characters in the list editor */
#define APP_MIN_W 40        /* below this, the "needs at least" note */
#define APP_MIN_H 10

enum { FACET_OFF, FACET_TERMS, FACET_COMBINED, FACET_MODES };
/* A facet mode as --facet spells it ("off", "terms", "combined"), and back
 * (-1 for another name). */
const char *app_facet_option(int facet);
int app_facet_from_option(const char *name);

typedef enum { PAGE_SORT, PAGE_ATTENTION, PAGE_CIRCUITS, PAGE_COUNT } Page;

typedef struct App {
    Explorer *ex;
    Style style;
    int page;                 /* in the paged layout */
    bool help;
    bool editing;
    char edit[APP_EDIT_MAX + 1];
    int edit_len, edit_cur;
    char edit_err[SL_ERROR_MAX];
    bool quit;
    int strip_first;          /* scroll position of the token strip */
    bool paged;               /* the last layout drawn */
    bool zoom;                /* `z`: the circuits in place of the attention heatmap, whole when they fit */
    int facet;                /* `F`: in place of the QK and OV panels, FACET_TERMS the four QK terms at once,
                                 FACET_COMBINED the combined 74x74 QK matrix; FACET_OFF neither */
    History history;          /* the lists shown, for `,` and `.` */
    PopView pop;              /* `m`: population mode, the heatmap and scores as means over a population */
    Pair pair;                /* `P`: a clean / corrupted pair, its patching panel in place of the circuits */
    Atlas atlas;              /* `A`: the failure atlas page */
    Curves curves;            /* `T`: the progress page of a run */
    const SlListFile *input;  /* --input: the lists of a file for the population mode and the atlas, or NULL */
    const char *input_name;   /* its name, printable */
    char error[SL_ERROR_MAX];   /* an engine failure to show (never expected) */
    Snapshots *snaps;           /* opened on a run: its snapshots (not owned), or NULL */
    const char *model_path;     /* for the command line that reopens the state (`w`), or NULL */
    char reopen[320];           /* the last such command line shown, printed again on leaving */
} App;

void app_init(App *a, Explorer *ex, Style style);
void app_free(App *a);   /* what the app holds (the pair); not a itself nor its explorer */
/* Shows snapshot index of a->snaps (read on first use). */
int app_set_snapshot(App *a, int index, SlError *err);
/* The lists of --input (f outlives a; name printable): the population
 * mode and the atlas use them. */
void app_set_input(App *a, const SlListFile *f, const char *name);
/* Work going on in the background (the atlas): the key loop then wakes
 * often, and app_tick says whether to draw again. */
bool app_busy(const App *a);
bool app_tick(App *a);
/* Handles one key; returns true when the screen must be redrawn. */
bool app_key(App *a, int key);
/* A mouse click at a cell (its tag says what was clicked). */
bool app_click(App *a, const Cell *cell);
/* Draws the whole frame into g (already sized to the terminal). */
void app_draw(App *a, Grid *g);
/* The circuit matrix the circuit cursor moves in (H J K L, --cell): the
 * combined matrix with facet FACET_COMBINED, the focused QK term in the
 * facet of the terms, else the focused view's panel; its CIRCUIT_PANEL_*
 * and view (SlCircuitKind or SCENE_QK_COMBINED). */
void app_cursor_matrix(int facet, const Scene *sc, int *panel, int *view);
/* What --scale and --cell ask of the circuits (-1: as they open), with
 * --facet's mode for the matrix the cell is in: 0, or SL_EINVAL with a
 * message naming the option when the cell lies outside that matrix. */
int app_open_circuit_state(Explorer *ex, int facet, int scale, long row, long col, SlError *err);
/* The size under which the explorer shows the note, and the one-screen size. */
void app_one_screen_size(const App *a, int *w, int *h);

#endif
