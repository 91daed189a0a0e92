/* ops.h: the small numerical operations every part of the engine uses, one
 * copy each for the whole project: matrix products (OpenBLAS), bias rows,
 * softmax, argmax, log-sum-exp.  The forward paths, the decoder, the
 * trainer, the tables builder and the circuits all call these.
 *
 * The row operations are static inline so that the vectorized tables path
 * (forward_tables.c, compiled for several instruction sets) inlines them
 * into each of its clones: a call from AVX code into baseline code costs
 * more than the work of one row. */
#ifndef SORTLENS_OPS_H
#define SORTLENS_OPS_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#if defined(__GNUC__)
#define OPS_INLINE static inline __attribute__((always_inline))
#else
#define OPS_INLINE static inline
#endif

/* C[M,N] = alpha op(A) op(B) + beta C, row-major, op = transpose when ta/tb:
 * every matrix product of sortlens goes through here (cblas_sgemm). */
void ops_gemm(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc);

/* C[M,N] (+)= A[M,K] B[K,N], leading dimensions given */
static inline void ops_gemm_nn(float *C, int ldc, const float *A, int lda, const float *B, int ldb, int M, int N, int K,
                               bool acc)
{
    ops_gemm(false, false, M, N, K, 1.0f, A, lda, B, ldb, acc ? 1.0f : 0.0f, C, ldc);
}

/* C[M,N] (+)= A[M,K] B[N,K]^T */
static inline void ops_gemm_nt(float *C, int ldc, const float *A, int lda, const float *B, int ldb, int M, int N, int K,
                               bool acc)
{
    ops_gemm(false, true, M, N, K, 1.0f, A, lda, B, ldb, acc ? 1.0f : 0.0f, C, ldc);
}

/* X[r, 0:n] += bias[0:n] for `rows` rows ld apart */
void ops_add_bias_rows(float *X, int ld, const float *bias, int rows, int n);

/* sum[0:n] += X[r, 0:n] over `rows` rows ld apart (a bias's gradient) */
void ops_sum_rows(float *sum, const float *X, int ld, int rows, int n);

/* Index of the largest of x[0..n), the first on a tie (as torch.argmax).
 * The one NaN rule of the project: a NaN is never chosen (0 when every
 * entry is NaN). */
int ops_argmax(const float *x, int n);

/* e^-80 (1.8e-35): smaller softmax weights are set to zero instead of
 * computed.  They cannot change a float sum that also holds the largest
 * weight (>= 1/n), and as subnormal numbers (which they would become once
 * normalized) they cost x86 a hundred cycles in every later multiply. */
#define OPS_EXP_FLOOR (-80.0f)

/* Four floats as one value (GCC vector extensions: portable C that every
 * x86-64 and arm64 target keeps in one register).  The row loops below use
 * them because -O2 vectorizes no loop whose length it does not know;
 * memcpy moves them without alignment assumptions. */
#if defined(__GNUC__)
#define OPS_HAVE_V4 1
typedef float ops_v4 __attribute__((vector_size(16)));
OPS_INLINE ops_v4 ops_v4_load(const float *p)
{
    ops_v4 v;
    memcpy(&v, p, sizeof v);
    return v;
}
OPS_INLINE void ops_v4_store(float *p, ops_v4 v) { memcpy(p, &v, sizeof v); }
typedef int ops_v4i __attribute__((vector_size(16)));

/* e^x of four floats x in [OPS_EXP_FLOOR, 0], within 2 ulp of expf there
 * (below -88: e^-88 or so; callers mask what is under OPS_EXP_FLOOR)
 * (tests/core/test_decode.c): Cephes's expf (S. Moshier), portable: x =
 * k ln 2 + r with |r| <= ln 2 / 2 (ln 2 in two parts, so that k ln 2 is
 * exact), e^r by its degree-7 polynomial, times 2^k written into the
 * exponent bits.  The log-sum-exp of every eval row spends most of its
 * time in expf, one value at a time, without it.  Written once, over any
 * GCC vector of floats VF whose integer twin is VI: kernels.c defines its
 * row-wide one (8 lanes with AVX2) with it. */
#define OPS_DEFINE_VEXP(name, VF, VI)                                                                  \
    OPS_INLINE VF name(VF x)                                                                           \
    {                                                                                                  \
        VI in_range = x >= -88.0f; /* else (below, or NaN) -88: no conversion below overflows */      \
        x = (VF)(((VI)x & in_range) | ((VI)((VF){0} - 88.0f) & ~in_range));                          \
        VF fx = x * 1.44269504088896341f + 0.5f; /* k = floor(x log2(e) + 1/2) */                     \
        VI k = __builtin_convertvector(fx, VI);                                                        \
        k += (VI)(__builtin_convertvector(k, VF) > fx); /* truncation made a floor: -1 where true */   \
        VF kf = __builtin_convertvector(k, VF);                                                        \
        VF r = x - kf * 0.693359375f - kf * -2.12194440e-4f;                                           \
        VF p = 1.9875691500e-4f * r + 1.3981999507e-3f;                                                \
        p = p * r + 8.3334519073e-3f;                                                                  \
        p = p * r + 4.1665795894e-2f;                                                                  \
        p = p * r + 1.6666665459e-1f;                                                                  \
        p = p * r + 5.0000001201e-1f;                                                                  \
        p = p * r * r + r + 1.0f;                                                                      \
        VI scale = (k + 127) << 23; /* 2^k, k >= -127: a float (below 2^-126, +0 or tiny) */           \
        return p * (VF)scale;                                                                          \
    }
OPS_DEFINE_VEXP(ops_v4_exp, ops_v4, ops_v4i)
#endif

OPS_INLINE float ops_row_max(const float *s, int n)
{
    float mx = -INFINITY;
    for (int k = 0; k < n; k++)
        mx = s[k] > mx ? s[k] : mx;
    return mx;
}

/* p[k] = exp(s[k] - mx) for k < n (0 below OPS_EXP_FLOOR, NaN for NaN);
 * returns their sum (four lanes, then the rest in order). */
OPS_INLINE float ops_exp_shifted(const float *s, float mx, float *p, int n)
{
    float sum = 0.0f;
    int k = 0;
#ifdef OPS_HAVE_V4
    ops_v4 acc = {0};
    for (; k + 4 <= n; k += 4) {
        ops_v4 d = ops_v4_load(s + k) - mx;
        ops_v4i nan = d != d, under = d < OPS_EXP_FLOOR;
        ops_v4i e = ((ops_v4i)ops_v4_exp(d) & ~nan & ~under) | ((ops_v4i)d & nan);
        ops_v4_store(p + k, (ops_v4)e);
        acc += (ops_v4)e;
    }
    sum = (acc[0] + acc[1]) + (acc[2] + acc[3]);
#endif
    for (; k < n; k++) {
        float d = s[k] - mx;
        p[k] = d < OPS_EXP_FLOOR ? 0.0f : expf(d);
        sum += p[k];
    }
    return sum;
}

/* Softmax of s[0..n), whose largest entry is mx, into p[0..n) (p may be s); all zeros
 * when every entry is -inf (a query left with no key). */
OPS_INLINE void ops_softmax_max(const float *s, float mx, float *p, int n)
{
    if (mx == -INFINITY) {
        memset(p, 0, (size_t)n * sizeof *p);
        return;
    }
    float inv = 1.0f / ops_exp_shifted(s, mx, p, n);
    for (int k = 0; k < n; k++)
        p[k] *= inv;
}


/* a . b over n floats, in 8 independent partial sums (a float reduction
 * the compiler may not reorder by itself, so it would not vectorize);
 * partial sum j takes the products i = j mod 8, in the same order with
 * vectors or without. */
OPS_INLINE float ops_dot(const float *a, const float *b, int n)
{
    float s[8] = {0};
    int i = 0;
#ifdef OPS_HAVE_V4
    ops_v4 lo = {0}, hi = {0};
    for (; i + 8 <= n; i += 8) {
        lo += ops_v4_load(a + i) * ops_v4_load(b + i);
        hi += ops_v4_load(a + i + 4) * ops_v4_load(b + i + 4);
    }
    ops_v4_store(s, lo);
    ops_v4_store(s + 4, hi);
#else
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            s[j] += a[i + j] * b[i + j];
#endif
    float t = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; i < n; i++)
        t += a[i] * b[i];
    return t;
}

/* y[0:n] += alpha x[0:n] */
OPS_INLINE void ops_axpy(float *restrict y, float alpha, const float *restrict x, int n)
{
    int i = 0;
#ifdef OPS_HAVE_V4
    for (; i + 4 <= n; i += 4)
        ops_v4_store(y + i, ops_v4_load(y + i) + alpha * ops_v4_load(x + i));
#endif
    for (; i < n; i++)
        y[i] += alpha * x[i];
}

/* y[0:n] += x[0:n] */
OPS_INLINE void ops_add(float *restrict y, const float *restrict x, int n)
{
    int i = 0;
#ifdef OPS_HAVE_V4
    for (; i + 4 <= n; i += 4)
        ops_v4_store(y + i, ops_v4_load(y + i) + ops_v4_load(x + i));
#endif
    for (; i < n; i++)
        y[i] += x[i];
}

/* Softmax of s[0..n) into p[0..n) (p may be s). */
void ops_softmax(const float *s, float *p, int n);

/* log sum_j exp(x_j), the float terms summed in double, given the largest
 * x (mx).  Terms below e^-80 of the largest are left out: they cannot
 * change the sum (>= 1) in double either beyond 1e-35, and a confident
 * model has dozens per row. */
double ops_logsumexp_max(const float *x, int n, float mx);
double ops_logsumexp(const float *x, int n);

#endif
