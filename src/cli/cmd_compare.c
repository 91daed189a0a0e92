/* cmd_compare.c: `sortlens compare MODEL...`: explain's numbers and eval's
 * figures for several models in one table, for studies over seeds ("does a
 * model trained again learn the same algorithm?"). */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sortlens/checkpoint.h"
#include "sortlens/decode.h"
#include "sortlens/explain.h"
#include "sortlens/run.h"

#define DEFAULT_LISTS 1000
#define DEFAULT_EVAL_LISTS 10000
#define DEFAULT_SEED 1

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sortlens compare MODEL... [--lists N] [--eval-lists N] [--seed S] [--json]\n"
            "\n"
            "Put models side by side: for each MODEL (a .pt or .safetensors checkpoint, or\n"
            "a run directory: its last snapshot), one row of explain's numbers for its\n"
            "primary head (OV copies, QK next value, top key right, top input right,\n"
            "attention on the answer, attention after MID; see sortlens explain --help)\n"
            "and eval's figures (teacher-forced token accuracy, greedy whole-list\n"
            "accuracy, loss).  Every model sees the same random lists.\n"
            "\n"
            "options:\n"
            "  --lists N       random lists for explain's statistics (default %d)\n"
            "  --eval-lists N  random lists for eval's figures (default %d)\n"
            "  --seed S        seed of both sets of lists (default %d)\n"
            "  --json          an array, one object per model: {\"model\", \"step\" (of a\n"
            "                  run's snapshot, else null), \"explain\" (explain --json's\n"
            "                  object), \"eval\" {\"lists\", \"token_accuracy\",\n"
            "                  \"list_accuracy\", \"loss\"}}\n"
            "  -h, --help      this help\n"
            "\n"
            "exit status: 0 ok, 1 a model cannot be loaded, 2 bad usage\n",
            DEFAULT_LISTS, DEFAULT_EVAL_LISTS, DEFAULT_SEED);
}

/* One model's row: what it was, and its numbers. */
typedef struct CompareRow {
    const char *name;     /* as given */
    char *file;           /* the file read (a run's snapshot) */
    long step;            /* the snapshot's step, -1 for a model file */
    SlModel *m;
    SlExplain ex;         /* valid when explained */
    bool explained;
    SlEvalResult eval;
} CompareRow;

static json_t *row_json(const CompareRow *r)
{
    json_t *body = cli_explain_json(r->file, r->m, &r->ex);
    json_t *eval = json_pack("{s:I, s:f, s:f, s:f}", "lists", (json_int_t)r->eval.lists, "token_accuracy",
                             r->eval.token_accuracy, "list_accuracy", r->eval.list_accuracy, "loss", r->eval.loss);
    json_t *name = cli_json_name(r->name);
    if (!body || !eval || !name) {
        json_decref(body);
        json_decref(eval);
        json_decref(name);
        return NULL;
    }
    return json_pack("{s:o, s:o, s:o, s:o}", "model", name, "step",
                     r->step >= 0 ? json_integer(r->step) : json_null(), "explain", body, "eval", eval);
}

static void print_table(const CompareRow *rows, int count, long lists, long eval_lists, long seed)
{
    int width = 5;
    for (int i = 0; i < count; i++) {
        int w = (int)strlen(rows[i].name);
        if (w > width)
            width = w < 60 ? w : 60;
    }
    printf("%d models; explain over %ld random lists, eval over %ld, seed %ld.\n", count, lists, eval_lists, seed);
    printf("%-*s %8s", width, "model", "step");
    cli_explain_columns_header();
    cli_eval_columns_header();
    putchar('\n');
    for (int i = 0; i < count; i++) {
        const CompareRow *r = &rows[i];
        printf("%-*s", width, cli_text(r->name));
        if (r->step >= 0)
            printf(" %8ld", r->step);
        else
            printf(" %8s", "-");
        cli_explain_columns(&r->ex);
        cli_eval_columns(&r->eval);
        putchar('\n');
    }
    printf("step: of a run's last snapshot.  token acc is teacher-forced, list acc greedy (a list counts\n"
           "only if every value is right); see sortlens explain --help and sortlens eval --help.\n");
}

/* What the command line gives besides the shared rows. */
typedef struct CompareArgs {
    CompareRow *rows;   /* a row for each MODEL, in order (room for argc) */
    int count;
    long eval_lists;
} CompareArgs;

/* --eval-lists N, or a MODEL (cli_args_walk's apply). */
static bool apply_compare_option(void *ctx, int ch, const char *val)
{
    CompareArgs *a = ctx;
    if (ch == 'e')
        return cli_parse_long("--eval-lists", val, 1, 1000000000L, &a->eval_lists);
    a->rows[a->count++].name = val;   /* CLI_ARG_POSITIONAL */
    return true;
}

int cmd_compare(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_SHARED_ROW("lists"),
        {"eval-lists", required_argument, NULL, 'e'},
        CLI_SHARED_ROW("seed"),
        CLI_SHARED_ROW("json"),
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    CliShared sh = cli_shared_lists(DEFAULT_LISTS, 100000000, DEFAULT_SEED);
    CompareArgs a = {.rows = calloc((size_t)argc, sizeof *a.rows), .eval_lists = DEFAULT_EVAL_LISTS};
    if (!a.rows) {
        cli_error("compare: out of memory");
        return EXIT_RUNTIME;
    }
    CliArgs args;
    cli_args_begin_shared(&args, "compare", argc, argv, opts, &sh);
    int status = cli_args_walk(&args, usage, apply_compare_option, &a);
    if (status >= 0) {
        free(a.rows);
        return status;
    }
    status = EXIT_OK;
    CompareRow *rows = a.rows;
    const int count = a.count;
    const bool json = sh.json;
    const long lists = sh.lists, eval_lists = a.eval_lists, seed = sh.seed;
    if (count == 0) {
        cli_error("compare: which models? give one or more paths (files or run directories)");
        free(rows);
        return EXIT_USAGE;
    }
    SlError err = {0};
    long work = sl_explain_work(lists) + eval_lists;
    Progress bar;
    progress_begin(&bar, "compare", work * count);
    for (int i = 0; i < count && status == EXIT_OK; i++) {
        CompareRow *r = &rows[i];
        SlRun *run = sl_run_is_dir(r->name) ? sl_run_open(r->name, &err) : NULL;
        r->step = run ? run->steps[run->count - 1] : -1;
        sl_run_free(run);
        if (!(r->file = cli_model_file(r->name, -1)) || !(r->m = sl_ckpt_load(r->file, &err))) {
            progress_end(&bar);
            if (r->file)
                cli_error("%s", err.message);
            status = EXIT_RUNTIME;
            break;
        }
        r->explained = sl_explain_compute(r->m, lists, (uint64_t)seed, &r->ex, NULL, NULL, &err) == 0;
        if (!r->explained || sl_decode_eval(r->m, eval_lists, (uint64_t)seed, NULL, &r->eval, NULL, NULL, &err)) {
            progress_end(&bar);
            cli_error("%s: %s", cli_text(r->file), err.message);
            status = cli_exit_code(err.code);
            break;
        }
        progress_update(&bar, work * (i + 1), NULL);
    }
    progress_end(&bar);
    if (status == EXIT_OK && json) {
        json_t *arr = json_array();
        for (int i = 0; arr && i < count; i++)
            if (json_array_append_new(arr, row_json(&rows[i]))) {
                json_decref(arr);
                arr = NULL;
            }
        status = cli_put_json(arr, CLI_EXPLAIN_JSON_FLAGS);   /* releases arr */
    } else if (status == EXIT_OK) {
        print_table(rows, count, lists, eval_lists, seed);
    }
    for (int i = 0; i < count; i++) {
        if (rows[i].explained)
            sl_explain_free(&rows[i].ex);
        sl_model_free(rows[i].m);
        free(rows[i].file);
    }
    free(rows);
    return status;
}
