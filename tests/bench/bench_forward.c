/* bench_forward.c: how long the engine takes, in process: one list's
 * forward pass with the whole activation cache filled (B = 1, T = n_ctx) on
 * each path, greedy decoding of one list, and decode_eval over 10,000
 * lists.  Prints medians over repeated timed runs (the machine may be busy).
 * Usage: bench-forward MODEL   (a benchmark, not a test: nothing is asserted;
 * exit 77, meson's "skipped", when MODEL is absent) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sortlens/checkpoint.h"
#include "sortlens/decode.h"
#include "sortlens/forward.h"
#include "sortlens/task.h"

typedef struct Bench {
    Model *m;
    ActCache *cache;
    int values[MODEL_MAX_CTX], tokens[MODEL_MAX_CTX], out[MODEL_MAX_CTX];
    ForwardPath path;
    volatile float sink;
} Bench;

static double now(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Medians over `rounds` of the mean time of `iters` calls, in microseconds:
 * by the wall clock, and in CPU time of this thread (which leaves out the
 * time other processes had the CPU: the machine may be shared). */
typedef struct Timing { double wall, cpu; } Timing;

static Timing median_us(Bench *b, void (*call)(Bench *), int rounds, int iters)
{
    double w[64], c[64];
    if (rounds > 64)
        rounds = 64;
    for (int r = 0; r < rounds; r++) {
        double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_THREAD_CPUTIME_ID);
        for (int i = 0; i < iters; i++)
            call(b);
        c[r] = (now(CLOCK_THREAD_CPUTIME_ID) - c0) / iters * 1e6;
        w[r] = (now(CLOCK_MONOTONIC) - w0) / iters * 1e6;
    }
    qsort(w, (size_t)rounds, sizeof w[0], cmp_double);
    qsort(c, (size_t)rounds, sizeof c[0], cmp_double);
    return (Timing){w[rounds / 2], c[rounds / 2]};
}

static void one_forward(Bench *b)
{
    model_forward(b->m, b->tokens, 1, b->m->cfg.n_ctx, b->cache, NULL, b->path, NULL);
    b->sink += b->cache->logits[0];
}

static void one_greedy(Bench *b)
{
    decode_greedy_path(b->m, b->values, 1, b->out, NULL, b->cache, NULL, b->path, NULL);
    b->sink += (float)b->out[0];
}

static void eval_10k(Bench *b)
{
    EvalResult res;
    decode_eval_path(b->m, 10000, 1, NULL, b->path, &res, NULL, NULL, NULL);
    b->sink += (float)res.loss;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench-forward MODEL\n");
        return 2;
    }
    if (access(argv[1], R_OK) != 0) {
        printf("skipped: %s is absent\n", argv[1]);
        return 77;
    }
    static Bench b;
    SlError err = {0};
    b.m = ckpt_load(argv[1], &err);
    if (!b.m) {
        fprintf(stderr, "bench-forward: %s\n", err.message);
        return 1;
    }
    const ModelConfig *c = &b.m->cfg;
    b.cache = cache_new(c, 1, c->n_ctx, &err);
    Rng rng;
    rng_seed(&rng, 1);
    task_random_list(c, &rng, b.values);
    task_make_tokens(c, b.values, b.tokens);
    printf("model: %d layer(s), %d head(s), d_model %d, d_head %d, n_ctx %d\n", c->n_layers, c->n_heads, c->d_model,
           c->d_head, c->n_ctx);
    const ForwardPath paths[2] = {FORWARD_TABLES, FORWARD_GENERAL};
    const char *names[2] = {"tables", "general"};
    for (int p = c->n_layers == 1 ? 0 : 1; p < 2; p++) {
        b.path = paths[p];
        one_forward(&b);   /* the first call sizes the workspace */
        Timing t = median_us(&b, one_forward, 15, p == 0 ? 20000 : 2000);
        printf("forward, one list, full cache, %s path: %.3f us wall, %.3f us CPU (medians of 15 runs)\n", names[p],
               t.wall, t.cpu);
        t = median_us(&b, one_greedy, 15, p == 0 ? 20000 : 500);
        printf("greedy decoding, one list, %s path: %.3f us wall, %.3f us CPU (medians of 15 runs)\n", names[p], t.wall,
               t.cpu);
        if (p == 0) {   /* the general path takes seconds here: see bench_eval.py for eval */
            t = median_us(&b, eval_10k, 5, 1);
            printf("decode_eval, 10000 lists, %s path: %.1f ms wall, %.1f ms CPU (medians of 5 runs)\n", names[p],
                   t.wall / 1000, t.cpu / 1000);
        }
    }
    cache_free(b.cache);
    model_free(b.m);
    return 0;
}
