/* kernels.c: the engine's only processor-specific code, and the choice of
 * it, once per process.
 *
 * The one-layer path's row loops (tables_run_query, the whole cache of a
 * sequence) pay for being compiled for the processor: with AVX2 and FMA
 * (x86-64-v3) `sortlens eval` of 10,000 and 50,000 lists takes 1.75x and
 * 2.2x less time than with the same code for baseline x86-64 (README,
 * Speed).  So meson compiles this file three times: with
 * SL_KERNELS_VARIANT=avx2 and -march=x86-64-v3, with
 * SL_KERNELS_VARIANT=portable and the default flags (each defines the
 * kernels under its own names), and once plainly, for the dispatch at the
 * end, which picks a variant the first time it is asked: the portable one
 * when SORTLENS_KERNELS=portable, or on a processor without AVX2 and FMA.
 * The code is the same C (GCC vector extensions) in every variant; only the
 * instructions differ.
 *
 * Longer than 600 lines because it is one unit of compilation by design:
 * everything a variant's kernels call must be compiled in the same variant
 * and inlined into them (a call from AVX2 code into baseline code costs more
 * than the work here), so the row helpers cannot live in another file. */
#include "sortlens/kernels.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "forward_internal.h"
#include "sortlens/tables.h"

#ifdef SL_KERNELS_VARIANT

#define KERNEL_CAT2(a, b) a##_##b
#define KERNEL_CAT(a, b) KERNEL_CAT2(a, b)
#define KERNEL(name) KERNEL_CAT(name, SL_KERNELS_VARIANT)
#define KERNEL_STR2(x) #x
#define KERNEL_STR(x) KERNEL_STR2(x)

/* ---- small vector kernels ------------------------------------------------- */

/* The hot loops are written over chunks of 8 floats (a register of AVX2)
 * with GCC vector extensions, so that they vectorize without -O3 or
 * -march: compiled for x86-64-v3 they run on AVX2 with a * b + c fused
 * into one instruction (-ffp-contract=fast, which -std=c11 alone forbids),
 * and compiled for baseline x86-64 on SSE2.  Helpers are inlined: a call
 * from AVX code into SSE code costs more than the work here. */
#if defined(__GNUC__)
#define SL_VECTOR 1
#define VW 8
typedef float vfw __attribute__((vector_size(VW * sizeof(float))));
#define VLOAD(v, p) memcpy(&(v), (p), sizeof(v))
#define VSTORE(p, v) memcpy((p), &(v), sizeof(v))
#define SL_INLINE static inline __attribute__((always_inline))
#else
#define SL_INLINE static inline
#endif

/* Elementwise kernels over rows of n floats, in chunks of VW.  A row that
 * is not a whole number of chunks ends with one chunk that overlaps the one
 * before it (n = 50: columns 40..47, then 42..49): the outputs do not alias
 * the inputs, so the overlapped columns get the same values twice, and no
 * scalar tail is left.  Rows shorter than a chunk go one float at a time. */
#ifdef SL_VECTOR
#define ROW_CHUNKS(W, body)                          \
    do {                                             \
        if (n >= (W)) {                              \
            for (; i + (W) <= n; i += (W))           \
                body;                                \
            if (i < n) {                             \
                i = n - (W);                         \
                body;                                \
                i = n;                               \
            }                                        \
        }                                            \
    } while (0)
#define VADD_CHUNK(VT)                               \
    {                                                \
        VT x_, z_;                                   \
        VLOAD(x_, a + i);                            \
        VLOAD(z_, b + i);                            \
        x_ += z_;                                    \
        VSTORE(y + i, x_);                           \
    }
#define VADD3_CHUNK(VT)                              \
    {                                                \
        VT x_, z_, w_;                               \
        VLOAD(x_, a + i);                            \
        VLOAD(z_, b + i);                            \
        VLOAD(w_, c + i);                            \
        x_ += z_ + w_;                               \
        VSTORE(y + i, x_);                           \
    }
#define VCOPY_CHUNK(VT)                              \
    {                                                \
        VT x_;                                       \
        VLOAD(x_, a + i);                            \
        VSTORE(y + i, x_);                           \
    }
#endif

/* y = a + b, n floats */
SL_INLINE void vadd(float *restrict y, const float *restrict a, const float *restrict b, int n)
{
    int i = 0;
#ifdef SL_VECTOR
    ROW_CHUNKS(VW, VADD_CHUNK(vfw));
#endif
    for (; i < n; i++)
        y[i] = a[i] + b[i];
}

/* y = a + b + c, n floats */
SL_INLINE void vadd3(float *restrict y, const float *restrict a, const float *restrict b,
                     const float *restrict c, int n)
{
    int i = 0;
#ifdef SL_VECTOR
    ROW_CHUNKS(VW, VADD3_CHUNK(vfw));
#endif
    for (; i < n; i++)
        y[i] = a[i] + b[i] + c[i];
}

/* y = a, n floats */
SL_INLINE void vcopy(float *restrict y, const float *restrict a, int n)
{
    int i = 0;
#ifdef SL_VECTOR
    ROW_CHUNKS(VW, VCOPY_CHUNK(vfw));
#endif
    for (; i < n; i++)
        y[i] = a[i];
}

/* y += a, n floats */
SL_INLINE void vacc(float *restrict y, const float *restrict a, int n)
{
    for (int i = 0; i < n; i++)
        y[i] += a[i];
}

#ifdef SL_VECTOR
/* Accumulators (vectors of type VT) for up to 8 chunks of columns at
 * offsets o[0..C) of a row, all updated in one pass over the keys: they
 * stay in registers, and their independent chains of multiply-adds keep
 * the FPU busy where one chunk per pass would wait on each add.  Zero
 * weights (one-hot, blocked or negligible) are skipped. */
#define COMBINE_PASS(VT, C, o)                                              \
    do {                                                                \
        VT a0_ = {0}, a1_ = {0}, a2_ = {0}, a3_ = {0};                  \
        VT a4_ = {0}, a5_ = {0}, a6_ = {0}, a7_ = {0};                  \
        const float *i_ = accumulate ? out : init_a;                    \
        if (i_) {                                                       \
            VLOAD(a0_, i_ + (o)[0]);                                    \
            if ((C) > 1) VLOAD(a1_, i_ + (o)[1]);                       \
            if ((C) > 2) VLOAD(a2_, i_ + (o)[2]);                       \
            if ((C) > 3) VLOAD(a3_, i_ + (o)[3]);                       \
            if ((C) > 4) VLOAD(a4_, i_ + (o)[4]);                       \
            if ((C) > 5) VLOAD(a5_, i_ + (o)[5]);                       \
            if ((C) > 6) VLOAD(a6_, i_ + (o)[6]);                       \
            if ((C) > 7) VLOAD(a7_, i_ + (o)[7]);                       \
        }                                                               \
        if (!accumulate && init_b) {                                    \
            VT b_;                                                      \
            VLOAD(b_, init_b + (o)[0]), a0_ += b_;                      \
            if ((C) > 1) VLOAD(b_, init_b + (o)[1]), a1_ += b_;         \
            if ((C) > 2) VLOAD(b_, init_b + (o)[2]), a2_ += b_;         \
            if ((C) > 3) VLOAD(b_, init_b + (o)[3]), a3_ += b_;         \
            if ((C) > 4) VLOAD(b_, init_b + (o)[4]), a4_ += b_;         \
            if ((C) > 5) VLOAD(b_, init_b + (o)[5]), a5_ += b_;         \
            if ((C) > 6) VLOAD(b_, init_b + (o)[6]), a6_ += b_;         \
            if ((C) > 7) VLOAD(b_, init_b + (o)[7]), a7_ += b_;         \
        }                                                               \
        for (int k_ = 0; k_ < nk; k_++) {                               \
            float wk_ = w[k_];                                          \
            if (wk_ == 0.0f)                                            \
                continue;                                               \
            const float *r_ = R + (size_t)k_ * ldr;                     \
            VT x_;                                                      \
            VLOAD(x_, r_ + (o)[0]), a0_ += wk_ * x_;                    \
            if ((C) > 1) VLOAD(x_, r_ + (o)[1]), a1_ += wk_ * x_;       \
            if ((C) > 2) VLOAD(x_, r_ + (o)[2]), a2_ += wk_ * x_;       \
            if ((C) > 3) VLOAD(x_, r_ + (o)[3]), a3_ += wk_ * x_;       \
            if ((C) > 4) VLOAD(x_, r_ + (o)[4]), a4_ += wk_ * x_;       \
            if ((C) > 5) VLOAD(x_, r_ + (o)[5]), a5_ += wk_ * x_;       \
            if ((C) > 6) VLOAD(x_, r_ + (o)[6]), a6_ += wk_ * x_;       \
            if ((C) > 7) VLOAD(x_, r_ + (o)[7]), a7_ += wk_ * x_;       \
        }                                                               \
        VSTORE(out + (o)[0], a0_);                                      \
        if ((C) > 1) VSTORE(out + (o)[1], a1_);                         \
        if ((C) > 2) VSTORE(out + (o)[2], a2_);                         \
        if ((C) > 3) VSTORE(out + (o)[3], a3_);                         \
        if ((C) > 4) VSTORE(out + (o)[4], a4_);                         \
        if ((C) > 5) VSTORE(out + (o)[5], a5_);                         \
        if ((C) > 6) VSTORE(out + (o)[6], a6_);                         \
        if ((C) > 7) VSTORE(out + (o)[7], a7_);                         \
    } while (0)
#endif

/* out[0:N] = start + sum_{k < nk} w[k] R[k, 0:N] (rows ldr apart): one
 * row of pattern @ values.  start is out itself when accumulating, else
 * init_a + init_b (either may be NULL for zero): a row that starts from
 * a bias is loaded in the same chunks as it is summed, so no chunk waits
 * on a store of another width. */
SL_INLINE void row_combine(float *restrict out, const float *restrict w, int nk, const float *restrict R,
                           size_t ldr, int N, bool accumulate, const float *init_a, const float *init_b)
{
    int n = 0;
#ifdef SL_VECTOR
    /* Chunks of W = 8 columns, 8 accumulators a pass, which fill half the
     * vector registers and leave room for the loads.  The rest of the row goes in one more pass whose last
     * chunk ends at N and may overlap the one before (N = 50, W = 8:
     * columns 40..47 and 42..49); chunks beyond the end repeat it.  Every
     * chunk starts from out as it was before the pass, so overlapped
     * columns come out the same each time. */
#define ROW_PASSES(VT, W, C)                                            \
    do {                                                                \
        for (; n + (C) * (W) <= N; n += (C) * (W)) {                    \
            int o[8];                                                   \
            for (int c = 0; c < (C); c++)                               \
                o[c] = n + c * (W);                                     \
            COMBINE_PASS(VT, C, o);                                     \
        }                                                               \
        if (n < N) {                                                    \
            int o[8];                                                   \
            for (int c = 0; c < (C); c++)                               \
                o[c] = n + c * (W) < N - (W) ? n + c * (W) : N - (W);   \
            COMBINE_PASS(VT, C, o);                                     \
        }                                                               \
        return;                                                         \
    } while (0)
    if (N >= VW)
        ROW_PASSES(vfw, VW, 8);
#undef ROW_PASSES
#endif
    for (; n < N; n++) {
        float a = accumulate ? out[n] : (init_a ? init_a[n] : 0.0f) + (init_b ? init_b[n] : 0.0f);
        for (int k = 0; k < nk; k++)
            a += w[k] * R[(size_t)k * ldr + n];
        out[n] = a;
    }
}

/* One key's row of n: the token's, plus the position's unless the
 * intervention drops the positional part. */
SL_INLINE void key_row(float *out, const float *tok_row, const float *pos_row, bool drop, int n)
{
    if (drop)
        memcpy(out, tok_row, (size_t)n * sizeof(float));
    else
        vadd(out, tok_row, pos_row, n);
}

/* Key-side rows of positions keys_ready..k_end-1: what each key position
 * contributes to the logits (ov) and, for the full cache, to attn_out (vo). */
SL_INLINE void tables_keys(TablesRun *r, const int *tok, int k_end, bool with_vo)
{
    const SlCircuitTables *tb = r->tb;
    const int H = r->H, V = r->V, Tn = r->Tn, T = r->T, D = r->D, Vo = r->Vo;
    for (int h = 0; h < H; h++) {
        bool drop = r->iv->ov_drop_pos && iv_on(r->iv, 0, h);
        for (int k = r->keys_ready; k < k_end; k++) {
            key_row(r->ov_rows + ((size_t)h * T + k) * Vo, tb->ov_tok + ((size_t)h * V + tok[k]) * Vo,
                    tb->ov_pos + ((size_t)h * Tn + k) * Vo, drop, Vo);
            if (with_vo)
                key_row(r->vo_rows + ((size_t)h * T + k) * D, tb->vo_tok + ((size_t)h * V + tok[k]) * D,
                        tb->vo_pos + ((size_t)h * Tn + k) * D, drop, D);
        }
    }
    r->keys_ready = k_end;
}

typedef struct QkRows {
    const float *tt, *tp, *pt, *pp;   /* [V], [n_ctx], [V], [n_ctx] */
} QkRows;

/* The rows of the four QK tables that query q (token tok[q]) of head h reads. */
SL_INLINE QkRows tables_qk_rows(const TablesRun *r, int h, const int *tok, int q)
{
    const SlCircuitTables *tb = r->tb;
    const int V = r->V, Tn = r->Tn, tq = tok[q];
    return (QkRows){
        .tt = tb->qk_tok_tok + ((size_t)h * V + tq) * V,
        .tp = tb->qk_tok_pos + ((size_t)h * V + tq) * Tn,
        .pt = tb->qk_pos_tok + ((size_t)h * Tn + q) * V,
        .pp = tb->qk_pos_pos + ((size_t)h * Tn + q) * Tn,
    };
}

/* The scores of query q against keys 0..q for head h: the sum of the four
 * QK tables (tables.h), less the terms the intervention removes, divided by
 * sqrt(E); returns the largest. */
SL_INLINE float tables_qk_row(const TablesRun *r, int h, const int *tok, int q, float *restrict s)
{
    const QkRows rows = tables_qk_rows(r, h, tok, q);
    const float *tt = rows.tt, *tp = rows.tp, *pt = rows.pt, *pp = rows.pp;
    unsigned off = iv_on(r->iv, 0, h) ? r->iv->qk_terms_off : 0;
    const float div = r->div;
    float mx = -INFINITY;
    if (!off) {
        for (int k = 0; k <= q; k++) {
            s[k] = ((tt[tok[k]] + pt[tok[k]]) + (tp[k] + pp[k])) / div;
            mx = s[k] > mx ? s[k] : mx;
        }
        return mx;
    }
    for (int k = 0; k <= q; k++) {
        float a = 0.0f;
        if (!(off & SL_QK_TERM_TOK_TOK))
            a += tt[tok[k]];
        if (!(off & SL_QK_TERM_POS_TOK))
            a += pt[tok[k]];
        if (!(off & SL_QK_TERM_TOK_POS))
            a += tp[k];
        if (!(off & SL_QK_TERM_POS_POS))
            a += pp[k];
        s[k] = a / div;
        mx = s[k] > mx ? s[k] : mx;
    }
    return mx;
}

/* The scores and pattern of query q (keys 0..q; keys up to len masked)
 * for head h. */
SL_INLINE void tables_attention_row(const TablesRun *r, int h, const int *tok, int q, int len, float *restrict s,
                                    float *restrict pr)
{
    const SlIntervention *iv = r->iv;
    bool on = iv_on(iv, 0, h);
    float mx = tables_qk_row(r, h, tok, q, s);
    attention_finish(s, pr, q, len, mx, on, iv);
}

/* The logits' starting row at query q, as two rows to add: the direct
 * path, or without it the biases alone (b_O W_U + b_U). */
SL_INLINE void tables_logit_base(const TablesRun *r, const int *tok, int q, const float **a, const float **b)
{
    if (r->iv->drop_direct) {
        *a = r->bias_out;
        *b = NULL;
    } else {
        *a = r->tb->direct_tok + (size_t)tok[q] * r->Vo;
        *b = r->tb->direct_pos + (size_t)q * r->Vo;
    }
}

/* out = a + b (b may be NULL), n floats */
SL_INLINE void tables_base_row(float *out, const float *a, const float *b, int n)
{
    if (b)
        vadd(out, a, b, n);
    else
        vcopy(out, a, n);
}

static void KERNEL(run_query)(TablesRun *r, const int *tokens, int q, float *logits_row)
{
    const SlIntervention *iv = r->iv;
    if (r->keys_ready < q + 1)
        tables_keys(r, tokens, q + 1, false);
    const float *base_a, *base_b;
    tables_logit_base(r, tokens, q, &base_a, &base_b);
    bool started = false;   /* logits_row holds the base and the heads so far */
    for (int h = 0; h < r->H; h++) {
        float *s = r->row_scores + (size_t)h * r->T, *pr = r->row_pattern + (size_t)h * r->T;
        tables_attention_row(r, h, tokens, q, q + 1, s, pr);
        if (iv_ablated(iv, 0, h, q))
            continue;
        row_combine(logits_row, pr, q + 1, r->ov_rows + (size_t)h * r->T * r->Vo, (size_t)r->Vo, r->Vo, started,
                    base_a, base_b);
        started = true;
    }
    if (!started)
        tables_base_row(logits_row, base_a, base_b, r->Vo);
    for (int h = 0; h < r->H; h++)
        if (iv_ablated(iv, 0, h, q) && iv->ablate_kind == SL_ABLATE_MEAN)
            vacc(logits_row, r->abl_ov + (size_t)h * r->Vo, r->Vo);
}

/* The whole cache for sequence b (T tokens) from the tables. */
static void KERNEL(sequence)(TablesRun *r, const int *tok, int b, int T, SlActCache *c)
{
    const SlCircuitTables *tb = r->tb;
    const SlIntervention *iv = r->iv;
    const SlModelParams *p = &r->m->params;
    const int H = r->H, D = r->D, E = r->E, V = r->V, Vo = r->Vo, Tn = r->Tn, HE = H * E;
    float *embed = c->embed + (size_t)b * T * D, *pos = c->pos_embed + (size_t)b * T * D;       /* [T, D] */
    float *q = c->q + (size_t)b * T * HE, *k = c->k + (size_t)b * T * HE;                      /* [T, H, E] */
    float *v = c->v + (size_t)b * T * HE, *z = c->z + (size_t)b * T * HE;
    float *sc = c->scores + (size_t)b * H * T * T, *pat = c->pattern + (size_t)b * H * T * T;  /* [H, T, T] */
    float *ao = c->attn_out + (size_t)b * T * D, *rp = c->resid_post + (size_t)b * T * D;      /* [T, D] */
    float *lg = c->logits + (size_t)b * T * Vo;                                                /* [T, Vo] */

    /* The attention rows first: they need only the tokens and the QK
     * tables, and each is a chain of dependent steps (sums, maximum,
     * exponentials, normalisation).  Done here, away from the sums that
     * use them, the chains of different rows overlap. */
    for (int h = 0; h < H; h++)
        for (int t = 0; t < T; t++)
            tables_attention_row(r, h, tok, t, T, sc + ((size_t)h * T + t) * T, pat + ((size_t)h * T + t) * T);

    /* Then position by position: everything row t needs from rows before
     * it (values, key rows) was written a moment ago and is still in L1. */
    tables_run_reset(r);
    for (int t = 0; t < T; t++) {
        float *et = embed + (size_t)t * D, *pt = pos + (size_t)t * D, *at = ao + (size_t)t * D;
        float *lt = lg + (size_t)t * Vo;
        vcopy(et, p->W_E + (size_t)tok[t] * D, D);
        vcopy(pt, p->W_pos + (size_t)t * D, D);
        for (int h = 0; h < H; h++) {
            size_t row = ((size_t)t * H + h) * E, tr = ((size_t)h * V + tok[t]) * E, pr = ((size_t)h * Tn + t) * E;
            vadd(q + row, tb->q_tok + tr, tb->q_pos + pr, E);
            vadd(k + row, tb->k_tok + tr, tb->k_pos + pr, E);
            if (iv->ov_drop_pos && iv_on(iv, 0, h))
                vcopy(v + row, tb->v_tok + tr, E);
            else
                vadd(v + row, tb->v_tok + tr, tb->v_pos + pr, E);
        }
        tables_keys(r, tok, t + 1, true);
        const float *base_a, *base_b;
        tables_logit_base(r, tok, t, &base_a, &base_b);
        bool started = false;   /* at and lt hold the biases and the heads so far */
        for (int h = 0; h < H; h++) {
            const float *prow = pat + ((size_t)h * T + t) * T;
            float *zr = z + (size_t)t * HE + h * E;
            if (iv_ablated(iv, 0, h, t)) {
                /* hook_z replaced; attn_out and the logits get what that z gives, below */
                if (iv->ablate_kind == SL_ABLATE_MEAN)
                    vcopy(zr, iv->ablate_mean_z + (size_t)h * E, E);
                else
                    memset(zr, 0, (size_t)E * sizeof(float));
                continue;
            }
            row_combine(zr, prow, t + 1, v + h * E, (size_t)HE, E, false, NULL, NULL);
            row_combine(at, prow, t + 1, r->vo_rows + (size_t)h * r->T * D, (size_t)D, D, started, p->b_O, NULL);
            row_combine(lt, prow, t + 1, r->ov_rows + (size_t)h * r->T * Vo, (size_t)Vo, Vo, started, base_a, base_b);
            started = true;
        }
        if (!started) {   /* every head ablated at this position */
            vcopy(at, p->b_O, D);
            tables_base_row(lt, base_a, base_b, Vo);
        }
        for (int h = 0; h < H; h++)
            if (iv_ablated(iv, 0, h, t) && iv->ablate_kind == SL_ABLATE_MEAN) {
                vacc(at, r->abl_vo + (size_t)h * D, D);
                vacc(lt, r->abl_ov + (size_t)h * Vo, Vo);
            }
        vadd3(rp + (size_t)t * D, et, pt, at, D);
    }
}

/* ---- a logits row's argmax and log-sum-exp ------------------------------- */

/* GCC warns (at the end of the file) that a 32-byte vector returned
 * without AVX, in the portable variant, has another ABI; vexp_row is static
 * and always inlined, so no call crosses an ABI. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

#ifdef SL_VECTOR
/* Rows in 8 lanes where AVX2 holds them in one register; in 4 without it,
 * where GCC would split the conversions of 8-lane vectors into scalars
 * (the portable variant's eval took 1.25x longer at 8). */
#ifdef __AVX2__
#define RW 8
#else
#define RW 4
#endif
typedef float vrow __attribute__((vector_size(RW * sizeof(float))));
typedef int vrowi __attribute__((vector_size(RW * sizeof(int))));
OPS_DEFINE_VEXP(vexp_row, vrow, vrowi)
#endif

/* Eval's work on every prediction row x[0..n): the first index of its
 * largest entry (NaN never is; 0 if every entry is NaN), returned, that
 * entry into *mx, and the sum of exp(x - mx) into *sum (the entries under
 * OPS_EXP_FLOOR of the largest, and NaN, left out, as ops_logsumexp_max
 * does), so that the row's log-sum-exp is mx + log(sum).  The sum is in
 * float over RW lanes: at most n terms of at most 1, one of them 1.  Over
 * 10,000 lists it was a third of `eval` as argmax then ops_logsumexp_max.
 *
 * Both passes go over whole chunks of RW entries; a row that is not a
 * whole number of them ends with a chunk that overlaps the one before (n =
 * 50, RW = 8: 42..49 after 40..47).  The maximum does not mind seeing an
 * entry twice; the sum leaves out the lanes already counted.  Each lane
 * keeps the first index of its own largest entry, so the row's argmax is
 * the smallest index among the lanes that hold the largest: no scalar
 * search afterwards (it was 100 of this function's 565 instructions a row
 * of 50, and the scalar tail another 90). */
static int KERNEL(row_argmax_expsum)(const float *x, int n, float *max_out, float *sum_out)
{
    float mx = -INFINITY;
    int a = -1;   /* none yet: every entry so far NaN or -inf */
    float sum = 0.0f;
#ifdef SL_VECTOR
    if (n >= RW) {
        vrowi lane;
        for (int l = 0; l < RW; l++)
            lane[l] = l;
        vrow m = (vrow){0} - INFINITY;
        vrowi at = (vrowi){0} - 1;
        for (int j = 0;; j = j + 2 * RW <= n ? j + RW : n - RW) {
            vrow v;
            VLOAD(v, x + j);
            vrowi gt = v > m;   /* false for NaN */
            m = (vrow)(((vrowi)v & gt) | ((vrowi)m & ~gt));
            at = ((lane + j) & gt) | (at & ~gt);
            if (j + RW >= n)
                break;
        }
        for (int l = 0; l < RW; l++)   /* m holds no NaN: it starts at -inf and takes only what is larger */
            mx = m[l] > mx ? m[l] : mx;
        if (mx > -INFINITY) {   /* the lanes that hold it were all set */
            a = n;
            for (int l = 0; l < RW; l++) {
                int cand = m[l] == mx ? at[l] : n;
                a = cand < a ? cand : a;
            }
        }
        vrow acc = {0};
        int j = 0;
        for (; j + RW <= n; j += RW) {
            vrow d;
            VLOAD(d, x + j);
            d -= mx;
            vrowi keep = d >= OPS_EXP_FLOOR;   /* all bits where kept; NaN is not */
            acc += (vrow)((vrowi)vexp_row(d) & keep);
        }
        if (j < n) {   /* the overlapping last chunk: its lanes from index j on */
            vrow d;
            VLOAD(d, x + n - RW);
            d -= mx;
            vrowi keep = (d >= OPS_EXP_FLOOR) & (lane + (n - RW) >= j);
            acc += (vrow)((vrowi)vexp_row(d) & keep);
        }
        for (int l = 0; l < RW; l++)
            sum += acc[l];
    } else
#endif
    {
        for (int j = 0; j < n; j++)
            if (x[j] > mx) {
                mx = x[j];
                a = j;
            }
        for (int j = 0; j < n; j++) {
            float d = x[j] - mx;
            if (d >= OPS_EXP_FLOOR)
                sum += expf(d);
        }
    }
    if (a < 0) {   /* nothing above -inf: the first -inf, else (every entry NaN) 0 */
        a = 0;
        while (a < n && x[a] != mx)
            a++;
        if (a == n)
            a = 0;
    }
    *max_out = mx;
    *sum_out = sum;
    return a;
}

const TablesKernels KERNEL(tables_kernels) = {
    .name = KERNEL_STR(SL_KERNELS_VARIANT),
    .run_query = KERNEL(run_query),
    .sequence = KERNEL(sequence),
    .row_argmax_expsum = KERNEL(row_argmax_expsum),
};

#else /* the dispatch */

#include <pthread.h>
#include <strings.h>

#include "sortlens/cpu.h"

extern const TablesKernels tables_kernels_portable;
#ifdef SL_KERNELS_AVX2
extern const TablesKernels tables_kernels_avx2;
#endif

static const TablesKernels *chosen;
static pthread_once_t chosen_once = PTHREAD_ONCE_INIT;

/* $SORTLENS_KERNELS: 1 for "portable", 0 for unset, empty or "auto", -1
 * for anything else (then as if unset; sl_kernels_check_env says so). */
static int env_request(void)
{
    const char *e = getenv("SORTLENS_KERNELS");
    if (!e || !*e || strcasecmp(e, "auto") == 0)
        return 0;
    return strcasecmp(e, "portable") == 0 ? 1 : -1;
}

static void choose(void)
{
    chosen = &tables_kernels_portable;
#ifdef SL_KERNELS_AVX2
    unsigned need = SL_CPU_AVX2 | SL_CPU_FMA;
    if (env_request() != 1 && (sl_cpu_features() & need) == need)
        chosen = &tables_kernels_avx2;
#endif
}

const TablesKernels *tables_kernels(void)
{
    pthread_once(&chosen_once, choose);
    return chosen;
}

const char *sl_kernels_name(void) { return tables_kernels()->name; }

int sl_kernels_check_env(SlError *err)
{
    if (env_request() >= 0)
        return SL_OK;
    /* raw: sl_error_set escapes the message */
    return sl_error_set(err, SL_EINVAL, "SORTLENS_KERNELS='%.32s' is not a choice: 'portable' or 'auto'; using %s",
                        getenv("SORTLENS_KERNELS"), sl_kernels_name());
}

#endif
