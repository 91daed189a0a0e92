/* cmd_tui.c: `sortlens [tui] [--model PATH [--step N]] [--list "42 17 ..."]`: the
 * explorer.  Options are checked and the terminal is tested before the
 * model is loaded, so that a mistake costs nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "tui.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sortlens [tui] [--model PATH [--step N]] [--list \"42 17 26 ...\"] [--seed N]\n\n"
            "Open the explorer: type or draw a list, watch the model sort it, and see why:\n"
            "predictions with their probabilities, the attention heatmap with the four QK\n"
            "terms of every score, and the QK and OV circuits, with live interventions.\n\n"
            "options:\n"
            "  --model PATH   a checkpoint (.pt or .safetensors), or a run directory (its\n"
            "                 last snapshot); default: the bundled model\n"
            "  --step N       of a run, the last snapshot at or before step N\n"
            "                 or $SORTLENS_MODEL\n"
            "  --list TEXT    start on this list (n values separated by spaces or commas)\n"
            "  --seed N       seed of the random lists (r, f, the first list); default 1\n"
            "  -h, --help     this help\n\n"
            "Keys: arrows (or h j k l) move, e edits the list, r draws one, g switches\n"
            "greedy / teacher-forced, 1-4 switch the QK terms off and on, p W_pos in the OV\n"
            "path, a blocks the source under the cursor, c cycles the circuits, z shows\n"
            "them whole, n changes their colour scale, f finds a list the model gets\n"
            "wrong, ? shows every key, q quits.  See sortlens(1).\n");
}

int cmd_tui(int argc, char **argv)
{
    double start = cli_now();
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'm'},
        {"list", required_argument, NULL, 'l'},
        {"seed", required_argument, NULL, 's'},
        {"bench-frames", required_argument, NULL, 'B'},   /* hidden: times key redraws */
        CLI_STEP_OPTION,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *model_path = NULL, *list_text = NULL;
    long seed = 1, bench = -1, step = -1;
    const char *val;
    CliArgs args;
    cli_args_begin(&args, "tui", argc, argv, longopts);
    for (int c; (c = cli_args_next(&args, &val)) != CLI_ARG_END;) {
        switch (c) {
        case 'm': model_path = val; break;
        case 'l': list_text = val; break;
        case 's':
            if (!cli_parse_long("--seed", val, 0, 0x7fffffffffffffffL, &seed))
                return EXIT_USAGE;
            break;
        case CLI_OPT_STEP:
            if (!cli_parse_step(val, &step))
                return EXIT_USAGE;
            break;
        case 'B':
            if (!cli_parse_long("--bench-frames", val, 0, 1000000, &bench))
                return EXIT_USAGE;
            break;
        case 'h': usage(stdout); return EXIT_OK;
        case CLI_ARG_POSITIONAL:
            cli_error("unexpected argument '%s'; a list goes in --list \"...\"", val);
            return EXIT_USAGE;
        default: return EXIT_USAGE;   /* CLI_ARG_BAD, reported */
        }
    }
    char why[512];
    if (tui_terminal_problem(why, sizeof why)) {
        cli_error("%s", why);
        return EXIT_RUNTIME;
    }
    SlError err = {0};
    const char *label = model_path;
    if (!label && !(label = cli_default_model_path(&err))) {
        cli_error("%s", err.message);
        return EXIT_RUNTIME;
    }
    Model *m = cli_load_model_at(label, step);
    if (!m)
        return EXIT_RUNTIME;
    TuiOptions opt = {
        .model_label = label,
        .list_text = list_text,
        .seed = (uint64_t)seed,
        .bench_frames = bench,
        .start_time = start,
    };
    int status = tui_run(m, &opt);
    model_free(m);
    return status;
}
