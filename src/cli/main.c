/* main.c: `sortlens COMMAND [OPTIONS]`; with no command, the explorer. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "sortlens/decode.h"
#include "sortlens/kernels.h"
#include "config.h"

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
    /* false: the command sets BLAS's threads itself (train: --threads) or
     * reports them as the library chose at load (info) */
    bool one_blas_thread;
} commands[] = {
    {"tui", cmd_tui, "open the explorer (the default)", true},
    {"predict", cmd_predict, "sort lists with the model", true},
    {"eval", cmd_eval, "accuracy and loss over random lists or a file, with breakdowns", true},
    {"circuit", cmd_circuit, "print a full QK or OV circuit as CSV or JSON", true},
    {"explain", cmd_explain, "the interpretation report: metrics and ablations", true},
    {"generate", cmd_generate, "write stress sets: lists of one kind, one per line", true},
    {"mean", cmd_mean, "mean attention, QK score terms and DLA over many lists", true},
    {"patch", cmd_patch, "activation patching of a clean/corrupted pair", true},
    {"attribute", cmd_attribute, "split a logit difference into its sources", true},
    {"plot", cmd_plot, "write a figure of a view as SVG, PNG or PDF", true},
    {"train", cmd_train, "train a model from scratch", false},
    {"compare", cmd_compare, "explain's and eval's numbers for several models", true},
    {"convert", cmd_convert, "convert a checkpoint to safetensors", true},
    {"info", cmd_info, "format, config and tensors of a checkpoint", false},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: sortlens [COMMAND] [OPTIONS]\n\n"
                 "Look inside a transformer that sorts lists.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nWith no command, or only options, sortlens opens the explorer.\n"
                 "`sortlens COMMAND --help` describes each command; see also sortlens(1).\n");
}

static int run(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return EXIT_OK;
    }
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        printf("sortlens %s\n", SORTLENS_VERSION);
        return EXIT_OK;
    }
    /* Every command's products are of a batch of lists at most, where a
     * second BLAS thread gains little and its idle spinning costs a core
     * (sl_blas_set_threads): one, unless the user chose a count; so eval
     * and explain also give the same figures.  The table says which
     * commands keep their own count. */
    if (argc < 2 || argv[1][0] == '-') {   /* no command: the explorer, options and all */
        cli_blas_threads_unless_set(1);
        return cmd_tui(argc, argv);
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) {
            if (commands[i].one_blas_thread)
                cli_blas_threads_unless_set(1);
            return commands[i].run(argc - 1, argv + 1);
        }
    cli_error("'%s' is not a command; try 'sortlens --help'", argv[1]);
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    cli_one_blas_thread_under_memory_limit(argv);
    SlError err = {0};
    if (sl_kernels_check_env(&err))   /* a value not understood: said, and run as if unset */
        cli_error("%s", err.message);
    if (sl_eval_threads_check_env(&err))
        cli_error("%s", err.message);
    return cli_finish_output(run(argc, argv));
}
