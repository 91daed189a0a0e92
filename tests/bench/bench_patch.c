/* bench_patch.c: one full `patch` of a pair (every hook at every position,
 * exact, and with attribution patching), in process, on the one-layer
 * model, beside one forward pass with the whole cache (the unit the work is
 * made of) and the goal of 2 ms.  With PYTORCH_SCRIPT set to
 * tests/core/patch_torch_ref.py it also times PyTorch doing the same patching
 * (one batched forward per hook and head, as a TransformerLens user would)
 * and prints the ratio.  Medians over repeated runs; the machine may be
 * busy.  Usage: bench-patch MODEL [PYTORCH_SCRIPT]  (exit 77 without MODEL) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sortlens/checkpoint.h"
#include "sortlens/forward.h"
#include "sortlens/patch.h"
#include "sortlens/task.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 2 || access(argv[1], R_OK) != 0) {
        printf("skipped: no model at %s\n", argc > 1 ? argv[1] : "(none given)");
        return 77;
    }
    SlError err = {0};
    SlModel *m = sl_ckpt_load(argv[1], &err);
    if (!m) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    int clean[10] = {42, 17, 26, 3, 49, 0, 26, 8, 31, 12}, corrupt[10] = {42, 17, 27, 3, 49, 0, 26, 8, 31, 12};
    enum { ROUNDS = 15, ITERS = 40 };
    double t_exact[ROUNDS], t_attr[ROUNDS], t_fwd[ROUNDS];
    SlActCache *cache = sl_cache_new(&m->cfg, 1, m->cfg.n_ctx, &err);
    int tokens[64];
    sl_task_make_tokens(&m->cfg, clean, tokens);
    for (int r = 0; r < ROUNDS; r++) {
        SlPatchResult res;
        double t0 = now();
        for (int i = 0; i < ITERS; i++) {
            if (sl_patch(m, clean, corrupt, 0, false, NULL, false, &res, &err)) {
                fprintf(stderr, "%s\n", err.message);
                return 1;
            }
            sl_patch_result_free(&res);
        }
        double t1 = now();
        for (int i = 0; i < ITERS; i++) {
            sl_patch(m, clean, corrupt, 0, true, NULL, false, &res, &err);
            sl_patch_result_free(&res);
        }
        double t2 = now();
        for (int i = 0; i < ITERS; i++)
            sl_model_forward(m, tokens, 1, m->cfg.n_ctx, cache, NULL, SL_FORWARD_AUTO, &err);
        double t3 = now();
        t_exact[r] = (t1 - t0) / ITERS * 1e6;
        t_attr[r] = (t2 - t1) / ITERS * 1e6;
        t_fwd[r] = (t3 - t2) / ITERS * 1e6;
    }
    qsort(t_exact, ROUNDS, sizeof(double), cmp_double);
    qsort(t_attr, ROUNDS, sizeof(double), cmp_double);
    qsort(t_fwd, ROUNDS, sizeof(double), cmp_double);
    double ex = t_exact[ROUNDS / 2], at = t_attr[ROUNDS / 2], fw = t_fwd[ROUNDS / 2];
    printf("one full patch of a pair (every hook, every position, exact): %.0f us (goal 2000 us: %.1fx under it)\n", ex,
           2000.0 / ex);
    printf("  with attribution patching beside it:                        %.0f us\n", at);
    printf("  one forward with the whole cache (for scale):               %.1f us (the patch costs %.0f of them)\n", fw,
           ex / fw);
    if (argc > 2 && access("/usr/bin/python3", X_OK) == 0) {
        char job[] = "/tmp/sortlens-bench-patch-XXXXXX";
        int fd = mkstemp(job);
        FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (f) {
            fprintf(f, "{\"mode\": \"time\", \"repeats\": 5, \"pairs\": [{\"clean\": [42,17,26,3,49,0,26,8,31,12], "
                       "\"corrupt\": [42,17,27,3,49,0,26,8,31,12], \"at\": 7}]}");
            fclose(f);
            char cmd[8192];
            snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s' '%s' /dev/stdout", argv[2], argv[1], job);
            FILE *p = popen(cmd, "r");
            double secs = 0;
            if (p && fscanf(p, "%lf", &secs) == 1 && secs > 0)
                printf("PyTorch, the same patching (exact, batched per hook and head): %.0f us; sortlens %.0fx faster\n",
                       secs * 1e6, secs * 1e6 / ex);
            else
                printf("PyTorch timing skipped (no torch?)\n");
            if (p)
                pclose(p);
            unlink(job);
        }
    }
    sl_cache_free(cache);
    sl_model_free(m);
    return 0;
}
