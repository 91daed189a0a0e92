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
 *
 * Slightly over 600 lines because the batch forward and the one-position
 * decode step share the packed weights (general_pack_qkv) and layer 0's
 * tables (general_tables0); apart,
 * each would need the other's private layout.
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

void general_pack_heads(float *Wp, int ldp, const float *W, int H, int D, int E)
{
    for (int h = 0; h < H; h++)
        for (int d = 0; d < D; d++)
            memcpy(Wp + (size_t)d * ldp + (size_t)h * E, W + ((size_t)h * D + d) * E, (size_t)E * sizeof(float));
}

void general_pack_qkv(const SlModel *m, int l, float *wp)
{
    const SlModelConfig *cfg = &m->cfg;
    const SlModelParams *p = &m->params;
    const int H = cfg->n_heads, D = cfg->d_model, E = cfg->d_head, HE = H * E;
    const size_t w = sl_model_head_qkv_offset(cfg, l, 0);
    general_pack_heads(wp, 3 * HE, p->W_Q + w, H, D, E);
    general_pack_heads(wp + HE, 3 * HE, p->W_K + w, H, D, E);
    general_pack_heads(wp + 2 * HE, 3 * HE, p->W_V + w, H, D, E);
}

void general_tables0(const SlModel *m, int T, const float *wp, float *tab)
{
    const SlModelConfig *cfg = &m->cfg;
    const SlModelParams *p = &m->params;
    const int V = cfg->d_vocab, D = cfg->d_model, HE = cfg->n_heads * cfg->d_head, W3 = 3 * HE;
    float *tp = tab + (size_t)V * W3;
    ops_gemm_nn(tab, W3, p->W_E, D, wp, W3, V, W3, D, false);
    ops_gemm_nn(tp, W3, p->W_pos, D, wp, W3, T, W3, D, false);
    ops_add_bias_rows(tp, W3, p->b_Q, T, HE);
    ops_add_bias_rows(tp + HE, W3, p->b_K, T, HE);
    ops_add_bias_rows(tp + 2 * HE, W3, p->b_V, T, HE);
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

/* z_i [E] of query i from its pattern row pr and the values (rows ld
 * apart), or the intervention's ablation; keys 0..n-1 take part. */
static void attention_z(const float *pr, const float *vb, int ld, int E, int n, int l, int h, int i,
                        const SlIntervention *iv, float *zi)
{
    if (iv_ablated(iv, l, h, i)) {
        if (iv->ablate_kind == SL_ABLATE_MEAN)
            memcpy(zi, iv->ablate_mean_z + (size_t)h * E, (size_t)E * sizeof(float));
        else
            memset(zi, 0, (size_t)E * sizeof(float));
        return;
    }
    memset(zi, 0, (size_t)E * sizeof(float));
    for (int j = 0; j < n; j++)
        if (pr[j] != 0.0f)
            ops_axpy(zi, pr[j], vb + (size_t)j * ld, E);
}

/* z [B, T, H, E] = pattern v per head, then the intervention's ablation.
 * Without a hook on the pattern, the keys after each query weigh zero. */
static void attention_values(const float *pat, const float *v, float *z, int B, int T, int H, int E, int l,
                             const SlIntervention *iv, bool hooked)
{
    const int HE = H * E;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < T; i++)
            for (int h = 0; h < H; h++)
                attention_z(pat + (((size_t)b * H + h) * T + i) * T, v + (size_t)b * T * HE + (size_t)h * E, HE, E,
                            hooked ? T : i + 1, l, h, i, iv, z + ((size_t)b * T + i) * HE + (size_t)h * E);
}

/* Where one layer's attention reads and writes: q and z rows of query i of
 * sequence b at (b * qrows + i - i0) * HE (the last layer of a rows forward
 * keeps only rows i0..T-1, compact), k and v at (b T + j) HE. */
typedef struct AttnRows {
    const float *q, *k, *v;
    float *sc, *pat, *z;
    int i0, qrows;
} AttnRows;

/* Scores, pattern and z of query rows i0..T-1 of every sequence and head,
 * one fused pass per row; raw: layer 0's QK-term sums are already in sc. */
static void attention_fused(const AttnRows *a, int B, int T, int H, int E, float div, int l, const SlIntervention *iv,
                            bool raw_heads)
{
    const int HE = H * E;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            bool on = iv_on(iv, l, h), raw = raw_heads && on;
            const float *kb = a->k + (size_t)b * T * HE + (size_t)h * E, *vb = a->v + (size_t)b * T * HE + (size_t)h * E;
            for (int i = a->i0; i < T; i++) {
                size_t row = (size_t)b * a->qrows + (size_t)(i - a->i0);
                const float *qi = a->q + row * HE + (size_t)h * E;
                float *s = a->sc + (((size_t)b * H + h) * T + i) * T, *pr = a->pat + (((size_t)b * H + h) * T + i) * T;
                float mx = -INFINITY;
                for (int j = 0; j <= i; j++) {
                    s[j] = (raw ? s[j] : ops_dot(qi, kb + (size_t)j * HE, E)) / div;
                    mx = s[j] > mx ? s[j] : mx;
                }
                attention_finish(s, pr, i, T, mx, on, iv);
                attention_z(pr, vb, HE, E, i + 1, l, h, i, iv, a->z + row * HE + (size_t)h * E);
            }
        }
}

/* q, k, v [BT, H E] of one layer, all rows (q NULL: k and v only): from
 * the tables of layer 0 (tab [V + T, 3 H E], the rows of W_E[t] and of
 * W_pos[p] + b), or x wp + b. */
static void project_qkv(const SlModel *m, int l, const int *tokens, int ldt, int B, int T, const float *x,
                        const float *wp, const float *tab, float *q, float *k, float *v)
{
    const SlModelConfig *cfg = &m->cfg;
    const SlModelParams *p = &m->params;
    const int D = cfg->d_model, HE = cfg->n_heads * cfg->d_head, W3 = 3 * HE, V = cfg->d_vocab, BT = B * T;
    float *out[3] = {q, k, v};
    if (tab) {
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                const float *rt = tab + (size_t)tokens[(size_t)b * ldt + t] * W3, *rp = tab + (size_t)(V + t) * W3;
                size_t o = ((size_t)b * T + t) * HE;
                for (int mi = !q; mi < 3; mi++) {
                    memcpy(out[mi] + o, rt + mi * HE, (size_t)HE * sizeof(float));
                    ops_add(out[mi] + o, rp + mi * HE, HE);
                }
            }
        return;
    }
    const float *bias[3] = {p->b_Q + (size_t)l * HE, p->b_K + (size_t)l * HE, p->b_V + (size_t)l * HE};
    for (int mi = !q; mi < 3; mi++) {
        ops_gemm_nn(out[mi], HE, x, D, wp + mi * HE, W3, BT, HE, D, false);
        ops_add_bias_rows(out[mi], HE, bias[mi], BT, HE);
    }
}

/* Layer 0's input x0 [B T, D] = W_E[t] + W_pos[p]; with fill_embed also
 * the cache's hook_embed and hook_pos_embed, their hooks run before the sum. */
static int embed_input(const SlModel *m, const int *tokens, int ldt, int B, int T, bool fill_embed, SlActCache *c,
                       const SlHooks *hooks, float *x0, SlError *err)
{
    const SlModelParams *p = &m->params;
    const int D = m->cfg.d_model, BT = B * T;
    int rc;
    if (!fill_embed) {
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                float *xr = x0 + ((size_t)b * T + t) * D;
                memcpy(xr, p->W_E + (size_t)tokens[(size_t)b * ldt + t] * D, (size_t)D * sizeof(float));
                ops_add(xr, p->W_pos + (size_t)t * D, D);
            }
        return 0;
    }
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++)
            memcpy(c->embed + ((size_t)b * T + t) * D, p->W_E + (size_t)tokens[(size_t)b * ldt + t] * D,
                   (size_t)D * sizeof(float));
        memcpy(c->pos_embed + (size_t)b * T * D, p->W_pos, (size_t)T * D * sizeof(float));
    }
    if ((rc = run_hooks(hooks, SL_HOOK_EMBED, 0, c->embed, c, err)) ||
        (rc = run_hooks(hooks, SL_HOOK_POS_EMBED, 0, c->pos_embed, c, err)))
        return rc;
    memcpy(x0, c->embed, (size_t)BT * D * sizeof(float));
    ops_add(x0, c->pos_embed, BT * D);
    return 0;
}

/* The last layer l of a rows forward: the query rows' input and q, compact
 * [N, .], from x [B T, D] and the packed weights wp, or from layer 0's
 * tables tab when given. */
static void query_rows(const SlModel *m, int l, const int *tokens, int ldt, const float *x, const float *wp,
                       const float *tab, GeneralRows *rows)
{
    const SlModelConfig *cfg = &m->cfg;
    const int D = cfg->d_model, HE = cfg->n_heads * cfg->d_head, W3 = 3 * HE, V = cfg->d_vocab;
    const int T = rows->T, q0 = rows->q0, n = rows->n, N = rows->B * n;
    for (int b = 0; b < rows->B; b++)
        memcpy(rows->x + (size_t)b * n * D, x + ((size_t)b * T + q0) * D, (size_t)n * D * sizeof(float));
    if (tab) {
        for (int r = 0; r < N; r++) {
            int t = q0 + r % n;
            const float *rt = tab + (size_t)tokens[(size_t)(r / n) * ldt + t] * W3, *rq = tab + (size_t)(V + t) * W3;
            memcpy(rows->q + (size_t)r * HE, rt, (size_t)HE * sizeof(float));
            ops_add(rows->q + (size_t)r * HE, rq, HE);
        }
    } else {
        ops_gemm_nn(rows->q, HE, rows->x, D, wp, W3, N, HE, D, false);
        ops_add_bias_rows(rows->q, HE, m->params.b_Q + (size_t)l * HE, N, HE);
    }
}

/* The logits of the last layer's output (every row into the cache, or the
 * query rows into rows->logits), without the direct path W_E[t] + W_pos[p]
 * when the intervention drops it (xh: room for [B T, D]). */
static void unembed(const SlModel *m, int B, int T, SlActCache *c, const SlIntervention *iv, GeneralRows *rows,
                    float *xh)
{
    const SlModelParams *p = &m->params;
    const int D = m->cfg.d_model, Vo = m->cfg.d_vocab_out, L = m->cfg.n_layers, BT = B * T;
    const int q0 = rows ? rows->q0 : 0, n = rows ? rows->n : T, N = B * n;
    const float *last = rows ? rows->out : c->resid_post + (size_t)(L - 1) * BT * D;
    const int nr = rows ? N : BT;
    float *lg = rows ? rows->logits : c->logits;
    if (iv->drop_direct) {
        /* the stream without W_E[t] + W_pos[p] */
        float *dd = rows ? rows->direct : xh;
        for (int r = 0; r < nr; r++) {
            size_t src = rows ? ((size_t)(r / n) * T + q0 + (size_t)(r % n)) * D : (size_t)r * D;
            for (int d = 0; d < D; d++)
                dd[(size_t)r * D + d] = last[(size_t)r * D + d] - c->embed[src + d] - c->pos_embed[src + d];
        }
        last = dd;
    }
    ops_gemm_nn(lg, Vo, last, D, p->W_U, Vo, nr, Vo, D, false);
    ops_add_bias_rows(lg, Vo, p->b_U, nr, Vo);
}

/* The forward over positions 0..T-1 of B sequences (token rows ldt apart).
 * rows NULL: every activation into the cache, hooks run.  Else (no hooks)
 * the last layer only at query rows q0..T-1, into *rows (see
 * forward_internal.h), and the cache's last-layer q, z, attn_out,
 * resid_post and logits are left as they were. */
static int general_run(const SlModel *m, const int *tokens, int ldt, int B, int T, int q0, SlActCache *c,
                       const SlIntervention *iv, const SlHooks *hooks, GeneralRows *rows, SlError *err)
{
    const SlModelConfig *cfg = &m->cfg;
    const SlModelParams *p = &m->params;
    const int L = cfg->n_layers, H = cfg->n_heads, D = cfg->d_model, E = cfg->d_head, V = cfg->d_vocab;
    const int Vo = cfg->d_vocab_out, BT = B * T, HE = H * E, W3 = 3 * HE, n = T - q0, N = B * (T - q0);
    const bool qk_iv = iv->qk_terms_off != 0, none = sl_intervention_is_none(iv);
    /* Layer 0's q, k, v from per-token and per-position tables: in a rows
     * forward only, so that the cache of a whole one keeps PyTorch's order
     * of operations ((W_E[t] + W_pos[p]) W); the two differ by rounding.
     * The tables take (V + T) rows through W, the stream B T: fewer rows
     * (a greedy prefix of one list, as the explorer decodes) go direct. */
    const bool tables0 = rows != NULL && (size_t)B * T > (size_t)V + T;
    const size_t n_x = round16((size_t)BT * D), n_wp = round16((size_t)D * W3), n_tab = round16((size_t)(V + T) * W3);
    const size_t n_qk = qk_iv ? round16(2 * (size_t)BT * E + 2 * (size_t)T * E) : 0;
    const size_t n_rows = rows ? round16((size_t)N * D) * 3 + round16((size_t)N * HE) * 2 + round16((size_t)N * Vo) : 0;
    int rc = forward_scratch_reserve(c, 2 * n_x + n_wp + n_tab + n_qk + n_rows, err);
    if (rc)
        return rc;
    float *x0 = c->scratch;          /* [BT, D] layer 0's input */
    float *xh = x0 + n_x;            /* [BT, D] a hooked resid_pre of a later layer; the stream without the direct path */
    float *wp = xh + n_x;            /* [D, 3 HE] W_Q, W_K, W_V of one layer, heads side by side */
    float *tab = wp + n_wp;          /* [V + T, 3 HE] layer 0's q, k, v of each token and each position */
    float *qt = tab + n_tab;         /* [BT, E] W_E[t] W_Q of one head (QK terms only) */
    float *kt = qt + (size_t)BT * E; /* [BT, E] W_E[t] W_K */
    float *qp = kt + (size_t)BT * E; /* [T, E]  W_pos[p] W_Q + b_Q */
    float *kp = qp + (size_t)T * E;  /* [T, E]  W_pos[p] W_K + b_K */
    if (rows) {
        float *r0 = tab + n_tab + n_qk;
        *rows = (GeneralRows){.B = B, .T = T, .q0 = q0, .n = n};
        rows->x = r0;
        rows->out = rows->x + round16((size_t)N * D);
        rows->direct = rows->out + round16((size_t)N * D);
        rows->q = rows->direct + round16((size_t)N * D);
        rows->z = rows->q + round16((size_t)N * HE);
        rows->logits = rows->z + round16((size_t)N * HE);
    }

    /* the cache's embeddings when they are kept or interventions read them */
    if ((rc = embed_input(m, tokens, ldt, B, T, !rows || !none, c, hooks, x0, err)))
        return rc;
    const float div = sqrtf((float)E);

    for (int l = 0; l < L; l++) {
        const bool last = rows && l == L - 1;
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
        general_pack_qkv(m, l, wp);
        const bool use_tab = l == 0 && tables0;
        if (use_tab)
            general_tables0(m, T, wp, tab);
        project_qkv(m, l, tokens, ldt, B, T, x, wp, use_tab ? tab : NULL, last ? NULL : q, k, v);
        if (last)
            query_rows(m, l, tokens, ldt, x, wp, use_tab ? tab : NULL, rows);
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
        const bool hooked_s = hook_is_set(hooks, SL_HOOK_ATTN_SCORES, l), hooked_p = hook_is_set(hooks, SL_HOOK_PATTERN, l);
        if (!hooked_s && !hooked_p) {
            AttnRows a = {last ? rows->q : q, k, v, sc, pat, last ? rows->z : z, last ? q0 : 0, last ? n : T};
            attention_fused(&a, B, T, H, E, div, l, iv, raw);
        } else {   /* hooks between the steps: one pass each */
            attention_scores(q, k, sc, B, T, H, E, div, l, iv, raw);
            if ((rc = run_hooks(hooks, SL_HOOK_ATTN_SCORES, l, sc, c, err)))
                return rc;
            attention_pattern(sc, pat, B, T, H, l, iv, hooked_s);
            if ((rc = run_hooks(hooks, SL_HOOK_PATTERN, l, pat, c, err)))
                return rc;
            attention_values(pat, v, z, B, T, H, E, l, iv, hooked_p);
        }
        if ((rc = run_hooks(hooks, SL_HOOK_Z, l, z, c, err)))
            return rc;
        /* attn_out = z W_O + b_O: [rows, H E] x [H E, D], W_O[l] being [H, E, D] */
        const float *WO = p->W_O + (size_t)l * HE * D, *bO = p->b_O + (size_t)l * D;
        if (last) {
            memcpy(rows->out, rows->x, (size_t)N * D * sizeof(float));
            ops_gemm_nn(rows->out, D, rows->z, HE, WO, D, N, D, HE, true);
            ops_add_bias_rows(rows->out, D, bO, N, D);
            break;
        }
        ops_gemm_nn(ao, D, z, HE, WO, D, BT, D, HE, false);
        ops_add_bias_rows(ao, D, bO, BT, D);
        if ((rc = run_hooks(hooks, SL_HOOK_ATTN_OUT, l, ao, c, err)))
            return rc;
        memcpy(rp, x, (size_t)BT * D * sizeof(float));
        ops_add(rp, ao, BT * D);
        if ((rc = run_hooks(hooks, SL_HOOK_RESID_POST, l, rp, c, err)))
            return rc;
    }
    unembed(m, B, T, c, iv, rows, xh);
    return 0;
}

int forward_general(const SlModel *m, const int *tokens, int B, int T, SlActCache *c, const SlIntervention *iv,
                    const SlHooks *hooks, SlError *err)
{
    return general_run(m, tokens, T, B, T, 0, c, iv, hooks, NULL, err);
}

int forward_general_rows(const SlModel *m, const int *tokens, int ldt, int B, int q0, int q1, SlActCache *c,
                         const SlIntervention *iv, GeneralRows *rows, SlError *err)
{
    return general_run(m, tokens, ldt, B, q1, q0, c, iv_or_none(iv), NULL, rows, err);
}

/* ---- one new position at a time ---------------------------------------------------- */

int general_decode_begin(GeneralDecode *d, const SlModel *m, int B, int P, int Tc, SlActCache *c,
                         const SlIntervention *iv, SlError *err)
{
    const SlModelConfig *cfg = &m->cfg;
    const int L = cfg->n_layers, H = cfg->n_heads, D = cfg->d_model, E = cfg->d_head, HE = H * E, Tn = cfg->n_ctx;
    const int V = cfg->d_vocab, W3 = 3 * HE;
    memset(d, 0, sizeof *d);
    d->m = m;
    d->iv = iv_or_none(iv);
    d->B = B;
    /* The last position decoded is n_ctx - 2 (its logits predict the last
     * token): a cache with room for it is decoded in place. */
    const bool in_place = Tc >= Tn - 1 && P == Tc;
    d->Tk = in_place ? Tc : Tn;
    const size_t kv = in_place ? 0 : (size_t)L * B * Tn * HE, n_wp = (size_t)L * D * W3, n_tab = (size_t)(V + Tn) * W3;
    const size_t need = 2 * kv + n_wp + n_tab + (size_t)B * D + (size_t)B * W3 + (size_t)B * HE + (size_t)Tn + (size_t)B;
    d->memory = malloc(need * sizeof(float));
    if (!d->memory)
        return sl_error_set(err, SL_ENOMEM, "out of memory for greedy decoding (%zu floats)", need);
    d->keys = in_place ? c->k : d->memory;
    d->vals = in_place ? c->v : d->memory + kv;
    d->wp = d->memory + 2 * kv;
    d->tab = d->wp + n_wp;
    d->x = d->tab + n_tab;
    d->qkv = d->x + (size_t)B * D;
    d->zrow = d->qkv + (size_t)B * W3;
    d->s = d->zrow + (size_t)B * HE;
    d->all = (int *)(d->s + Tn);   /* [B] 0..B-1: every list active */
    for (int b = 0; b < B; b++)
        d->all[b] = b;
    /* else the cache's keys and values, [L, B, Tc, H, E], are kept as
     * [L, B, Tn, H, E] so that new positions append in place */
    for (int l = 0; l < L && !in_place; l++)
        for (int b = 0; b < B; b++) {
            size_t src = ((size_t)l * B + b) * Tc * HE, dst = ((size_t)l * B + b) * Tn * HE;
            memcpy(d->keys + dst, c->k + src, (size_t)P * HE * sizeof(float));
            memcpy(d->vals + dst, c->v + src, (size_t)P * HE * sizeof(float));
        }
    for (int l = 0; l < L; l++)
        general_pack_qkv(m, l, d->wp + (size_t)l * D * W3);
    general_tables0(m, Tn, d->wp, d->tab);
    return 0;
}

/* z [E] of the query at pos of one list (its tokens tok) and head h of
 * layer l against the kept keys and values 0..pos (kb, vb: rows HE apart),
 * with the intervention where it touches (l, h), as attention_fused does
 * it: layer 0's scores from the QK terms kept (the token and position rows
 * of the tables, as layer0_qk_terms), a blocked key, a forced row, an
 * ablated z.  d->s [pos + 1] is scratch. */
static void decode_attend(const GeneralDecode *d, const int *tok, int l, int h, const float *qr, const float *kb,
                          const float *vb, int pos, float *zr)
{
    const SlModelConfig *cfg = &d->m->cfg;
    const int E = cfg->d_head, HE = cfg->n_heads * E, W3 = 3 * HE, V = cfg->d_vocab;
    const SlIntervention *iv = d->iv;
    const bool on = iv_on(iv, l, h);
    const unsigned off = l == 0 && on ? iv->qk_terms_off : 0;
    const float div = sqrtf((float)E);
    float *s = d->s, mx = -INFINITY;
    if (off) {
        const float *qt = d->tab + (size_t)tok[pos] * W3 + (size_t)h * E, *qp = d->tab + (size_t)(V + pos) * W3 + (size_t)h * E;
        for (int k = 0; k <= pos; k++) {
            const float *kt = d->tab + (size_t)tok[k] * W3 + HE + (size_t)h * E;
            const float *kp = d->tab + (size_t)(V + k) * W3 + HE + (size_t)h * E;
            float raw = 0.0f;   /* the terms in layer0_qk_terms' order */
            if (!(off & SL_QK_TERM_TOK_TOK))
                raw += ops_dot(qt, kt, E);
            if (!(off & SL_QK_TERM_TOK_POS))
                raw += ops_dot(qt, kp, E);
            if (!(off & SL_QK_TERM_POS_TOK))
                raw += ops_dot(qp, kt, E);
            if (!(off & SL_QK_TERM_POS_POS))
                raw += ops_dot(qp, kp, E);
            s[k] = raw / div;
            mx = s[k] > mx ? s[k] : mx;
        }
    } else {
        for (int k = 0; k <= pos; k++) {
            s[k] = ops_dot(qr, kb + (size_t)k * HE, E) / div;
            mx = s[k] > mx ? s[k] : mx;
        }
    }
    attention_finish(s, s, pos, pos + 1, mx, on, iv);
    attention_z(s, vb, HE, E, pos + 1, l, h, pos, iv, zr);
}

void general_decode_step(GeneralDecode *d, const int *tokens, int pos, const int *active, int nb, float *logits)
{
    const SlModel *m = d->m;
    const SlModelConfig *cfg = &m->cfg;
    const SlModelParams *p = &m->params;
    const int L = cfg->n_layers, H = cfg->n_heads, D = cfg->d_model, E = cfg->d_head, HE = H * E, W3 = 3 * HE;
    const int Tn = cfg->n_ctx, Vo = cfg->d_vocab_out, V = cfg->d_vocab, B = d->B, Tk = d->Tk;
    const SlIntervention *iv = d->iv;
    if (!active) {
        active = d->all;
        nb = B;
    }
    if (nb <= 0)
        return;
    for (int r = 0; r < nb; r++) {   /* row r: list active[r] */
        int t = tokens[(size_t)active[r] * Tn + pos];
        float *xr = d->x + (size_t)r * D, *qkv = d->qkv + (size_t)r * W3;
        memcpy(xr, p->W_E + (size_t)t * D, (size_t)D * sizeof(float));
        ops_add(xr, p->W_pos + (size_t)pos * D, D);
        /* layer 0's q, k, v: the token's row and the position's (with the biases) */
        memcpy(qkv, d->tab + (size_t)t * W3, (size_t)W3 * sizeof(float));
        ops_add(qkv, d->tab + (size_t)(V + pos) * W3, W3);
        if (iv->ov_drop_pos)   /* W_E[t] W_V only for the chosen heads: the token's row alone */
            for (int h = 0; h < H; h++)
                if (iv_on(iv, 0, h))
                    memcpy(qkv + 2 * HE + h * E, d->tab + (size_t)t * W3 + 2 * HE + h * E, (size_t)E * sizeof(float));
    }
    for (int l = 0; l < L; l++) {
        float *kl = d->keys + (size_t)l * B * Tk * HE, *vl = d->vals + (size_t)l * B * Tk * HE;  /* [B, Tk, H, E] */
        if (l > 0) {   /* q, k, v [nb, 3 H E] = x [nb, D] W [D, 3 H E] + b, one product */
            ops_gemm_nn(d->qkv, W3, d->x, D, d->wp + (size_t)l * D * W3, W3, nb, W3, D, false);
            const float *bias[3] = {p->b_Q + (size_t)l * HE, p->b_K + (size_t)l * HE, p->b_V + (size_t)l * HE};
            for (int mi = 0; mi < 3; mi++)
                ops_add_bias_rows(d->qkv + (size_t)mi * HE, W3, bias[mi], nb, HE);
        }
        for (int r = 0; r < nb; r++) {   /* the new key and value rows go to their lists' kept arrays */
            size_t at = ((size_t)active[r] * Tk + pos) * HE;
            memcpy(kl + at, d->qkv + (size_t)r * W3 + HE, (size_t)HE * sizeof(float));
            memcpy(vl + at, d->qkv + (size_t)r * W3 + 2 * HE, (size_t)HE * sizeof(float));
        }
        for (int r = 0; r < nb; r++)
            for (int h = 0; h < H; h++) {
                size_t kv = (size_t)active[r] * Tk * HE + (size_t)h * E;
                decode_attend(d, tokens + (size_t)active[r] * Tn, l, h, d->qkv + (size_t)r * W3 + h * E, kl + kv,
                              vl + kv, pos, d->zrow + (size_t)r * HE + h * E);
            }
        /* the stream moves on by attn_out = z [nb, H E] x W_O[l] [H E, D] + b_O,
         * added in the product itself (x + z W_O, then b_O: as the rows forward) */
        ops_gemm_nn(d->x, D, d->zrow, HE, p->W_O + (size_t)l * HE * D, D, nb, D, HE, true);
        ops_add_bias_rows(d->x, D, p->b_O + (size_t)l * D, nb, D);
    }
    if (iv->drop_direct)   /* the stream without W_E[t] + W_pos[p], subtracted in unembed's order */
        for (int r = 0; r < nb; r++) {
            const float *e = p->W_E + (size_t)tokens[(size_t)active[r] * Tn + pos] * D, *ps = p->W_pos + (size_t)pos * D;
            float *xr = d->x + (size_t)r * D;
            for (int k = 0; k < D; k++)
                xr[k] = xr[k] - e[k] - ps[k];
        }
    ops_gemm_nn(logits, Vo, d->x, D, p->W_U, Vo, nb, Vo, D, false);
    ops_add_bias_rows(logits, Vo, p->b_U, nb, Vo);
}

void general_decode_end(GeneralDecode *d)
{
    free(d->memory);
    d->memory = NULL;
}
