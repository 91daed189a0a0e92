/* model.c: parameters, config inference and validation, conversion to and
 * from named tensors. */
#include "sortlens/model.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sortlens/tables.h"

void sl_model_config_derive(SlModelConfig *cfg)
{
    cfg->n_ctx = 2 * cfg->list_len + 2;
    cfg->d_vocab = cfg->d_vocab_out + 2;
}

int sl_model_config_validate(const SlModelConfig *c, SlError *err)
{
    if (c->n_layers < 1 || c->n_layers > SL_MODEL_MAX_LAYERS)
        return sl_error_set(err, SL_EFORMAT, "n_layers is %d; it must be 1..%d", c->n_layers, SL_MODEL_MAX_LAYERS);
    if (c->n_heads < 1 || c->n_heads > SL_MODEL_MAX_HEADS)
        return sl_error_set(err, SL_EFORMAT, "n_heads is %d; it must be 1..%d", c->n_heads, SL_MODEL_MAX_HEADS);
    if (c->d_model < 1 || c->d_model > SL_MODEL_MAX_DIM)
        return sl_error_set(err, SL_EFORMAT, "d_model is %d; it must be 1..%d", c->d_model, SL_MODEL_MAX_DIM);
    if (c->d_head < 1 || c->d_head > SL_MODEL_MAX_DIM)
        return sl_error_set(err, SL_EFORMAT, "d_head is %d; it must be 1..%d", c->d_head, SL_MODEL_MAX_DIM);
    if (c->d_vocab_out < 1 || c->d_vocab_out > SL_MODEL_MAX_VOCAB)
        return sl_error_set(err, SL_EFORMAT, "d_vocab_out is %d; it must be 1..%d", c->d_vocab_out, SL_MODEL_MAX_VOCAB);
    if (c->d_vocab != c->d_vocab_out + 2)
        return sl_error_set(err, SL_EFORMAT, "d_vocab is %d; the sort task needs d_vocab_out + 2 = %d (values, BOS, MID)",
                            c->d_vocab, c->d_vocab_out + 2);
    if (c->n_ctx < 4 || c->n_ctx > SL_MODEL_MAX_CTX || c->n_ctx % 2)
        return sl_error_set(err, SL_EFORMAT, "n_ctx is %d; the sort task needs an even n_ctx = 2n + 2 with n >= 1 (at most %d)",
                            c->n_ctx, SL_MODEL_MAX_CTX);
    if (c->list_len != (c->n_ctx - 2) / 2)
        return sl_error_set(err, SL_EFORMAT, "list length %d does not match n_ctx %d (n_ctx = 2n + 2)", c->list_len, c->n_ctx);
    return 0;
}

static const char *const param_suffix[SL_NUM_PARAM_TENSORS] = {
    [SL_P_W_E] = "embed.W_E", [SL_P_W_POS] = "pos_embed.W_pos",
    [SL_P_W_Q] = "attn.W_Q", [SL_P_W_K] = "attn.W_K", [SL_P_W_V] = "attn.W_V", [SL_P_W_O] = "attn.W_O",
    [SL_P_B_Q] = "attn.b_Q", [SL_P_B_K] = "attn.b_K", [SL_P_B_V] = "attn.b_V", [SL_P_B_O] = "attn.b_O",
    [SL_P_W_U] = "unembed.W_U", [SL_P_B_U] = "unembed.b_U",
};

bool sl_model_param_per_layer(int i) { return i >= SL_P_W_Q && i <= SL_P_B_O; }
bool sl_model_param_is_bias(int i) { return i >= SL_P_B_Q && i <= SL_P_B_O ? true : i == SL_P_B_U; }

void sl_model_param_name(int i, int layer, char *buf, size_t bufsize)
{
    if (sl_model_param_per_layer(i))
        snprintf(buf, bufsize, "blocks.%d.%s", layer, param_suffix[i]);
    else
        snprintf(buf, bufsize, "%s", param_suffix[i]);
}

/* Shape of param i for ONE layer (per-layer tensors) or the whole tensor. */
static int param_shape(const SlModelConfig *c, int i, int64_t *shape)
{
    switch (i) {
    case SL_P_W_E: shape[0] = c->d_vocab; shape[1] = c->d_model; return 2;
    case SL_P_W_POS: shape[0] = c->n_ctx; shape[1] = c->d_model; return 2;
    case SL_P_W_Q: case SL_P_W_K: case SL_P_W_V:
        shape[0] = c->n_heads; shape[1] = c->d_model; shape[2] = c->d_head; return 3;
    case SL_P_W_O: shape[0] = c->n_heads; shape[1] = c->d_head; shape[2] = c->d_model; return 3;
    case SL_P_B_Q: case SL_P_B_K: case SL_P_B_V: shape[0] = c->n_heads; shape[1] = c->d_head; return 2;
    case SL_P_B_O: shape[0] = c->d_model; return 1;
    case SL_P_W_U: shape[0] = c->d_model; shape[1] = c->d_vocab_out; return 2;
    case SL_P_B_U: shape[0] = c->d_vocab_out; return 1;
    }
    return 0;
}

size_t sl_model_param_size(const SlModelConfig *c, int i)
{
    int64_t shape[4];
    int nd = param_shape(c, i, shape);
    size_t n = 1;
    for (int d = 0; d < nd; d++)
        n *= (size_t)shape[d];
    return sl_model_param_per_layer(i) ? n * (size_t)c->n_layers : n;
}

float *sl_model_params_get(SlModelParams *p, int i)
{
    float **ptrs[SL_NUM_PARAM_TENSORS] = {
        &p->W_E, &p->W_pos, &p->W_Q, &p->W_K, &p->W_V, &p->W_O,
        &p->b_Q, &p->b_K, &p->b_V, &p->b_O, &p->W_U, &p->b_U,
    };
    return *ptrs[i];
}

static void params_point(SlModelParams *p, float *mem, const size_t *sizes)
{
    float **ptrs[SL_NUM_PARAM_TENSORS] = {
        &p->W_E, &p->W_pos, &p->W_Q, &p->W_K, &p->W_V, &p->W_O,
        &p->b_Q, &p->b_K, &p->b_V, &p->b_O, &p->W_U, &p->b_U,
    };
    for (int i = 0; i < SL_NUM_PARAM_TENSORS; i++) {
        *ptrs[i] = mem;
        mem += sizes[i];
    }
}

SlModel *sl_model_new(const SlModelConfig *cfg, SlError *err)
{
    if (sl_model_config_validate(cfg, err))
        return NULL;
    SlModel *m = calloc(1, sizeof *m);
    if (!m)
        goto fail_nomem;
    m->cfg = *cfg;
    for (int i = 0; i < SL_NUM_PARAM_TENSORS; i++) {
        m->param_sizes[i] = sl_model_param_size(cfg, i);
        m->num_params += m->param_sizes[i];
    }
    m->param_memory = calloc(m->num_params, sizeof(float));
    m->meta = sl_tensorset_new();
    if (!m->param_memory || !m->meta)
        goto fail_nomem;
    params_point(&m->params, m->param_memory, m->param_sizes);
    snprintf(m->format, sizeof m->format, "new");
    return m;
fail_nomem:
    sl_model_free(m);
    sl_error_set(err, SL_ENOMEM, "out of memory for the model");
    return NULL;
}

void sl_model_free(SlModel *m)
{
    if (!m)
        return;
    sl_tables_free(m->tables);
    sl_tensorset_free(m->meta);
    free(m->param_memory);
    free(m);
}

int sl_model_prepare(SlModel *m, SlError *err)
{
    sl_tables_free(m->tables);
    m->tables = sl_tables_new(m, err);
    return m->tables ? 0 : (err ? err->code : SL_ENOMEM);
}

/* ---- from named tensors ---------------------------------------------------- */

static const SlTensor *need(const SlTensorSet *ts, const char *name, int ndim, const char *label, SlError *err)
{
    const SlTensor *t = sl_tensorset_find(ts, name);
    if (!t) {
        sl_error_set(err, SL_EFORMAT, "%s: missing weight %s", label, name);
        return NULL;
    }
    if (t->ndim != ndim) {
        sl_error_set(err, SL_EFORMAT, "%s: %s has %d dimensions; expected %d", label, name, t->ndim, ndim);
        return NULL;
    }
    return t;
}

static bool shape_int(int64_t v) { return v >= 1 && v <= INT32_MAX; }

/* Is name a known parameter or buffer? Sets *param and *layer. */
static bool classify_name(const char *name, int n_layers, int *param, int *layer, bool *is_buffer)
{
    *is_buffer = false;
    *layer = -1;
    for (int i = 0; i < SL_NUM_PARAM_TENSORS; i++)
        if (!sl_model_param_per_layer(i) && strcmp(name, param_suffix[i]) == 0) {
            *param = i;
            return true;
        }
    if (strncmp(name, "blocks.", 7) != 0)
        return false;
    const char *p = name + 7;
    if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9'))
        return false;
    long l = 0;
    while (*p >= '0' && *p <= '9' && l < 100000)
        l = l * 10 + (*p++ - '0');
    if (*p++ != '.' || l >= n_layers)
        return false;
    *layer = (int)l;
    if (strcmp(p, "attn.mask") == 0 || strcmp(p, "attn.IGNORE") == 0) {
        *is_buffer = true;
        return true;
    }
    for (int i = 0; i < SL_NUM_PARAM_TENSORS; i++)
        if (sl_model_param_per_layer(i) && strcmp(p, param_suffix[i]) == 0) {
            *param = i;
            return true;
        }
    return false;
}

/* Which config number each dimension of param i is, and where it was read. */
enum { F_VOCAB, F_MODEL, F_CTX, F_VOCAB_OUT, F_HEADS, F_HEAD };
static const struct { const char *what, *source; } field_info[] = {
    [F_VOCAB] = {"d_vocab", "embed.W_E"}, [F_MODEL] = {"d_model", "embed.W_E"},
    [F_CTX] = {"n_ctx", "pos_embed.W_pos"}, [F_VOCAB_OUT] = {"d_vocab_out", "unembed.W_U"},
    [F_HEADS] = {"n_heads", "blocks.0.attn.W_Q"}, [F_HEAD] = {"d_head", "blocks.0.attn.W_Q"},
};

static int param_dim_field(int i, int d)
{
    static const int dims[SL_NUM_PARAM_TENSORS][3] = {
        [SL_P_W_E] = {F_VOCAB, F_MODEL}, [SL_P_W_POS] = {F_CTX, F_MODEL},
        [SL_P_W_Q] = {F_HEADS, F_MODEL, F_HEAD}, [SL_P_W_K] = {F_HEADS, F_MODEL, F_HEAD},
        [SL_P_W_V] = {F_HEADS, F_MODEL, F_HEAD}, [SL_P_W_O] = {F_HEADS, F_HEAD, F_MODEL},
        [SL_P_B_Q] = {F_HEADS, F_HEAD}, [SL_P_B_K] = {F_HEADS, F_HEAD}, [SL_P_B_V] = {F_HEADS, F_HEAD},
        [SL_P_B_O] = {F_MODEL}, [SL_P_W_U] = {F_MODEL, F_VOCAB_OUT}, [SL_P_B_U] = {F_VOCAB_OUT},
    };
    return dims[i][d];
}

/* The config a checkpoint's tensors imply: each number from one tensor's
 * dimension, the layers counted, the sort task's relations checked. */
static int config_from_tensors(const SlTensorSet *ts, const char *label, SlModelConfig *cfg, SlError *err)
{
    SlModelConfig c = {0};
    char name[96];
    const SlTensor *we = need(ts, "embed.W_E", 2, label, err);
    const SlTensor *wp = we ? need(ts, "pos_embed.W_pos", 2, label, err) : NULL;
    const SlTensor *wu = wp ? need(ts, "unembed.W_U", 2, label, err) : NULL;
    const SlTensor *wq = wu ? need(ts, "blocks.0.attn.W_Q", 3, label, err) : NULL;
    if (!wq)
        return SL_EFORMAT;
    /* Each config number comes from one tensor's dimension; messages about
     * a disagreement name that tensor and the one that disagrees. */
    const struct { const SlTensor *t; int dim; const char *what; } src[] = {
        {we, 0, "rows (d_vocab)"}, {we, 1, "columns (d_model)"}, {wp, 0, "rows (n_ctx)"},
        {wu, 1, "columns (d_vocab_out)"}, {wq, 0, "heads"}, {wq, 2, "columns per head (d_head)"},
    };
    for (size_t i = 0; i < sizeof src / sizeof src[0]; i++)
        if (!shape_int(src[i].t->shape[src[i].dim]))
            return sl_error_set(err, SL_EFORMAT, "%s: %s has %" PRId64 " %s; it must be 1..2147483647", label,
                                src[i].t->name, src[i].t->shape[src[i].dim], src[i].what);
    c.d_vocab = (int)we->shape[0];
    c.d_model = (int)we->shape[1];
    c.n_ctx = (int)wp->shape[0];
    c.d_vocab_out = (int)wu->shape[1];
    c.n_heads = (int)wq->shape[0];
    c.d_head = (int)wq->shape[2];
    c.list_len = (c.n_ctx - 2) / 2;
    while (c.n_layers < SL_MODEL_MAX_LAYERS) {
        snprintf(name, sizeof name, "blocks.%d.attn.W_Q", c.n_layers);
        if (!sl_tensorset_find(ts, name))
            break;
        c.n_layers++;
    }
    /* The sort task's relations, said in terms of the tensors. */
    if ((int64_t)c.d_vocab != (int64_t)c.d_vocab_out + 2)
        return sl_error_set(err, SL_EFORMAT, "%s: embed.W_E has %d rows (d_vocab); unembed.W_U has %d columns "
                            "(d_vocab_out), which implies %lld (the values, BOS and MID)", label, c.d_vocab,
                            c.d_vocab_out, (long long)c.d_vocab_out + 2);
    if (c.n_ctx % 2 || c.n_ctx < 4)
        return sl_error_set(err, SL_EFORMAT, "%s: pos_embed.W_pos has %d rows (n_ctx); the sort task needs an even "
                            "n_ctx = 2n + 2 with n >= 1, so %d or %d", label, c.n_ctx, c.n_ctx < 4 ? 4 : c.n_ctx - 1,
                            c.n_ctx < 4 ? 6 : c.n_ctx + 1);
    int rc = sl_model_config_validate(&c, err);
    if (rc) {
        sl_error_prefix(err, label);
        return rc;
    }
    *cfg = c;
    return 0;
}

/* Every tensor must be a known parameter or buffer of a model of config c:
 * finds unknown ones (layernorm weights, extra layers, MLPs) before
 * anything is copied. */
static int check_known_tensors(const SlTensorSet *ts, const SlModelConfig *c, const char *label, SlError *err)
{
    for (int i = 0; i < ts->count; i++) {
        int param, layer;
        bool buffer;
        if (classify_name(ts->items[i].name, c->n_layers, &param, &layer, &buffer))
            continue;
        if (classify_name(ts->items[i].name, SL_MODEL_MAX_LAYERS, &param, &layer, &buffer) && layer >= c->n_layers)
            return sl_error_set(err, SL_EFORMAT, "%s: %s belongs to layer %d, but blocks.%d.attn.W_Q is missing (layers "
                                "must be numbered 0..L-1)", label, ts->items[i].name, layer, c->n_layers);
        return sl_error_set(err, SL_EFORMAT, "%s: unexpected tensor %s (sortlens reads attention-only models without "
                            "layernorm, %d layer%s)", label, ts->items[i].name, c->n_layers, c->n_layers == 1 ? "" : "s");
    }
    return 0;
}

/* Parameter i of every layer from the tensors into m, checked for shape and
 * finite values; a missing bias is zero (m->has_bias[i] false). */
static int copy_param(SlModel *m, const SlTensorSet *ts, int i, const char *label, SlError *err)
{
    const SlModelConfig *c = &m->cfg;
    char name[96];
    int64_t shape[4];
    int nd = param_shape(c, i, shape);
    size_t per_layer = sl_model_param_per_layer(i) ? m->param_sizes[i] / (size_t)c->n_layers : m->param_sizes[i];
    int layers = sl_model_param_per_layer(i) ? c->n_layers : 1;
    m->has_bias[i] = true;
    for (int l = 0; l < layers; l++) {
        sl_model_param_name(i, l, name, sizeof name);
        const SlTensor *t = sl_tensorset_find(ts, name);
        if (!t) {
            if (sl_model_param_is_bias(i)) {  /* missing biases are zero */
                m->has_bias[i] = false;
                continue;
            }
            return sl_error_set(err, SL_EFORMAT, "%s: missing weight %s", label, name);
        }
        if (t->ndim != nd)
            return sl_error_set(err, SL_EFORMAT, "%s: %s has %d dimensions; expected %d", label, name, t->ndim, nd);
        for (int d = 0; d < nd; d++)
            if (t->shape[d] != shape[d]) {
                int f = param_dim_field(i, d);
                return sl_error_set(err, SL_EFORMAT, "%s: %s has %s %" PRId64 " (dimension %d); %s implies %" PRId64,
                                    label, name, field_info[f].what, t->shape[d], d, field_info[f].source, shape[d]);
            }
        float *f = sl_tensor_to_f32(t, err);
        if (!f) {
            sl_error_prefix(err, label);
            return err ? err->code : SL_EFORMAT;
        }
        for (size_t k = 0; k < per_layer; k++)
            if (!isfinite(f[k])) {
                int rc = sl_error_set(err, SL_EFORMAT, "%s: %s holds a non-finite value (%g at element %zu)", label, name,
                                      (double)f[k], k);
                free(f);
                return rc;
            }
        memcpy(sl_model_params_get(&m->params, i) + (size_t)l * per_layer, f, per_layer * sizeof(float));
        free(f);
    }
    return 0;
}

SlModel *sl_model_from_tensors(const SlTensorSet *ts, const char *label, SlError *err)
{
    SlModelConfig c;
    if (config_from_tensors(ts, label, &c, err) || check_known_tensors(ts, &c, label, err))
        return NULL;
    SlModel *m = sl_model_new(&c, err);
    if (!m)
        return NULL;
    for (int i = 0; i < SL_NUM_PARAM_TENSORS; i++)
        if (copy_param(m, ts, i, label, err))
            goto fail;
    for (int i = 0; i < ts->meta_count; i++)
        if (sl_tensorset_set_meta(m->meta, ts->meta_keys[i], ts->meta_values[i], err))
            goto fail;
    if (sl_model_prepare(m, err)) {
        sl_error_prefix(err, label);
        goto fail;
    }
    return m;
fail:
    sl_model_free(m);
    return NULL;
}

SlTensorSet *sl_model_to_tensors(const SlModel *m, SlError *err)
{
    SlTensorSet *ts = sl_tensorset_new();
    char name[96], num[32];
    if (!ts) {
        sl_error_set(err, SL_ENOMEM, "out of memory");
        return NULL;
    }
    const SlModelConfig *c = &m->cfg;
    for (int i = 0; i < SL_NUM_PARAM_TENSORS; i++) {
        int64_t shape[4];
        int nd = param_shape(c, i, shape);
        int layers = sl_model_param_per_layer(i) ? c->n_layers : 1;
        size_t per_layer = m->param_sizes[i] / (size_t)layers;
        const float *base = sl_model_params_get((SlModelParams *)&m->params, i);
        for (int l = 0; l < layers; l++) {
            sl_model_param_name(i, l, name, sizeof name);
            if (!sl_tensorset_add(ts, name, SL_DT_F32, nd, shape, base + (size_t)l * per_layer, err))
                goto fail;
        }
    }
    /* TransformerLens registers the causal mask and IGNORE as persistent
     * buffers, so HookedTransformer.load_state_dict(strict=True) wants them. */
    for (int l = 0; l < c->n_layers; l++) {
        int64_t mshape[2] = {c->n_ctx, c->n_ctx};
        snprintf(name, sizeof name, "blocks.%d.attn.mask", l);
        SlTensor *mask = sl_tensorset_add(ts, name, SL_DT_BOOL, 2, mshape, NULL, err);
        if (!mask)
            goto fail;
        for (int q = 0; q < c->n_ctx; q++)
            for (int k = 0; k <= q; k++)
                ((uint8_t *)mask->data)[(size_t)q * c->n_ctx + k] = 1;
        const float ignore = -100000.0f;
        snprintf(name, sizeof name, "blocks.%d.attn.IGNORE", l);
        if (!sl_tensorset_add(ts, name, SL_DT_F32, 0, NULL, &ignore, err))
            goto fail;
    }
    for (int i = 0; i < m->meta->meta_count; i++)
        if (sl_tensorset_set_meta(ts, m->meta->meta_keys[i], m->meta->meta_values[i], err))
            goto fail;
    const struct { const char *k; int v; } cfgv[] = {
        {"n_layers", c->n_layers}, {"n_heads", c->n_heads}, {"d_model", c->d_model},
        {"d_head", c->d_head}, {"n_ctx", c->n_ctx}, {"d_vocab", c->d_vocab},
        {"d_vocab_out", c->d_vocab_out}, {"list_len", c->list_len},
    };
    for (size_t i = 0; i < sizeof cfgv / sizeof cfgv[0]; i++) {
        snprintf(num, sizeof num, "%d", cfgv[i].v);
        if (sl_tensorset_set_meta(ts, cfgv[i].k, num, err))
            goto fail;
    }
    if (sl_tensorset_set_meta(ts, "format", "sortlens", err) ||
        sl_tensorset_set_meta(ts, "attn_only", "true", err) ||
        sl_tensorset_set_meta(ts, "normalization_type", "None", err))
        goto fail;
    return ts;
fail:
    sl_tensorset_free(ts);
    return NULL;
}
