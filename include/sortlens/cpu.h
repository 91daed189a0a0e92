/* cpu.h: what the processor runs, as far as the choice of kernels goes
 * (this project's own kernels, kernels.h, and OpenBLAS's, blas_runtime.h). */
#ifndef SORTLENS_CPU_H
#define SORTLENS_CPU_H

/* Instruction sets, as bits.  SL_CPU_AVX512 is the set OpenBLAS's SkylakeX
 * kernels need (AVX-512 F, BW, DQ and VL), each as the processor and the
 * operating system support it (libgcc's __builtin_cpu_supports checks both). */
enum {
    SL_CPU_AVX2 = 1u << 0,
    SL_CPU_FMA = 1u << 1,
    SL_CPU_AVX512 = 1u << 2,
};

/* The SL_CPU_* bits of this processor; 0 on processors other than x86-64. */
unsigned sl_cpu_features(void);

#endif
