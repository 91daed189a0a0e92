/* blas_runtime.c: settings of OpenBLAS itself (see blas_runtime.h). */
#include "sortlens/blas_runtime.h"

#include <cblas.h>

void sl_blas_set_threads(int threads) { openblas_set_num_threads(threads < 1 ? 1 : threads); }
