/* explain_run.c: `sortlens explain --model RUN_DIR`: the interpretation's
 * numbers at every snapshot of a training run, as a table over steps or a
 * JSON array; and the columns of those numbers, which `compare` shares. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sortlens/checkpoint.h"
#include "sortlens/curves.h"
#include "sortlens/explain.h"
#include "sortlens/run.h"

void cli_explain_columns_header(void)
{
    printf(" %9s %9s %8s %9s %9s %9s", "OV copies", "QK next", "top key", "top input", "on answer", "after MID");
}

void cli_explain_columns(const SlExplain *ex)
{
    const SlExplainHead *p = &ex->heads[ex->primary];
    char ov[24], qk[24];
    snprintf(ov, sizeof ov, "%d/%d", p->ov_hits, p->ov_total);
    snprintf(qk, sizeof qk, "%d/%d", p->qk_hits, p->qk_total);
    printf(" %9s %9s %8.4f %9.4f %9.4f %9.4f", ov, qk, p->att.top_source_correct, p->att.top_input_correct,
           p->att.correct_mass, p->att.mass_after_mid);
}

void cli_eval_columns_header(void) { printf(" %9s %9s %9s", "token acc", "list acc", "loss"); }

void cli_eval_columns(const SlEvalResult *r) { printf(" %9.4f %9.4f %9.4f", r->token_accuracy, r->list_accuracy, r->loss); }

int explain_run(const char *dir, long lists, uint64_t seed, bool json)
{
    SlError err = {0};
    SlRun *run = sl_run_open(dir, &err);
    if (!run) {
        cli_error("%s", err.message);
        return cli_exit_code(err.code);
    }
    int status = EXIT_OK;
    json_t *arr = json ? json_array() : NULL;
    if (json && !arr) {
        cli_error("explain: out of memory");
        sl_run_free(run);
        return EXIT_RUNTIME;
    }
    long work = sl_explain_work(lists);
    Progress bar;
    progress_begin(&bar, "explain", work * run->count);
    bool header = false;
    for (int i = 0; i < run->count && status == EXIT_OK; i++) {
        char *path = sl_run_snapshot_path(run->dir, run->steps[i]);
        SlModel *m = path ? sl_ckpt_load(path, &err) : NULL;
        SlExplain ex;
        SlProgressPart span = {progress_callback, &bar, work * i, work * run->count};
        if (!m) {
            progress_end(&bar);
            cli_error("%s", path ? err.message : "out of memory");
            status = path ? cli_exit_code(err.code) : EXIT_RUNTIME;
        } else if (sl_explain_compute(m, lists, seed, &ex, sl_progress_part, &span, &err)) {
            progress_end(&bar);
            cli_error("%s: %s", cli_text(path), err.message);
            status = cli_exit_code(err.code);
        } else {
            double curves[SL_CURVE_COUNT];   /* the loss as the progress curves read it */
            sl_curve_values(m, &ex, curves);
            double loss_value = curves[SL_CURVE_LOSS];
            bool loss = !isnan(loss_value);
            if (json) {
                json_t *obj = json_object(), *body = cli_explain_json(path, m, &ex);
                if (!obj || !body || json_object_set_new(obj, "step", json_integer(run->steps[i])) ||
                    (loss && json_object_set_new(obj, "train_loss", json_real(loss_value))) ||
                    json_object_update(obj, body) || json_array_append(arr, obj)) {
                    cli_error("explain: out of memory");
                    status = EXIT_RUNTIME;
                }
                json_decref(obj);
                json_decref(body);
            } else {
                progress_end(&bar);
                if (!header) {
                    const SlExplainHead *p = &ex.heads[ex.primary];
                    printf("Run %s: %d snapshots; layer %d head %d; %ld random lists, seed %llu.\n", run->dir,
                           run->count, p->layer, p->head, lists, (unsigned long long)seed);
                    printf("%9s %10s", "step", "train loss");
                    cli_explain_columns_header();
                    cli_eval_columns_header();
                    putchar('\n');
                    header = true;
                }
                if (loss)
                    printf("%9ld %10.4f", run->steps[i], loss_value);
                else
                    printf("%9ld %10s", run->steps[i], "-");
                cli_explain_columns(&ex);
                cli_eval_columns(&ex.ablations[SL_ABLATION_CLEAN].res);
                putchar('\n');
                fflush(stdout);
            }
            sl_explain_free(&ex);
        }
        sl_model_free(m);
        free(path);
    }
    progress_end(&bar);
    if (status == EXIT_OK && json) {
        status = cli_put_json(arr, CLI_EXPLAIN_JSON_FLAGS);   /* releases arr */
        arr = NULL;
    }
    if (status == EXIT_OK && !json)
        printf("OV copies and QK next count value rows (explain --help); top key, top input, on answer and after\n"
               "MID are attention statistics; token acc, list acc and loss are the clean row of the ablations.\n");
    json_decref(arr);
    sl_run_free(run);
    return status;
}
