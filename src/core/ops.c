/* ops.c: matrix products, bias rows, softmax, argmax and log-sum-exp, one
 * copy each for the whole project (see ops.h). */
#include "ops.h"

#include <cblas.h>

void ops_gemm(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
              float beta, float *C, int ldc)
{
    if (M == 1 && K > 0) {
        /* one row (a decoding step of one list): sgemm would pack all of B
         * for it, sgemv reads B once; y = op(B)^T a.  y zeroed first for
         * beta 0, so that nothing in it can survive as a NaN. */
        if (beta == 0.0f) {
            memset(C, 0, (size_t)N * sizeof *C);
            beta = 1.0f;
        }
        cblas_sgemv(CblasRowMajor, tb ? CblasNoTrans : CblasTrans, tb ? N : K, tb ? K : N, alpha, B, ldb, A,
                    ta ? lda : 1, beta, C, 1);
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda,
                B, ldb, beta, C, ldc);
}

void ops_add_bias_rows(float *X, int ld, const float *bias, int rows, int n)
{
    for (int r = 0; r < rows; r++)
        ops_add(X + (size_t)r * ld, bias, n);
}

void ops_sum_rows(float *sum, const float *X, int ld, int rows, int n)
{
    for (int r = 0; r < rows; r++)
        ops_add(sum, X + (size_t)r * ld, n);
}

/* Two passes: the maximum in 16 lanes (a select that compiles to a vector
 * max), then the first index holding it; a running "best index" would
 * chain every compare on a load.  NaN compares false, so it never becomes
 * the maximum. */
int ops_argmax(const float *x, int n)
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

void ops_softmax(const float *s, float *p, int n) { ops_softmax_max(s, ops_row_max(s, n), p, n); }

double ops_logsumexp_max(const float *x, int n, float mx)
{
    double se = 0.0;
    int j = 0;
#ifdef OPS_HAVE_V4
    double lane[4] = {0};   /* four sums in double, one a lane */
    for (; j + 4 <= n; j += 4) {
        ops_v4 d = ops_v4_load(x + j) - mx;
        ops_v4i keep = d >= OPS_EXP_FLOOR;   /* -1 (all bits) where kept */
        ops_v4 e = (ops_v4)((ops_v4i)ops_v4_exp(d) & keep);
        float t[4];
        ops_v4_store(t, e);
        for (int l = 0; l < 4; l++)
            lane[l] += t[l];
    }
    se = (lane[0] + lane[1]) + (lane[2] + lane[3]);
#endif
    for (; j < n; j++) {
        float d = x[j] - mx;
        if (d >= OPS_EXP_FLOOR)
            se += expf(d);
    }
    return (double)mx + log(se);
}

double ops_logsumexp(const float *x, int n) { return ops_logsumexp_max(x, n, x[ops_argmax(x, n)]); }
