/* blas_runtime.c: settings of OpenBLAS itself (see blas_runtime.h). */
#define _GNU_SOURCE   /* dladdr */
#include "sortlens/blas_runtime.h"

#include <cblas.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "sortlens/cpu.h"
#include "sortlens/text_escape.h"

/* OpenBLAS takes a working buffer with mmap, of its compile-time
 * BUFFER_SIZE (128 MB in Debian's 0.3.21, seen with strace: 134217728
 * bytes): each worker thread when the library starts, and the calling
 * thread at its first product.  When that mmap fails (ulimit -v) its
 * allocator retries for ever; so the buffers are checked before BLAS is used.  A little more than the buffer, for
 * its alignment. */
#define OPENBLAS_BUFFER_BYTES (((size_t)128 << 20) + ((size_t)64 << 10))
/* ... and room for what a command allocates between the check and its first
 * product (the model, its tables, a workspace: under a MB for the published
 * model).  Without it a limit a few hundred KB above the buffer passed the
 * check and then hung in that retry loop (`info` under ulimit -v 180000,
 * once cairo's libraries no longer took their share of the space). */
#define CHECK_HEADROOM_BYTES ((size_t)16 << 20)

/* OpenBLAS's pthreads build starts its worker threads when the library
 * loads, and a worker without work spins in sched_yield for 2^28 cycles
 * (THREAD_TIMEOUT in driver/others/blas_server.c, about 0.1 s here) before
 * it sleeps: from the start, and again after every product it took part
 * in.  A command of a few tens of milliseconds that wants one thread had a
 * second core spinning all along (a third of `eval`'s samples in perf).  So
 * one thread stops the workers (blas_thread_shutdown_, which the library
 * exports for its fork handler), and more than one starts them again first
 * (blas_thread_init: 0.3.21's openblas_set_num_threads restarts stopped
 * workers itself, other versions only at the next parallel product, after
 * a raised count has started new threads beside them).  So the count is
 * never set again while they are stopped.  Both are looked up by name: a
 * build without them (OpenMP) only has its count set. */
static bool workers_stopped;
#ifdef SL_OPENBLAS_STATIC
int blas_thread_shutdown_(void);   /* OpenBLAS's pthreads build (driver/others/blas_server.c) */
int blas_thread_init(void);
#endif

void sl_blas_set_threads(int threads)
{
    if (threads < 1)
        threads = 1;
#ifdef SL_OPENBLAS_STATIC
    /* linked in (meson.build): its names are ours, and local, so not in dlsym's reach */
    int (*shutdown)(void) = blas_thread_shutdown_;
    int (*start)(void) = blas_thread_init;
#else
    int (*shutdown)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "blas_thread_shutdown_");
    int (*start)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "blas_thread_init");
#endif
    if (threads == 1) {
        if (workers_stopped)   /* the count is 1 already; setting it again would restart them */
            return;
        openblas_set_num_threads(1);
        if (shutdown && start) {
            shutdown();
            workers_stopped = true;
        }
        return;
    }
    if (workers_stopped) {
        start();
        workers_stopped = false;
    }
    openblas_set_num_threads(threads);
}

int sl_blas_check_memory(int buffers, SlError *err)
{
    if (buffers < 1)
        buffers = 1;
    size_t need = (size_t)buffers * OPENBLAS_BUFFER_BYTES;
    void *p = mmap(NULL, need + CHECK_HEADROOM_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) {
        munmap(p, need + CHECK_HEADROOM_BYTES);
        return SL_OK;
    }
    struct rlimit rl;
    char limit[96] = "";
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        snprintf(limit, sizeof limit, " (the limit, ulimit -v, is %llu MB, the program and its libraries included)",
                 (unsigned long long)(rl.rlim_cur >> 20));
    return sl_error_set(err, SL_ENOMEM,
                        "not enough memory for OpenBLAS: it needs %zu MB of free address space for %s and %zu MB for "
                        "the model%s; raise the limit",
                        need >> 20, buffers == 1 ? "its working buffer" : "the working buffers of its threads",
                        CHECK_HEADROOM_BYTES >> 20, limit);
}

/* OpenBLAS's kernels for processors without AVX2, by the names
 * openblas_get_corename gives (driver/others/dynamic.c of 0.3.21, and the
 * upper-case names of builds for one processor). */
static const char *const generic_cores[] = {
    "Unknown", "Katmai", "Coppermine", "Northwood", "Prescott", "Banias", "Atom", "Core2", "Penryn",
    "Dunnington", "Nehalem", "Athlon", "Opteron", "Opteron_SSE3", "Opteron(SSE3)", "Barcelona", "Nano",
    "Sandybridge", "Bobcat", "Bulldozer", "Piledriver", "Steamroller", "Excavator",
};

const char *sl_blas_better_coretype(const char *corename, unsigned cpu)
{
    if (!corename)
        return NULL;
    bool generic = false;
    for (size_t i = 0; i < sizeof generic_cores / sizeof generic_cores[0]; i++)
        if (strcasecmp(corename, generic_cores[i]) == 0)
            generic = true;
    if (!generic)
        return NULL;
    if (cpu & SL_CPU_AVX512)
        return "SkylakeX";
    if ((cpu & SL_CPU_AVX2) && (cpu & SL_CPU_FMA))
        return "Haswell";
    return NULL;
}

void sl_blas_info(SlBlasInfo *info)
{
    memset(info, 0, sizeof *info);
    info->name = "OpenBLAS";
    info->config = openblas_get_config();
    info->corename = openblas_get_corename();
    info->threads = openblas_get_num_threads();
    info->cpu = sl_cpu_features();
    info->coretype_env = getenv("OPENBLAS_CORETYPE");
    info->better_coretype = sl_blas_better_coretype(info->corename, info->cpu);
    /* "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ...": the second word */
    const char *v = info->config ? strstr(info->config, "OpenBLAS ") : NULL;
    if (v) {
        v += strlen("OpenBLAS ");
        size_t n = strcspn(v, " ");
        if (n >= sizeof info->version)
            n = sizeof info->version - 1;
        memcpy(info->version, v, n);
    }
    Dl_info dl;
    if (dladdr((void *)openblas_get_config, &dl) && dl.dli_fname)
        snprintf(info->path, sizeof info->path, "%s", dl.dli_fname);
#ifdef SL_OPENBLAS_STATIC
    info->linked_in = true;
#endif
}

bool sl_blas_kernel_note(const SlBlasInfo *info, char *buf, size_t size)
{
    if (size)
        buf[0] = '\0';
    if (!info->better_coretype || !size)
        return false;
    char set[96] = "", value[48];
    if (info->coretype_env) {   /* the user's text: escaped, and cut short */
        sl_text_escape(info->coretype_env, strnlen(info->coretype_env, 32), value, sizeof value);
        snprintf(set, sizeof set, " (OPENBLAS_CORETYPE is set to '%s')", value);
    }
    snprintf(buf, size,
             "OpenBLAS runs its generic %s kernels%s on this processor, which has %s; "
             "OPENBLAS_CORETYPE=%s in the environment selects its %s kernels, which run matrix products several times faster",
             info->corename, set, info->cpu & SL_CPU_AVX512 ? "AVX-512" : "AVX2", info->better_coretype,
             info->cpu & SL_CPU_AVX512 ? "AVX-512" : "AVX2");
    return true;
}
