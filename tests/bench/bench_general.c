/* bench_general.c: the general path in process, for a model of L layers and
 * H heads (d_model 128, lists of 10 values in 0..49, TransformerLens
 * initialisation): one training step at batch B (loss, gradient, AdamW),
 * one forward of B lists with every activation kept, and the sgemm floor:
 * the matrix products a training step makes (backward_general.c's header
 * lists them), each timed alone in cblas_sgemm on the same shapes, summed.
 * The attention's own products (T x T x E per list and head, a tenth of
 * the work) are fused row loops on both sides and are not in the floor.
 * Prints medians (ms) of repeated runs, CPU time (with 2 threads, both
 * threads' sum) and for the step also the wall clock, for bench_general.py.
 * Usage: bench-general LAYERS HEADS [BATCH [REPEATS [THREADS]]]   (nothing is asserted) */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sortlens/forward.h"
#include "sortlens/task.h"
#include "sortlens/train.h"

static double clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}
static double cpu_ms(void) { return clock_ms(CLOCK_PROCESS_CPUTIME_ID); }

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* One product C[M,N] = op(A) op(B), as the step makes it. */
typedef struct Gemm {
    int ta, tb, M, N, K;
} Gemm;

/* The products of one training step on the general path (forward_general_rows
 * and general_backward), B lists, T = 2n + 1 positions run, N = B n rows. */
static int step_products(const SlModelConfig *c, int B, Gemm *g)
{
    const int L = c->n_layers, D = c->d_model, HE = c->n_heads * c->d_head, V = c->d_vocab, Vo = c->d_vocab_out;
    const int T = 2 * c->list_len + 1, BT = B * T, N = B * c->list_len;
    int k = 0;
#define P(a, b, m, n_, kk) (g[k++] = (Gemm){a, b, m, n_, kk})
    P(0, 0, V, 3 * HE, D);   /* layer 0's tables, forward */
    P(0, 0, T, 3 * HE, D);
    for (int l = 0; l < L; l++) {
        bool last = l == L - 1;
        if (l > 0) {
            P(0, 0, BT, HE, D);   /* k, v */
            P(0, 0, BT, HE, D);
            P(0, 0, last ? N : BT, HE, D);   /* q */
        }
        P(0, 0, last ? N : BT, D, HE);   /* z W_O */
    }
    P(0, 0, N, Vo, D);   /* unembed */
    P(1, 0, D, Vo, N);   /* dW_U, d out */
    P(0, 1, N, D, Vo);
    for (int l = L - 1; l >= 0; l--) {
        bool last = l == L - 1;
        int rows = last ? N : BT;
        P(1, 0, HE, D, rows);   /* dW_O, dz */
        P(0, 1, rows, HE, D);
        if (l == 0) {
            P(1, 0, D, 3 * HE, V);   /* the tables' gradients */
            P(1, 0, D, 3 * HE, T);
            P(0, 1, V, D, 3 * HE);
            P(0, 1, T, D, 3 * HE);
        } else if (last) {
            P(1, 0, D, 2 * HE, BT);
            P(1, 0, D, HE, N);
            P(0, 1, BT, D, 2 * HE);
            P(0, 1, N, D, HE);
        } else {
            P(1, 0, D, 3 * HE, BT);
            P(0, 1, BT, D, 3 * HE);
        }
    }
#undef P
    return k;
}

static double floor_ms(const SlModelConfig *c, int B, int repeats)
{
    Gemm g[16 + 8 * SL_MODEL_MAX_LAYERS];
    int ng = step_products(c, B, g);
    size_t big = 0;
    for (int i = 0; i < ng; i++) {
        size_t a = (size_t)g[i].M * g[i].K, b = (size_t)g[i].K * g[i].N, cc = (size_t)g[i].M * g[i].N;
        big = a > big ? a : big;
        big = b > big ? b : big;
        big = cc > big ? cc : big;
    }
    float *A = calloc(big, sizeof(float)), *Bm = calloc(big, sizeof(float)), *C = calloc(big, sizeof(float));
    double *t = malloc((size_t)repeats * sizeof *t), gflop = 0;
    for (int i = 0; i < ng; i++)
        gflop += 2.0 * g[i].M * g[i].N * g[i].K / 1e9;
    for (int r = 0; r < repeats; r++) {
        double t0 = cpu_ms();
        for (int i = 0; i < ng; i++) {
            const Gemm *p = &g[i];
            cblas_sgemm(CblasRowMajor, p->ta ? CblasTrans : CblasNoTrans, p->tb ? CblasTrans : CblasNoTrans, p->M, p->N,
                        p->K, 1.0f, A, p->ta ? p->M : p->K, Bm, p->tb ? p->K : p->N, 0.0f, C, p->N);
        }
        t[r] = cpu_ms() - t0;
    }
    double ms = median(t, repeats);
    printf("sgemm floor: %.2f ms CPU (%d products, %.2f GFLOP, %.1f GFLOP/s)\n", ms, ng, gflop, gflop / ms * 1e3);
    free(A);
    free(Bm);
    free(C);
    free(t);
    return ms;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench-general LAYERS HEADS [BATCH [REPEATS [THREADS]]]\n");
        return 2;
    }
    SlModelConfig cfg = {.n_layers = atoi(argv[1]), .n_heads = atoi(argv[2]), .d_model = 128, .d_vocab_out = 50,
                         .list_len = 10};
    int B = argc > 3 ? atoi(argv[3]) : 256, repeats = argc > 4 ? atoi(argv[4]) : 20, threads = argc > 5 ? atoi(argv[5]) : 1;
    if (cfg.n_heads < 1 || 128 % cfg.n_heads != 0 || B < 1 || repeats < 1 || threads < 1) {
        fprintf(stderr, "bench-general: heads must divide 128; batch, repeats and threads at least 1\n");
        return 2;
    }
    cfg.d_head = 128 / cfg.n_heads;
    sl_model_config_derive(&cfg);
    SlError err = {0};
    SlModel *m = sl_model_new(&cfg, &err);
    if (!m) {
        fprintf(stderr, "bench-general: %s\n", err.message);
        return 1;
    }
    openblas_set_num_threads(threads);
    sl_train_init_params(m, 1);
    SlTrainOptions o;
    sl_train_options_default(&o);
    o.batch = B;
    SlTrainer *t = sl_trainer_new(m, &o, &err);
    SlActCache *cache = sl_cache_new(&cfg, B, cfg.n_ctx, &err);
    int *tokens = malloc((size_t)B * cfg.n_ctx * sizeof *tokens);
    double *ts = malloc((size_t)repeats * sizeof *ts), *tw = malloc((size_t)repeats * sizeof *tw);
    if (!t || !cache || !tokens || !ts || !tw) {
        fprintf(stderr, "bench-general: %s\n", err.message[0] ? err.message : "out of memory");
        return 1;
    }
    printf("model: %d layers, %d heads, d_model 128, batch %d, %d thread(s)\n", cfg.n_layers, cfg.n_heads, B, threads);
    double loss;
    for (int r = 0; r < 2; r++)   /* untimed: first-touch of the workspaces */
        sl_trainer_step(t, &loss, &err);
    for (int r = 0; r < repeats; r++) {
        double t0 = cpu_ms(), w0 = clock_ms(CLOCK_MONOTONIC);
        if (sl_trainer_step(t, &loss, &err)) {
            fprintf(stderr, "bench-general: %s\n", err.message);
            return 1;
        }
        ts[r] = cpu_ms() - t0;
        tw[r] = clock_ms(CLOCK_MONOTONIC) - w0;
    }
    double step_cpu = median(ts, repeats);
    printf("train step: %.2f ms CPU, %.2f ms wall (medians of %d)\n", step_cpu, median(tw, repeats), repeats);
    SlRng rng;
    sl_rng_seed(&rng, 3);
    for (int b = 0; b < B; b++) {
        int values[SL_MODEL_MAX_CTX];
        sl_task_random_list(&cfg, &rng, values);
        sl_task_make_tokens(&cfg, values, tokens + (size_t)b * cfg.n_ctx);
    }
    sl_model_forward(m, tokens, B, cfg.n_ctx, cache, NULL, SL_FORWARD_GENERAL, &err);
    for (int r = 0; r < repeats; r++) {
        double t0 = cpu_ms();
        sl_model_forward(m, tokens, B, cfg.n_ctx, cache, NULL, SL_FORWARD_GENERAL, &err);
        ts[r] = cpu_ms() - t0;
    }
    printf("forward, full cache: %.2f ms CPU (median of %d)\n", median(ts, repeats), repeats);
    floor_ms(&cfg, B, repeats);
    free(ts);
    free(tw);
    free(tokens);
    sl_cache_free(cache);
    sl_trainer_free(t);
    sl_model_free(m);
    return 0;
}
