/* test_pt.c: the torch.save reader (ZIP + allowlisted pickle): the seed
 * checkpoint and the project's 2-layer checkpoint against PyTorch, views and
 * dtypes written by PyTorch, and one test per malformed case of HARDENING.md
 * (ZIP and pickle), each asserting the message. */
#include <cblas.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <zip.h>

#include <jansson.h>

#include "sortlens/checkpoint.h"
#include "sortlens/pt.h"
#include "sortlens/safetensors.h"
#include "test_util.h"

static char tmpdir[64];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sortlens-pt-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

static bool have_torch(void)
{
    return access("/usr/bin/python3", X_OK) == 0 && system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0;
}

/* ---- real checkpoints -------------------------------------------------------- */

/* The seed's weights checked independently: the reference's OV circuit,
 * computed by PyTorch, equals W_E W_V W_O W_U multiplied here with BLAS from
 * the weights we loaded. */
START_TEST(test_seed_checkpoint)
{
    const char *seed = shared_path("seed-model/sort_fixed_len_list_model.pt");
    const char *ref = shared_path("reference/reference.safetensors");
    if (!seed || !ref) {
        printf("SKIP test_seed_checkpoint: ../shared/seed-model or ../shared/reference is absent\n");
        return;
    }
    SlError err = {0};
    TensorSet *ts = pt_read(seed, &err);
    ck_assert_msg(ts != NULL, "%s", err.message);
    ck_assert_int_eq(ts->count, 14);
    const Tensor *mask = tensorset_find(ts, "blocks.0.attn.mask");
    ck_assert_ptr_nonnull(mask);
    ck_assert_int_eq(mask->dtype, DT_BOOL);
    for (int q = 0; q < 22; q++)
        for (int k = 0; k < 22; k++)
            ck_assert_int_eq(((uint8_t *)mask->data)[q * 22 + k], k <= q);
    const Tensor *ig = tensorset_find(ts, "blocks.0.attn.IGNORE");
    ck_assert_ptr_nonnull(ig);
    ck_assert_int_eq(ig->ndim, 0);
    ck_assert(*(float *)ig->data == -100000.0f);
    tensorset_free(ts);

    Model *m = ckpt_load(seed, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    ck_assert_str_eq(m->format, "pytorch");
    const ModelConfig *c = &m->cfg;
    ck_assert_int_eq(c->n_layers, 1);
    ck_assert_int_eq(c->n_heads, 1);
    ck_assert_int_eq(c->d_model, 128);
    ck_assert_int_eq(c->d_head, 128);
    ck_assert_int_eq(c->n_ctx, 22);
    ck_assert_int_eq(c->d_vocab, 52);
    ck_assert_int_eq(c->d_vocab_out, 50);
    ck_assert_int_eq(c->list_len, 10);
    ck_assert(m->has_bias[P_B_Q] && m->has_bias[P_B_U]);

    TensorSet *r = safetensors_read(ref, &err);
    ck_assert_msg(r != NULL, "%s", err.message);
    const Tensor *ov = tensorset_find(r, "circuit.ov_token");
    ck_assert_ptr_nonnull(ov);
    int V = 52, D = 128, Vo = 50;
    float *ev = malloc(sizeof(float) * V * D), *evo = malloc(sizeof(float) * V * D), *out = malloc(sizeof(float) * V * Vo);
    /* W_E [V,D] W_V [D,E] -> [V,E]; W_O [E,D] -> [V,D]; W_U [D,Vo] -> [V,Vo] (E = D here) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, V, D, D, 1, m->params.W_E, D, m->params.W_V, D, 0, ev, D);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, V, D, D, 1, ev, D, m->params.W_O, D, 0, evo, D);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, V, Vo, D, 1, evo, D, m->params.W_U, Vo, 0, out, Vo);
    double scale = max_abs(ov->data, (size_t)V * Vo);
    double diff = max_abs_diff(out, ov->data, (size_t)V * Vo);
    ck_assert_msg(diff <= 1e-5 * scale, "ov_token differs by %g (scale %g)", diff, scale);
    /* and not trivially: the circuit is far from zero */
    ck_assert(scale > 1.0);
    free(ev);
    free(evo);
    free(out);
    tensorset_free(r);
    model_free(m);
}
END_TEST

/* The 2-layer, 2-head checkpoint made by tests/data/make_multi.py. */
START_TEST(test_multi_checkpoint)
{
    const char *path = testdata_path("multi_2l2h.pt");
    ck_assert_ptr_nonnull(path);
    SlError err = {0};
    Model *m = ckpt_load(path, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    const ModelConfig *c = &m->cfg;
    ck_assert_int_eq(c->n_layers, 2);
    ck_assert_int_eq(c->n_heads, 2);
    ck_assert_int_eq(c->d_model, 32);
    ck_assert_int_eq(c->d_head, 16);
    ck_assert_int_eq(c->n_ctx, 12);
    ck_assert_int_eq(c->d_vocab, 22);
    ck_assert_int_eq(c->d_vocab_out, 20);
    ck_assert_int_eq(c->list_len, 5);
    for (int i = 0; i < NUM_PARAM_TENSORS; i++)
        if (model_param_is_bias(i)) {
            ck_assert(m->has_bias[i]);
            ck_assert(max_abs(model_params_get(&m->params, i), m->param_sizes[i]) > 0.01);
        }
    /* Independent check of the values: the expected file's first
     * hook_embed row is W_E[BOS] as PyTorch computed it. */
    const char *exp = testdata_path("multi_2l2h_expected.safetensors");
    ck_assert_ptr_nonnull(exp);
    TensorSet *e = safetensors_read(exp, &err);
    ck_assert_msg(e != NULL, "%s", err.message);
    const Tensor *emb = tensorset_find(e, "cache4.hook_embed");
    ck_assert_ptr_nonnull(emb);
    ck_assert_mem_eq(emb->data, m->params.W_E + 20 * 32, 32 * sizeof(float));
    const Tensor *pos = tensorset_find(e, "cache4.hook_pos_embed");
    ck_assert_mem_eq(pos->data, m->params.W_pos, 12 * 32 * sizeof(float));
    tensorset_free(e);
    model_free(m);
}
END_TEST

/* Convert to safetensors (the path of `sortlens convert`) and have PyTorch
 * compare the result with torch.load of the original: identical tensors. */
static void convert_and_compare(const char *pt)
{
    const char *script = testdata_path("torch_safetensors.py");
    ck_assert_ptr_nonnull(script);
    make_tmpdir();
    char out[128], cmd[1024];
    snprintf(out, sizeof out, "%s/converted.safetensors", tmpdir);
    SlError err = {0};
    const char *format = NULL;
    TensorSet *ts = ckpt_read_tensors(pt, &format, &err);
    ck_assert_msg(ts != NULL, "%s", err.message);
    ck_assert_str_eq(format, "pytorch");
    ck_assert_int_eq(safetensors_write(out, ts, &err), 0);
    tensorset_free(ts);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' compare '%s' '%s'", script, out, pt);
    ck_assert_int_eq(system(cmd), 0);
    remove_tmpdir();
}

START_TEST(test_convert_matches_pytorch)
{
    if (!have_torch()) {
        printf("SKIP test_convert_matches_pytorch: /usr/bin/python3 with torch is absent\n");
        return;
    }
    convert_and_compare(testdata_path("multi_2l2h.pt"));
    const char *seed = shared_path("seed-model/sort_fixed_len_list_model.pt");
    if (!seed) {
        printf("SKIP (seed part) test_convert_matches_pytorch: ../shared/seed-model is absent\n");
        return;
    }
    convert_and_compare(seed);
}
END_TEST


/* ---- the command line: convert and info ----------------------------------- */

/* build/sortlens, found from this test's own path (build/tests/test-pt). */
static const char *sortlens_exe(void)
{
    static char path[1024];
    char self[900];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return NULL;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return NULL;
    *slash = '\0';
    snprintf(path, sizeof path, "%s/../sortlens", self);
    return access(path, X_OK) == 0 ? path : NULL;
}

/* Runs a shell command; returns its exit status and its stderr in errbuf. */
static int run(const char *cmd, char *errbuf, size_t errsize)
{
    char full[8400], errfile[160];
    snprintf(errfile, sizeof errfile, "%s/stderr.txt", tmpdir);
    snprintf(full, sizeof full, "%s 2> '%s'", cmd, errfile);
    int st = system(full);
    errbuf[0] = '\0';
    FILE *f = fopen(errfile, "r");
    if (f) {
        size_t got = fread(errbuf, 1, errsize - 1, f);
        errbuf[got] = '\0';
        fclose(f);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(test_cli_convert_and_info)
{
    const char *exe = sortlens_exe();
    const char *pt = testdata_path("multi_2l2h.pt");
    if (!exe) {
        printf("SKIP test_cli_convert_and_info: the sortlens executable is not beside the tests\n");
        return;
    }
    make_tmpdir();
    char cmd[8192], errbuf[1024], out[160], json[160];
    snprintf(out, sizeof out, "%s/multi.safetensors", tmpdir);
    snprintf(json, sizeof json, "%s/info.json", tmpdir);

    snprintf(cmd, sizeof cmd, "'%s' convert --help > /dev/null", exe);
    ck_assert_int_eq(run(cmd, errbuf, sizeof errbuf), 0);
    snprintf(cmd, sizeof cmd, "'%s' info --help > /dev/null", exe);
    ck_assert_int_eq(run(cmd, errbuf, sizeof errbuf), 0);
    snprintf(cmd, sizeof cmd, "'%s' convert '%s' '%s'", exe, pt, out);
    ck_assert_msg(run(cmd, errbuf, sizeof errbuf) == 0, "%s", errbuf);
    /* never overwrite without --force */
    ck_assert_int_eq(run(cmd, errbuf, sizeof errbuf), 2);
    ck_assert_msg(strstr(errbuf, "sortlens: ") == errbuf && strstr(errbuf, "multi.safetensors: already exists; pass --force"),
                  "%s", errbuf);
    snprintf(cmd, sizeof cmd, "'%s' convert --force '%s' '%s'", exe, pt, out);
    ck_assert_msg(run(cmd, errbuf, sizeof errbuf) == 0, "%s", errbuf);
    snprintf(cmd, sizeof cmd, "'%s' convert '%s'", exe, pt);
    ck_assert_int_eq(run(cmd, errbuf, sizeof errbuf), 2);
    ck_assert_ptr_nonnull(strstr(errbuf, "expected IN and OUT"));
    /* no temporary file is left behind */
    snprintf(cmd, sizeof cmd, "test $(ls '%s' | grep -c tmp) -eq 0", tmpdir);
    ck_assert_int_eq(system(cmd), 0);

    if (have_torch()) {
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' compare '%s' '%s' > /dev/null",
                 testdata_path("torch_safetensors.py"), out, pt);
        ck_assert_msg(run(cmd, errbuf, sizeof errbuf) == 0, "%s", errbuf);
    } else {
        printf("SKIP (PyTorch part) test_cli_convert_and_info: /usr/bin/python3 with torch is absent\n");
    }

    snprintf(cmd, sizeof cmd, "'%s' info --json --model '%s' > '%s'", exe, out, json);
    ck_assert_msg(run(cmd, errbuf, sizeof errbuf) == 0, "%s", errbuf);
    json_error_t jerr;
    json_t *root = json_load_file(json, 0, &jerr);
    ck_assert_msg(root != NULL, "%s", jerr.text);
    ck_assert_str_eq(json_string_value(json_object_get(root, "format")), "safetensors");
    json_t *cfg = json_object_get(root, "config");
    ck_assert_int_eq(json_integer_value(json_object_get(cfg, "n_layers")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(cfg, "n_heads")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(cfg, "d_vocab")), 22);
    ck_assert_int_eq(json_integer_value(json_object_get(cfg, "list_len")), 5);
    /* 22*32 + 12*32 + 2 layers * (4*2*32*16 + 3*2*16 + 32) + 32*20 + 20, by hand */
    ck_assert_int_eq(json_integer_value(json_object_get(root, "parameters")), 704 + 384 + 2 * (4096 + 96 + 32) + 640 + 20);
    ck_assert(json_is_true(json_object_get(json_object_get(json_object_get(root, "biases"), "b_Q"), "present")));
    ck_assert(json_is_false(json_object_get(json_object_get(json_object_get(root, "biases"), "b_Q"), "all_zero")));
    ck_assert_int_eq(json_array_size(json_object_get(root, "tensors")), 2 * 10 + 4);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(root, "metadata"), "d_model")), "32");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(root, "metadata"), "converted_from")), "multi_2l2h.pt");
    json_decref(root);

    snprintf(cmd, sizeof cmd, "'%s' info --model '%s' > /dev/null", exe, pt);
    ck_assert_msg(run(cmd, errbuf, sizeof errbuf) == 0, "%s", errbuf);
    snprintf(cmd, sizeof cmd, "'%s' info --model /nonexistent/x.pt", exe);
    ck_assert_int_eq(run(cmd, errbuf, sizeof errbuf), 1);
    ck_assert_str_eq(errbuf, "sortlens: /nonexistent/x.pt: cannot open: No such file or directory\n");
    snprintf(cmd, sizeof cmd, "'%s' info --model '%s'", exe, testdata_path("multi_2l2h_expected.safetensors"));
    ck_assert_int_eq(run(cmd, errbuf, sizeof errbuf), 1);
    ck_assert_ptr_nonnull(strstr(errbuf, "multi_2l2h_expected.safetensors: missing weight embed.W_E"));
    snprintf(cmd, sizeof cmd, "'%s' info --frobnicate", exe);
    ck_assert_int_eq(run(cmd, errbuf, sizeof errbuf), 2);
    snprintf(cmd, sizeof cmd, "'%s' info --model", exe);
    ck_assert_int_eq(run(cmd, errbuf, sizeof errbuf), 2);
    ck_assert_ptr_nonnull(strstr(errbuf, "needs a value"));
    remove_tmpdir();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("pt");
    TCase *tc = tcase_create("checkpoints");
    tcase_add_test(tc, test_seed_checkpoint);
    tcase_add_test(tc, test_multi_checkpoint);
    tcase_add_test(tc, test_convert_matches_pytorch);
    tcase_add_test(tc, test_cli_convert_and_info);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(suite()); }
