/* cmd_eval.c: `sortlens eval`: accuracy and loss over fresh random lists. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sortlens/decode.h"

#define DEFAULT_LISTS 10000
#define DEFAULT_SEED 1

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sortlens eval [--model PATH] [--lists N] [--seed S] [--json]\n"
            "\n"
            "Evaluate the model on N fresh random lists drawn as in training (n values\n"
            "uniform in 0..d_vocab_out-1, with replacement; the same seed gives the same\n"
            "lists):\n"
            "  token accuracy   teacher-forced: the argmax at each position given the true\n"
            "                   sorted prefix, per predicted value\n"
            "  list accuracy    greedy: the model's own predictions fill the sorted half;\n"
            "                   a list counts only if all n values are right\n"
            "  loss             mean cross-entropy at the n prediction positions\n"
            "  per position     teacher-forced accuracy at each of the n positions\n"
            "A progress bar is drawn on standard error when it is a terminal.\n"
            "\n"
            "options:\n"
            "  --model PATH  a .pt or .safetensors checkpoint (default: the bundled model)\n"
            "  --lists N     how many lists (default %d)\n"
            "  --seed S      seed of the random lists (default %d)\n"
            "  --json        one JSON object: {\"lists\", \"token_accuracy\", \"list_accuracy\",\n"
            "                \"loss\", \"per_position_accuracy\"}\n"
            "  -h, --help    this help\n"
            "\n"
            "exit status: 0 ok, 1 the model cannot be loaded, 2 bad usage\n",
            DEFAULT_LISTS, DEFAULT_SEED);
}

static int print_json(const EvalResult *r, int n)
{
    json_t *per = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(per, json_real(r->per_position_accuracy[i]));
    json_t *root = json_pack("{s:I, s:f, s:f, s:f, s:o}", "lists", (json_int_t)r->lists, "token_accuracy",
                             r->token_accuracy, "list_accuracy", r->list_accuracy, "loss", r->loss,
                             "per_position_accuracy", per);
    return cli_put_json_line(root, 10);
}

int cmd_eval(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"lists", required_argument, NULL, 'n'},
        {"seed", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *model_path = NULL, *val;
    long lists = DEFAULT_LISTS, seed = DEFAULT_SEED;
    bool json = false;
    CliArgs args;
    cli_args_begin(&args, "eval", argc, argv, opts);
    for (int ch; (ch = cli_args_next(&args, &val)) != CLI_ARG_END;) {
        switch (ch) {
        case 'm': model_path = val; break;
        case 'n':
            if (!cli_parse_long("--lists", val, 1, 1000000000L, &lists))
                return EXIT_USAGE;
            break;
        case 's':
            if (!cli_parse_long("--seed", val, 0, 0x7fffffffffffffffL, &seed))
                return EXIT_USAGE;
            break;
        case 'j': json = true; break;
        case 'h': usage(stdout); return EXIT_OK;
        case CLI_ARG_POSITIONAL: return cli_args_unexpected(&args, val);
        default: return EXIT_USAGE;   /* CLI_ARG_BAD, reported */
        }
    }

    const char *label = cli_model_label(model_path);
    Model *m = cli_load_model(model_path);
    if (!m)
        return EXIT_RUNTIME;
    if (cli_check_finite_outputs(label, m, (uint64_t)seed)) {
        model_free(m);
        return EXIT_RUNTIME;
    }
    EvalResult res;
    SlError err = {0};
    Progress prog;
    progress_begin(&prog, "eval", lists);
    int rc = decode_eval(m, lists, (uint64_t)seed, NULL, &res, progress_callback, &prog, &err);
    progress_end(&prog);
    int status = EXIT_OK;
    if (rc) {
        cli_error("%s", err.message);
        status = cli_exit_code(rc);
    } else if (!isfinite(res.loss) || !isfinite(res.token_accuracy)) {
        char what[64];
        snprintf(what, sizeof what, "loss %g", res.loss);
        status = cli_report_not_numbers(label, what);
    } else if (json) {
        status = print_json(&res, m->cfg.list_len);
    } else {
        const int n = m->cfg.list_len;
        printf("lists           %ld (seed %ld)\n", res.lists, seed);
        printf("token accuracy  %.6f  (teacher-forced, %ld of %ld values)\n", res.token_accuracy,
               (long)(res.token_accuracy * (double)res.lists * n + 0.5), res.lists * n);
        printf("list accuracy   %.6f  (greedy, %ld of %ld lists)\n", res.list_accuracy,
               (long)(res.list_accuracy * (double)res.lists + 0.5), res.lists);
        printf("loss            %.6f\n", res.loss);
        printf("per position   ");
        for (int i = 0; i < n; i++)
            printf(" %.4f", res.per_position_accuracy[i]);
        putchar('\n');
    }
    model_free(m);
    return status;
}
