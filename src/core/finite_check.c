/* finite_check.c: see finite_check.h. */
#include "sortlens/finite_check.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int report(const char *name, const float *x, size_t at, int ndim, const int64_t *shape,
                  const char *const *dims, SlError *err)
{
    char where[256];
    size_t len = 0;
    int64_t idx[8] = {0};
    size_t rest = at;
    for (int d = ndim - 1; d >= 0; d--) {
        idx[d] = (int64_t)(rest % (size_t)shape[d]);
        rest /= (size_t)shape[d];
    }
    for (int d = 0; d < ndim && len < sizeof where; d++)
        len += (size_t)snprintf(where + len, sizeof where - len, "%s%s %lld", d ? ", " : "",
                                dims && dims[d] ? dims[d] : "index", (long long)idx[d]);
    float v = x[at];
    return sl_error_set(err, SL_EFORMAT, "the model's outputs are not numbers: %s[%s] is %s (float32 "
                        "overflowed; are the weights far too large?)",
                        name, where, isnan(v) ? "nan" : v > 0 ? "+inf" : "-inf");
}

static int check(const char *name, const float *x, int ndim, const int64_t *shape, const char *const *dims,
                 bool allow_neg_inf, SlError *err)
{
    size_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= (size_t)shape[d];
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]) && !(allow_neg_inf && x[i] == -INFINITY))
            return report(name, x, i, ndim, shape, dims, err);
    return SL_OK;
}

int sl_check_finite(const char *name, const float *x, int ndim, const int64_t *shape, const char *const *dims,
                    SlError *err)
{
    return check(name, x, ndim, shape, dims, false, err);
}

int sl_cache_check_finite(const SlActCache *c, SlError *err)
{
    static const char *const per_layer[] = {"attn.hook_q", "attn.hook_k", "attn.hook_v", "attn.hook_attn_scores",
                                            "attn.hook_pattern", "attn.hook_z", "hook_attn_out", "hook_resid_post"};
    static const char *const btd[] = {"list", "position", "d_model"};
    static const char *const bthe[] = {"list", "position", "head", "d_head"};
    static const char *const bhqk[] = {"list", "head", "query", "key"};
    static const char *const btv[] = {"list", "position", "value"};
    const int per = (int)(sizeof per_layer / sizeof per_layer[0]);
    for (int i = 0; i < 2 + c->L * per + 1; i++) {
        char name[64];
        const char *const *dims;
        if (i < 2) {
            snprintf(name, sizeof name, "%s", i == 0 ? "hook_embed" : "hook_pos_embed");
            dims = btd;
        } else if (i == 2 + c->L * per) {
            snprintf(name, sizeof name, "logits");
            dims = btv;
        } else {
            const char *hook = per_layer[(i - 2) % per];
            snprintf(name, sizeof name, "blocks.%d.%s", (i - 2) / per, hook);
            dims = strstr(hook, "scores") || strstr(hook, "pattern") ? bhqk : strncmp(hook, "attn.", 5) == 0 ? bthe : btd;
        }
        int nd;
        int64_t shape[5];
        const float *x = sl_cache_get(c, name, &nd, shape);
        if (!x)
            continue;
        int rc = check(name, x, nd, shape, dims, strstr(name, "attn_scores") != NULL, err);
        if (rc)
            return rc;
    }
    return SL_OK;
}

int sl_forward_check_finite(const SlModel *m, const int *tokens, int T, SlError *err)
{
    SlActCache *c = sl_cache_new(&m->cfg, 1, T, err);
    if (!c)
        return err ? err->code : SL_ENOMEM;
    int rc = sl_model_forward(m, tokens, 1, T, c, NULL, SL_FORWARD_AUTO, err);
    if (!rc)
        rc = sl_cache_check_finite(c, err);
    sl_cache_free(c);
    return rc;
}
