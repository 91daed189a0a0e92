/* test_cli_analysis.c: the analysis commands as a user runs them: circuit
 * and explain against the core's own functions on the 2-layer checkpoint,
 * eval --ablate against explain's ablation table, patch's JSON and CSV and
 * the refusals of patch and attribute, and predict --cache against PyTorch's
 * activations for the seed model. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_run.h"
#include "reference.h"
#include "sortlens/ablation.h"
#include "sortlens/checkpoint.h"
#include "sortlens/circuits.h"
#include "sortlens/decode.h"
#include "sortlens/explain.h"
#include "sortlens/safetensors.h"
#include "test_util.h"

/* ---- circuit and explain, against the core's own functions ---------------- */

static char tmpdir[64];

/* Runs `exe ARGS > tmpdir/out 2> tmpdir/err`; returns the exit status, and
 * stderr in errbuf. */
static int run_cli(const char *args, char *errbuf, size_t errsize)
{
    char cmd[4096], errfile[128];
    snprintf(errfile, sizeof errfile, "%s/err", tmpdir);
    snprintf(cmd, sizeof cmd, "'%s' %s > '%s/out'", cli_exe(), args, tmpdir);
    return cli_sh(cmd, errfile, errbuf, errsize);
}

static bool cli_setup(const char *test)
{
    if (!cli_exe()) {
        printf("skip: %s: the sortlens executable is not beside the tests\n", test);
        return false;
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sortlens-circuits-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    return true;
}

static void cli_teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

static void expect_cli_error(const char *args, int status, const char *needle)
{
    char err[2048];
    int st = run_cli(args, err, sizeof err);
    ck_assert_msg(st == status, "'%s': exit %d, expected %d (%s)", args, st, status, err);
    ck_assert_msg(strncmp(err, "sortlens: ", 10) == 0 && strstr(err, needle), "'%s': stderr '%s' lacks '%s'", args,
                  err, needle);
}

START_TEST(test_cli_circuit)
{
    const char *model = testdata_path("multi_2l2h.pt");
    if (!cli_setup("circuit") || !model)
        return;
    char args[1024], err[2048], out[128];
    snprintf(out, sizeof out, "%s/out", tmpdir);
    ck_assert_int_eq(run_cli("circuit --help", err, sizeof err), 0);
    SlError e = {0};
    SlModel *m = sl_ckpt_load(model, &e);
    ck_assert_msg(m, "%s", e.message);

    /* JSON: the layout of the issue, and every float read back exactly */
    snprintf(args, sizeof args, "circuit ov --model '%s' --layer 1 --head 1 --format json", model);
    ck_assert_msg(run_cli(args, err, sizeof err) == 0, "%s", err);
    SlNamedMatrix *nm = sl_circuit_get(m, "ov", 1, 1, &e);
    ck_assert_ptr_nonnull(nm);
    json_error_t jerr;
    json_t *root = json_load_file(out, JSON_REJECT_DUPLICATES, &jerr);
    ck_assert_msg(root, "%s", jerr.text);
    ck_assert_str_eq(json_string_value(json_object_get(root, "name")), "ov");
    ck_assert_int_eq(json_integer_value(json_object_get(root, "rows")), 22);
    ck_assert_int_eq(json_integer_value(json_object_get(root, "cols")), 20);
    json_t *rl = json_object_get(root, "row_labels"), *cl = json_object_get(root, "col_labels");
    ck_assert_int_eq(json_array_size(rl), 22);
    ck_assert_int_eq(json_array_size(cl), 20);
    ck_assert_str_eq(json_string_value(json_array_get(rl, 0)), "0");
    ck_assert_str_eq(json_string_value(json_array_get(rl, 20)), "BOS");
    ck_assert_str_eq(json_string_value(json_array_get(rl, 21)), "MID");
    ck_assert_str_eq(json_string_value(json_array_get(cl, 19)), "19");
    json_t *data = json_object_get(root, "data");
    ck_assert_int_eq(json_array_size(data), 22);
    /* The executable may pick other BLAS kernels than this process (under
     * valgrind it does), so the values agree to rounding; the exact float
     * round trip is checked against the executable's own CSV below. */
    float json_ov[22 * 20];
    double scale = max_abs(nm->data, 22 * 20);
    for (int r = 0; r < 22; r++) {
        json_t *row = json_array_get(data, r);
        ck_assert_int_eq(json_array_size(row), 20);
        for (int c = 0; c < 20; c++) {
            json_ov[r * 20 + c] = (float)json_number_value(json_array_get(row, c));
            ck_assert_msg(fabs(json_ov[r * 20 + c] - nm->data[r * 20 + c]) <= 1e-6 * scale,
                          "json [%d][%d] %.9g vs %.9g", r, c, (double)json_ov[r * 20 + c],
                          (double)nm->data[r * 20 + c]);
        }
    }
    json_decref(root);
    sl_named_matrix_free(nm);
    snprintf(args, sizeof args, "circuit ov --model '%s' --layer 1 --head 1 --format csv", model);
    ck_assert_msg(run_cli(args, err, sizeof err) == 0, "%s", err);
    FILE *fo = fopen(out, "r");
    char cline[8192];
    ck_assert_ptr_nonnull(fgets(cline, sizeof cline, fo));   /* header */
    for (int r = 0; r < 22; r++) {
        ck_assert_ptr_nonnull(fgets(cline, sizeof cline, fo));
        char *p = strchr(cline, ',');
        for (int c = 0; c < 20; c++) {
            char *end;
            float x = strtof(p + 1, &end);
            ck_assert_msg(x == json_ov[r * 20 + c], "csv and json differ at [%d][%d]: %.9g vs %.9g", r, c, (double)x,
                          (double)json_ov[r * 20 + c]);
            p = end;
        }
    }
    fclose(fo);

    /* CSV: a header of column labels after an empty cell, rows led by labels */
    snprintf(args, sizeof args, "circuit qk-pos-token --model '%s' --layer 1", model);
    ck_assert_msg(run_cli(args, err, sizeof err) == 0, "%s", err);
    nm = sl_circuit_get(m, "qk-pos-token", 1, 0, &e);
    ck_assert_ptr_nonnull(nm);
    FILE *f = fopen(out, "r");
    ck_assert_ptr_nonnull(f);
    char line[8192];
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    ck_assert_str_eq(line, ",0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,BOS,MID\n");
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        char label[16];
        snprintf(label, sizeof label, "p%d,", rows);
        ck_assert_msg(strncmp(line, label, strlen(label)) == 0, "row %d: %s", rows, line);
        char *p = line + strlen(label), *end;
        for (int c = 0; c < 22; c++) {
            float x = strtof(p, &end);
            ck_assert_msg(end != p && fabs(x - nm->data[rows * 22 + c]) <= 1e-6 * max_abs(nm->data, 12 * 22),
                          "csv [%d][%d]", rows, c);
            p = end + 1;
        }
        ck_assert_int_eq(end[0], '\n');
        rows++;
    }
    fclose(f);
    ck_assert_int_eq(rows, 12);
    sl_named_matrix_free(nm);
    sl_model_free(m);

    snprintf(args, sizeof args, "circuit nope --model '%s'", model);
    expect_cli_error(args, 2, "'nope' is not a circuit");
    snprintf(args, sizeof args, "circuit ov --model '%s' --layer 2", model);
    expect_cli_error(args, 2, "layer 2 is out of range: the model has 2 layers (0..1)");
    snprintf(args, sizeof args, "circuit ov --model '%s' --head 5", model);
    expect_cli_error(args, 2, "head 5 is out of range");
    snprintf(args, sizeof args, "circuit ov --model '%s' --format xml", model);
    expect_cli_error(args, 2, "'xml' is not csv or json");
    snprintf(args, sizeof args, "circuit ov --model '%s' --layer x", model);
    expect_cli_error(args, 2, "--layer");
    snprintf(args, sizeof args, "circuit ov ov-pos --model '%s'", model);
    expect_cli_error(args, 2, "one circuit at a time");
    expect_cli_error("circuit --model /nonexistent/x.pt", 2, "which circuit?");
    expect_cli_error("circuit ov --model /nonexistent/x.pt", 1, "/nonexistent/x.pt: cannot open");
    expect_cli_error("circuit ov --frobnicate", 2, "unknown option '--frobnicate'");
    expect_cli_error("circuit ov --model", 2, "needs a value");
    cli_teardown();
}
END_TEST

START_TEST(test_cli_explain)
{
    const char *model = testdata_path("multi_2l2h.pt");
    if (!cli_setup("explain") || !model)
        return;
    char args[1024], err[2048], out[128];
    snprintf(out, sizeof out, "%s/out", tmpdir);
    ck_assert_int_eq(run_cli("explain --help", err, sizeof err), 0);
    snprintf(args, sizeof args, "explain --model '%s' --lists 20 --seed 3 --json", model);
    ck_assert_msg(run_cli(args, err, sizeof err) == 0, "%s", err);
    SlError e = {0};
    SlModel *m = sl_ckpt_load(model, &e);
    ck_assert_ptr_nonnull(m);
    json_error_t jerr;
    json_t *root = json_load_file(out, JSON_REJECT_DUPLICATES, &jerr);
    ck_assert_msg(root, "%s", jerr.text);
    ck_assert_int_eq(json_integer_value(json_object_get(root, "lists")), 20);
    ck_assert_int_eq(json_integer_value(json_object_get(root, "seed")), 3);
    const char *keys[] = {"ov_copy_fraction", "qk_next_token_fraction", "top_source_correct", "top_input_correct",
                          "attention_on_answer", "attention_after_mid"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        ck_assert_msg(json_is_real(json_object_get(root, keys[i])), "no %s", keys[i]);
    json_t *heads = json_object_get(root, "heads");
    ck_assert_int_eq(json_array_size(heads), 4);
    SlAttentionStats st[4];
    ck_assert_int_eq(sl_circuit_attention_stats(m, 20, 3, st, &e), 0);
    for (int i = 0; i < 4; i++) {
        json_t *h = json_array_get(heads, i);
        int hits, total;
        ck_assert_int_eq(json_integer_value(json_object_get(h, "layer")), i / 2);
        ck_assert_int_eq(json_integer_value(json_object_get(h, "head")), i % 2);
        ck_assert_int_eq(sl_circuit_ov_copy_count(m, i / 2, i % 2, &hits, &total, &e), 0);
        ck_assert_int_eq(json_integer_value(json_object_get(h, "ov_copy_count")), hits);
        ck_assert(json_real_value(json_object_get(h, "ov_copy_fraction")) == (double)hits / total);
        ck_assert_int_eq(sl_circuit_qk_next_token_count(m, i / 2, i % 2, &hits, &total, &e), 0);
        ck_assert_int_eq(json_integer_value(json_object_get(h, "qk_next_token_count")), hits);
        /* to rounding: the executable may use other BLAS kernels (one argmax may flip) */
        ck_assert(fabs(json_real_value(json_object_get(h, "top_source_correct")) - st[i].top_source_correct) <=
                  1.0 / 100 + 1e-9);
        ck_assert(fabs(json_real_value(json_object_get(h, "attention_after_mid")) - st[i].mass_after_mid) < 1e-5);
        ck_assert_int_eq(json_integer_value(json_object_get(h, "queries")), 20 * 5);
    }
    json_t *abl = json_object_get(root, "ablations");
    ck_assert_int_eq(json_array_size(abl), SL_ABLATION_COUNT);
    SlEvalResult clean;
    ck_assert_int_eq(sl_decode_eval(m, 20, 3, NULL, &clean, NULL, NULL, &e), 0);
    json_t *c0 = json_array_get(abl, 0);
    ck_assert_str_eq(json_string_value(json_object_get(c0, "name")), "clean");
    ck_assert(fabs(json_real_value(json_object_get(c0, "token_accuracy")) - clean.token_accuracy) <= 1.0 / 100 + 1e-9);
    ck_assert(fabs(json_real_value(json_object_get(c0, "loss")) - clean.loss) < 1e-4 * fmax(1, clean.loss));
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(abl, SL_ABLATION_NO_DIRECT), "name")),
                     "no-direct-path");
    json_decref(root);
    sl_model_free(m);

    snprintf(args, sizeof args, "explain --model '%s' --lists 5", model);
    ck_assert_msg(run_cli(args, err, sizeof err) == 0, "%s", err);
    FILE *f = fopen(out, "r");
    char text[16384];
    size_t got = fread(text, 1, sizeof text - 1, f);
    text[got] = '\0';
    fclose(f);
    ck_assert_ptr_nonnull(strstr(text, "Layer 1, head 1 (direct circuits"));
    ck_assert_ptr_nonnull(strstr(text, "OV copies:"));
    ck_assert_ptr_nonnull(strstr(text, "W_pos removed from OV"));

    snprintf(args, sizeof args, "explain --model '%s' --lists 0", model);
    expect_cli_error(args, 2, "--lists");
    snprintf(args, sizeof args, "explain --model '%s' --seed -1", model);
    expect_cli_error(args, 2, "--seed");
    snprintf(args, sizeof args, "explain --model '%s' extra", model);
    expect_cli_error(args, 2, "unexpected argument 'extra'");
    expect_cli_error("explain --model /nonexistent/x.pt", 1, "/nonexistent/x.pt: cannot open");
    cli_teardown();
}
END_TEST

/* ---- eval --ablate against explain's table ---------------------------------- */

/* Through the executables: `eval --ablate SPEC --json` gives explain's
 * table row for the same ablation, for every row; predict --ablate takes
 * the spec and refuses a bad one with exit 2. */
static json_t *run_json(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    json_error_t jerr;
    json_t *j = json_loadf(p, JSON_DISABLE_EOF_CHECK, &jerr);
    ck_assert_int_eq(pclose(p), 0);
    ck_assert_msg(j, "%s: %s", cmd, jerr.text);
    return j;
}

START_TEST(test_cli_eval_ablate_equals_explain)
{
    const char *exe = cli_exe();
    if (!exe) {
        printf("SKIP test_cli_eval_ablate_equals_explain: no sortlens executable\n");
        return;
    }
    const int lists = test_light_workload() ? 20 : 300;
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' explain --lists %d --json", exe, lists);
    json_t *ex = run_json(cmd), *rows = json_object_get(ex, "ablations");
    static const struct {
        const char *row, *spec;
    } pairs[] = {{"clean", ""},
                 {"no-qk-token-token", "qk:token-token"},
                 {"no-qk-token-pos", "qk:tp"},
                 {"no-qk-pos-token", "qk:pos-token"},
                 {"no-qk-pos-pos", "qk:pp"},
                 {"ov-without-pos", "ov:pos"},
                 {"no-direct-path", "direct"}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        json_t *row = NULL, *v;
        size_t k;
        json_array_foreach(rows, k, v) if (strcmp(json_string_value(json_object_get(v, "name")), pairs[i].row) == 0) row = v;
        ck_assert_msg(row, "explain has no row %s", pairs[i].row);
        snprintf(cmd, sizeof cmd, "'%s' eval --lists %d --seed 1 --json%s%s", exe, lists, pairs[i].spec[0] ? " --ablate " : "",
                 pairs[i].spec);
        json_t *ev = run_json(cmd);
        static const char *const keys[] = {"token_accuracy", "list_accuracy", "loss"};
        for (int j = 0; j < 3; j++) {
            double a = json_number_value(json_object_get(ev, keys[j])), b = json_number_value(json_object_get(row, keys[j]));
            ck_assert_msg(fabs(a - b) <= 1e-9 * fmax(1, fabs(b)), "%s %s: eval %.10g, explain %.10g", pairs[i].spec, keys[j],
                          a, b);
        }
        if (pairs[i].spec[0])
            ck_assert_ptr_nonnull(json_object_get(ev, "ablation"));
        json_decref(ev);
    }
    json_decref(ex);
    snprintf(cmd, sizeof cmd, "'%s' predict --ablate head:0.0 1 2 3 4 5 6 7 8 9 10 > /dev/null", exe);
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 0);
    snprintf(cmd, sizeof cmd, "'%s' predict --ablate head:5.0 1 2 3 4 5 6 7 8 9 10 2>/dev/null", exe);
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "'%s' eval --lists 5 --ablate ov:pos@query=MID 2>/dev/null", exe);
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 2);
}
END_TEST

/* ---- patch and attribute ---------------------------------------------------- */

/* The CLI's JSON carries the keys the issue lists, and csv one row per
 * hook, head and position. */
START_TEST(test_cli_patch_json_and_csv)
{
    const char *exe = cli_exe();
    if (!exe) {
        printf("SKIP test_cli_patch_json_and_csv: no sortlens executable\n");
        return;
    }
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' patch --clean '42 17 26 3 49 0 26 8 31 12' --corrupt '42,17,27,3,49,0,26,8,31,12' "
             "--json --attribution", exe);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    json_error_t jerr;
    json_t *root = json_loadf(p, 0, &jerr);
    ck_assert_int_eq(pclose(p), 0);
    ck_assert_msg(root, "%s", jerr.text);
    static const char *const keys[] = {"at", "clean_answer", "corrupt_answer", "ld_clean", "ld_corrupt", "results",
                                       "score_terms", "attribution"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        ck_assert_msg(json_object_get(root, keys[i]), "no key %s", keys[i]);
    ck_assert_int_eq(json_integer_value(json_object_get(root, "at")), 7);
    json_t *k = json_object_get(json_object_get(root, "results"), "blocks.0.attn.hook_k");
    ck_assert_int_eq((int)json_array_size(k), 1);                       /* [head] */
    ck_assert_int_eq((int)json_array_size(json_array_get(k, 0)), 22);   /* [position] */
    ck_assert_int_eq((int)json_array_size(json_object_get(json_object_get(root, "results"), "hook_embed")), 22);
    ck_assert_ptr_nonnull(json_object_get(json_object_get(root, "score_terms"), "pos_pos"));
    json_decref(root);

    snprintf(cmd, sizeof cmd, "'%s' patch --clean '42 17 26 3 49 0 26 8 31 12' --corrupt '42 17 27 3 49 0 26 8 31 12' "
             "--format csv", exe);
    p = popen(cmd, "r");
    char line[256];
    int rows = 0;
    ck_assert_ptr_nonnull(fgets(line, sizeof line, p));
    ck_assert_str_eq(line, "hook,head,position,exact\n");
    while (fgets(line, sizeof line, p))
        rows++;
    ck_assert_int_eq(pclose(p), 0);
    ck_assert_int_eq(rows, 22 * (2 + 5 + 2) + 4 * 22);

    /* refusals: exit 2 with a message */
    snprintf(cmd, sizeof cmd, "'%s' patch --clean '1 2 3 4 5 6 7 8 9 10' --corrupt '10 9 8 7 6 5 4 3 2 1' 2>/dev/null", exe);
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "'%s' patch --clean '1 2 3' --corrupt '10 9 8 7 6 5 4 3 2 1' 2>/dev/null", exe);
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "'%s' attribute --at 11 1 2 3 4 5 6 7 8 9 10 2>/dev/null", exe);
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "'%s' attribute --target 3 --vs 3 1 2 3 4 5 6 7 8 9 10 2>/dev/null", exe);
    ck_assert_int_eq(WEXITSTATUS(system(cmd)), 2);
}
END_TEST

/* ---- predict --cache against PyTorch ---------------------------------------- */

/* `sortlens predict --teacher-forced --cache OUT` on the reference's first
 * list writes what PyTorch's run_with_cache holds for it (cache4.*[0]),
 * under TransformerLens's long hook names, with the tokens. */
START_TEST(test_cli_predict_cache)
{
    const char *seed = shared_path("seed-model/sort_fixed_len_list_model.pt");
    SlTensorSet *ref = seed ? ref_load() : NULL;
    if (!ref) {
        if (!seed)
            printf("skipped: ../shared/seed-model/sort_fixed_len_list_model.pt is absent\n");
        return;
    }
    size_t ntok;
    int *tokens = ref_ints(ref, "tokens", &ntok);
    char dir[] = "/tmp/sortlens-cache-XXXXXX", out[96], cmd[1024];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(out, sizeof out, "%s/cache.safetensors", dir);
    int len = snprintf(cmd, sizeof cmd, "'%s' predict --teacher-forced --model '%s' --cache '%s' >/dev/null",
                       cli_exe(), seed, out);
    for (int i = 1; i <= 10; i++)
        len += snprintf(cmd + len, sizeof cmd - (size_t)len, " %d", tokens[i]);
    ck_assert_int_eq(system(cmd), 0);
    SlError err = {0};
    SlTensorSet *got = sl_safetensors_read(out, &err);
    ck_assert_msg(got, "%s", err.message);
    ck_assert_int_eq(got->count, 13);   /* 11 activations, blocks.0.hook_resid_pre and the tokens */
    for (size_t i = 0; i < sizeof ref_cache4_names / sizeof ref_cache4_names[0]; i++) {
        char refname[64], longname[64], what[128];
        snprintf(refname, sizeof refname, "cache4.%s", ref_cache4_names[i]);
        bool per_layer = strncmp(ref_cache4_names[i], "attn.", 5) == 0 || strcmp(ref_cache4_names[i], "hook_attn_out") == 0 ||
                         strcmp(ref_cache4_names[i], "hook_resid_post") == 0;
        snprintf(longname, sizeof longname, "%s%s", per_layer ? "blocks.0." : "", ref_cache4_names[i]);
        size_t n;
        const float *want = ref_f32(ref, refname, &n);
        const SlTensor *t = sl_tensorset_find(got, longname);
        ck_assert_msg(t, "the file lacks %s", longname);
        ck_assert_int_eq(t->dtype, SL_DT_F32);
        ck_assert_int_eq(t->shape[0], 1);
        ck_assert_uint_eq(t->nbytes / sizeof(float) * 4, n);   /* the first of the 4 lists */
        snprintf(what, sizeof what, "predict --cache, %s", longname);
        expect_close_f(what, t->data, want, n / 4, 1e-5);
    }
    const SlTensor *tt = sl_tensorset_find(got, "tokens");
    ck_assert_msg(tt && tt->dtype == SL_DT_I64 && tt->nbytes == 22 * sizeof(int64_t), "tokens missing or malformed");
    for (int i = 0; i < 22; i++) {
        int64_t v;
        memcpy(&v, (const char *)tt->data + 8 * i, 8);
        ck_assert_int_eq(v, tokens[i]);
    }
    ck_assert_str_eq(sl_tensorset_get_meta(got, "mode"), "teacher-forced");
    sl_tensorset_free(got);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(tokens);
    sl_tensorset_free(ref);
}
END_TEST

static Suite *make(void)
{
    Suite *s = suite_create("cli-analysis");
    TCase *tc = tcase_create("analysis");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_cli_circuit);
    tcase_add_test(tc, test_cli_explain);
    tcase_add_test(tc, test_cli_eval_ablate_equals_explain);
    tcase_add_test(tc, test_cli_patch_json_and_csv);
    tcase_add_test(tc, test_cli_predict_cache);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) { return cli_main(argc, argv, make); }
