/* cache.c: the activation cache, and the one table of TransformerLens hook
 * names that drives lookup by name (sl_cache_get), export (sl_cache_to_tensors)
 * and the hook API's names (hooks.h). */
#include "sortlens/forward.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward_internal.h"

/* n floats on a 64-byte (cache line) boundary; free() releases them. */
static float *alloc_floats(size_t n)
{
    return aligned_alloc(64, round16(n) * sizeof(float));
}

/* The cache's arrays in the order they are carved from its one block. */
enum { CACHE_ARRAYS = 11 };
static void cache_array_fields(SlActCache *c, float **field[CACHE_ARRAYS])
{
    float **f[CACHE_ARRAYS] = {&c->embed, &c->pos_embed, &c->q, &c->k, &c->v, &c->scores, &c->pattern,
                               &c->z, &c->attn_out, &c->resid_post, &c->logits};
    memcpy(field, f, sizeof f);
}

/* How many floats each of those arrays holds for B sequences of T tokens:
 * per (b, t) embed, pos_embed, logits, and per layer q k v z attn_out
 * resid_post; per (b, l, h) the T x T scores and pattern.  In double, so
 * that a count too large for size_t is seen before it is computed in one;
 * exact (integers below 2^53) for any size that can be allocated. */
static void cache_array_floats(const SlModelConfig *cfg, int B, int T, double n[CACHE_ARRAYS])
{
    const double L = cfg->n_layers, H = cfg->n_heads, D = cfg->d_model, E = cfg->d_head, Vo = cfg->d_vocab_out;
    const double BT = (double)B * T;
    const double btd = BT * D, lbthe = L * BT * H * E, lbhtt = L * H * BT * T, lbtd = L * BT * D;
    const double counts[CACHE_ARRAYS] = {btd, btd, lbthe, lbthe, lbthe, lbhtt, lbhtt, lbthe, lbtd, lbtd, BT * Vo};
    memcpy(n, counts, sizeof counts);
}

/* The floats of a cache for B sequences of T tokens (without alignment). */
static double cache_floats(const SlModelConfig *cfg, int B, int T)
{
    double n[CACHE_ARRAYS], sum = 0;
    cache_array_floats(cfg, B, T, n);
    for (int i = 0; i < CACHE_ARRAYS; i++)
        sum += n[i];
    return sum;
}

int sl_cache_batch_within(const SlModelConfig *cfg, int T, int max_B, size_t bytes)
{
    double fit = (double)bytes / (cache_floats(cfg, 1, T) * sizeof(float));
    if (fit < 1)
        return 1;
    return fit < max_B ? (int)fit : (max_B < 1 ? 1 : max_B);
}

SlActCache *sl_cache_new(const SlModelConfig *cfg, int cap_B, int cap_T, SlError *err)
{
    if (sl_model_config_validate(cfg, err))
        return NULL;
    if (cap_B < 1 || cap_B > (1 << 24) || cap_T < 1 || cap_T > cfg->n_ctx) {
        sl_error_set(err, SL_EINVAL, "activation cache for %d sequences of %d tokens: need 1..%d sequences of 1..%d tokens",
                     cap_B, cap_T, 1 << 24, cfg->n_ctx);
        return NULL;
    }
    const size_t H = (size_t)cfg->n_heads, D = (size_t)cfg->d_model;
    const size_t E = (size_t)cfg->d_head, Vo = (size_t)cfg->d_vocab_out, BT = (size_t)cap_B * (size_t)cap_T;
    /* With the limits of model.h this stays far below SIZE_MAX, but check anyway. */
    double approx = cache_floats(cfg, cap_B, cap_T);
    /* the forward pass indexes one layer's array with int products */
    double widest = (double)BT * (double)(D > H * E ? D : H * E);
    if ((double)H * BT * cap_T > widest)
        widest = (double)H * BT * cap_T;
    if (approx * sizeof(float) > (double)SIZE_MAX / 2 || widest > INT_MAX || (double)BT * Vo > INT_MAX) {
        sl_error_set(err, SL_ENOMEM, "activation cache for %d sequences of %d tokens is too large", cap_B, cap_T);
        return NULL;
    }
    /* Each array starts on a 64-byte boundary: a 16-float vector access that
     * straddles two cache lines costs twice as much (the last needs no padding). */
    double counts[CACHE_ARRAYS];
    cache_array_floats(cfg, cap_B, cap_T, counts);
    size_t n[CACHE_ARRAYS], total = 0;
    for (int i = 0; i < CACHE_ARRAYS; i++) {
        n[i] = i < CACHE_ARRAYS - 1 ? round16((size_t)counts[i]) : (size_t)counts[i];
        total += n[i];
    }
    SlActCache *c = calloc(1, sizeof *c);
    /* calloc (untouched pages stay unmapped until used), aligned by hand */
    void *block = c ? calloc(total + 16, sizeof(float)) : NULL;
    float *mem = block ? (float *)(((uintptr_t)block + 63) & ~(uintptr_t)63) : NULL;
    if (!mem) {
        free(c);
        sl_error_set(err, SL_ENOMEM, "out of memory for an activation cache of %zu floats", total);
        return NULL;
    }
    c->block = block;
    c->cap_B = cap_B;
    c->cap_T = cap_T;
    c->L = cfg->n_layers;
    c->H = cfg->n_heads;
    c->D = cfg->d_model;
    c->E = cfg->d_head;
    c->Vo = cfg->d_vocab_out;
    float **field[CACHE_ARRAYS];
    cache_array_fields(c, field);
    for (int i = 0; i < CACHE_ARRAYS; i++) {
        *field[i] = mem;
        mem += n[i];
    }
    return c;
}

void sl_cache_free(SlActCache *c)
{
    if (!c)
        return;
    free(c->block);
    free(c->scratch);
    free(c);
}

int forward_scratch_reserve(SlActCache *c, size_t n, SlError *err)
{
    if (n <= c->scratch_size)
        return 0;
    if (n > SIZE_MAX / sizeof(float))
        return sl_error_set(err, SL_ENOMEM, "forward workspace of %zu floats is too large", n);
    float *s = alloc_floats(n);
    if (!s)
        return sl_error_set(err, SL_ENOMEM, "out of memory for a forward workspace of %zu floats", n);
    free(c->scratch);
    c->scratch = s;
    c->scratch_size = n;
    return 0;
}

/* ---- the hook table ------------------------------------------------------------ */

typedef enum { SHAPE_BTD, SHAPE_BTHE, SHAPE_BHTT, SHAPE_BTVO } HookShape;
typedef enum { STAGE_BEFORE, STAGE_BLOCK, STAGE_AFTER } HookStage;   /* where in the model; export order */

/* blocks.l.hook_resid_pre, which the cache does not hold: the residual
 * stream entering layer l, as TL's run_with_cache keeps it (layer 0:
 * hook_embed + hook_pos_embed; layer l > 0: resid_post of layer l - 1). */
static void derive_resid_pre(const SlActCache *c, int layer, float *out)
{
    const size_t btd = (size_t)c->B * c->T * c->D;
    if (layer == 0)
        for (size_t i = 0; i < btd; i++)
            out[i] = c->embed[i] + c->pos_embed[i];
    else
        memcpy(out, c->resid_post + (size_t)(layer - 1) * btd, btd * sizeof *out);
}

static const struct HookInfo {
    const char *name;   /* without "blocks.L." */
    HookStage stage;
    HookShape shape;
    ptrdiff_t field;    /* offsetof the SlActCache array, -1: not cached */
    void (*derive)(const SlActCache *c, int layer, float *out);   /* not cached: computed for export */
} hook_table[SL_HOOK_COUNT] = {
    [SL_HOOK_EMBED] = {"hook_embed", STAGE_BEFORE, SHAPE_BTD, offsetof(SlActCache, embed)},
    [SL_HOOK_POS_EMBED] = {"hook_pos_embed", STAGE_BEFORE, SHAPE_BTD, offsetof(SlActCache, pos_embed)},
    [SL_HOOK_RESID_PRE] = {"hook_resid_pre", STAGE_BLOCK, SHAPE_BTD, -1, derive_resid_pre},
    [SL_HOOK_Q] = {"attn.hook_q", STAGE_BLOCK, SHAPE_BTHE, offsetof(SlActCache, q)},
    [SL_HOOK_K] = {"attn.hook_k", STAGE_BLOCK, SHAPE_BTHE, offsetof(SlActCache, k)},
    [SL_HOOK_V] = {"attn.hook_v", STAGE_BLOCK, SHAPE_BTHE, offsetof(SlActCache, v)},
    [SL_HOOK_ATTN_SCORES] = {"attn.hook_attn_scores", STAGE_BLOCK, SHAPE_BHTT, offsetof(SlActCache, scores)},
    [SL_HOOK_PATTERN] = {"attn.hook_pattern", STAGE_BLOCK, SHAPE_BHTT, offsetof(SlActCache, pattern)},
    [SL_HOOK_Z] = {"attn.hook_z", STAGE_BLOCK, SHAPE_BTHE, offsetof(SlActCache, z)},
    [SL_HOOK_ATTN_OUT] = {"hook_attn_out", STAGE_BLOCK, SHAPE_BTD, offsetof(SlActCache, attn_out)},
    [SL_HOOK_RESID_POST] = {"hook_resid_post", STAGE_BLOCK, SHAPE_BTD, offsetof(SlActCache, resid_post)},
    [SL_HOOK_LOGITS] = {"logits", STAGE_AFTER, SHAPE_BTVO, offsetof(SlActCache, logits)},
};

int sl_hook_ndim(SlHookId id)
{
    if ((unsigned)id >= SL_HOOK_COUNT)
        return 0;
    return hook_table[id].shape == SHAPE_BTHE || hook_table[id].shape == SHAPE_BHTT ? 4 : 3;
}

int hook_shape(SlHookId id, const SlActCache *c, int64_t s[4])
{
    const int64_t B = c->B, T = c->T, H = c->H, E = c->E;
    memset(s, 0, 4 * sizeof *s);
    switch (hook_table[id].shape) {
    case SHAPE_BTD: s[0] = B, s[1] = T, s[2] = c->D; return 3;
    case SHAPE_BTHE: s[0] = B, s[1] = T, s[2] = H, s[3] = E; return 4;
    case SHAPE_BHTT: s[0] = B, s[1] = H, s[2] = T, s[3] = T; return 4;
    case SHAPE_BTVO: s[0] = B, s[1] = T, s[2] = c->Vo; return 3;
    }
    return 0;
}

int cache_check_model(const SlModel *m, const SlActCache *c, SlError *err)
{
    const SlModelConfig *g = &m->cfg;
    if (!c || c->L != g->n_layers || c->H != g->n_heads || c->D != g->d_model || c->E != g->d_head ||
        c->Vo != g->d_vocab_out)
        return sl_error_set(err, SL_EINVAL, "the activation cache was not made for this model");
    if (c->B < 1 || c->T < 1)
        return sl_error_set(err, SL_EINVAL, "the activation cache holds no forward yet");
    return 0;
}

int cache_check_row(const SlModel *m, const SlActCache *c, int b, int q, SlError *err)
{
    int rc = cache_check_model(m, c, err);
    if (rc)
        return rc;
    if (b < 0 || b >= c->B)
        return sl_error_set(err, SL_EINVAL, "sequence %d is outside the %d of the last forward", b, c->B);
    if (q < 0 || q >= c->T)
        return sl_error_set(err, SL_EINVAL, "position %d is outside 0..%d", q, c->T - 1);
    return 0;
}

float *hook_cached(const SlActCache *c, SlHookId id, int layer)
{
    if ((unsigned)id >= SL_HOOK_COUNT || hook_table[id].field < 0)
        return NULL;
    float *base = *(float *const *)((const char *)c + hook_table[id].field);
    int64_t s[4];
    int nd = hook_shape(id, c, s);
    size_t per_layer = 1;
    for (int i = 0; i < nd; i++)
        per_layer *= (size_t)s[i];
    return base + (hook_table[id].stage == STAGE_BLOCK ? (size_t)layer * per_layer : 0);
}

const char *sl_hook_name(SlHookId id, int layer, char *buf, int size)
{
    if ((unsigned)id >= SL_HOOK_COUNT || size < 1)
        return NULL;
    if (hook_table[id].stage == STAGE_BLOCK)
        snprintf(buf, (size_t)size, "blocks.%d.%s", layer, hook_table[id].name);
    else
        snprintf(buf, (size_t)size, "%s", hook_table[id].name);
    return buf;
}

/* "blocks.12." -> 12, advancing *p past the dot; -1 if malformed. */
static int parse_block(const char **p)
{
    const char *s = *p;
    if (strncmp(s, "blocks.", 7) != 0)
        return -1;
    s += 7;
    if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
        return -1;
    long l = 0;
    while (*s >= '0' && *s <= '9' && l < 100000)
        l = l * 10 + (*s++ - '0');
    if (*s != '.')
        return -1;
    *p = s + 1;
    return (int)l;
}

int sl_hook_parse(const char *name, int n_layers, SlHookId *id, int *layer, SlError *err)
{
    const char *rest = name;
    int l = -1;
    if (name && strncmp(name, "blocks.", 7) == 0) {
        l = parse_block(&rest);
        if (l < 0 || l >= n_layers)
            return sl_error_set(err, SL_EINVAL, "hook %s: the model has layers 0..%d", name, n_layers - 1);
    }
    for (int i = 0; name && i < SL_HOOK_COUNT; i++) {
        if (strcmp(rest, hook_table[i].name) != 0)
            continue;
        bool block = hook_table[i].stage == STAGE_BLOCK;
        if (block && l < 0 && n_layers == 1)
            l = 0;   /* short names only where they are unambiguous */
        if (block != (l >= 0) || (!block && rest != name))
            break;
        *id = (SlHookId)i;
        *layer = block ? l : 0;
        return 0;
    }
    return sl_error_set(err, SL_EINVAL, "unknown hook %s", name ? name : "(null)");
}

const float *sl_cache_get(const SlActCache *c, const char *hook, int *ndim, int64_t shape[5])
{
    if (!c || !hook)
        return NULL;
    SlHookId id;
    int l;
    if (sl_hook_parse(hook, c->L, &id, &l, NULL) || hook_table[id].field < 0)
        return NULL;
    int64_t s[4];
    int nd = hook_shape(id, c, s);
    if (ndim)
        *ndim = nd;
    if (shape) {
        memset(shape, 0, 5 * sizeof *shape);
        memcpy(shape, s, sizeof s);
    }
    return hook_cached(c, id, l);
}

/* Adds hook i of layer l to ts: a copy of the cached values, or the values
 * its derive function computes. */
static int export_hook(const SlActCache *c, int i, int l, SlTensorSet *ts, SlError *err)
{
    char name[64];
    int64_t shape[4];
    sl_hook_name((SlHookId)i, l, name, sizeof name);
    int nd = hook_shape((SlHookId)i, c, shape);
    if (hook_table[i].field >= 0)
        return sl_tensorset_add(ts, name, SL_DT_F32, nd, shape, hook_cached(c, (SlHookId)i, l), err) ? 0 : -1;
    size_t n = 1;
    for (int d = 0; d < nd; d++)
        n *= (size_t)shape[d];
    float *x = malloc(n * sizeof *x);
    if (!x) {
        sl_error_set(err, SL_ENOMEM, "out of memory for %s", name);
        return -1;
    }
    hook_table[i].derive(c, l, x);
    if (!sl_tensorset_add_owned(ts, name, SL_DT_F32, nd, shape, x, n * sizeof *x, err)) {
        free(x);
        return -1;
    }
    return 0;
}

SlTensorSet *sl_cache_to_tensors(const SlActCache *c, SlError *err)
{
    SlTensorSet *ts = sl_tensorset_new();
    if (!ts) {
        sl_error_set(err, SL_ENOMEM, "out of memory for the activations");
        return NULL;
    }
    /* TL's order: what comes before the blocks, each block, then the logits */
    for (HookStage stage = STAGE_BEFORE; stage <= STAGE_AFTER; stage++)
        for (int l = 0; l < (stage == STAGE_BLOCK ? c->L : 1); l++)
            for (int i = 0; i < SL_HOOK_COUNT; i++)
                if (hook_table[i].stage == stage && export_hook(c, i, l, ts, err)) {
                    sl_tensorset_free(ts);
                    return NULL;
                }
    return ts;
}
