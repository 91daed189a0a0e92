/* reference.c: PyTorch's reference tensors and the comparisons against
 * them (reference.h). */
#include "reference.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sortlens/safetensors.h"
#include "test_util.h"

bool ref_report_errors;

void expect_close_f(const char *what, const float *got, const float *want, size_t n, double tol)
{
    double scale = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(want[i]) && fabs(want[i]) > scale)
            scale = fabs(want[i]);
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (isinf(want[i]) || isinf(got[i])) {
            ck_assert_msg(got[i] == want[i], "%s[%zu] = %g, expected %g", what, i, (double)got[i], (double)want[i]);
            continue;
        }
        double d = fabs((double)got[i] - (double)want[i]);
        if (!(d <= worst)) {
            worst = d;
            at = i;
        }
    }
    if (ref_report_errors)
        printf("%s: max abs error %.3g, %.3g of the largest |value| %.4g\n", what, worst, scale > 0 ? worst / scale : worst,
               scale);
    ck_assert_msg(worst <= tol * (scale > 0 ? scale : 1.0), "%s: max abs error %g at %zu (got %g, want %g) > %g x %g", what,
                  worst, at, (double)got[at], (double)want[at], tol, scale);
}

void expect_close_d(const char *what, const float *got, const double *want, size_t n, double tol)
{
    float *w = malloc(n * sizeof *w);
    ck_assert_ptr_nonnull(w);
    for (size_t i = 0; i < n; i++)
        w[i] = (float)want[i];
    expect_close_f(what, got, w, n, tol);
    free(w);
}

SlTensorSet *ref_load(void)
{
    ref_report_errors = true;
    const char *path = shared_path("reference/reference.safetensors");
    if (!path) {
        printf("skipped: ../shared/reference/reference.safetensors is absent\n");
        return NULL;
    }
    SlError err = {0};
    SlTensorSet *ts = sl_safetensors_read(path, &err);
    ck_assert_msg(ts, "%s", err.message);
    return ts;
}

const float *ref_f32(const SlTensorSet *ts, const char *name, size_t *count)
{
    const SlTensor *t = sl_tensorset_find(ts, name);
    ck_assert_msg(t, "reference lacks %s", name);
    ck_assert_int_eq(t->dtype, SL_DT_F32);
    *count = t->nbytes / sizeof(float);
    return t->data;
}

int *ref_ints(const SlTensorSet *ts, const char *name, size_t *count)
{
    const SlTensor *t = sl_tensorset_find(ts, name);
    ck_assert_msg(t, "reference lacks %s", name);
    ck_assert_int_eq(t->dtype, SL_DT_I64);
    *count = t->nbytes / 8;
    int *out = malloc(*count * sizeof *out);
    for (size_t i = 0; i < *count; i++) {
        int64_t v;
        memcpy(&v, (const char *)t->data + 8 * i, 8);
        out[i] = (int)v;
    }
    return out;
}

const char *const ref_cache4_names[REF_CACHE4_COUNT] = {
    "hook_embed", "hook_pos_embed", "attn.hook_q", "attn.hook_k", "attn.hook_v", "attn.hook_attn_scores",
    "attn.hook_pattern", "attn.hook_z", "hook_attn_out", "hook_resid_post", "logits",
};
