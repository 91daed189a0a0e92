/* blas_runtime.c: settings of OpenBLAS itself (see blas_runtime.h). */
#include "sortlens/blas_runtime.h"

#include <cblas.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/resource.h>

/* OpenBLAS takes a working buffer with mmap, of its compile-time
 * BUFFER_SIZE (128 MB in Debian's 0.3.21, seen with strace: 134217728
 * bytes): each worker thread when the library starts, and the calling
 * thread at its first product.  When that mmap fails (ulimit -v) its
 * allocator retries for ever; so the buffers are checked before BLAS is used.  A little more than the buffer, for
 * its alignment. */
#define OPENBLAS_BUFFER_BYTES (((size_t)128 << 20) + ((size_t)64 << 10))

void sl_blas_set_threads(int threads) { openblas_set_num_threads(threads < 1 ? 1 : threads); }

int sl_blas_check_memory(int buffers, SlError *err)
{
    if (buffers < 1)
        buffers = 1;
    size_t need = (size_t)buffers * OPENBLAS_BUFFER_BYTES;
    void *p = mmap(NULL, need, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) {
        munmap(p, need);
        return SL_OK;
    }
    struct rlimit rl;
    char limit[96] = "";
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        snprintf(limit, sizeof limit, " (the limit, ulimit -v, is %llu MB)", (unsigned long long)(rl.rlim_cur >> 20));
    return sl_error_set(err, SL_ENOMEM,
                        "not enough memory for OpenBLAS: it needs %zu MB of address space for %s%s; raise the limit",
                        need >> 20, buffers == 1 ? "its working buffer" : "the working buffers of its threads", limit);
}
