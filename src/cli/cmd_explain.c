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
#include "sortlens/explain.h"
#include "sortlens/run.h"

#define DEFAULT_LISTS 1000
#define DEFAULT_SEED 1

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sortlens explain [--model PATH [--step N]] [--lists N] [--seed S] [--json]\n"
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
            "the model's weight_norm (the L2 norm of every parameter together), and the\n"
            "ablation table: teacher-forced token accuracy, greedy whole-list\n"
            "accuracy and loss with each QK term removed, with W_pos removed from the OV\n"
            "path, and with the direct path (embeddings through W_U) removed.  For layers\n"
            "after the first, the circuit counts use the direct circuits (the head reading\n"
            "the embeddings straight); the interventions act on layer 0.\n"
            "\n"
            "options:\n"
            "  --model PATH   a .pt or .safetensors checkpoint (default: the bundled model),\n"
            "                 or a run directory: every snapshot, as a table over steps\n"
            "                 (--json: an array, one object per snapshot with its step)\n"
            "  --step N       of a run, only the last snapshot at or before step N\n"
            "  --lists N      random lists for the attention statistics and each ablation\n"
            "                 (default %d)\n"
            "  --seed S       seed of the random lists (default %d)\n"
            "  --json         one JSON object with the metrics under the names above\n"
            "  -h, --help     this help\n",
            DEFAULT_LISTS, DEFAULT_SEED);
}

/* ---- the words that go with each figure --------------------------------------
 * Each sentence is chosen by its own figure, so that it never says more than
 * the number shows.  The thresholds: */
#define STRONG 0.9    /* a fraction of rows at or above this: "the head copies" */
#define MOST 0.5      /* at or above: "mostly", "usually", "most"; below: it does not */
#define SOME 0.25     /* QK next value at or above (and below MOST): "often" */
#define AFTER_MID_LOW 0.1   /* attention after MID below this: the head reads the unsorted list */
#define COPY_SCORE 0.8      /* eigenvalue copying score at or above: copying */
#define COPY_NEAR_ZERO 0.2  /* a copying score within this of 0: neither copying nor suppressing */

static const char *ov_sentence(double f)
{
    if (f >= STRONG)
        return "the value a key holds is the value the head writes, so attending to x predicts x.";
    if (f >= MOST)
        return "for most values attending to x predicts x, but not for all of them.";
    return "for most values attending to x does not make x the head's top logit: it does not copy.";
}

static const char *qk_sentence(double f)
{
    if (f >= MOST)
        return "the token-token term points most queries at the next larger value.";
    if (f >= SOME)
        return "the token-token term often, but not mostly, points a query at the next larger value.";
    return "the token-token term rarely peaks at the next larger value.";
}

static const char *top_sentence(double f)
{
    if (f >= 0.8)
        return "it holds the value to predict.";
    if (f >= MOST)
        return "it usually holds the value to predict, not always.";
    return "it mostly does not hold the value to predict.";
}

static const char *after_mid_sentence(double f)
{
    if (f < AFTER_MID_LOW)
        return "the head reads the unsorted list (and BOS, MID), not its own output.";
    if (f < MOST)
        return "the head reads its own output as well as the unsorted list.";
    return "the head reads mostly its own output, not the unsorted list.";
}

static const char *copying_sentence(double score)
{
    if (isnan(score))
        return "undefined: every eigenvalue is 0.";
    if (score >= COPY_SCORE)
        return "the eigenvalues are nearly all positive, as in a copying circuit.";
    if (score >= COPY_NEAR_ZERO)
        return "more positive than negative eigenvalues, but far from a clean copying circuit.";
    if (score > -COPY_NEAR_ZERO)
        return "near 0: positive and negative eigenvalues balance; no copying.";
    return "negative: the circuit suppresses the value it reads rather than copying it.";
}

/* "  Label:          figure\n                   sentence\n" */
static void say(const char *label, const char *figure, const char *sentence)
{
    printf("  %-16s %s\n", label, figure);
    if (sentence)
        printf("  %-16s %s\n", "", sentence);
}

static void print_singular(const char *label, const double *sv, const double *share, int k)
{
    double sum = 0;
    printf("  %-16s", label);
    for (int i = 0; i < k; i++) {
        printf("%s%.4g (%.2f)", i ? ", " : " ", sv[i], share[i]);
        sum += share[i];
    }
    printf("; together %.2f\n", sum);
}

static void print_report(const char *path, const SlModel *m, const SlExplain *ex)
{
    const SlExplainHead *hm = ex->heads;
    const SlAblationRow *rows = ex->ablations;
    long lists = ex->lists;
    unsigned long long seed = (unsigned long long)ex->seed;
    const SlModelConfig *c = &m->cfg;
    int L = c->n_layers, H = c->n_heads, n = c->list_len, Vo = c->d_vocab_out;
    printf("Model %s: %d layer%s, %d head%s, d_model %d, d_head %d; lists of %d values in 0..%d.\n", cli_text(path), L,
           L == 1 ? "" : "s", H, H == 1 ? "" : "s", c->d_model, c->d_head, n, Vo - 1);
    char fig[160];
    for (int i = 0; i < L * H; i++) {
        const SlExplainHead *x = &hm[i];
        double ov = (double)x->ov_hits / x->ov_total, eff = (double)x->eff_ov_hits / x->eff_ov_total;
        double qk = (double)x->qk_hits / x->qk_total;
        printf("\nLayer %d, head %d%s\n", x->layer, x->head,
               x->layer > 0 ? " (direct circuits: as if the head read the embeddings straight)" : "");
        snprintf(fig, sizeof fig, "%d/%d values map to themselves (%.2f):", x->ov_hits, x->ov_total, ov);
        say("OV copies:", fig, ov_sentence(ov));
        snprintf(fig, sizeof fig, "%d/%d (%.2f) with the mean position OV of a_1..a_%d added:", x->eff_ov_hits,
                 x->eff_ov_total, eff, n);
        say("Effective OV:", fig, ov_sentence(eff));
        snprintf(fig, sizeof fig, "%.4f (OV eigenvalues: their sum over the sum of their moduli):",
                 x->ov_copying_score);
        say("Copying score:", fig, copying_sentence(x->ov_copying_score));
        print_singular("OV singular:", x->ov_singular, x->ov_singular_share, x->n_singular);
        snprintf(fig, sizeof fig, "%d/%d query values attend most to value + 1 (%.2f):", x->qk_hits, x->qk_total, qk);
        say("QK next value:", fig, qk_sentence(qk));
        print_singular("QK singular:", x->qk_singular, x->qk_singular_share, x->n_singular);
        snprintf(fig, sizeof fig, "%.4f of %ld prediction positions: of the key the head attends to most,",
                 x->att.top_source_correct, x->att.queries);
        say("Top key right:", fig, top_sentence(x->att.top_source_correct));
        snprintf(fig, sizeof fig, "%.4f: of the unsorted inputs a_1..a_%d, the one it attends to most:",
                 x->att.top_input_correct, n);
        say("Top input right:", fig, top_sentence(x->att.top_input_correct));
        snprintf(fig, sizeof fig, "%.4f of the attention goes to the inputs that hold the value to predict.",
                 x->att.correct_mass);
        say("On the answer:", fig, NULL);
        snprintf(fig, sizeof fig, "%.4f of the attention falls on the sorted prefix after MID:",
                 x->att.mass_after_mid);
        say("After MID:", fig, after_mid_sentence(x->att.mass_after_mid));
    }
    printf("\nWeight norm: %.4f (the L2 norm of every parameter together).\n", ex->weight_norm);
    printf("\nCircuit figures are of the value rows and columns (0..%d); each singular value has its share\n"
           "of the sum of all squared singular values in brackets.\n", Vo - 1);
    printf("\nAblations (layer 0, every head; %ld random lists, seed %llu):\n", lists, seed);
    printf("  %-34s %10s %10s %10s\n", "", "token acc", "list acc", "loss");
    for (int i = 0; i < SL_ABLATION_COUNT; i++)
        printf("  %-34s %10.4f %10.4f %10.4f\n", rows[i].description, rows[i].res.token_accuracy,
               rows[i].res.list_accuracy, rows[i].res.loss);
    printf("\nBy kind of list (%ld lists of each, seed %llu; see sortlens generate --help):\n", lists, seed);
    printf("  %-34s %10s %10s %10s\n", "", "token acc", "list acc", "loss");
    for (int k = 0; k < SL_STRESS_KINDS; k++) {
        if (!ex->stress[k].possible) {
            printf("  %-34s %32s\n", sl_stress_name(k), "(no such list for this model)");
            continue;
        }
        const SlEvalResult *r = &ex->stress[k].res;
        printf("  %-34s %10.4f %10.4f %10.4f\n", sl_stress_name(k), r->token_accuracy, r->list_accuracy, r->loss);
    }
    printf("Token accuracy is teacher-forced (the true prefix given); list accuracy is greedy (the model's\n"
           "own predictions fill the sorted half; a list counts only if all %d are right).\n", n);
}

static json_t *singular_json(const double *x, int k)
{
    json_t *a = json_array();
    for (int i = 0; i < k; i++)
        json_array_append_new(a, json_real(x[i]));
    return a;
}

static json_t *real_or_null(double x) { return isnan(x) ? json_null() : json_real(x); }

static json_t *head_json(const SlExplainHead *x)
{
    json_t *o = json_pack("{s:i, s:i, s:f, s:i, s:i, s:f, s:i, s:i, s:f, s:f, s:f, s:f, s:I}",
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
    if (o) {
        json_object_set_new(o, "effective_ov_diagonal_fraction", json_real((double)x->eff_ov_hits / x->eff_ov_total));
        json_object_set_new(o, "effective_ov_diagonal_count", json_integer(x->eff_ov_hits));
        json_object_set_new(o, "ov_copying_score", real_or_null(x->ov_copying_score));
        json_object_set_new(o, "ov_singular_values", singular_json(x->ov_singular, x->n_singular));
        json_object_set_new(o, "ov_singular_share", singular_json(x->ov_singular_share, x->n_singular));
        json_object_set_new(o, "qk_singular_values", singular_json(x->qk_singular, x->n_singular));
        json_object_set_new(o, "qk_singular_share", singular_json(x->qk_singular_share, x->n_singular));
    }
    return o;
}

json_t *cli_explain_json(const char *path, const SlModel *m, const SlExplain *ex)
{
    const SlModelConfig *c = &m->cfg;
    int L = c->n_layers, H = c->n_heads;
    const SlExplainHead *hm = ex->heads, *p = &hm[ex->primary];
    const SlAblationRow *rows = ex->ablations;
    json_t *root = json_object(), *heads = json_array(), *abl = json_array();
    if (!root || !heads || !abl)
        goto done;
    json_object_set_new(root, "model", cli_json_name(path));
    json_object_set_new(root, "config", json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i}",
                                                  "n_layers", L, "n_heads", H, "d_model", c->d_model,
                                                  "d_head", c->d_head, "n_ctx", c->n_ctx, "d_vocab", c->d_vocab,
                                                  "d_vocab_out", c->d_vocab_out, "list_len", c->list_len));
    json_object_set_new(root, "lists", json_integer(ex->lists));
    json_object_set_new(root, "seed", json_integer((json_int_t)ex->seed));
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
    for (int i = 0; i < SL_ABLATION_COUNT; i++)
        json_array_append_new(abl, json_pack("{s:s, s:s, s:f, s:f, s:f}", "name", rows[i].name,
                                             "description", rows[i].description,
                                             "token_accuracy", rows[i].res.token_accuracy,
                                             "list_accuracy", rows[i].res.list_accuracy, "loss", rows[i].res.loss));
    json_t *stress = json_object();
    for (int k = 0; k < SL_STRESS_KINDS; k++) {
        const SlEvalResult *r = &ex->stress[k].res;
        json_object_set_new(stress, sl_stress_name(k),
                            ex->stress[k].possible
                                ? json_pack("{s:I, s:f, s:f, s:f}", "lists", (json_int_t)r->lists, "token_accuracy",
                                            r->token_accuracy, "list_accuracy", r->list_accuracy, "loss", r->loss)
                                : json_null());
    }
    json_object_set_new(root, "ov_copying_score", real_or_null(p->ov_copying_score));
    json_object_set_new(root, "effective_ov_diagonal_fraction", json_real((double)p->eff_ov_hits / p->eff_ov_total));
    json_object_set_new(root, "weight_norm", json_real(ex->weight_norm));
    json_object_set_new(root, "heads", heads);
    json_object_set_new(root, "ablations", abl);
    json_object_set_new(root, "stress_accuracy", stress);
    return root;
done:
    json_decref(heads);
    json_decref(abl);
    json_decref(root);
    return NULL;
}

static int print_json(const char *path, const SlModel *m, const SlExplain *ex)
{
    return cli_put_json(cli_explain_json(path, m, ex), CLI_EXPLAIN_JSON_FLAGS);
}

/* Every number the report prints is a number (see cli_check_finite_outputs:
 * a model can overflow on some lists only). */
static bool all_finite(const SlExplain *ex)
{
    for (int i = 0; i < ex->n_heads; i++) {
        const SlAttentionStats *a = &ex->heads[i].att;
        if (!isfinite(a->top_source_correct) || !isfinite(a->top_input_correct) || !isfinite(a->correct_mass) ||
            !isfinite(a->mass_after_mid))
            return false;
    }
    for (int i = 0; i < SL_ABLATION_COUNT; i++) {
        const SlEvalResult *r = &ex->ablations[i].res;
        if (!isfinite(r->loss) || !isfinite(r->token_accuracy) || !isfinite(r->list_accuracy))
            return false;
    }
    for (int k = 0; k < SL_STRESS_KINDS; k++) {
        const SlEvalResult *r = &ex->stress[k].res;
        if (ex->stress[k].possible && (!isfinite(r->loss) || !isfinite(r->token_accuracy)))
            return false;
    }
    return true;
}

int cmd_explain(int argc, char **argv)
{
    static const char *const rows[] = {"model", "lists", "seed", "json", "step", NULL};
    CliShared sh = cli_shared_lists(DEFAULT_LISTS, 100000000, DEFAULT_SEED);
    bool json = false;
    int parsed = cli_args_shared_only("explain", argc, argv, rows, &sh, usage);
    if (parsed >= 0)
        return parsed;
    json = sh.json;
    const char *model_path = sh.model;
    const long lists = sh.lists, seed = sh.seed, step = sh.step;
    SlError err = {0};
    const char *path = model_path;
    if (!path && !(path = cli_default_model_path(&err))) {
        cli_error("%s", err.message);
        return EXIT_RUNTIME;
    }
    if (step < 0 && sl_run_is_dir(path))
        return explain_run(path, lists, (uint64_t)seed, json);
    SlModel *m = cli_load_model_at(path, step);
    if (!m)
        return EXIT_RUNTIME;
    if (cli_check_finite_outputs(path, m, (uint64_t)seed)) {
        sl_model_free(m);
        return EXIT_RUNTIME;
    }
    int status = EXIT_OK;
    SlExplain ex;
    Progress prog;
    progress_begin(&prog, "explain", sl_explain_work(lists));
    int rc = sl_explain_compute(m, lists, (uint64_t)seed, &ex, progress_callback, &prog, &err);
    progress_end(&prog);
    if (rc)
        goto fail;
    if (!all_finite(&ex))
        status = cli_report_not_numbers(path, "attention statistics, ablation or stress results");
    else if (json)
        status = print_json(path, m, &ex);
    else
        print_report(path, m, &ex);
    sl_explain_free(&ex);
    sl_model_free(m);
    return status;
fail:
    cli_error("%s: %s", cli_text(path), err.message);
    sl_model_free(m);
    return cli_exit_code(err.code);
}
