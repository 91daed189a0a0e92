/* test_parallel.c: parallel_run runs every part exactly once, part 0 on the
 * caller and the others on threads of their own, whatever the count; a
 * thread started on a processor of its own runs with all of its creator's. */
#define _GNU_SOURCE
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/core/parallel.h"
#include "test_util.h"

#define MAX_PARTS 100

typedef struct Record {
    int runs[MAX_PARTS];
    pthread_t thread[MAX_PARTS];
} Record;

static void record_part(void *ctx, int w)
{
    Record *r = ctx;
    r->runs[w]++;   /* each part writes only its own slot */
    r->thread[w] = pthread_self();
}

START_TEST(test_every_part_once)
{
    const int counts[] = {1, 2, 3, 8, 64, 65, 100};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        Record r;
        memset(&r, 0, sizeof r);
        parallel_run(counts[i], record_part, &r);
        for (int w = 0; w < MAX_PARTS; w++)
            ck_assert_msg(r.runs[w] == (w < counts[i]), "%d parts: part %d ran %d times", counts[i], w, r.runs[w]);
        ck_assert(pthread_equal(r.thread[0], pthread_self()));
        if (counts[i] >= 2 && counts[i] <= 64)   /* up to 64 threads: part 1 has its own */
            ck_assert(!pthread_equal(r.thread[1], pthread_self()));
    }
    Record none;
    memset(&none, 0, sizeof none);
    parallel_run(0, record_part, &none);   /* no parts: nothing runs */
    for (int w = 0; w < MAX_PARTS; w++)
        ck_assert_int_eq(none.runs[w], 0);
}
END_TEST

typedef struct Affinity {
    cpu_set_t seen[4];
    int read[4];
} Affinity;

static void record_affinity(void *ctx, int w)
{
    Affinity *a = ctx;
    a->read[w] = pthread_getaffinity_np(pthread_self(), sizeof a->seen[w], &a->seen[w]) == 0;
}

/* Each thread is created tied to one processor (parallel.c) and must undo
 * that once running: else its part could not move off that processor when
 * another process takes it. */
START_TEST(test_threads_keep_every_processor)
{
    cpu_set_t process;
    ck_assert(sched_getaffinity(0, sizeof process, &process) == 0);
    if (CPU_COUNT(&process) < 2) {
        fprintf(stderr, "test_threads_keep_every_processor: one processor: nothing is placed, so this only checks that every part keeps it\n");
    }
    Affinity a;
    memset(&a, 0, sizeof a);
    parallel_run(4, record_affinity, &a);
    for (int w = 0; w < 4; w++) {
        ck_assert_msg(a.read[w], "part %d could not read its processors", w);
        ck_assert_msg(CPU_EQUAL(&a.seen[w], &process), "part %d runs on %d processors, the process has %d", w,
                      CPU_COUNT(&a.seen[w]), CPU_COUNT(&process));
    }
}
END_TEST

START_TEST(test_processors)
{
    int n = parallel_processors();
    ck_assert(n >= 1 && n <= 64);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("parallel");
    TCase *tc = tcase_create("parallel");
    tcase_add_test(tc, test_every_part_once);
    tcase_add_test(tc, test_threads_keep_every_processor);
    tcase_add_test(tc, test_processors);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
