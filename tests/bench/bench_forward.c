/* bench_forward.c: latency of one list's forward pass with the whole
 * activation cache filled (B = 1, T = n_ctx), on each path, and of the
 * pieces evaluation uses.  Prints the median over repeated timed runs.
 * Usage: bench-forward MODEL [ROUNDS]   (not a test: nothing is asserted) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sortlens/checkpoint.h"
#include "sortlens/decode.h"
#include "sortlens/forward.h"
#include "sortlens/task.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median over `rounds` of the mean time of `iters` calls, in microseconds. */
#define MEDIAN_US(rounds, iters, call)                                  \
    ({                                                                  \
        double t_[rounds];                                              \
        for (int r_ = 0; r_ < (rounds); r_++) {                         \
            double t0_ = now();                                         \
            for (int i_ = 0; i_ < (iters); i_++)                        \
                call;                                                   \
            t_[r_] = (now() - t0_) / (iters) * 1e6;                     \
        }                                                               \
        qsort(t_, (rounds), sizeof(double), cmp_double);                \
        t_[(rounds) / 2];                                               \
    })

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench-forward MODEL\n");
        return 2;
    }
    SlError err = {0};
    Model *m = ckpt_load(argv[1], &err);
    if (!m) {
        fprintf(stderr, "bench-forward: %s\n", err.message);
        return 1;
    }
    const ModelConfig *c = &m->cfg;
    const int T = c->n_ctx, n = c->list_len;
    ActCache *cache = cache_new(c, 1, T, &err);
    int values[MODEL_MAX_CTX], tokens[MODEL_MAX_CTX], out[MODEL_MAX_CTX];
    Rng rng;
    rng_seed(&rng, 1);
    task_random_list(c, &rng, values);
    task_make_tokens(c, values, tokens);
    volatile float sink = 0;
    enum { ROUNDS = 15 };
    printf("model: %d layer(s), %d head(s), d_model %d, d_head %d, n_ctx %d\n", c->n_layers, c->n_heads, c->d_model,
           c->d_head, T);
    if (c->n_layers == 1) {
        double us = MEDIAN_US(ROUNDS, 20000, (model_forward(m, tokens, 1, T, cache, NULL, FORWARD_TABLES, NULL),
                                              sink += cache->logits[0]));
        printf("forward, one list, full cache, tables path: %.3f us (median of %d runs)\n", us, ROUNDS);
    }
    double us = MEDIAN_US(ROUNDS, 2000, (model_forward(m, tokens, 1, T, cache, NULL, FORWARD_GENERAL, NULL),
                                         sink += cache->logits[0]));
    printf("forward, one list, full cache, general path: %.3f us (median of %d runs)\n", us, ROUNDS);
    us = MEDIAN_US(ROUNDS, 20000, (decode_greedy(m, values, 1, out, NULL, cache, NULL, NULL), sink += (float)out[n - 1]));
    printf("greedy decoding, one list (default path): %.3f us (median of %d runs)\n", us, ROUNDS);
    cache_free(cache);
    model_free(m);
    return sink == 12345.0f;
}
