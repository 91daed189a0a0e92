/* cmd_eval.c: `sortlens eval`: accuracy and loss over fresh random lists or
 * the lists of a file, broken down by the shape of the list. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sortlens/ablation.h"
#include "sortlens/population.h"

#define DEFAULT_LISTS 10000
#define DEFAULT_SEED 1

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sortlens eval [--model PATH [--step N]] [--lists N] [--seed S | --input FILE]\n"
            "                     [--ablate SPEC] [--resample-seed S] [--json]\n"
            "\n"
            "Evaluate the model on N fresh random lists drawn as in training (n values\n"
            "uniform in 0..d_vocab_out-1, with replacement; the same seed gives the same\n"
            "lists), or on the lists of FILE:\n"
            "  token accuracy   teacher-forced: the argmax at each position given the true\n"
            "                   sorted prefix, per predicted value\n"
            "  list accuracy    greedy: the model's own predictions fill the sorted half;\n"
            "                   a list counts only if all n values are right\n"
            "  loss             mean cross-entropy at the n prediction positions\n"
            "  per position     teacher-forced accuracy at each of the n positions\n"
            "  first wrong      how many lists' first greedy error is at b_1 .. b_n\n"
            "  by multiplicity  lists, list and token accuracy by the largest number of\n"
            "                   times one value occurs (1, 2, 3, 4+)\n"
            "  by largest gap   the same by the largest difference between consecutive\n"
            "                   sorted values (0-4, 5-9, 10-19, 20+)\n"
            "  by span          the same by max - min (0-9, 10-19, 20-39, 40+)\n"
            "A progress bar is drawn on standard error when it is a terminal.\n"
            "\n"
            "options:\n"
            "  --model PATH  a .pt or .safetensors checkpoint, or a run directory (its last\n"
            "                snapshot); default: the bundled model\n"
            "  --step N      of a run, the last snapshot at or before step N\n"
            "  --lists N     how many lists (default %d)\n"
            "  --seed S      seed of the random lists (default %d)\n"
            "  --input FILE  evaluate the lists in FILE ('-': standard input), one per line\n"
            "                in predict's syntax (blank lines skipped).  The whole file is\n"
            "                checked first: a bad line is reported with its number and\n"
            "                nothing is evaluated.  Memory stays bounded whatever its size\n"
            "                (the checked lists wait in a temporary file, 1-2 bytes a value)\n"
            "  --ablate SPEC evaluate under ablations, e.g. qk:token-token, head:0.0,\n"
            "                mean:head:0.0, resample:head:0.0@query=b3 (see sortlens(1),\n"
            "                ABLATIONS); the JSON then carries \"ablation\", its canonical text\n"
            "  --resample-seed S  seed of the other lists resample:head:L.H draws (default 1)\n"
            "  --json        one JSON object: {\"lists\", \"token_accuracy\", \"list_accuracy\",\n"
            "                \"loss\", \"per_position_accuracy\", \"first_wrong_position\",\n"
            "                \"by_multiplicity\", \"by_largest_gap\", \"by_span\"}; each bucket\n"
            "                is {\"lists\", \"list_accuracy\", \"token_accuracy\"} (null when empty)\n"
            "  -h, --help    this help\n"
            "\n"
            "exit status: 0 ok, 1 the model or FILE cannot be read, 2 bad usage or a bad line\n",
            DEFAULT_LISTS, DEFAULT_SEED);
}

/* A ratio, or JSON null for an empty bucket. */
static json_t *ratio_json(long num, long den)
{
    return den > 0 ? json_real((double)num / (double)den) : json_null();
}

static int print_json(const SlEvalResult *r, const SlBreakdown *bd, int n, const char *ablation)
{
    json_t *per = json_array(), *first = json_array();
    for (int i = 0; i < n; i++) {
        json_array_append_new(per, json_real(r->per_position_accuracy[i]));
        json_array_append_new(first, json_integer(bd->first_wrong[i]));
    }
    json_t *root = json_pack("{s:I, s:f, s:f, s:f, s:o, s:o}", "lists", (json_int_t)r->lists, "token_accuracy",
                             r->token_accuracy, "list_accuracy", r->list_accuracy, "loss", r->loss,
                             "per_position_accuracy", per, "first_wrong_position", first);
    for (int a = 0; root && a < SL_BREAKDOWN_AXES; a++) {
        json_t *axis = json_object();
        for (int k = 0; k < SL_BREAKDOWN_BUCKETS; k++) {
            const SlBucket *b = &bd->bucket[a][k];
            json_object_set_new(axis, sl_breakdown_bucket_label(a, k),
                                json_pack("{s:I, s:o, s:o}", "lists", (json_int_t)b->lists, "list_accuracy",
                                          ratio_json(b->lists_right, b->lists), "token_accuracy",
                                          ratio_json(b->tokens_right, b->tokens)));
        }
        json_object_set_new(root, sl_breakdown_axis_name(a), axis);
    }
    if (root && ablation)
        json_object_set_new(root, "ablation", json_string(ablation));
    return cli_put_json_line(root, 10);
}

static void print_breakdown(const SlBreakdown *bd, int n)
{
    printf("first wrong    ");
    for (int i = 0; i < n; i++)
        printf(" b%d:%ld", i + 1, bd->first_wrong[i]);
    putchar('\n');
    static const char *const titles[SL_BREAKDOWN_AXES] = {"by multiplicity", "by largest gap", "by span"};
    for (int a = 0; a < SL_BREAKDOWN_AXES; a++) {
        printf("%-15s  %7s %10s %10s\n", titles[a], "lists", "list acc", "token acc");
        for (int k = 0; k < SL_BREAKDOWN_BUCKETS; k++) {
            const SlBucket *b = &bd->bucket[a][k];
            printf("  %-13s  %7ld", sl_breakdown_bucket_label(a, k), b->lists);
            if (b->lists > 0)
                printf(" %10.4f %10.4f\n", (double)b->lists_right / b->lists, (double)b->tokens_right / b->tokens);
            else
                printf(" %10s %10s\n", "-", "-");
        }
    }
}

int cmd_eval(int argc, char **argv)
{
    static const char *const rows[] = {CLI_POPULATION_ROWS, "step", NULL};
    CliShared sh = cli_shared_lists(DEFAULT_LISTS, 1000000000L, DEFAULT_SEED);
    int parsed = cli_args_shared_only("eval", argc, argv, rows, &sh, usage);
    if (parsed >= 0)
        return parsed;
    const char *input = sh.input;
    const bool json = sh.json;
    const char *model_path = sh.model, *ablate = sh.ablate;
    const long lists = sh.lists, seed = sh.seed, resample_seed = sh.resample_seed, step = sh.step;
    const bool lists_given = sh.lists_given, seed_given = sh.seed_given;
    if (input && (lists_given || seed_given)) {
        cli_error("eval: --input takes its lists from the file; --%s does not apply", lists_given ? "lists" : "seed");
        return EXIT_USAGE;
    }

    const char *label = cli_model_label(model_path);
    SlModel *m = cli_load_model_at(model_path, step);
    if (!m)
        return EXIT_RUNTIME;
    cli_blas_note();
    if (cli_check_finite_outputs(label, m, (uint64_t)seed)) {
        sl_model_free(m);
        return EXIT_RUNTIME;
    }
    SlEvalResult res;
    SlBreakdown *bd = malloc(sizeof *bd);
    SlError err = {0};
    CliPopulation pop = {0};
    SlAblationRun *run = NULL;
    int status = EXIT_OK;
    if (!bd) {
        cli_error("out of memory");
        sl_model_free(m);
        return EXIT_RUNTIME;
    }
    if (cli_population_open(&pop, &m->cfg, input, SL_STRESS_UNIFORM, lists, seed, &err)) {
        cli_error("%s", err.message);
        status = cli_exit_code(err.code);
        goto done;
    }
    SlAblation abl;
    char abl_text[SL_ABLATION_TEXT_MAX];
    if (!(run = cli_ablation_run(m, ablate, resample_seed, false, &abl, abl_text, &status)))
        goto done;
    Progress prog;
    progress_begin(&prog, "eval", pop.src.total);
    int rc = sl_ablation_eval(run, &pop.src, &res, bd, progress_callback, &prog, &err);
    progress_end(&prog);
    if (rc) {
        cli_error("%s", err.message);
        status = cli_exit_code(rc);
    } else if (!isfinite(res.loss) || !isfinite(res.token_accuracy)) {
        char what[64];
        snprintf(what, sizeof what, "loss %g", res.loss);
        status = cli_report_not_numbers(label, what);
    } else if (json) {
        status = print_json(&res, bd, m->cfg.list_len, abl.count ? abl_text : NULL);
    } else {
        const int n = m->cfg.list_len;
        if (input)
            printf("lists           %ld (from %s)\n", res.lists, cli_input_label(input));
        else
            printf("lists           %ld (seed %ld)\n", res.lists, seed);
        if (abl.count)
            printf("ablation        %s\n", abl_text);
        printf("token accuracy  %.6f  (teacher-forced, %ld of %ld values)\n", res.token_accuracy,
               (long)(res.token_accuracy * (double)res.lists * n + 0.5), res.lists * n);
        printf("list accuracy   %.6f  (greedy, %ld of %ld lists)\n", res.list_accuracy,
               (long)(res.list_accuracy * (double)res.lists + 0.5), res.lists);
        printf("loss            %.6f\n", res.loss);
        printf("per position   ");
        for (int i = 0; i < n; i++)
            printf(" %.4f", res.per_position_accuracy[i]);
        putchar('\n');
        print_breakdown(bd, n);
    }
done:
    sl_ablation_run_free(run);
    cli_population_close(&pop);
    free(bd);
    sl_model_free(m);
    return status;
}
