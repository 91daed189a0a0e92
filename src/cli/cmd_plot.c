/* cmd_plot.c: `sortlens plot VIEW --out FILE`: a figure of one of the
 * explorer's views, as SVG, PNG or PDF (src/plot). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "plot.h"
#include "sortlens/task.h"

static void usage(FILE *out)
{
    fputs("usage: sortlens plot VIEW --out FILE [--model PATH] [--list LIST] [--at POS]\n"
          "                    [--format svg|png|pdf] [--labels names|values] [--greedy]\n"
          "                    [--layer L] [--head H] [--force]\n"
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
          "  --model PATH      a .pt or .safetensors checkpoint (default: the bundled model)\n"
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
          "  --force           overwrite FILE if it exists\n"
          "  -h, --help        this help\n",
          out);
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

int cmd_plot(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'},
        {"model", required_argument, NULL, 'm'},
        {"list", required_argument, NULL, 'L'},
        {"at", required_argument, NULL, 'a'},
        {"format", required_argument, NULL, 'f'},
        {"labels", required_argument, NULL, 'b'},
        {"greedy", no_argument, NULL, 'g'},
        {"layer", required_argument, NULL, 'l'},
        {"head", required_argument, NULL, 'H'},
        {"force", no_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL, *model_path = NULL, *list_text = NULL, *at_text = NULL;
    bool force = false, have_format = false;
    SlPlotFormat format = SL_PLOT_SVG;
    SlPlotRequest req;
    sl_plot_request_init(&req, SL_PLOT_ATTENTION);
    long layer = 0, head = 0;
    SlError err = {0};
    int ch;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (ch) {
        case 'o': out = optarg; break;
        case 'm': model_path = optarg; break;
        case 'L': list_text = optarg; break;
        case 'a': at_text = optarg; break;
        case 'f':
            if (sl_plot_format_from_name(optarg, &format, &err)) {
                cli_error("plot: --format: %s", err.message);
                return EXIT_USAGE;
            }
            have_format = true;
            break;
        case 'b':
            if (strcmp(optarg, "names") == 0) {
                req.labels = SL_PLOT_LABEL_NAMES;
            } else if (strcmp(optarg, "values") == 0) {
                req.labels = SL_PLOT_LABEL_VALUES;
            } else {
                cli_error("plot: --labels: '%s' is not names or values", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'g': req.greedy = true; break;
        case 'l':
            if (!cli_parse_long("--layer", optarg, 0, MODEL_MAX_LAYERS - 1, &layer))
                return EXIT_USAGE;
            break;
        case 'H':
            if (!cli_parse_long("--head", optarg, 0, MODEL_MAX_HEADS - 1, &head))
                return EXIT_USAGE;
            break;
        case 'F': force = true; break;
        case 'h': usage(stdout); return EXIT_OK;
        default: return cli_getopt_error("plot", ch, argv);
        }
    }
    if (optind >= argc) {
        cli_error("plot: which view? try 'sortlens plot --help'");
        return EXIT_USAGE;
    }
    if (argc - optind > 1) {
        cli_error("plot: one view at a time ('%s' is extra)", argv[optind + 1]);
        return EXIT_USAGE;
    }
    if (sl_plot_view_from_name(argv[optind], &req.view, &err)) {
        cli_error("plot: %s", err.message);
        return EXIT_USAGE;
    }
    if (!out) {
        cli_error("plot: --out FILE is required ('-' writes to stdout)");
        return EXIT_USAGE;
    }
    bool to_stdout = strcmp(out, "-") == 0;
    if (!have_format && !to_stdout && !sl_plot_format_from_path(out, &format))
        format = SL_PLOT_SVG;
    struct stat st;
    if (!to_stdout && !force && lstat(out, &st) == 0) {
        cli_error("%s: already exists; pass --force to overwrite it", out);
        return EXIT_USAGE;
    }
    if (to_stdout && format != SL_PLOT_SVG && isatty(STDOUT_FILENO)) {
        cli_error("plot: not writing %s to a terminal; redirect stdout or use --out FILE",
                  sl_plot_format_name(format));
        return EXIT_USAGE;
    }

    Model *m = cli_load_model(model_path);
    if (!m)
        return EXIT_RUNTIME;
    int status = EXIT_USAGE;
    int values[MODEL_MAX_CTX];
    if (list_text) {
        if (task_parse_list(&m->cfg, list_text, values, &err)) {
            cli_error("plot: --list: %s", err.message);
            goto done;
        }
        req.list = values;
    }
    if (at_text && sl_plot_parse_position(&m->cfg, at_text, &req.at, &err)) {
        cli_error("plot: --at: %s", err.message);
        goto done;
    }
    req.layer = (int)layer;
    req.head = (int)head;
    const char *label = model_path;
    if (!label)
        label = cli_default_model_path(NULL);
    req.model_label = label ? base_name(label) : NULL;

    unsigned char *data = NULL;
    size_t size = 0;
    int rc = to_stdout ? sl_plot_render(m, &req, format, &data, &size, &err)
                       : sl_plot_write(m, &req, format, out, &err);
    if (rc) {
        /* a request the model cannot satisfy (layer, head, sizes) is bad usage;
         * a file that cannot be written is a runtime failure */
        if (rc == SL_EIO)
            cli_error("%s: %s", out, err.message);
        else
            cli_error("plot: %s", err.message);
        status = cli_exit_code(rc);
    } else if (to_stdout) {
        status = EXIT_OK;
        if (fwrite(data, 1, size, stdout) != size || fflush(stdout) != 0) {
            cli_error("stdout: write error");
            status = EXIT_RUNTIME;
        }
    } else {
        status = EXIT_OK;
        fprintf(stderr, "sortlens: wrote %s (%s, %s)\n", out, sl_plot_view_name(req.view),
                sl_plot_format_name(format));
    }
    free(data);
done:
    model_free(m);
    return status;
}
