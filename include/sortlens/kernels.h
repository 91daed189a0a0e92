/* kernels.h: which build of the engine's processor-specific code runs (the
 * one-layer path's row loops: for AVX2 with FMA, or portable), chosen once
 * per process: the portable one when the environment has
 * SORTLENS_KERNELS=portable or the processor lacks AVX2 or FMA.  Both give
 * the same results up to float rounding (FMA rounds a * b + c once). */
#ifndef SORTLENS_KERNELS_H
#define SORTLENS_KERNELS_H

#include "sortlens/error.h"

/* "avx2" or "portable". */
const char *sl_kernels_name(void);

/* 0 when $SORTLENS_KERNELS is unset, empty, "auto" or "portable"; else
 * SL_EINVAL with a message naming the value (the kernels are then chosen as
 * if it were unset). */
int sl_kernels_check_env(SlError *err);

#endif
