/* cmd_mean.c: `sortlens mean`: the mean attention pattern, QK score terms
 * and direct logit attribution over a population of lists (population.h),
 * the averages the published analysis starts from. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sortlens/ablation.h"
#include "sortlens/circuits.h"
#include "sortlens/population.h"

#define DEFAULT_LISTS 10000
#define DEFAULT_SEED 1

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sortlens mean [--model PATH] [--lists N] [--seed S] [--kind KIND | --input FILE]\n"
            "                     [--ablate SPEC] [--resample-seed S] [--json]\n"
            "\n"
            "Average over a population of lists, teacher-forced ([BOS, a, MID, sorted a]):\n"
            "  pattern       the attention pattern of every layer and head\n"
            "                [layer][head][query][key]\n"
            "  score_terms   layer 0: each QK term as it enters the score, divided by\n"
            "                sqrt(d_head), so that the four (token_token, token_pos,\n"
            "                pos_token, pos_pos) sum to hook_attn_scores; [head][query][key],\n"
            "                null on masked keys\n"
            "  dla_correct   layer 0: the direct logit attribution of each source to the\n"
            "                logit of the correct next value, at the prediction queries\n"
            "                (MID .. b_(n-1)); [head][query][key], null elsewhere\n"
            "The population is N random lists from the seed, as in training (or of a\n"
            "stress kind, see sortlens generate --help), or the lists of FILE ('-':\n"
            "standard input, one per line as for eval --input).  The text output is a\n"
            "summary: for each head and prediction query, the key it attends to most on\n"
            "average, the attention on the inputs a_1..a_n and after MID, and the total\n"
            "attribution to the right answer.\n"
            "Under --ablate the means are of the ablated runs: their pattern and the\n"
            "attribution through their values; a removed QK term is 0 in score_terms\n"
            "where it was removed; where a head's output is replaced (head:, mean:head:,\n"
            "resample:head:) its dla_correct is null, as that output is no sum over\n"
            "sources then.\n"
            "\n"
            "options:\n"
            "  --model PATH  a .pt or .safetensors checkpoint (default: the bundled model)\n"
            "  --lists N     how many random lists (default %d)\n"
            "  --seed S      their seed (default %d)\n"
            "  --kind KIND   a stress kind instead of uniform random lists\n"
            "  --input FILE  the lists of FILE instead of random ones\n"
            "  --ablate SPEC average under ablations, e.g. qk:token-token, head:0.0,\n"
            "                mean:head:0.0, resample:head:0.0@query=b3 (see sortlens(1),\n"
            "                ABLATIONS); the JSON then carries \"ablation\", its canonical text\n"
            "  --resample-seed S  seed of the other lists resample:head:L.H draws (default 1)\n"
            "  --json        one JSON object: {\"lists\", \"positions\", \"pattern\",\n"
            "                \"score_terms\", \"dla_correct\"} (and \"ablation\")\n"
            "  -h, --help    this help\n"
            "\n"
            "exit status: 0 ok, 1 the model or FILE cannot be read, 2 bad usage or a bad line\n",
            DEFAULT_LISTS, DEFAULT_SEED);
}

static json_t *number_or_null(double x) { return isnan(x) ? json_null() : json_real(x); }

/* x [rows, T, T] as nested arrays [rows][T][T]. */
static json_t *cube_json(const double *x, int rows, int T)
{
    json_t *a = json_array();
    for (int r = 0; r < rows; r++) {
        json_t *m = json_array();
        for (int q = 0; q < T; q++) {
            json_t *row = json_array();
            for (int k = 0; k < T; k++)
                json_array_append_new(row, number_or_null(x[((size_t)r * T + q) * T + k]));
            json_array_append_new(m, row);
        }
        json_array_append_new(a, m);
    }
    return a;
}

static int print_json(const SlModelConfig *c, const SlPopulationMean *pm, const char *ablation)
{
    const int L = pm->L, H = pm->H, T = pm->T;
    const size_t HTT = (size_t)H * T * T;
    json_t *root = json_object(), *pos = json_array(), *pat = json_array(), *terms = json_object();
    char name[32];
    for (int p = 0; p < T; p++) {
        sl_position_name(c, p, name, sizeof name);
        json_array_append_new(pos, json_string(name));
    }
    for (int l = 0; l < L; l++)
        json_array_append_new(pat, cube_json(pm->pattern + l * HTT, H, T));
    static const char *const term_names[SL_SCORE_TERMS] = {"token_token", "token_pos", "pos_token", "pos_pos"};
    for (int t = 0; t < SL_SCORE_TERMS; t++)
        json_object_set_new(terms, term_names[t], cube_json(pm->score_terms + t * HTT, H, T));
    json_object_set_new(root, "lists", json_integer(pm->lists));
    if (ablation)
        json_object_set_new(root, "ablation", json_string(ablation));
    json_object_set_new(root, "positions", pos);
    json_object_set_new(root, "pattern", pat);
    json_object_set_new(root, "score_terms", terms);
    json_object_set_new(root, "dla_correct", cube_json(pm->dla_correct, H, T));
    return cli_put_json_line(root, 8);
}

static void print_summary(const SlModelConfig *c, const SlPopulationMean *pm, const char *what, const char *ablation)
{
    const int L = pm->L, H = pm->H, T = pm->T, n = c->list_len;
    printf("Means over %ld lists (%s), teacher-forced.\n", pm->lists, what);
    if (ablation)
        printf("Ablation: %s\n", ablation);
    char qn[16], kn[16];
    for (int l = 0; l < L; l++)
        for (int h = 0; h < H; h++) {
            printf("\nLayer %d, head %d: mean attention at each prediction query%s\n", l, h,
                   l == 0 ? "; DLA to the right answer (sum over keys)" : "");
            printf("  %-6s %-8s %8s %9s %9s%s\n", "query", "top key", "weight", "on a1..", "after MID",
                   l == 0 ? "       DLA" : "");
            for (int q = n + 1; q <= 2 * n; q++) {
                const double *row = pm->pattern + (((size_t)l * H + h) * T + q) * T;
                int top = 0;
                double inputs = 0, after = 0;
                for (int k = 0; k <= q; k++) {
                    if (row[k] > row[top])
                        top = k;
                    if (k >= 1 && k <= n)
                        inputs += row[k];
                    if (k > n + 1)
                        after += row[k];
                }
                sl_position_name(c, q, qn, sizeof qn);
                sl_position_name(c, top, kn, sizeof kn);
                printf("  %-6s %-8s %8.4f %9.4f %9.4f", qn, kn, row[top], inputs, after);
                if (l == 0) {
                    double dla = 0;
                    for (int k = 0; k <= q; k++)
                        dla += pm->dla_correct[((size_t)h * T + q) * T + k];
                    if (isnan(dla))   /* the head's output replaced here */
                        printf(" %9s", "-");
                    else
                        printf(" %+9.3f", dla);
                }
                putchar('\n');
            }
        }
    if (L > 0) {
        printf("\nLayer 0 mean score terms (divided by sqrt(d_head)) at MID's top key:\n");
        for (int h = 0; h < H; h++) {
            int q = n + 1, top = 0;
            const double *row = pm->pattern + ((size_t)h * T + q) * T;
            for (int k = 0; k <= q; k++)
                if (row[k] > row[top])
                    top = k;
            sl_position_name(c, top, kn, sizeof kn);
            size_t i = ((size_t)h * T + q) * T + top, HTT = (size_t)H * T * T;
            printf("  head %d, MID -> %s: token-token %+.3f, token-pos %+.3f, pos-token %+.3f, pos-pos %+.3f\n", h, kn,
                   pm->score_terms[i], pm->score_terms[HTT + i], pm->score_terms[2 * HTT + i],
                   pm->score_terms[3 * HTT + i]);
        }
    }
}

int cmd_mean(int argc, char **argv)
{
    static const char *const rows[] = {CLI_POPULATION_ROWS, "kind", NULL};
    CliShared sh = cli_shared_lists(DEFAULT_LISTS, 1000000000L, DEFAULT_SEED);
    int parsed = cli_args_shared_only("mean", argc, argv, rows, &sh, usage);
    if (parsed >= 0)
        return parsed;
    const char *input = sh.input, *kind_name = sh.kind;
    const bool json = sh.json;
    const char *model_path = sh.model, *ablate = sh.ablate;
    const long lists = sh.lists, seed = sh.seed, resample_seed = sh.resample_seed;
    const bool random_given = sh.lists_given || sh.seed_given || kind_name;
    if (input && random_given) {
        cli_error("mean: --input takes its lists from the file; --lists, --seed and --kind do not apply");
        return EXIT_USAGE;
    }
    SlStressKind kind = SL_STRESS_UNIFORM;
    if (kind_name && !cli_parse_stress_kind(kind_name, &kind))
        return EXIT_USAGE;
    SlModel *m = cli_load_model(model_path);
    if (!m)
        return EXIT_RUNTIME;
    SlError err = {0};
    int status = EXIT_OK;
    CliPopulation pop = {0};
    SlPopulationMean pm = {0};
    SlAblationRun *run = NULL;
    SlAblation abl;
    char what[256], abl_text[SL_ABLATION_TEXT_MAX];
    if (!(run = cli_ablation_run(m, ablate, resample_seed, false, &abl, abl_text, &status)))
        goto done;
    if (cli_population_open(&pop, &m->cfg, input, kind, lists, seed, &err))
        goto fail;
    if (input)
        snprintf(what, sizeof what, "from %s", cli_input_label(input));
    else
        snprintf(what, sizeof what, "%s, seed %ld", sl_stress_name(kind), seed);
    Progress prog;
    progress_begin(&prog, "mean", pop.src.total);
    int rc = sl_ablation_mean(run, &pop.src, &pm, progress_callback, &prog, &err);
    progress_end(&prog);
    if (rc)
        goto fail;
    if (json)
        status = print_json(&m->cfg, &pm, abl.count ? abl_text : NULL);
    else
        print_summary(&m->cfg, &pm, what, abl.count ? abl_text : NULL);
    goto done;
fail:
    cli_error("%s", err.message);
    status = cli_exit_code(err.code);
done:
    sl_ablation_run_free(run);
    sl_population_mean_free(&pm);
    cli_population_close(&pop);
    sl_model_free(m);
    return status;
}
