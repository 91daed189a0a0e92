/* cmd_patch.c: `sortlens patch`: activation patching of a clean/corrupted
 * pair, every hook at every position (patch.h). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sortlens/ablation.h"
#include "sortlens/patch.h"
#include "sortlens/task.h"

static const char *const term_keys[4] = {"token_token", "token_pos", "pos_token", "pos_pos"};

static void usage(FILE *out)
{
    fputs("usage: sortlens patch [--model PATH] --clean LIST --corrupt LIST [--at K]\n"
          "                      [--attribution] [--json | --format csv]\n"
          "\n"
          "Activation patching, as TransformerLens does it: run the corrupted list and\n"
          "patch in one activation of the clean run at a time (both runs teacher-forced\n"
          "on their own sorted lists), for every hook at every position.  The metric is\n"
          "the logit difference LD = logit[clean answer] - logit[corrupt answer] at the\n"
          "position that predicts b_K, normalised: (LD_patched - LD_corrupt) /\n"
          "(LD_clean - LD_corrupt), so 1 restores the clean run and 0 changes nothing.\n"
          "\n"
          "Hooks: hook_embed, hook_pos_embed, per layer and head blocks.L.attn.hook_q,\n"
          "hook_k, hook_v, hook_z, hook_pattern (the query row of that position), per\n"
          "layer blocks.L.hook_attn_out and hook_resid_post; and for layer 0 the four QK\n"
          "score terms per source: the query's score on that key gets the clean run's\n"
          "term.  Positions after the query change nothing there and read 0.\n"
          "\n"
          "options:\n"
          "  --model PATH     a .pt or .safetensors checkpoint (default: the bundled model)\n"
          "  --clean LIST     the clean list (\"5 3 9 ...\" or \"5,3,9,...\")\n"
          "  --corrupt LIST   the corrupted list\n"
          "  --at K           the position that predicts b_K, 1..n (MID predicts b_1);\n"
          "                   default the first K where the two sorted lists differ\n"
          "  --attribution    also attribution patching: the gradient of LD at the\n"
          "                   corrupted run times (clean - corrupt), normalised the same\n"
          "                   way, beside every exact value\n"
          "  --json           one JSON object: {\"at\", \"query\", \"clean_answer\",\n"
          "                   \"corrupt_answer\", \"ld_clean\", \"ld_corrupt\", \"results\":\n"
          "                   {hook: [per position] or [per head][per position]},\n"
          "                   \"score_terms\": {\"token_token\", ...: [per head][per source]}}\n"
          "                   and with --attribution \"attribution\" and\n"
          "                   \"score_terms_attribution\" of the same shapes\n"
          "  --format csv     rows hook,head,position,exact[,attribution]; the score\n"
          "                   terms as hook score_terms.token_token ... with the source\n"
          "                   as position; head is empty for per-layer hooks\n"
          "  --ablate SPEC    run both lists under ablations (see sortlens(1), ABLATIONS;\n"
          "                   resample: excepted), applied by hooks before each patch;\n"
          "                   the JSON then carries \"ablation\", its canonical text\n"
          "  -h, --help       this help\n"
          "\n"
          "Without --json or --format, a table: one row per hook (and head), one column\n"
          "per position up to the query.\n"
          "\n"
          "exit status: 0 ok, 1 the model cannot be loaded, 2 bad usage, a bad list, or\n"
          "a pair whose answers do not differ at K\n",
          out);
}

static json_t *floats(const float *x, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, isfinite(x[i]) ? json_real(x[i]) : json_null());
    return a;
}

/* {hook: values} for the exact values (attr false) or the estimates. */
static json_t *hooks_json(const SlPatchResult *r, bool attr)
{
    json_t *o = json_object();
    for (int i = 0; i < r->n_hooks; i++) {
        const SlPatchHook *h = &r->hooks[i];
        const float *x = attr ? h->attribution : h->exact;
        json_t *v;
        if (h->heads) {
            v = json_array();
            for (int k = 0; k < h->heads; k++)
                json_array_append_new(v, floats(x + (size_t)k * r->T, r->T));
        } else {
            v = floats(x, r->T);
        }
        json_object_set_new(o, h->name, v);
    }
    return o;
}

static json_t *terms_json(const SlPatchResult *r, const float *x)
{
    json_t *o = json_object();
    for (int t = 0; t < 4; t++) {
        json_t *v = json_array();
        for (int h = 0; h < r->H; h++)
            json_array_append_new(v, floats(x + ((size_t)h * 4 + t) * r->T, r->T));
        json_object_set_new(o, term_keys[t], v);
    }
    return o;
}

static int print_json(const SlPatchResult *r, const char *ablation)
{
    json_t *root = json_pack("{s:i, s:i, s:i, s:i, s:f, s:f}", "at", r->at, "query", r->query, "clean_answer",
                             r->clean_answer, "corrupt_answer", r->corrupt_answer, "ld_clean", r->ld_clean, "ld_corrupt",
                             r->ld_corrupt);
    if (root) {
        if (ablation)
            json_object_set_new(root, "ablation", json_string(ablation));
        json_object_set_new(root, "results", hooks_json(r, false));
        json_object_set_new(root, "score_terms", terms_json(r, r->score_terms));
        if (r->score_terms_attribution) {
            json_object_set_new(root, "attribution", hooks_json(r, true));
            json_object_set_new(root, "score_terms_attribution", terms_json(r, r->score_terms_attribution));
        }
    }
    return cli_put_json_line(root, 9);
}

static void print_csv(const SlPatchResult *r)
{
    bool attr = r->score_terms_attribution != NULL;
    printf("hook,head,position,exact%s\n", attr ? ",attribution" : "");
    for (int i = 0; i < r->n_hooks; i++) {
        const SlPatchHook *h = &r->hooks[i];
        for (int k = 0; k < (h->heads ? h->heads : 1); k++)
            for (int p = 0; p < r->T; p++) {
                size_t j = (size_t)k * r->T + p;
                if (h->heads)
                    printf("%s,%d,%d,%.9g", h->name, k, p, (double)h->exact[j]);
                else
                    printf("%s,,%d,%.9g", h->name, p, (double)h->exact[j]);
                if (attr)
                    printf(",%.9g", (double)h->attribution[j]);
                putchar('\n');
            }
    }
    for (int k = 0; k < r->H; k++)
        for (int t = 0; t < 4; t++)
            for (int p = 0; p < r->T; p++) {
                size_t j = ((size_t)k * 4 + t) * r->T + p;
                printf("score_terms.%s,%d,%d,%.9g", term_keys[t], k, p, (double)r->score_terms[j]);
                if (attr)
                    printf(",%.9g", (double)r->score_terms_attribution[j]);
                putchar('\n');
            }
}

static void print_row(const char *label, const float *x, int last)
{
    printf("%-30s", label);
    for (int p = 0; p <= last; p++)
        printf(" %6.3f", (double)x[p]);
    putchar('\n');
}

static void print_table(const SlModelConfig *c, const SlPatchResult *r)
{
    char q[16];
    sl_position_name(c, r->query, q, sizeof q);
    printf("at b_%d (query %s, position %d): clean answer %d, corrupt answer %d\n", r->at, q, r->query, r->clean_answer,
           r->corrupt_answer);
    printf("LD clean %.6g, LD corrupt %.6g; values: (LD_patched - LD_corrupt) / (LD_clean - LD_corrupt)%s\n",
           r->ld_clean, r->ld_corrupt, r->score_terms_attribution ? "; each row's estimate below it (~)" : "");
    printf("%-30s", "hook");
    for (int p = 0; p <= r->query; p++) {
        char name[16];
        sl_position_name(c, p, name, sizeof name);
        printf(" %6s", name);
    }
    putchar('\n');
    char label[64];
    for (int i = 0; i < r->n_hooks; i++) {
        const SlPatchHook *h = &r->hooks[i];
        for (int k = 0; k < (h->heads ? h->heads : 1); k++) {
            if (h->heads)
                snprintf(label, sizeof label, "%s[%d]", h->name, k);
            else
                snprintf(label, sizeof label, "%s", h->name);
            print_row(label, h->exact + (size_t)k * r->T, r->query);
            if (h->attribution)
                print_row("  ~", h->attribution + (size_t)k * r->T, r->query);
        }
    }
    for (int k = 0; k < r->H; k++)
        for (int t = 0; t < 4; t++) {
            snprintf(label, sizeof label, "score_terms.%s[%d]", term_keys[t], k);
            print_row(label, r->score_terms + ((size_t)k * 4 + t) * r->T, r->query);
            if (r->score_terms_attribution)
                print_row("  ~", r->score_terms_attribution + ((size_t)k * 4 + t) * r->T, r->query);
        }
}

int cmd_patch(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_SHARED_ROW("model"),                   {"clean", required_argument, NULL, 'c'},
        {"corrupt", required_argument, NULL, 'r'}, {"at", required_argument, NULL, 'a'},
        {"attribution", no_argument, NULL, 'A'},   CLI_SHARED_ROW("json"),
        {"format", required_argument, NULL, 'f'},  CLI_SHARED_ROW("ablate"),
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    CliShared sh = cli_shared();
    const char *clean_text = NULL, *corrupt_text = NULL;
    long at = 0;
    bool attribution = false, json = false, csv = false;
    CliArgs args;
    cli_args_begin_shared(&args, "patch", argc, argv, opts, &sh);
    const char *val;
    for (int ch; (ch = cli_args_next(&args, &val)) != CLI_ARG_END;) {
        switch (ch) {
        case 'c': clean_text = val; break;
        case 'r': corrupt_text = val; break;
        case 'a':
            if (!cli_parse_long("--at", val, 1, SL_MODEL_MAX_CTX, &at))
                return EXIT_USAGE;
            break;
        case 'A': attribution = true; break;
        case 'f':
            if (strcmp(val, "csv") != 0) {
                cli_error("patch: --format '%s': the format is csv (or --json)", val);
                return EXIT_USAGE;
            }
            csv = true;
            break;
        case 'h': usage(stdout); return EXIT_OK;
        case CLI_ARG_POSITIONAL:
            cli_error("patch: unexpected '%s'; the lists go in --clean and --corrupt", val);
            return EXIT_USAGE;
        default: return EXIT_USAGE;   /* CLI_ARG_BAD, reported */
        }
    }
    json = sh.json;
    const char *model_path = sh.model, *ablate = sh.ablate;
    if (!clean_text || !corrupt_text) {
        cli_error("patch: needs --clean LIST and --corrupt LIST; try 'sortlens patch --help'");
        return EXIT_USAGE;
    }
    if (json && csv) {
        cli_error("patch: --json and --format csv exclude each other");
        return EXIT_USAGE;
    }
    SlModel *m = cli_load_model(model_path);
    if (!m)
        return EXIT_RUNTIME;
    const SlModelConfig *c = &m->cfg;
    int clean[SL_MODEL_MAX_CTX], corrupt[SL_MODEL_MAX_CTX];
    SlError err = {0};
    int status = EXIT_USAGE;
    SlPatchResult res;
    SlAblationRun *run = NULL;
    memset(&res, 0, sizeof res);
    if (c->list_len > SL_MODEL_MAX_CTX / 2) {
        cli_error("patch: lists of %d values are too long", c->list_len);
        goto done;
    }
    if (sl_task_parse_list(c, clean_text, clean, &err)) {
        cli_error("--clean: %s", err.message);
        goto done;
    }
    if (sl_task_parse_list(c, corrupt_text, corrupt, &err)) {
        cli_error("--corrupt: %s", err.message);
        goto done;
    }
    if (at > c->list_len) {
        cli_error("--at %ld: the positions that predict b_1..b_%d are 1..%d", at, c->list_len, c->list_len);
        goto done;
    }
    SlAblation abl;
    char abl_text[SL_ABLATION_TEXT_MAX];
    /* hooks for every ablation, so that a patched q or k shows in the
     * scores a QK ablation edits, as TransformerLens hooks would have it */
    if (!(run = cli_ablation_run(m, ablate, 1, true, &abl, abl_text, &status)))
        goto done;
    if (!abl.count) {   /* none: the exact one-layer patch needs no run */
        sl_ablation_run_free(run);
        run = NULL;
    }
    int rc = sl_patch(m, clean, corrupt, (int)at, attribution, run, false, &res, &err);
    if (rc) {
        cli_error("%s", err.message);
        status = cli_exit_code(rc);
        goto done;
    }
    status = EXIT_OK;
    if (json)
        status = print_json(&res, abl.count ? abl_text : NULL);
    else if (csv)
        print_csv(&res);
    else
        print_table(c, &res);
done:
    sl_patch_result_free(&res);
    sl_ablation_run_free(run);
    sl_model_free(m);
    return status;
}
