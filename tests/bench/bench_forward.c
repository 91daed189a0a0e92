/* bench_forward.c: how long the engine takes, in process: one list's
 * forward pass with the whole activation cache filled (B = 1, T = n_ctx) on
 * each path, greedy decoding of one list, and sl_decode_eval over 10,000
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
#include "sortlens/tables.h"
#include "sortlens/task.h"

typedef struct Bench {
    SlModel *m;
    SlActCache *cache;
    int values[SL_MODEL_MAX_CTX], tokens[SL_MODEL_MAX_CTX], out[SL_MODEL_MAX_CTX];
    SlForwardPath path;
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
    sl_model_forward(b->m, b->tokens, 1, b->m->cfg.n_ctx, b->cache, NULL, b->path, NULL);
    b->sink += b->cache->logits[0];
}

/* y = a + b over n >= 16 floats, in 16-float vectors (the last one may
 * overlap), as the engine's AVX-512 code writes its rows */
typedef float v16 __attribute__((vector_size(64)));
static inline __attribute__((always_inline)) void add_row(float *y, const float *a, const float *b, int n)
{
    for (int i = 0; i < n; i += 16) {
        int j = i + 16 <= n ? i : n - 16;
        v16 x, z;
        memcpy(&x, a + j, sizeof x);
        memcpy(&z, b + j, sizeof z);
        x += z;
        memcpy(y + j, &x, sizeof x);
    }
}

/* What a one-layer forward costs in memory alone: every row of the cache
 * written once, from the table rows that feed it (q = q_tok + q_pos, ...,
 * and the key rows the sums read), with no attention and no weighted sums.
 * The outputs are meaningless; the traffic is the real forward's.  Needs
 * d_head, d_model, d_vocab_out and n_ctx of at least 16 and one head.
 * Compiled for AVX-512 where the CPU has it, like the engine's rows. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && defined(__x86_64__) && defined(__linux__)
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
static void memory_floor(Bench *b)
{
    const SlModel *m = b->m;
    const SlModelConfig *c = &m->cfg;
    const SlCircuitTables *tb = m->tables;
    SlActCache *ca = b->cache;
    const int T = c->n_ctx, D = c->d_model, E = c->d_head, Vo = c->d_vocab_out;
    static float vo[SL_MODEL_MAX_CTX * 512], ov[SL_MODEL_MAX_CTX * 64];   /* the key rows' scratch */
    for (int t = 0; t < T; t++) {
        const int k = b->tokens[t];
        add_row(ca->embed + t * D, m->params.W_E + k * D, m->params.W_E + k * D, D);
        add_row(ca->pos_embed + t * D, m->params.W_pos + t * D, m->params.W_pos + t * D, D);
        add_row(ca->q + t * E, tb->q_tok + k * E, tb->q_pos + t * E, E);
        add_row(ca->k + t * E, tb->k_tok + k * E, tb->k_pos + t * E, E);
        add_row(ca->v + t * E, tb->v_tok + k * E, tb->v_pos + t * E, E);
        add_row(vo + t * D, tb->vo_tok + k * D, tb->vo_pos + t * D, D);
        add_row(ov + t * Vo, tb->ov_tok + k * Vo, tb->ov_pos + t * Vo, Vo);
        add_row(ca->z + t * E, ca->v + t * E, vo + t * D, E);
        add_row(ca->attn_out + t * D, vo + t * D, ca->v + t * E, D);
        add_row(ca->resid_post + t * D, ca->attn_out + t * D, ca->embed + t * D, D);
        add_row(ca->logits + t * Vo, ov + t * Vo, ov + t * Vo, Vo);
        add_row(ca->scores + t * T, tb->qk_pos_pos + t * T, tb->qk_pos_pos + t * T, T);
        add_row(ca->pattern + t * T, tb->qk_pos_pos + t * T, tb->qk_pos_pos + t * T, T);
    }
    b->sink += ca->logits[0];
}

static void one_greedy(Bench *b)
{
    sl_decode_greedy_path(b->m, b->values, 1, b->out, NULL, b->cache, NULL, b->path, NULL);
    b->sink += (float)b->out[0];
}

static void eval_10k(Bench *b)
{
    SlEvalResult res;
    sl_decode_eval_path(b->m, 10000, 1, NULL, b->path, &res, NULL, NULL, NULL);
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
    b.m = sl_ckpt_load(argv[1], &err);
    if (!b.m) {
        fprintf(stderr, "bench-forward: %s\n", err.message);
        return 1;
    }
    const SlModelConfig *c = &b.m->cfg;
    b.cache = sl_cache_new(c, 1, c->n_ctx, &err);
    SlRng rng;
    sl_rng_seed(&rng, 1);
    sl_task_random_list(c, &rng, b.values);
    sl_task_make_tokens(c, b.values, b.tokens);
    printf("model: %d layer(s), %d head(s), d_model %d, d_head %d, n_ctx %d\n", c->n_layers, c->n_heads, c->d_model,
           c->d_head, c->n_ctx);
    const SlForwardPath paths[2] = {SL_FORWARD_TABLES, SL_FORWARD_GENERAL};
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
        if (p == 0 && c->n_heads == 1 && c->d_head >= 16 && c->d_head <= 512 && c->d_model >= 16 && c->d_model <= 512 &&
            c->d_vocab_out >= 16 && c->d_vocab_out <= 64 && c->n_ctx >= 16) {
            t = median_us(&b, memory_floor, 15, 20000);
            printf("memory alone: every cache row written once from its table rows, no attention: %.3f us wall, "
                   "%.3f us CPU (medians of 15 runs)\n", t.wall, t.cpu);
        }
        if (p == 0) {   /* the general path takes seconds here: see bench_eval.py for eval */
            t = median_us(&b, eval_10k, 5, 1);
            printf("decode_eval, 10000 lists, %s path: %.1f ms wall, %.1f ms CPU (medians of 5 runs)\n", names[p],
                   t.wall / 1000, t.cpu / 1000);
        }
    }
    sl_cache_free(b.cache);
    sl_model_free(b.m);
    return 0;
}
