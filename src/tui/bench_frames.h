/* bench_frames.h: the explorer's hidden --bench-frames N harness: a fixed
 * script of key presses (steps, cursor moves, each switch on and off), each
 * timed from the key to the screen update, and a report of the times. */
#ifndef SORTLENS_BENCH_FRAMES_H
#define SORTLENS_BENCH_FRAMES_H

#include <stdio.h>

typedef struct BenchFrames {
    double *ms;   /* [n] milliseconds per key press */
    long n;
} BenchFrames;

/* Presses n keys of the script through press(ctx, key), which handles the
 * key and draws the frame.  n drops to 0 when there is no memory for it. */
void bench_frames_run(BenchFrames *b, long n, void (*press)(void *ctx, int key), void *ctx);
/* The same with another script of keys, pressed in turn, round and round. */
typedef struct BenchScript {
    const int *keys;
    int n;
} BenchScript;
void bench_frames_run_script(BenchFrames *b, long n, BenchScript script, void (*press)(void *ctx, int key),
                             void *ctx);
/* "first frame: ..." and the mean, median, p99 and max, on out. */
void bench_frames_report(const BenchFrames *b, double first_ms, FILE *out);
void bench_frames_free(BenchFrames *b);

#endif
