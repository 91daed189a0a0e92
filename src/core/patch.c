/* patch.c: activation patching and attribution patching (see patch.h).
 *
 * One-layer models: the logit difference at the query depends on the
 * activations of positions 0..Q only through the query's own row of the
 * only block, so each patch is an exact recomputation of that row from the
 * two runs' caches, with one activation taken from the clean run:
 *   x      = hook_embed[Q] + hook_pos_embed[Q]
 *   s_h[k] = q_h[Q] . k_h[k] / sqrt(E)           (k <= Q)
 *   p_h    = softmax(s_h)
 *   z_h    = sum_k p_h[k] v_h[k]
 *   LD     = (x + sum_h z_h W_O[h] + b_O) . u + b_U[c] - b_U[r],
 *            u = W_U[:, c] - W_U[:, r]
 * (c, r: the clean and corrupt answers).  A patched hook_embed or
 * hook_pos_embed at k changes x[k], hence k_h[k] and v_h[k] (and q_h, x at
 * the query).  The gradient for attribution patching is this row's,
 * written out (softmax' Jacobian: ds = p (dp - p . dp)). */
#include "sortlens/patch.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sortlens/circuits.h"
#include "sortlens/forward.h"
#include "sortlens/task.h"

int sl_patch_default_at(const ModelConfig *c, const int *clean, const int *corrupt, int *at, SlError *err)
{
    const int n = c->list_len;
    int sc[MODEL_MAX_CTX], sr[MODEL_MAX_CTX];
    task_sort_values(n, clean, sc);
    task_sort_values(n, corrupt, sr);
    for (int i = 0; i < n; i++)
        if (sc[i] != sr[i]) {
            *at = i + 1;
            return 0;
        }
    return sl_error_set(err, SL_EINVAL, "the clean and corrupted lists sort to the same list, so no prediction "
                        "position tells them apart");
}

const SlPatchHook *sl_patch_hook(const SlPatchResult *r, const char *name)
{
    for (int i = 0; i < r->n_hooks; i++)
        if (strcmp(r->hooks[i].name, name) == 0)
            return &r->hooks[i];
    return NULL;
}

void sl_patch_result_free(SlPatchResult *r)
{
    if (!r)
        return;
    free(r->memory);
    memset(r, 0, sizeof *r);
}

/* The per-head hook kinds of a layer, in output order. */
enum { HK_Q, HK_K, HK_V, HK_Z, HK_PATTERN, HK_HEAD_KINDS };
static const char *const head_hook_names[HK_HEAD_KINDS] = {"attn.hook_q", "attn.hook_k", "attn.hook_v", "attn.hook_z",
                                                           "attn.hook_pattern"};

/* Lays out the hooks and their arrays. */
static int result_alloc(SlPatchResult *r, int L, int H, int T, bool attribution, SlError *err)
{
    memset(r, 0, sizeof *r);
    r->L = L, r->H = H, r->T = T;
    size_t per = 0;
    int nh = 0;
    for (int i = 0; i < 2; i++, nh++) {
        snprintf(r->hooks[nh].name, sizeof r->hooks[nh].name, "%s", i ? "hook_pos_embed" : "hook_embed");
        r->hooks[nh].layer = -1;
        per += (size_t)T;
    }
    for (int l = 0; l < L; l++) {
        for (int k = 0; k < HK_HEAD_KINDS; k++, nh++) {
            snprintf(r->hooks[nh].name, sizeof r->hooks[nh].name, "blocks.%d.%s", l, head_hook_names[k]);
            r->hooks[nh].layer = l;
            r->hooks[nh].heads = H;
            per += (size_t)H * T;
        }
        for (int k = 0; k < 2; k++, nh++) {
            snprintf(r->hooks[nh].name, sizeof r->hooks[nh].name, "blocks.%d.%s", l, k ? "hook_resid_post" : "hook_attn_out");
            r->hooks[nh].layer = l;
            per += (size_t)T;
        }
    }
    per += (size_t)H * 4 * T;
    r->n_hooks = nh;
    size_t total = per * (attribution ? 2 : 1);
    r->memory = calloc(total, sizeof(float));
    if (!r->memory)
        return sl_error_set(err, SL_ENOMEM, "out of memory for the patching results (%zu floats)", total);
    float *mem = r->memory;
    for (int i = 0; i < nh; i++) {
        size_t n = (size_t)(r->hooks[i].heads ? r->hooks[i].heads : 1) * T;
        r->hooks[i].exact = mem, mem += n;
        if (attribution)
            r->hooks[i].attribution = mem, mem += n;
    }
    r->score_terms = mem, mem += (size_t)H * 4 * T;
    if (attribution)
        r->score_terms_attribution = mem;
    return 0;
}

/* The inputs of the query's row; a patch points one of them elsewhere. */
typedef struct Row {
    const float *x;         /* [D] resid pre at the query */
    const float **q;        /* [H] -> [E] */
    const float **k, **v;   /* [H, Q+1] -> [E] */
    const float **scores;   /* [H] -> [Q+1] scaled row, or NULL: q . k / sqrt(E) */
    const float **pattern;  /* [H] -> [Q+1], or NULL: softmax(scores) */
    const float **z;        /* [H] -> [E], or NULL: pattern . v */
    const float *attn_out;  /* [D] or NULL: sum_h z_h W_O[h] + b_O */
    const float *resid;     /* [D] or NULL: x + attn_out */
} Row;

typedef struct Patcher {
    const Model *m;
    int H, D, E, Q, Vo;
    float inv_sqrt_e;
    const float *u;         /* [D] W_U[:, c] - W_U[:, r] */
    const float *wu;        /* [H, E] W_O[h] u */
    double bias_ld;         /* b_O . u + b_U[c] - b_U[r] */
    double *srow, *prow;    /* [Q+1] workspace */
} Patcher;

static double dot_f(const float *a, const float *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* LD of the row. */
static double row_ld(const Patcher *P, const Row *r)
{
    const int H = P->H, E = P->E, D = P->D, Q = P->Q;
    if (r->resid)
        return dot_f(r->resid, P->u, D) + P->bias_ld - dot_f(P->m->params.b_O, P->u, D);
    double ld = dot_f(r->x, P->u, D) + P->bias_ld;
    if (r->attn_out)
        return ld + dot_f(r->attn_out, P->u, D) - dot_f(P->m->params.b_O, P->u, D);
    for (int h = 0; h < H; h++) {
        const float *wu = P->wu + (size_t)h * E;
        if (r->z && r->z[h]) {
            ld += dot_f(r->z[h], wu, E);
            continue;
        }
        const double *p = P->prow;
        if (r->pattern && r->pattern[h]) {
            for (int k = 0; k <= Q; k++)
                P->prow[k] = r->pattern[h][k];
        } else {
            double mx = -INFINITY, sum = 0;
            for (int k = 0; k <= Q; k++) {
                P->srow[k] = r->scores && r->scores[h] ? (double)r->scores[h][k]
                                                       : (double)(float)(dot_f(r->q[h], r->k[(size_t)h * (Q + 1) + k], E) * P->inv_sqrt_e);
                if (P->srow[k] > mx)
                    mx = P->srow[k];
            }
            for (int k = 0; k <= Q; k++)
                sum += P->prow[k] = exp(P->srow[k] - mx);
            for (int k = 0; k <= Q; k++)
                P->prow[k] /= sum;
        }
        for (int k = 0; k <= Q; k++)
            ld += p[k] * dot_f(r->v[(size_t)h * (Q + 1) + k], wu, E);
    }
    return ld;
}

int sl_patch(const Model *m, const int *clean, const int *corrupt, int at, bool attribution, SlPatchResult *out,
             SlError *err)
{
    const ModelConfig *c = &m->cfg;
    const int L = c->n_layers, H = c->n_heads, D = c->d_model, E = c->d_head, T = c->n_ctx, Vo = c->d_vocab_out;
    const int n = c->list_len;
    memset(out, 0, sizeof *out);
    if (L != 1)
        return sl_error_set(err, SL_EINVAL, "patching a model of %d layers needs the forward's hook API, which this build "
                            "does not have yet; it patches one-layer models", L);
    if (at == 0 && sl_patch_default_at(c, clean, corrupt, &at, err))
        return SL_EINVAL;
    if (at < 1 || at > n)
        return sl_error_set(err, SL_EINVAL, "--at %d: the positions that predict b_1..b_%d are 1..%d", at, n, n);
    int sc[MODEL_MAX_CTX], sr[MODEL_MAX_CTX];
    task_sort_values(n, clean, sc);
    task_sort_values(n, corrupt, sr);
    const int ca = sc[at - 1], ra = sr[at - 1], Q = n + at;
    if (ca == ra)
        return sl_error_set(err, SL_EINVAL, "--at %d: both lists put %d at b_%d, so the logit difference is 0 in both runs "
                            "and cannot be normalised; pick a position where the sorted lists differ", at, ca, at);

    int rc = result_alloc(out, L, H, T, attribution, err);
    if (rc)
        return rc;
    out->at = at, out->query = Q, out->clean_answer = ca, out->corrupt_answer = ra;

    int tokens[2 * MODEL_MAX_CTX];
    task_make_tokens(c, clean, tokens);
    task_make_tokens(c, corrupt, tokens + T);
    const size_t QK = (size_t)Q + 1;
    ActCache *cache = cache_new(c, 2, T, err);
    /* workspace: u, wu, rows, pointer tables, score terms, recomputed q/k/v, gradients */
    size_t nf = (size_t)D + (size_t)H * E + 3 * (size_t)H * E + 2 * (size_t)H * 4 * T * T + (size_t)H * QK + 2 * (size_t)D +
                (size_t)H * E * (2 + 2 * QK) + (size_t)H * QK;
    float *ws = malloc(nf * sizeof *ws);
    double *dws = malloc(2 * QK * sizeof *dws);
    const float **ptrs = malloc((4 * (size_t)H + 2 * (size_t)H * QK) * sizeof *ptrs);
    if (!cache || !ws || !dws || !ptrs) {
        rc = cache ? sl_error_set(err, SL_ENOMEM, "out of memory for patching") : (err ? err->code : SL_ENOMEM);
        goto done;
    }
    if ((rc = model_forward(m, tokens, 2, T, cache, NULL, FORWARD_AUTO, err)))
        goto done;
    float *u = ws, *wu = u + D, *qbuf = wu + (size_t)H * E, *kbuf = qbuf + (size_t)H * E, *vbuf = kbuf + (size_t)H * E;
    float *terms_c = vbuf + (size_t)H * E, *terms_r = terms_c + (size_t)H * 4 * T * T, *srows = terms_r + (size_t)H * 4 * T * T;
    float *xbuf = srows + (size_t)H * QK, *gx = xbuf + D;
    float *gq = gx + D, *gz = gq + (size_t)H * E, *gk = gz + (size_t)H * E, *gv = gk + (size_t)H * E * QK;
    float *gs = gv + (size_t)H * E * QK;
    const ModelParams *p = &m->params;
    for (int d = 0; d < D; d++)
        u[d] = p->W_U[(size_t)d * Vo + ca] - p->W_U[(size_t)d * Vo + ra];
    for (int h = 0; h < H; h++)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, E, D, 1.0f, p->W_O + model_head_qkv_offset(c, 0, h), D, u, 1, 0.0f,
                    wu + (size_t)h * E, 1);
    for (int h = 0; h < H; h++)
        if ((rc = circuit_score_terms(m, h, tokens, T, terms_c + (size_t)h * 4 * T * T, err)) ||
            (rc = circuit_score_terms(m, h, tokens + T, T, terms_r + (size_t)h * 4 * T * T, err)))
            goto done;
    Patcher P = {.m = m, .H = H, .D = D, .E = E, .Q = Q, .Vo = Vo, .inv_sqrt_e = 1.0f / sqrtf((float)E), .u = u, .wu = wu,
                 .srow = dws, .prow = dws + QK};
    P.bias_ld = dot_f(p->b_O, u, D) + (double)p->b_U[ca] - p->b_U[ra];

    /* the activations of the two runs (b = 0 clean, 1 corrupt) */
    const size_t HE = (size_t)H * E;
#define ACT_QKV(arr, b, t, h) (cache->arr + (((size_t)(b) * T + (t)) * H + (h)) * E)   /* [B, T, H, E] */
#define ACT_D(arr, b, t) (cache->arr + ((size_t)(b) * T + (t)) * D)                   /* [B, T, D] */
#define ACT_ROW(arr, b, h) (cache->arr + (((size_t)(b) * H + (h)) * T + Q) * T)        /* [B, H, T, T], row Q */
    const double ld_c = (double)cache->logits[((size_t)0 * T + Q) * Vo + ca] - cache->logits[((size_t)0 * T + Q) * Vo + ra];
    const double ld_r = (double)cache->logits[((size_t)1 * T + Q) * Vo + ca] - cache->logits[((size_t)1 * T + Q) * Vo + ra];
    out->ld_clean = ld_c, out->ld_corrupt = ld_r;
    const double denom = ld_c - ld_r;

    /* the corrupted row, every pointer at the corrupted run */
    const float **rq = ptrs, **rscores = rq + H, **rpattern = rscores + H, **rz = rpattern + H;
    const float **rk = rz + H, **rv = rk + (size_t)H * QK;
    for (int h = 0; h < H; h++) {
        rq[h] = ACT_QKV(q, 1, Q, h);
        rscores[h] = rpattern[h] = rz[h] = NULL;
        for (int k = 0; k <= Q; k++) {
            rk[(size_t)h * QK + k] = ACT_QKV(k, 1, k, h);
            rv[(size_t)h * QK + k] = ACT_QKV(v, 1, k, h);
        }
    }
    for (int d = 0; d < D; d++)
        xbuf[d] = ACT_D(embed, 1, Q)[d] + ACT_D(pos_embed, 1, Q)[d];
    Row base = {.x = xbuf, .q = rq, .k = rk, .v = rv, .scores = rscores, .pattern = rpattern, .z = rz};
    const double ld_base = row_ld(&P, &base);
#define NORM(ld) ((float)(((ld) - ld_base) / denom))

    SlPatchHook *hk_embed = &out->hooks[0], *hk_pos = &out->hooks[1];
    SlPatchHook *hk[HK_HEAD_KINDS];
    for (int k = 0; k < HK_HEAD_KINDS; k++)
        hk[k] = &out->hooks[2 + k];
    SlPatchHook *hk_attn_out = &out->hooks[2 + HK_HEAD_KINDS], *hk_resid = &out->hooks[3 + HK_HEAD_KINDS];

    /* hook_embed, hook_pos_embed at k: x[k] changes, and with it every
     * head's k[k], v[k] (and q, x at the query) */
    float xk[MODEL_MAX_DIM];
    for (int which = 0; which < 2; which++)
        for (int k = 0; k <= Q; k++) {
            const float *e = which == 0 ? ACT_D(embed, 0, k) : ACT_D(embed, 1, k);
            const float *po = which == 0 ? ACT_D(pos_embed, 1, k) : ACT_D(pos_embed, 0, k);
            for (int d = 0; d < D; d++)
                xk[d] = e[d] + po[d];
            Row r = base;
            const float *saved_q[MODEL_MAX_HEADS];
            for (int h = 0; h < H; h++) {
                size_t w = model_head_qkv_offset(c, 0, h);
                float *kk = kbuf + (size_t)h * E, *vv = vbuf + (size_t)h * E, *qq = qbuf + (size_t)h * E;
                memcpy(kk, p->b_K + (size_t)h * E, (size_t)E * sizeof *kk);
                memcpy(vv, p->b_V + (size_t)h * E, (size_t)E * sizeof *vv);
                cblas_sgemv(CblasRowMajor, CblasTrans, D, E, 1.0f, p->W_K + w, E, xk, 1, 1.0f, kk, 1);
                cblas_sgemv(CblasRowMajor, CblasTrans, D, E, 1.0f, p->W_V + w, E, xk, 1, 1.0f, vv, 1);
                rk[(size_t)h * QK + k] = kk;
                rv[(size_t)h * QK + k] = vv;
                saved_q[h] = rq[h];
                if (k == Q) {
                    memcpy(qq, p->b_Q + (size_t)h * E, (size_t)E * sizeof *qq);
                    cblas_sgemv(CblasRowMajor, CblasTrans, D, E, 1.0f, p->W_Q + w, E, xk, 1, 1.0f, qq, 1);
                    rq[h] = qq;
                }
            }
            if (k == Q)
                r.x = xk;
            (which == 0 ? hk_embed : hk_pos)->exact[k] = NORM(row_ld(&P, &r));
            for (int h = 0; h < H; h++) {
                rk[(size_t)h * QK + k] = ACT_QKV(k, 1, k, h);
                rv[(size_t)h * QK + k] = ACT_QKV(v, 1, k, h);
                rq[h] = saved_q[h];
            }
        }

    /* per head: q (the query only), k and v at each key, z and the
     * pattern row at the query, and the four score terms per key */
    for (int h = 0; h < H; h++) {
        float *row_q = hk[HK_Q]->exact + (size_t)h * T, *row_k = hk[HK_K]->exact + (size_t)h * T;
        float *row_v = hk[HK_V]->exact + (size_t)h * T, *row_z = hk[HK_Z]->exact + (size_t)h * T;
        float *row_p = hk[HK_PATTERN]->exact + (size_t)h * T;
        rq[h] = ACT_QKV(q, 0, Q, h);
        row_q[Q] = NORM(row_ld(&P, &base));
        rq[h] = ACT_QKV(q, 1, Q, h);
        for (int k = 0; k <= Q; k++) {
            rk[(size_t)h * QK + k] = ACT_QKV(k, 0, k, h);
            row_k[k] = NORM(row_ld(&P, &base));
            rk[(size_t)h * QK + k] = ACT_QKV(k, 1, k, h);
            rv[(size_t)h * QK + k] = ACT_QKV(v, 0, k, h);
            row_v[k] = NORM(row_ld(&P, &base));
            rv[(size_t)h * QK + k] = ACT_QKV(v, 1, k, h);
        }
        rz[h] = ACT_QKV(z, 0, Q, h);
        row_z[Q] = NORM(row_ld(&P, &base));
        rz[h] = NULL;
        rpattern[h] = ACT_ROW(pattern, 0, h);
        row_p[Q] = NORM(row_ld(&P, &base));
        rpattern[h] = NULL;
        /* score terms: the corrupted row (from q . k, as row_ld computes
         * it) with one term of one key taken from the clean run */
        float *srow = srows + (size_t)h * QK;
        for (int k = 0; k <= Q; k++)
            srow[k] = (float)(dot_f(rq[h], rk[(size_t)h * QK + k], E) * P.inv_sqrt_e);
        rscores[h] = srow;
        for (int t = 0; t < 4; t++)
            for (int k = 0; k <= Q; k++) {
                size_t i = ((size_t)h * 4 + t) * T * T + (size_t)Q * T + k;
                float keep = srow[k];
                srow[k] = keep + (terms_c[i] - terms_r[i]) * P.inv_sqrt_e;
                out->score_terms[((size_t)h * 4 + t) * T + k] = NORM(row_ld(&P, &base));
                srow[k] = keep;
            }
        rscores[h] = NULL;
    }
    /* hook_attn_out and hook_resid_post at the query */
    {
        Row r = base;
        r.attn_out = ACT_D(attn_out, 0, Q);
        hk_attn_out->exact[Q] = NORM(row_ld(&P, &r));
        r.attn_out = NULL;
        r.resid = ACT_D(resid_post, 0, Q);
        hk_resid->exact[Q] = NORM(row_ld(&P, &r));
    }

    if (attribution) {
        /* the gradient of LD at the corrupted run, as the row computes it */
        memcpy(gx, u, (size_t)D * sizeof *gx);   /* the direct path at the query */
        memset(gk, 0, (size_t)H * E * QK * sizeof *gk);
        memset(gv, 0, (size_t)H * E * QK * sizeof *gv);
        for (int h = 0; h < H; h++) {
            const float *pr = ACT_ROW(pattern, 1, h), *wuh = wu + (size_t)h * E;
            float *gsh = gs + (size_t)h * QK;
            double pdp = 0;
            for (int k = 0; k <= Q; k++)
                pdp += pr[k] * dot_f(rv[(size_t)h * QK + k], wuh, E);
            float *row_p = hk[HK_PATTERN]->attribution + (size_t)h * T;
            double attr_p = 0;
            for (int k = 0; k <= Q; k++) {
                double dp = dot_f(rv[(size_t)h * QK + k], wuh, E);   /* dLD/dpattern[Q, k] */
                attr_p += dp * ((double)ACT_ROW(pattern, 0, h)[k] - pr[k]);
                gsh[k] = (float)(pr[k] * (dp - pdp));   /* dLD/dscore[Q, k] (scaled score) */
                for (int e = 0; e < E; e++)
                    gv[((size_t)h * QK + k) * E + e] = pr[k] * wuh[e];
            }
            row_p[Q] = (float)(attr_p / denom);
            for (int e = 0; e < E; e++) {
                double s = 0;
                for (int k = 0; k <= Q; k++)
                    s += (double)gsh[k] * rk[(size_t)h * QK + k][e];
                gq[(size_t)h * E + e] = (float)(s * P.inv_sqrt_e);
                gz[(size_t)h * E + e] = wuh[e];
            }
            for (int k = 0; k <= Q; k++)
                for (int e = 0; e < E; e++)
                    gk[((size_t)h * QK + k) * E + e] = gsh[k] * P.inv_sqrt_e * rq[h][e];
            /* estimates: gradient . (clean - corrupt) */
            float *aq = hk[HK_Q]->attribution + (size_t)h * T, *ak = hk[HK_K]->attribution + (size_t)h * T;
            float *av = hk[HK_V]->attribution + (size_t)h * T, *az = hk[HK_Z]->attribution + (size_t)h * T;
            double s = 0;
            for (int e = 0; e < E; e++)
                s += (double)gq[(size_t)h * E + e] * ((double)ACT_QKV(q, 0, Q, h)[e] - ACT_QKV(q, 1, Q, h)[e]);
            aq[Q] = (float)(s / denom);
            s = 0;
            for (int e = 0; e < E; e++)
                s += (double)gz[(size_t)h * E + e] * ((double)ACT_QKV(z, 0, Q, h)[e] - ACT_QKV(z, 1, Q, h)[e]);
            az[Q] = (float)(s / denom);
            for (int k = 0; k <= Q; k++) {
                double sk = 0, sv = 0;
                for (int e = 0; e < E; e++) {
                    sk += (double)gk[((size_t)h * QK + k) * E + e] * ((double)ACT_QKV(k, 0, k, h)[e] - ACT_QKV(k, 1, k, h)[e]);
                    sv += (double)gv[((size_t)h * QK + k) * E + e] * ((double)ACT_QKV(v, 0, k, h)[e] - ACT_QKV(v, 1, k, h)[e]);
                }
                ak[k] = (float)(sk / denom);
                av[k] = (float)(sv / denom);
            }
            for (int t = 0; t < 4; t++)
                for (int k = 0; k <= Q; k++) {
                    size_t i = ((size_t)h * 4 + t) * T * T + (size_t)Q * T + k;
                    out->score_terms_attribution[((size_t)h * 4 + t) * T + k] =
                        (float)((double)gsh[k] * (terms_c[i] - terms_r[i]) * P.inv_sqrt_e / denom);
                }
        }
        /* the residual stream entering the block, at each key k:
         * dx[k] = [k = Q] (u + sum_h W_Q gq) + sum_h (W_K gk[k] + W_V gv[k]) */
        for (int k = 0; k <= Q; k++) {
            float g[MODEL_MAX_DIM];
            if (k == Q)
                memcpy(g, gx, (size_t)D * sizeof *g);
            else
                memset(g, 0, (size_t)D * sizeof *g);
            for (int h = 0; h < H; h++) {
                size_t w = model_head_qkv_offset(c, 0, h);
                if (k == Q)
                    cblas_sgemv(CblasRowMajor, CblasNoTrans, D, E, 1.0f, p->W_Q + w, E, gq + (size_t)h * E, 1, 1.0f, g, 1);
                cblas_sgemv(CblasRowMajor, CblasNoTrans, D, E, 1.0f, p->W_K + w, E, gk + ((size_t)h * QK + k) * E, 1, 1.0f,
                            g, 1);
                cblas_sgemv(CblasRowMajor, CblasNoTrans, D, E, 1.0f, p->W_V + w, E, gv + ((size_t)h * QK + k) * E, 1, 1.0f,
                            g, 1);
            }
            double se = 0, sp = 0;
            for (int d = 0; d < D; d++) {
                se += (double)g[d] * ((double)ACT_D(embed, 0, k)[d] - ACT_D(embed, 1, k)[d]);
                sp += (double)g[d] * ((double)ACT_D(pos_embed, 0, k)[d] - ACT_D(pos_embed, 1, k)[d]);
            }
            hk_embed->attribution[k] = (float)(se / denom);
            hk_pos->attribution[k] = (float)(sp / denom);
        }
        double sa = 0, sr2 = 0;
        for (int d = 0; d < D; d++) {
            sa += (double)u[d] * ((double)ACT_D(attn_out, 0, Q)[d] - ACT_D(attn_out, 1, Q)[d]);
            sr2 += (double)u[d] * ((double)ACT_D(resid_post, 0, Q)[d] - ACT_D(resid_post, 1, Q)[d]);
        }
        hk_attn_out->attribution[Q] = (float)(sa / denom);
        hk_resid->attribution[Q] = (float)(sr2 / denom);
    }
#undef NORM
#undef ACT_QKV
#undef ACT_D
#undef ACT_ROW
    (void)HE;
done:
    free(ptrs);
    free(dws);
    free(ws);
    cache_free(cache);
    if (rc)
        sl_patch_result_free(out);
    return rc;
}
