/* blas_runtime.h: settings of the BLAS library (OpenBLAS) itself, so that
 * no caller outside the core includes cblas.h. */
#ifndef SORTLENS_BLAS_RUNTIME_H
#define SORTLENS_BLAS_RUNTIME_H

/* Fixes the number of threads BLAS products use.  OpenBLAS splits a product
 * by thread count, so the bytes of a training run depend on it. */
void sl_blas_set_threads(int threads);

#endif
