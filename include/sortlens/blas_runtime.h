/* blas_runtime.h: settings of the BLAS library (OpenBLAS) itself, so that
 * no caller outside the core includes cblas.h. */
#ifndef SORTLENS_BLAS_RUNTIME_H
#define SORTLENS_BLAS_RUNTIME_H

#include "sortlens/error.h"

/* Fixes the number of threads BLAS products use.  OpenBLAS splits a product
 * by thread count, so the bytes of a training run depend on it. */
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

#endif
