/* plot.h: publication figures of the explorer's views (`sortlens plot`,
 * and the explorer's key that writes the current view): SVG, PNG or PDF,
 * drawn with cairo (SVG by our own writer, so that every cell carries its
 * exact value in a <title>; see figure.h).
 *
 * A library layer like render: no curses, no printing; errors come back in
 * an SlError ("what is wrong"; the caller adds the file name where it has
 * one).
 */
#ifndef SORTLENS_PLOT_H
#define SORTLENS_PLOT_H

#include <stdbool.h>
#include <stddef.h>

#include "sortlens/error.h"
#include "sortlens/forward.h"
#include "sortlens/model.h"

typedef enum {
    SL_PLOT_ATTENTION,       /* "attention": hook_pattern [T, T] of the list, weights */
    SL_PLOT_SCORES,          /* "scores": hook_attn_scores [T, T] (scaled, before softmax) */
    SL_PLOT_QK_TOKEN_TOKEN,  /* "qk-token-token": W_E W_Q W_K^T W_E^T [V, V] */
    SL_PLOT_QK_TOKEN_POS,    /* "qk-token-pos":   W_E W_Q W_K^T W_pos^T [V, T] */
    SL_PLOT_QK_POS_TOKEN,    /* "qk-pos-token":   W_pos W_Q W_K^T W_E^T [T, V] */
    SL_PLOT_QK_POS_POS,      /* "qk-pos-pos":     W_pos W_Q W_K^T W_pos^T [T, T], causal mask shown */
    SL_PLOT_QK_FACET,        /* "qk-facet": the four terms side by side, one colour scale */
    SL_PLOT_QK_COMBINED,     /* "qk-combined": [W_E; W_pos] W_Q W_K^T [W_E; W_pos]^T [V+T, V+T] */
    SL_PLOT_OV,              /* "ov": W_E W_V W_O W_U [V, Vo] */
    SL_PLOT_OV_POS,          /* "ov-pos": W_pos W_V W_O W_U [T, Vo] */
    SL_PLOT_DECOMPOSITION,   /* "decomposition": one query's scores split into the four terms */
    SL_PLOT_MEAN_ATTENTION,  /* "mean-attention": hook_pattern averaged over random lists (population.h) */
    SL_PLOT_PATCH,           /* "patch": activation patching of list vs corrupt, every hook x position (patch.h) */
    SL_PLOT_PROGRESS,        /* "progress": a run's curves over its snapshots (sl_plot_curves_render, not sl_plot_render) */
    SL_PLOT_VIEW_COUNT
} SlPlotView;

typedef enum { SL_PLOT_SVG, SL_PLOT_PNG, SL_PLOT_PDF } SlPlotFormat;

/* How the sequence axes (attention, scores, decomposition) are labelled:
 * by position name (BOS, a1..an, MID, b1..bn) or by the token there. */
typedef enum { SL_PLOT_LABEL_NAMES, SL_PLOT_LABEL_VALUES } SlPlotLabels;

const char *sl_plot_view_name(SlPlotView v);           /* "attention", ... */
const char *sl_plot_view_help(SlPlotView v);           /* one line: what it shows */
/* 0, or SL_EINVAL with a message listing the names. */
int sl_plot_view_from_name(const char *name, SlPlotView *out, SlError *err);
const char *sl_plot_format_name(SlPlotFormat f);       /* "svg", "png", "pdf" */
int sl_plot_format_from_name(const char *name, SlPlotFormat *out, SlError *err);
/* The format a file name's extension names (.svg, .png, .pdf, any case);
 * false when it names none of them. */
bool sl_plot_format_from_path(const char *path, SlPlotFormat *out);
/* A position as the figures name it: "BOS", "a1".."an", "MID", "b1".."bn",
 * or its index 0..n_ctx-1.  SL_EINVAL with a message otherwise. */
int sl_plot_parse_position(const SlModelConfig *c, const char *text, int *pos, SlError *err);

typedef struct SlPlotRequest {
    SlPlotView view;
    const int *list;          /* [n] values; NULL: the explorer's first list (SlRng seed 1) */
    bool greedy;              /* the sorted half is the model's own output (else the true sort) */
    int at;                   /* the query shown (marked row; the decomposition's query); -1: MID */
    int layer, head;          /* attention, scores and circuits; the decomposition is layer 0's */
    SlPlotLabels labels;
    const SlIntervention *iv;   /* applied to the forward (attention, scores); NULL: none */
    const char *model_label;  /* named in the subtitle (sanitised here); NULL: not named */
    long lists;               /* mean-attention: how many random lists (seed 1); 0: 1000 */
    const int *corrupt;       /* patch: the corrupted list [n] (required there) */
} SlPlotRequest;

void sl_plot_request_init(SlPlotRequest *r, SlPlotView view);   /* the defaults above */

/* The figure as the bytes of a file in `format`, malloc'ed (free() it). */
int sl_plot_render(const SlModel *m, const SlPlotRequest *req, SlPlotFormat format, unsigned char **data,
                   size_t *size, SlError *err);
/* The same written to path, whole or not at all (sl_atomic_*: an existing
 * file is replaced only by a complete figure).  Messages of a failed write
 * name path. */
int sl_plot_write(const SlModel *m, const SlPlotRequest *req, SlPlotFormat format, const char *path, SlError *err);
/* The short form the explorer calls: defaults but for view, list (NULL:
 * default) and at (-1: MID). */
int sl_plot_view(const SlModel *m, SlPlotView view, const int *list, int at, SlPlotFormat format, const char *path,
                 SlError *err);

/* The progress figure of a training run: one line chart per curve of
 * sortlens/curves.h over the run's snapshots, evenly spaced along x (as the
 * explorer's progress page draws them; ticks name the steps).  In SVG each
 * point is a <rect> whose <title> holds its exact value ("top key right at
 * step 200: 0.5592..."), in a <g> whose id is the curve's json_key. */
typedef struct SlPlotCurves {
    const char *run_label;    /* named in the title (sanitised here); NULL: not named */
    int count;                /* snapshots, at least 1 */
    const long *steps;        /* [count] ascending */
    const double *values;     /* [count, SL_CURVE_COUNT]; NAN: unknown, no point */
    long lists;               /* explain's lists and seed, said in the subtitle */
    unsigned long long seed;
} SlPlotCurves;

int sl_plot_curves_render(const SlPlotCurves *c, SlPlotFormat format, unsigned char **data, size_t *size,
                          SlError *err);
int sl_plot_curves_write(const SlPlotCurves *c, SlPlotFormat format, const char *path, SlError *err);

#endif
