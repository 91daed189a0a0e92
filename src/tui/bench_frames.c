/* bench_frames.c: the --bench-frames harness (bench_frames.h). */
#include "bench_frames.h"

#include <stdlib.h>
#include <time.h>

#include "app.h"

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Steps, cursor moves, each switch on and off, a view, the scores, a list. */
static const int script[] = {AK_RIGHT, AK_RIGHT, AK_RIGHT, AK_DOWN, '1', '1', '2', '2', '3', '3', '4', '4',
                             'p', 'p', 'a', 'a', 'g', 'g', 'c', AK_UP, AK_LEFT, AK_LEFT, 's', 's', 'r', AK_LEFT};

void bench_frames_run_script(BenchFrames *b, long n, BenchScript keys, void (*press)(void *ctx, int key),
                             void *ctx)
{
    b->ms = n > 0 && keys.n > 0 ? malloc((size_t)n * sizeof *b->ms) : NULL;
    b->n = b->ms ? n : 0;
    for (long i = 0; i < b->n; i++) {
        double t0 = now_seconds();
        press(ctx, keys.keys[i % keys.n]);
        b->ms[i] = (now_seconds() - t0) * 1e3;
    }
}

void bench_frames_run(BenchFrames *b, long n, void (*press)(void *ctx, int key), void *ctx)
{
    bench_frames_run_script(b, n, (BenchScript){script, (int)(sizeof script / sizeof script[0])}, press, ctx);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void bench_frames_report(const BenchFrames *b, double first_ms, FILE *out)
{
    fprintf(out, "first frame: %.2f ms after the command started\n", first_ms);
    long n = b->n;
    if (n <= 0)
        return;
    double sum = 0, max = 0;
    double *s = malloc((size_t)n * sizeof *s);
    for (long i = 0; i < n; i++) {
        sum += b->ms[i];
        if (b->ms[i] > max)
            max = b->ms[i];
        if (s)
            s[i] = b->ms[i];
    }
    if (s)
        qsort(s, (size_t)n, sizeof *s, cmp_double);
    fprintf(out, "%ld key redraws (recompute + draw + screen update): mean %.3f ms, median %.3f ms, "
                 "p99 %.3f ms, max %.3f ms\n",
            n, sum / n, s ? s[n / 2] : 0, s ? s[(long)(n * 0.99)] : 0, max);
    free(s);
}

void bench_frames_free(BenchFrames *b)
{
    free(b->ms);
    b->ms = NULL;
    b->n = 0;
}
