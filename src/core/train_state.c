/* train_state.c: a SlTrainer's optimizer state to and from tensors (see
 * train_state.h for the layout). */
#include "sortlens/train_state.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const MOMENT_NAMES[2] = {"exp_avg", "exp_avg_sq"};

/* The optimizer options that give Adam's moments their meaning, as text. */
static int options_meta(const SlTrainOptions *o, SlTensorSet *ts, SlError *err)
{
    char buf[8][64];
    snprintf(buf[0], sizeof buf[0], "%.17g", o->lr);
    snprintf(buf[1], sizeof buf[1], "%.17g", o->weight_decay);
    snprintf(buf[2], sizeof buf[2], "%.17g,%.17g", o->beta1, o->beta2);
    snprintf(buf[3], sizeof buf[3], "%.17g", o->eps);
    snprintf(buf[4], sizeof buf[4], "%d", o->batch);
    snprintf(buf[5], sizeof buf[5], "%s", o->schedule == SL_TRAIN_SCHEDULE_COSINE ? "cosine" : "constant");
    snprintf(buf[6], sizeof buf[6], "%ld", o->warmup);
    snprintf(buf[7], sizeof buf[7], "%" PRIu64, o->seed);
    const char *keys[8] = {"lr", "weight_decay", "betas", "eps", "batch", "schedule", "warmup", "seed"};
    for (int i = 0; i < 8; i++)
        if (sl_tensorset_set_meta(ts, keys[i], buf[i], err))
            return SL_ENOMEM;
    /* the weight decay's schedule and W_Q/W_K rate ("none": as weight_decay) */
    char wd_end[64] = "none", wd_qk[64] = "none";
    if (o->weight_decay_end >= 0)
        snprintf(wd_end, sizeof wd_end, "%.17g", o->weight_decay_end);
    if (o->weight_decay_qk >= 0)
        snprintf(wd_qk, sizeof wd_qk, "%.17g", o->weight_decay_qk);
    char hard[64];
    snprintf(hard, sizeof hard, "%.17g", o->hard_share);
    if (sl_tensorset_set_meta(ts, "weight_decay_end", wd_end, err) || sl_tensorset_set_meta(ts, "weight_decay_qk", wd_qk, err) ||
        sl_tensorset_set_meta(ts, "hard_share", hard, err))
        return SL_ENOMEM;
    return sl_tensorset_set_meta(ts, "train_biases", o->train_biases ? "true" : "false", err);
}

/* Calls fn for every parameter tensor as the model file splits it (one per
 * layer for per-layer parameters), with its element count and offset into
 * the parameter block; stops at the first nonzero return. */
typedef int (*ParamVisit)(void *ctx, const char *name, size_t offset, size_t count);
static int each_param_tensor(const SlModel *m, ParamVisit fn, void *ctx)
{
    size_t off = 0;
    char name[96];
    for (int i = 0; i < SL_NUM_PARAM_TENSORS; i++) {
        int layers = sl_model_param_per_layer(i) ? m->cfg.n_layers : 1;
        size_t per_layer = m->param_sizes[i] / (size_t)layers;
        for (int l = 0; l < layers; l++) {
            sl_model_param_name(i, l, name, sizeof name);
            int rc = fn(ctx, name, off + (size_t)l * per_layer, per_layer);
            if (rc)
                return rc;
        }
        off += m->param_sizes[i];
    }
    return 0;
}

typedef struct {
    const SlTrainer *t;
    SlTensorSet *ts;
    const SlTensorSet *model_ts;   /* for the shapes */
    SlError *err;
} SaveCtx;

static int save_moments(void *vctx, const char *name, size_t offset, size_t count)
{
    SaveCtx *c = vctx;
    const SlTensor *like = sl_tensorset_find(c->model_ts, name);
    if (!like)
        return sl_error_set(c->err, SL_EFORMAT, "%s: not among the model's tensors", name);
    const float *src[2] = {c->t->m_memory + offset, c->t->v_memory + offset};
    char key[128];
    for (int k = 0; k < 2; k++) {
        snprintf(key, sizeof key, "%s.%s", name, MOMENT_NAMES[k]);
        if (!sl_tensorset_add(c->ts, key, SL_DT_F32, like->ndim, like->shape, src[k], c->err))
            return SL_ENOMEM;
    }
    (void)count;
    return 0;
}

SlTensorSet *sl_train_state_tensors(const SlTrainer *t, SlError *err)
{
    SlTensorSet *model_ts = sl_model_to_tensors(t->model, err), *ts = sl_tensorset_new();
    char buf[160];
    if (!model_ts || !ts) {
        if (model_ts)
            sl_error_set(err, SL_ENOMEM, "out of memory");
        goto fail;
    }
    SaveCtx ctx = {t, ts, model_ts, err};
    if (each_param_tensor(t->model, save_moments, &ctx))
        goto fail;
    snprintf(buf, sizeof buf, "%ld", t->step);
    if (sl_tensorset_set_meta(ts, "format", "sortlens-train-state", err) || sl_tensorset_set_meta(ts, "step", buf, err))
        goto fail;
    snprintf(buf, sizeof buf, "%016" PRIx64 ",%016" PRIx64 ",%016" PRIx64 ",%016" PRIx64, t->data_rng.s[0],
             t->data_rng.s[1], t->data_rng.s[2], t->data_rng.s[3]);
    if (sl_tensorset_set_meta(ts, "data_rng", buf, err) || options_meta(&t->opt, ts, err))
        goto fail;
    sl_tensorset_free(model_ts);
    return ts;
fail:
    sl_tensorset_free(model_ts);
    sl_tensorset_free(ts);
    return NULL;
}

long sl_train_state_step(const SlTensorSet *ts)
{
    const char *s = sl_tensorset_get_meta(ts, "step");
    if (!s || *s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    return errno || *end ? -1 : v;
}

static bool parse_rng(const char *s, SlRng *r)
{
    for (int i = 0; i < 4; i++) {
        char *end;
        if (!s || !((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
        errno = 0;
        unsigned long long w = strtoull(s, &end, 16);
        if (errno || end - s != 16 || *end != (i < 3 ? ',' : '\0'))
            return false;
        r->s[i] = (uint64_t)w;
        s = end + 1;
    }
    /* xoshiro256** never leaves the all-zero state, and never reaches it */
    return r->s[0] | r->s[1] | r->s[2] | r->s[3];
}

typedef struct {
    const SlTensorSet *ts;
    const char *label;
    SlError *err;
    float *dst[2];   /* NULL: only check */
} LoadCtx;

static int load_moments(void *vctx, const char *name, size_t offset, size_t count)
{
    LoadCtx *c = vctx;
    char key[128];
    for (int k = 0; k < 2; k++) {
        snprintf(key, sizeof key, "%s.%s", name, MOMENT_NAMES[k]);
        const SlTensor *t = sl_tensorset_find(c->ts, key);
        if (!t)
            return sl_error_set(c->err, SL_EFORMAT, "%s: %s is missing", c->label, key);
        if (t->dtype != SL_DT_F32 || t->nbytes != count * sizeof(float))
            return sl_error_set(c->err, SL_EFORMAT, "%s: %s is %s with %zu elements; the model needs F32 with %zu",
                                c->label, key, sl_dtype_name(t->dtype), t->nbytes / sl_dtype_size(t->dtype), count);
        const float *v = t->data;
        for (size_t i = 0; i < count; i++)
            if (!isfinite(v[i]) || (k == 1 && v[i] < 0))
                return sl_error_set(c->err, SL_EFORMAT, "%s: %s[%zu] is %g, not a%s number", c->label, key, i,
                                    (double)v[i], k == 1 ? " finite non-negative" : " finite");
        if (c->dst[k])
            memcpy(c->dst[k] + offset, v, count * sizeof(float));
    }
    return 0;
}

int sl_train_state_restore(SlTrainer *t, const SlTensorSet *ts, const char *label, SlError *err)
{
    const char *fmt = sl_tensorset_get_meta(ts, "format");
    if (!fmt || strcmp(fmt, "sortlens-train-state") != 0)
        return sl_error_set(err, SL_EFORMAT, "%s: not a sortlens training state (its metadata lacks format=sortlens-train-state)",
                            label);
    long step = sl_train_state_step(ts);
    if (step < 0)
        return sl_error_set(err, SL_EFORMAT, "%s: the step '%s' is not a non-negative integer", label,
                            sl_tensorset_get_meta(ts, "step") ? sl_tensorset_get_meta(ts, "step") : "(missing)");
    SlRng rng;
    if (!parse_rng(sl_tensorset_get_meta(ts, "data_rng"), &rng))
        return sl_error_set(err, SL_EFORMAT, "%s: data_rng is not four nonzero-in-all 16-digit hex words", label);
    /* The options the moments were made with must be the trainer's. */
    SlTensorSet *mine = sl_tensorset_new();
    if (!mine || options_meta(&t->opt, mine, err)) {
        sl_tensorset_free(mine);
        return sl_error_set(err, SL_ENOMEM, "out of memory");
    }
    int rc = 0;
    for (int i = 0; i < mine->meta_count && rc == 0; i++) {
        const char *theirs = sl_tensorset_get_meta(ts, mine->meta_keys[i]);
        if (!theirs && strcmp(mine->meta_keys[i], "hard_share") == 0)
            theirs = "0";   /* a state written before --hard-share existed */
        if (!theirs || strcmp(theirs, mine->meta_values[i]) != 0)
            rc = sl_error_set(err, SL_EINVAL, "%s: %s is %s in the state but %s in this run", label, mine->meta_keys[i],
                              theirs ? theirs : "(missing)", mine->meta_values[i]);
    }
    sl_tensorset_free(mine);
    if (rc)
        return rc;
    LoadCtx check = {ts, label, err, {NULL, NULL}};
    if ((rc = each_param_tensor(t->model, load_moments, &check)))
        return rc;
    LoadCtx load = {ts, label, err, {t->m_memory, t->v_memory}};
    each_param_tensor(t->model, load_moments, &load);
    t->step = step;
    t->data_rng = rng;
    return 0;
}
