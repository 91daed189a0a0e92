/* test_cli_nonfinite.c: a model whose weights are finite but whose forward
 * pass overflows float32 (issue 18 item 4).  Built here from the bundled
 * model with W_Q and W_K scaled by 1e20: the scores overflow to inf and the
 * softmax gives NaN.  Every command says so once, naming the tensor and the
 * position, exits 1, and writes no JSON at all. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_run.h"
#include "sortlens/checkpoint.h"
#include "test_util.h"

static const char *dir, *model;

static bool make_overflowing_model(void)
{
    dir = cli_tempdir();
    const char *src = cli_copy_model(dir, "bundled.st");
    if (!src)
        return false;
    SlError err = {0};
    SlModel *m = sl_ckpt_load(src, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    const int scaled[] = {SL_P_W_Q, SL_P_W_K};
    for (int i = 0; i < 2; i++) {
        float *w = sl_model_params_get(&m->params, scaled[i]);
        for (size_t j = 0; j < m->param_sizes[scaled[i]]; j++)
            w[j] *= 1e20f;   /* still finite: |w| < 1e20 */
    }
    model = cli_path(dir, "overflow.st");
    ck_assert_msg(sl_ckpt_save(m, model, &err) == 0, "%s", err.message);
    sl_model_free(m);
    return true;
}

static void expect_refused(const char *const args[], const char *needle)
{
    CliRun r;
    cli_run(&r, NULL, args);
    ck_assert_msg(r.status == 1, "%s: exit %d (%s) stdout '%.200s'", args[0], r.status, r.err, r.out);
    ck_assert_msg(strcmp(r.out, "") == 0, "%s: printed '%.300s'", args[0], r.out);
    ck_assert_msg(strstr(r.err, "not numbers") && strstr(r.err, needle) && strstr(r.err, model), "%s: stderr '%s'",
                  args[0], r.err);
    ck_assert_msg(strchr(r.err, '\n') == r.err + strlen(r.err) - 1, "%s: more than one line: %s", args[0], r.err);
    printf("  %s: %s", args[0], r.err);
    cli_run_free(&r);
}

START_TEST(test_every_command_refuses_once)
{
    if (!make_overflowing_model()) {
        printf("skipped: no bundled model in data/\n");
        cli_rmtree(dir);
        return;
    }
    /* the first tensor that is not a number, and where */
    const char *where = "blocks.0.attn.hook_attn_scores[list 0, head 0, query ";
    const char *p1[] = {"predict", "--model", model, "42", "17", "26", "3", "49", "0", "26", "11", "8", "30", NULL};
    expect_refused(p1, where);
    const char *p2[] = {"predict", "--json", "--model", model, "42", "17", "26", "3", "49", "0", "26", "11", "8", "30",
                        NULL};
    expect_refused(p2, where);
    const char *e1[] = {"eval", "--json", "--lists", "50", "--model", model, NULL};
    expect_refused(e1, where);
    const char *x1[] = {"explain", "--json", "--lists", "50", "--model", model, NULL};
    expect_refused(x1, where);
    const char *c1[] = {"circuit", "qk-token-token", "--format", "json", "--model", model, NULL};
    expect_refused(c1, "circuit qk-token-token[row ");
    cli_rmtree(dir);
}
END_TEST

static Suite *make(void)
{
    Suite *s = suite_create("cli-nonfinite");
    TCase *tc = tcase_create("nonfinite");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_every_command_refuses_once);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return cli_main(argc, argv, make); }
