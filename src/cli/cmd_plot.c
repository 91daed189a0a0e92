/* cmd_plot.c: `sortlens plot VIEW --out FILE`: a figure of one of the
 * explorer's views, as SVG, PNG or PDF (src/plot). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "plot.h"
#include "sortlens/atomic_write.h"
#include "sortlens/task.h"

static void usage(FILE *out)
{
    fputs("usage: sortlens plot VIEW --out FILE [--model PATH] [--list LIST] [--at POS]\n"
          "                    [--format svg|png|pdf] [--labels names|values] [--greedy]\n"
          "                    [--layer L] [--head H] [--corrupt LIST] [--lists N] [--force]\n"
          "\n"
          "Write a figure of one view of the model: a heat map with a title, labelled axes\n"
          "and a colour bar (blue-white-red centred on zero for signed values, viridis for\n"
          "attention weights).  In SVG every cell is a <rect> whose <title> holds its exact\n"
          "value, shown on hover and readable by scripts; PNG is drawn at 2 pixels per\n"
          "point.  The views:\n",
          out);
    for (int v = 0; v < SL_PLOT_VIEW_COUNT; v++)
        fprintf(out, "  %-15s %s\n", sl_plot_view_name((SlPlotView)v), sl_plot_view_help((SlPlotView)v));
    fputs("\n"
          "options:\n"
          "  --out FILE        where to write the figure (required; '-' for stdout)\n"
          "  --model PATH      a .pt or .safetensors checkpoint (default: the bundled model);\n"
          "                    progress: a run directory, every snapshot explained\n"
          "  --list LIST       the list of attention, scores and decomposition, e.g.\n"
          "                    \"42 17 26 3 49 0 26 11 8 30\" (default: the explorer's first\n"
          "                    list, seed 1)\n"
          "  --at POS          the query outlined in attention and scores and split by\n"
          "                    decomposition: BOS, a1..a10, MID, b1..b10 or 0..21\n"
          "                    (default MID, the first prediction)\n"
          "  --format F        svg, png or pdf (default: FILE's extension, else svg)\n"
          "  --labels MODE     sequence axes named by position (names: BOS, a1, .., MID,\n"
          "                    b1, ..; the default) or by the token there (values)\n"
          "  --greedy          the sorted half is the model's own output (default: the\n"
          "                    true sort, as PyTorch's reference runs it)\n"
          "  --layer L         layer (default 0; the decomposition is layer 0's)\n"
          "  --head H          head (default 0)\n"
          "  --corrupt LIST    patch: the corrupted list (required there); the query is\n"
          "                    --at (default: where the two sorted lists first differ)\n"
          "  --lists N         mean-attention: how many random lists, seed 1 (1000);\n"
          "                    progress: explain's lists per snapshot (1000)\n"
          "  --force           overwrite FILE if it exists\n"
          "  -h, --help        this help\n",
          out);
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* What the command line sets. */
typedef struct PlotArgs {
    CliShared sh;
    const char *out, *at_text, *corrupt_text, *view;
    bool force, have_format;
    SlPlotFormat format;
    SlPlotRequest req;   /* the view, labels, greedy and lists; the rest once the model is loaded */
} PlotArgs;

/* Applies option ch with its value; says why and returns false when the
 * value is bad. */
static bool apply_plot_option(void *ctx, int ch, const char *val)
{
    PlotArgs *a = ctx;
    SlError err = {0};
    switch (ch) {
    case 'o': a->out = val; return true;
    case 'a': a->at_text = val; return true;
    case 'f':
        if (sl_plot_format_from_name(val, &a->format, &err)) {
            cli_error("plot: --format: %s", err.message);
            return false;
        }
        a->have_format = true;
        return true;
    case 'b':
        if (strcmp(val, "names") == 0) {
            a->req.labels = SL_PLOT_LABEL_NAMES;
        } else if (strcmp(val, "values") == 0) {
            a->req.labels = SL_PLOT_LABEL_VALUES;
        } else {
            cli_error("plot: --labels: '%s' is not names or values", val);
            return false;
        }
        return true;
    case 'g': a->req.greedy = true; return true;
    case 'c': a->corrupt_text = val; return true;
    case 'F': a->force = true; return true;
    case CLI_ARG_POSITIONAL:
        if (a->view) {
            cli_error("plot: one view at a time ('%s' is extra)", val);
            return false;
        }
        a->view = val;
        return true;
    }
    return false;   /* not reached: cli_args_walk handles --help and CLI_ARG_BAD */
}

/* Fills a from the command line and checks the view: -1 when all is well,
 * else the exit status (0 after --help). */
static int parse_plot_args(PlotArgs *a, int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'},
        CLI_SHARED_ROW("model"),
        CLI_SHARED_ROW("list"),
        {"at", required_argument, NULL, 'a'},
        {"format", required_argument, NULL, 'f'},
        {"labels", required_argument, NULL, 'b'},
        {"greedy", no_argument, NULL, 'g'},
        CLI_SHARED_ROW("layer"),
        CLI_SHARED_ROW("head"),
        {"corrupt", required_argument, NULL, 'c'},
        CLI_SHARED_ROW("lists"),

        {"force", no_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *a = (PlotArgs){.format = SL_PLOT_SVG};
    sl_plot_request_init(&a->req, SL_PLOT_ATTENTION);
    a->sh = cli_shared();
    a->sh.lists = a->req.lists;
    a->sh.lists_max = 10000000;
    SlError err = {0};
    CliArgs args;
    cli_args_begin_shared(&args, "plot", argc, argv, opts, &a->sh);
    int parsed = cli_args_walk(&args, usage, apply_plot_option, a);
    if (parsed >= 0)
        return parsed;
    a->req.lists = a->sh.lists;
    if (!a->view) {
        cli_error("plot: which view? try 'sortlens plot --help'");
        return EXIT_USAGE;
    }
    if (sl_plot_view_from_name(a->view, &a->req.view, &err)) {
        cli_error("plot: %s", err.message);
        return EXIT_USAGE;
    }
    if (!a->out) {
        cli_error("plot: --out FILE is required ('-' writes to stdout)");
        return EXIT_USAGE;
    }
    return -1;
}

/* --out: the format from its name unless --format gave one, and whether it
 * may be written (not an existing file without --force, not binary to a
 * terminal): -1 when it may, else the exit status. */
static int check_plot_output(PlotArgs *a)
{
    bool to_stdout = strcmp(a->out, "-") == 0;
    if (!a->have_format && !to_stdout && !sl_plot_format_from_path(a->out, &a->format))
        a->format = SL_PLOT_SVG;
    SlError err_out = {0};
    bool exists = false;
    if (!to_stdout && sl_atomic_check(a->out, &exists, &err_out)) {
        cli_error("%s", err_out.message);
        return cli_exit_code(err_out.code);
    }
    if (exists && !a->force) {
        cli_error("%s: already exists; pass --force to overwrite it", cli_text(a->out));
        return EXIT_USAGE;
    }
    if (to_stdout && a->format != SL_PLOT_SVG && isatty(STDOUT_FILENO)) {
        cli_error("plot: not writing %s to a terminal; redirect stdout or use --out FILE",
                  sl_plot_format_name(a->format));
        return EXIT_USAGE;
    }
    return -1;
}

/* The rest of the request, which needs the model: --list and --corrupt
 * (parsed into values and corrupt, [SL_MODEL_MAX_CTX] each), --at, the
 * layer, head and model label; false after a reported bad value. */
static bool complete_plot_request(PlotArgs *a, const SlModel *m, int *values, int *corrupt)
{
    SlError err = {0};
    SlPlotRequest *req = &a->req;
    if (a->sh.list) {
        if (sl_task_parse_list(&m->cfg, a->sh.list, values, &err)) {
            cli_error("plot: --list: %s", err.message);
            return false;
        }
        req->list = values;
    }
    if (a->corrupt_text) {
        if (sl_task_parse_list(&m->cfg, a->corrupt_text, corrupt, &err)) {
            cli_error("plot: --corrupt: %s", err.message);
            return false;
        }
        req->corrupt = corrupt;
    }
    if (a->at_text && sl_plot_parse_position(&m->cfg, a->at_text, &req->at, &err)) {
        cli_error("plot: --at: %s", err.message);
        return false;
    }
    req->layer = (int)a->sh.layer;
    req->head = (int)a->sh.head;
    const char *label = a->sh.model;
    if (!label)
        label = cli_default_model_path(NULL);
    req->model_label = label ? base_name(label) : NULL;
    return true;
}

int cmd_plot(int argc, char **argv)
{
    PlotArgs a;
    int early = parse_plot_args(&a, argc, argv);
    if (early < 0)
        early = check_plot_output(&a);
    if (early >= 0)
        return early;
    const char *out = a.out;
    const SlPlotFormat format = a.format;
    if (a.req.view == SL_PLOT_PROGRESS)
        return plot_progress(a.sh.model, a.sh.lists, out, format);
    SlModel *m = cli_load_model(a.sh.model);
    if (!m)
        return EXIT_RUNTIME;
    int status = EXIT_USAGE;
    int values[SL_MODEL_MAX_CTX], corrupt[SL_MODEL_MAX_CTX];
    if (!complete_plot_request(&a, m, values, corrupt))
        goto done;
    const bool to_stdout = strcmp(out, "-") == 0;
    SlError err = {0};
    unsigned char *data = NULL;
    size_t size = 0;
    int rc = to_stdout ? sl_plot_render(m, &a.req, format, &data, &size, &err)
                       : sl_plot_write(m, &a.req, format, out, &err);
    if (rc) {
        /* a request the model cannot satisfy (layer, head, sizes) is bad usage;
         * a file that cannot be written is a runtime failure */
        if (rc == SL_EIO)
            cli_error("%s", err.message);   /* the writer's messages name the file */
        else
            cli_error("plot: %s", err.message);
        status = cli_exit_code(rc);
    } else if (to_stdout) {
        status = EXIT_OK;
        fwrite(data, 1, size, stdout);   /* a failed write is reported once, by cli_finish_output */
    } else {
        status = EXIT_OK;
        fprintf(stderr, "sortlens: wrote %s (%s, %s)\n", cli_text(out), sl_plot_view_name(a.req.view),
                sl_plot_format_name(format));
    }
    free(data);
done:
    sl_model_free(m);
    return status;
}
