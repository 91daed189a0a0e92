/* forward_tables.c: the one-layer fast path.  The residual stream
 * entering the only block is W_E[t] + W_pos[p], so every activation is a
 * sum of rows of the tables of tables.h; one list costs a few microseconds
 * with the whole cache filled, and decoding adds one key row and one query
 * row a step (forward_internal.h).
 *
 * This is the engine's only processor-specific code: its row loops are
 * written with GCC vector extensions and compiled for AVX-512, AVX2 and
 * baseline x86-64 (see SL_CLONES), which makes `sortlens eval` about twice
 * as fast as baseline code on an AVX-512 machine. */
#include "sortlens/forward.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "forward_internal.h"
#include "sortlens/tables.h"

/* ---- small vector kernels ------------------------------------------------- */

/* The hot loops of the fast path are written over fixed chunks of 8 floats
 * (16 for the row combinations on AVX-512) with GCC vector extensions, so
 * that they vectorize without -O3 or -march, and the functions that run
 * them are compiled for AVX-512, AVX2 and baseline x86-64, chosen at load
 * time (GCC target_clones), with a * b + c fused into one instruction
 * (-std=c11 alone forbids that) and short copies kept inline rather than
 * turned into calls of memcpy. */
#if defined(__GNUC__)
#define SL_VECTOR 1
/* 8 floats: a register of AVX2, half of one of AVX-512.  GCC splits a
 * wider generic vector into AVX2 registers badly (through the stack), and
 * the work here is bound by memory more than by the width of the FPU. */
#define VW 8
typedef float vfw __attribute__((vector_size(VW * sizeof(float))));
typedef float vf16 __attribute__((vector_size(16 * sizeof(float))));   /* AVX-512 only */
#define VLOAD(v, p) memcpy(&(v), (p), sizeof(v))
#define VSTORE(p, v) memcpy((p), &(v), sizeof(v))
#endif
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && defined(__x86_64__) && defined(__linux__)
#define SL_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"), optimize("fp-contract=fast", "no-tree-loop-distribute-patterns")))
#define SL_HAVE_CLONES 1
#else
#define SL_CLONES
#endif
/* Helpers of the cloned functions are inlined into each clone: a call from
 * AVX code into baseline SSE code costs far more than the work here. */
#if defined(__GNUC__)
#define SL_INLINE static inline __attribute__((always_inline))
#else
#define SL_INLINE static inline
#endif

/* Does the CPU run 16-float vectors natively (AVX-512)?  Then the row
 * combinations use them; a generic vector of 16 floats compiled for AVX2
 * goes through the stack, so those CPUs take the 8-float code. */
static bool forward_wide_vectors(void)
{
#if defined(SL_VECTOR) && defined(SL_HAVE_CLONES)
    /* only where an AVX-512 clone runs the row code: compiled for baseline
     * x86-64, 16-float vectors go through memory and are many times slower */
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
#else
    return false;
#endif
}

/* Elementwise kernels over rows of n floats, in chunks of 16 floats when
 * `wide` (AVX-512), else of VW.  A row that is not a whole number of
 * chunks ends with one chunk that overlaps the one before it (n = 50:
 * columns 32..47, then 34..49): the outputs do not alias the inputs, so
 * the overlapped columns get the same values twice, and no scalar tail
 * is left.  Rows shorter than a chunk go one float at a time. */
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
SL_INLINE void vadd(float *restrict y, const float *restrict a, const float *restrict b, int n, bool wide)
{
    int i = 0;
#ifdef SL_VECTOR
    if (wide)
        ROW_CHUNKS(16, VADD_CHUNK(vf16));
    ROW_CHUNKS(VW, VADD_CHUNK(vfw));
#else
    (void)wide;
#endif
    for (; i < n; i++)
        y[i] = a[i] + b[i];
}

/* y = a + b + c, n floats */
SL_INLINE void vadd3(float *restrict y, const float *restrict a, const float *restrict b,
                     const float *restrict c, int n, bool wide)
{
    int i = 0;
#ifdef SL_VECTOR
    if (wide)
        ROW_CHUNKS(16, VADD3_CHUNK(vf16));
    ROW_CHUNKS(VW, VADD3_CHUNK(vfw));
#else
    (void)wide;
#endif
    for (; i < n; i++)
        y[i] = a[i] + b[i] + c[i];
}

/* y = a, n floats */
SL_INLINE void vcopy(float *restrict y, const float *restrict a, int n, bool wide)
{
    int i = 0;
#ifdef SL_VECTOR
    if (wide)
        ROW_CHUNKS(16, VCOPY_CHUNK(vf16));
    ROW_CHUNKS(VW, VCOPY_CHUNK(vfw));
#else
    (void)wide;
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
                           size_t ldr, int N, bool accumulate, const float *init_a, const float *init_b, bool wide)
{
    int n = 0;
#ifdef SL_VECTOR
    /* Chunks of W columns (16 on AVX-512, else 8), 8 accumulators a pass
     * (4 of 16), which fill half the vector registers and leave room for
     * the loads.  The rest of the row goes in one more pass whose last
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
    if (wide && N >= 16)
        ROW_PASSES(vf16, 16, 4);
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

/* ---- the tables path ------------------------------------------------------------ */

int tables_run_begin(TablesRun *r, const SlModel *m, int T, SlActCache *c, const SlIntervention *iv, SlError *err)
{
    const SlModelConfig *cfg = &m->cfg;
    memset(r, 0, sizeof *r);
    r->m = m;
    r->tb = m->tables;
    r->iv = iv_or_none(iv);
    r->H = cfg->n_heads;
    r->T = T;
    r->D = cfg->d_model;
    r->E = cfg->d_head;
    r->V = cfg->d_vocab;
    r->Vo = cfg->d_vocab_out;
    r->Tn = cfg->n_ctx;
    r->div = sqrtf((float)r->E);
    r->wide = forward_wide_vectors();
    const size_t H = (size_t)r->H, D = (size_t)r->D, Vo = (size_t)r->Vo, Tz = (size_t)T;
    size_t need = round16(H * Tz * D) + round16(H * Tz * Vo) + round16(Vo) + round16(H * D) + round16(H * Vo) +
                  2 * round16(H * Tz);
    int rc = forward_scratch_reserve(c, need, err);
    if (rc)
        return rc;
    float *s = c->scratch;
    r->vo_rows = s, s += round16(H * Tz * D);
    r->ov_rows = s, s += round16(H * Tz * Vo);
    r->bias_out = s, s += round16(Vo);
    r->abl_vo = s, s += round16(H * D);
    r->abl_ov = s, s += round16(H * Vo);
    r->row_scores = s, s += round16(H * Tz);
    r->row_pattern = s;
    const SlModelParams *p = &m->params;
    if (r->iv->drop_direct) {
        /* the logits' constant part without the direct path: b_O W_U + b_U */
        memcpy(r->bias_out, p->b_U, Vo * sizeof(float));
        ops_gemm_nn(r->bias_out, (int)Vo, p->b_O, (int)D, p->W_U, (int)Vo, 1, (int)Vo, (int)D, true);
    }
    if (r->iv->ablate_position >= 0 && r->iv->ablate_kind == SL_ABLATE_MEAN) {
        /* what a head adds to attn_out and to the logits when its z is the mean */
        for (int h = 0; h < r->H; h++) {
            ops_gemm_nn(r->abl_vo + h * D, (int)D, r->iv->ablate_mean_z + h * (size_t)r->E, r->E,
                    p->W_O + h * (size_t)r->E * D, (int)D, 1, (int)D, r->E, false);
            ops_gemm_nn(r->abl_ov + h * Vo, (int)Vo, r->abl_vo + h * D, (int)D, p->W_U, (int)Vo, 1, (int)Vo, (int)D, false);
        }
    }
    return 0;
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
            const float *ot = tb->ov_tok + ((size_t)h * V + tok[k]) * Vo;
            float *ov = r->ov_rows + ((size_t)h * T + k) * Vo;
            if (drop)
                memcpy(ov, ot, (size_t)Vo * sizeof(float));
            else
                vadd(ov, ot, tb->ov_pos + ((size_t)h * Tn + k) * Vo, Vo, r->wide);
            if (!with_vo)
                continue;
            const float *vt = tb->vo_tok + ((size_t)h * V + tok[k]) * D;
            float *vo = r->vo_rows + ((size_t)h * T + k) * D;
            if (drop)
                memcpy(vo, vt, (size_t)D * sizeof(float));
            else
                vadd(vo, vt, tb->vo_pos + ((size_t)h * Tn + k) * D, D, r->wide);
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
SL_INLINE void tables_base_row(float *out, const float *a, const float *b, int n, bool wide)
{
    if (b)
        vadd(out, a, b, n, wide);
    else
        vcopy(out, a, n, wide);
}

SL_CLONES
void tables_run_query(TablesRun *r, const int *tokens, int q, float *logits_row)
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
                    base_a, base_b, r->wide);
        started = true;
    }
    if (!started)
        tables_base_row(logits_row, base_a, base_b, r->Vo, r->wide);
    for (int h = 0; h < r->H; h++)
        if (iv_ablated(iv, 0, h, q) && iv->ablate_kind == SL_ABLATE_MEAN)
            vacc(logits_row, r->abl_ov + (size_t)h * r->Vo, r->Vo);
}

/* The whole cache for sequence b (T tokens) from the tables. */
SL_CLONES
static void tables_sequence(TablesRun *r, const int *tok, int b, int T, SlActCache *c)
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
        vcopy(et, p->W_E + (size_t)tok[t] * D, D, r->wide);
        vcopy(pt, p->W_pos + (size_t)t * D, D, r->wide);
        for (int h = 0; h < H; h++) {
            size_t row = ((size_t)t * H + h) * E, tr = ((size_t)h * V + tok[t]) * E, pr = ((size_t)h * Tn + t) * E;
            vadd(q + row, tb->q_tok + tr, tb->q_pos + pr, E, r->wide);
            vadd(k + row, tb->k_tok + tr, tb->k_pos + pr, E, r->wide);
            if (iv->ov_drop_pos && iv_on(iv, 0, h))
                vcopy(v + row, tb->v_tok + tr, E, r->wide);
            else
                vadd(v + row, tb->v_tok + tr, tb->v_pos + pr, E, r->wide);
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
                    vcopy(zr, iv->ablate_mean_z + (size_t)h * E, E, r->wide);
                else
                    memset(zr, 0, (size_t)E * sizeof(float));
                continue;
            }
            row_combine(zr, prow, t + 1, v + h * E, (size_t)HE, E, false, NULL, NULL, r->wide);
            row_combine(at, prow, t + 1, r->vo_rows + (size_t)h * r->T * D, (size_t)D, D, started, p->b_O, NULL, r->wide);
            row_combine(lt, prow, t + 1, r->ov_rows + (size_t)h * r->T * Vo, (size_t)Vo, Vo, started, base_a, base_b,
                        r->wide);
            started = true;
        }
        if (!started) {   /* every head ablated at this position */
            vcopy(at, p->b_O, D, r->wide);
            tables_base_row(lt, base_a, base_b, Vo, r->wide);
        }
        for (int h = 0; h < H; h++)
            if (iv_ablated(iv, 0, h, t) && iv->ablate_kind == SL_ABLATE_MEAN) {
                vacc(at, r->abl_vo + (size_t)h * D, D);
                vacc(lt, r->abl_ov + (size_t)h * Vo, Vo);
            }
        vadd3(rp + (size_t)t * D, et, pt, at, D, r->wide);
    }
}

int forward_tables(const SlModel *m, const int *tokens, int B, int T, SlActCache *c, const SlIntervention *iv,
                          SlError *err)
{
    TablesRun r;
    int rc = tables_run_begin(&r, m, T, c, iv, err);
    if (rc)
        return rc;
    for (int b = 0; b < B; b++)
        tables_sequence(&r, tokens + (size_t)b * T, b, T, c);
    return 0;
}
