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
 * written out (softmax' Jacobian: ds = p (dp - p . dp)).
 *
 * Longer than 600 lines because the exact path (patch_rows and its parts,
 * which share one RowPatch: the two runs' caches and one workspace) and the
 * hooked path (any model, any ablation) are the two halves of one result,
 * laid out by result_alloc and chosen by sl_patch; apart, each would need
 * the other's private layout. */
#include "sortlens/patch.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sortlens/ablation.h"
#include "sortlens/circuits.h"
#include "sortlens/hooks.h"
#include "sortlens/forward.h"
#include "sortlens/task.h"

int sl_patch_default_at(const SlModelConfig *c, const int *clean, const int *corrupt, int *at, SlError *err)
{
    const int n = c->list_len;
    int sc[SL_MODEL_MAX_CTX], sr[SL_MODEL_MAX_CTX];
    sl_task_sort_values(n, clean, sc);
    sl_task_sort_values(n, corrupt, sr);
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

/* The corrupted query row, in the terms LD is made of: per head h the
 * scaled scores s_h[k] and the value terms vu_h[k] = v_h[k] . W_O[h] u,
 * so that LD = x . u + bias + sum_h softmax(s_h) . vu_h.  A patch changes
 * one head's row (or, for the embeddings, one entry of every head's), and
 * costs one softmax of Q + 1 entries. */
typedef struct Patcher {
    int H, Q;
    double ld_base;          /* LD of the corrupted row */
    double xu;               /* x[Q] . u of the corrupted run */
    double *s0, *vu0;        /* [H, Q+1] */
    double *part0;           /* [H] softmax(s0_h) . vu0_h */
    double *s, *vu;          /* [Q+1] one row being patched */
} Patcher;

static double dot_f(const float *a, const float *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* softmax(s[0..n)) . vu[0..n) */
static double softmax_dot(const double *s, const double *vu, int n)
{
    double mx = s[0], sum = 0, acc = 0;
    for (int k = 1; k < n; k++)
        mx = s[k] > mx ? s[k] : mx;
    for (int k = 0; k < n; k++) {
        double e = exp(s[k] - mx);
        sum += e;
        acc += e * vu[k];
    }
    return acc / sum;
}

/* LD with head h's row replaced by (s, vu). */
static double ld_head(const Patcher *P, int h, const double *s, const double *vu)
{
    return P->ld_base - P->part0[h] + softmax_dot(s, vu, P->Q + 1);
}

/* A copy of head h's corrupted row into P->s, P->vu. */
static void row_copy(Patcher *P, int h)
{
    size_t n = (size_t)P->Q + 1;
    memcpy(P->s, P->s0 + (size_t)h * n, n * sizeof *P->s);
    memcpy(P->vu, P->vu0 + (size_t)h * n, n * sizeof *P->vu);
}

/* The pair's answers at K and the query; SL_EINVAL when the metric is
 * undefined.  *at 0: the default. */
static int patch_setup(const SlModelConfig *c, const int *clean, const int *corrupt, int *at, int *ca, int *ra, SlError *err)
{
    const int n = c->list_len;
    if (*at == 0 && sl_patch_default_at(c, clean, corrupt, at, err))
        return SL_EINVAL;
    if (*at < 1 || *at > n)
        return sl_error_set(err, SL_EINVAL, "--at %d: the positions that predict b_1..b_%d are 1..%d", *at, n, n);
    int sc[SL_MODEL_MAX_CTX], sr[SL_MODEL_MAX_CTX];
    sl_task_sort_values(n, clean, sc);
    sl_task_sort_values(n, corrupt, sr);
    *ca = sc[*at - 1], *ra = sr[*at - 1];
    if (*ca == *ra)
        return sl_error_set(err, SL_EINVAL, "--at %d: both lists put %d at b_%d, so the logit difference is 0 in both runs "
                            "and cannot be normalised; pick a position where the sorted lists differ", *at, *ca, *at);
    return 0;
}

/* What the parts of patch_rows share: the two runs' cache (b = 0 clean,
 * 1 corrupt), the corrupted row's pieces, and the workspace cut from one
 * allocation.  Shapes in the comments; QK = Q + 1 (the keys the query sees). */
typedef struct RowPatch {
    const SlModelConfig *c;
    const SlModelParams *p;
    int H, D, E, T, Vo, Q, ca, ra;
    size_t QK;
    float inv_sqrt_e;
    double bias_ld;          /* b_O . u + b_U[c] - b_U[r] */
    double ld_base, denom;   /* LD of the corrupted row; LD clean - LD corrupt */
    SlActCache *cache;       /* [2, T, ...] */
    SlPatchResult *out;
    Patcher P;
    float *ws;               /* the float workspace, cut into: */
    float *u;                /* [D] W_U[:, c] - W_U[:, r] */
    float *wu;               /* [H, E] W_O[h] u */
    float *qbuf, *kbuf, *vbuf;   /* [H, E] q, k, v recomputed at the query */
    float *terms_c, *terms_r;    /* [H, 4, T, T] the score terms of each run */
    float *xbuf;             /* [D] the corrupted run's x at the query */
    float *gx, *gq, *gz;     /* [D], [H, E], [H, E] gradients */
    float *gk, *gv;          /* [H, Q+1, E] */
    float *gs;               /* [H, Q+1] dLD/dscore */
    float *kq, *vwu;         /* [H, D] W_K[h] q[h] / sqrt(E), W_V[h] wu[h] */
    double *dws;             /* the double workspace: Patcher's rows, then: */
    double *s_new, *vu_new;  /* [H, Q+1] the embeddings' patches */
    const float **ptrs;      /* the pointer table, cut into: */
    const float **rq, **rk, **rv;   /* [H], [H, Q+1], [H, Q+1] -> [E] the corrupted run's q, k, v */
    SlPatchHook *hk_embed, *hk_pos, *hk[HK_HEAD_KINDS], *hk_attn_out, *hk_resid;
} RowPatch;

/* The activations of the two runs (b = 0 clean, 1 corrupt), R the RowPatch in scope. */
#define ACT_QKV(arr, b, t, h) (R->cache->arr + (((size_t)(b) * R->T + (t)) * R->H + (h)) * R->E)   /* [B, T, H, E] */
#define ACT_D(arr, b, t) (R->cache->arr + ((size_t)(b) * R->T + (t)) * R->D)                      /* [B, T, D] */
#define ACT_ROW(arr, b, h) (R->cache->arr + (((size_t)(b) * R->H + (h)) * R->T + R->Q) * R->T)      /* [B, H, T, T], row Q */

/* A logit difference as a fraction of the way from the corrupted run to the clean one. */
static float row_norm(const RowPatch *R, double ld)
{
    return (float)((ld - R->ld_base) / R->denom);
}

static void row_patch_free(RowPatch *R)
{
    free(R->ptrs);
    free(R->dws);
    free(R->ws);
    sl_cache_free(R->cache);
}

/* Runs both lists with a full cache and lays out the workspace; u, wu and
 * both runs' score terms filled in. */
static int row_patch_setup(RowPatch *R, const SlModel *m, const int *clean, const int *corrupt, int ca, int ra, SlError *err)
{
    const SlModelConfig *c = R->c;
    const int H = R->H, D = R->D, E = R->E, T = R->T, Vo = R->Vo;
    const size_t QK = R->QK;
    int tokens[2 * SL_MODEL_MAX_CTX];
    sl_task_make_tokens(c, clean, tokens);
    sl_task_make_tokens(c, corrupt, tokens + T);
    R->cache = sl_cache_new(c, 2, T, err);
    /* workspace: u, wu, rows, pointer tables, score terms, recomputed q/k/v, gradients */
    size_t nf = (size_t)D + (size_t)H * E + 3 * (size_t)H * E + 2 * (size_t)H * 4 * T * T + (size_t)H * QK + 2 * (size_t)D +
                (size_t)H * E * (2 + 2 * QK) + (size_t)H * QK + 2 * (size_t)H * D;
    R->ws = malloc(nf * sizeof *R->ws);
    R->dws = malloc((4 * (size_t)H * QK + (size_t)H + 2 * QK) * sizeof *R->dws);
    R->ptrs = malloc(((size_t)H + 2 * (size_t)H * QK) * sizeof *R->ptrs);
    if (!R->cache || !R->ws || !R->dws || !R->ptrs)
        return R->cache ? sl_error_set(err, SL_ENOMEM, "out of memory for patching") : (err ? err->code : SL_ENOMEM);
    int rc = sl_model_forward(m, tokens, 2, T, R->cache, NULL, SL_FORWARD_AUTO, err);
    if (rc)
        return rc;
    R->u = R->ws, R->wu = R->u + D, R->qbuf = R->wu + (size_t)H * E, R->kbuf = R->qbuf + (size_t)H * E;
    R->vbuf = R->kbuf + (size_t)H * E;
    R->terms_c = R->vbuf + (size_t)H * E, R->terms_r = R->terms_c + (size_t)H * 4 * T * T;
    R->xbuf = R->terms_r + (size_t)H * 4 * T * T + (size_t)H * QK;   /* past [H, Q+1] kept free */
    R->gx = R->xbuf + D, R->gq = R->gx + D, R->gz = R->gq + (size_t)H * E, R->gk = R->gz + (size_t)H * E;
    R->gv = R->gk + (size_t)H * E * QK, R->gs = R->gv + (size_t)H * E * QK;
    R->kq = R->gs + (size_t)H * QK, R->vwu = R->kq + (size_t)H * D;
    const SlModelParams *p = R->p;
    for (int d = 0; d < D; d++)
        R->u[d] = p->W_U[(size_t)d * Vo + ca] - p->W_U[(size_t)d * Vo + ra];
    for (int h = 0; h < H; h++)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, E, D, 1.0f, p->W_O + sl_model_head_qkv_offset(c, 0, h), D, R->u, 1, 0.0f,
                    R->wu + (size_t)h * E, 1);
    for (int h = 0; h < H; h++)
        if ((rc = sl_circuit_score_terms(m, h, tokens, T, R->terms_c + (size_t)h * 4 * T * T, err)) ||
            (rc = sl_circuit_score_terms(m, h, tokens + T, T, R->terms_r + (size_t)h * 4 * T * T, err)))
            return rc;
    R->inv_sqrt_e = 1.0f / sqrtf((float)E);
    R->bias_ld = dot_f(p->b_O, R->u, D) + (double)p->b_U[ca] - p->b_U[ra];
    double *dws = R->dws;
    R->P = (Patcher){.H = H, .Q = R->Q, .s0 = dws, .vu0 = dws + (size_t)H * QK, .part0 = dws + 2 * (size_t)H * QK};
    R->P.s = R->P.part0 + H;
    R->P.vu = R->P.s + QK;
    R->s_new = R->P.vu + QK, R->vu_new = R->s_new + (size_t)H * QK;
    R->rq = R->ptrs, R->rk = R->rq + H, R->rv = R->rk + (size_t)H * QK;
    return 0;
}

/* The corrupted run's row: its q, k, v per head, its scores and value
 * terms (P.s0, P.vu0, P.part0), LD and the metric's denominator. */
static void row_patch_corrupt_row(RowPatch *R)
{
    const SlModelConfig *c = R->c;
    const SlModelParams *p = R->p;
    const int H = R->H, D = R->D, E = R->E, T = R->T, Vo = R->Vo, Q = R->Q, ca = R->ca, ra = R->ra;
    const size_t QK = R->QK;
    const float inv_sqrt_e = R->inv_sqrt_e;
    const float *logits = R->cache->logits;
    const double ld_c = (double)logits[((size_t)0 * T + Q) * Vo + ca] - logits[((size_t)0 * T + Q) * Vo + ra];
    const double ld_r = (double)logits[((size_t)1 * T + Q) * Vo + ca] - logits[((size_t)1 * T + Q) * Vo + ra];
    R->out->ld_clean = ld_c, R->out->ld_corrupt = ld_r;
    R->denom = ld_c - ld_r;
    for (int h = 0; h < H; h++) {
        R->rq[h] = ACT_QKV(q, 1, Q, h);
        for (int k = 0; k <= Q; k++) {
            R->rk[(size_t)h * QK + k] = ACT_QKV(k, 1, k, h);
            R->rv[(size_t)h * QK + k] = ACT_QKV(v, 1, k, h);
        }
    }
    for (int d = 0; d < D; d++)
        R->xbuf[d] = ACT_D(embed, 1, Q)[d] + ACT_D(pos_embed, 1, Q)[d];
    Patcher *P = &R->P;
    P->xu = dot_f(R->xbuf, R->u, D);
    P->ld_base = P->xu + R->bias_ld;
    for (int h = 0; h < H; h++) {
        const float *wuh = R->wu + (size_t)h * E;
        double *s0 = P->s0 + (size_t)h * QK, *vu0 = P->vu0 + (size_t)h * QK;
        for (int k = 0; k <= Q; k++) {
            s0[k] = dot_f(R->rq[h], R->rk[(size_t)h * QK + k], E) * inv_sqrt_e;
            vu0[k] = dot_f(R->rv[(size_t)h * QK + k], wuh, E);
        }
        P->part0[h] = softmax_dot(s0, vu0, (int)QK);
        P->ld_base += P->part0[h];
        size_t w = sl_model_head_qkv_offset(c, 0, h);
        cblas_sgemv(CblasRowMajor, CblasNoTrans, D, E, inv_sqrt_e, p->W_K + w, E, R->rq[h], 1, 0.0f, R->kq + (size_t)h * D, 1);
        cblas_sgemv(CblasRowMajor, CblasNoTrans, D, E, 1.0f, p->W_V + w, E, wuh, 1, 0.0f, R->vwu + (size_t)h * D, 1);
    }
    R->ld_base = P->ld_base;
}

/* LD with x[k] = e + po (the embedding and positional embedding of one
 * patched key): every head's s[k] and vu[k] change, and at the query q, so
 * the whole score row, and x . u. */
static double row_patch_embedding_ld(RowPatch *R, int k, const float *xk)
{
    const SlModelConfig *c = R->c;
    const SlModelParams *p = R->p;
    const int H = R->H, D = R->D, E = R->E, Q = R->Q;
    const size_t QK = R->QK;
    const float inv_sqrt_e = R->inv_sqrt_e;
    const Patcher *P = &R->P;
    double ld = k == Q ? dot_f(xk, R->u, D) + R->bias_ld : R->ld_base;
    for (int h = 0; h < H; h++) {
        const float *wuh = R->wu + (size_t)h * E;
        double *sn = R->s_new + (size_t)h * QK, *vn = R->vu_new + (size_t)h * QK;
        memcpy(sn, P->s0 + (size_t)h * QK, QK * sizeof *sn);
        memcpy(vn, P->vu0 + (size_t)h * QK, QK * sizeof *vn);
        if (k < Q) {
            /* k[k] = x W_K + b_K: s[k] = x . (W_K q) / sqrt(E) + b_K . q / sqrt(E) */
            sn[k] = dot_f(xk, R->kq + (size_t)h * D, D) + dot_f(p->b_K + (size_t)h * E, R->rq[h], E) * inv_sqrt_e;
            vn[k] = dot_f(xk, R->vwu + (size_t)h * D, D) + dot_f(p->b_V + (size_t)h * E, wuh, E);
            ld += softmax_dot(sn, vn, (int)QK) - P->part0[h];
            continue;
        }
        size_t w = sl_model_head_qkv_offset(c, 0, h);
        float *kk = R->kbuf + (size_t)h * E, *vv = R->vbuf + (size_t)h * E, *qq = R->qbuf + (size_t)h * E;
        memcpy(kk, p->b_K + (size_t)h * E, (size_t)E * sizeof *kk);
        memcpy(vv, p->b_V + (size_t)h * E, (size_t)E * sizeof *vv);
        memcpy(qq, p->b_Q + (size_t)h * E, (size_t)E * sizeof *qq);
        cblas_sgemv(CblasRowMajor, CblasTrans, D, E, 1.0f, p->W_K + w, E, xk, 1, 1.0f, kk, 1);
        cblas_sgemv(CblasRowMajor, CblasTrans, D, E, 1.0f, p->W_V + w, E, xk, 1, 1.0f, vv, 1);
        cblas_sgemv(CblasRowMajor, CblasTrans, D, E, 1.0f, p->W_Q + w, E, xk, 1, 1.0f, qq, 1);
        for (int j = 0; j <= Q; j++)
            sn[j] = dot_f(qq, j == Q ? kk : R->rk[(size_t)h * QK + j], E) * inv_sqrt_e;
        vn[Q] = dot_f(vv, wuh, E);
        ld += softmax_dot(sn, vn, (int)QK);
    }
    return ld;
}

/* hook_embed and hook_pos_embed at each key: the clean run's one with the
 * corrupted run's other. */
static void row_patch_embeddings(RowPatch *R)
{
    float xk[SL_MODEL_MAX_DIM];
    for (int which = 0; which < 2; which++)
        for (int k = 0; k <= R->Q; k++) {
            const float *e = which == 0 ? ACT_D(embed, 0, k) : ACT_D(embed, 1, k);
            const float *po = which == 0 ? ACT_D(pos_embed, 1, k) : ACT_D(pos_embed, 0, k);
            for (int d = 0; d < R->D; d++)
                xk[d] = e[d] + po[d];
            (which == 0 ? R->hk_embed : R->hk_pos)->exact[k] = row_norm(R, row_patch_embedding_ld(R, k, xk));
        }
}

/* Head h: q (the query only), k and v at each key, z and the pattern row
 * at the query, and the four score terms per key. */
static void row_patch_head(RowPatch *R, int h)
{
    const int E = R->E, T = R->T, Q = R->Q;
    const size_t QK = R->QK;
    const float inv_sqrt_e = R->inv_sqrt_e;
    Patcher *P = &R->P;
    float *row_q = R->hk[HK_Q]->exact + (size_t)h * T, *row_k = R->hk[HK_K]->exact + (size_t)h * T;
    float *row_v = R->hk[HK_V]->exact + (size_t)h * T, *row_z = R->hk[HK_Z]->exact + (size_t)h * T;
    float *row_p = R->hk[HK_PATTERN]->exact + (size_t)h * T;
    const float *wuh = R->wu + (size_t)h * E, *qc = ACT_QKV(q, 0, Q, h);
    const double *s0 = P->s0 + (size_t)h * QK, *vu0 = P->vu0 + (size_t)h * QK;
    row_copy(P, h);
    for (int k = 0; k <= Q; k++)
        P->s[k] = dot_f(qc, R->rk[(size_t)h * QK + k], E) * inv_sqrt_e;
    row_q[Q] = row_norm(R, ld_head(P, h, P->s, P->vu));
    row_copy(P, h);
    for (int k = 0; k <= Q; k++) {
        P->s[k] = dot_f(R->rq[h], ACT_QKV(k, 0, k, h), E) * inv_sqrt_e;
        row_k[k] = row_norm(R, ld_head(P, h, P->s, P->vu));
        P->s[k] = s0[k];
        P->vu[k] = dot_f(ACT_QKV(v, 0, k, h), wuh, E);
        row_v[k] = row_norm(R, ld_head(P, h, P->s, P->vu));
        P->vu[k] = vu0[k];
    }
    row_z[Q] = row_norm(R, R->ld_base - P->part0[h] + dot_f(ACT_QKV(z, 0, Q, h), wuh, E));
    double pv = 0;
    for (int k = 0; k <= Q; k++)
        pv += (double)ACT_ROW(pattern, 0, h)[k] * vu0[k];
    row_p[Q] = row_norm(R, R->ld_base - P->part0[h] + pv);
    /* score terms: one term of one key taken from the clean run */
    for (int t = 0; t < 4; t++)
        for (int k = 0; k <= Q; k++) {
            size_t i = ((size_t)h * 4 + t) * T * T + (size_t)Q * T + k;
            P->s[k] = s0[k] + (double)(R->terms_c[i] - R->terms_r[i]) * inv_sqrt_e;
            R->out->score_terms[((size_t)h * 4 + t) * T + k] = row_norm(R, ld_head(P, h, P->s, P->vu));
            P->s[k] = s0[k];
        }
}

/* Head h's gradients at the corrupted run (gs, gq, gz, gk, gv) and its
 * attribution estimates: gradient . (clean - corrupt). */
static void row_attribute_head(RowPatch *R, int h)
{
    const int E = R->E, T = R->T, Q = R->Q;
    const size_t QK = R->QK;
    const float inv_sqrt_e = R->inv_sqrt_e;
    const double denom = R->denom;
    const float **rk = R->rk, **rv = R->rv, *rqh = R->rq[h];
    float *gq = R->gq, *gz = R->gz, *gk = R->gk, *gv = R->gv;
    const float *pr = ACT_ROW(pattern, 1, h), *wuh = R->wu + (size_t)h * E;
    float *gsh = R->gs + (size_t)h * QK;
    double pdp = 0;
    for (int k = 0; k <= Q; k++)
        pdp += pr[k] * dot_f(rv[(size_t)h * QK + k], wuh, E);
    float *row_p = R->hk[HK_PATTERN]->attribution + (size_t)h * T;
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
        gq[(size_t)h * E + e] = (float)(s * inv_sqrt_e);
        gz[(size_t)h * E + e] = wuh[e];
    }
    for (int k = 0; k <= Q; k++)
        for (int e = 0; e < E; e++)
            gk[((size_t)h * QK + k) * E + e] = gsh[k] * inv_sqrt_e * rqh[e];
    float *aq = R->hk[HK_Q]->attribution + (size_t)h * T, *ak = R->hk[HK_K]->attribution + (size_t)h * T;
    float *av = R->hk[HK_V]->attribution + (size_t)h * T, *az = R->hk[HK_Z]->attribution + (size_t)h * T;
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
            R->out->score_terms_attribution[((size_t)h * 4 + t) * T + k] =
                (float)((double)gsh[k] * (R->terms_c[i] - R->terms_r[i]) * inv_sqrt_e / denom);
        }
}

/* The residual stream entering the block, at each key k (after every
 * head's row_attribute_head):
 * dx[k] = [k = Q] (u + sum_h W_Q gq) + sum_h (W_K gk[k] + W_V gv[k]);
 * and hook_attn_out, hook_resid_post at the query (gradient u). */
static void row_attribute_residual(RowPatch *R)
{
    const SlModelConfig *c = R->c;
    const SlModelParams *p = R->p;
    const int H = R->H, D = R->D, E = R->E, Q = R->Q;
    const size_t QK = R->QK;
    const double denom = R->denom;
    for (int k = 0; k <= Q; k++) {
        float g[SL_MODEL_MAX_DIM];
        if (k == Q)
            memcpy(g, R->gx, (size_t)D * sizeof *g);
        else
            memset(g, 0, (size_t)D * sizeof *g);
        for (int h = 0; h < H; h++) {
            size_t w = sl_model_head_qkv_offset(c, 0, h);
            if (k == Q)
                cblas_sgemv(CblasRowMajor, CblasNoTrans, D, E, 1.0f, p->W_Q + w, E, R->gq + (size_t)h * E, 1, 1.0f, g, 1);
            cblas_sgemv(CblasRowMajor, CblasNoTrans, D, E, 1.0f, p->W_K + w, E, R->gk + ((size_t)h * QK + k) * E, 1, 1.0f,
                        g, 1);
            cblas_sgemv(CblasRowMajor, CblasNoTrans, D, E, 1.0f, p->W_V + w, E, R->gv + ((size_t)h * QK + k) * E, 1, 1.0f,
                        g, 1);
        }
        double se = 0, sp = 0;
        for (int d = 0; d < D; d++) {
            se += (double)g[d] * ((double)ACT_D(embed, 0, k)[d] - ACT_D(embed, 1, k)[d]);
            sp += (double)g[d] * ((double)ACT_D(pos_embed, 0, k)[d] - ACT_D(pos_embed, 1, k)[d]);
        }
        R->hk_embed->attribution[k] = (float)(se / denom);
        R->hk_pos->attribution[k] = (float)(sp / denom);
    }
    double sa = 0, sr2 = 0;
    for (int d = 0; d < D; d++) {
        sa += (double)R->u[d] * ((double)ACT_D(attn_out, 0, Q)[d] - ACT_D(attn_out, 1, Q)[d]);
        sr2 += (double)R->u[d] * ((double)ACT_D(resid_post, 0, Q)[d] - ACT_D(resid_post, 1, Q)[d]);
    }
    R->hk_attn_out->attribution[Q] = (float)(sa / denom);
    R->hk_resid->attribution[Q] = (float)(sr2 / denom);
}

/* The one-layer path without ablation: exact recomputation of the query's
 * row from the two runs' caches (see the top of this file). */
static int patch_rows(const SlModel *m, const int *clean, const int *corrupt, int at, int ca, int ra, bool attribution,
                      SlPatchResult *out, SlError *err)
{
    const SlModelConfig *c = &m->cfg;
    const int Q = c->list_len + at;
    RowPatch R = {.c = c, .p = &m->params, .H = c->n_heads, .D = c->d_model, .E = c->d_head, .T = c->n_ctx,
                  .Vo = c->d_vocab_out, .Q = Q, .ca = ca, .ra = ra, .QK = (size_t)Q + 1, .out = out};
    int rc = result_alloc(out, c->n_layers, R.H, R.T, attribution, err);
    if (rc)
        return rc;
    out->at = at, out->query = Q, out->clean_answer = ca, out->corrupt_answer = ra;
    if ((rc = row_patch_setup(&R, m, clean, corrupt, ca, ra, err)))
        goto done;
    row_patch_corrupt_row(&R);
    R.hk_embed = &out->hooks[0], R.hk_pos = &out->hooks[1];
    for (int k = 0; k < HK_HEAD_KINDS; k++)
        R.hk[k] = &out->hooks[2 + k];
    R.hk_attn_out = &out->hooks[2 + HK_HEAD_KINDS], R.hk_resid = &out->hooks[3 + HK_HEAD_KINDS];

    row_patch_embeddings(&R);
    for (int h = 0; h < R.H; h++)
        row_patch_head(&R, h);
    /* hook_attn_out and hook_resid_post at the query */
    const double bo_u = dot_f(m->params.b_O, R.u, R.D);
    R.hk_attn_out->exact[Q] = row_norm(&R, R.P.xu + R.bias_ld + dot_f(R.cache->attn_out + (size_t)Q * R.D, R.u, R.D) - bo_u);
    R.hk_resid->exact[Q] = row_norm(&R, R.bias_ld + dot_f(R.cache->resid_post + (size_t)Q * R.D, R.u, R.D) - bo_u);

    if (attribution) {
        /* the gradient of LD at the corrupted run, as the row computes it */
        memcpy(R.gx, R.u, (size_t)R.D * sizeof *R.gx);   /* the direct path at the query */
        memset(R.gk, 0, (size_t)R.H * R.E * R.QK * sizeof *R.gk);
        memset(R.gv, 0, (size_t)R.H * R.E * R.QK * sizeof *R.gv);
        for (int h = 0; h < R.H; h++)
            row_attribute_head(&R, h);
        row_attribute_residual(&R);
    }
done:
    row_patch_free(&R);
    if (rc)
        sl_patch_result_free(out);
    return rc;
}
#undef ACT_QKV
#undef ACT_D
#undef ACT_ROW

/* ---- any model, any ablation: batched forwards with hooks ---------------- */

/* One patched run: the activation `hook` of `layer` (head, position) taken
 * from the clean run, or (hook -1) QK score term `term` of `head` at source
 * `pos`, layer 0.  Its result goes to *slot. */
typedef struct PatchJob {
    int hook, layer, head, pos, term;
    float *slot;
} PatchJob;

typedef struct PatchCtx {
    const PatchJob *jobs;   /* the jobs of this batch, in batch order */
    const SlActCache *clean;  /* the clean run (B = 1, T the same) */
    const float *dterm;     /* [H, 4, n_ctx] (clean - corrupt) term of the query, scaled */
    int Q, NT;
} PatchCtx;

static int patch_hook(void *ctx, int hook_id, int layer, int head, float *act, const int64_t *shape, SlError *err)
{
    (void)head;
    PatchCtx *pc = ctx;
    const int B = (int)shape[0];
    char name[64];
    if (hook_id == SL_HOOK_ATTN_SCORES) {
        const int H = (int)shape[1], T = (int)shape[2];
        for (int b = 0; b < B; b++) {
            const PatchJob *j = &pc->jobs[b];
            if (j->hook == -1 && layer == 0)
                act[(((size_t)b * H + j->head) * T + pc->Q) * T + j->pos] += pc->dterm[((size_t)j->head * 4 + j->term) * pc->NT + j->pos];
        }
        return 0;
    }
    if (!sl_hook_name((SlHookId)hook_id, layer, name, sizeof name))
        return sl_error_set(err, SL_EINVAL, "patching: unknown hook %d", hook_id);
    const float *src = sl_cache_get(pc->clean, name, NULL, NULL);
    if (!src)
        return sl_error_set(err, SL_EINVAL, "patching: the clean run has no %s", name);
    for (int b = 0; b < B; b++) {
        const PatchJob *j = &pc->jobs[b];
        if (j->hook != hook_id || (j->layer != layer && j->layer >= 0))
            continue;
        if (hook_id == SL_HOOK_PATTERN) {   /* [B, H, T, T]: the query row of j->pos */
            const int H = (int)shape[1], T = (int)shape[2];
            memcpy(act + (((size_t)b * H + j->head) * T + j->pos) * T, src + ((size_t)j->head * T + j->pos) * T,
                   (size_t)T * sizeof *act);
        } else if (j->head >= 0) {          /* [B, T, H, E] */
            const int T = (int)shape[1], H = (int)shape[2], E = (int)shape[3];
            memcpy(act + (((size_t)b * T + j->pos) * H + j->head) * E, src + ((size_t)j->pos * H + j->head) * E,
                   (size_t)E * sizeof *act);
        } else {                            /* [B, T, D] */
            const int T = (int)shape[1], D = (int)shape[2];
            memcpy(act + ((size_t)b * T + j->pos) * D, src + (size_t)j->pos * D, (size_t)D * sizeof *act);
        }
    }
    return 0;
}

static int patch_hooked(const SlModel *m, const int *clean, const int *corrupt, int at, int ca, int ra, SlAblationRun *run,
                        SlPatchResult *out, SlError *err)
{
    const SlModelConfig *c = &m->cfg;
    const int L = c->n_layers, H = c->n_heads, NT = c->n_ctx, Vo = c->d_vocab_out, n = c->list_len, Q = n + at;
    const int T = Q + 1;   /* later positions change nothing at the query */
    int rc = result_alloc(out, L, H, NT, false, err);
    if (rc)
        return rc;
    out->at = at, out->query = Q, out->clean_answer = ca, out->corrupt_answer = ra;
    enum { BATCH = 128 };
    const size_t max_jobs = (size_t)T * (2 + (size_t)L * (5 * H + 2) + 4 * (size_t)H);
    PatchJob *jobs = malloc(max_jobs * sizeof *jobs);
    int *tok_c = malloc((size_t)NT * sizeof *tok_c), *tok_r = malloc((size_t)NT * sizeof *tok_r);
    int *batch_tokens = malloc((size_t)BATCH * T * sizeof *batch_tokens);
    float *terms = malloc(2 * (size_t)4 * NT * NT * sizeof *terms), *dterm = malloc((size_t)H * 4 * NT * sizeof *dterm);
    SlActCache *cc = sl_cache_new(c, 1, T, err), *cr = cc ? sl_cache_new(c, 1, T, err) : NULL;
    SlActCache *cb = cr ? sl_cache_new(c, BATCH, T, err) : NULL;
    if (!jobs || !tok_c || !tok_r || !batch_tokens || !terms || !dterm || !cb) {
        rc = cb || !cr ? sl_error_set(err, SL_ENOMEM, "out of memory for patching") : (err ? err->code : SL_ENOMEM);
        goto done;
    }
    sl_task_make_tokens(c, clean, tok_c);
    sl_task_make_tokens(c, corrupt, tok_r);
    if ((rc = sl_ablation_forward(run, tok_c, 1, T, cc, true, err)) || (rc = sl_ablation_forward(run, tok_r, 1, T, cr, false, err)))
        goto done;
    const double ld_c = (double)cc->logits[(size_t)Q * Vo + ca] - cc->logits[(size_t)Q * Vo + ra];
    const double ld_r = (double)cr->logits[(size_t)Q * Vo + ca] - cr->logits[(size_t)Q * Vo + ra];
    out->ld_clean = ld_c, out->ld_corrupt = ld_r;
    /* the score terms of the query, clean minus corrupt, scaled as the scores */
    const float inv = 1.0f / sqrtf((float)c->d_head);
    for (int h = 0; h < H; h++) {
        if ((rc = sl_circuit_score_terms(m, h, tok_c, NT, terms, err)) ||
            (rc = sl_circuit_score_terms(m, h, tok_r, NT, terms + (size_t)4 * NT * NT, err)))
            goto done;
        for (int t = 0; t < 4; t++)
            for (int s = 0; s < NT; s++) {
                size_t i = (size_t)t * NT * NT + (size_t)Q * NT + s;
                dterm[((size_t)h * 4 + t) * NT + s] = (terms[(size_t)4 * NT * NT + i] * -1.0f + terms[i]) * inv;
            }
    }
    /* the jobs, every hook at every position up to the query */
    size_t nj = 0;
    for (int i = 0; i < out->n_hooks; i++) {
        SlPatchHook *hk = &out->hooks[i];
        SlHookId id;
        int layer;
        if ((rc = sl_hook_parse(hk->name, L, &id, &layer, err)))
            goto done;
        for (int h = 0; h < (hk->heads ? hk->heads : 1); h++)
            for (int p = 0; p <= Q; p++)
                jobs[nj++] = (PatchJob){(int)id, hk->layer, hk->heads ? h : -1, p, 0, hk->exact + (size_t)h * NT + p};
    }
    for (int h = 0; h < H; h++)
        for (int t = 0; t < 4; t++)
            for (int p = 0; p <= Q; p++)
                jobs[nj++] = (PatchJob){-1, 0, h, p, t, out->score_terms + ((size_t)h * 4 + t) * NT + p};
    PatchCtx pc = {.clean = cc, .dterm = dterm, .Q = Q, .NT = NT};
    static const SlHookId points[] = {SL_HOOK_EMBED, SL_HOOK_POS_EMBED, SL_HOOK_Q,       SL_HOOK_K,        SL_HOOK_V,
                                      SL_HOOK_ATTN_SCORES, SL_HOOK_PATTERN, SL_HOOK_Z, SL_HOOK_ATTN_OUT, SL_HOOK_RESID_POST};
    SlHook hooks[sizeof points / sizeof points[0]];
    for (size_t i = 0; i < sizeof points / sizeof points[0]; i++)
        hooks[i] = (SlHook){points[i], -1, patch_hook, &pc};
    for (size_t j0 = 0; j0 < nj; j0 += BATCH) {
        const int B = nj - j0 < BATCH ? (int)(nj - j0) : BATCH;
        for (int b = 0; b < B; b++)
            memcpy(batch_tokens + (size_t)b * T, tok_r, (size_t)T * sizeof *batch_tokens);
        pc.jobs = jobs + j0;
        if ((rc = sl_ablation_forward_with(run, batch_tokens, B, T, cb, hooks, (int)(sizeof hooks / sizeof hooks[0]), err)))
            goto done;
        for (int b = 0; b < B; b++) {
            const float *lg = cb->logits + ((size_t)b * T + Q) * Vo;
            *jobs[j0 + b].slot = (float)((((double)lg[ca] - lg[ra]) - ld_r) / (ld_c - ld_r));
        }
    }
done:
    sl_cache_free(cb);
    sl_cache_free(cr);
    sl_cache_free(cc);
    free(dterm);
    free(terms);
    free(batch_tokens);
    free(tok_r);
    free(tok_c);
    free(jobs);
    if (rc)
        sl_patch_result_free(out);
    return rc;
}

int sl_patch(const SlModel *m, const int *clean, const int *corrupt, int at, bool attribution, SlAblationRun *run,
             bool force_hooks, SlPatchResult *out, SlError *err)
{
    const SlModelConfig *c = &m->cfg;
    memset(out, 0, sizeof *out);
    int ca, ra, rc = patch_setup(c, clean, corrupt, &at, &ca, &ra, err);
    if (rc)
        return rc;
    if (c->n_layers == 1 && sl_ablation_run_is_none(run) && !force_hooks)
        return patch_rows(m, clean, corrupt, at, ca, ra, attribution, out, err);
    if (attribution)
        return sl_error_set(err, SL_EINVAL, "--attribution: the gradient is worked out for one-layer models without "
                            "ablations; this %s", c->n_layers > 1 ? "model has more layers" : "run has an ablation");
    if (run && sl_ablation_run_resamples(run))
        return sl_error_set(err, SL_EINVAL, "--ablate resample:head:L.H: patching compares two runs of fixed lists; "
                            "resampling would give them different other lists");
    SlAblationRun *own = run ? NULL : sl_ablation_run_new(m, &(SlAblation){0}, 0, true, err);
    if (!run && !own)
        return err ? err->code : SL_ENOMEM;
    rc = patch_hooked(m, clean, corrupt, at, ca, ra, run ? run : own, out, err);
    sl_ablation_run_free(own);
    return rc;
}
