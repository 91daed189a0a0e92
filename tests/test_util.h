/* test_util.h: shared helpers for the Check suites. */
#ifndef SORTLENS_TEST_UTIL_H
#define SORTLENS_TEST_UTIL_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sortlens/model.h"
#include "sortlens/tensor.h"

/* Path of a file under the shared folder ($SORTLENS_SHARED, else ../shared
 * beside the source tree), or NULL if it does not exist. */
const char *shared_path(const char *relative);
/* Path of a file under tests/data. */
const char *testdata_path(const char *relative);
/* Path of the model bundled in the source tree ($SORTLENS_SOURCE/data,
 * else ../data), whether or not it is there: loading it says why not. */
const char *bundled_model_path(void);

/* $SORTLENS_EXE (another build's, to see which tests fail there), else
 * $SORTLENS_BUILD_EXE (this build's, set by meson); NULL if it is not there. */
const char *sortlens_exe(void);

/* True when $SORTLENS_TEST_LIGHT is set and not "0": the 'valgrind' test
 * setup (tests/meson.build) sets it, and the slowest suites then check
 * fewer lists on their costliest paths (each suite says which), so that
 * memcheck's ~500x slowdown stays within CI's time.  The checks themselves,
 * and their references, stay the same. */
bool test_light_workload(void);

/* A new empty directory /tmp/sortlens-TAG-XXXXXX, its path written into
 * dir; test_tmpdir_remove deletes it and everything in it. */
void test_tmpdir_make(char dir[64], const char *tag);
void test_tmpdir_remove(const char *dir);
/* A new empty directory as test_tmpdir_make makes it, malloc'ed (free it
 * after test_tmpdir_remove); dir/name, malloc'ed. */
char *test_tmpdir_new(const char *tag);
char *test_path_in(const char *dir, const char *name);

/* Runs build/sortlens with args (NULL-terminated, without the executable):
 * spawn_sortlens with stdout and stderr to the files out and errf, returning
 * the pid; wait_exit_status waits for it (it must exit normally);
 * run_sortlens does both and hands back what it printed (malloc'ed; out and
 * errtext may be NULL). */
pid_t spawn_sortlens(char *const args[], const char *out, const char *errf);
/* The one spawner: exe with args (NULL-terminated, without the program
 * name), standard input from /dev/null, stdout and stderr to the files out
 * and errf, SIGPIPE at its default; returns the pid. */
pid_t test_spawn(const char *exe, const char *const args[], const char *out, const char *errf);
int wait_exit_status(pid_t pid);
int run_sortlens(char *const args[], char **out, char **errtext);
/* Trains a small run of the default model's shape with build/sortlens
 * (`train --out DIR/r.safetensors --steps STEPS --snapshot-every EVERY
 * --seed 2`); its run directory, DIR/r.run, is written into run. */
void test_make_run(const char *dir, long steps, long every, char run[256]);
/* A whole file, NUL-terminated (malloc'ed); its length in *len. */
char *slurp_file(const char *path, size_t *len);

/* True when /usr/bin/python3 is there and imports torch. */
bool test_have_torch(void);

/* A valid tiny model (1 layer, 1 head, d_model 4, lists of 2 values in
 * 0..3) as a SlTensorSet, for files that must get past model validation. */
SlTensorSet *test_tiny_model_tensors(void);
/* A prepared model of L layers, H heads, d_model D, d_head E, lists of n
 * values in 0..Vo-1, with seeded normal weights (W_E, W_pos sd 1, biases
 * 0.2, the rest 1.5 / sqrt(D): attention far from uniform). */
SlModel *test_random_model(int L, int H, int D, int E, int Vo, int n, uint64_t seed);
/* The same with the rest at weight_scale / sqrt(D). */
SlModel *test_random_model_scaled(int L, int H, int D, int E, int Vo, int n, uint64_t seed, float weight_scale);
/* True when s holds a raw terminal control: ESC, BEL, CR, a lone CSI byte
 * (0x9b) or a C1 control in UTF-8 (U+0080..U+009F). */
bool test_has_terminal_controls(const char *s);

/* Max |a - b| over n floats. */
double max_abs_diff(const float *a, const float *b, size_t n);
/* Max |x| over n floats. */
double max_abs(const float *x, size_t n);
/* Max |x| over the numbers of a JSON value (nested arrays and objects of
 * them); 0 when it holds none. */
typedef struct json_t json_t;
double json_max_abs(json_t *v);

/* Is flag (avx2, fma, avx512f, ...) among the "flags" of /proc/cpuinfo's
 * first processor: the kernel's reading of the processor, to check the
 * program's own against.  -1 when there is no such line (not x86 Linux). */
int test_cpuinfo_flag(const char *flag);

/* Runs a suite and returns the process exit status (0 only if every test
 * passed); prints Check's summary line. */
int run_suite(Suite *s);

#endif
