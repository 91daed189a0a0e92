/* test_roundtrip.c: structured round trips of whole models.
 *
 * safetensors: random valid models (random shapes, random weights with edge
 * values) go through sl_model_to_tensors + sl_safetensors_write and come back
 * identical through sl_safetensors_read (every tensor, byte for byte, and the
 * metadata) and through sl_ckpt_load (config and every parameter, bit for bit);
 * writing the loaded model again gives the same file.
 *
 * .pt: make_pt_models.py (Debian's python3-torch) saves random models with
 * torch.save in four dtypes, with and without biases and buffers, as a
 * module's OrderedDict or a plain dict, contiguous or as views, and writes
 * torch's own float32 values of every parameter beside each file; sl_ckpt_load
 * must give exactly those values, zero for absent biases, and the model
 * must survive conversion to safetensors unchanged.
 *
 * Usage: test-roundtrip safetensors | pt SCRIPT
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sortlens/checkpoint.h"
#include "sortlens/safetensors.h"
#include "sortlens/task.h"
#include "test_util.h"

static char tmpdir[64];
static const char *pt_script;
enum { PT_MODELS = 24, PT_SEED = 7, ST_MODELS = 30 };

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sortlens-roundtrip-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void assert_sets_equal(const SlTensorSet *a, const SlTensorSet *b)
{
    ck_assert_int_eq(a->count, b->count);
    for (int i = 0; i < a->count; i++) {
        const SlTensor *x = &a->items[i], *y = sl_tensorset_find(b, x->name);
        ck_assert_msg(y != NULL, "%s is missing after the round trip", x->name);
        ck_assert_int_eq(x->dtype, y->dtype);
        ck_assert_int_eq(x->ndim, y->ndim);
        for (int d = 0; d < x->ndim; d++)
            ck_assert_int_eq(x->shape[d], y->shape[d]);
        ck_assert_uint_eq(x->nbytes, y->nbytes);
        ck_assert_msg(x->nbytes == 0 || memcmp(x->data, y->data, x->nbytes) == 0, "%s: data differs", x->name);
    }
    ck_assert_int_eq(a->meta_count, b->meta_count);
    for (int i = 0; i < a->meta_count; i++) {
        const char *v = sl_tensorset_get_meta(b, a->meta_keys[i]);
        ck_assert_msg(v != NULL, "metadata %s is missing", a->meta_keys[i]);
        ck_assert_str_eq(v, a->meta_values[i]);
    }
}

static void assert_models_equal(const SlModel *a, const SlModel *b)
{
    ck_assert_mem_eq(&a->cfg, &b->cfg, sizeof a->cfg);
    ck_assert_uint_eq(a->num_params, b->num_params);
    /* bit for bit: -0.0 and subnormals must survive */
    ck_assert_mem_eq(a->param_memory, b->param_memory, a->num_params * sizeof(float));
}

/* A random weight: mostly normal at a random scale, sometimes an edge value. */
static float random_weight(SlRng *r, float scale)
{
    switch (sl_rng_below(r, 64)) {
    case 0: return -0.0f;
    case 1: return 1e-40f;            /* subnormal */
    case 2: return -3.0e38f;
    case 3: return 1.17549435e-38f;   /* smallest normal */
    default: return sl_rng_normal(r) * scale;
    }
}

START_TEST(test_safetensors_models)
{
    make_tmpdir();
    char path[128], path2[128];
    snprintf(path, sizeof path, "%s/a.safetensors", tmpdir);
    snprintf(path2, sizeof path2, "%s/b.safetensors", tmpdir);
    SlRng r;
    sl_rng_seed(&r, 20240601);
    for (int iter = 0; iter < ST_MODELS; iter++) {
        SlError err = {0};
        /* shapes within the model limits, kept small enough to stay quick
         * under valgrind; one in five uses a single dimension of 1 */
        SlModelConfig c = {
            .n_layers = 1 + (int)sl_rng_below(&r, 4), .n_heads = 1 + (int)sl_rng_below(&r, 4),
            .d_model = 1 + (int)sl_rng_below(&r, 48), .d_head = 1 + (int)sl_rng_below(&r, 24),
            .d_vocab_out = 1 + (int)sl_rng_below(&r, 80), .list_len = 1 + (int)sl_rng_below(&r, 16),
        };
        if (iter % 5 == 4)
            c.d_model = c.d_head = 1;
        sl_model_config_derive(&c);
        SlModel *m = sl_model_new(&c, &err);
        ck_assert_msg(m != NULL, "%s", err.message);
        float scale = (float[]){0.02f, 1.0f, 50.0f}[sl_rng_below(&r, 3)];
        for (size_t k = 0; k < m->num_params; k++)
            m->param_memory[k] = random_weight(&r, scale);
        ck_assert_int_eq(sl_model_prepare(m, &err), 0);
        char seed[32];
        snprintf(seed, sizeof seed, "%d", iter);
        ck_assert_int_eq(sl_tensorset_set_meta(m->meta, "iteration", seed, &err), 0);

        SlTensorSet *ts = sl_model_to_tensors(m, &err);
        ck_assert_msg(ts != NULL, "%s", err.message);
        ck_assert_msg(sl_safetensors_write(path, ts, &err) == 0, "%s", err.message);
        SlTensorSet *back = sl_safetensors_read(path, &err);
        ck_assert_msg(back != NULL, "model %d: %s", iter, err.message);
        assert_sets_equal(ts, back);
        assert_sets_equal(back, ts);

        SlModel *m2 = sl_ckpt_load(path, &err);
        ck_assert_msg(m2 != NULL, "model %d: %s", iter, err.message);
        assert_models_equal(m, m2);
        ck_assert_str_eq(m2->format, "safetensors");
        ck_assert_str_eq(sl_tensorset_get_meta(m2->meta, "iteration"), seed);
        for (int i = 0; i < SL_NUM_PARAM_TENSORS; i++)
            ck_assert(m2->has_bias[i]);

        /* the loaded model writes the same bytes again */
        ck_assert_msg(sl_ckpt_save(m2, path2, &err) == 0, "%s", err.message);
        size_t n1, n2;
        uint8_t *b1 = read_all(path, &n1), *b2 = read_all(path2, &n2);
        ck_assert_uint_eq(n1, n2);
        ck_assert_msg(memcmp(b1, b2, n1) == 0, "model %d: the second file differs", iter);
        free(b1);
        free(b2);
        sl_tensorset_free(back);
        sl_tensorset_free(ts);
        sl_model_free(m2);
        sl_model_free(m);
    }
    remove_tmpdir();
}
END_TEST

static int json_int(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    ck_assert_msg(json_is_integer(v), "manifest: %s is not an integer", key);
    return (int)json_integer_value(v);
}

/* Checks one generated model against its manifest and raw values. */
static void check_pt_model(int k)
{
    char path[256], jpath[256], fpath[256], spath[256];
    snprintf(path, sizeof path, "%s/model-%d.pt", tmpdir, k);
    snprintf(jpath, sizeof jpath, "%s/model-%d.json", tmpdir, k);
    snprintf(fpath, sizeof fpath, "%s/model-%d.f32", tmpdir, k);
    snprintf(spath, sizeof spath, "%s/model-%d.safetensors", tmpdir, k);
    json_error_t jerr;
    json_t *man = json_load_file(jpath, 0, &jerr);
    ck_assert_msg(man != NULL, "%s: %s", jpath, jerr.text);
    size_t nraw;
    float *raw = (float *)read_all(fpath, &nraw);
    const char *what = json_string_value(json_object_get(man, "dtype"));
    const char *layout = json_string_value(json_object_get(man, "layout"));

    SlError err = {0};
    SlModel *m = sl_ckpt_load(path, &err);
    ck_assert_msg(m != NULL, "model-%d.pt (%s, %s): %s", k, what, layout, err.message);
    ck_assert_str_eq(m->format, "pytorch");
    json_t *cfg = json_object_get(man, "config");
    ck_assert_int_eq(m->cfg.n_layers, json_int(cfg, "n_layers"));
    ck_assert_int_eq(m->cfg.n_heads, json_int(cfg, "n_heads"));
    ck_assert_int_eq(m->cfg.d_model, json_int(cfg, "d_model"));
    ck_assert_int_eq(m->cfg.d_head, json_int(cfg, "d_head"));
    ck_assert_int_eq(m->cfg.n_ctx, json_int(cfg, "n_ctx"));
    ck_assert_int_eq(m->cfg.d_vocab, json_int(cfg, "d_vocab"));
    ck_assert_int_eq(m->cfg.d_vocab_out, json_int(cfg, "d_vocab_out"));
    ck_assert_int_eq(m->cfg.list_len, json_int(cfg, "list_len"));

    /* every parameter of every layer: present with torch's values, or
     * listed as absent and zero */
    json_t *tensors = json_object_get(man, "tensors"), *absent = json_object_get(man, "absent");
    size_t found = 0;
    char name[96];
    for (int i = 0; i < SL_NUM_PARAM_TENSORS; i++) {
        int layers = sl_model_param_per_layer(i) ? m->cfg.n_layers : 1;
        size_t per_layer = m->param_sizes[i] / (size_t)layers;
        for (int l = 0; l < layers; l++) {
            sl_model_param_name(i, l, name, sizeof name);
            const float *got = sl_model_params_get(&m->params, i) + (size_t)l * per_layer;
            json_t *entry = NULL, *e;
            size_t idx;
            json_array_foreach(tensors, idx, e)
                if (strcmp(json_string_value(json_object_get(e, "name")), name) == 0)
                    entry = e;
            if (!entry) {
                bool listed = false;
                json_array_foreach(absent, idx, e)
                    listed |= strcmp(json_string_value(e), name) == 0;
                ck_assert_msg(listed, "model-%d: %s neither saved nor listed as absent", k, name);
                ck_assert(sl_model_param_is_bias(i));
                ck_assert(!m->has_bias[i]);
                for (size_t j = 0; j < per_layer; j++)
                    ck_assert_msg(got[j] == 0.0f, "model-%d: absent %s is not zero", k, name);
                continue;
            }
            found++;
            size_t off = (size_t)json_integer_value(json_object_get(entry, "offset"));
            ck_assert_uint_le((off + per_layer) * sizeof(float), nraw);
            ck_assert_msg(memcmp(got, raw + off, per_layer * sizeof(float)) == 0,
                          "model-%d (%s, %s): %s differs from torch's values", k, what, layout, name);
        }
    }
    ck_assert_uint_eq(found, json_array_size(tensors));

    /* .pt -> safetensors -> model: unchanged */
    ck_assert_msg(sl_ckpt_save(m, spath, &err) == 0, "%s", err.message);
    SlModel *m2 = sl_ckpt_load(spath, &err);
    ck_assert_msg(m2 != NULL, "%s", err.message);
    assert_models_equal(m, m2);
    sl_model_free(m2);
    sl_model_free(m);
    free(raw);
    json_decref(man);
}

START_TEST(test_pt_models)
{
    make_tmpdir();
    char cmd[1024];
    const char *py = getenv("SORTLENS_TORCH_PYTHON");
    snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' %d %d", py && *py ? py : "/usr/bin/python3",
             pt_script, tmpdir, PT_MODELS, PT_SEED);
    int rc = system(cmd);
    ck_assert_msg(rc == 0, "the generator failed: %s", cmd);
    for (int k = 0; k < PT_MODELS; k++)
        check_pt_model(k);
    remove_tmpdir();
}
END_TEST

int main(int argc, char **argv)
{
    Suite *s = suite_create("roundtrip");
    TCase *tc = tcase_create("models");
    tcase_set_timeout(tc, 600);
    if (argc == 2 && strcmp(argv[1], "safetensors") == 0) {
        tcase_add_test(tc, test_safetensors_models);
    } else if (argc == 3 && strcmp(argv[1], "pt") == 0) {
        pt_script = argv[2];
        const char *py = getenv("SORTLENS_TORCH_PYTHON");
        char cmd[512];
        snprintf(cmd, sizeof cmd, "'%s' -c 'import torch, numpy' >/dev/null 2>&1", py && *py ? py : "/usr/bin/python3");
        if (system(cmd) != 0) {
            printf("SKIP roundtrip-pt: /usr/bin/python3 cannot import torch (install python3-torch)\n");
            return 77;
        }
        tcase_add_test(tc, test_pt_models);
    } else {
        fprintf(stderr, "usage: %s safetensors | pt SCRIPT\n", argv[0]);
        return 2;
    }
    suite_add_tcase(s, tc);
    return run_suite(s);
}
