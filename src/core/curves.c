/* curves.c: the progress curves' figures at one snapshot (curves.h). */
#include "sortlens/curves.h"

#include <math.h>

#include "sortlens/checkpoint.h"
#include "sortlens/parse_double.h"

static const SlCurveInfo curve_info[SL_CURVE_COUNT] = {
    [SL_CURVE_LOSS] = {"train loss", "train_loss", false},
    [SL_CURVE_LIST_ACC] = {"whole-list accuracy", "list_accuracy", true},
    [SL_CURVE_OV_COPY] = {"OV copy fraction", "ov_copy_fraction", true},
    [SL_CURVE_TOP_KEY] = {"top key right", "top_source_correct", true},
    [SL_CURVE_ON_ANSWER] = {"attention on the answer", "attention_on_answer", true},
    [SL_CURVE_AFTER_MID] = {"attention after MID", "attention_after_mid", true},
    [SL_CURVE_QK_NEXT] = {"QK next-value fraction", "qk_next_token_fraction", true},
    [SL_CURVE_WEIGHT_NORM] = {"weight norm", "weight_norm", false},
};

const SlCurveInfo *sl_curve_info(SlCurve c) { return &curve_info[c >= 0 && c < SL_CURVE_COUNT ? c : 0]; }

void sl_curve_range(SlCurve c, const double *values, int count, double *lo, double *hi)
{
    *lo = 0;
    *hi = 1;
    if (sl_curve_info(c)->fraction)
        return;
    double mn = INFINITY, mx = -INFINITY;
    for (int i = 0; i < count; i++) {
        double v = values[(size_t)i * SL_CURVE_COUNT + c];
        if (isfinite(v)) {
            mn = fmin(mn, v);
            mx = fmax(mx, v);
        }
    }
    if (!(mn <= mx))
        return;   /* nothing known */
    if (mx - mn <= 1e-12 * fmax(fabs(mn), 1.0)) {
        double pad = mn != 0 ? fabs(mn) * 0.1 : 1.0;
        mn -= pad;
        mx += pad;
    }
    *lo = mn;
    *hi = mx;
}

void sl_curve_values(const SlModel *m, const SlExplain *ex, double out[SL_CURVE_COUNT])
{
    const SlExplainHead *p = &ex->heads[ex->primary];
    const char *loss = sl_tensorset_get_meta(m->meta, "train_loss");
    double v;
    /* a loss that does not parse as a finite number is left out, not drawn wrong */
    out[SL_CURVE_LOSS] = loss && sl_parse_double(loss, &v, NULL) == SL_OK ? v : NAN;
    out[SL_CURVE_LIST_ACC] = ex->ablations[SL_ABLATION_CLEAN].res.list_accuracy;
    out[SL_CURVE_OV_COPY] = (double)p->ov_hits / p->ov_total;
    out[SL_CURVE_TOP_KEY] = p->att.top_source_correct;
    out[SL_CURVE_ON_ANSWER] = p->att.correct_mass;
    out[SL_CURVE_AFTER_MID] = p->att.mass_after_mid;
    out[SL_CURVE_QK_NEXT] = (double)p->qk_hits / p->qk_total;
    out[SL_CURVE_WEIGHT_NORM] = ex->weight_norm;
}

int sl_curve_values_of_file(const char *path, long lists, uint64_t seed, double out[SL_CURVE_COUNT],
                            SlProgressFn progress, void *progress_ctx, SlError *err)
{
    for (int c = 0; c < SL_CURVE_COUNT; c++)
        out[c] = NAN;
    SlModel *m = sl_ckpt_load(path, err);
    if (!m)
        return err ? err->code : SL_EIO;
    SlExplain ex;
    int rc = sl_explain_compute(m, lists, seed, &ex, progress, progress_ctx, err);
    if (rc) {
        sl_error_prefix(err, path);
    } else {
        sl_curve_values(m, &ex, out);
        sl_explain_free(&ex);
    }
    sl_model_free(m);
    return rc;
}
