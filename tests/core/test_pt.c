/* test_pt.c: the torch.save reader (ZIP + allowlisted pickle): the seed
 * checkpoint and the project's 2-layer checkpoint against PyTorch, views and
 * dtypes written by PyTorch (pickle protocols 2, 4 and 5), and one test per
 * malformed case of docs/SECURITY.md
 * (ZIP and pickle), each asserting the message; malformed pickles are one
 * line each of a table, written in the small assembler pk(). */
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

static void make_tmpdir(void) { test_tmpdir_make(tmpdir, "pt"); }
static void remove_tmpdir(void) { test_tmpdir_remove(tmpdir); }

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
    SlTensorSet *ts = sl_pt_read(seed, &err);
    ck_assert_msg(ts != NULL, "%s", err.message);
    ck_assert_int_eq(ts->count, 14);
    const SlTensor *mask = sl_tensorset_find(ts, "blocks.0.attn.mask");
    ck_assert_ptr_nonnull(mask);
    ck_assert_int_eq(mask->dtype, SL_DT_BOOL);
    for (int q = 0; q < 22; q++)
        for (int k = 0; k < 22; k++)
            ck_assert_int_eq(((uint8_t *)mask->data)[q * 22 + k], k <= q);
    const SlTensor *ig = sl_tensorset_find(ts, "blocks.0.attn.IGNORE");
    ck_assert_ptr_nonnull(ig);
    ck_assert_int_eq(ig->ndim, 0);
    ck_assert(*(float *)ig->data == -100000.0f);
    sl_tensorset_free(ts);

    SlModel *m = sl_ckpt_load(seed, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    ck_assert_str_eq(m->format, "pytorch");
    const SlModelConfig *c = &m->cfg;
    ck_assert_int_eq(c->n_layers, 1);
    ck_assert_int_eq(c->n_heads, 1);
    ck_assert_int_eq(c->d_model, 128);
    ck_assert_int_eq(c->d_head, 128);
    ck_assert_int_eq(c->n_ctx, 22);
    ck_assert_int_eq(c->d_vocab, 52);
    ck_assert_int_eq(c->d_vocab_out, 50);
    ck_assert_int_eq(c->list_len, 10);
    ck_assert(m->has_bias[SL_P_B_Q] && m->has_bias[SL_P_B_U]);

    SlTensorSet *r = sl_safetensors_read(ref, &err);
    ck_assert_msg(r != NULL, "%s", err.message);
    const SlTensor *ov = sl_tensorset_find(r, "circuit.ov_token");
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
    sl_tensorset_free(r);
    sl_model_free(m);
}
END_TEST

/* The 2-layer, 2-head checkpoint made by tests/data/make_multi.py. */
START_TEST(test_multi_checkpoint)
{
    const char *path = testdata_path("multi_2l2h.pt");
    ck_assert_ptr_nonnull(path);
    SlError err = {0};
    SlModel *m = sl_ckpt_load(path, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    const SlModelConfig *c = &m->cfg;
    ck_assert_int_eq(c->n_layers, 2);
    ck_assert_int_eq(c->n_heads, 2);
    ck_assert_int_eq(c->d_model, 32);
    ck_assert_int_eq(c->d_head, 16);
    ck_assert_int_eq(c->n_ctx, 12);
    ck_assert_int_eq(c->d_vocab, 22);
    ck_assert_int_eq(c->d_vocab_out, 20);
    ck_assert_int_eq(c->list_len, 5);
    for (int i = 0; i < SL_NUM_PARAM_TENSORS; i++)
        if (sl_model_param_is_bias(i)) {
            ck_assert(m->has_bias[i]);
            ck_assert(max_abs(sl_model_params_get(&m->params, i), m->param_sizes[i]) > 0.01);
        }
    /* Independent check of the values: the expected file's first
     * hook_embed row is W_E[BOS] as PyTorch computed it. */
    const char *exp = testdata_path("multi_2l2h_expected.safetensors");
    ck_assert_ptr_nonnull(exp);
    SlTensorSet *e = sl_safetensors_read(exp, &err);
    ck_assert_msg(e != NULL, "%s", err.message);
    const SlTensor *emb = sl_tensorset_find(e, "cache4.hook_embed");
    ck_assert_ptr_nonnull(emb);
    ck_assert_mem_eq(emb->data, m->params.W_E + 20 * 32, 32 * sizeof(float));
    const SlTensor *pos = sl_tensorset_find(e, "cache4.hook_pos_embed");
    ck_assert_mem_eq(pos->data, m->params.W_pos, 12 * 32 * sizeof(float));
    sl_tensorset_free(e);
    sl_model_free(m);
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
    SlTensorSet *ts = sl_ckpt_read_tensors(pt, &format, &err);
    ck_assert_msg(ts != NULL, "%s", err.message);
    ck_assert_str_eq(format, "pytorch");
    ck_assert_int_eq(sl_safetensors_write(out, ts, &err), 0);
    sl_tensorset_free(ts);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' compare '%s' '%s'", script, out, pt);
    ck_assert_int_eq(system(cmd), 0);
    remove_tmpdir();
}

START_TEST(test_convert_matches_pytorch)
{
    if (!test_have_torch()) {
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


/* ---- building pickles and ZIPs byte by byte ------------------------------------ */

typedef struct Buf { uint8_t *d; size_t n, cap; } Buf;

static void b_put(Buf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->d = realloc(b->d, b->cap);
        ck_assert_ptr_nonnull(b->d);
    }
    memcpy(b->d + b->n, p, n);
    b->n += n;
}
static void op(Buf *b, uint8_t o) { b_put(b, &o, 1); }
static void op_u32(Buf *b, uint8_t o, uint32_t v)
{
    uint8_t x[5] = {o, (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    b_put(b, x, 5);
}
static void p_proto(Buf *b) { b_put(b, "\x80\x02", 2); }
static void p_global(Buf *b, const char *mod, const char *name)
{
    op(b, 'c');
    b_put(b, mod, strlen(mod));
    op(b, '\n');
    b_put(b, name, strlen(name));
    op(b, '\n');
}
static void p_strn(Buf *b, const char *s, size_t n)
{
    op_u32(b, 'X', (uint32_t)n);
    b_put(b, s, n);
}
static void p_str(Buf *b, const char *s) { p_strn(b, s, strlen(s)); }
static void p_int(Buf *b, int64_t v)
{
    if (v >= 0 && v < 256) {
        uint8_t x[2] = {'K', (uint8_t)v};
        b_put(b, x, 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        op_u32(b, 'J', (uint32_t)(int32_t)v);
    } else {
        uint8_t x[10] = {0x8a, 8};
        for (int i = 0; i < 8; i++)
            x[2 + i] = (uint8_t)((uint64_t)v >> (8 * i));
        b_put(b, x, 10);
    }
}
static void p_ints(Buf *b, int n, const int64_t *v)
{
    op(b, '(');
    for (int i = 0; i < n; i++)
        p_int(b, v[i]);
    op(b, 't');
}
/* The persistent id torch.save writes for a storage. */
static void p_persid(Buf *b, const char *cls, const char *key, int64_t numel)
{
    op(b, '(');
    p_str(b, "storage");
    p_global(b, "torch", cls);
    p_str(b, key);
    p_str(b, "cpu");
    p_int(b, numel);
    op(b, 't');
    op(b, 'Q');
}
static void p_empty_od(Buf *b)
{
    p_global(b, "collections", "OrderedDict");
    op(b, ')');
    op(b, 'R');
}
/* _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()) */
static void p_tensor(Buf *b, const char *cls, const char *key, int64_t numel, int64_t offset, int nd, const int64_t *size,
                     int nst, const int64_t *stride)
{
    p_global(b, "torch._utils", "_rebuild_tensor_v2");
    op(b, '(');
    p_persid(b, cls, key, numel);
    p_int(b, offset);
    p_ints(b, nd, size);
    p_ints(b, nst, stride);
    op(b, 0x89);
    p_empty_od(b);
    op(b, 't');
    op(b, 'R');
}
/* PROTO, OrderedDict(), MARK: then entries, then p_end. */
static void p_begin(Buf *b)
{
    p_proto(b);
    p_empty_od(b);
    op(b, '(');
}
static void p_end(Buf *b)
{
    op(b, 'u');
    op(b, '.');
}
/* {"w": F32 [3,4] over storage "0" of 12 floats} with a custom view. */
static void p_one(Buf *b, int64_t numel, int64_t offset, int nd, const int64_t *size, const int64_t *stride)
{
    p_begin(b);
    p_str(b, "w");
    p_tensor(b, "FloatStorage", "0", numel, offset, nd, size, nd, stride);
    p_end(b);
}
static void p_valid(Buf *b) { p_one(b, 12, 0, 2, (const int64_t[]){3, 4}, (const int64_t[]){4, 1}); }

/* A tiny pickle assembler, so that a malformed pickle reads as one line of
 * a table.  prog is words separated by spaces:
 *   P2, P4       PROTO 2, PROTO 4            'text'      BINUNICODE
 *   s'text'      SHORT_BINUNICODE            L'text'     BINUNICODE8
 *   #N           the integer N (BININT1, BININT or LONG1, as p_int)
 *   G:mod:name   GLOBAL                      SG:mod:name the two as short strings, then STACK_GLOBAL
 *   OD           OrderedDict()               TENSOR      _rebuild_tensor_v2 of storage "0" (12 floats) as (12,)
 *   BEGIN, END   p_begin and p_end           MEMO        MEMOIZE (0x94)
 *   PERSID       p_persid of storage "0" (FloatStorage, 12 floats)
 *   T:CLS:KEY:NUMEL:OFFSET:SIZES:STRIDES   p_tensor: _rebuild_tensor_v2 of
 *                storage KEY (torch.CLS, NUMEL elements) at OFFSET, SIZES and
 *                STRIDES comma-separated (their counts may differ)
 *   VALID        p_valid: a whole valid pickle
 *   op:HH        the opcode byte 0xHH        x:HEX..     raw bytes
 *   u8:N, u32:N, u64:N   N little-endian in 1, 4 or 8 bytes
 *   any other single character: that opcode ('(' MARK, 't' TUPLE, 'R' REDUCE, '.' STOP, ...)
 * Quoted text may hold spaces; it ends at a quote followed by a space or
 * the end of prog. */
static void pk(Buf *b, const char *prog)
{
    const char *p = prog;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        const char *q = p[0] == '\'' ? p : (p[1] == '\'' && (p[0] == 's' || p[0] == 'L')) ? p + 1 : NULL;
        if (q) {   /* a string: up to the quote that ends the word */
            const char *end = q + 1;
            while (*end && !(end[0] == '\'' && (end[1] == ' ' || end[1] == '\0')))
                end++;
            ck_assert_msg(*end, "pk: unterminated string in '%s'", prog);
            size_t n = (size_t)(end - q - 1);
            if (p[0] == 's') {
                uint8_t h[2] = {0x8c, (uint8_t)n};
                ck_assert(n < 256);
                b_put(b, h, 2);
            } else if (p[0] == 'L') {
                uint8_t h[9] = {0x8d};
                for (int i = 0; i < 8; i++)
                    h[1 + i] = (uint8_t)((uint64_t)n >> (8 * i));
                b_put(b, h, 9);
            } else {
                op_u32(b, 'X', (uint32_t)n);
            }
            b_put(b, q + 1, n);
            p = end + 1;
            continue;
        }
        size_t len = strcspn(p, " ");
        char w[256];
        ck_assert_msg(len < sizeof w, "pk: word too long in '%s'", prog);
        memcpy(w, p, len);
        w[len] = '\0';
        p += len;
        char *colon = strchr(w, ':');
        if (len == 1) {
            op(b, (uint8_t)w[0]);
        } else if (w[0] == 'P' && len == 2) {
            uint8_t x[2] = {0x80, (uint8_t)(w[1] - '0')};
            b_put(b, x, 2);
        } else if (w[0] == '#') {
            p_int(b, strtoll(w + 1, NULL, 10));
        } else if (strcmp(w, "OD") == 0) {
            p_empty_od(b);
        } else if (strcmp(w, "TENSOR") == 0) {
            p_tensor(b, "FloatStorage", "0", 12, 0, 1, (const int64_t[]){12}, 1, (const int64_t[]){1});
        } else if (strcmp(w, "BEGIN") == 0) {
            p_begin(b);
        } else if (strcmp(w, "END") == 0) {
            p_end(b);
        } else if (strcmp(w, "PERSID") == 0) {
            p_persid(b, "FloatStorage", "0", 12);
        } else if (strcmp(w, "VALID") == 0) {
            p_valid(b);
        } else if (colon && strncmp(w, "T:", 2) == 0) {
            char *save = NULL, *f[6];
            int nf = 0;
            for (char *t = strtok_r(w + 2, ":", &save); t && nf < 6; t = strtok_r(NULL, ":", &save))
                f[nf++] = t;
            ck_assert_msg(nf == 6, "pk: T needs CLS:KEY:NUMEL:OFFSET:SIZES:STRIDES in '%s'", prog);
            int64_t dims[2][16];
            int nd[2] = {0, 0};
            for (int k = 0; k < 2; k++)
                for (char *t = strtok_r(f[4 + k], ",", &save); t && nd[k] < 16; t = strtok_r(NULL, ",", &save))
                    dims[k][nd[k]++] = strtoll(t, NULL, 10);
            p_tensor(b, f[0], f[1], strtoll(f[2], NULL, 10), strtoll(f[3], NULL, 10), nd[0], dims[0], nd[1], dims[1]);
        } else if (strcmp(w, "MEMO") == 0) {
            op(b, 0x94);
        } else if (colon && (strncmp(w, "G:", 2) == 0 || strncmp(w, "SG:", 3) == 0)) {
            char *mod = colon + 1, *name = strchr(mod, ':');
            ck_assert_msg(name, "pk: '%s' needs G:module:name", w);
            *name++ = '\0';
            if (w[0] == 'G') {
                p_global(b, mod, name);
            } else {
                uint8_t h[2] = {0x8c, (uint8_t)strlen(mod)};
                b_put(b, h, 2);
                b_put(b, mod, strlen(mod));
                h[1] = (uint8_t)strlen(name);
                b_put(b, h, 2);
                b_put(b, name, strlen(name));
                op(b, 0x93);
            }
        } else if (colon && strncmp(w, "op:", 3) == 0) {
            op(b, (uint8_t)strtoul(w + 3, NULL, 16));
        } else if (colon && strncmp(w, "x:", 2) == 0) {
            for (const char *h = w + 2; h[0] && h[1]; h += 2) {
                char byte[3] = {h[0], h[1], 0};
                op(b, (uint8_t)strtoul(byte, NULL, 16));
            }
        } else if (colon && w[0] == 'u') {
            int bytes = atoi(w + 1) / 8;
            uint64_t v = strtoull(colon + 1, NULL, 10);
            ck_assert_msg(bytes == 1 || bytes == 4 || bytes == 8, "pk: '%s'", w);
            for (int i = 0; i < bytes; i++)
                op(b, (uint8_t)(v >> (8 * i)));
        } else {
            ck_abort_msg("pk: unknown word '%s' in '%s'", w, prog);
        }
    }
}

/* One malformed pickle and a part of the message that refuses it. */
typedef struct Refusal { const char *prog, *needle; } Refusal;

typedef struct ZEntry { const char *name; const void *data; size_t len; bool deflate; } ZEntry;

/* A ZIP in memory, written by libzip. */
static uint8_t *make_zip(const ZEntry *e, int n, size_t *out_len)
{
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    ck_assert_ptr_nonnull(src);
    zip_t *za = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
    ck_assert_ptr_nonnull(za);
    zip_source_keep(src);
    for (int i = 0; i < n; i++) {
        zip_source_t *s = zip_source_buffer(za, e[i].data, e[i].len, 0);
        ck_assert_ptr_nonnull(s);
        zip_int64_t idx = zip_file_add(za, e[i].name, s, 0);
        ck_assert_msg(idx >= 0, "%s", zip_strerror(za));
        ck_assert_int_eq(zip_set_file_compression(za, (zip_uint64_t)idx, e[i].deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0), 0);
    }
    ck_assert_int_eq(zip_close(za), 0);
    zip_stat_t st;
    ck_assert_int_eq(zip_source_open(src), 0);
    ck_assert_int_eq(zip_source_stat(src, &st), 0);
    uint8_t *buf = malloc(st.size ? st.size : 1);
    ck_assert_int_eq(zip_source_read(src, buf, st.size), (zip_int64_t)st.size);
    zip_source_close(src);
    zip_source_free(src);
    zip_error_fini(&ze);
    *out_len = st.size;
    return buf;
}

static const float storage12[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};

/* m/data.pkl = the pickle, m/data/0 = 12 floats, m/version. */
static SlTensorSet *load_pickle(const Buf *pkl, SlError *err)
{
    ZEntry e[] = {{"m/data.pkl", pkl->d, pkl->n, false}, {"m/data/0", storage12, sizeof storage12, false},
                  {"m/version", "3\n", 2, false}};
    size_t len;
    uint8_t *zip = make_zip(e, 3, &len);
    SlTensorSet *ts = sl_pt_parse(zip, len, "bad.pt", err);
    free(zip);
    return ts;
}

static void refuse_pickle(Buf *pkl, const char *needle)
{
    SlError err = {0};
    SlTensorSet *ts = load_pickle(pkl, &err);
    ck_assert_msg(ts == NULL, "accepted; expected '%s'", needle);
    ck_assert_int_eq(err.code, SL_EFORMAT);
    ck_assert_msg(strncmp(err.message, "bad.pt: ", 8) == 0, "message lacks the label: %s", err.message);
    ck_assert_msg(strstr(err.message, needle), "message '%s' lacks '%s'", err.message, needle);
    free(pkl->d);
    memset(pkl, 0, sizeof *pkl);
}

static void refuse_table(const Refusal *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        Buf b = {0};
        pk(&b, cases[i].prog);
        refuse_pickle(&b, cases[i].needle);
    }
}

static void refuse_zip(const ZEntry *e, int n, const char *needle)
{
    size_t len;
    uint8_t *zip = make_zip(e, n, &len);
    SlError err = {0};
    SlTensorSet *ts = sl_pt_parse(zip, len, "bad.pt", &err);
    ck_assert_msg(ts == NULL, "accepted; expected '%s'", needle);
    ck_assert_int_eq(err.code, SL_EFORMAT);
    ck_assert_msg(strstr(err.message, needle), "message '%s' lacks '%s'", err.message, needle);
    free(zip);
}

static void refuse_bytes(const uint8_t *buf, size_t len, const char *needle)
{
    SlError err = {0};
    SlTensorSet *ts = sl_pt_parse(buf, len, "bad.pt", &err);
    ck_assert_msg(ts == NULL, "accepted; expected '%s'", needle);
    ck_assert_int_eq(err.code, SL_EFORMAT);
    ck_assert_msg(strstr(err.message, needle), "message '%s' lacks '%s'", err.message, needle);
}

/* ---- positive cases built by hand -------------------------------------------- */

START_TEST(test_hand_built_valid)
{
    Buf b = {0};
    p_valid(&b);
    SlError err = {0};
    SlTensorSet *ts = load_pickle(&b, &err);
    ck_assert_msg(ts != NULL, "%s", err.message);
    ck_assert_int_eq(ts->count, 1);
    ck_assert_mem_eq(ts->items[0].data, storage12, sizeof storage12);
    sl_tensorset_free(ts);
    free(b.d);

    /* A transposed view with an offset: w[i][j] = storage[1 + 4j + i]
     * for size (4, 2), stride (1, 4): 1,5, 2,6, 3,7, 4,8. */
    memset(&b, 0, sizeof b);
    p_one(&b, 12, 1, 2, (const int64_t[]){4, 2}, (const int64_t[]){1, 4});
    ts = load_pickle(&b, &err);
    ck_assert_msg(ts != NULL, "%s", err.message);
    const float want[8] = {1, 5, 2, 6, 3, 7, 4, 8};
    ck_assert_mem_eq(ts->items[0].data, want, sizeof want);
    sl_tensorset_free(ts);
    free(b.d);

    /* Memo indices are a map: LONG_BINPUT 0xfffffff0 and LONG_BINGET it. */
    memset(&b, 0, sizeof b);
    p_begin(&b);
    p_str(&b, "w");
    op_u32(&b, 'r', 0xfffffff0u);
    p_tensor(&b, "FloatStorage", "0", 12, 0, 1, (const int64_t[]){12}, 1, (const int64_t[]){1});
    op_u32(&b, 'j', 0xfffffff0u);   /* "w" again as the next key */
    p_tensor(&b, "FloatStorage", "0", 12, 11, 0, NULL, 0, NULL);
    p_end(&b);
    ts = load_pickle(&b, &err);
    ck_assert_ptr_null(ts);   /* the same name twice */
    ck_assert_ptr_nonnull(strstr(err.message, "tensor w appears twice in the state dict"));
    free(b.d);
    memset(&b, 0, sizeof b);
    p_begin(&b);
    p_str(&b, "w");
    op_u32(&b, 'r', 0xfffffff0u);
    p_tensor(&b, "FloatStorage", "0", 12, 0, 1, (const int64_t[]){12}, 1, (const int64_t[]){1});
    p_str(&b, "last");
    /* a scalar view of the last element, sharing the storage */
    p_tensor(&b, "FloatStorage", "0", 12, 11, 0, NULL, 0, NULL);
    p_end(&b);
    ts = load_pickle(&b, &err);
    ck_assert_msg(ts != NULL, "%s", err.message);
    ck_assert_int_eq(ts->count, 2);
    ck_assert(*(float *)sl_tensorset_find(ts, "last")->data == 11.0f);
    sl_tensorset_free(ts);
    free(b.d);
}
END_TEST

/* PyTorch's own views and dtypes (tests/data/make_pt_cases.py) equal the
 * contiguous copies PyTorch wrote beside them; the deflated copy too, and
 * the same state dict saved with pickle_protocol=4 and 5. */
START_TEST(test_pytorch_views_and_dtypes)
{
    const char *exp = testdata_path("pt/views_expected.safetensors");
    ck_assert_ptr_nonnull(exp);
    SlError err = {0};
    SlTensorSet *e = sl_safetensors_read(exp, &err);
    ck_assert_msg(e != NULL, "%s", err.message);
    ck_assert_int_eq(e->count, 16);
    const char *files[] = {"pt/views.pt", "pt/deflated.pt", "pt/views_proto4.pt", "pt/views_proto5.pt"};
    for (int f = 0; f < 4; f++) {
        SlTensorSet *ts = sl_pt_read(testdata_path(files[f]), &err);
        ck_assert_msg(ts != NULL, "%s", err.message);
        ck_assert_int_eq(ts->count, e->count);
        for (int i = 0; i < e->count; i++) {
            const SlTensor *a = &e->items[i], *b = &ts->items[i];
            ck_assert_str_eq(a->name, b->name);   /* state dict order kept */
            ck_assert_int_eq(a->dtype, b->dtype);
            ck_assert_int_eq(a->ndim, b->ndim);
            for (int d = 0; d < a->ndim; d++)
                ck_assert_int_eq(a->shape[d], b->shape[d]);
            ck_assert_uint_eq(a->nbytes, b->nbytes);
            ck_assert_msg(memcmp(a->data, b->data, a->nbytes) == 0, "%s: %s differs", files[f], a->name);
        }
        sl_tensorset_free(ts);
    }
    /* spot checks written by hand: transposed arange(6).reshape(2,3).t() */
    const float tr[6] = {0, 3, 1, 4, 2, 5};
    ck_assert_mem_eq(sl_tensorset_find(e, "transposed")->data, tr, sizeof tr);
    const float st[4] = {1, 3, 9, 11};
    ck_assert_mem_eq(sl_tensorset_find(e, "strided")->data, st, sizeof st);
    sl_tensorset_free(e);
}
END_TEST

/* state_dict(keep_vars=True): parameters pickled through _rebuild_parameter
 * (one with requires_grad=False) beside a buffer, equal to the values
 * PyTorch wrote beside them; checked by hand too. */
START_TEST(test_pytorch_keep_vars)
{
    SlError err = {0};
    SlTensorSet *e = sl_safetensors_read(testdata_path("pt/parameters_expected.safetensors"), &err);
    ck_assert_msg(e != NULL, "%s", err.message);
    /* protocol 2 (the default) and 4 (pickle_protocol=4) */
    const char *files[] = {"pt/parameters.pt", "pt/parameters_proto4.pt"};
    for (int f = 0; f < 2; f++) {
        SlTensorSet *ts = sl_pt_read(testdata_path(files[f]), &err);
        ck_assert_msg(ts != NULL, "%s", err.message);
        ck_assert_int_eq(ts->count, 3);
        ck_assert_int_eq(e->count, 3);
        for (int i = 0; i < e->count; i++) {
            const SlTensor *a = &e->items[i], *b = &ts->items[i];
            ck_assert_str_eq(a->name, b->name);
            ck_assert_int_eq(a->ndim, b->ndim);
            ck_assert_uint_eq(a->nbytes, b->nbytes);
            ck_assert_msg(memcmp(a->data, b->data, a->nbytes) == 0, "%s: %s differs", files[f], a->name);
        }
        const float w[6] = {0, 0.25f, 0.5f, 0.75f, 1, 1.25f}, bias[2] = {-1.5f, 2.25f};
        ck_assert_mem_eq(sl_tensorset_find(ts, "W")->data, w, sizeof w);
        ck_assert_mem_eq(sl_tensorset_find(ts, "b")->data, bias, sizeof bias);
        sl_tensorset_free(ts);
    }
    sl_tensorset_free(e);
}
END_TEST

/* ---- ZIP level ------------------------------------------------------------------ */

START_TEST(test_not_a_zip)
{
    refuse_bytes((const uint8_t *)"hello, world", 12, "bad.pt: not a ZIP archive");
    refuse_bytes(NULL, 0, "bad.pt: not a ZIP archive (the file is empty)");
    uint8_t st[24] = {8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '};
    refuse_bytes(st, 16, "not a ZIP archive");
    SlError err = {0};
    ck_assert_ptr_null(sl_pt_read(testdata_path("pt/legacy.pt"), &err));
    ck_assert_ptr_nonnull(strstr(err.message, "legacy.pt: a PyTorch checkpoint in the legacy format (before 1.6, not a ZIP)"));
    ck_assert_ptr_null(sl_ckpt_load(testdata_path("pt/legacy.pt"), &err));
    ck_assert_ptr_nonnull(strstr(err.message, "in the legacy format"));
}
END_TEST

/* Every prefix of a valid checkpoint is refused with a message, and so is
 * every single-byte corruption of its central directory. */
START_TEST(test_truncated_anywhere)
{
    Buf b = {0};
    p_valid(&b);
    ZEntry e[] = {{"m/data.pkl", b.d, b.n, false}, {"m/data/0", storage12, sizeof storage12, false},
                  {"m/version", "3\n", 2, false}};
    size_t len;
    uint8_t *zip = make_zip(e, 3, &len);
    SlError err = {0};
    SlTensorSet *ok = sl_pt_parse(zip, len, "ok.pt", &err);
    ck_assert_msg(ok != NULL, "%s", err.message);
    sl_tensorset_free(ok);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *p = malloc(cut ? cut : 1);
        memcpy(p, zip, cut);
        memset(&err, 0, sizeof err);
        SlTensorSet *ts = sl_pt_parse(p, cut, "cut.pt", &err);
        ck_assert_msg(ts == NULL, "a prefix of %zu bytes was accepted", cut);
        ck_assert_int_eq(err.code, SL_EFORMAT);
        ck_assert_msg(strncmp(err.message, "cut.pt: ", 8) == 0, "%s", err.message);
        free(p);
    }
    /* a flipped byte anywhere: no crash; a message whenever it is refused */
    for (size_t i = 0; i < len; i++) {
        uint8_t *p = malloc(len);
        memcpy(p, zip, len);
        p[i] ^= 0x5a;
        memset(&err, 0, sizeof err);
        SlTensorSet *ts = sl_pt_parse(p, len, "flip.pt", &err);
        if (!ts)
            ck_assert_msg(strncmp(err.message, "flip.pt: ", 9) == 0 && err.code != 0, "byte %zu: '%s'", i, err.message);
        sl_tensorset_free(ts);
        free(p);
    }
    free(zip);
    free(b.d);
}
END_TEST

START_TEST(test_zip_layout)
{
    Buf b = {0};
    p_valid(&b);
    refuse_zip((ZEntry[]){{"data.pkl", b.d, b.n, false}, {"data/0", storage12, 48, false}}, 2,
               "bad.pt: entry 'data.pkl' is not inside a top-level folder");
    refuse_zip((ZEntry[]){{"m/data.pkl", b.d, b.n, false}, {"n/data/0", storage12, 48, false}}, 2,
               "entries sit in more than one top-level folder ('m/' and 'n/data/0')");
    refuse_zip((ZEntry[]){{"m/data/0", storage12, 48, false}, {"m/version", "3\n", 2, false}}, 2,
               "bad.pt: no m/data.pkl in the archive");
    refuse_zip((ZEntry[]){{"m/data.pkl", b.d, b.n, false}, {"m/version", "3\n", 2, false}}, 2,
               "bad.pt: entry m/data/0 is missing");
    refuse_zip((ZEntry[]){{"m/data.pkl", b.d, b.n, false}, {"m/data/0", storage12, 40, false}}, 2,
               "bad.pt: entry m/data/0 holds 40 bytes; the pickle declares 48");
    refuse_zip((ZEntry[]){{"m/data.pkl", b.d, b.n, false}, {"m/data/0", storage12, 48, false},
                          {"m/constants.pkl", "\x80\x02).", 4, false}}, 3,
               "bad.pt: a TorchScript archive (it holds constants.pkl)");
    refuse_zip((ZEntry[]){{"m/data.pkl", b.d, b.n, false}, {"m/data/0", storage12, 48, false},
                          {"m/byteorder", "big", 3, false}}, 3,
               "m/byteorder says 'big'; only little-endian checkpoints are supported");
    /* an archive with no entries at all: just the end-of-central-directory record */
    uint8_t eocd[22] = {'P', 'K', 5, 6};
    refuse_bytes(eocd, sizeof eocd, "bad.pt: the ZIP archive is empty");
    SlError err = {0};
    ck_assert_ptr_null(sl_pt_read(testdata_path("pt/torchscript.pt"), &err));
    ck_assert_ptr_nonnull(strstr(err.message, "torchscript.pt: a TorchScript archive (it holds constants.pkl)"));
    /* byteorder little is fine; so is an archive folder of any name */
    size_t len;
    uint8_t *zip = make_zip((ZEntry[]){{"any name at all/data.pkl", b.d, b.n, false},
                                       {"any name at all/data/0", storage12, 48, false},
                                       {"any name at all/byteorder", "little", 6, false}}, 3, &len);
    SlTensorSet *ts = sl_pt_parse(zip, len, "ok.pt", &err);
    ck_assert_msg(ts != NULL, "%s", err.message);
    sl_tensorset_free(ts);
    free(zip);
    free(b.d);
}
END_TEST

/* Sets the uncompressed size of entry `name` in its local header and in the
 * central directory (a hand-made lie). */
static void patch_usize(uint8_t *zip, size_t len, const char *name, uint32_t size)
{
    size_t nlen = strlen(name);
    int patched = 0;
    for (size_t i = 0; i + 46 + nlen <= len; i++) {
        if (memcmp(zip + i, "PK\3\4", 4) == 0 && zip[i + 26] == nlen && memcmp(zip + i + 30, name, nlen) == 0) {
            memcpy(zip + i + 22, (uint8_t[]){(uint8_t)size, (uint8_t)(size >> 8), (uint8_t)(size >> 16), (uint8_t)(size >> 24)}, 4);
            patched++;
        }
        if (memcmp(zip + i, "PK\1\2", 4) == 0 && zip[i + 28] == nlen && memcmp(zip + i + 46, name, nlen) == 0) {
            memcpy(zip + i + 24, (uint8_t[]){(uint8_t)size, (uint8_t)(size >> 8), (uint8_t)(size >> 16), (uint8_t)(size >> 24)}, 4);
            patched++;
        }
    }
    ck_assert_int_eq(patched, 2);
}

START_TEST(test_compressed_entries)
{
    SlError err = {0};
    /* deflated entries are fine when their size is what the pickle says */
    Buf b = {0};
    p_valid(&b);
    size_t len;
    uint8_t *zip = make_zip((ZEntry[]){{"m/data.pkl", b.d, b.n, true}, {"m/data/0", storage12, 48, true}}, 2, &len);
    SlTensorSet *ts = sl_pt_parse(zip, len, "ok.pt", &err);
    ck_assert_msg(ts != NULL, "%s", err.message);
    ck_assert_mem_eq(ts->items[0].data, storage12, 48);
    sl_tensorset_free(ts);
    free(zip);
    free(b.d);

    /* 64 KB of zeros deflated, where the pickle declares 4 floats */
    uint8_t *zeros = calloc(65536, 1);
    memset(&b, 0, sizeof b);
    p_one(&b, 4, 0, 1, (const int64_t[]){4}, (const int64_t[]){1});
    refuse_zip((ZEntry[]){{"m/data.pkl", b.d, b.n, false}, {"m/data/0", zeros, 65536, true}}, 2,
               "entry m/data/0 holds 65536 bytes; the pickle declares 16");
    /* the same with its header patched to say 16 bytes: the stream is longer */
    zip = make_zip((ZEntry[]){{"m/data.pkl", b.d, b.n, false}, {"m/data/0", zeros, 65536, true}}, 2, &len);
    patch_usize(zip, len, "m/data/0", 16);
    ts = sl_pt_parse(zip, len, "bad.pt", &err);
    ck_assert_ptr_null(ts);
    ck_assert_msg(strstr(err.message, "bad.pt: entry m/data/0") &&
                  (strstr(err.message, "longer than its header says") || strstr(err.message, "corrupt")), "%s", err.message);
    free(zip);
    free(b.d);

    /* a header claiming far more than deflate could expand to: refused
     * before anything is allocated for it */
    memset(&b, 0, sizeof b);
    p_one(&b, 1 << 24, 0, 1, (const int64_t[]){4}, (const int64_t[]){1});
    zip = make_zip((ZEntry[]){{"m/data.pkl", b.d, b.n, false}, {"m/data/0", zeros, 4096, true}}, 2, &len);
    patch_usize(zip, len, "m/data/0", 1u << 26);
    ts = sl_pt_parse(zip, len, "bad.pt", &err);
    ck_assert_ptr_null(ts);
    ck_assert_msg(strstr(err.message, "a ") && strstr(err.message, "storages declare 67108864 bytes"), "%s", err.message);
    free(zip);
    free(b.d);

    /* the storage fits in the file's bound, but not in deflate's ratio */
    memset(&b, 0, sizeof b);
    p_one(&b, 65536, 0, 1, (const int64_t[]){4}, (const int64_t[]){1});
    uint8_t *pad = malloc(300000);
    for (size_t i = 0; i < 300000; i++)
        pad[i] = (uint8_t)(i * 2654435761u >> 13);   /* incompressible filler */
    zip = make_zip((ZEntry[]){{"m/data.pkl", b.d, b.n, false}, {"m/data/0", zeros, 4096, true},
                              {"m/pad", pad, 300000, false}}, 3, &len);
    patch_usize(zip, len, "m/data/0", 262144);
    ts = sl_pt_parse(zip, len, "bad.pt", &err);
    ck_assert_ptr_null(ts);
    ck_assert_msg(strstr(err.message, "expands") && strstr(err.message, "to 262144, more than deflate can"), "%s",
                  err.message);
    free(zip);
    free(pad);
    free(b.d);
    free(zeros);
}
END_TEST

START_TEST(test_encrypted_entry)
{
    if (!zip_encryption_method_supported(ZIP_EM_AES_256, 1)) {
        printf("SKIP test_encrypted_entry: this libzip cannot write AES entries\n");
        return;
    }
    Buf b = {0};
    p_valid(&b);
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_t *za = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
    zip_source_keep(src);
    zip_file_add(za, "m/data.pkl", zip_source_buffer(za, b.d, b.n, 0), 0);
    zip_int64_t idx = zip_file_add(za, "m/data/0", zip_source_buffer(za, storage12, 48, 0), 0);
    ck_assert_int_eq(zip_file_set_encryption(za, (zip_uint64_t)idx, ZIP_EM_AES_256, "secret"), 0);
    ck_assert_int_eq(zip_close(za), 0);
    zip_stat_t st;
    zip_source_open(src);
    zip_source_stat(src, &st);
    uint8_t *buf = malloc(st.size);
    zip_source_read(src, buf, st.size);
    zip_source_close(src);
    zip_source_free(src);
    refuse_bytes(buf, st.size, "bad.pt: entry m/data/0 is encrypted");
    free(buf);
    free(b.d);
}
END_TEST

START_TEST(test_duplicate_entries)
{
    Buf b = {0};
    p_valid(&b);
    size_t len;
    uint8_t *zip = make_zip((ZEntry[]){{"m/data.pkl", b.d, b.n, false}, {"m/data/0", storage12, 48, false},
                                       {"m/data/1", storage12, 48, false}}, 3, &len);
    /* rename m/data/1 to m/data/0 in both headers */
    for (size_t i = 0; i + 8 <= len; i++)
        if (memcmp(zip + i, "m/data/1", 8) == 0)
            zip[i + 7] = '0';
    SlError err = {0};
    SlTensorSet *ts = sl_pt_parse(zip, len, "bad.pt", &err);
    ck_assert_ptr_null(ts);
    ck_assert_msg(strstr(err.message, "bad.pt: ") && (strstr(err.message, "entry 'm/data/0' appears twice") ||
                                                       strstr(err.message, "damaged")), "%s", err.message);
    free(zip);
    free(b.d);
}
END_TEST

/* ---- pickle level -------------------------------------------------------------- */

START_TEST(test_opcodes_outside_the_list)
{
    /* (STACK_GLOBAL 0x93, SHORT_BINUNICODE 0x8c and FRAME 0x95 were here; protocol 4
     * is accepted now, and NEWOBJ_EX, BYTEARRAY8 and NEXT_BUFFER take their places) */
    const uint8_t ops[] = {0x92, 'i', 'o', 'N', ']', 'a', 0x96, 'I', 'V', 0x97, 'R' + 100, 'p', 'g', 0x81, 'l', 'd'};
    for (size_t i = 0; i < sizeof ops; i++) {
        Buf b = {0};
        p_proto(&b);
        op(&b, ops[i]);
        op(&b, '.');
        char msg[64];
        snprintf(msg, sizeof msg, "byte 2: opcode 0x%02x is not one a state dict uses", ops[i]);
        refuse_pickle(&b, msg);
    }
    Buf b = {0};
    b_put(&b, "\x80\x09", 2);
    refuse_pickle(&b, "pickle protocol 9 is not supported");
}
END_TEST

START_TEST(test_globals_outside_the_allowlist)
{
    const char *g[][2] = {{"posix", "system"}, {"builtins", "eval"}, {"builtins", "getattr"}, {"os", "system"},
                          {"torch._utils", "_rebuild_parameter_with_state"}, {"torch", "Tensor"}, {"torch.nn.modules.linear", "Linear"},
                          {"collections", "OrderedDict "}, {"torch", "FloatStorage.__init__"}, {"__builtin__", "apply"}};
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++) {
        Buf b = {0};
        p_proto(&b);
        p_global(&b, g[i][0], g[i][1]);
        op(&b, '.');
        char msg[160];
        snprintf(msg, sizeof msg, "GLOBAL %s.%s is not allowed", g[i][0], g[i][1]);
        refuse_pickle(&b, msg);
    }
    Buf b = {0};
    p_proto(&b);
    b_put(&b, "cposix\nsystem", 13);
    refuse_pickle(&b, "GLOBAL runs past the end of the pickle");
    /* the same as the beginning of a real attack: posix.system('...') via REDUCE */
    p_proto(&b);
    p_global(&b, "posix", "system");
    p_str(&b, "touch /tmp/pwned");
    op(&b, 0x85);
    op(&b, 'R');
    op(&b, '.');
    refuse_pickle(&b, "GLOBAL posix.system is not allowed");
}
END_TEST

START_TEST(test_reduce)
{
    static const Refusal cases[] = {
        {"P2 G:torch:FloatStorage ) R .", "REDUCE on something that is not an allowed function"},
        {"P2 'x' ) R .", "REDUCE on something that is not an allowed function"},
        {"P2 G:collections:OrderedDict #1 op:85 R .", "OrderedDict takes no arguments here, got 1"},
        {"P2 G:collections:OrderedDict } R .", "REDUCE arguments are not a tuple"},
        /* _rebuild_parameter: wrong arity, not a tensor, requires_grad not
         * a bool, hooks not an empty dict */
        {"P2 G:torch._utils:_rebuild_parameter ( TENSOR op:88 t R .", "_rebuild_parameter takes 3 arguments, got 2"},
        {"P2 G:torch._utils:_rebuild_parameter ( 'not a tensor' op:88 OD t R .",
         "_rebuild_parameter: the first argument is not a tensor"},
        {"P2 G:torch._utils:_rebuild_parameter ( TENSOR #1 OD t R .", "_rebuild_parameter: requires_grad is not a bool"},
        {"P2 G:torch._utils:_rebuild_parameter ( TENSOR op:88 'hooks' t R .",
         "_rebuild_parameter: backward hooks are not an empty OrderedDict"},
        /* _rebuild_tensor_v2 with 5 arguments; requires_grad not a bool;
         * storage not a storage; hooks not an empty dict */
        {"BEGIN 'w' G:torch._utils:_rebuild_tensor_v2 ( PERSID #0 ( #12 t ( #1 t op:89 t R END",
         "_rebuild_tensor_v2 takes 6 or 7 arguments, got 5"},
        {"BEGIN 'w' G:torch._utils:_rebuild_tensor_v2 ( PERSID #0 ( #12 t ( #1 t #0 OD t R END",
         "_rebuild_tensor_v2: requires_grad is not a bool"},
        {"BEGIN 'w' G:torch._utils:_rebuild_tensor_v2 ( '0' #0 ( #12 t ( #1 t op:89 OD t R END",
         "_rebuild_tensor_v2: the first argument is not a storage"},
        {"BEGIN 'w' G:torch._utils:_rebuild_tensor_v2 ( PERSID #0 ( #12 t ( #1 t op:89 } 'hook' #1 s t R END",
         "backward hooks are not an empty OrderedDict"},
    };
    refuse_table(cases, sizeof cases / sizeof cases[0]);
}
END_TEST

START_TEST(test_stack_and_marks)
{
    static const Refusal cases[] = {
        {"P2 R", "byte 2: REDUCE needs 2 values on the stack; it is empty"},
        {"P2 } 'k' s", "SETITEM needs 3 values on the stack; too few are there"},
        {"P2 ) op:86", "TUPLEn needs 2 values"},
        {"P2 Q", "BINPERSID needs 1 value on the stack; it is empty"},
        {"P2 b", "BUILD needs 2 values"},
        {"P2 ) ) ( R", "REDUCE needs 2 values on the stack; it is empty"},   /* a MARK hides what lies below it */
        {"P2 ) t", "TUPLE without a MARK"},
        {"P2 } 'k' 'v' u", "SETITEMS without a MARK"},
        {"P2 ( 'k' 'v' u", "SETITEMS with no dict below its MARK"},
    };
    refuse_table(cases, sizeof cases / sizeof cases[0]);
    /* too deep, too many */
    Buf b = {0};
    p_proto(&b);
    for (int i = 0; i < 5000; i++)
        op(&b, '(');
    refuse_pickle(&b, "more than 4096 nested MARKs");
    p_proto(&b);
    for (int i = 0; i < 70000; i++)
        op(&b, ')');
    refuse_pickle(&b, "the pickle stack grows past 65536 values");
}
END_TEST

START_TEST(test_memo)
{
    static const Refusal cases[] = {
        {"P2 x:6807", "byte 2: memo slot 7 read before it was set"},
        {"P2 ) x:7101 op:6a u32:4294967295", "memo slot 4294967295 read before it was set"},
        {"P2 x:7101", "memo put with an empty stack"},
        {"P2 ) ( op:72 u32:5", "memo put with an empty stack"},
    };
    refuse_table(cases, sizeof cases / sizeof cases[0]);
    Buf b = {0};
    /* many distinct memo slots: the map grows, no array sized by index */
    p_proto(&b);
    op(&b, ')');
    for (uint32_t i = 0; i < 3000; i++)
        op_u32(&b, 'r', i * 1000003u);
    op_u32(&b, 'j', 2999u * 1000003u);
    op(&b, 0x86);
    op(&b, '.');
    refuse_pickle(&b, "does not hold a state dict");
    /* 2^18 indices that agree in their low 12 bits (a chain for a naive
     * hash, quadratic to insert): finishes at once with the keyed hash */
    p_proto(&b);
    op(&b, ')');
    for (uint32_t i = 0; i < (1u << 18); i++)
        op_u32(&b, 'r', i << 12);
    op_u32(&b, 'j', 12345u << 12);
    op(&b, 0x86);
    op(&b, '.');
    refuse_pickle(&b, "does not hold a state dict");
    /* more memo entries than any state dict needs */
    p_proto(&b);
    op(&b, ')');
    for (uint32_t i = 0; i <= (1u << 20); i++)
        op_u32(&b, 'r', i);
    op(&b, '.');
    refuse_pickle(&b, "more than 1048576 memo entries");
}
END_TEST

START_TEST(test_lengths_past_the_end)
{
    static const Refusal cases[] = {
        {"P2 op:58 u32:4294967295 x:616263", "a string of 4294967295 bytes runs past the end of the pickle"},
        {"P2 op:58 u32:100 x:616263", "a string of 100 bytes runs past the end"},
        {"P2 x:4a0102", "BININT runs past the end"},
        {"P2 x:4d01", "BININT2 runs past the end"},
        {"P2 K", "BININT1 runs past the end"},
        {"P2 x:8a040102", "LONG1 runs past the end"},
        {"P2 x:8a09010203040506070809", "LONG1 of 9 bytes does not fit in 64 bits"},
        {"P2 x:474009", "BINFLOAT runs past the end"},
        {"P2 q", "BINPUT runs past the end"},
        {"P2 x:6a01", "LONG_BINGET runs past the end"},
        {"x:80", "PROTO runs past the end"},
    };
    refuse_table(cases, sizeof cases / sizeof cases[0]);
    Buf b = {0};
    p_proto(&b);
    op_u32(&b, 'X', (1u << 20) + 1);
    for (int i = 0; i < (1 << 20) + 1; i++)
        op(&b, 'a');
    refuse_pickle(&b, "a string of 1048577 bytes; names longer than 1048576 bytes are refused");
}
END_TEST

START_TEST(test_invalid_utf8)
{
    const char *bad[] = {"\xff", "w\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe0\x80\xaf"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Buf b = {0};
        p_begin(&b);
        p_str(&b, bad[i]);
        p_tensor(&b, "FloatStorage", "0", 12, 0, 1, (const int64_t[]){12}, 1, (const int64_t[]){1});
        p_end(&b);
        refuse_pickle(&b, "a string is not valid UTF-8 (or holds a NUL)");
    }
    Buf b = {0};
    p_begin(&b);
    p_strn(&b, "a\0b", 3);
    p_tensor(&b, "FloatStorage", "0", 12, 0, 1, (const int64_t[]){12}, 1, (const int64_t[]){1});
    p_end(&b);
    refuse_pickle(&b, "not valid UTF-8 (or holds a NUL)");
    /* valid multi-byte names load */
    p_begin(&b);
    p_str(&b, "caf\xc3\xa9.\xf0\x9f\x98\x80");
    p_tensor(&b, "FloatStorage", "0", 12, 0, 1, (const int64_t[]){12}, 1, (const int64_t[]){1});
    p_end(&b);
    SlError err = {0};
    SlTensorSet *ts = load_pickle(&b, &err);
    ck_assert_msg(ts != NULL, "%s", err.message);
    ck_assert_str_eq(ts->items[0].name, "caf\xc3\xa9.\xf0\x9f\x98\x80");
    sl_tensorset_free(ts);
    free(b.d);
}
END_TEST

START_TEST(test_setitem_on_non_dict)
{
    static const Refusal cases[] = {
        {"P2 ) 'k' 'v' s", "SETITEM on something that is not a dict"},
        {"P2 ) ( 'k' 'v' u", "SETITEMS on something that is not a dict"},
        {"P2 G:torch._utils:_rebuild_tensor_v2 'k' 'v' s", "SETITEM on something that is not a dict"},
        {"P2 } ( 'k' u", "SETITEMS with an odd number of values (1)"},
        {"P2 } #3 'v' s", "a dict key is not a string"},
        {"P2 ) } b", "BUILD on something other than a dict"},
    };
    refuse_table(cases, sizeof cases / sizeof cases[0]);
}
END_TEST

START_TEST(test_stop)
{
    static const Refusal cases[] = {
        {"BEGIN 'w' TENSOR u", "the pickle ends without STOP"},
        {"", "byte 0: the pickle ends without STOP"},   /* empty */
        {"P2 .", "STOP with an empty stack"},
        {"P2 ) ) .", "STOP with 2 values on the stack; expected one"},
        {"P2 } ( .", "STOP with an open MARK"},
        {"VALID .", "1 bytes after STOP"},
    };
    refuse_table(cases, sizeof cases / sizeof cases[0]);
}
END_TEST

/* Pickle protocols 4 and 5 (torch.save(..., pickle_protocol=4)): FRAME,
 * SHORT_BINUNICODE, BINUNICODE8, BINBYTES8, MEMOIZE, STACK_GLOBAL and the
 * set opcodes, under the same allowlist as GLOBAL. */
START_TEST(test_protocol_4)
{
    /* a state dict written the protocol-4 way by hand, with a set, a
     * frozenset and a bytes value in its _metadata (inert, ignored) */
    Buf body = {0}, b = {0};
    pk(&body, "SG:collections:OrderedDict MEMO ) R MEMO ( L'w' MEMO SG:torch._utils:_rebuild_tensor_v2 MEMO "
              "( ( s'storage' SG:torch:FloatStorage s'0' s'cpu' #12 t Q #0 ( #3 #4 t ( #4 #1 t op:89 x:6800 ) R t R u "
              "} s'_metadata' op:8f ( #1 #2 op:90 s s'tags' ( #3 op:91 s s'blob' op:8e u64:2 x:0102 s b .");
    pk(&b, "P4 op:95");
    for (int i = 0; i < 8; i++)
        op(&b, (uint8_t)((uint64_t)body.n >> (8 * i)));
    b_put(&b, body.d, body.n);
    free(body.d);
    SlError err = {0};
    SlTensorSet *ts = load_pickle(&b, &err);
    ck_assert_msg(ts != NULL, "%s", err.message);
    ck_assert_int_eq(ts->count, 1);
    ck_assert_str_eq(ts->items[0].name, "w");
    ck_assert_int_eq(ts->items[0].ndim, 2);
    ck_assert_mem_eq(ts->items[0].data, storage12, sizeof storage12);
    sl_tensorset_free(ts);
    free(b.d);

    static const Refusal cases[] = {
        {"P4 SG:posix:system s'touch /tmp/pwned' op:85 R .", "STACK_GLOBAL posix.system is not allowed"},
        {"P4 SG:builtins:eval .", "STACK_GLOBAL builtins.eval is not allowed"},
        {"P4 SG:torch:Tensor .", "STACK_GLOBAL torch.Tensor is not allowed"},
        {"P4 #1 s'OrderedDict' op:93 .", "STACK_GLOBAL on something that is not two strings"},
        {"P4 s'collections' op:93", "STACK_GLOBAL needs 2 values on the stack; too few are there"},
        {"P4 op:95 u64:100 .", "a frame of 100 bytes runs past the end of the pickle"},
        {"P4 op:95 x:0100", "FRAME runs past the end"},
        {"P4 op:8c u8:5 x:6162", "a string of 5 bytes runs past the end"},
        {"P4 op:8c", "SHORT_BINUNICODE runs past the end"},
        {"P4 op:8d u64:18446744073709551615", "a string of 18446744073709551615 bytes runs past the end of the pickle"},
        {"P4 op:8d x:01", "BINUNICODE8 runs past the end"},
        {"P4 op:8e u64:9 x:01", "a bytes value of 9 bytes runs past the end"},
        {"P4 op:8e x:0102", "BINBYTES8 runs past the end"},
        {"P4 op:8c u8:1 x:ff", "a string is not valid UTF-8"},
        {"P4 } op:43 u8:1 x:41 #1 s", "a dict key is not a string"},
        {"P4 MEMO", "memo put with an empty stack"},
        {"P4 ) op:90", "ADDITEMS without a MARK"},
        {"P4 ) ( #1 op:90", "ADDITEMS on something that is not a set"},
        {"P4 ( #1 op:90", "ADDITEMS with no set below its MARK"},
        {"P4 op:91", "FROZENSET without a MARK"},
        {"P4 OD ( s'w' op:8f u .", "state dict entry w is not a tensor"},
        {"P5 OD ( s'w' ( #1 op:91 u .", "state dict entry w is not a tensor"},
    };
    refuse_table(cases, sizeof cases / sizeof cases[0]);
}
END_TEST

START_TEST(test_persistent_ids)
{
    const char *bad = "a persistent id that is not ('storage', <storage type>, key, location, numel)";
    const Refusal cases[] = {
        /* four fields */
        {"BEGIN 'w' G:torch._utils:_rebuild_tensor_v2 ( ( 'storage' G:torch:FloatStorage '0' 'cpu' t Q", bad},
        /* not "storage" */
        {"P2 ( 'module' G:torch:FloatStorage '0' 'cpu' #12 t Q", bad},
        /* a class that is not a storage type */
        {"P2 ( 'storage' G:collections:OrderedDict '0' 'cpu' #12 t Q", bad},
        /* numel not an integer */
        {"P2 ( 'storage' G:torch:FloatStorage '0' 'cpu' '12' t Q", bad},
        /* not a tuple */
        {"P2 'storage' Q", bad},
    };
    refuse_table(cases, sizeof cases / sizeof cases[0]);
}
END_TEST

START_TEST(test_storage_keys)
{
    const char *keys[] = {"abc", "01", "-1", "", "0x1", "1/../../x", "1 ", "12345678901234567890"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        Buf b = {0};
        p_begin(&b);
        p_str(&b, "w");
        p_tensor(&b, "FloatStorage", keys[i], 12, 0, 1, (const int64_t[]){12}, 1, (const int64_t[]){1});
        p_end(&b);
        char msg[96];
        snprintf(msg, sizeof msg, "storage key '%s' is not a plain decimal number", keys[i]);
        refuse_pickle(&b, msg);
    }
}
END_TEST

START_TEST(test_storage_sizes)
{
    static const Refusal cases[] = {
        {"BEGIN 'w' T:FloatStorage:0:4611686018427387904:0:12:1 END",
         "storage 0: 4611686018427387904 elements of 4 bytes is negative or overflows"},
        {"BEGIN 'w' T:FloatStorage:0:-12:0:12:1 END", "storage 0: -12 elements of 4 bytes is negative or overflows"},
        /* declares 16 floats; the entry holds 12 */
        {"BEGIN 'w' T:FloatStorage:0:16:0:12:1 END", "entry m/data/0 holds 48 bytes; the pickle declares 64"},
        {"BEGIN 'w' T:FloatStorage:0:6:0:6:1 END", "entry m/data/0 holds 48 bytes; the pickle declares 24"},
        /* one storage declared with two types */
        {"BEGIN 'a' T:FloatStorage:0:12:0:12:1 'b' T:IntStorage:0:12:0:12:1 END",
         "storage 0 is declared twice with different types or sizes"},
        /* a huge declared storage with a tiny file: refused before allocating */
        {"BEGIN 'w' T:FloatStorage:0:1099511627776:0:12:1 END", "the storages declare 4398046511104 bytes"},
    };
    refuse_table(cases, sizeof cases / sizeof cases[0]);
}
END_TEST

START_TEST(test_views)
{
    static const Refusal cases[] = {
        {"BEGIN 'w' T:FloatStorage:0:12:10:3:1 END",
         "tensor w: the view (offset 10) reaches element 12 of storage 0, which holds 12"},
        {"BEGIN 'w' T:FloatStorage:0:12:0:4,4:4,1 END", "reaches element 15 of storage 0, which holds 12"},
        {"BEGIN 'w' T:FloatStorage:0:12:0:2,2:4611686018427387904,1 END", "reaches element 4611686018427387905"},
        {"BEGIN 'w' T:FloatStorage:0:12:0:1099511627776,1099511627776:1099511627776,1 END",
         "tensor w: its size or strides overflow"},
        {"BEGIN 'w' T:FloatStorage:0:12:0:3,3:9223372036854775807,1 END", "its size or strides overflow"},
        {"BEGIN 'w' T:FloatStorage:0:12:13:0:1 END", "offset 13 is past the end of storage 0"},
        /* repeated elements (stride 0) beyond the storage's size */
        {"BEGIN 'w' T:FloatStorage:0:12:0:24:0 END",
         "a view of 24 elements over a storage of 12 (repeated elements are not supported)"},
        /* negative sizes, strides, offsets */
        {"BEGIN 'w' T:FloatStorage:0:12:0:-1:1 END", "_rebuild_tensor_v2: size[0] is not a non-negative integer"},
        {"BEGIN 'w' T:FloatStorage:0:12:0:2,2:2,-1 END", "_rebuild_tensor_v2: stride[1] is not a non-negative integer"},
        {"BEGIN 'w' T:FloatStorage:0:12:-1:2:1 END", "the storage offset is not a non-negative integer"},
        /* too many dimensions; sizes and strides disagree */
        {"BEGIN 'w' T:FloatStorage:0:12:0:1,1,1,1,1,1,1,1,1:1,1,1,1,1,1,1,1,1 END",
         "_rebuild_tensor_v2: 9 dimensions; at most 8 are supported"},
        {"BEGIN 'w' T:FloatStorage:0:12:0:3,4:1 END", "_rebuild_tensor_v2: 2 sizes but 1 strides"},
        /* sizes that are not integers */
        {"BEGIN 'w' G:torch._utils:_rebuild_tensor_v2 ( PERSID #0 ( '12' t ( #1 t op:89 OD t R END",
         "size[0] is not a non-negative integer"},
    };
    refuse_table(cases, sizeof cases / sizeof cases[0]);
}
END_TEST

START_TEST(test_state_dict_shape)
{
    static const Refusal cases[] = {
        {"P2 TENSOR .", "bad.pt: the pickle does not hold a state dict"},   /* a bare tensor, not a dict */
        {"BEGIN 'w' #5 END", "state dict entry w is not a tensor"},
        {"P2 } x:7100 'self' x:6800 s .", "state dict entry self is not a tensor"},   /* a dict that holds itself, through the memo */
    };
    refuse_table(cases, sizeof cases / sizeof cases[0]);
    /* an empty state dict is a valid (empty) set */
    Buf b = {0};
    p_begin(&b);
    p_end(&b);
    SlError err = {0};
    SlTensorSet *ts = load_pickle(&b, &err);
    ck_assert_msg(ts != NULL, "%s", err.message);
    ck_assert_int_eq(ts->count, 0);
    sl_tensorset_free(ts);
    free(b.d);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("pt");
    TCase *tc = tcase_create("checkpoints");
    tcase_add_test(tc, test_seed_checkpoint);
    tcase_add_test(tc, test_multi_checkpoint);
    tcase_add_test(tc, test_convert_matches_pytorch);
    suite_add_tcase(s, tc);
    tc = tcase_create("built");
    tcase_add_test(tc, test_hand_built_valid);
    tcase_add_test(tc, test_pytorch_views_and_dtypes);
    tcase_add_test(tc, test_pytorch_keep_vars);
    suite_add_tcase(s, tc);
    tc = tcase_create("zip");
    tcase_add_test(tc, test_not_a_zip);
    tcase_add_test(tc, test_truncated_anywhere);
    tcase_add_test(tc, test_zip_layout);
    tcase_add_test(tc, test_compressed_entries);
    tcase_add_test(tc, test_encrypted_entry);
    tcase_add_test(tc, test_duplicate_entries);
    suite_add_tcase(s, tc);
    tc = tcase_create("pickle");
    tcase_add_test(tc, test_opcodes_outside_the_list);
    tcase_add_test(tc, test_globals_outside_the_allowlist);
    tcase_add_test(tc, test_reduce);
    tcase_add_test(tc, test_stack_and_marks);
    tcase_add_test(tc, test_memo);
    tcase_add_test(tc, test_lengths_past_the_end);
    tcase_add_test(tc, test_invalid_utf8);
    tcase_add_test(tc, test_setitem_on_non_dict);
    tcase_add_test(tc, test_stop);
    tcase_add_test(tc, test_protocol_4);
    tcase_add_test(tc, test_persistent_ids);
    tcase_add_test(tc, test_storage_keys);
    tcase_add_test(tc, test_storage_sizes);
    tcase_add_test(tc, test_views);
    tcase_add_test(tc, test_state_dict_shape);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(suite()); }
