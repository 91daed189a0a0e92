/* forward.c: the forward pass of an attention-only transformer
 * (TransformerLens HookedTransformer, attn_only=True, no layernorm), filling
 * an activation cache named after TL's hooks, with optional interventions.
 *
 * Two paths compute the same thing:
 *  - general: any number of layers and heads, every product through
 *    cblas_sgemm over the whole batch;
 *  - tables (one layer only): the residual stream entering the only block is
 *    W_E[t] + W_pos[p], so every activation is a sum of rows of the tables of
 *    tables.h; one list costs a few microseconds with the whole cache filled.
 */
#include "sortlens/forward.h"

#include <cblas.h>
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#include <immintrin.h>
#endif
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
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

/* Index of the largest of x[0..n), the first on a tie (as torch.argmax);
 * a NaN is never chosen (0 if there is nothing else).  Two passes: the
 * maximum in 16 lanes (a select that compiles to a vector max), then the
 * first index holding it; a running "best index" would chain every compare
 * on a load. */
SL_CLONES
int forward_argmax(const float *x, int n)
{
    int i = 0;
    float mx = -INFINITY;
    if (n >= 32) {
        float m[16];
        for (int j = 0; j < 16; j++)
            m[j] = -INFINITY;
        for (i = 0; i + 16 <= n; i += 16)
            for (int j = 0; j < 16; j++)
                m[j] = x[i + j] > m[j] ? x[i + j] : m[j];
        for (int w = 8; w >= 1; w /= 2)   /* a tree, as halves of a vector */
            for (int j = 0; j < w; j++)
                m[j] = m[j + w] > m[j] ? m[j + w] : m[j];
        mx = m[0];
    }
    for (; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    for (i = 0; i < n; i++)
        if (x[i] == mx)
            return i;
    return 0;   /* every entry NaN */
}

/* ---- BLAS wrappers (row-major) ----------------------------------------------- */

/* C[M,N] (+)= A[M,K] B[K,N] with leading dimensions */
static void gemm_nn(float *C, int ldc, const float *A, int lda, const float *B, int ldb, int M, int N, int K, bool acc)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, lda, B, ldb, acc ? 1.0f : 0.0f, C, ldc);
}

/* C[M,N] (+)= A[M,K] B[N,K]^T */
static void gemm_nt(float *C, int ldc, const float *A, int lda, const float *B, int ldb, int M, int N, int K, bool acc)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A, lda, B, ldb, acc ? 1.0f : 0.0f, C, ldc);
}

/* X[r, 0:n] += bias[0:n] for `rows` rows ld apart */
static void add_bias_rows(float *X, int ld, const float *bias, int rows, int n)
{
    for (int r = 0; r < rows; r++)
        vacc(X + (size_t)r * ld, bias, n);
}

/* ---- the cache ---------------------------------------------------------------- */

static size_t round16(size_t n) { return (n + 15) / 16 * 16; }

/* n floats on a 64-byte (cache line) boundary; free() releases them. */
static float *alloc_floats(size_t n)
{
    return aligned_alloc(64, round16(n) * sizeof(float));
}

ActCache *cache_new(const ModelConfig *cfg, int cap_B, int cap_T, SlError *err)
{
    if (model_config_validate(cfg, err))
        return NULL;
    if (cap_B < 1 || cap_B > (1 << 24) || cap_T < 1 || cap_T > cfg->n_ctx) {
        sl_error_set(err, SL_EINVAL, "activation cache for %d sequences of %d tokens: need 1..%d sequences of 1..%d tokens",
                     cap_B, cap_T, 1 << 24, cfg->n_ctx);
        return NULL;
    }
    const size_t L = (size_t)cfg->n_layers, H = (size_t)cfg->n_heads, D = (size_t)cfg->d_model;
    const size_t E = (size_t)cfg->d_head, Vo = (size_t)cfg->d_vocab_out, BT = (size_t)cap_B * (size_t)cap_T;
    /* per (b, t): embed, pos_embed, logits, and per layer q k v z attn_out
     * resid_post; per (b, l, h): the T x T scores and pattern.  With the
     * limits of model.h these stay far below SIZE_MAX, but check anyway. */
    double approx = (double)BT * (2.0 * D + Vo + L * (4.0 * H * E + 2.0 * D)) + 2.0 * L * H * BT * cap_T;
    /* the forward pass indexes one layer's array with int products */
    double widest = (double)BT * (double)(D > H * E ? D : H * E);
    if ((double)H * BT * cap_T > widest)
        widest = (double)H * BT * cap_T;
    if (approx * sizeof(float) > (double)SIZE_MAX / 2 || widest > INT_MAX || (double)BT * Vo > INT_MAX) {
        sl_error_set(err, SL_ENOMEM, "activation cache for %d sequences of %d tokens is too large", cap_B, cap_T);
        return NULL;
    }
    /* Each array starts on a 64-byte boundary: a 16-float vector access that
     * straddles two cache lines costs twice as much. */
    size_t n_btd = round16(BT * D), n_lbthe = round16(L * BT * H * E), n_lbhtt = round16(L * H * BT * (size_t)cap_T);
    size_t n_lbtd = round16(L * BT * D), total = 2 * n_btd + 4 * n_lbthe + 2 * n_lbhtt + 2 * n_lbtd + BT * Vo;
    ActCache *c = calloc(1, sizeof *c);
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
#define CARVE(field, n) (c->field = mem, mem += (n))
    CARVE(embed, n_btd);
    CARVE(pos_embed, n_btd);
    CARVE(q, n_lbthe);
    CARVE(k, n_lbthe);
    CARVE(v, n_lbthe);
    CARVE(scores, n_lbhtt);
    CARVE(pattern, n_lbhtt);
    CARVE(z, n_lbthe);
    CARVE(attn_out, n_lbtd);
    CARVE(resid_post, n_lbtd);
    CARVE(logits, BT * Vo);
#undef CARVE
    return c;
}

void cache_free(ActCache *c)
{
    if (!c)
        return;
    free(c->block);
    free(c->scratch);
    free(c);
}

int forward_scratch_reserve(ActCache *c, size_t n, SlError *err)
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

const float *cache_get(const ActCache *c, const char *hook, int *ndim, int64_t shape[5])
{
    if (!c || !hook)
        return NULL;
    const int64_t B = c->B, T = c->T, H = c->H, E = c->E, D = c->D;
    const float *data = NULL;
    int nd = 0;
    int64_t s[5] = {0};
    if (strcmp(hook, "hook_embed") == 0 || strcmp(hook, "hook_pos_embed") == 0) {
        data = hook[5] == 'e' ? c->embed : c->pos_embed;
        nd = 3, s[0] = B, s[1] = T, s[2] = D;
    } else if (strcmp(hook, "logits") == 0) {
        data = c->logits;
        nd = 3, s[0] = B, s[1] = T, s[2] = c->Vo;
    } else {
        const char *rest = hook;
        int l = 0;
        if (strncmp(hook, "blocks.", 7) == 0) {
            l = parse_block(&rest);
            if (l < 0 || l >= c->L)
                return NULL;
        } else if (c->L != 1) {
            return NULL;   /* short names only where they are unambiguous */
        }
        const size_t bthe = (size_t)(B * T * H * E), bhtt = (size_t)(B * H * T * T), btd = (size_t)(B * T * D);
        if (strcmp(rest, "attn.hook_q") == 0)
            data = c->q + l * bthe;
        else if (strcmp(rest, "attn.hook_k") == 0)
            data = c->k + l * bthe;
        else if (strcmp(rest, "attn.hook_v") == 0)
            data = c->v + l * bthe;
        else if (strcmp(rest, "attn.hook_z") == 0)
            data = c->z + l * bthe;
        if (data) {
            nd = 4, s[0] = B, s[1] = T, s[2] = H, s[3] = E;
        } else if (strcmp(rest, "attn.hook_attn_scores") == 0 || strcmp(rest, "attn.hook_pattern") == 0) {
            data = (rest[10] == 'a' ? c->scores : c->pattern) + l * bhtt;
            nd = 4, s[0] = B, s[1] = H, s[2] = T, s[3] = T;
        } else if (strcmp(rest, "hook_attn_out") == 0 || strcmp(rest, "hook_resid_post") == 0) {
            data = (rest[5] == 'a' ? c->attn_out : c->resid_post) + l * btd;
            nd = 3, s[0] = B, s[1] = T, s[2] = D;
        } else {
            return NULL;
        }
    }
    if (ndim)
        *ndim = nd;
    if (shape)
        memcpy(shape, s, sizeof s);
    return data;
}

/* ---- interventions ------------------------------------------------------------ */

TensorSet *cache_to_tensors(const ActCache *c, SlError *err)
{
    static const char *const per_layer[] = {"attn.hook_q",       "attn.hook_k",   "attn.hook_v",
                                            "attn.hook_attn_scores", "attn.hook_pattern", "attn.hook_z",
                                            "hook_attn_out",     "hook_resid_post"};
    TensorSet *ts = tensorset_new();
    if (!ts) {
        sl_error_set(err, SL_ENOMEM, "out of memory for the activations");
        return NULL;
    }
    const int per = (int)(sizeof per_layer / sizeof per_layer[0]), n_names = 2 + c->L * per + 1;
    for (int i = 0; i < n_names; i++) {
        char name[64];
        if (i < 2)
            snprintf(name, sizeof name, "%s", i == 0 ? "hook_embed" : "hook_pos_embed");
        else if (i == n_names - 1)
            snprintf(name, sizeof name, "logits");
        else
            snprintf(name, sizeof name, "blocks.%d.%s", (i - 2) / per, per_layer[(i - 2) % per]);
        int nd;
        int64_t shape[5];
        const float *data = cache_get(c, name, &nd, shape);
        if (!data || !tensorset_add(ts, name, DT_F32, nd, shape, data, err)) {
            if (!data)
                sl_error_set(err, SL_EINVAL, "the activation cache has no %s", name);
            tensorset_free(ts);
            return NULL;
        }
    }
    return ts;
}

void intervention_init(Intervention *iv)
{
    memset(iv, 0, sizeof *iv);
    iv->layer = 0;
    iv->head = -1;
    iv->ablate_position = -1;
    iv->ablate_kind = ABLATE_NONE;
    iv->block_source = -1;
    iv->force_query = -1;
    iv->force_source = -1;
}

bool intervention_is_none(const Intervention *iv)
{
    return !iv || (iv->qk_terms_off == 0 && !iv->ov_drop_pos && !iv->drop_direct && iv->ablate_position < 0 &&
                   iv->block_source < 0 && iv->force_query < 0 && iv->force_source < 0);
}

int intervention_validate(const Intervention *iv, const ModelConfig *c, SlError *err)
{
    if (intervention_is_none(iv))
        return 0;
    if (iv->layer < 0 || iv->layer >= c->n_layers)
        return sl_error_set(err, SL_EINVAL, "intervention layer %d: the model has layers 0..%d", iv->layer, c->n_layers - 1);
    if (iv->head < -1 || iv->head >= c->n_heads)
        return sl_error_set(err, SL_EINVAL, "intervention head %d: the model has heads 0..%d (-1 for all)", iv->head,
                            c->n_heads - 1);
    if (iv->qk_terms_off & ~(unsigned)0xF)
        return sl_error_set(err, SL_EINVAL, "intervention: unknown QK term bits 0x%x", iv->qk_terms_off);
    if ((iv->qk_terms_off || iv->ov_drop_pos) && iv->layer != 0)
        return sl_error_set(err, SL_EINVAL, "intervention: QK terms and the OV position part are defined on layer 0, not %d",
                            iv->layer);
    if (iv->ablate_position < -1 || iv->ablate_position >= c->n_ctx)
        return sl_error_set(err, SL_EINVAL, "intervention: ablated position %d is outside 0..%d", iv->ablate_position,
                            c->n_ctx - 1);
    if (iv->ablate_position >= 0) {
        if (iv->ablate_kind != ABLATE_ZERO && iv->ablate_kind != ABLATE_MEAN)
            return sl_error_set(err, SL_EINVAL, "intervention: position %d is ablated, but neither to zero nor to the mean",
                                iv->ablate_position);
        if (iv->ablate_kind == ABLATE_MEAN && !iv->ablate_mean_z)
            return sl_error_set(err, SL_EINVAL, "intervention: mean ablation without a mean hook_z");
    }
    if (iv->block_source < -1 || iv->block_source >= c->n_ctx)
        return sl_error_set(err, SL_EINVAL, "intervention: blocked source %d is outside 0..%d", iv->block_source, c->n_ctx - 1);
    if (iv->force_query >= 0 || iv->force_source >= 0) {
        if (iv->force_query < 0 || iv->force_query >= c->n_ctx || iv->force_source < 0 || iv->force_source >= c->n_ctx)
            return sl_error_set(err, SL_EINVAL, "intervention: forced attention %d -> %d needs both positions in 0..%d",
                                iv->force_query, iv->force_source, c->n_ctx - 1);
        if (iv->force_source > iv->force_query)
            return sl_error_set(err, SL_EINVAL, "intervention: query %d cannot attend to the later position %d",
                                iv->force_query, iv->force_source);
    }
    return 0;
}

static const Intervention *iv_or_none(const Intervention *iv)
{
    static const Intervention none = {.layer = 0, .head = -1, .ablate_position = -1, .block_source = -1,
                                      .force_query = -1, .force_source = -1};
    return iv ? iv : &none;
}

/* Does the intervention touch layer l, head h? */
static inline bool iv_on(const Intervention *iv, int l, int h)
{
    return iv->layer == l && (iv->head < 0 || iv->head == h);
}

/* Is hook_z of (layer l, head h) at query q ablated? */
static inline bool iv_ablated(const Intervention *iv, int l, int h, int q)
{
    return iv->ablate_position == q && iv->ablate_kind != ABLATE_NONE && iv_on(iv, l, h);
}

/* ---- attention rows, shared by both paths -------------------------------------- */

/* e^-80 (1.8e-35): smaller weights are set to zero instead of computed.
 * They cannot change a float sum that also holds the largest weight
 * (>= 1/n), and as subnormal numbers (which they would become once
 * normalized) they cost x86 a hundred cycles in every later multiply. */
#define EXP_FLOOR (-80.0f)

#ifdef SL_HAVE_MVEC
/* glibc's vector math library: expf of 4 floats at once (x86-64 vector ABI,
 * SSE registers, so every clone may call it). */
typedef float vf4 __attribute__((vector_size(4 * sizeof(float))));
typedef int vi4 __attribute__((vector_size(4 * sizeof(int))));
vf4 _ZGVbN4v_expf(vf4 x);
#endif

/* p[k] = exp(s[k] - mx) for k < n (0 below EXP_FLOOR); returns their sum. */
SL_INLINE float exp_shifted(const float *restrict s, float mx, float *restrict p, int n)
{
    float sum = 0.0f;
    int k = 0;
#ifdef SL_HAVE_MVEC
    for (; k + 4 <= n; k += 4) {
        vf4 d, e;
        memcpy(&d, s + k, sizeof d);
        d -= mx;
        e = _ZGVbN4v_expf(d);
        vi4 keep = d >= EXP_FLOOR;   /* -1 where kept: a mask of the bits */
        vi4 bits;
        memcpy(&bits, &e, sizeof bits);
        bits &= keep;
        memcpy(&e, &bits, sizeof e);
        memcpy(p + k, &e, sizeof e);
        sum += (e[0] + e[1]) + (e[2] + e[3]);
    }
#endif
    for (; k < n; k++) {
        float d = s[k] - mx;
        p[k] = d < EXP_FLOOR ? 0.0f : expf(d);
        sum += p[k];
    }
    return sum;
}

/* Softmax of s[0..n), whose largest entry is mx, into p[0..n); all zeros
 * when every entry is -inf. */
SL_INLINE void softmax_max(const float *restrict s, float mx, float *restrict p, int n)
{
    if (mx == -INFINITY) {
        memset(p, 0, (size_t)n * sizeof *p);
        return;
    }
    float inv = 1.0f / exp_shifted(s, mx, p, n);
    for (int k = 0; k < n; k++)
        p[k] *= inv;
}

SL_INLINE float row_max(const float *s, int n)
{
    float mx = -INFINITY;
    for (int k = 0; k < n; k++)
        mx = s[k] > mx ? s[k] : mx;
    return mx;
}

void forward_softmax(const float *restrict s, float *restrict p, int n) { softmax_max(s, row_max(s, n), p, n); }

#if defined(SL_VECTOR) && defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define SL_WIDE_SOFTMAX 1
/* One attention row on AVX-512, for a head no intervention touches: the
 * raw sums s[0..q] become the scaled scores (divided by div, as TL does),
 * keys after q up to len get -inf, and pr[0..len) the softmax, 16 keys at a
 * time with glibc's 16-wide expf.  Compiled for AVX-512 whatever the
 * clone, and called only when the CPU has it (TablesRun.wide): the scalar
 * and 4-wide code it replaces took a third of a one-list forward.  The
 * weights are those of softmax_max up to the order of the sum. */
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl")
#ifdef SL_HAVE_MVEC
__m512 _ZGVeN16v_expf(__m512 x);
#endif
static inline __m512 exp16(__m512 d)
{
#ifdef SL_HAVE_MVEC
    return _ZGVeN16v_expf(d);
#else
    float x[16];
    _mm512_storeu_ps(x, d);
    for (int i = 0; i < 16; i++)
        x[i] = expf(x[i]);
    return _mm512_loadu_ps(x);
#endif
}

/* Lanes 0..n-k-1 of the chunk of 16 that starts at k (all 16 when n - k >= 16). */
static inline __mmask16 lanes_before(int n, int k)
{
    return n - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - k)) - 1u);
}

/* The scaled scores of keys k..k+15 whose lanes are in m, -inf elsewhere:
 * ((tt[tok] + pt[tok]) + (tp + pp)) / div, in tables_qk_row's order. */
static inline __m512 score_chunk(const float *tt, const float *pt, const float *tp, const float *pp, const int *tok,
                                 int k, __mmask16 m, __m512 vdiv)
{
    const __m512 zero = _mm512_setzero_ps();
    __m512i idx = _mm512_maskz_loadu_epi32(m, tok + k);
    __m512 a = _mm512_mask_i32gather_ps(zero, m, idx, tt, 4);
    __m512 b = _mm512_mask_i32gather_ps(zero, m, idx, pt, 4);
    __m512 c = _mm512_maskz_loadu_ps(m, tp + k), d = _mm512_maskz_loadu_ps(m, pp + k);
    __m512 x = _mm512_div_ps(_mm512_add_ps(_mm512_add_ps(a, b), _mm512_add_ps(c, d)), vdiv);
    return _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), m, x);
}

/* exp(d) in the lanes of m where d >= EXP_FLOOR, 0 elsewhere (masked keys
 * are -inf, below the floor).  The argument is clamped at the floor: the
 * vector expf takes a slow path for large negative inputs. */
static inline __m512 exp_chunk(__m512 d, __mmask16 m)
{
    const __m512 floor = _mm512_set1_ps(EXP_FLOOR);
    __mmask16 keep = _mm512_mask_cmp_ps_mask(m, d, floor, _CMP_GE_OQ);
    return _mm512_maskz_mov_ps(keep, exp16(_mm512_max_ps(d, floor)));
}

static inline void attention_row_wide(const float *tt, const float *pt, const float *tp, const float *pp,
                                      const int *tok, float div, int q, int len, float *restrict s,
                                      float *restrict pr)
{
    const int n = q + 1;
    const __m512 vdiv = _mm512_set1_ps(div);
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    for (int k = 0; k < n; k += 16) {
        __mmask16 m = lanes_before(n, k);
        __m512 x = score_chunk(tt, pt, tp, pp, tok, k, m, vdiv);
        _mm512_mask_storeu_ps(s + k, m, x);
        vmax = _mm512_max_ps(vmax, x);
    }
    for (int j = n; j < len; j++)
        s[j] = -INFINITY;
    const float mx = _mm512_reduce_max_ps(vmax);
    if (mx == -INFINITY) {
        memset(pr, 0, (size_t)len * sizeof *pr);
        return;
    }
    const __m512 vmx = _mm512_set1_ps(mx);
    __m512 vsum = _mm512_setzero_ps();
    for (int k = 0; k < n; k += 16) {
        __mmask16 m = lanes_before(n, k);
        __m512 e = exp_chunk(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, s + k), vmx), m);
        _mm512_mask_storeu_ps(pr + k, m, e);
        vsum = _mm512_add_ps(vsum, e);
    }
    const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(vsum));
    for (int k = 0; k < n; k += 16) {
        __mmask16 m = lanes_before(n, k);
        _mm512_mask_storeu_ps(pr + k, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, pr + k), inv));
    }
    for (int j = n; j < len; j++)
        pr[j] = 0.0f;
}
/* Every query row t < T of one head at once (scores [T, T] and pattern
 * [T, T], rows T apart), for a head no intervention touches.  The same
 * arithmetic as attention_row_wide, in three sweeps over the rows (scores
 * and maxima; exponentials and sums; normalisation), whose short bodies
 * let the CPU run many rows' dependent chains side by side; one row at a
 * time, each waited on its own reductions and exponentials.  row_max and
 * row_inv hold T floats of workspace.  The tables' rows for query t are
 * tt + tok[t] * V, tp + tok[t] * Tn, pt + t * V and pp + t * Tn. */
static void attention_matrix_wide(const float *tt, const float *tp, const float *pt, const float *pp, int V, int Tn,
                                  const int *tok, float div, int T, float *restrict sc, float *restrict pat,
                                  float *restrict row_max, float *restrict row_inv)
{
    const __m512 vdiv = _mm512_set1_ps(div);
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    for (int t = 0; t < T; t++) {
        const float *ttr = tt + (size_t)tok[t] * V, *tpr = tp + (size_t)tok[t] * Tn;
        const float *ptr = pt + (size_t)t * V, *ppr = pp + (size_t)t * Tn;
        float *srow = sc + (size_t)t * T;
        __m512 vmax = _mm512_set1_ps(-INFINITY);
        for (int k = 0; k < T; k += 16) {
            /* lanes k.. within the row, and of those the keys 0..t (the causal mask) */
            __mmask16 in = lanes_before(T, k);
            __mmask16 m = _mm512_mask_cmple_epi32_mask(in, _mm512_add_epi32(lane, _mm512_set1_epi32(k)),
                                                       _mm512_set1_epi32(t));
            __m512 x = score_chunk(ttr, ptr, tpr, ppr, tok, k, m, vdiv);
            _mm512_mask_storeu_ps(srow + k, in, x);
            vmax = _mm512_max_ps(vmax, x);
        }
        row_max[t] = _mm512_reduce_max_ps(vmax);
    }
    for (int t = 0; t < T; t++) {
        const float *srow = sc + (size_t)t * T;
        float *prow = pat + (size_t)t * T;
        const __m512 vmx = _mm512_set1_ps(row_max[t]);
        __m512 vsum = _mm512_setzero_ps();
        for (int k = 0; k < T; k += 16) {
            __mmask16 in = lanes_before(T, k);
            __m512 e = exp_chunk(_mm512_sub_ps(_mm512_maskz_loadu_ps(in, srow + k), vmx), in);
            _mm512_mask_storeu_ps(prow + k, in, e);
            vsum = _mm512_add_ps(vsum, e);
        }
        row_inv[t] = 1.0f / _mm512_reduce_add_ps(vsum);
    }
    for (int t = 0; t < T; t++) {
        float *prow = pat + (size_t)t * T;
        const __m512 inv = _mm512_set1_ps(row_inv[t]);
        for (int k = 0; k < T; k += 16) {
            __mmask16 in = lanes_before(T, k);
            _mm512_mask_storeu_ps(prow + k, in, _mm512_mul_ps(_mm512_maskz_loadu_ps(in, prow + k), inv));
        }
    }
}

/* One query row's three sums over its keys k < nk, in one pass over the
 * weights with every accumulator in a register (8 + 8 + 4 of 32):
 *   z[0:E]   =              sum_k w[k] zr[k][0:E]    (rows ldz apart)
 *   ao[0:D]  = ao_start   + sum_k w[k] ar[k][0:D]    (rows D apart)
 *   lt[0:Vo] = lt_a + lt_b + sum_k w[k] lr[k][0:Vo]  (rows Vo apart)
 * for E and D multiples of 128 and 16 <= Vo <= 64 (columns of lt in
 * chunks at 0, 16, 32 and Vo - 16, which may overlap; lt_b may be NULL).
 * ao_start and lt_a may be ao and lt themselves (a head after the first).
 * Three separate row_combine passes load every weight three times and
 * keep fewer sums in flight. */
#define REP8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
static void combine3_wide(const float *restrict w, int nk, const float *zr, size_t ldz, float *z, int E,
                          const float *ar, float *ao, int D, const float *ao_start, const float *lr, float *lt,
                          int Vo, const float *lt_a, const float *lt_b)
{
    int lo[4];   /* the column of each chunk of lt */
    for (int c = 0; c < 4; c++)
        lo[c] = 16 * c + 16 <= Vo ? 16 * c : Vo - 16;
    for (int blk = 0; blk < E || blk < D; blk += 128) {
        const bool has_z = blk < E, has_a = blk < D, has_l = blk == 0;
        const float *zb = zr + blk, *ab = ar + blk;
#define DECL(i) __m512 z##i = _mm512_setzero_ps(), a##i = has_a ? _mm512_loadu_ps(ao_start + blk + 16 * i) : z##i;
        REP8(DECL)
#undef DECL
        __m512 l0, l1, l2, l3;
        if (has_l) {
#define LINIT(i)                                                                                     \
    l##i = _mm512_loadu_ps(lt_a + lo[i]);                                                            \
    if (lt_b)                                                                                        \
        l##i = _mm512_add_ps(l##i, _mm512_loadu_ps(lt_b + lo[i]));
            LINIT(0) LINIT(1) LINIT(2) LINIT(3)
#undef LINIT
        } else {
            l0 = l1 = l2 = l3 = _mm512_setzero_ps();
        }
        if (has_z && has_a && has_l) {   /* the first block: every sum, no test in the loop */
            const float *zk = zb, *ak = ab, *lk = lr;
            for (int k = 0; k < nk; k++, zk += ldz, ak += D, lk += Vo) {
                if (w[k] == 0.0f)   /* one-hot, blocked or negligible: nothing to add */
                    continue;
                const __m512 wk = _mm512_set1_ps(w[k]);
#define ZA(i)                                                                                        \
    z##i = _mm512_fmadd_ps(wk, _mm512_loadu_ps(zk + 16 * i), z##i);                                  \
    a##i = _mm512_fmadd_ps(wk, _mm512_loadu_ps(ak + 16 * i), a##i);
                REP8(ZA)
#undef ZA
                l0 = _mm512_fmadd_ps(wk, _mm512_loadu_ps(lk + lo[0]), l0);
                l1 = _mm512_fmadd_ps(wk, _mm512_loadu_ps(lk + lo[1]), l1);
                l2 = _mm512_fmadd_ps(wk, _mm512_loadu_ps(lk + lo[2]), l2);
                l3 = _mm512_fmadd_ps(wk, _mm512_loadu_ps(lk + lo[3]), l3);
            }
        } else for (int k = 0; k < nk; k++) {
            if (w[k] == 0.0f)
                continue;
            const __m512 wk = _mm512_set1_ps(w[k]);
            const float *zk = zb + (size_t)k * ldz, *ak = ab + (size_t)k * D;
#define ZA(i)                                                                                        \
    if (has_z)                                                                                       \
        z##i = _mm512_fmadd_ps(wk, _mm512_loadu_ps(zk + 16 * i), z##i);                              \
    if (has_a)                                                                                       \
        a##i = _mm512_fmadd_ps(wk, _mm512_loadu_ps(ak + 16 * i), a##i);
            REP8(ZA)
#undef ZA
            if (has_l) {
                const float *lk = lr + (size_t)k * Vo;
                l0 = _mm512_fmadd_ps(wk, _mm512_loadu_ps(lk + lo[0]), l0);
                l1 = _mm512_fmadd_ps(wk, _mm512_loadu_ps(lk + lo[1]), l1);
                l2 = _mm512_fmadd_ps(wk, _mm512_loadu_ps(lk + lo[2]), l2);
                l3 = _mm512_fmadd_ps(wk, _mm512_loadu_ps(lk + lo[3]), l3);
            }
        }
#define STORE(i)                                                                                     \
    if (has_z)                                                                                       \
        _mm512_storeu_ps(z + blk + 16 * i, z##i);                                                    \
    if (has_a)                                                                                       \
        _mm512_storeu_ps(ao + blk + 16 * i, a##i);
        REP8(STORE)
#undef STORE
        if (has_l) {   /* overlapped chunks were summed from the same start: equal where they meet */
            _mm512_storeu_ps(lt + lo[0], l0);
            _mm512_storeu_ps(lt + lo[1], l1);
            _mm512_storeu_ps(lt + lo[2], l2);
            _mm512_storeu_ps(lt + lo[3], l3);
        }
    }
}
#undef REP8
#pragma GCC pop_options
#endif

/* s[0..q] holds a query row's scaled scores and mx their largest; this
 * masks keys after q (and a blocked key) with -inf up to len and writes
 * the softmax into pr[0..len).  A row with no key left gets zero weights
 * (its z is then 0).  on: the intervention touches this head. */
SL_INLINE void attention_finish(float *restrict s, float *restrict pr, int q, int len, float mx, bool on,
                                const Intervention *iv)
{
    for (int k = q + 1; k < len; k++)
        s[k] = -INFINITY;
    if (on && iv->block_source >= 0 && iv->block_source <= q) {
        s[iv->block_source] = -INFINITY;
        mx = row_max(s, q + 1);
    }
    softmax_max(s, mx, pr, q + 1);
    for (int k = q + 1; k < len; k++)
        pr[k] = 0.0f;
    if (on && iv->force_query == q) {
        memset(pr, 0, (size_t)len * sizeof *pr);
        pr[iv->force_source] = 1.0f;   /* force_source <= force_query, validated */
    }
}

/* The same from a query row's raw q.k in s[0..q]: scaled here (divided by
 * sqrt(E), as TransformerLens divides). */
SL_INLINE void attention_row(float *restrict s, float *restrict pr, int q, int len, float div, bool on,
                             const Intervention *iv)
{
    float mx = -INFINITY;
    for (int k = 0; k <= q; k++) {
        s[k] /= div;
        mx = s[k] > mx ? s[k] : mx;
    }
    attention_finish(s, pr, q, len, mx, on, iv);
}

/* ---- checks --------------------------------------------------------------------- */

int forward_resolve_path(const Model *m, ForwardPath path, SlError *err)
{
    if (path == FORWARD_AUTO)
        path = m->cfg.n_layers == 1 && m->tables ? FORWARD_TABLES : FORWARD_GENERAL;
    if (path == FORWARD_TABLES) {
        if (m->cfg.n_layers != 1)
            return sl_error_set(err, SL_EINVAL, "the tables path needs a one-layer model; this one has %d layers",
                                m->cfg.n_layers);
        if (!m->tables)
            return sl_error_set(err, SL_EINVAL, "the tables path needs the model's tables (model_prepare)");
    } else if (path != FORWARD_GENERAL) {
        return sl_error_set(err, SL_EINVAL, "unknown forward path %d", (int)path);
    }
    return path;
}

int forward_check_call(const Model *m, const int *tokens, int B, int T, const ActCache *c, SlError *err)
{
    const ModelConfig *cfg = &m->cfg;
    if (!c)
        return sl_error_set(err, SL_EINVAL, "forward without an activation cache");
    if (c->L != cfg->n_layers || c->H != cfg->n_heads || c->D != cfg->d_model || c->E != cfg->d_head ||
        c->Vo != cfg->d_vocab_out)
        return sl_error_set(err, SL_EINVAL, "the activation cache was made for another model shape");
    if (B < 1 || B > c->cap_B)
        return sl_error_set(err, SL_EINVAL, "forward of %d sequences; the cache holds 1..%d", B, c->cap_B);
    if (T < 1 || T > c->cap_T || T > cfg->n_ctx)
        return sl_error_set(err, SL_EINVAL, "forward of %d tokens; the cache holds 1..%d (n_ctx %d)", T, c->cap_T,
                            cfg->n_ctx);
    if (tokens)
        for (int i = 0; i < B * T; i++)
            if (tokens[i] < 0 || tokens[i] >= cfg->d_vocab)
                return sl_error_set(err, SL_EINVAL, "token %d at sequence %d, position %d is outside 0..%d", tokens[i],
                                    i / T, i % T, cfg->d_vocab - 1);
    return 0;
}

/* ---- general path ----------------------------------------------------------------- */

static int forward_general(const Model *m, const int *tokens, int B, int T, ActCache *c, const Intervention *iv,
                           SlError *err)
{
    const ModelConfig *cfg = &m->cfg;
    const ModelParams *p = &m->params;
    const int L = cfg->n_layers, H = cfg->n_heads, D = cfg->d_model, E = cfg->d_head, Vo = cfg->d_vocab_out;
    const int BT = B * T, HE = H * E;
    const bool qk_iv = iv->qk_terms_off != 0;
    size_t need = (size_t)BT * D + (qk_iv ? 2 * (size_t)BT * E + 2 * (size_t)T * E : 0);
    int rc = forward_scratch_reserve(c, need, err);
    if (rc)
        return rc;
    float *x0 = c->scratch;                 /* [B*T, D] layer 0's input; later the logits' input */
    float *qt = x0 + (size_t)BT * D;        /* [B*T, E] W_E[t] W_Q of one head (QK terms only) */
    float *kt = qt + (size_t)BT * E;        /* [B*T, E] W_E[t] W_K */
    float *qp = kt + (size_t)BT * E;        /* [T, E]   W_pos[p] W_Q + b_Q */
    float *kp = qp + (size_t)T * E;         /* [T, E]   W_pos[p] W_K + b_K */

    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++)
            memcpy(c->embed + ((size_t)b * T + t) * D, p->W_E + (size_t)tokens[b * T + t] * D, (size_t)D * sizeof(float));
        memcpy(c->pos_embed + (size_t)b * T * D, p->W_pos, (size_t)T * D * sizeof(float));
    }
    vadd(x0, c->embed, c->pos_embed, BT * D, false);
    const float div = sqrtf((float)E);

    for (int l = 0; l < L; l++) {
        const float *x = l == 0 ? x0 : c->resid_post + (size_t)(l - 1) * BT * D;   /* [B*T, D] */
        float *q = c->q + (size_t)l * BT * HE, *k = c->k + (size_t)l * BT * HE;    /* [B, T, H, E] */
        float *v = c->v + (size_t)l * BT * HE, *z = c->z + (size_t)l * BT * HE;
        float *sc = c->scores + (size_t)l * B * H * T * T;                         /* [B, H, T, T] */
        float *pat = c->pattern + (size_t)l * B * H * T * T;
        float *ao = c->attn_out + (size_t)l * BT * D, *rp = c->resid_post + (size_t)l * BT * D;  /* [B, T, D] */

        for (int h = 0; h < H; h++) {
            size_t w = model_head_qkv_offset(cfg, l, h);   /* W_Q[l, h]: [D, E] */
            size_t bo = ((size_t)l * H + h) * E;          /* b_Q[l, h]: [E] */
            gemm_nn(q + h * E, HE, x, D, p->W_Q + w, E, BT, E, D, false);
            add_bias_rows(q + h * E, HE, p->b_Q + bo, BT, E);
            gemm_nn(k + h * E, HE, x, D, p->W_K + w, E, BT, E, D, false);
            add_bias_rows(k + h * E, HE, p->b_K + bo, BT, E);
            if (l == 0 && iv->ov_drop_pos && iv_on(iv, 0, h)) {
                gemm_nn(v + h * E, HE, c->embed, D, p->W_V + w, E, BT, E, D, false);   /* W_E[t] W_V only */
            } else {
                gemm_nn(v + h * E, HE, x, D, p->W_V + w, E, BT, E, D, false);
                add_bias_rows(v + h * E, HE, p->b_V + bo, BT, E);
            }
        }
        for (int h = 0; h < H; h++) {
            bool on = iv_on(iv, l, h);
            if (l == 0 && qk_iv && on) {
                /* The four terms of tables.h from q = q_tok + q_pos, k = k_tok + k_pos. */
                size_t w = model_head_qkv_offset(cfg, 0, h);
                gemm_nn(qt, E, c->embed, D, p->W_Q + w, E, BT, E, D, false);
                gemm_nn(kt, E, c->embed, D, p->W_K + w, E, BT, E, D, false);
                gemm_nn(qp, E, p->W_pos, D, p->W_Q + w, E, T, E, D, false);
                add_bias_rows(qp, E, p->b_Q + (size_t)h * E, T, E);
                gemm_nn(kp, E, p->W_pos, D, p->W_K + w, E, T, E, D, false);
                add_bias_rows(kp, E, p->b_K + (size_t)h * E, T, E);
                unsigned off = iv->qk_terms_off;
                for (int b = 0; b < B; b++) {
                    float *s = sc + ((size_t)b * H + h) * T * T;
                    const float *qtb = qt + (size_t)b * T * E, *ktb = kt + (size_t)b * T * E;
                    memset(s, 0, (size_t)T * T * sizeof *s);
                    if (!(off & QK_TERM_TOK_TOK))
                        gemm_nt(s, T, qtb, E, ktb, E, T, T, E, true);
                    if (!(off & QK_TERM_TOK_POS))
                        gemm_nt(s, T, qtb, E, kp, E, T, T, E, true);
                    if (!(off & QK_TERM_POS_TOK))
                        gemm_nt(s, T, qp, E, ktb, E, T, T, E, true);
                    if (!(off & QK_TERM_POS_POS))
                        gemm_nt(s, T, qp, E, kp, E, T, T, E, true);
                }
            } else {
                for (int b = 0; b < B; b++)
                    gemm_nt(sc + ((size_t)b * H + h) * T * T, T, q + (size_t)b * T * HE + h * E, HE,
                            k + (size_t)b * T * HE + h * E, HE, T, T, E, false);
            }
            for (int b = 0; b < B; b++) {
                float *s = sc + ((size_t)b * H + h) * T * T, *pr = pat + ((size_t)b * H + h) * T * T;
                for (int qi = 0; qi < T; qi++)
                    attention_row(s + (size_t)qi * T, pr + (size_t)qi * T, qi, T, div, on, iv);
                /* z = pattern v: [T, T] x [T, E] */
                gemm_nn(z + (size_t)b * T * HE + h * E, HE, pr, T, v + (size_t)b * T * HE + h * E, HE, T, E, T, false);
                if (iv->ablate_position >= 0 && iv->ablate_position < T && iv_ablated(iv, l, h, iv->ablate_position)) {
                    float *zr = z + ((size_t)b * T + iv->ablate_position) * HE + h * E;
                    if (iv->ablate_kind == ABLATE_MEAN)
                        memcpy(zr, iv->ablate_mean_z + (size_t)h * E, (size_t)E * sizeof(float));
                    else
                        memset(zr, 0, (size_t)E * sizeof(float));
                }
            }
        }
        /* attn_out = z W_O + b_O: [B*T, H*E] x [H*E, D], W_O[l] being [H, E, D] */
        gemm_nn(ao, D, z, HE, p->W_O + (size_t)l * HE * D, D, BT, D, HE, false);
        add_bias_rows(ao, D, p->b_O + (size_t)l * D, BT, D);
        vadd(rp, x, ao, BT * D, false);
    }
    const float *last = c->resid_post + (size_t)(L - 1) * BT * D;
    if (iv->drop_direct) {
        /* x0 is free again: the stream without W_E[t] + W_pos[p] */
        for (size_t i = 0; i < (size_t)BT * D; i++)
            x0[i] = last[i] - c->embed[i] - c->pos_embed[i];
        last = x0;
    }
    gemm_nn(c->logits, Vo, last, D, p->W_U, Vo, BT, Vo, D, false);
    add_bias_rows(c->logits, Vo, p->b_U, BT, Vo);
    return 0;
}

/* ---- tables path --------------------------------------------------------------------- */

int tables_run_begin(TablesRun *r, const Model *m, int T, ActCache *c, const Intervention *iv, SlError *err)
{
    const ModelConfig *cfg = &m->cfg;
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
    r->fused = r->wide && r->E % 128 == 0 && r->D % 128 == 0 && r->Vo >= 16 && r->Vo <= 64;
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
    const ModelParams *p = &m->params;
    if (r->iv->drop_direct) {
        /* the logits' constant part without the direct path: b_O W_U + b_U */
        memcpy(r->bias_out, p->b_U, Vo * sizeof(float));
        gemm_nn(r->bias_out, (int)Vo, p->b_O, (int)D, p->W_U, (int)Vo, 1, (int)Vo, (int)D, true);
    }
    if (r->iv->ablate_position >= 0 && r->iv->ablate_kind == ABLATE_MEAN) {
        /* what a head adds to attn_out and to the logits when its z is the mean */
        for (int h = 0; h < r->H; h++) {
            gemm_nn(r->abl_vo + h * D, (int)D, r->iv->ablate_mean_z + h * (size_t)r->E, r->E,
                    p->W_O + h * (size_t)r->E * D, (int)D, 1, (int)D, r->E, false);
            gemm_nn(r->abl_ov + h * Vo, (int)Vo, r->abl_vo + h * D, (int)D, p->W_U, (int)Vo, 1, (int)Vo, (int)D, false);
        }
    }
    return 0;
}

/* Key-side rows of positions keys_ready..k_end-1: what each key position
 * contributes to the logits (ov) and, for the full cache, to attn_out (vo). */
SL_INLINE void tables_keys(TablesRun *r, const int *tok, int k_end, bool with_vo)
{
    const CircuitTables *tb = r->tb;
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
    const CircuitTables *tb = r->tb;
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
        if (!(off & QK_TERM_TOK_TOK))
            a += tt[tok[k]];
        if (!(off & QK_TERM_POS_TOK))
            a += pt[tok[k]];
        if (!(off & QK_TERM_TOK_POS))
            a += tp[k];
        if (!(off & QK_TERM_POS_POS))
            a += pp[k];
        s[k] = a / div;
        mx = s[k] > mx ? s[k] : mx;
    }
    return mx;
}

/* Does head h compute its attention as the model does (no QK term removed,
 * no source blocked, no row forced)? */
SL_INLINE bool tables_plain_attention(const TablesRun *r, int h)
{
    const Intervention *iv = r->iv;
    return !(iv_on(iv, 0, h) && (iv->qk_terms_off || iv->block_source >= 0 || iv->force_query >= 0));
}

/* The scores and pattern of query q (keys 0..q; keys up to len masked)
 * for head h.  A head whose attention no intervention changes takes the
 * AVX-512 row where the CPU has it; the sums are the same as in
 * tables_qk_row, and so are the scaled scores. */
SL_INLINE void tables_attention_row(const TablesRun *r, int h, const int *tok, int q, int len, float *restrict s,
                                    float *restrict pr)
{
    const Intervention *iv = r->iv;
    bool on = iv_on(iv, 0, h);
#ifdef SL_WIDE_SOFTMAX
    if (r->wide && tables_plain_attention(r, h)) {
        const QkRows rows = tables_qk_rows(r, h, tok, q);
        attention_row_wide(rows.tt, rows.pt, rows.tp, rows.pp, tok, r->div, q, len, s, pr);
        return;
    }
#endif
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
    const Intervention *iv = r->iv;
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
        if (iv_ablated(iv, 0, h, q) && iv->ablate_kind == ABLATE_MEAN)
            vacc(logits_row, r->abl_ov + (size_t)h * r->Vo, r->Vo);
}

/* The whole cache for sequence b (T tokens) from the tables. */
SL_CLONES
static void tables_sequence(TablesRun *r, const int *tok, int b, int T, ActCache *c)
{
    const CircuitTables *tb = r->tb;
    const Intervention *iv = r->iv;
    const ModelParams *p = &r->m->params;
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
    for (int h = 0; h < H; h++) {
#ifdef SL_WIDE_SOFTMAX
        if (r->wide && tables_plain_attention(r, h)) {
            attention_matrix_wide(tb->qk_tok_tok + (size_t)h * V * V, tb->qk_tok_pos + (size_t)h * V * Tn,
                                  tb->qk_pos_tok + (size_t)h * Tn * V, tb->qk_pos_pos + (size_t)h * Tn * Tn, V, Tn, tok,
                                  r->div, T, sc + (size_t)h * T * T, pat + (size_t)h * T * T, r->row_scores,
                                  r->row_pattern);
            continue;
        }
#endif
        for (int t = 0; t < T; t++)
            tables_attention_row(r, h, tok, t, T, sc + ((size_t)h * T + t) * T, pat + ((size_t)h * T + t) * T);
    }

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
                if (iv->ablate_kind == ABLATE_MEAN)
                    vcopy(zr, iv->ablate_mean_z + (size_t)h * E, E, r->wide);
                else
                    memset(zr, 0, (size_t)E * sizeof(float));
                continue;
            }
#ifdef SL_WIDE_SOFTMAX
            if (r->fused) {
                combine3_wide(prow, t + 1, v + h * E, (size_t)HE, zr, E, r->vo_rows + (size_t)h * r->T * D, at, D,
                              started ? at : p->b_O, r->ov_rows + (size_t)h * r->T * Vo, lt, Vo,
                              started ? lt : base_a, started ? NULL : base_b);
                started = true;
                continue;
            }
#endif
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
            if (iv_ablated(iv, 0, h, t) && iv->ablate_kind == ABLATE_MEAN) {
                vacc(at, r->abl_vo + (size_t)h * D, D);
                vacc(lt, r->abl_ov + (size_t)h * Vo, Vo);
            }
        vadd3(rp + (size_t)t * D, et, pt, at, D, r->wide);
    }
}

static int forward_tables(const Model *m, const int *tokens, int B, int T, ActCache *c, const Intervention *iv,
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

/* ---- entry points ------------------------------------------------------------------------ */

int model_forward(const Model *m, const int *tokens, int B, int T, ActCache *cache, const Intervention *iv,
                  ForwardPath path, SlError *err)
{
    int rc = forward_check_call(m, tokens, B, T, cache, err);
    if (rc)
        return rc;
    if ((rc = intervention_validate(iv, &m->cfg, err)))
        return rc;
    int resolved = forward_resolve_path(m, path, err);
    if (resolved < 0)
        return resolved;
    cache->B = B;
    cache->T = T;
    iv = iv_or_none(iv);
    return resolved == FORWARD_TABLES ? forward_tables(m, tokens, B, T, cache, iv, err)
                                      : forward_general(m, tokens, B, T, cache, iv, err);
}

int forward_logits_rows(const Model *m, const int *tokens, int B, int T, int q0, int q1, ActCache *c,
                        const Intervention *iv, ForwardPath path, SlError *err)
{
    int rc = forward_check_call(m, tokens, B, T, c, err);
    if (rc)
        return rc;
    if ((rc = intervention_validate(iv, &m->cfg, err)))
        return rc;
    if (q0 < 0 || q1 > T || q0 >= q1)
        return sl_error_set(err, SL_EINVAL, "logits of positions %d..%d of %d", q0, q1 - 1, T);
    int resolved = forward_resolve_path(m, path, err);
    if (resolved < 0)
        return resolved;
    if (resolved == FORWARD_GENERAL)   /* nothing to save there: the rows need every layer below */
        return model_forward(m, tokens, B, T, c, iv, FORWARD_GENERAL, err);
    c->B = B;
    c->T = T;
    TablesRun r;
    if ((rc = tables_run_begin(&r, m, T, c, iv, err)))
        return rc;
    const int Vo = m->cfg.d_vocab_out;
    for (int b = 0; b < B; b++) {
        tables_run_reset(&r);
        for (int qi = q0; qi < q1; qi++)
            tables_run_query(&r, tokens + (size_t)b * T, qi, c->logits + ((size_t)b * T + qi) * Vo);
    }
    return 0;
}
