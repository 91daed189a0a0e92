/* parallel.c: work split over threads (parallel.h).  Threads are started
 * for each call, not kept in a pool: the callers give each part thousands
 * of lists (milliseconds of work), against tens of microseconds to start
 * and join a thread. */
#include "parallel.h"

#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>

#define PARALLEL_MAX 64

typedef struct Part {
    void (*fn)(void *ctx, int w);
    void *ctx;
    int w;
} Part;

static void *run_part(void *arg)
{
    const Part *p = arg;
    p->fn(p->ctx, p->w);
    return NULL;
}

int parallel_processors(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > PARALLEL_MAX ? PARALLEL_MAX : (int)n;
}

void parallel_run(int workers, void (*part)(void *ctx, int w), void *ctx)
{
    if (workers < 1)
        return;
    const int threads = workers < PARALLEL_MAX ? workers : PARALLEL_MAX;
    pthread_t tid[PARALLEL_MAX];
    Part parts[PARALLEL_MAX];
    bool started[PARALLEL_MAX] = {false};
    for (int w = 1; w < threads; w++) {
        parts[w] = (Part){part, ctx, w};
        started[w] = pthread_create(&tid[w], NULL, run_part, &parts[w]) == 0;
    }
    part(ctx, 0);
    for (int w = threads; w < workers; w++)   /* more parts than threads: the caller takes the rest */
        part(ctx, w);
    for (int w = 1; w < threads; w++) {
        if (started[w])
            pthread_join(tid[w], NULL);
        else
            part(ctx, w);
    }
}
