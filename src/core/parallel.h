/* parallel.h: work split over threads (parallel.c). */
#ifndef SORTLENS_PARALLEL_H
#define SORTLENS_PARALLEL_H

/* Processors online, at least 1. */
int parallel_processors(void);

/* Runs part(ctx, w) for w = 0..workers-1 and returns when every part has:
 * part 0 on the calling thread, the others on threads of their own (up to
 * 64; further parts run on the caller; none runs for a count below 1).  A part
 * whose thread cannot be started runs on the caller afterwards, so every
 * part runs exactly once whatever the system allows. */
void parallel_run(int workers, void (*part)(void *ctx, int w), void *ctx);

#endif
