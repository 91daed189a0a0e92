/* parallel.c: work split over threads (parallel.h).  Threads are started
 * for each call, not kept in a pool: the callers give each part thousands
 * of lists (milliseconds of work), against tens of microseconds to start
 * and join a thread.
 *
 * Where a new thread first runs matters more than starting it.  Linux puts
 * it on its creator's processor and moves it to an idle one only at the next
 * load balancing: on a two-processor virtual machine that took 1-4 ms, in
 * which the two parts shared one processor, and `eval` of 10,000 lists
 * (three calls of about 5 ms each) gained 10% from a second worker instead
 * of the 40% it gains at 100,000.  So each thread is created on a processor
 * other than its creator's, one each in turn, and once running it takes
 * back the processors its creator may use (what it would have inherited):
 * afterwards the scheduler moves it as it likes, as if it had never been
 * placed.  Where the processors cannot be read or set, threads start as
 * Linux places them. */
#define _GNU_SOURCE
#include "parallel.h"

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <unistd.h>

#define PARALLEL_MAX 64

typedef struct Part {
    void (*fn)(void *ctx, int w);
    void *ctx;
    int w;
    const cpu_set_t *allowed;   /* the creator's processors, set again once running; NULL: none was set */
} Part;

static void *run_part(void *arg)
{
    const Part *p = arg;
    if (p->allowed)
        pthread_setaffinity_np(pthread_self(), sizeof *p->allowed, p->allowed);
    p->fn(p->ctx, p->w);
    return NULL;
}

/* The processors the calling thread may use (those a new thread inherits),
 * into *allowed, and how many; 0 when they cannot be read, or when there is
 * only one (nothing to place). */
static int placement_processors(cpu_set_t *allowed)
{
    if (sched_getaffinity(0, sizeof *allowed, allowed) != 0)
        return 0;
    int n = CPU_COUNT(allowed);
    return n > 1 ? n : 0;
}

/* The processor after `from` in *allowed, other than `skip` (cyclic); -1
 * if there is none. */
static int next_processor(const cpu_set_t *allowed, int from, int skip)
{
    for (int i = 1; i <= CPU_SETSIZE; i++) {
        int c = (from + i) % CPU_SETSIZE;
        if (c != skip && CPU_ISSET(c, allowed))
            return c;
    }
    return -1;
}

/* Starts the thread of part p, on processor cpu when cpu >= 0 (then p runs
 * with the processors in *allowed once it has started). */
static bool start_part(pthread_t *tid, Part *p, int cpu, const cpu_set_t *allowed)
{
    pthread_attr_t attr;
    bool placed = false;
    p->allowed = NULL;
    if (cpu >= 0 && pthread_attr_init(&attr) == 0) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        if (pthread_attr_setaffinity_np(&attr, sizeof one, &one) == 0) {
            p->allowed = allowed;
            placed = pthread_create(tid, &attr, run_part, p) == 0;
        }
        pthread_attr_destroy(&attr);
        if (placed)
            return true;
        p->allowed = NULL;
    }
    return pthread_create(tid, NULL, run_part, p) == 0;
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
    cpu_set_t allowed;
    const bool place = threads > 1 && placement_processors(&allowed) > 0;
    const int self = place ? sched_getcpu() : -1;
    int cpu = self;
    for (int w = 1; w < threads; w++) {
        parts[w] = (Part){part, ctx, w, NULL};
        if (place)
            cpu = next_processor(&allowed, cpu, self);
        started[w] = start_part(&tid[w], &parts[w], place ? cpu : -1, &allowed);
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
