/* panels.h: the explorer's panels drawn from plain arrays (a Scene), so
 * that each one can be tested as text without a model or a terminal.
 *
 * Positions follow the task: 0 BOS, 1..n the list a_1..a_n, n+1 MID,
 * n+2..2n+1 the sorted list b_1..b_n.  The prediction made at query
 * position n+1+i is b_{i+1}; arrays of predictions are indexed by i.
 */
#ifndef SORTLENS_PANELS_H
#define SORTLENS_PANELS_H

#include "render.h"

#include "sortlens/circuits.h"
#include "sortlens/curves.h"

#define SCENE_TOPK 3

/* The circuit views are the core's SlCircuitKind (circuits.h):
 *   SL_CIRCUIT_QK_TOKEN_TOKEN  W_E W_Q W_K^T W_E^T     [V, V]
 *   SL_CIRCUIT_QK_TOKEN_POS    W_E W_Q W_K^T W_pos^T   [V, T]
 *   SL_CIRCUIT_QK_POS_TOKEN    W_pos W_Q W_K^T W_E^T   [T, V]
 *   SL_CIRCUIT_QK_POS_POS      W_pos W_Q W_K^T W_pos^T [T, T]
 *   SL_CIRCUIT_OV              W_E W_V W_O W_U         [V, Vo]
 *   SL_CIRCUIT_OV_POS          W_pos W_V W_O W_U       [T, Vo]
 * The QK panel shows one of the first four, the OV panel one of the last two. */
static inline bool circuit_kind_is_qk(int kind)
{
    return kind >= SL_CIRCUIT_QK_TOKEN_TOKEN && kind <= SL_CIRCUIT_QK_POS_POS;
}
/* The QK term a QK view is (SCORE_TERM_*, and the bit QK_TERM_* = 1 << it). */
static inline int circuit_kind_term(int kind) { return kind - SL_CIRCUIT_QK_TOKEN_TOKEN; }
/* A view the explorer draws besides the six circuits: the combined QK
 * matrix [W_E; W_pos] W_Q W_K^T [W_E; W_pos]^T [V+T, V+T] (sl_circuit_qk_combined),
 * whose four blocks are the four QK terms. */
#define SCENE_QK_COMBINED SL_CIRCUIT_COUNT
#define SCENE_VIEWS (SL_CIRCUIT_COUNT + 1)

/* How a circuit panel maps its values to colours (`n` cycles).  Every
 * scale is symmetric around zero, blue below, red above. */
enum {
    /* Each row centred on its mean and divided by its own largest |x - mean|.
     * Softmax ignores a constant added to a row (over output values for OV,
     * over keys for QK), so the centring loses nothing that changes a
     * prediction; the scaling makes colours comparable within a row only,
     * and every row's argmax (the copy, the preferred key) stands out.  The
     * default: it shows what the circuits are known for at a glance. */
    CS_ROW,
    /* The 99th percentile of |x| over the cells whose token axes are values
     * (0..Vo-1): the BOS and MID rows and columns, whose sizes say nothing
     * about sorting, do not set the range, and the few cells beyond it are
     * drawn in the beyond colours instead of hiding the rest. */
    CS_VALUES,
    /* The largest |x| of the whole matrix, nothing left out. */
    CS_WHOLE,
    CS_COUNT
};

#define CS_PERCENTILE 99   /* of CS_VALUES */

typedef struct Scene {
    /* the model */
    int n, T, Vo, V, L, H, E;   /* list length, n_ctx, values, vocab, layers, heads, d_head */
    const char *model_label;    /* printable (sanitised) */

    /* the list and the sequence shown */
    const int *values;    /* [n] */
    const int *sorted;    /* [n] the true sort */
    const int *tokens;    /* [T] teacher-forced: the true sequence; greedy: the model's */
    bool greedy;

    /* predictions at query positions n+1..2n */
    const int *pred;      /* [n] argmax */
    const float *prob;    /* [n, Vo] softmax of the logits */
    const int *base_pred; /* [n] without the interventions; NULL when none is active */
    const int *top_idx;   /* [n, SCENE_TOPK] the most probable values (sl_decode_top_k), -1 past Vo */
    const double *top_prob;   /* [n, SCENE_TOPK] their probabilities */
    /* positions whose logits are not all finite (the model overflowed): the
     * screen says so instead of colouring them; 0 when every one is */
    int nonfinite_logits; /* how many of the n prediction positions */
    int first_nonfinite;  /* the first such query position, or -1 */

    /* attention of the head shown (layer, head) */
    int layer, head;
    const float *pattern; /* [T, T] query x key */
    const float *scores;  /* [T, T] scaled, -inf where masked */
    bool show_scores;     /* the heatmap shows scores instead of weights */
    /* population mode: pattern, scores and score_terms are means over this
     * population ("1000 uniform lists"), not the list's; NULL: the list's */
    const char *population;
    bool named_positions; /* axes label positions by name (BOS, a1.., MID, b1..), not by token */
    /* the four QK terms of every (query, key), unscaled, from
     * sl_circuit_score_terms; NULL when the layer shown is not 0 (or no tables) */
    const float *score_terms;   /* [SL_SCORE_TERMS, T, T] */
    /* what each source adds through the head shown at the selected query to
     * logit(ov_value) - logit(ov_vs) (sl_attribute), or when ov_vs < 0 to
     * logit(ov_value) itself (sl_circuit_dla); NULL when unknown */
    const float *ov_src;  /* [T] */
    int ov_value;
    int ov_vs;
    int top_source;       /* the key the selected query attends to most */

    /* circuits of the (layer, head) shown (sl_circuit_get_kind); NULL if absent */
    const float *circuit[SCENE_VIEWS];   /* by SlCircuitKind, then SCENE_QK_COMBINED; unscaled */
    float circuit_max[SCENE_VIEWS];      /* max |x| of each whole matrix */
    /* CS_VALUES ranges by view (cached by the caller; 0: computed when drawn) */
    float robust_range[SCENE_VIEWS];
    int circuit_scale;    /* CS_* */
    /* the published counts for the head shown, when counts_known (each may
     * still be -1): rows v of OV token whose argmax is v, rows v of QK
     * token-token whose argmax over the value keys is v + 1, out of Vo */
    bool counts_known;
    int ov_copy_hits, qk_next_hits;

    /* what the user selected and switched */
    int sel;              /* query position, n+1..2n */
    int cursor;           /* key (source) position, 0..T-1 */
    unsigned qk_off;      /* bit t: QK term t removed (QK_TERM_* of forward.h) */
    bool ov_drop_pos;     /* W_pos removed from the OV path */
    int block_source;     /* -1 or the key position nobody may attend to */
    int iv_layer, iv_head;   /* where the interventions act (head -1: every head) */
    const char *ablation_text;   /* the interventions as --ablate spells them (ablation.h), "" for none */
    int focus_view;       /* SlCircuitKind: the circuit view `c` selected last */
    int qk_view, ov_view; /* the views of the two circuit panels */
    int free_row, free_col, free_panel; /* a clicked circuit cell, or -1 */
    const char *message;  /* a one-line note (found a wrong list, ...), or NULL */
    bool message_bad;
} Scene;

/* ---- helpers shared by the panels ---- */
/* "BOS", "MID" or the value; short form ("B", "M") when width < 3. */
void scene_token_label(const Scene *sc, int token, int width, char *buf, size_t size);
/* "BOS", "a3", "MID", "b1". */
void scene_pos_name(const Scene *sc, int pos, char *buf, size_t size);
/* Number of right predictions (against the true sort). */
int scene_right(const Scene *sc, const int *pred);
/* Prediction index of a query position (-1 if it is not one). */
static inline int scene_pred_index(const Scene *sc, int pos)
{
    return pos >= sc->n + 1 && pos <= 2 * sc->n ? pos - sc->n - 1 : -1;
}
/* The four QK terms of (query q, key k) from sc->score_terms; false when
 * they are not known (another layer than 0, no tables, out of range). */
static inline bool scene_score_terms_at(const Scene *sc, int q, int k, float terms[SL_SCORE_TERMS])
{
    if (!sc->score_terms || q < 0 || k < 0 || q >= sc->T || k >= sc->T)
        return false;
    size_t TT = (size_t)sc->T * sc->T, i = (size_t)q * sc->T + k;
    for (int t = 0; t < SL_SCORE_TERMS; t++)
        terms[t] = sc->score_terms[t * TT + i];
    return true;
}
/* Whether the interventions act on the layer and head shown. */
static inline bool scene_iv_here(const Scene *sc)
{
    return (sc->iv_head < 0 || sc->iv_head == sc->head) && sc->iv_layer == sc->layer;
}
/* Rows and columns of a circuit view, their meaning, the matrix. */
void scene_circuit_shape(const Scene *sc, int view, int *rows, int *cols);
const float *scene_circuit_data(const Scene *sc, int view, float *range);
const char *circuit_view_name(int view);       /* "QK token-token" ... */
const char *circuit_view_formula(int view);    /* "W_E W_Q W_K^T W_E^T" ... */
/* The marked row and column of a view for the current selection. */
void scene_circuit_marks(const Scene *sc, int view, int *row, int *col);
/* The column that holds the right answer for the selected query (the true
 * next value, or the first list position holding it), or -1. */
int scene_circuit_answer_col(const Scene *sc, int view);
/* Whether the rows (is_row) or columns of a view are indexed by token
 * (values, and for the QK token axes BOS and MID too) rather than by
 * position: the one predicate for labels, readouts and scales. */
bool circuit_axis_is_token(int view, bool is_row);
/* Whether that axis holds BOS and MID after the values (a token axis of a
 * QK view or the OV rows: d_vocab long, not d_vocab_out). */
bool circuit_axis_has_specials(int view, bool is_row);
/* CS_VALUES: the CS_PERCENTILE-th percentile (nearest rank) of |x| over the
 * rows and columns of `view` that are values; position axes count whole. */
float circuit_value_range(const float *data, int rows, int cols, int view, int Vo);
/* The symmetric range a view is drawn with in scale CS_VALUES or CS_WHOLE
 * (CS_ROW has a range per row: see circuit_row_norm). */
float scene_circuit_range(const Scene *sc, int view, int scale);
/* CS_ROW: the mean of a row and its largest |x - mean| (0 for a flat row). */
void circuit_row_norm(const float *row, int cols, float *mean, float *scale);
const char *circuit_scale_name(int scale);   /* "per row", "values p99", "whole" */
/* The scale as the explorer's --scale spells it ("row", "p99", "whole"), and
 * back (-1 for another name). */
const char *circuit_scale_option(int scale);
int circuit_scale_from_option(const char *name);

/* The one scroller of the strip, the heatmap, the circuits and the source
 * list: the first index of a window of `visible` out of `count`.  It keeps
 * `prev` (>= 0) while that window still shows keep_lo..keep_hi; otherwise
 * it centres lo..hi, or, when that span does not fit, `anchor`. */
typedef struct ScrollWant {
    int count, visible;
    int lo, hi, anchor;
    int prev, keep_lo, keep_hi;   /* prev < 0: no window to keep */
} ScrollWant;
int scroll_first(ScrollWant w);

/* One entry of the key line or the help screen. */
typedef struct KeyEntry {
    const char *keys;   /* "e", "←→ h l" */
    const char *text;   /* "edit", "step the prediction position" */
} KeyEntry;

/* ---- panels: each draws into the whole canvas it is given, clipped ---- */
void render_title(Canvas *cv, const Scene *sc, const char *page_tabs, int page);
void render_status(Canvas *cv, const Scene *sc);
/* Token strip (line 0) and marks (line 1); cell width 3 or 4; returns the
 * first position shown (the strip scrolls on narrow canvases). */
int render_strip(Canvas *cv, const Scene *sc, int cw, int first);
/* Predicted values (line 0), probability % (line 1), runner-up (line 2),
 * aligned under the strip drawn with the same cw and first. */
void render_predictions(Canvas *cv, const Scene *sc, int cw, int first);
void render_output_line(Canvas *cv, const Scene *sc);
void render_pred_detail(Canvas *cv, const Scene *sc);
void render_cursor_line(Canvas *cv, const Scene *sc);
/* Attention heatmap with labels, marks and colour bar; wide cells (2
 * columns) when cw == 2.  Needs T + 3 lines to show every query. */
void render_attention(Canvas *cv, const Scene *sc, int cw);
/* The heatmap's range for a scale (`n`): CS_ROW 1 (each row is normalised
 * to its own largest weight, or centred score); CS_VALUES the largest
 * weight / |score| of the prediction rows MID..b_{n-1} (the rows above
 * predict nothing, and BOS always puts all its weight on itself); CS_WHOLE
 * weights 0..1, scores the largest |score| of every row. */
float scene_attention_range(const Scene *sc, int scale, bool scores);
/* Width and height the attention panel needs to show everything. */
void render_attention_size(const Scene *sc, int cw, int *w, int *h);
/* The cursor's weight, score and its four terms, on up to 4 lines. */
void render_cursor_detail(Canvas *cv, const Scene *sc);
/* Its lines in w columns: 5, or 6 when the weight and score go on a line
 * of their own. */
int render_cursor_detail_height(const Scene *sc, Style st, int w);
/* The sources of the selected query, one per line, with weight bars. */
/* The patching panel of a clean / corrupted pair (patching.c): r is
 * sl_patch of (clean, the scene's list) at one prediction position, or NULL
 * with error saying why; tokens [T] the corrupted run's true sequence. */
struct SlPatchResult;
typedef struct PatchPanel {
    const struct SlPatchResult *r;
    const char *error;
    const int *clean;    /* [n] */
    const int *tokens;   /* [T] */
} PatchPanel;
void render_patching(Canvas *cv, const Scene *sc, const PatchPanel *pp);
void render_sources(Canvas *cv, const Scene *sc);

/* The failure atlas page (atlas.c): sections of rows, each row a population
 * of lists with its size, a share drawn as a bar (greedy list accuracy; in
 * a histogram section, the row's share of the section's lists), its token
 * accuracy and how many lists are wrong; the selected row highlighted.  The
 * rows are values the explorer computed (src/tui/atlas.c). */
typedef struct AtlasRow {
    char label[24];
    long lists;          /* -1: not computed yet */
    double share;        /* 0..1, NaN: no lists */
    double token_acc;    /* NaN: not shown */
    long wrong;          /* -1: not shown */
} AtlasRow;
#define ATLAS_PANEL_SECTIONS 4
typedef struct AtlasSectionView {
    char title[160];
    bool histogram;      /* share is of the section's lists, not an accuracy */
    int first, count;    /* its rows */
} AtlasSectionView;
typedef struct AtlasPanel {
    const char *title;
    const char *note;    /* progress or a failure, or NULL */
    bool note_bad;
    int n_sections;
    AtlasSectionView sections[ATLAS_PANEL_SECTIONS];
    const AtlasRow *rows;
    int sel;             /* the selected row */
    int first_line;      /* in / out: the first line of the sections shown (they scroll to the selection) */
} AtlasPanel;
void render_atlas(Canvas *cv, AtlasPanel *p);
/* Which panel a circuit is drawn in: the id stamped on its cells for mouse
 * clicks, and the one a moved or clicked cursor (Scene.free_panel) belongs
 * to.  A circuit shown beside the focused ones (the facet's other terms, the
 * companions under the panels on big terminals) is CIRCUIT_PANEL_OTHER + its
 * SlCircuitKind, so that a cursor shows in one panel only. */
enum { CIRCUIT_PANEL_QK, CIRCUIT_PANEL_OV, CIRCUIT_PANEL_COMBINED, CIRCUIT_PANEL_OTHER };
/* A circuit heatmap (half blocks when the style allows) with marks, the
 * value under the cursor and a colour bar, in panel (CIRCUIT_PANEL_*). */
void render_circuit(Canvas *cv, const Scene *sc, int view, int panel, bool focused);
/* The same with cells no larger than level max_level (render_circuit_size_level),
 * so that panels side by side can share one cell size. */
void render_circuit_at(Canvas *cv, const Scene *sc, int view, int panel, bool focused, int max_level);
void render_circuit_size(const Scene *sc, int view, Style st, int *w, int *h);
/* Cell sizes of a circuit panel, smallest first: level 0 one column and,
 * where the style has half blocks, two matrix rows per line; then one
 * matrix row per line, 1, 2 and 3 columns wide.  render_circuit draws the
 * largest level whose whole matrix fits its canvas (level 0, windowed, when
 * none does). */
#define CIRC_LEVELS 4
void render_circuit_size_level(const Scene *sc, int view, Style st, int level, int *w, int *h);
int render_circuit_fit(const Scene *sc, int view, Style st, int w, int h);
/* The label step that keeps labels of `width` characters apart in cells
 * `cw` columns wide: 1, 2, 5, 10, 20, 50, ... */
int label_step(int width, int cw);
/* Lines a circuit panel needs besides its matrix lines. */
#define CIRC_EXTRA_LINES 4
/* The key line: entries in order of importance, each that fits. */
void render_keys(Canvas *cv, const KeyEntry *keys, int n);
/* The help screen: every entry, and notes on colours and marks. */
void render_help(Canvas *cv, const KeyEntry *keys, int n);
/* The list editor: text, cursor column, and an error (or NULL). */
void render_editor(Canvas *cv, const Scene *sc, const char *text, int cursor, const char *error);
void render_too_small(Canvas *cv, int need_w, int need_h);

/* The progress page of a training run (curves.c): one small line plot per
 * curve of curves.h over the run's snapshots, in braille dots (2 x 4 a
 * cell; '*' a cell without UTF-8), each with its name, the value at the
 * marked snapshot, its y range ticked on the left; the snapshots' steps
 * under the plots of the last row.  x is the snapshot's index, evenly
 * spaced (a --snapshots run is denser early, where the circuits form: by
 * step, its first half would be a few columns), said in the title line. */
typedef struct CurvesPanel {
    const char *title;       /* "progress of RUN" (printable) */
    const char *note;        /* the computation's progress or a failure, or NULL */
    bool note_bad;
    int count;               /* snapshots */
    const long *steps;       /* [count] ascending */
    const double *values;    /* [count, SL_CURVE_COUNT]; NAN: unknown (or not computed yet) */
    int computed;            /* snapshots 0..computed-1 are computed (in order) */
    int marker;              /* the snapshot on screen, or -1 */
} CurvesPanel;
void render_curves(Canvas *cv, const CurvesPanel *p);

/* How render_curves lays out a canvas of w x h (tests read the cells back
 * through it): the plot area of each curve in dots (cells * dots per cell),
 * or all areas empty (w = 0) when even the smallest plots do not fit and
 * the page is a table of the values at the marker instead. */
typedef struct CurvePlot {
    Rect box;                /* the curve's name line and plot rows */
    Rect area;               /* the cells of the dots */
    int dots_x, dots_y;      /* dots per cell: 2 x 4 braille, 1 x 1 ASCII */
    double lo, hi;           /* the y range */
} CurvePlot;
void curves_layout(const CurvesPanel *p, Style st, int w, int h, CurvePlot plots[SL_CURVE_COUNT]);
/* The dot (x from the area's left, y from its top) snapshot i of value v
 * is drawn at. */
void curves_dot(const CurvePlot *cp, int count, int i, double v, int *dx, int *dy);

#endif
