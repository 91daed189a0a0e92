/* cmd_predict.c: `sortlens predict`: what the model outputs for lists given
 * on the command line or one per line on standard input. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sortlens/ablation.h"
#include "sortlens/decode.h"
#include "sortlens/finite_check.h"
#include "sortlens/safetensors.h"
#include "sortlens/task.h"

static void usage(FILE *out)
{
    fputs("usage: sortlens predict [--model PATH [--step N]] [--teacher-forced] [--json] [--cache OUT [--force]]\n"
          "                        [--ablate SPEC] [--resample-seed S] [LIST...]\n"
          "\n"
          "Sort lists with the model.  One list comes from the arguments (\"5 3 9 ...\",\n"
          "\"5,3,9,...\" or \"[5, 3, 9, ...]\"); without arguments, one list per line from\n"
          "standard input (blank lines are skipped).  A list is exactly n integers in\n"
          "0..d_vocab_out-1 (10 values in 0..49 for the default model).\n"
          "\n"
          "For each list, one line: the n values the model predicts, separated by single\n"
          "spaces.  By default the model decodes greedily: its own predictions fill the\n"
          "sorted half one by one.  A bad list gets a message naming its line on standard\n"
          "error and nothing on standard output; the other lines go on, and the exit\n"
          "status is then 2.\n"
          "\n"
          "options:\n"
          "  --model PATH      a .pt or .safetensors checkpoint, or a run directory (its\n"
          "                    last snapshot); default: the bundled model\n"
          "  --step N          of a run, the last snapshot at or before step N\n"
          "  --teacher-forced  print the argmax at each position given the true sorted\n"
          "                    prefix instead\n"
          "  --json            one JSON object per line: {\"input\", \"predictions\",\n"
          "                    \"sorted\", \"correct\", \"mode\", \"top3\"}, where top3 holds for\n"
          "                    each position the three most probable values as\n"
          "                    {\"value\", \"probability\"}\n"
          "  --cache OUT       also write every activation of the forward pass over the\n"
          "                    whole sequence (BOS, the list, MID, then the predictions,\n"
          "                    or the sorted list with --teacher-forced) to OUT as\n"
          "                    safetensors, named as TransformerLens's run_with_cache\n"
          "                    names them (hook_embed, blocks.0.attn.hook_pattern, ...,\n"
          "                    logits; blocks.l.hook_resid_pre too), with the tokens; one\n"
          "                    list, from the arguments.  OUT is checked before the model\n"
          "                    runs, written beside and renamed into place (a device or\n"
          "                    FIFO is written through), and an existing file is not\n"
          "                    replaced without --force\n"
          "  --force           let --cache overwrite an existing OUT\n"
          "  --ablate SPEC     predict (and cache) under ablations, e.g. head:0.0,\n"
          "                    qk:pos-pos@query=b3 (see sortlens(1), ABLATIONS); the\n"
          "                    cache's metadata then holds \"ablation\", its canonical text\n"
          "  --resample-seed S seed of the other lists resample:head:L.H draws, one per\n"
          "                    list in order (default 1)\n"
          "  -h, --help        this help\n"
          "\n"
          "exit status: 0 ok, 1 the model cannot be loaded or OUT cannot be written,\n"
          "2 bad usage or a bad list\n",
          out);
}

typedef struct Predictor {
    SlModel *m;
    const char *label;             /* the model's path, for messages */
    SlAblationRun *run;            /* --ablate (an empty one without it) */
    SlActCache *cache;
    bool teacher_forced, json;
    const char *cache_out;         /* --cache: where the activations go, or NULL */
    char ablation[SL_ABLATION_TEXT_MAX];   /* its canonical text, "" for none */
    int *values, *pred, *tokens;   /* [n], [n], [n_ctx] */
} Predictor;

static json_t *int_array(const int *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_integer(v[i]));
    return a;
}

/* The JSON line of one list; the cache holds a forward over the sequence
 * whose logits gave the predictions. */
static int print_json(const Predictor *p)
{
    const SlModelConfig *c = &p->m->cfg;
    const int n = c->list_len, Vo = c->d_vocab_out;
    int sorted[SL_MODEL_MAX_CTX];
    sl_task_sort_values(n, p->values, sorted);
    bool correct = memcmp(sorted, p->pred, (size_t)n * sizeof *sorted) == 0;
    json_t *top = json_array();
    for (int i = 0; i < n; i++) {
        int idx[3];
        double prob[3];
        int k = sl_decode_top_k(p->cache->logits + (size_t)(n + 1 + i) * Vo, Vo, 3, idx, prob);
        json_t *pos = json_array();
        for (int j = 0; j < k; j++)
            json_array_append_new(pos, json_pack("{s:i, s:f}", "value", idx[j], "probability", prob[j]));
        json_array_append_new(top, pos);
    }
    json_t *root = json_pack("{s:o, s:o, s:o, s:b, s:s, s:o}", "input", int_array(p->values, n), "predictions",
                             int_array(p->pred, n), "sorted", int_array(sorted, n), "correct", correct, "mode",
                             p->teacher_forced ? "teacher-forced" : "greedy", "top3", top);
    return cli_put_json_line(root, 6);
}

/* --cache: the forward over the whole sequence whose predictions were
 * printed, written with its tokens as safetensors. */
static int write_cache(Predictor *p)
{
    const SlModelConfig *c = &p->m->cfg;
    const int n = c->list_len, T = c->n_ctx;
    SlError err = {0};
    sl_task_make_tokens(c, p->values, p->tokens);   /* BOS, list, MID, sorted list */
    if (!p->teacher_forced)
        for (int i = 0; i < n; i++)
            p->tokens[n + 2 + i] = p->pred[i];
    int rc = sl_ablation_forward(p->run, p->tokens, 1, T, p->cache, false, &err);
    SlTensorSet *ts = rc ? NULL : sl_cache_to_tensors(p->cache, &err);
    int64_t *tok64 = ts ? malloc((size_t)T * sizeof *tok64) : NULL;
    if (tok64) {
        for (int t = 0; t < T; t++)
            tok64[t] = p->tokens[t];
        int64_t shape[2] = {1, T};
        if (!sl_tensorset_add_owned(ts, "tokens", SL_DT_I64, 2, shape, tok64, (size_t)T * sizeof *tok64, &err))
            free(tok64), tok64 = NULL;
    }
    if (!tok64 || sl_tensorset_set_meta(ts, "mode", p->teacher_forced ? "teacher-forced" : "greedy", &err) ||
        (p->ablation[0] && sl_tensorset_set_meta(ts, "ablation", p->ablation, &err)) ||
        sl_safetensors_write(p->cache_out, ts, &err)) {
        cli_error("%s", err.message[0] ? err.message : "out of memory");
        sl_tensorset_free(ts);
        return EXIT_RUNTIME;
    }
    sl_tensorset_free(ts);
    return EXIT_OK;
}

/* Predicts one parsed list (p->values) and prints its line. */
static int predict_values(Predictor *p)
{
    SlError err = {0};
    const int n = p->m->cfg.list_len;
    /* tokens_out: the cache then holds the forward over the whole sequence */
    int rc = p->teacher_forced ? sl_ablation_predict(p->run, p->values, 1, p->pred, NULL, NULL, p->cache, &err)
                               : sl_ablation_predict(p->run, p->values, 1, NULL, p->pred, p->tokens, p->cache, &err);
    if (rc) {
        cli_error("%s", err.message);
        return cli_exit_code(rc);
    }
    /* predictions read from outputs that are not numbers mean nothing */
    if (sl_cache_check_finite(p->cache, &err)) {
        cli_error("%s: %s", p->label, err.message);
        return EXIT_RUNTIME;
    }
    if (p->json)
        return print_json(p);
    for (int i = 0; i < n; i++)
        printf(i ? " %d" : "%d", p->pred[i]);
    putchar('\n');
    return EXIT_OK;
}

static bool blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n' && *s != '\v' && *s != '\f')
            return false;
    return true;
}

/* One list per line; returns the exit status. */
static int predict_stdin(Predictor *p)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    int status = EXIT_OK;
    while ((len = getline(&line, &cap, stdin)) != -1) {
        lineno++;
        SlError err = {0};
        if (memchr(line, '\0', (size_t)len)) {
            cli_error("line %ld: contains a NUL byte", lineno);
            status = EXIT_USAGE;
            continue;
        }
        if (blank(line))
            continue;
        if (sl_task_parse_list(&p->m->cfg, line, p->values, &err)) {
            cli_error("line %ld: %s", lineno, err.message);
            status = EXIT_USAGE;
            continue;
        }
        int rc = predict_values(p);
        if (rc == EXIT_RUNTIME) {
            free(line);
            return rc;
        }
        if (rc)
            status = rc;
    }
    bool failed = ferror(stdin);
    int saved = errno;
    free(line);
    if (failed) {
        cli_error("standard input: %s", strerror(saved));
        return EXIT_RUNTIME;
    }
    return status;
}

int cmd_predict(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_SHARED_ROW("model"),
        {"teacher-forced", no_argument, NULL, 't'},
        CLI_SHARED_ROW("json"),
        {"cache", required_argument, NULL, 'c'},
        {"force", no_argument, NULL, 'f'},
        CLI_SHARED_ROW("ablate"),
        CLI_SHARED_ROW("resample-seed"),
        CLI_SHARED_ROW("step"),
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    Predictor p = {0};
    CliShared sh = cli_shared();
    const char *val;
    bool force = false;
    /* the list may come in several words, before or after the options */
    char *joined = NULL;
    size_t joined_len = 0;
    CliArgs args;
    cli_args_begin_shared(&args, "predict", argc, argv, opts, &sh);
    for (int ch; (ch = cli_args_next(&args, &val)) != CLI_ARG_END;) {
        switch (ch) {
        case 't': p.teacher_forced = true; break;
        case 'c': p.cache_out = val; break;
        case 'f': force = true; break;
        case 'h': free(joined); usage(stdout); return EXIT_OK;
        case CLI_ARG_POSITIONAL:
            if (!cli_append_word(&joined, &joined_len, val)) {
                free(joined);
                cli_error("out of memory");
                return EXIT_RUNTIME;
            }
            break;
        default: free(joined); return EXIT_USAGE;   /* CLI_ARG_BAD, reported */
        }
    }
    p.json = sh.json;

    const char *model_path = sh.model, *ablate = sh.ablate;
    const long resample_seed = sh.resample_seed, step = sh.step;
    SlError err = {0};
    int status = EXIT_RUNTIME;
    if (p.cache_out && !joined) {
        cli_error("predict: --cache takes one list, from the arguments");
        status = EXIT_USAGE;
        goto done;
    }
    if (p.cache_out && (status = cli_check_output(p.cache_out, force, model_path)) != EXIT_OK)
        goto done;
    status = EXIT_RUNTIME;
    p.label = model_path ? model_path : cli_default_model_path(&err);
    if (!p.label) {
        cli_error("%s", err.message);
        goto done;
    }
    p.m = cli_load_model_at(p.label, step);
    if (!p.m)
        goto done;
    const SlModelConfig *c = &p.m->cfg;
    SlAblation abl;
    if (!(p.run = cli_ablation_run(p.m, ablate, resample_seed, false, &abl, p.ablation, &status)))
        goto done;
    p.cache = sl_cache_new(c, 1, c->n_ctx, &err);
    p.values = malloc((size_t)c->list_len * sizeof *p.values);
    p.pred = malloc((size_t)c->list_len * sizeof *p.pred);
    p.tokens = malloc((size_t)c->n_ctx * sizeof *p.tokens);
    if (!p.cache || !p.values || !p.pred || !p.tokens) {
        cli_error("%s", p.cache ? "out of memory" : err.message);
        goto done;
    }
    if (joined) {
        if (sl_task_parse_list(c, joined, p.values, &err)) {
            cli_error("the list: %s", err.message);
            status = EXIT_USAGE;
            goto done;
        }
        status = predict_values(&p);
        if (status == EXIT_OK && p.cache_out)
            status = write_cache(&p);
    } else {
        status = predict_stdin(&p);
    }
done:
    free(joined);
    free(p.values);
    free(p.pred);
    free(p.tokens);
    sl_cache_free(p.cache);
    sl_ablation_run_free(p.run);
    sl_model_free(p.m);
    return status;
}
