/* cmd_explain.c: `sortlens explain`: the published interpretation of the
 * sort model, stated as numbers for the loaded model, and the ablation
 * table that shows which parts of the circuit the model needs. */
#include <limits.h>
#include <math.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sortlens/circuits.h"

#define DEFAULT_LISTS 1000
#define DEFAULT_SEED 1

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sortlens explain [--model PATH] [--lists N] [--seed S] [--json]\n"
            "\n"
            "State the interpretation of the model as numbers, for every attention head:\n"
            "  ov_copy_fraction        rows of the OV circuit W_E W_V W_O W_U whose largest\n"
            "                          value logit is the value itself (the head copies)\n"
            "  qk_next_token_fraction  values whose token-token QK row (over the value\n"
            "                          columns) peaks at value + 1; the last value never can\n"
            "  top_source_correct      at the prediction positions, how often the key the\n"
            "                          head attends to most holds the value to predict\n"
            "  top_input_correct       the same among the unsorted inputs a_1..a_n only\n"
            "  attention_on_answer     mean attention on the inputs holding that value\n"
            "  attention_after_mid     mean attention on the sorted prefix after MID\n"
            "and the ablation table: teacher-forced token accuracy, greedy whole-list\n"
            "accuracy and loss with each QK term removed, with W_pos removed from the OV\n"
            "path, and with the direct path (embeddings through W_U) removed.  For layers\n"
            "after the first, the circuit counts use the direct circuits (the head reading\n"
            "the embeddings straight); the interventions act on layer 0.\n"
            "\n"
            "options:\n"
            "  --model PATH   a .pt or .safetensors checkpoint (default: the bundled model)\n"
            "  --lists N      random lists for the attention statistics and each ablation\n"
            "                 (default %d)\n"
            "  --seed S       seed of the random lists (default %d)\n"
            "  --json         one JSON object with the metrics under the names above\n"
            "  -h, --help     this help\n",
            DEFAULT_LISTS, DEFAULT_SEED);
}

typedef struct HeadMetrics {
    int layer, head;
    int ov_hits, ov_total;
    int qk_hits, qk_total;
    AttentionStats att;
} HeadMetrics;

/* The layer-0 head whose top key most often holds the answer: the one the
 * top-level JSON metrics describe (the only one in the seed model). */
static int primary_head(const HeadMetrics *hm, int H)
{
    int best = 0;
    for (int h = 1; h < H; h++)
        if (hm[h].att.top_source_correct > hm[best].att.top_source_correct)
            best = h;
    return best;
}

static void print_report(const char *path, const Model *m, long lists, long seed, const HeadMetrics *hm,
                         const AblationRow *rows)
{
    const ModelConfig *c = &m->cfg;
    int L = c->n_layers, H = c->n_heads, n = c->list_len, Vo = c->d_vocab_out;
    printf("Model %s: %d layer%s, %d head%s, d_model %d, d_head %d; lists of %d values in 0..%d.\n", path, L,
           L == 1 ? "" : "s", H, H == 1 ? "" : "s", c->d_model, c->d_head, n, Vo - 1);
    for (int i = 0; i < L * H; i++) {
        const HeadMetrics *x = &hm[i];
        printf("\nLayer %d, head %d%s\n", x->layer, x->head,
               x->layer > 0 ? " (direct circuits: as if the head read the embeddings straight)" : "");
        printf("  OV copies:       %d/%d values map to themselves (%.2f): the value a key holds is the value\n"
               "                   the head writes, so attending to x predicts x.\n",
               x->ov_hits, x->ov_total, (double)x->ov_hits / x->ov_total);
        printf("  QK next value:   %d/%d query values attend most to value + 1 (%.2f): the token-token term\n"
               "                   points a query at keys a little larger than itself.\n",
               x->qk_hits, x->qk_total, (double)x->qk_hits / x->qk_total);
        printf("  Top key right:   %.4f of %ld prediction positions: the key the head attends to most\n"
               "                   holds the value to predict.\n",
               x->att.top_source_correct, x->att.queries);
        printf("  Top input right: %.4f: among the unsorted inputs a_1..a_%d, the one it attends to most\n"
               "                   holds the value to predict.\n",
               x->att.top_input_correct, n);
        printf("  On the answer:   %.4f of the attention goes to the inputs that hold the value to predict.\n",
               x->att.correct_mass);
        printf("  After MID:       %.4f of the attention falls on the sorted prefix after MID: the head\n"
               "                   reads the unsorted list (and BOS, MID), not its own output.\n",
               x->att.mass_after_mid);
    }
    printf("\nAblations (layer 0, every head; %ld random lists, seed %ld):\n", lists, seed);
    printf("  %-34s %10s %10s %10s\n", "", "token acc", "list acc", "loss");
    for (int i = 0; i < ABLATION_COUNT; i++)
        printf("  %-34s %10.4f %10.4f %10.4f\n", rows[i].description, rows[i].res.token_accuracy,
               rows[i].res.list_accuracy, rows[i].res.loss);
    printf("Token accuracy is teacher-forced (the true prefix given); list accuracy is greedy (the model's\n"
           "own predictions fill the sorted half; a list counts only if all %d are right).\n", n);
}

static json_t *head_json(const HeadMetrics *x)
{
    return json_pack("{s:i, s:i, s:f, s:i, s:i, s:f, s:i, s:i, s:f, s:f, s:f, s:f, s:I}",
                     "layer", x->layer, "head", x->head,
                     "ov_copy_fraction", (double)x->ov_hits / x->ov_total, "ov_copy_count", x->ov_hits,
                     "ov_copy_rows", x->ov_total,
                     "qk_next_token_fraction", (double)x->qk_hits / x->qk_total, "qk_next_token_count", x->qk_hits,
                     "qk_next_token_rows", x->qk_total,
                     "top_source_correct", x->att.top_source_correct,
                     "top_input_correct", x->att.top_input_correct,
                     "attention_on_answer", x->att.correct_mass,
                     "attention_after_mid", x->att.mass_after_mid,
                     "queries", (json_int_t)x->att.queries);
}

static int print_json(const char *path, const Model *m, long lists, long seed, const HeadMetrics *hm,
                      const AblationRow *rows)
{
    const ModelConfig *c = &m->cfg;
    int L = c->n_layers, H = c->n_heads;
    const HeadMetrics *p = &hm[primary_head(hm, H)];
    json_t *root = json_object(), *heads = json_array(), *abl = json_array();
    int rc = EXIT_RUNTIME;
    if (!root || !heads || !abl)
        goto done;
    json_object_set_new(root, "model", json_string(path));
    json_object_set_new(root, "config", json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i}",
                                                  "n_layers", L, "n_heads", H, "d_model", c->d_model,
                                                  "d_head", c->d_head, "n_ctx", c->n_ctx, "d_vocab", c->d_vocab,
                                                  "d_vocab_out", c->d_vocab_out, "list_len", c->list_len));
    json_object_set_new(root, "lists", json_integer(lists));
    json_object_set_new(root, "seed", json_integer(seed));
    /* The headline metrics, of the primary layer-0 head. */
    json_object_set_new(root, "primary_head", json_pack("{s:i, s:i}", "layer", p->layer, "head", p->head));
    json_object_set_new(root, "ov_copy_fraction", json_real((double)p->ov_hits / p->ov_total));
    json_object_set_new(root, "qk_next_token_fraction", json_real((double)p->qk_hits / p->qk_total));
    json_object_set_new(root, "top_source_correct", json_real(p->att.top_source_correct));
    json_object_set_new(root, "top_input_correct", json_real(p->att.top_input_correct));
    json_object_set_new(root, "attention_on_answer", json_real(p->att.correct_mass));
    json_object_set_new(root, "attention_after_mid", json_real(p->att.mass_after_mid));
    for (int i = 0; i < L * H; i++)
        json_array_append_new(heads, head_json(&hm[i]));
    for (int i = 0; i < ABLATION_COUNT; i++)
        json_array_append_new(abl, json_pack("{s:s, s:s, s:f, s:f, s:f}", "name", rows[i].name,
                                             "description", rows[i].description,
                                             "token_accuracy", rows[i].res.token_accuracy,
                                             "list_accuracy", rows[i].res.list_accuracy, "loss", rows[i].res.loss));
    json_object_set_new(root, "heads", heads);
    json_object_set_new(root, "ablations", abl);
    heads = abl = NULL;
    rc = cli_put_json(root, JSON_PRESERVE_ORDER | JSON_INDENT(2) | JSON_REAL_PRECISION(10));
    root = NULL;   /* released by cli_put_json */
done:
    if (root)   /* not handed to cli_put_json: building it failed */
        cli_error("out of memory writing JSON");
    json_decref(heads);
    json_decref(abl);
    json_decref(root);
    return rc;
}

/* Every number the report prints is a number (see cli_check_finite_outputs:
 * a model can overflow on some lists only). */
static bool all_finite(const AttentionStats *att, int heads, const AblationRow *rows)
{
    for (int i = 0; i < heads; i++)
        if (!isfinite(att[i].top_source_correct) || !isfinite(att[i].top_input_correct) ||
            !isfinite(att[i].correct_mass) || !isfinite(att[i].mass_after_mid))
            return false;
    for (int i = 0; i < ABLATION_COUNT; i++)
        if (!isfinite(rows[i].res.loss) || !isfinite(rows[i].res.token_accuracy) || !isfinite(rows[i].res.list_accuracy))
            return false;
    return true;
}

int cmd_explain(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"lists", required_argument, NULL, 'n'},
        {"seed", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *model_path = NULL;
    long lists = DEFAULT_LISTS, seed = DEFAULT_SEED;
    bool json = false;
    CliArgs args;
    cli_args_begin(&args, "explain", argc, argv, opts);
    const char *val;
    int ch;
    while ((ch = cli_args_next(&args, &val)) != CLI_ARG_END) {
        switch (ch) {
        case 'm': model_path = val; break;
        case 'n':
            if (!cli_parse_long("--lists", val, 1, 100000000, &lists))
                return EXIT_USAGE;
            break;
        case 's':
            if (!cli_parse_long("--seed", val, 0, LONG_MAX, &seed))
                return EXIT_USAGE;
            break;
        case 'j': json = true; break;
        case 'h': usage(stdout); return EXIT_OK;
        case CLI_ARG_POSITIONAL: return cli_args_unexpected(&args, val);
        default: return EXIT_USAGE;   /* CLI_ARG_BAD, reported */
        }
    }
    SlError err = {0};
    const char *path = model_path;
    if (!path && !(path = cli_default_model_path(&err))) {
        cli_error("%s", err.message);
        return EXIT_RUNTIME;
    }
    Model *m = cli_load_model(path);
    if (!m)
        return EXIT_RUNTIME;
    if (cli_check_finite_outputs(path, m, (uint64_t)seed)) {
        model_free(m);
        return EXIT_RUNTIME;
    }
    const ModelConfig *c = &m->cfg;
    int L = c->n_layers, H = c->n_heads, status = EXIT_OK;
    HeadMetrics *hm = calloc((size_t)L * H, sizeof *hm);
    AttentionStats *att = calloc((size_t)L * H, sizeof *att);
    AblationRow rows[ABLATION_COUNT];
    if (!hm || !att) {
        cli_error("out of memory");
        status = EXIT_RUNTIME;
        goto done;
    }
    for (int l = 0; l < L; l++)
        for (int h = 0; h < H; h++) {
            HeadMetrics *x = &hm[l * H + h];
            x->layer = l;
            x->head = h;
            if (circuit_ov_copy_count(m, l, h, &x->ov_hits, &x->ov_total, &err) ||
                circuit_qk_next_token_count(m, l, h, &x->qk_hits, &x->qk_total, &err))
                goto fail;
        }
    if (circuit_attention_stats(m, lists, (uint64_t)seed, att, &err))
        goto fail;
    for (int i = 0; i < L * H; i++)
        hm[i].att = att[i];
    Progress prog;
    progress_begin(&prog, "ablations", lists * ABLATION_COUNT);
    int rc = circuit_ablation_table(m, lists, (uint64_t)seed, rows, progress_callback, &prog, &err);
    progress_end(&prog);
    if (rc)
        goto fail;
    if (!all_finite(att, L * H, rows)) {
        status = cli_report_not_numbers(path, "attention statistics or ablation results");
        goto done;
    }
    if (json) {
        status = print_json(path, m, lists, seed, hm, rows);
    } else {
        print_report(path, m, lists, seed, hm, rows);
    }
    goto done;
fail:
    cli_error("%s: %s", path, err.message);
    status = cli_exit_code(err.code);
done:
    free(hm);
    free(att);
    model_free(m);
    return status;
}
