/* actions.h: every action of the explorer, declared once (as tig's REQ_INFO
 * declares its requests): its id, the keys bound to it with an argument
 * each, the keys as the help screen shows them, its short label for the key
 * line (with a rank: the key line shows the most important first, as many
 * as fit) and its help line.  The table drives app.c's dispatch, the key
 * line and the help screen; tests/render holds `sortlens tui --help` and the
 * man page's Keys section to it (test-actions).
 *
 * Keys are Unicode code points or the AK_* codes of app.h. */
#ifndef SORTLENS_ACTIONS_H
#define SORTLENS_ACTIONS_H

#include <stdbool.h>
#include <stddef.h>

/* A(ID, keys shown in the help, key-line key (UTF-8), key-line key (ASCII),
 *   key-line label, key-line rank (0: not on the key line), help line,
 *   bindings {key, argument}...) */
#define APP_ACTIONS(A) \
    A(POSITION, "\u2190\u2192 h l", "\u2190\u2192", "h/l", "position", 1, \
      "step the prediction position (the cursor jumps to the source attended most)", \
      {AK_LEFT, -1}, {'h', -1}, {AK_RIGHT, +1}, {'l', +1}) \
    A(FIRST_LAST, "Home End", NULL, NULL, NULL, 0, "first / last prediction position", \
      {AK_HOME, 0}, {AK_END, 1}) \
    A(SOURCE, "\u2191\u2193 k j", "\u2191\u2193", "j/k", "source", 2, "move the cursor over source positions", \
      {AK_UP, -1}, {'k', -1}, {AK_DOWN, +1}, {'j', +1}) \
    A(EDIT, "e Enter", "e", NULL, "edit", 3, "edit the list (Enter applies, Esc cancels)", \
      {'e', 0}, {AK_ENTER, 0}) \
    A(RANDOM, "r", "r", NULL, "random", 4, "a random list", {'r', 0}) \
    A(FIND_WRONG, "f", "f", NULL, "find wrong", 16, "find a random list the model gets wrong", {'f', 0}) \
    A(GREEDY, "g", "g", NULL, "greedy/TF", 11, "greedy / teacher-forced", {'g', 0}) \
    A(QK_TERM, "1-4", "1-4", NULL, "QK terms", 12, "QK term tok-tok, tok-pos, pos-tok, pos-pos off / on", \
      {'1', 0}, {'2', 1}, {'3', 2}, {'4', 3}) \
    A(OV_POS, "p", "p", NULL, "W_pos", 13, "W_pos in the OV path off / on", {'p', 0}) \
    A(BLOCK, "a", "a", NULL, "ablate", 14, "block attention to the source under the cursor (again: unblock)", {'a', 0}) \
    A(CLEAR, "x", NULL, NULL, NULL, 0, "clear every intervention", {'x', 0}) \
    A(VIEW, "c C", "c", NULL, "circuit", 9, "next / previous circuit view (4 QK terms, OV token, OV position)", \
      {'c', +1}, {'C', -1}) \
    A(ZOOM, "z", "z", NULL, "zoom", 8, "zoom: the circuits whole, in place of the heatmap", {'z', 0}) \
    A(FACET, "F", "F", NULL, "facet", 19, "facet: the four QK terms at once (2x2 or 1x4), in place of QK and OV; again: the combined " \
      "[W_E; W_pos] W_QK [W_E; W_pos]^T matrix, its four blocks marked; again: off", \
      {'F', 0}) \
    A(SCALE, "n", "n", NULL, "scale", 10, "colour scale: per row / values p99 / whole matrix", {'n', 0}) \
    A(PAN, "H J K L", "HJKL", NULL, "pan", 15, "move the circuit cursor; a cut panel pans with it", \
      {'H', 0}, {'J', 1}, {'K', 2}, {'L', 3}) \
    A(HISTORY, ", .", NULL, NULL, NULL, 0, \
      "back / forward through the lists shown before (typed, random, the wrong ones f found)", \
      {',', -1}, {'.', +1}) \
    A(POPULATION, "m", "m", NULL, "population", 22, \
      "population mode: the heatmap and the score terms as means over 1000 lists (the kind in the title) / the list", \
      {'m', 0}) \
    A(POP_KIND, "M", NULL, NULL, NULL, 0, "population mode on the next stress kind (uniform, distinct, pair, ...)", \
      {'M', +1}) \
    A(ATLAS, "A", "A", NULL, "atlas", 24, \
      "failure atlas: accuracy by kind of list, by multiplicity, by largest gap, the first wrong position; " \
      "Up/Down a row, Tab a section, Left/Right the population, Enter loads its wrong lists (, . step through " \
      "them); A or Esc: back", {'A', 0}) \
    A(PAIR, "P", "P", NULL, "patch", 21, \
      "clean/corrupted pair: this list becomes the clean one, a one-value change the list shown (r another, " \
      "e edits it), patching in place of the circuits; again: close", {'P', 0}) \
    A(ATTRIBUTION, "d", "d", NULL, "logit diff", 20, \
      "per-source column: logit difference against the runner-up (or the value < > picked) / absolute logit", \
      {'d', 0}) \
    A(COMPARED, "< > =", NULL, NULL, NULL, 0, \
      "the value the logit difference is taken against: previous / next / back to the runner-up", \
      {'<', -1}, {'>', +1}, {'=', 0}) \
    A(SCORES, "s", "s", NULL, "scores", 17, "attention heatmap: weights / scores", {'s', 0}) \
    A(LABELS, "t", "t", NULL, "labels", 18, "axis labels: tokens (values) / named positions (BOS a1.. MID b1..)", {'t', 0}) \
    A(HEAD, "[ ]", NULL, NULL, NULL, 0, "previous / next head (models with several heads)", {'[', -1}, {']', +1}) \
    A(LAYER, "{ }", NULL, NULL, NULL, 0, "previous / next layer (models with several layers)", {'{', -1}, {'}', +1}) \
    A(SNAPSHOT, "( ) ^ $", "()", NULL, "snapshot", 23, \
      "previous / next snapshot of a run (^ $: first / last); the list, the position and the view stay", \
      {'(', -1}, {')', +1}, {'^', -2}, {'$', +2}) \
    A(CURVES, "T", "T", NULL, "progress", 25, \
      "progress page of a run: loss, accuracy and the circuits' figures over its snapshots, a marker at the one " \
      "shown (( ) ^ $ move it); new snapshots of a run still training are added as they appear; T or Esc: back", \
      {'T', 0}) \
    A(PAGE, "Tab", "Tab", NULL, "page", 5, "next / previous page (small terminals; Shift-Tab goes back)", \
      {AK_TAB, +1}, {AK_BTAB, -1}) \
    A(SAVE, "S", "S", NULL, "save SVG", 24, \
      "write the view on screen as SVG (as sortlens plot draws it) to a new sortlens-VIEW-N.svg here; the status line says where", \
      {'S', 0}) \
    A(REOPEN, "w", NULL, NULL, NULL, 0, "show the command line that reopens this state (--at, --source, --view, --facet, --scale, --cell)", \
      {'w', 0}) \
    A(HELP, "?", "?", NULL, "help", 6, "this help", {'?', 0}) \
    A(DISMISS, "Esc", NULL, NULL, NULL, 0, "clear the note on the output line", {AK_ESC, 0}) \
    A(REDRAW, "Ctrl-L", NULL, NULL, NULL, 0, "redraw the screen", {AK_REDRAW, 0}) \
    A(QUIT, "q", "q", NULL, "quit", 7, "quit", {'q', 0}, {'Q', 0})

typedef enum {
#define ACTION_ID(id, ...) ACT_##id,
    APP_ACTIONS(ACTION_ID)
#undef ACTION_ID
    ACT_COUNT
} ActionId;

#define ACTION_MAX_BINDINGS 4

typedef struct ActionBinding {
    int key, arg;
} ActionBinding;

typedef struct Action {
    ActionId id;
    const char *help_keys;       /* "←→ h l" */
    const char *line_key;        /* on the key line, or NULL */
    const char *line_key_ascii;  /* the same without UTF-8 (NULL: line_key) */
    const char *label;           /* on the key line */
    int rank;                    /* order on the key line, 1 first; 0 never */
    const char *help;            /* the help screen's line */
    ActionBinding bindings[ACTION_MAX_BINDINGS];
    int n_bindings;
} Action;

extern const Action app_actions[ACT_COUNT];

/* The action bound to key (and its argument), or NULL. */
const Action *action_for_key(int key, int *arg);
/* The name of a key as the usage text and the man page spell it ("Left",
 * "Shift-Tab", "Ctrl-L", "q"), into buf. */
void action_key_name(int key, char *buf, size_t size);

#endif
