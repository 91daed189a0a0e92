/* test_safetensors.c: the safetensors reader against PyTorch's reference file,
 * the writer (round trips, and PyTorch reading what we wrote), and one test
 * per malformed case of docs/SECURITY.md, each asserting the message. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "sortlens/checkpoint.h"
#include "sortlens/safetensors.h"
#include "sortlens/task.h"
#include "test_util.h"

/* ---- helpers --------------------------------------------------------------- */

/* A safetensors buffer: declared header length, the header text, then
 * datalen bytes (data, or a counting pattern when data is NULL). */
static uint8_t *build(uint64_t declared, const char *header, const void *data, size_t datalen, size_t *outlen)
{
    size_t hlen = strlen(header);
    uint8_t *b = malloc(8 + hlen + datalen + 1);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(declared >> (8 * i));
    memcpy(b + 8, header, hlen);
    for (size_t i = 0; i < datalen; i++)
        b[8 + hlen + i] = data ? ((const uint8_t *)data)[i] : (uint8_t)i;
    *outlen = 8 + hlen + datalen;
    return b;
}

/* Parses header + datalen bytes and expects a refusal whose message holds needle. */
static void refuse_declared(uint64_t declared, const char *header, size_t datalen, const char *needle)
{
    size_t len;
    uint8_t *b = build(declared, header, NULL, datalen, &len);
    SlError err = {0};
    SlTensorSet *ts = sl_safetensors_parse(b, len, "bad.safetensors", &err);
    ck_assert_msg(ts == NULL, "accepted: %s", header);
    ck_assert_int_eq(err.code, SL_EFORMAT);
    ck_assert_msg(strncmp(err.message, "bad.safetensors: ", 17) == 0, "message lacks the label: %s", err.message);
    ck_assert_msg(strstr(err.message, needle), "message '%s' lacks '%s'", err.message, needle);
    free(b);
}

static void refuse(const char *header, size_t datalen, const char *needle)
{
    refuse_declared(strlen(header), header, datalen, needle);
}

static char tmpdir[64];

static void make_tmpdir(void) { test_tmpdir_make(tmpdir, "st"); }
static void remove_tmpdir(void) { test_tmpdir_remove(tmpdir); }

static void assert_sets_equal(const SlTensorSet *a, const SlTensorSet *b)
{
    ck_assert_int_eq(a->count, b->count);
    for (int i = 0; i < a->count; i++) {
        const SlTensor *x = &a->items[i], *y = &b->items[i];
        ck_assert_str_eq(x->name, y->name);   /* the writer keeps set order */
        ck_assert_int_eq(x->dtype, y->dtype);
        ck_assert_int_eq(x->ndim, y->ndim);
        for (int d = 0; d < x->ndim; d++)
            ck_assert_int_eq(x->shape[d], y->shape[d]);
        ck_assert_uint_eq(x->nbytes, y->nbytes);
        ck_assert_msg(memcmp(x->data, y->data, x->nbytes) == 0, "%s: data differs", x->name);
    }
    ck_assert_int_eq(a->meta_count, b->meta_count);
    for (int i = 0; i < a->meta_count; i++) {
        const char *v = sl_tensorset_get_meta(b, a->meta_keys[i]);
        ck_assert_ptr_nonnull(v);
        ck_assert_str_eq(v, a->meta_values[i]);
    }
}

/* ---- the PyTorch reference file -------------------------------------------- */

START_TEST(test_reference_file)
{
    const char *path = shared_path("reference/reference.safetensors");
    if (!path) {
        printf("SKIP test_reference_file: ../shared/reference/reference.safetensors is absent\n");
        return;
    }
    SlError err = {0};
    SlTensorSet *ts = sl_safetensors_read(path, &err);
    ck_assert_msg(ts != NULL, "%s", err.message);
    /* README.md of the reference: 3 + 4 + 11 cache4 tensors + 2 + 6 circuits
     * + 7 grads + 7 AdamW weights = 36 (pattern and logits counted once). */
    ck_assert_int_eq(ts->count, 36);
    const SlTensor *tok = sl_tensorset_find(ts, "tokens");
    ck_assert_ptr_nonnull(tok);
    ck_assert_int_eq(tok->dtype, SL_DT_I64);
    ck_assert_int_eq(tok->ndim, 2);
    ck_assert_int_eq(tok->shape[0], 256);
    ck_assert_int_eq(tok->shape[1], 22);
    /* Each row is BOS(50), ten values, MID(51), the values sorted. */
    const int64_t *t = tok->data;
    for (int b = 0; b < 256; b++) {
        const int64_t *row = t + b * 22;
        ck_assert_int_eq(row[0], 50);
        ck_assert_int_eq(row[11], 51);
        int count_in[50] = {0}, count_out[50] = {0};
        for (int i = 0; i < 10; i++) {
            ck_assert(row[1 + i] >= 0 && row[1 + i] < 50);
            ck_assert(row[12 + i] >= 0 && row[12 + i] < 50);
            count_in[row[1 + i]]++;
            count_out[row[12 + i]]++;
            if (i)
                ck_assert(row[12 + i - 1] <= row[12 + i]);
        }
        ck_assert_mem_eq(count_in, count_out, sizeof count_in);
    }
    const SlTensor *lg = sl_tensorset_find(ts, "logits");
    ck_assert_ptr_nonnull(lg);
    ck_assert_int_eq(lg->dtype, SL_DT_F32);
    ck_assert_int_eq(lg->ndim, 3);
    ck_assert_int_eq(lg->shape[0], 256);
    ck_assert_int_eq(lg->shape[1], 22);
    ck_assert_int_eq(lg->shape[2], 50);
    /* Attention rows are probability distributions over keys <= query. */
    const SlTensor *pat = sl_tensorset_find(ts, "pattern");
    ck_assert_ptr_nonnull(pat);
    ck_assert_int_eq(pat->ndim, 4);
    ck_assert_int_eq(pat->shape[1], 1);
    const float *p = pat->data;
    for (int q = 0; q < 22; q++) {
        double s = 0;
        for (int k = 0; k < 22; k++) {
            if (k > q)
                ck_assert(p[q * 22 + k] == 0.0f);
            s += p[q * 22 + k];
        }
        ck_assert_double_eq_tol(s, 1.0, 1e-5);
    }
    const SlTensor *ov = sl_tensorset_find(ts, "circuit.ov_token");
    ck_assert_ptr_nonnull(ov);
    ck_assert_int_eq(ov->shape[0], 52);
    ck_assert_int_eq(ov->shape[1], 50);
    ck_assert_ptr_nonnull(sl_tensorset_find(ts, "cache4.attn.hook_q"));
    ck_assert_int_eq(sl_tensorset_find(ts, "cache4.attn.hook_q")->ndim, 4);
    ck_assert_ptr_nonnull(sl_tensorset_find(ts, "grad.blocks.0.attn.W_Q"));
    ck_assert_ptr_nonnull(sl_tensorset_find(ts, "adamw_step1.unembed.W_U"));
    ck_assert_int_eq(sl_tensorset_find(ts, "greedy")->dtype, SL_DT_I64);
    const char *keys[] = {"source", "batch", "teacher_forced_accuracy", "loss", "greedy_list_accuracy", "torch_version"};
    ck_assert_int_eq(ts->meta_count, 6);
    for (size_t i = 0; i < 6; i++)
        ck_assert_msg(sl_tensorset_get_meta(ts, keys[i]), "metadata %s missing", keys[i]);
    ck_assert_str_eq(sl_tensorset_get_meta(ts, "teacher_forced_accuracy"), "0.9945312738418579");
    sl_tensorset_free(ts);
}
END_TEST

/* ---- writer round trips ---------------------------------------------------- */

START_TEST(test_round_trip_small)
{
    make_tmpdir();
    char path[128];
    snprintf(path, sizeof path, "%s/small.safetensors", tmpdir);
    SlError err = {0};
    SlTensorSet *ts = sl_tensorset_new();
    const float a[6] = {1.5f, -2.0f, 0.0f, 3.25f, -0.0f, 1e-30f};
    const int64_t sa[2] = {2, 3};
    ck_assert_ptr_nonnull(sl_tensorset_add(ts, "a.weight", SL_DT_F32, 2, sa, a, &err));
    const uint8_t m[4] = {1, 0, 0, 1};
    const int64_t sm[2] = {2, 2};
    ck_assert_ptr_nonnull(sl_tensorset_add(ts, "mask", SL_DT_BOOL, 2, sm, m, &err));
    const float s = -100000.0f;
    ck_assert_ptr_nonnull(sl_tensorset_add(ts, "scalar", SL_DT_F32, 0, NULL, &s, &err));
    const int64_t se[2] = {0, 7};
    ck_assert_ptr_nonnull(sl_tensorset_add(ts, "empty", SL_DT_I64, 2, se, NULL, &err));
    ck_assert_int_eq(sl_tensorset_set_meta(ts, "note", "caf\xc3\xa9 \"quoted\"", &err), 0);
    ck_assert_int_eq(sl_safetensors_write(path, ts, &err), 0);
    /* The header is padded to a multiple of 8 and data starts aligned. */
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    FILE *f = fopen(path, "rb");
    uint8_t hdr[8];
    ck_assert_uint_eq(fread(hdr, 1, 8, f), 8);
    fclose(f);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | hdr[i];
    ck_assert_uint_eq(n % 8, 0);
    ck_assert_uint_eq((uint64_t)st.st_size, 8 + n + 24 + 4 + 4 + 0);
    SlTensorSet *back = sl_safetensors_read(path, &err);
    ck_assert_msg(back != NULL, "%s", err.message);
    assert_sets_equal(ts, back);
    sl_tensorset_free(back);
    sl_tensorset_free(ts);
    remove_tmpdir();
}
END_TEST

static const SlDType all_dtypes[] = {SL_DT_F32, SL_DT_F64, SL_DT_F16, SL_DT_BF16, SL_DT_I64, SL_DT_I32, SL_DT_I16, SL_DT_I8, SL_DT_U8, SL_DT_BOOL};

/* Random sets of tensors (random dtypes, 0-4 dimensions, empty ones too),
 * written and read back identical. */
START_TEST(test_round_trip_random_sets)
{
    make_tmpdir();
    char path[128];
    snprintf(path, sizeof path, "%s/random.safetensors", tmpdir);
    SlRng r;
    sl_rng_seed(&r, 1234);
    for (int iter = 0; iter < 40; iter++) {
        SlError err = {0};
        SlTensorSet *ts = sl_tensorset_new();
        int count = (int)sl_rng_below(&r, 12);
        for (int i = 0; i < count; i++) {
            char name[32];
            snprintf(name, sizeof name, "t%d.%u", i, (unsigned)sl_rng_below(&r, 1000));
            SlDType dt = all_dtypes[sl_rng_below(&r, 10)];
            int nd = (int)sl_rng_below(&r, 5);
            int64_t shape[4];
            for (int d = 0; d < nd; d++)
                shape[d] = sl_rng_below(&r, 8) == 0 ? 0 : 1 + sl_rng_below(&r, 6);
            SlTensor *t = sl_tensorset_add(ts, name, dt, nd, shape, NULL, &err);
            ck_assert_msg(t != NULL, "%s", err.message);
            for (size_t k = 0; k < t->nbytes; k++)
                ((uint8_t *)t->data)[k] = (uint8_t)sl_rng_next(&r);
        }
        if (sl_rng_below(&r, 2))
            ck_assert_int_eq(sl_tensorset_set_meta(ts, "seed", "1234", &err), 0);
        ck_assert_int_eq(sl_safetensors_write(path, ts, &err), 0);
        SlTensorSet *back = sl_safetensors_read(path, &err);
        ck_assert_msg(back != NULL, "iteration %d: %s", iter, err.message);
        assert_sets_equal(ts, back);
        sl_tensorset_free(back);
        sl_tensorset_free(ts);
    }
    remove_tmpdir();
}
END_TEST

/* Random valid models (random shapes within small limits, random weights,
 * biases or not) saved as safetensors and loaded back identical. */
START_TEST(test_round_trip_random_models)
{
    make_tmpdir();
    char path[128];
    snprintf(path, sizeof path, "%s/model.safetensors", tmpdir);
    SlRng r;
    sl_rng_seed(&r, 99);
    for (int iter = 0; iter < 12; iter++) {
        SlError err = {0};
        SlModelConfig c = {
            .n_layers = 1 + (int)sl_rng_below(&r, 3), .n_heads = 1 + (int)sl_rng_below(&r, 3),
            .d_model = 1 + (int)sl_rng_below(&r, 24), .d_head = 1 + (int)sl_rng_below(&r, 12),
            .d_vocab_out = 1 + (int)sl_rng_below(&r, 30), .list_len = 1 + (int)sl_rng_below(&r, 8),
        };
        sl_model_config_derive(&c);
        SlModel *m = sl_model_new(&c, &err);
        ck_assert_msg(m != NULL, "%s", err.message);
        for (size_t k = 0; k < m->num_params; k++)
            m->param_memory[k] = sl_rng_normal(&r);
        ck_assert_int_eq(sl_model_prepare(m, &err), 0);
        ck_assert_int_eq(sl_ckpt_save(m, path, &err), 0);
        SlModel *back = sl_ckpt_load(path, &err);
        ck_assert_msg(back != NULL, "iteration %d: %s", iter, err.message);
        ck_assert_mem_eq(&back->cfg, &m->cfg, sizeof c);
        ck_assert_uint_eq(back->num_params, m->num_params);
        ck_assert_mem_eq(back->param_memory, m->param_memory, m->num_params * sizeof(float));
        ck_assert_str_eq(back->format, "safetensors");
        ck_assert_str_eq(sl_tensorset_get_meta(back->meta, "format"), "sortlens");
        sl_model_free(back);
        sl_model_free(m);
    }
    remove_tmpdir();
}
END_TEST

/* PyTorch reads what we write: a script under tests/data parses the file as
 * the format specifies and loads each tensor with torch.frombuffer, printing
 * every value as JSON; we compare with what we wrote. */
START_TEST(test_pytorch_reads_ours)
{
    const char *script = testdata_path("torch_safetensors.py");
    if (access("/usr/bin/python3", X_OK) != 0 || !script ||
        system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) {
        printf("SKIP test_pytorch_reads_ours: /usr/bin/python3 with torch is absent\n");
        return;
    }
    make_tmpdir();
    char path[128], out[160], cmd[512];
    snprintf(path, sizeof path, "%s/ours.safetensors", tmpdir);
    snprintf(out, sizeof out, "%s/dump.json", tmpdir);
    SlError err = {0};
    SlTensorSet *ts = sl_tensorset_new();
    const int64_t s23[2] = {2, 3}, s4[1] = {4};
    const float f[6] = {0.5f, -1.25f, 3.0f, 1e-7f, -0.0f, 123456.0f};
    const int64_t i64[4] = {-3, 0, 1LL << 40, 7};
    const uint8_t bl[4] = {1, 0, 1, 1};
    const double d[4] = {1.0 / 3.0, -2.5, 1e100, 0.0};
    ck_assert_ptr_nonnull(sl_tensorset_add(ts, "blocks.0.attn.W_Q", SL_DT_F32, 2, s23, f, &err));
    ck_assert_ptr_nonnull(sl_tensorset_add(ts, "ints", SL_DT_I64, 1, s4, i64, &err));
    ck_assert_ptr_nonnull(sl_tensorset_add(ts, "flags", SL_DT_BOOL, 1, s4, bl, &err));
    ck_assert_ptr_nonnull(sl_tensorset_add(ts, "doubles", SL_DT_F64, 1, s4, d, &err));
    ck_assert_ptr_nonnull(sl_tensorset_add(ts, "scalar", SL_DT_F32, 0, NULL, f + 1, &err));
    ck_assert_int_eq(sl_tensorset_set_meta(ts, "d_model", "128", &err), 0);
    ck_assert_int_eq(sl_safetensors_write(path, ts, &err), 0);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' dump '%s' > '%s'", script, path, out);
    ck_assert_int_eq(system(cmd), 0);
    json_error_t jerr;
    json_t *root = json_load_file(out, 0, &jerr);
    ck_assert_msg(root != NULL, "%s", jerr.text);
    json_t *meta = json_object_get(root, "__metadata__");
    ck_assert_str_eq(json_string_value(json_object_get(meta, "d_model")), "128");
    json_t *tensors = json_object_get(root, "tensors");
    ck_assert_int_eq(json_object_size(tensors), 5);
    json_t *q = json_object_get(tensors, "blocks.0.attn.W_Q");
    ck_assert_str_eq(json_string_value(json_object_get(q, "dtype")), "torch.float32");
    ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(q, "shape"), 1)), 3);
    for (int i = 0; i < 6; i++)
        ck_assert(json_real_value(json_array_get(json_object_get(q, "values"), i)) == (double)f[i]);
    json_t *iv = json_object_get(json_object_get(tensors, "ints"), "values");
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(json_integer_value(json_array_get(iv, i)), i64[i]);
    json_t *bv = json_object_get(json_object_get(tensors, "flags"), "values");
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(json_is_true(json_array_get(bv, i)), bl[i]);
    json_t *dv = json_object_get(json_object_get(tensors, "doubles"), "values");
    for (int i = 0; i < 4; i++)
        ck_assert(json_number_value(json_array_get(dv, i)) == d[i]);
    json_t *sc = json_object_get(tensors, "scalar");
    ck_assert_int_eq(json_array_size(json_object_get(sc, "shape")), 0);
    ck_assert(json_real_value(json_array_get(json_object_get(sc, "values"), 0)) == (double)f[1]);
    json_decref(root);
    sl_tensorset_free(ts);
    remove_tmpdir();
}
END_TEST

/* ---- malformed files (docs/SECURITY.md, safetensors) ----------------------- */

START_TEST(test_too_short)
{
    SlError err = {0};
    const uint8_t b[7] = {1, 0, 0, 0, 0, 0, 0};
    ck_assert_ptr_null(sl_safetensors_parse(b, 7, "bad.safetensors", &err));
    ck_assert_ptr_nonnull(strstr(err.message, "7 bytes is too short"));
    ck_assert_ptr_null(sl_safetensors_parse(NULL, 0, "bad.safetensors", &err));
    ck_assert_ptr_nonnull(strstr(err.message, "0 bytes is too short"));
}
END_TEST

START_TEST(test_header_too_long)
{
    refuse_declared(100000001ull, "{}", 0, "header length 100000001 exceeds the limit of 100000000");
    /* A length that would wrap when 8 is added is refused before adding. */
    refuse_declared(UINT64_MAX, "{}", 0, "exceeds the limit");
    refuse_declared(UINT64_MAX - 7, "{}", 0, "exceeds the limit");
}
END_TEST

START_TEST(test_header_past_end)
{
    refuse_declared(3, "{}", 0, "header length 3 runs past the end of the file (10 bytes)");
    refuse_declared(99999999ull, "{}", 0, "runs past the end");
}
END_TEST

START_TEST(test_header_not_json)
{
    refuse("{\"a\":", 0, "header is not valid UTF-8 JSON");
    refuse("hello!!!", 0, "header is not valid UTF-8 JSON");
    refuse("", 0, "header is not valid UTF-8 JSON");
    /* invalid UTF-8 inside a name, and a bare NUL */
    refuse("{\"\xff\xfe\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4, "not valid UTF-8 JSON");
    refuse("{\"a\xc3\":{}}", 0, "not valid UTF-8 JSON");
    size_t len;
    uint8_t *b = build(4, "{}  ", NULL, 0, &len);
    b[10] = 0;
    SlError err = {0};
    ck_assert_ptr_null(sl_safetensors_parse(b, len, "bad.safetensors", &err));
    ck_assert_ptr_nonnull(strstr(err.message, "not valid UTF-8 JSON"));
    free(b);
    /* an escaped NUL in a name is refused too (C strings could not hold it) */
    refuse("{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4, "not valid UTF-8 JSON");
}
END_TEST

START_TEST(test_header_not_object)
{
    refuse("[1,2,3]", 0, "header is not a JSON object");
    refuse("{\"a\":[]}", 0, "tensor a: its description is not a JSON object");
}
END_TEST

START_TEST(test_duplicate_keys)
{
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
           "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "duplicate");
    refuse("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "duplicate");
}
END_TEST

START_TEST(test_unknown_dtype)
{
    refuse("{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "tensor a: unknown dtype \"F8_E4M3\"");
    refuse("{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype \"f32\"");
    refuse("{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "dtype is not a string");
}
END_TEST

START_TEST(test_bad_offsets)
{
    const char *msg = "tensor a: data_offsets is not two non-negative integers";
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, msg);
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 4, msg);
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4, msg);
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0.0,4.0]}}", 4, msg);
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[\"0\",\"4\"]}}", 4, msg);
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{\"0\":4}}}", 4, msg);
    /* beyond int64: jansson refuses the number itself */
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,99999999999999999999]}}", 4, "not valid UTF-8 JSON");
}
END_TEST

START_TEST(test_end_before_begin)
{
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8, "tensor a: data_offsets end 4 is before begin 8");
}
END_TEST

START_TEST(test_hole)
{
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12,
           "tensor b: a hole of 4 bytes before it (begins at 8, the previous data ends at 4)");
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "tensor a: a hole of 4 bytes");
}
END_TEST

START_TEST(test_overlap)
{
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
           "tensor b: overlaps the previous tensor (begins at 4, the previous data ends at 8)");
    /* two tensors on the same bytes */
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
           "\"b\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "overlaps the previous tensor");
}
END_TEST

START_TEST(test_shape_overflow)
{
    /* 2^32 * 2^32 = 2^64 wraps to zero in 64 bits, matching offsets [0,0] */
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", 0,
           "tensor a: the shape's element count overflows");
    /* 2^62 elements of 4 bytes wraps to zero bytes */
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,0]}}", 0, "overflows");
    refuse("{\"a\":{\"dtype\":\"U8\",\"shape\":[9223372036854775807,2],\"data_offsets\":[0,0]}}", 0, "overflows");
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0, "tensor a: shape[0] is not a non-negative integer");
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,0]}}", 0, "shape[0] is not a non-negative integer");
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
           "tensor a: 9 dimensions; at most 8");
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":7,\"data_offsets\":[0,4]}}", 4, "shape is not an array");
}
END_TEST

START_TEST(test_size_mismatch)
{
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
           "tensor a: data_offsets span 8 bytes; shape and dtype F32 need 12");
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,0]}}", 0, "span 0 bytes; shape and dtype F32 need 8");
}
END_TEST

START_TEST(test_trailing_and_truncated)
{
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 5, "1 trailing bytes after the last tensor");
    refuse("{}", 3, "3 trailing bytes after the last tensor");
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 5, "the tensors need 8 bytes of data; the file holds 5");
}
END_TEST

START_TEST(test_bad_metadata)
{
    refuse("{\"__metadata__\":{\"n\":5}}", 0, "__metadata__ value of \"n\" is not a string");
    refuse("{\"__metadata__\":{\"a\":\"x\",\"n\":null}}", 0, "__metadata__ value of \"n\" is not a string");
    refuse("{\"__metadata__\":{\"n\":{\"x\":\"y\"}}}", 0, "is not a string");
    refuse("{\"__metadata__\":[\"a\"]}", 0, "__metadata__ is not a JSON object");
    refuse("{\"__metadata__\":{\"a\":\"x\",\"a\":\"y\"}}", 0, "duplicate");
}
END_TEST

START_TEST(test_bad_fields)
{
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "tensor a: missing \"data_offsets\"");
    refuse("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor a: missing \"dtype\"");
    refuse("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":1}}", 4, "tensor a: unknown field \"extra\"");
}
END_TEST

/* Valid but unusual files that must load: padding, empty tensors,
 * metadata only, null metadata. */
START_TEST(test_valid_edge_cases)
{
    const char *ok[] = {
        "{}",
        "{}      ",
        "{\"__metadata__\":null}",
        "{\"__metadata__\":{}}",
        /* one header, split over two lines */
        ("{\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]},"
         "\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}"),
    };
    size_t datalen[] = {0, 0, 0, 0, 2};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        size_t len;
        uint8_t *b = build(strlen(ok[i]), ok[i], NULL, datalen[i], &len);
        SlError err = {0};
        SlTensorSet *ts = sl_safetensors_parse(b, len, "ok.safetensors", &err);
        ck_assert_msg(ts != NULL, "%s: %s", ok[i], err.message);
        sl_tensorset_free(ts);
        free(b);
    }
}
END_TEST

START_TEST(test_missing_file)
{
    SlError err = {0};
    ck_assert_ptr_null(sl_safetensors_read("/nonexistent/x.safetensors", &err));
    ck_assert_int_eq(err.code, SL_EIO);
    ck_assert_ptr_nonnull(strstr(err.message, "/nonexistent/x.safetensors: cannot open"));
    ck_assert_ptr_null(sl_safetensors_read("/tmp", &err));
    ck_assert_ptr_nonnull(strstr(err.message, "not a regular file"));
}
END_TEST

/* Every prefix of a valid file is refused cleanly (truncated anywhere). */
START_TEST(test_every_truncation)
{
    const char *h = "{\"__metadata__\":{\"k\":\"v\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
    size_t len;
    uint8_t *b = build(strlen(h), h, NULL, 16, &len);
    SlError err = {0};
    SlTensorSet *ts = sl_safetensors_parse(b, len, "x", &err);
    ck_assert_msg(ts != NULL, "%s", err.message);
    sl_tensorset_free(ts);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *p = malloc(cut ? cut : 1);
        memcpy(p, b, cut);
        ck_assert_ptr_null(sl_safetensors_parse(p, cut, "x", &err));
        ck_assert_int_eq(err.code, SL_EFORMAT);
        free(p);
    }
    free(b);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("reader");
    tcase_add_test(tc, test_reference_file);
    tcase_add_test(tc, test_valid_edge_cases);
    tcase_add_test(tc, test_missing_file);
    suite_add_tcase(s, tc);
    tc = tcase_create("writer");
    tcase_add_test(tc, test_round_trip_small);
    tcase_add_test(tc, test_round_trip_random_sets);
    tcase_add_test(tc, test_round_trip_random_models);
    tcase_add_test(tc, test_pytorch_reads_ours);
    suite_add_tcase(s, tc);
    tc = tcase_create("malformed");
    tcase_add_test(tc, test_too_short);
    tcase_add_test(tc, test_header_too_long);
    tcase_add_test(tc, test_header_past_end);
    tcase_add_test(tc, test_header_not_json);
    tcase_add_test(tc, test_header_not_object);
    tcase_add_test(tc, test_duplicate_keys);
    tcase_add_test(tc, test_unknown_dtype);
    tcase_add_test(tc, test_bad_offsets);
    tcase_add_test(tc, test_end_before_begin);
    tcase_add_test(tc, test_hole);
    tcase_add_test(tc, test_overlap);
    tcase_add_test(tc, test_shape_overflow);
    tcase_add_test(tc, test_size_mismatch);
    tcase_add_test(tc, test_trailing_and_truncated);
    tcase_add_test(tc, test_bad_metadata);
    tcase_add_test(tc, test_bad_fields);
    tcase_add_test(tc, test_every_truncation);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(suite()); }
