/* blas_runtime.h: settings of the BLAS library (OpenBLAS) itself, so that
 * no caller outside the core includes cblas.h. */
#ifndef SORTLENS_BLAS_RUNTIME_H
#define SORTLENS_BLAS_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>

#include "sortlens/error.h"

/* Fixes the number of threads BLAS products use.  OpenBLAS splits a product
 * by thread count, so the bytes of a training run depend on it.  One
 * thread also stops OpenBLAS's idle worker threads, which otherwise spin
 * on the other cores for a tenth of a second after each product (and from
 * the start); a later count above one starts them again.  Call it while no
 * other thread runs a product. */
void sl_blas_set_threads(int threads);

/* Checks that the address space has room for `buffers` more of OpenBLAS's
 * working buffers (128 MB each: one for the calling thread's first
 * product, one for each worker thread that sl_blas_set_threads starts),
 * which OpenBLAS, when it lacks the room, retries for ever instead of
 * failing.  Run before the first BLAS product (loading a model builds its
 * circuit tables with BLAS).  0, or SL_ENOMEM with a message saying how much
 * is needed and what the limit is.  Worker threads that the library started
 * when it loaded (OPENBLAS_NUM_THREADS > 1) race with this check; the CLI
 * runs with one BLAS thread under an address-space limit for that reason. */
int sl_blas_check_memory(int buffers, SlError *err);

/* The kernels OpenBLAS chose, judged against the processor: the better
 * OPENBLAS_CORETYPE when `corename` (openblas_get_corename) is one of its
 * generic kernels, written for processors without AVX2 (Prescott, Core2,
 * Nehalem, Sandybridge, ...), and `cpu` (SL_CPU_* bits, cpu.h) has AVX2
 * and FMA ("Haswell") or AVX-512 ("SkylakeX"); NULL when the kernels suit
 * the processor or the name is not one of those.  OpenBLAS 0.3.21 falls
 * back to Prescott on processors newer than it knows. */
const char *sl_blas_better_coretype(const char *corename, unsigned cpu);

/* What BLAS library runs the products, and how. */
typedef struct SlBlasInfo {
    const char *name;            /* "OpenBLAS" */
    char version[32];            /* "0.3.21", from the library's own config string */
    char path[256];              /* the shared object it was loaded from, or "" */
    bool linked_in;              /* its static library is inside libsortlens (path: that library) */
    const char *config;          /* openblas_get_config(): build options and kernels */
    const char *corename;        /* openblas_get_corename(): the kernels chosen */
    int threads;                 /* openblas_get_num_threads() */
    unsigned cpu;                /* sl_cpu_features() */
    const char *coretype_env;    /* $OPENBLAS_CORETYPE, or NULL when unset */
    const char *better_coretype; /* sl_blas_better_coretype(corename, cpu) */
} SlBlasInfo;

void sl_blas_info(SlBlasInfo *info);

/* The sentence that tells a user the kernels are generic and which
 * variable fixes it, into buf; false (buf empty) when there is nothing to
 * say. */
bool sl_blas_kernel_note(const SlBlasInfo *info, char *buf, size_t size);

#endif
