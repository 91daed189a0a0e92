/* ablation_run.c: running an ablation spec list (ablation.h): through the
 * forward's SlIntervention where it expresses the list, else through hooks
 * (hooks.h) that edit the activations as TransformerLens hooks would:
 *   qk:TERM     hook_attn_scores of layer 0: the term (tables.h) / sqrt(E)
 *               subtracted from the scores of the queries and heads in scope
 *   source:POS  hook_attn_scores: key POS masked (-inf) for them
 *   ov:pos      hook_v of layer 0: (W_pos W_V + b_V)[t] subtracted
 *   head:L.H, mean:head:L.H, resample:head:L.H
 *               hook_z of layer L: head H's output at the positions in
 *               scope set to 0, to its per-position mean, or to that of the
 *               other list's clean teacher-forced run
 *   direct      the SlIntervention's drop_direct (it acts after the last hook).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sortlens/ablation.h"
#include "sortlens/hooks.h"
#include "sortlens/tables.h"
#include "sortlens/task.h"
#include "ops.h"

struct SlAblationRun {
    const SlModel *m;
    SlAblation a;
    bool hooked;
    SlIntervention iv;
    float *mean_q;            /* [H, E] the SlIntervention's mean (mean:head:L.H@query=POS) */
    float *mean_z;            /* [L, T, H, E] per-position means of the layers that need them, or NULL */
    bool *mean_layer;         /* [L] */
    bool resample;            /* some head is resampled */
    SlRng resample_rng;
    int cap_B;                /* lists the resampled z are held for */
    int *resample_tokens;     /* [cap_B, T] */
    SlActCache *resample_cache; /* their clean forward */
    const int *tokens;        /* the batch of the running forward, [B, T_run] */
    int T_run;
    SlHook hooks[3];
    SlHooks set;
};

void sl_ablation_run_free(SlAblationRun *r)
{
    if (!r)
        return;
    free(r->mean_q);
    free(r->mean_z);
    free(r->mean_layer);
    free(r->resample_tokens);
    sl_cache_free(r->resample_cache);
    free(r);
}

bool sl_ablation_run_hooked(const SlAblationRun *r) { return r->hooked; }

/* Does spec s touch head h of layer l? (qk, ov, source: their scope) */
static bool spec_on(const SlAblationSpec *s, int l, int h) { return s->layer == l && (s->head < 0 || s->head == h); }

static int hook_scores(void *ctx, int hook_id, int layer, int head, float *act, const int64_t *shape, SlError *err)
{
    (void)hook_id, (void)head, (void)err;
    SlAblationRun *r = ctx;
    const SlCircuitTables *tb = r->m->tables;
    const int B = (int)shape[0], H = (int)shape[1], T = (int)shape[2];
    const size_t V = (size_t)tb->V, NT = (size_t)tb->T;
    const float inv = 1.0f / sqrtf((float)r->m->cfg.d_head);
    for (int i = 0; i < r->a.count; i++) {
        const SlAblationSpec *s = &r->a.spec[i];
        if ((s->kind != SL_ABLATE_QK && s->kind != SL_ABLATE_SOURCE) || s->layer != layer)
            continue;
        for (int b = 0; b < B; b++) {
            const int *tok = r->tokens + (size_t)b * r->T_run;
            for (int h = 0; h < H; h++) {
                if (!spec_on(s, layer, h))
                    continue;
                for (int q = s->query < 0 ? 0 : s->query; q < (s->query < 0 ? T : s->query + 1) && q < T; q++) {
                    float *row = act + (((size_t)b * H + h) * T + q) * T;
                    if (s->kind == SL_ABLATE_SOURCE) {
                        if (s->source <= q)
                            row[s->source] = -INFINITY;
                        continue;
                    }
                    size_t tq = (size_t)tok[q];
                    for (int k = 0; k <= q; k++) {
                        size_t tk = (size_t)tok[k];
                        float term = s->qk_term == SL_QK_TERM_TOK_TOK   ? tb->qk_tok_tok[h * V * V + tq * V + tk]
                                     : s->qk_term == SL_QK_TERM_TOK_POS ? tb->qk_tok_pos[h * V * NT + tq * NT + (size_t)k]
                                     : s->qk_term == SL_QK_TERM_POS_TOK ? tb->qk_pos_tok[h * NT * V + (size_t)q * V + tk]
                                                                     : tb->qk_pos_pos[h * NT * NT + (size_t)q * NT + (size_t)k];
                        row[k] -= term * inv;
                    }
                }
            }
        }
    }
    return 0;
}

static int hook_v(void *ctx, int hook_id, int layer, int head, float *act, const int64_t *shape, SlError *err)
{
    (void)hook_id, (void)head, (void)err;
    SlAblationRun *r = ctx;
    const SlCircuitTables *tb = r->m->tables;
    const int B = (int)shape[0], T = (int)shape[1], H = (int)shape[2], E = (int)shape[3];
    for (int i = 0; i < r->a.count; i++) {
        const SlAblationSpec *s = &r->a.spec[i];
        if (s->kind != SL_ABLATE_OV_POS || layer != 0)
            continue;
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                for (int h = 0; h < H; h++)
                    if (spec_on(s, 0, h)) {
                        float *v = act + (((size_t)b * T + t) * H + h) * E;
                        const float *vp = tb->v_pos + ((size_t)h * tb->T + t) * E;   /* W_pos[t] W_V + b_V */
                        for (int e = 0; e < E; e++)
                            v[e] -= vp[e];
                    }
    }
    return 0;
}

static int hook_z(void *ctx, int hook_id, int layer, int head, float *act, const int64_t *shape, SlError *err)
{
    (void)hook_id, (void)head, (void)err;
    SlAblationRun *r = ctx;
    const SlModelConfig *c = &r->m->cfg;
    const int B = (int)shape[0], T = (int)shape[1], H = (int)shape[2], E = (int)shape[3], NT = c->n_ctx;
    for (int i = 0; i < r->a.count; i++) {
        const SlAblationSpec *s = &r->a.spec[i];
        if (s->layer != layer || (s->kind != SL_ABLATE_HEAD_ZERO && s->kind != SL_ABLATE_HEAD_MEAN &&
                                  s->kind != SL_ABLATE_HEAD_RESAMPLE))
            continue;
        const float *rz = NULL;
        if (s->kind == SL_ABLATE_HEAD_RESAMPLE) {
            char name[64];
            snprintf(name, sizeof name, "blocks.%d.attn.hook_z", layer);
            rz = sl_cache_get(r->resample_cache, name, NULL, NULL);   /* [cap_B, NT, H, E] */
        }
        for (int b = 0; b < B; b++)
            for (int t = s->query < 0 ? 0 : s->query; t < (s->query < 0 ? T : s->query + 1) && t < T; t++) {
                float *z = act + (((size_t)b * T + t) * H + s->head) * E;
                if (s->kind == SL_ABLATE_HEAD_ZERO)
                    memset(z, 0, (size_t)E * sizeof *z);
                else if (s->kind == SL_ABLATE_HEAD_MEAN)
                    memcpy(z, r->mean_z + (((size_t)layer * NT + t) * H + s->head) * E, (size_t)E * sizeof *z);
                else
                    memcpy(z, rz + (((size_t)b * NT + t) * H + s->head) * E, (size_t)E * sizeof *z);
            }
    }
    return 0;
}

SlAblationRun *sl_ablation_run_new(const SlModel *m, const SlAblation *a, uint64_t resample_seed, bool force_hooks,
                                   SlError *err)
{
    const SlModelConfig *c = &m->cfg;
    const int L = c->n_layers, H = c->n_heads, E = c->d_head, T = c->n_ctx;
    SlAblationRun *r = calloc(1, sizeof *r);
    if (!r) {
        sl_error_set(err, SL_ENOMEM, "out of memory for an ablation");
        return NULL;
    }
    r->m = m;
    r->a = *a;
    sl_rng_seed(&r->resample_rng, resample_seed ^ SL_ABLATION_RESAMPLE_STREAM);
    bool needs_mean = sl_ablation_needs_mean(a);
    r->mean_q = calloc((size_t)H * E, sizeof *r->mean_q);
    r->mean_layer = calloc((size_t)L, sizeof *r->mean_layer);
    if (!r->mean_q || !r->mean_layer)
        goto nomem;
    if (needs_mean) {
        r->mean_z = malloc((size_t)L * T * H * E * sizeof *r->mean_z);
        if (!r->mean_z)
            goto nomem;
        for (int i = 0; i < a->count; i++) {
            const SlAblationSpec *s = &a->spec[i];
            if (s->kind != SL_ABLATE_HEAD_MEAN || r->mean_layer[s->layer])
                continue;
            if (sl_ablation_mean_z(m, s->layer, SL_ABLATION_MEAN_LISTS, SL_ABLATION_MEAN_SEED,
                                   r->mean_z + (size_t)s->layer * T * H * E, err))
                goto fail;
            r->mean_layer[s->layer] = true;
        }
    }
    /* the SlIntervention, when it holds the whole list */
    SlError ierr = {0};
    if (!force_hooks) {
        for (int i = 0; i < a->count; i++)
            if (a->spec[i].kind == SL_ABLATE_HEAD_MEAN && a->spec[i].query >= 0)
                memcpy(r->mean_q + (size_t)a->spec[i].head * E,
                       r->mean_z + (((size_t)a->spec[i].layer * T + a->spec[i].query) * H + a->spec[i].head) * E,
                       (size_t)E * sizeof(float));
        if (sl_ablation_to_intervention(a, c, r->mean_q, &r->iv, &ierr) == 0)
            return r;
    }
    /* else the hooks */
    r->hooked = true;
    sl_intervention_init(&r->iv);
    bool scores = false, values = false, outputs = false;
    for (int i = 0; i < a->count; i++) {
        const SlAblationSpec *s = &a->spec[i];
        char text[128];
        SlAblation one = {.count = 1, .spec = {*s}};
        sl_ablation_format(&one, c, text, sizeof text);
        switch (s->kind) {
        case SL_ABLATE_QK:
        case SL_ABLATE_SOURCE: scores = true; break;
        case SL_ABLATE_OV_POS:
            if (s->query >= 0) {
                sl_error_set(err, SL_EINVAL, "--ablate %s: W_pos leaves the values of every query at once; ov:pos takes "
                             "no @query", text);
                goto fail;
            }
            values = true;
            break;
        case SL_ABLATE_DIRECT:
            if (s->query >= 0) {
                sl_error_set(err, SL_EINVAL, "--ablate %s: the direct path is removed at every query; direct takes no "
                             "@query", text);
                goto fail;
            }
            r->iv.drop_direct = true;
            break;
        case SL_ABLATE_HEAD_RESAMPLE: r->resample = true; /* fall through */
        default: outputs = true; break;
        }
    }
    if ((scores || values) && !m->tables) {
        sl_error_set(err, SL_EINVAL, "the QK and OV ablations need the model's circuit tables");
        goto fail;
    }
    if (scores)
        r->hooks[r->set.n++] = (SlHook){SL_HOOK_ATTN_SCORES, 0, hook_scores, r};
    if (values)
        r->hooks[r->set.n++] = (SlHook){SL_HOOK_V, 0, hook_v, r};
    if (outputs)
        r->hooks[r->set.n++] = (SlHook){SL_HOOK_Z, -1, hook_z, r};
    for (int i = 0; i < a->count; i++)   /* source:POS on a later layer's scores */
        if (a->spec[i].kind == SL_ABLATE_SOURCE && a->spec[i].layer > 0)
            r->hooks[0].layer = -1;
    r->set.hooks = r->hooks;
    return r;
nomem:
    sl_error_set(err, SL_ENOMEM, "out of memory for an ablation");
fail:
    sl_ablation_run_free(r);
    return NULL;
}

/* Draws the next B resampled lists and runs them clean, teacher-forced. */
static int resample_draw(SlAblationRun *r, int B, SlError *err)
{
    const SlModelConfig *c = &r->m->cfg;
    const int T = c->n_ctx;
    if (B > r->cap_B) {
        free(r->resample_tokens);
        sl_cache_free(r->resample_cache);
        r->resample_tokens = malloc((size_t)B * T * sizeof *r->resample_tokens);
        r->resample_cache = sl_cache_new(c, B, T, err);
        r->cap_B = r->resample_tokens && r->resample_cache ? B : 0;
        if (!r->cap_B)
            return r->resample_cache ? sl_error_set(err, SL_ENOMEM, "out of memory for the resampled lists")
                                     : (err ? err->code : SL_ENOMEM);
    }
    int values[SL_MODEL_MAX_CTX];
    for (int b = 0; b < B; b++) {
        sl_task_random_list(c, &r->resample_rng, values);
        sl_task_make_tokens(c, values, r->resample_tokens + (size_t)b * T);
    }
    return sl_model_forward(r->m, r->resample_tokens, B, T, r->resample_cache, NULL, SL_FORWARD_GENERAL, err);
}

int sl_ablation_forward(SlAblationRun *r, const int *tokens, int B, int T, SlActCache *cache, bool next_lists, SlError *err)
{
    if (!r->hooked)
        return sl_model_forward(r->m, tokens, B, T, cache, &r->iv, SL_FORWARD_AUTO, err);
    if (r->resample && (next_lists || r->cap_B < B)) {
        int rc = resample_draw(r, B, err);
        if (rc)
            return rc;
    }
    r->tokens = tokens;
    r->T_run = T;
    return sl_model_forward_hooked(r->m, tokens, B, T, cache, &r->iv, SL_FORWARD_GENERAL, &r->set, err);
}

int sl_ablation_forward_with(SlAblationRun *r, const int *tokens, int B, int T, SlActCache *cache, const SlHook *extra,
                             int n_extra, SlError *err)
{
    enum { MAX = 16 };
    SlHook all[MAX];
    int na = 0;
    if (r->hooked)
        for (int i = 0; i < r->set.n; i++)
            all[na++] = r->hooks[i];
    if (na + n_extra > MAX)
        return sl_error_set(err, SL_EINVAL, "too many hooks (%d)", na + n_extra);
    memcpy(all + na, extra, (size_t)n_extra * sizeof *extra);
    SlHooks set = {all, na + n_extra};
    r->tokens = tokens;
    r->T_run = T;
    return sl_model_forward_hooked(r->m, tokens, B, T, cache, &r->iv, SL_FORWARD_GENERAL, &set, err);
}

bool sl_ablation_run_is_none(const SlAblationRun *r) { return !r || r->a.count == 0; }
bool sl_ablation_run_resamples(const SlAblationRun *r) { return r && r->resample; }

int sl_ablation_predict(SlAblationRun *r, const int *values, int B, int *teacher_forced, int *greedy,
                        int *greedy_tokens, SlActCache *cache, SlError *err)
{
    const SlModelConfig *c = &r->m->cfg;
    const int n = c->list_len, T = c->n_ctx, Vo = c->d_vocab_out;
    int rc = 0;
    if (!r->hooked) {
        if (teacher_forced && (rc = sl_decode_teacher_forced(r->m, values, B, teacher_forced, cache, &r->iv, err)))
            return rc;
        if (greedy)
            rc = sl_decode_greedy(r->m, values, B, greedy, greedy_tokens, cache, &r->iv, err);
        return rc;
    }
    int *tokens = malloc((size_t)B * T * sizeof *tokens);
    int *prefix = malloc((size_t)B * T * sizeof *prefix);
    if (!tokens || !prefix) {
        rc = sl_error_set(err, SL_ENOMEM, "out of memory for decoding");
        goto done;
    }
    for (int b = 0; b < B; b++)
        sl_task_make_tokens(c, values + (size_t)b * n, tokens + (size_t)b * T);
    bool fresh = true;   /* the first forward of these lists draws their resampled lists */
    if (teacher_forced) {
        if ((rc = sl_ablation_forward(r, tokens, B, T, cache, fresh, err)))
            goto done;
        fresh = false;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < n; i++)
                teacher_forced[(size_t)b * n + i] = ops_argmax(cache->logits + ((size_t)b * T + n + 1 + i) * Vo, Vo);
    }
    if (greedy) {
        /* the whole prefix each step, so that the ablation acts exactly as in one forward */
        for (int i = 0; i < n; i++) {
            const int Ti = n + 2 + i;
            for (int b = 0; b < B; b++)
                memcpy(prefix + (size_t)b * Ti, tokens + (size_t)b * T, (size_t)Ti * sizeof *prefix);
            if ((rc = sl_ablation_forward(r, prefix, B, Ti, cache, fresh, err)))
                goto done;
            fresh = false;
            for (int b = 0; b < B; b++) {
                int v = ops_argmax(cache->logits + ((size_t)b * Ti + Ti - 1) * Vo, Vo);
                greedy[(size_t)b * n + i] = v;
                tokens[(size_t)b * T + Ti] = v;
            }
        }
        if ((rc = sl_ablation_forward(r, tokens, B, T, cache, false, err)))   /* the cache over the final sequences */
            goto done;
        if (greedy_tokens)
            memcpy(greedy_tokens, tokens, (size_t)B * T * sizeof *tokens);
    }
done:
    free(prefix);
    free(tokens);
    return rc;
}

int sl_ablation_eval(SlAblationRun *r, SlListSource *src, SlEvalResult *res, SlBreakdown *bd, SlProgressFn progress,
                     void *progress_ctx, SlError *err)
{
    if (!r->hooked)
        return sl_population_eval(r->m, &r->iv, src, res, bd, progress, progress_ctx, err);
    const SlModelConfig *c = &r->m->cfg;
    const int n = c->list_len, T = c->n_ctx;
    const int batch = sl_cache_batch_within(c, T, 256, SL_CACHE_BATCH_BYTES);
    int rc = 0;
    SlActCache *cache = sl_cache_new(c, batch, T, err);
    int *values = malloc((size_t)batch * n * sizeof *values), *tf = malloc((size_t)batch * n * sizeof *tf);
    int *tokens = malloc((size_t)batch * T * sizeof *tokens);
    long *right_at = calloc((size_t)n, sizeof *right_at);
    if (!cache || !values || !tf || !tokens || !right_at) {
        rc = cache ? sl_error_set(err, SL_ENOMEM, "out of memory for evaluation") : (err ? err->code : SL_ENOMEM);
        goto done;
    }
    memset(res, 0, sizeof *res);
    if (bd)
        sl_breakdown_init(bd, n);
    long tokens_right = 0, lists_right = 0, lists = 0;
    double loss = 0;
    for (;;) {
        long got = src->read(src->ctx, values, batch, err);
        if (got < 0) {
            rc = (int)got;
            goto done;
        }
        if (got == 0)
            break;
        const int B = (int)got;
        /* teacher-forced, with the loss from its logits.  Greedy decoding
         * needs no forward of its own: every ablation here is causal (what
         * a query sees depends on positions up to it only), so greedy
         * decoding follows the true prefix, and predicts what teacher
         * forcing does, up to its first mistake; the list is wrong from
         * there on whatever comes after (decode.h, SlListOutcome). */
        if ((rc = sl_ablation_predict(r, values, B, tf, NULL, NULL, cache, err)))
            goto done;
        for (int b = 0; b < B; b++)
            sl_task_make_tokens(c, values + (size_t)b * n, tokens + (size_t)b * T);
        loss += sl_decode_loss(c, cache, tokens) * B;
        for (int b = 0; b < B; b++) {
            const int *want = tokens + (size_t)b * T + n + 2;   /* the sorted list */
            SlListOutcome o = {.tokens_right = 0, .first_wrong = -1};
            for (int i = 0; i < n; i++) {
                bool ok = tf[(size_t)b * n + i] == want[i];
                o.tokens_right += ok;
                right_at[i] += ok;
                if (o.first_wrong < 0 && !ok)
                    o.first_wrong = i;
            }
            tokens_right += o.tokens_right;
            lists_right += o.first_wrong < 0;
            if (bd)
                sl_breakdown_add_sorted(bd, want, &o);   /* sl_task_make_tokens sorted it already */
        }
        lists += B;
        if (progress)
            progress(progress_ctx, lists, src->total);
    }
    if (lists == 0) {
        rc = sl_error_set(err, SL_EINVAL, "no lists to evaluate");
        goto done;
    }
    res->lists = lists;
    res->token_accuracy = (double)tokens_right / ((double)lists * n);
    res->list_accuracy = (double)lists_right / (double)lists;
    res->loss = loss / (double)lists;
    for (int i = 0; i < n; i++)
        res->per_position_accuracy[i] = (double)right_at[i] / (double)lists;
done:
    free(right_at);
    free(tokens);
    free(tf);
    free(values);
    sl_cache_free(cache);
    return rc;
}

static int mean_forward(void *ctx, const int *tokens, int B, int T, SlActCache *cache, SlError *err)
{
    return sl_ablation_forward(ctx, tokens, B, T, cache, true, err);
}

static bool is_head_output(SlAblationKind k)
{
    return k == SL_ABLATE_HEAD_ZERO || k == SL_ABLATE_HEAD_MEAN || k == SL_ABLATE_HEAD_RESAMPLE;
}

int sl_ablation_mean(SlAblationRun *r, SlListSource *src, SlPopulationMean *out, SlProgressFn progress,
                     void *progress_ctx, SlError *err)
{
    if (sl_ablation_run_is_none(r))
        return sl_population_mean(r->m, src, out, progress, progress_ctx, err);
    int rc = sl_population_mean_with(r->m, mean_forward, r, src, out, progress, progress_ctx, err);
    if (rc)
        return rc;
    const int H = out->H, T = out->T;
    const size_t HTT = (size_t)H * T * T;
    for (int i = 0; i < r->a.count; i++) {
        const SlAblationSpec *s = &r->a.spec[i];
        if (s->layer != 0 || (s->kind != SL_ABLATE_QK && !is_head_output(s->kind)))
            continue;
        int t = 0;
        if (s->kind == SL_ABLATE_QK)   /* the QK_TERM_* bit is the SCORE_TERM_* index */
            while (!(s->qk_term & (1u << t)))
                t++;
        for (int h = 0; h < H; h++) {
            if (s->head >= 0 && s->head != h)
                continue;
            for (int q = s->query < 0 ? 0 : s->query; q < (s->query < 0 ? T : s->query + 1); q++)
                for (int k = 0; k <= q; k++) {
                    size_t at = ((size_t)h * T + q) * T + k;
                    if (s->kind == SL_ABLATE_QK)
                        out->score_terms[(size_t)t * HTT + at] = 0.0;
                    else
                        out->dla_correct[at] = NAN;
                }
        }
    }
    return 0;
}
