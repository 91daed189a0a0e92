/* plot_progress.c: `sortlens plot progress --model RUN_DIR`: every
 * snapshot's curves (sortlens/curves.h: explain's figures and the trainer's
 * loss), then the figure (src/plot, sl_plot_curves_render). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "plot.h"
#include "sortlens/curves.h"
#include "sortlens/run.h"

int plot_progress(const char *dir, long lists, const char *out, int format)
{
    SlError err = {0};
    if (!dir || !sl_run_is_dir(dir)) {
        cli_error("plot: progress needs --model RUN_DIR, a run directory (train --snapshot-every or --snapshots)");
        return EXIT_USAGE;
    }
    SlRun *run = sl_run_open(dir, &err);
    if (!run) {
        cli_error("%s", err.message);
        return cli_exit_code(err.code);
    }
    if (lists <= 0)
        lists = SL_CURVE_LISTS;
    double *values = malloc((size_t)run->count * SL_CURVE_COUNT * sizeof *values);
    if (!values) {
        cli_error("plot: out of memory for %d snapshots", run->count);
        sl_run_free(run);
        return EXIT_RUNTIME;
    }
    long work = sl_explain_work(lists);
    Progress bar;
    progress_begin(&bar, "progress", work * run->count);
    int status = EXIT_OK;
    for (int i = 0; i < run->count && status == EXIT_OK; i++) {
        char *path = sl_run_snapshot_path(run->dir, run->steps[i]);
        SlProgressPart part = {progress_callback, &bar, work * i, work * run->count};
        if (!path || sl_curve_values_of_file(path, lists, SL_CURVE_SEED, values + (size_t)i * SL_CURVE_COUNT,
                                             sl_progress_part, &part, &err)) {
            progress_end(&bar);
            cli_error("%s", path ? err.message : "plot: out of memory");
            status = path ? cli_exit_code(err.code) : EXIT_RUNTIME;
        }
        free(path);
    }
    progress_end(&bar);
    if (status == EXIT_OK) {
        const char *base = strrchr(run->dir, '/');
        SlPlotCurves cs = {base ? base + 1 : run->dir, run->count, run->steps, values, lists, SL_CURVE_SEED};
        bool to_stdout = strcmp(out, "-") == 0;
        unsigned char *data = NULL;
        size_t size = 0;
        int rc = to_stdout ? sl_plot_curves_render(&cs, format, &data, &size, &err)
                           : sl_plot_curves_write(&cs, format, out, &err);
        if (rc) {
            cli_error(rc == SL_EIO ? "%s" : "plot: %s", err.message);   /* the writer's messages name the file */
            status = cli_exit_code(rc);
        } else if (to_stdout) {
            fwrite(data, 1, size, stdout);
        } else {
            fprintf(stderr, "sortlens: wrote %s (progress of %d snapshots, %s)\n", cli_text(out), run->count,
                    sl_plot_format_name(format));
        }
        free(data);
    }
    free(values);
    sl_run_free(run);
    return status;
}
