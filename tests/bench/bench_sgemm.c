/* bench_sgemm.c: OpenBLAS's sgemm at one of the trainer's shapes, C[M,N] =
 * A[M,K] B[K,N] with M = 5632 (256 lists x 22 positions), N = K = 128
 * (d_model), on one thread, with the kernels OpenBLAS chose (set
 * OPENBLAS_CORETYPE before the program starts to choose others;
 * bench_sgemm.sh runs it with each, side by side).
 *
 * usage: bench-sgemm [ROUNDS]   prints "KERNELS GFLOPS" (the best of the
 * rounds: each about 50 ms of products). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    const int M = 5632, N = 128, K = 128;
    int rounds = argc > 1 ? atoi(argv[1]) : 5;
    if (rounds < 1)
        rounds = 1;
    openblas_set_num_threads(1);
    float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * K * N), *c = malloc(sizeof(float) * M * N);
    if (!a || !b || !c)
        return 1;
    for (int i = 0; i < M * K; i++)
        a[i] = (float)(((unsigned)i * 7919u) % 1000u) / 1000.0f - 0.5f;
    for (int i = 0; i < K * N; i++)
        b[i] = (float)(((unsigned)i * 104729u) % 1000u) / 1000.0f - 0.5f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);   /* warm */
    double best = 0;
    for (int r = 0; r < rounds; r++) {
        int reps = 0;
        double t0 = now(), t;
        do {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
            reps++;
        } while ((t = now() - t0) < 0.05);
        double gflops = 2.0 * M * N * K * reps / t / 1e9;
        if (gflops > best)
            best = gflops;
    }
    printf("%s %.1f\n", openblas_get_corename(), best);
    free(a);
    free(b);
    free(c);
    return 0;
}
