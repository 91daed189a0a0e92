/* cmd_attribute.c: `sortlens attribute`: the logit difference at one
 * prediction position split into the parts that sum to it (attribution.h). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sortlens/ablation.h"
#include "sortlens/attribution.h"
#include "sortlens/circuits.h"
#include "sortlens/decode.h"
#include "sortlens/task.h"

static void usage(FILE *out)
{
    fputs("usage: sortlens attribute [--model PATH] [--at K] [--target V] [--vs V] [--json] LIST\n"
          "\n"
          "Logit-difference attribution: at the position that predicts b_K of LIST\n"
          "(teacher-forced on its sorted list; MID predicts b_1), split\n"
          "logit(target) - logit(vs) into parts that sum to it:\n"
          "  direct   the embedding and position part of the residual stream, read\n"
          "           straight through the unembedding\n"
          "  sources  per layer, head and source position: the pattern weight times\n"
          "           that source's value (b_V included) through W_O and the unembedding\n"
          "  bias     b_O of every layer and b_U\n"
          "\n"
          "options:\n"
          "  --model PATH  a .pt or .safetensors checkpoint (default: the bundled model)\n"
          "  --at K        the position that predicts b_K, 1..n (default 1)\n"
          "  --target V    the value whose logit comes first (default: the prediction)\n"
          "  --vs V        the value it is compared with (default: the runner-up, or the\n"
          "                prediction when --target names another value)\n"
          "  --json        one JSON object: {\"list\", \"at\", \"query\", \"target\", \"vs\",\n"
          "                \"total\", \"direct\", \"sources\" [layer][head][source position],\n"
          "                \"bias\"}\n"
          "  -h, --help    this help\n"
          "\n"
          "exit status: 0 ok, 1 the model cannot be loaded, 2 bad usage or a bad list\n",
          out);
}

static json_t *source_json(const SlAttribution *a, int L, int H, int T)
{
    json_t *layers = json_array();
    for (int l = 0; l < L; l++) {
        json_t *heads = json_array();
        for (int h = 0; h < H; h++) {
            json_t *row = json_array();
            for (int k = 0; k < T; k++)
                json_array_append_new(row, json_real(a->sources[((size_t)l * H + h) * T + k]));
            json_array_append_new(heads, row);
        }
        json_array_append_new(layers, heads);
    }
    return layers;
}

/* What the command line sets. */
typedef struct AttributeArgs {
    CliShared sh;
    long at, target, vs;   /* target, vs: -1 for the top two predictions */
    char *text;            /* the list, its words joined; the caller frees it */
} AttributeArgs;

/* Fills a from the command line: -1 when all is well, else the exit status
 * (0 after --help). */
static int parse_attribute_args(AttributeArgs *a, int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_SHARED_ROW("model"),               {"at", required_argument, NULL, 'a'},
        {"target", required_argument, NULL, 't'}, {"vs", required_argument, NULL, 'v'},
        CLI_SHARED_ROW("json"),                  {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *a = (AttributeArgs){.sh = cli_shared(), .at = 1, .target = -1, .vs = -1};
    /* the list may come as one word or several, before or after the options */
    size_t len = 0;
    CliArgs args;
    cli_args_begin_shared(&args, "attribute", argc, argv, opts, &a->sh);
    const char *val;
    for (int ch; (ch = cli_args_next(&args, &val)) != CLI_ARG_END;) {
        bool ok = true;
        switch (ch) {
        case 'a': ok = cli_parse_long("--at", val, 1, SL_MODEL_MAX_CTX, &a->at); break;
        case 't': ok = cli_parse_long("--target", val, 0, SL_MODEL_MAX_VOCAB, &a->target); break;
        case 'v': ok = cli_parse_long("--vs", val, 0, SL_MODEL_MAX_VOCAB, &a->vs); break;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        case CLI_ARG_POSITIONAL:
            if (!cli_append_word(&a->text, &len, val)) {
                cli_error("out of memory");
                return EXIT_RUNTIME;
            }
            break;
        default: ok = false; break;   /* CLI_ARG_BAD, reported */
        }
        if (!ok)
            return EXIT_USAGE;
    }
    if (!a->text) {
        cli_error("attribute: needs a LIST; try 'sortlens attribute --help'");
        return EXIT_USAGE;
    }
    return -1;
}

/* The attribution as text: the total, the direct path, the biases, then
 * each head's sources (tokens [T] of the list). */
static void print_attribution(const SlModelConfig *c, const SlAttribution *a, const int *tokens, long at, int q,
                              long target, long vs)
{
    const int T = c->n_ctx, L = c->n_layers, H = c->n_heads;
    char qn[16];
    sl_position_name(c, q, qn, sizeof qn);
    printf("at b_%ld (query %s, position %d): logit(%ld) - logit(%ld) = %.6g\n", at, qn, q, target, vs, a->total);
    printf("  direct (embeddings through W_U)  %10.4f\n", a->direct);
    printf("  bias (b_O, b_U)                  %10.4f\n", a->bias);
    for (int l = 0; l < L; l++)
        for (int h = 0; h < H; h++) {
            double sum = 0;
            for (int k = 0; k <= q; k++)
                sum += a->sources[((size_t)l * H + h) * T + k];
            printf("  layer %d head %d, all sources     %10.4f\n", l, h, sum);
            for (int k = 0; k <= q; k++) {
                char pn[16], tn[SL_CIRCUIT_LABEL_MAX];
                sl_position_name(c, k, pn, sizeof pn);
                sl_circuit_token_label(c, tokens[k], tn);
                printf("    %-4s %-4s %10.4f\n", pn, tn, (double)a->sources[((size_t)l * H + h) * T + k]);
            }
        }
}

/* The attribution as one JSON line; the exit status. */
static int put_attribution_json(const SlModelConfig *c, const SlAttribution *a, const int *values, long at, int q,
                                long target, long vs)
{
    json_t *list = json_array();
    for (int i = 0; i < c->list_len; i++)
        json_array_append_new(list, json_integer(values[i]));
    json_t *root = json_pack("{s:o, s:i, s:i, s:i, s:i, s:f, s:f, s:o, s:f}", "list", list, "at", (int)at, "query", q,
                             "target", (int)target, "vs", (int)vs, "total", a->total, "direct", a->direct, "sources",
                             source_json(a, c->n_layers, c->n_heads, c->n_ctx), "bias", a->bias);
    return cli_put_json_line(root, 9);
}

int cmd_attribute(int argc, char **argv)
{
    AttributeArgs args;
    int parsed = parse_attribute_args(&args, argc, argv);
    if (parsed >= 0) {
        free(args.text);
        return parsed;
    }
    long at = args.at, target = args.target, vs = args.vs;
    SlModel *m = cli_load_model(args.sh.model);
    if (!m) {
        free(args.text);
        return EXIT_RUNTIME;
    }
    const SlModelConfig *c = &m->cfg;
    const int n = c->list_len, T = c->n_ctx, Vo = c->d_vocab_out, L = c->n_layers, H = c->n_heads;
    int status = EXIT_USAGE;
    SlError err = {0};
    int *values = malloc((size_t)n * sizeof *values), *tokens = malloc((size_t)T * sizeof *tokens);
    float *sources = malloc((size_t)L * H * T * sizeof *sources);
    SlActCache *cache = sl_cache_new(c, 1, T, &err);
    if (!values || !tokens || !sources || !cache) {
        cli_error("%s", cache ? "out of memory" : err.message);
        status = EXIT_RUNTIME;
        goto done;
    }
    if (sl_task_parse_list(c, args.text, values, &err)) {
        cli_error("the list: %s", err.message);
        goto done;
    }
    if (at > n) {
        cli_error("--at %ld: the positions that predict b_1..b_%d are 1..%d", at, n, n);
        goto done;
    }
    if (target >= Vo || vs >= Vo) {
        cli_error("--%s %ld is outside the values 0..%d", target >= Vo ? "target" : "vs", target >= Vo ? target : vs, Vo - 1);
        goto done;
    }
    sl_task_make_tokens(c, values, tokens);
    int rc = sl_model_forward(m, tokens, 1, T, cache, NULL, SL_FORWARD_AUTO, &err);
    if (rc) {
        cli_error("%s", err.message);
        status = cli_exit_code(rc);
        goto done;
    }
    const int q = n + (int)at;
    int top[2];
    double prob[2];
    sl_decode_top_k(cache->logits + (size_t)q * Vo, Vo, 2, top, prob);
    if (target < 0)
        target = vs == top[0] ? top[1] : top[0];
    if (vs < 0)
        vs = target == top[0] ? top[1] : top[0];
    if (target == vs) {
        cli_error("attribute: --target and --vs are both %ld; the difference would be 0", target);
        goto done;
    }
    SlAttribution a = {.sources = sources};
    if ((rc = sl_attribute(m, cache, 0, q, (int)target, (int)vs, &a, &err))) {
        cli_error("%s", err.message);
        status = cli_exit_code(rc);
        goto done;
    }
    if (args.sh.json)
        status = put_attribution_json(c, &a, values, at, q, target, vs);
    else {
        print_attribution(c, &a, tokens, at, q, target, vs);
        status = EXIT_OK;
    }
done:
    sl_cache_free(cache);
    free(sources);
    free(tokens);
    free(values);
    free(args.text);
    sl_model_free(m);
    return status;
}
