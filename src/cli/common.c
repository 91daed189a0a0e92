/* common.c: shared CLI plumbing. */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "sortlens/ablation.h"
#include "sortlens/atomic_write.h"
#include "sortlens/blas_runtime.h"
#include "sortlens/checkpoint.h"
#include "sortlens/finite_check.h"
#include "sortlens/run.h"
#include "sortlens/task.h"
#include "sortlens/text_escape.h"

#define DEFAULT_MODEL_FILE "sortlens-default.safetensors"

void cli_error(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fputs("sortlens: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

const char *cli_text(const char *s)
{
    static char bufs[8][4096];
    static unsigned next;
    char *out = bufs[next++ % 8];
    sl_text_escape(s, strlen(s), out, sizeof bufs[0]);
    return out;
}

int cli_exit_code(int sl_code) { return sl_code == SL_EINVAL ? EXIT_USAGE : EXIT_RUNTIME; }

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bool file_exists(const char *path) { return access(path, R_OK) == 0; }

const char *cli_default_model_path(SlError *err)
{
    static char buf[PATH_MAX + 64];
    const char *env = getenv("SORTLENS_MODEL");
    if (env && *env)
        return env;
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(buf, sizeof buf, "%s/../share/sortlens/%s", exe, DEFAULT_MODEL_FILE);
            if (file_exists(buf))
                return buf;
        }
    }
    snprintf(buf, sizeof buf, "%s/%s", SORTLENS_BUILD_DATADIR, DEFAULT_MODEL_FILE);
    if (file_exists(buf))
        return buf;
    snprintf(buf, sizeof buf, "%s/%s", SORTLENS_DATADIR, DEFAULT_MODEL_FILE);
    if (file_exists(buf))
        return buf;
    sl_error_set(err, SL_EIO, "no bundled model found (looked for %s in %s and %s); pass --model PATH or set SORTLENS_MODEL",
                 DEFAULT_MODEL_FILE, SORTLENS_BUILD_DATADIR, SORTLENS_DATADIR);
    return NULL;
}

bool cli_blas_ready(int buffers)
{
    SlError err = {0};
    if (sl_blas_check_memory(buffers, &err) == 0)
        return true;
    cli_error("%s", err.message);
    return false;
}

void cli_blas_note(void)
{
    static bool said;
    if (said)
        return;
    said = true;
    SlBlasInfo info;
    char note[512];
    sl_blas_info(&info);
    if (sl_blas_kernel_note(&info, note, sizeof note))
        fprintf(stderr, "sortlens: %s\n", note);
}

void cli_one_blas_thread_under_memory_limit(char **argv)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || getenv("OPENBLAS_NUM_THREADS"))
        return;
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    execv("/proc/self/exe", argv);
    unsetenv("OPENBLAS_NUM_THREADS");   /* no exec: carry on as we are */
}

void cli_blas_threads_unless_set(int threads)
{
    static const char *const vars[] = {"OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return;
    }
    sl_blas_set_threads(threads);
}

char *cli_model_file(const char *path, long step)
{
    SlError err = {0};
    if (!path && !(path = cli_default_model_path(&err))) {
        cli_error("%s", err.message);
        return NULL;
    }
    long at;
    char *file = sl_run_resolve(path, step, &at, &err);
    if (!file)
        cli_error("%s", err.message);
    else if (step >= 0 && at < 0)
        cli_error("%s: --step %ld needs a run directory (from train --snapshot-every); this is a model file", cli_text(path),
                  step);
    else if (step >= 0 && at != step)
        fprintf(stderr, "sortlens: %s: no snapshot at step %ld; using step %ld, the nearest before it\n", cli_text(path), step,
                at);
    if (file && step >= 0 && at < 0) {
        free(file);
        return NULL;
    }
    return file;
}

SlModel *cli_load_model_at(const char *path, long step)
{
    SlError err = {0};
    if (!cli_blas_ready(1))   /* else OpenBLAS may spin, out of memory, in the load */
        return NULL;
    char *file = cli_model_file(path, step);
    if (!file)
        return NULL;
    SlModel *m = sl_ckpt_load(file, &err);
    if (!m)
        cli_error("%s", err.message);
    free(file);
    return m;
}

SlModel *cli_load_model(const char *path) { return cli_load_model_at(path, -1); }

bool cli_parse_step(const char *text, long *step) { return cli_parse_long("--step", text, 0, 2000000000L, step); }

SlAblationRun *cli_ablation_run(const SlModel *m, const char *spec, long resample_seed, bool force_hooks,
                                SlAblation *abl, char *text, int *status)
{
    SlError err = {0};
    memset(abl, 0, sizeof *abl);
    text[0] = '\0';
    if (spec && sl_ablation_parse(spec, &m->cfg, abl, &err)) {
        cli_error("%s", err.message);
        *status = EXIT_USAGE;
        return NULL;
    }
    sl_ablation_format(abl, &m->cfg, text, SL_ABLATION_TEXT_MAX);
    SlAblationRun *run = sl_ablation_run_new(m, abl, (uint64_t)resample_seed, force_hooks, &err);
    if (!run) {
        cli_error("%s", err.message);
        *status = cli_exit_code(err.code);
    }
    return run;
}

const char *cli_model_label(const char *path)
{
    if (path)
        return path;
    const char *def = cli_default_model_path(NULL);
    return def ? def : "the bundled model";
}

int cli_check_finite_outputs(const char *label, const SlModel *m, uint64_t seed)
{
    const SlModelConfig *c = &m->cfg;
    int values[SL_MODEL_MAX_CTX], tokens[SL_MODEL_MAX_CTX];
    SlRng r;
    sl_rng_seed(&r, seed);
    sl_task_random_list(c, &r, values);
    sl_task_make_tokens(c, values, tokens);
    SlError err = {0};
    if (sl_forward_check_finite(m, tokens, c->n_ctx, &err) == 0)
        return EXIT_OK;
    cli_error("%s: %s", cli_text(label), err.message);
    return EXIT_RUNTIME;
}

int cli_report_not_numbers(const char *label, const char *what)
{
    cli_error("%s: the model's outputs are not numbers on some lists (%s); nothing is printed", cli_text(label), what);
    return EXIT_RUNTIME;
}

int cli_check_output(const char *out, bool force, const char *input)
{
    SlError err = {0};
    bool exists;
    if (sl_atomic_check(out, &exists, &err)) {
        cli_error("%s", err.message);
        return EXIT_RUNTIME;
    }
    if (exists && !force) {
        if (input && sl_same_file(out, input))
            cli_error("%s: is the model being read; pass --force to overwrite it", cli_text(out));
        else
            cli_error("%s: already exists; pass --force to overwrite it", cli_text(out));
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* ---- progress bar -------------------------------------------------------- */

void progress_begin(Progress *p, const char *label, long total)
{
    memset(p, 0, sizeof *p);
    p->active = isatty(STDERR_FILENO);
    p->label = label;
    p->total = total;
    p->start = cli_now();
}

void progress_update(Progress *p, long done, const char *extra)
{
    if (!p->active)
        return;
    double now = cli_now();
    if (done < p->total && now - p->last_draw < 0.1)
        return;   /* at most ten redraws a second */
    p->last_draw = now;
    double frac = p->total > 0 ? (double)done / (double)p->total : 1.0;
    if (frac > 1.0)
        frac = 1.0;
    const int width = 30;
    int filled = (int)(frac * width);
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < filled ? '#' : '-';
    bar[width] = '\0';
    double elapsed = now - p->start;
    double left = frac > 0 ? elapsed / frac - elapsed : 0;
    fprintf(stderr, "\r%s [%s] %3.0f%% %ld/%ld %.1fs left%s%s\033[K", p->label, bar, 100 * frac, done, p->total,
            left, extra ? "  " : "", extra ? extra : "");
    fflush(stderr);
}

void progress_end(Progress *p)
{
    if (!p->active)
        return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
}

void progress_callback(void *ctx, long done, long total)
{
    Progress *p = ctx;
    p->total = total;
    progress_update(p, done, NULL);
}

int cli_put_json(json_t *root, size_t flags)
{
    char *text = root ? json_dumps(root, flags | JSON_ENSURE_ASCII) : NULL;
    json_decref(root);
    if (!text) {
        cli_error("out of memory writing JSON");
        return EXIT_RUNTIME;
    }
    puts(text);   /* a failed write is reported once, by cli_finish_output */
    free(text);
    return EXIT_OK;
}

json_t *cli_json_name(const char *name)
{
    json_t *s = json_string(name);
    if (s || !name)
        return s;
    char *escaped = sl_text_escape_dup(name);   /* valid UTF-8 */
    s = escaped ? json_string(escaped) : NULL;
    free(escaped);
    return s;
}

int cli_put_json_line(json_t *root, int precision)
{
    return cli_put_json(root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(precision));
}

int cli_finish_output(int status)
{
    errno = 0;
    bool failed = fflush(stdout) != 0 || ferror(stdout);
    if (!failed)
        return status;
    int e = errno;
    /* The write that failed may have been long ago, its errno lost: one more
     * byte asks the stream why (it is broken already; the byte cannot hurt). */
    if (!e && write(STDOUT_FILENO, "\n", 1) < 0)
        e = errno;
    /* stdout is broken: say so on stderr, once, without touching stdout again */
    fprintf(stderr, "sortlens: standard output: %s\n", e ? strerror(e) : "write error");
    return EXIT_RUNTIME;
}
