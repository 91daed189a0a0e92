/* forward_general.c: the general path, any number of layers and heads,
 * over the whole batch at once (TransformerLens HookedTransformer,
 * attn_only, no layernorm), with interventions and hooks; and the same
 * model one new position at a time, keeping every layer's keys and values,
 * for greedy decoding.
 *
 * Shapes: B batch, T positions, D d_model, H heads, E d_head, V d_vocab,
 * Vo d_vocab_out; the batch and positions are stacked (BT = B T rows) so
 * that every product with a weight matrix is one sgemm over all of them,
 * with the heads side by side (W_Q[l] [H, D, E] packed as [D, H E]).  The
 * attention itself (T x T per head and sequence, a few thousand
 * multiply-adds) is one fused loop per query row: scores of the keys it
 * may see, softmax, pattern times values; a BLAS call per row or per head
 * would cost more than its work.
 */
#include "sortlens/forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "forward_internal.h"

/* ---- hooks --------------------------------------------------------------------- */

static bool hook_is_set(const SlHooks *hooks, SlHookId id, int layer)
{
    if (!hooks)
        return false;
    for (int i = 0; i < hooks->n; i++) {
        const SlHook *hk = &hooks->hooks[i];
        bool per_layer = id != SL_HOOK_EMBED && id != SL_HOOK_POS_EMBED;
        if (hk->hook == id && hk->fn && (!per_layer || hk->layer < 0 || hk->layer == layer))
            return true;
    }
    return false;
}

/* Calls every hook set for (id, layer) on act, in the order given. */
static int run_hooks(const SlHooks *hooks, SlHookId id, int layer, float *act, const SlActCache *c, SlError *err)
{
    if (!hook_is_set(hooks, id, layer))
        return 0;
    int64_t shape[4];
    hook_shape(id, c, shape);
    bool per_layer = id != SL_HOOK_EMBED && id != SL_HOOK_POS_EMBED;
    for (int i = 0; i < hooks->n; i++) {
        const SlHook *hk = &hooks->hooks[i];
        if (hk->hook != id || !hk->fn || (per_layer && hk->layer >= 0 && hk->layer != layer))
            continue;
        int rc = hk->fn(hk->ctx, id, layer, -1, act, shape, err);
        if (rc) {
            char name[64];
            sl_hook_name(id, layer, name, sizeof name);
            if (rc > 0 || (err && err->code == 0))
                return sl_error_set(err, rc < 0 ? rc : SL_EINVAL, "the hook at %s stopped the forward (%d)", name, rc);
            return rc;
        }
    }
    return 0;
}

int forward_hooks_validate(const SlHooks *hooks, const SlModelConfig *cfg, SlError *err)
{
    if (!hooks || hooks->n == 0)
        return 0;
    if (hooks->n < 0 || !hooks->hooks)
        return sl_error_set(err, SL_EINVAL, "hooks: %d hooks and no array", hooks->n);
    for (int i = 0; i < hooks->n; i++) {
        const SlHook *hk = &hooks->hooks[i];
        if ((unsigned)hk->hook > SL_HOOK_RESID_POST)
            return sl_error_set(err, SL_EINVAL, "hook %d: unknown hook point %d", i, (int)hk->hook);
        if (!hk->fn)
            return sl_error_set(err, SL_EINVAL, "hook %d: no function", i);
        if (hk->layer < -1 || hk->layer >= cfg->n_layers)
            return sl_error_set(err, SL_EINVAL, "hook %d: layer %d; the model has layers 0..%d", i, hk->layer,
                                cfg->n_layers - 1);
    }
    return 0;
}

/* ---- weights ---------------------------------------------------------------------- */

/* W [H, D, E] (one layer's W_Q, W_K or W_V) -> Wp [D, H E]: the heads side
 * by side, so that x [BT, D] Wp is every head's q at once. */
static void pack_heads(float *Wp, const float *W, int H, int D, int E)
{
    const int HE = H * E;
    for (int h = 0; h < H; h++)
        for (int d = 0; d < D; d++)
            memcpy(Wp + (size_t)d * HE + (size_t)h * E, W + ((size_t)h * D + d) * E, (size_t)E * sizeof(float));
}

/* ---- the whole batch ------------------------------------------------------------- */

/* The raw scores of head h at layer 0 as the sum of the QK terms the
 * intervention keeps (tables.h): q = q_tok + q_pos, k = k_tok + k_pos. */
static void layer0_qk_terms(const SlModel *m, const SlActCache *c, int B, int T, int h, unsigned off, float *qt, float *kt,
                            float *qp, float *kp, float *sc)
{
    const SlModelConfig *cfg = &m->cfg;
    const SlModelParams *p = &m->params;
    const int H = cfg->n_heads, D = cfg->d_model, E = cfg->d_head, BT = B * T;
    size_t w = sl_model_head_qkv_offset(cfg, 0, h);
    ops_gemm_nn(qt, E, c->embed, D, p->W_Q + w, E, BT, E, D, false);
    ops_gemm_nn(kt, E, c->embed, D, p->W_K + w, E, BT, E, D, false);
    ops_gemm_nn(qp, E, p->W_pos, D, p->W_Q + w, E, T, E, D, false);
    ops_add_bias_rows(qp, E, p->b_Q + (size_t)h * E, T, E);
    ops_gemm_nn(kp, E, p->W_pos, D, p->W_K + w, E, T, E, D, false);
    ops_add_bias_rows(kp, E, p->b_K + (size_t)h * E, T, E);
    for (int b = 0; b < B; b++) {
        float *s = sc + ((size_t)b * H + h) * T * T;
        const float *qtb = qt + (size_t)b * T * E, *ktb = kt + (size_t)b * T * E;
        memset(s, 0, (size_t)T * T * sizeof *s);
        if (!(off & SL_QK_TERM_TOK_TOK))
            ops_gemm_nt(s, T, qtb, E, ktb, E, T, T, E, true);
        if (!(off & SL_QK_TERM_TOK_POS))
            ops_gemm_nt(s, T, qtb, E, kp, E, T, T, E, true);
        if (!(off & SL_QK_TERM_POS_TOK))
            ops_gemm_nt(s, T, qp, E, ktb, E, T, T, E, true);
        if (!(off & SL_QK_TERM_POS_POS))
            ops_gemm_nt(s, T, qp, E, kp, E, T, T, E, true);
    }
}

/* Scaled, masked scores sc [B, H, T, T] from q, k [B, T, H, E] (or, for the
 * heads of `raw_heads`, from the raw sums already in sc). */
static void attention_scores(const float *q, const float *k, float *sc, int B, int T, int H, int E, float div, int l,
                             const SlIntervention *iv, bool raw_heads)
{
    const int HE = H * E;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            bool on = iv_on(iv, l, h), raw = raw_heads && on;
            const float *kb = k + (size_t)b * T * HE + (size_t)h * E;
            for (int i = 0; i < T; i++) {
                float *s = sc + (((size_t)b * H + h) * T + i) * T, mx = -INFINITY;
                const float *qi = q + ((size_t)b * T + i) * HE + (size_t)h * E;
                for (int j = 0; j <= i; j++) {
                    s[j] = (raw ? s[j] : ops_dot(qi, kb + (size_t)j * HE, E)) / div;
                    mx = s[j] > mx ? s[j] : mx;
                }
                attention_mask(s, i, T, mx, on, iv);
            }
        }
}

/* The pattern [B, H, T, T] from the masked scores.  After a hook on the
 * scores every key takes part (a hook may unmask one, as in TL). */
static void attention_pattern(const float *sc, float *pat, int B, int T, int H, int l, const SlIntervention *iv,
                              bool hooked)
{
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            bool on = iv_on(iv, l, h);
            for (int i = 0; i < T; i++) {
                const float *s = sc + (((size_t)b * H + h) * T + i) * T;
                float *pr = pat + (((size_t)b * H + h) * T + i) * T;
                if (!hooked) {
                    attention_weights(s, pr, i, T, ops_row_max(s, i + 1), on, iv);
                    continue;
                }
                ops_softmax(s, pr, T);
                if (on && iv->force_query == i) {
                    memset(pr, 0, (size_t)T * sizeof *pr);
                    pr[iv->force_source] = 1.0f;
                }
            }
        }
}

/* z [B, T, H, E] = pattern v per head, then the intervention's ablation.
 * Without a hook on the pattern, the keys after each query weigh zero. */
static void attention_values(const float *pat, const float *v, float *z, int B, int T, int H, int E, int l,
                             const SlIntervention *iv, bool hooked)
{
    const int HE = H * E;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < T; i++)
            for (int h = 0; h < H; h++) {
                const float *pr = pat + (((size_t)b * H + h) * T + i) * T;
                const float *vb = v + (size_t)b * T * HE + (size_t)h * E;
                float *zi = z + ((size_t)b * T + i) * HE + (size_t)h * E;
                if (iv_ablated(iv, l, h, i)) {
                    if (iv->ablate_kind == SL_ABLATE_MEAN)
                        memcpy(zi, iv->ablate_mean_z + (size_t)h * E, (size_t)E * sizeof(float));
                    else
                        memset(zi, 0, (size_t)E * sizeof(float));
                    continue;
                }
                memset(zi, 0, (size_t)E * sizeof(float));
                for (int j = 0, n = hooked ? T : i + 1; j < n; j++)
                    if (pr[j] != 0.0f)
                        ops_axpy(zi, pr[j], vb + (size_t)j * HE, E);
            }
}

int forward_general(const SlModel *m, const int *tokens, int B, int T, SlActCache *c, const SlIntervention *iv,
                    const SlHooks *hooks, SlError *err)
{
    const SlModelConfig *cfg = &m->cfg;
    const SlModelParams *p = &m->params;
    const int L = cfg->n_layers, H = cfg->n_heads, D = cfg->d_model, E = cfg->d_head;
    const int Vo = cfg->d_vocab_out, BT = B * T, HE = H * E;
    const bool qk_iv = iv->qk_terms_off != 0;
    const size_t n_x = round16((size_t)BT * D), n_wp = round16((size_t)D * HE);
    const size_t n_qk = qk_iv ? round16(2 * (size_t)BT * E + 2 * (size_t)T * E) : 0;
    int rc = forward_scratch_reserve(c, 2 * n_x + 3 * n_wp + n_qk, err);
    if (rc)
        return rc;
    float *x0 = c->scratch;          /* [BT, D] layer 0's input; later the logits' input */
    float *xh = x0 + n_x;            /* [BT, D] a hooked resid_pre of a later layer */
    float *wp = xh + n_x;            /* [3][D, HE] W_Q, W_K, W_V of one layer, heads side by side */
    float *qt = wp + 3 * n_wp;       /* [BT, E] W_E[t] W_Q of one head (QK terms only) */
    float *kt = qt + (size_t)BT * E; /* [BT, E] W_E[t] W_K */
    float *qp = kt + (size_t)BT * E; /* [T, E]  W_pos[p] W_Q + b_Q */
    float *kp = qp + (size_t)T * E;  /* [T, E]  W_pos[p] W_K + b_K */

    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++)
            memcpy(c->embed + ((size_t)b * T + t) * D, p->W_E + (size_t)tokens[b * T + t] * D, (size_t)D * sizeof(float));
        memcpy(c->pos_embed + (size_t)b * T * D, p->W_pos, (size_t)T * D * sizeof(float));
    }
    if ((rc = run_hooks(hooks, SL_HOOK_EMBED, 0, c->embed, c, err)) ||
        (rc = run_hooks(hooks, SL_HOOK_POS_EMBED, 0, c->pos_embed, c, err)))
        return rc;
    for (size_t i = 0; i < (size_t)BT * D; i++)
        x0[i] = c->embed[i] + c->pos_embed[i];
    const float div = sqrtf((float)E);

    for (int l = 0; l < L; l++) {
        const float *x = l == 0 ? x0 : c->resid_post + (size_t)(l - 1) * BT * D;   /* [BT, D] */
        if (l > 0 && hook_is_set(hooks, SL_HOOK_RESID_PRE, l)) {
            memcpy(xh, x, (size_t)BT * D * sizeof(float));
            x = xh;
        }
        if ((rc = run_hooks(hooks, SL_HOOK_RESID_PRE, l, (float *)x, c, err)))
            return rc;
        float *q = c->q + (size_t)l * BT * HE, *k = c->k + (size_t)l * BT * HE;    /* [B, T, H, E] */
        float *v = c->v + (size_t)l * BT * HE, *z = c->z + (size_t)l * BT * HE;
        float *sc = c->scores + (size_t)l * B * H * T * T;                         /* [B, H, T, T] */
        float *pat = c->pattern + (size_t)l * B * H * T * T;
        float *ao = c->attn_out + (size_t)l * BT * D, *rp = c->resid_post + (size_t)l * BT * D;  /* [B, T, D] */
        const size_t w = sl_model_head_qkv_offset(cfg, l, 0);
        const float *W[3] = {p->W_Q + w, p->W_K + w, p->W_V + w};
        const float *bias[3] = {p->b_Q + (size_t)l * HE, p->b_K + (size_t)l * HE, p->b_V + (size_t)l * HE};
        float *out[3] = {q, k, v};
        for (int mi = 0; mi < 3; mi++)
            pack_heads(wp + mi * n_wp, W[mi], H, D, E);
        for (int mi = 0; mi < 3; mi++) {
            ops_gemm_nn(out[mi], HE, x, D, wp + mi * n_wp, HE, BT, HE, D, false);
            ops_add_bias_rows(out[mi], HE, bias[mi], BT, HE);
        }
        if (l == 0 && iv->ov_drop_pos)   /* W_E[t] W_V only for the chosen heads */
            for (int h = 0; h < H; h++)
                if (iv_on(iv, 0, h))
                    ops_gemm_nn(v + h * E, HE, c->embed, D, p->W_V + sl_model_head_qkv_offset(cfg, 0, h), E, BT, E, D,
                                false);
        if ((rc = run_hooks(hooks, SL_HOOK_Q, l, q, c, err)) || (rc = run_hooks(hooks, SL_HOOK_K, l, k, c, err)) ||
            (rc = run_hooks(hooks, SL_HOOK_V, l, v, c, err)))
            return rc;
        bool raw = l == 0 && qk_iv;
        if (raw)
            for (int h = 0; h < H; h++)
                if (iv_on(iv, 0, h))
                    layer0_qk_terms(m, c, B, T, h, iv->qk_terms_off, qt, kt, qp, kp, sc);
        attention_scores(q, k, sc, B, T, H, E, div, l, iv, raw);
        if ((rc = run_hooks(hooks, SL_HOOK_ATTN_SCORES, l, sc, c, err)))
            return rc;
        attention_pattern(sc, pat, B, T, H, l, iv, hook_is_set(hooks, SL_HOOK_ATTN_SCORES, l));
        if ((rc = run_hooks(hooks, SL_HOOK_PATTERN, l, pat, c, err)))
            return rc;
        attention_values(pat, v, z, B, T, H, E, l, iv, hook_is_set(hooks, SL_HOOK_PATTERN, l));
        if ((rc = run_hooks(hooks, SL_HOOK_Z, l, z, c, err)))
            return rc;
        /* attn_out = z W_O + b_O: [BT, H E] x [H E, D], W_O[l] being [H, E, D] */
        ops_gemm_nn(ao, D, z, HE, p->W_O + (size_t)l * HE * D, D, BT, D, HE, false);
        ops_add_bias_rows(ao, D, p->b_O + (size_t)l * D, BT, D);
        if ((rc = run_hooks(hooks, SL_HOOK_ATTN_OUT, l, ao, c, err)))
            return rc;
        for (size_t i = 0; i < (size_t)BT * D; i++)
            rp[i] = x[i] + ao[i];
        if ((rc = run_hooks(hooks, SL_HOOK_RESID_POST, l, rp, c, err)))
            return rc;
    }
    const float *last = c->resid_post + (size_t)(L - 1) * BT * D;
    if (iv->drop_direct) {
        /* x0 is free again: the stream without W_E[t] + W_pos[p] */
        for (size_t i = 0; i < (size_t)BT * D; i++)
            x0[i] = last[i] - c->embed[i] - c->pos_embed[i];
        last = x0;
    }
    ops_gemm_nn(c->logits, Vo, last, D, p->W_U, Vo, BT, Vo, D, false);
    ops_add_bias_rows(c->logits, Vo, p->b_U, BT, Vo);
    return 0;
}

/* ---- one new position at a time ---------------------------------------------------- */

int general_decode_begin(GeneralDecode *d, const SlModel *m, int B, int P, const SlActCache *c, SlError *err)
{
    const SlModelConfig *cfg = &m->cfg;
    const int L = cfg->n_layers, H = cfg->n_heads, D = cfg->d_model, E = cfg->d_head, HE = H * E, Tn = cfg->n_ctx;
    memset(d, 0, sizeof *d);
    d->m = m;
    d->B = B;
    const size_t kv = (size_t)L * B * Tn * HE, n_wp = (size_t)L * 3 * D * HE;
    const size_t need = 2 * kv + n_wp + 2 * (size_t)B * D + 2 * (size_t)B * HE + (size_t)Tn;
    d->memory = malloc(need * sizeof(float));
    if (!d->memory)
        return sl_error_set(err, SL_ENOMEM, "out of memory for greedy decoding (%zu floats)", need);
    d->keys = d->memory;
    d->vals = d->keys + kv;
    d->wp = d->vals + kv;
    d->x = d->wp + n_wp;
    d->ao = d->x + (size_t)B * D;
    d->qrow = d->ao + (size_t)B * D;
    d->zrow = d->qrow + (size_t)B * HE;
    d->s = d->zrow + (size_t)B * HE;
    /* the cache's keys and values are [L, B, P, H, E]; kept as
     * [L, B, Tn, H, E] so that new positions append in place */
    for (int l = 0; l < L; l++)
        for (int b = 0; b < B; b++) {
            size_t src = ((size_t)l * B + b) * P * HE, dst = ((size_t)l * B + b) * Tn * HE;
            memcpy(d->keys + dst, c->k + src, (size_t)P * HE * sizeof(float));
            memcpy(d->vals + dst, c->v + src, (size_t)P * HE * sizeof(float));
        }
    const SlModelParams *p = &m->params;
    for (int l = 0; l < L; l++) {
        size_t w = sl_model_head_qkv_offset(cfg, l, 0);
        float *wl = d->wp + (size_t)l * 3 * D * HE;
        pack_heads(wl, p->W_Q + w, H, D, E);
        pack_heads(wl + (size_t)D * HE, p->W_K + w, H, D, E);
        pack_heads(wl + 2 * (size_t)D * HE, p->W_V + w, H, D, E);
    }
    return 0;
}

void general_decode_step(GeneralDecode *d, const int *tokens, int pos, float *logits)
{
    const SlModel *m = d->m;
    const SlModelConfig *cfg = &m->cfg;
    const SlModelParams *p = &m->params;
    const int L = cfg->n_layers, H = cfg->n_heads, D = cfg->d_model, E = cfg->d_head, HE = H * E;
    const int Tn = cfg->n_ctx, Vo = cfg->d_vocab_out, B = d->B;
    const float div = sqrtf((float)E);
    for (int b = 0; b < B; b++) {
        const float *we = p->W_E + (size_t)tokens[(size_t)b * Tn + pos] * D, *wpos = p->W_pos + (size_t)pos * D;
        for (int i = 0; i < D; i++)
            d->x[(size_t)b * D + i] = we[i] + wpos[i];
    }
    for (int l = 0; l < L; l++) {
        float *kl = d->keys + (size_t)l * B * Tn * HE, *vl = d->vals + (size_t)l * B * Tn * HE;  /* [B, Tn, H, E] */
        const float *wl = d->wp + (size_t)l * 3 * D * HE;
        /* [B, D] x [D, H E]; the new key and value rows are Tn H E apart in the kept arrays */
        ops_gemm_nn(d->qrow, HE, d->x, D, wl, HE, B, HE, D, false);
        ops_gemm_nn(kl + (size_t)pos * HE, Tn * HE, d->x, D, wl + (size_t)D * HE, HE, B, HE, D, false);
        ops_gemm_nn(vl + (size_t)pos * HE, Tn * HE, d->x, D, wl + 2 * (size_t)D * HE, HE, B, HE, D, false);
        ops_add_bias_rows(d->qrow, HE, p->b_Q + (size_t)l * HE, B, HE);
        ops_add_bias_rows(kl + (size_t)pos * HE, Tn * HE, p->b_K + (size_t)l * HE, B, HE);
        ops_add_bias_rows(vl + (size_t)pos * HE, Tn * HE, p->b_V + (size_t)l * HE, B, HE);
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++) {
                const float *kb = kl + (size_t)b * Tn * HE + h * E, *vb = vl + (size_t)b * Tn * HE + h * E;
                const float *qr = d->qrow + (size_t)b * HE + h * E;
                float *zr = d->zrow + (size_t)b * HE + h * E, *s = d->s;
                for (int k = 0; k <= pos; k++)
                    s[k] = ops_dot(qr, kb + (size_t)k * HE, E) / div;
                ops_softmax(s, s, pos + 1);
                memset(zr, 0, (size_t)E * sizeof(float));
                for (int k = 0; k <= pos; k++)
                    if (s[k] != 0.0f)
                        ops_axpy(zr, s[k], vb + (size_t)k * HE, E);
            }
        /* attn_out [B, D] = z [B, H E] x W_O[l] [H E, D] + b_O; the stream moves on */
        ops_gemm_nn(d->ao, D, d->zrow, HE, p->W_O + (size_t)l * HE * D, D, B, D, HE, false);
        ops_add_bias_rows(d->ao, D, p->b_O + (size_t)l * D, B, D);
        for (size_t i = 0; i < (size_t)B * D; i++)
            d->x[i] += d->ao[i];
    }
    ops_gemm_nn(logits, Vo, d->x, D, p->W_U, Vo, B, Vo, D, false);
    ops_add_bias_rows(logits, Vo, p->b_U, B, Vo);
}

void general_decode_end(GeneralDecode *d)
{
    free(d->memory);
    d->memory = NULL;
}
