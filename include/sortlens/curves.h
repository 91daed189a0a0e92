/* curves.h: the progress curves of a training run: the handful of figures
 * the explorer's progress page and `sortlens plot progress` draw over the
 * snapshots' steps.  Each comes from sl_explain_compute (explain.h) or, for
 * the loss, from the snapshot's metadata (run.h), so that a curve's point
 * is exactly the number `sortlens explain --model RUN --json` prints for
 * that snapshot under its json_key. */
#ifndef SORTLENS_CURVES_H
#define SORTLENS_CURVES_H

#include <stdint.h>

#include "sortlens/error.h"
#include "sortlens/explain.h"
#include "sortlens/model.h"
#include "sortlens/progress.h"

typedef enum {
    SL_CURVE_LOSS,          /* train_loss: the trainer's mean loss over its last batches (metadata) */
    SL_CURVE_LIST_ACC,      /* the clean ablation row's greedy whole-list accuracy */
    SL_CURVE_OV_COPY,       /* ov_copy_fraction */
    SL_CURVE_TOP_KEY,       /* top_source_correct */
    SL_CURVE_ON_ANSWER,     /* attention_on_answer */
    SL_CURVE_AFTER_MID,     /* attention_after_mid */
    SL_CURVE_QK_NEXT,       /* qk_next_token_fraction */
    SL_CURVE_WEIGHT_NORM,   /* weight_norm */
    SL_CURVE_COUNT
} SlCurve;

typedef struct SlCurveInfo {
    const char *name;       /* as titles say it: "top key right" */
    const char *json_key;   /* its key in explain's JSON (the list accuracy: under "ablations", row "clean") */
    bool fraction;          /* a share in 0..1, drawn on a fixed 0..1 axis; else its own range */
} SlCurveInfo;

const SlCurveInfo *sl_curve_info(SlCurve c);

/* The y range curve c is drawn on over values [count, SL_CURVE_COUNT]:
 * 0..1 for a fraction; else the range of its finite values, widened when
 * they are one value, and 0..1 when there is none.  The explorer's page and
 * the figure scale the same way. */
void sl_curve_range(SlCurve c, const double *values, int count, double *lo, double *hi);

/* The figures explain computed for model m, into out[SL_CURVE_COUNT];
 * NAN where the model does not say (a snapshot without train_loss, as
 * step 0 is). */
void sl_curve_values(const SlModel *m, const SlExplain *ex, double out[SL_CURVE_COUNT]);

/* The explain settings the curves use unless told: those of `sortlens
 * explain` (1000 lists, seed 1), so that both print the same numbers. */
#define SL_CURVE_LISTS 1000
#define SL_CURVE_SEED 1

/* Reads the model file at path and fills out with its curves' values
 * (lists and seed as sl_explain_compute; progress counts its work, of
 * sl_explain_work(lists)).  On failure out is all NAN and err names the
 * file. */
int sl_curve_values_of_file(const char *path, long lists, uint64_t seed, double out[SL_CURVE_COUNT],
                            SlProgressFn progress, void *progress_ctx, SlError *err);

#endif
