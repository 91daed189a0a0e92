/* cairo_module.c: finds and loads the cairo module (figure.h says why it is
 * one), and renders through it.
 *
 * Where it is looked for: an installed sortlens (the program's directory is
 * the configured bindir) loads it from the configured module directory and
 * from nowhere else, so that an installed program never runs code from a
 * build tree another user may write to; a program run from the build tree
 * (the explorer, the CLI, the tests) loads the one built beside it. */
#include "config.h"
#include "figure.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MODULE_FILE "sortlens-cairo.so"

/* Whether this process's program file lies in the configured bindir. */
static bool running_installed(void)
{
    char exe[PATH_MAX], bindir[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0)
        return true;   /* unknown: the safe choice */
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    if (!realpath(SORTLENS_BINDIR, bindir))
        return false;   /* no bindir at all: nothing is installed there */
    return strcmp(exe, bindir) == 0;
}

const FigCairo *fig_cairo(SlError *err)
{
    static const FigCairo *loaded;
    if (loaded)
        return loaded;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", running_installed() ? SORTLENS_MODULEDIR : SORTLENS_BUILD_MODULEDIR,
             MODULE_FILE);
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        sl_error_set(err, SL_EIO, "figures need the cairo module: %s", dlerror());
        return NULL;
    }
    const FigCairo *table = dlsym(lib, FIG_CAIRO_SYMBOL);
    if (!table || table->abi != FIG_CAIRO_ABI) {
        sl_error_set(err, SL_EIO, "%s: not this sortlens's cairo module (%s)", path,
                     table ? "another version" : "no " FIG_CAIRO_SYMBOL);
        dlclose(lib);
        return NULL;
    }
    return loaded = table;   /* stays loaded until exit */
}

int figure_render_cairo(const Figure *f, FigFormat format, unsigned char **data, size_t *size, SlError *err)
{
    *data = NULL;
    *size = 0;
    if (f->failed)
        return sl_error_set(err, SL_ENOMEM, "out of memory while laying out the figure");
    const FigCairo *cairo = fig_cairo(err);
    if (!cairo)
        return err ? err->code : SL_EIO;
    const char *message = "";
    int rc = cairo->render(f, format, data, size, &message);
    return rc ? sl_error_set(err, rc, "cairo: %s", message) : 0;
}
