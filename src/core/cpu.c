/* cpu.c: what the processor runs (see cpu.h). */
#include "sortlens/cpu.h"

unsigned sl_cpu_features(void)
{
    unsigned f = 0;
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2"))
        f |= SL_CPU_AVX2;
    if (__builtin_cpu_supports("fma"))
        f |= SL_CPU_FMA;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl"))
        f |= SL_CPU_AVX512;
#endif
    return f;
}
