/* test_hostile.c: files built to hurt the loaders (issue 18 items 1-3,
 * issue 17 item 11), each case as docs/SECURITY.md states it:
 *   - strings from a file never reach a terminal or a text output raw
 *     (escape sequences, newlines, C1 controls), in messages and in `info`;
 *   - a FIFO, a directory, a device given as a model are refused at once,
 *     saying what they are;
 *   - a file is refused with memory bounded by its declared layout, not its
 *     size on disk (a 4 GB sparse file);
 *   - 80,000 tensors or metadata keys load or are refused with a number of
 *     name comparisons linear in their count (counted, not timed). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <zip.h>

#include "sortlens/checkpoint.h"
#include "sortlens/pt.h"
#include "sortlens/safetensors.h"
#include "sortlens/text_escape.h"
#include "test_util.h"

/* ---- counting name comparisons ----------------------------------------------
 * This definition of strcmp takes the place of the C library's for the
 * whole process (libsortlens and jansson call it through the dynamic
 * linker), so a test can count the comparisons a load makes: a linear scan
 * per name makes 80,000 tensors cost billions, a hash table a few per name. */
static unsigned long long strcmp_calls;

int strcmp(const char *a, const char *b)
{
    strcmp_calls++;
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
    while (*x && *x == *y) {
        x++;
        y++;
    }
    return (int)*x - (int)*y;
}

/* ---- helpers ----------------------------------------------------------------- */

static char tmpdir[64];

static void make_tmpdir(void) { test_tmpdir_make(tmpdir, "hostile"); }
static void remove_tmpdir(void) { test_tmpdir_remove(tmpdir); }

static char *path_in_tmp(const char *name)
{
    static char buf[4][256];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, 256, "%s/%s", tmpdir, name);
    return p;
}

static long peak_rss_kb(void)
{
    struct rusage ru;
    ck_assert_int_eq(getrusage(RUSAGE_SELF, &ru), 0);
    return ru.ru_maxrss;
}

/* ---- 1. escaping ------------------------------------------------------------- */

START_TEST(test_escape_rules)
{
    const struct { const char *in, *out; } cases[] = {
        {"plain.name_0", "plain.name_0"},
        {"caf\xc3\xa9 \xf0\x9f\x98\x80", "caf\xc3\xa9 \xf0\x9f\x98\x80"},             /* UTF-8 stays */
        {"hi\x1b]0;PWNED\a\x1b[2J", "hi\\x1b]0;PWNED\\x07\\x1b[2J"},                 /* OSC title, clear */
        {"a\nformat:      pytorch", "a\\nformat:      pytorch"},                      /* forged line */
        {"\r\t\x7f\x01", "\\r\\t\\x7f\\x01"},
        {"x\xc2\x9b" "2J", "x\\u009b2J"},                                             /* C1 CSI */
        {"\xc2\x85\xc2\x80\xc2\x9f", "\\u0085\\u0080\\u009f"},                        /* NEL and the C1 range */
        {"y\x9b" "2J", "y\\x9b2J"},                                                   /* a lone CSI byte */
        {"\xe2\x80\xae" "evil", "\\u202eevil"},                                       /* right-to-left override */
        {"\xe2\x80\xa8", "\\u2028"},                                                  /* line separator */
        {"\xc0\xaf\xed\xa0\x80", "\\xc0\\xaf\\xed\\xa0\\x80"},                        /* overlong, surrogate */
        {"back\\slash", "back\\\\slash"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[128];
        size_t n = sl_text_escape(cases[i].in, strlen(cases[i].in), out, sizeof out);
        ck_assert_str_eq(out, cases[i].out);
        ck_assert_uint_eq(n, strlen(cases[i].out));
        char *dup = sl_text_escape_dup(cases[i].in);
        ck_assert_str_eq(dup, cases[i].out);
        free(dup);
    }
    /* a short buffer never holds half an escape or half a character */
    char out[6];
    sl_text_escape("ab\x1b" "cd", 5, out, sizeof out);
    ck_assert_str_eq(out, "ab");
    sl_text_escape("abc\xc3\xa9", 5, out, 5);
    ck_assert_str_eq(out, "abc");
    /* the worst case: every byte a 4-character escape */
    char *dup = sl_text_escape_dup("\x01\x02\x03");
    ck_assert_str_eq(dup, "\\x01\\x02\\x03");
    free(dup);
}
END_TEST

/* A tensor name with a C1 CSI (U+009B) and an ESC sequence, refused by the
 * model check: the message the core builds, and what the CLI prints to
 * stderr, hold neither raw. */
START_TEST(test_error_messages_escape_names)
{
    SlTensorSet *ts = test_tiny_model_tensors();
    SlError err = {0};
    const char *name = "blocks.0.attn.\xc2\x9b" "2J\x1b[31mW_X";
    ck_assert_ptr_nonnull(sl_tensorset_add(ts, name, SL_DT_F32, 1, (const int64_t[]){1}, NULL, &err));
    SlModel *m = sl_model_from_tensors(ts, "bad.safetensors", &err);
    ck_assert_ptr_null(m);
    ck_assert_msg(!test_has_terminal_controls(err.message), "raw controls in: %s", err.message);
    ck_assert_msg(strstr(err.message, "blocks.0.attn.\\u009b2J\\x1b[31mW_X"), "message: %s", err.message);

    sl_tensorset_free(ts);
}
END_TEST

/* ---- 2. special files ---------------------------------------------------------- */

/* A FIFO with no writer, a directory and a character device: each refused
 * at once (a blocking open of the FIFO would hang until the suite's
 * timeout), saying what it is, by every reader. */
START_TEST(test_special_files)
{
    make_tmpdir();
    const char *fifo = path_in_tmp("model.fifo");
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    const struct { const char *path, *what; } cases[] = {
        {fifo, "is a FIFO"},
        {tmpdir, "is a directory"},
        {"/dev/null", "is a character device"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        SlError err = {0};
        char want[320];
        snprintf(want, sizeof want, "%s: %s", cases[i].path, cases[i].what);
        ck_assert_ptr_null(sl_ckpt_load(cases[i].path, &err));
        ck_assert_msg(strstr(err.message, want), "ckpt_load: '%s' lacks '%s'", err.message, want);
        ck_assert_msg(!strstr(err.message, "empty"), "'%s' calls it empty", err.message);
        ck_assert_ptr_null(sl_safetensors_read(cases[i].path, &err));
        ck_assert_msg(strstr(err.message, want), "safetensors_read: '%s' lacks '%s'", err.message, want);
        ck_assert_ptr_null(sl_pt_read(cases[i].path, &err));
        ck_assert_msg(strstr(err.message, want), "pt_read: '%s' lacks '%s'", err.message, want);
    }
    remove_tmpdir();
}
END_TEST

/* ---- 3. validate before reading ------------------------------------------------ */

/* A 4 GB sparse safetensors file whose small header declares 16 bytes: it
 * is refused for the bytes it does not declare without reading them, and a
 * sparse .pt (a ZIP's first bytes, then 4 GB of nothing) likewise. */
START_TEST(test_sparse_files_bounded)
{
    make_tmpdir();
    const uint64_t size = UINT64_C(4) << 30;
    const char *header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}";
    uint8_t lenbuf[8];
    for (int i = 0; i < 8; i++)
        lenbuf[i] = (uint8_t)((uint64_t)strlen(header) >> (8 * i));
    const char *st_path = path_in_tmp("sparse.safetensors");
    FILE *f = fopen(st_path, "wb");
    ck_assert_ptr_nonnull(f);
    fwrite(lenbuf, 1, 8, f);
    fputs(header, f);
    fclose(f);
    ck_assert_int_eq(truncate(st_path, (off_t)size), 0);

    const char *pt_path = path_in_tmp("sparse.pt");
    f = fopen(pt_path, "wb");
    ck_assert_ptr_nonnull(f);
    fwrite("PK\3\4", 1, 4, f);
    fclose(f);
    ck_assert_int_eq(truncate(pt_path, (off_t)size), 0);

    long before = peak_rss_kb();
    SlError err = {0};
    ck_assert_ptr_null(sl_ckpt_load(st_path, &err));
    char want[96];
    snprintf(want, sizeof want, "%" PRIu64 " trailing bytes after the last tensor", size - 8 - strlen(header) - 16);
    ck_assert_msg(strstr(err.message, want), "'%s' lacks '%s'", err.message, want);
    ck_assert_ptr_null(sl_ckpt_load(pt_path, &err));
    ck_assert_msg(strstr(err.message, "not a ZIP archive"), "%s", err.message);
    long grew = peak_rss_kb() - before;
    /* reading either file whole would take 4 GB; the header is 55 bytes */
    ck_assert_msg(grew < 64 * 1024, "peak RSS grew by %ld kB refusing a sparse file", grew);
    remove_tmpdir();
}
END_TEST

/* ---- 17.11: many names --------------------------------------------------------- */

enum { MANY = 80000 };

/* A safetensors buffer with MANY one-float tensors named t0, t1, ... */
static uint8_t *many_tensors_file(size_t *out_len)
{
    size_t cap = (size_t)MANY * 80 + 64, n = 0;
    char *h = malloc(cap);
    ck_assert_ptr_nonnull(h);
    n += (size_t)snprintf(h + n, cap - n, "{");
    for (int i = 0; i < MANY; i++)
        n += (size_t)snprintf(h + n, cap - n, "%s\"t%d\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[%d,%d]}",
                              i ? "," : "", i, 4 * i, 4 * i + 4);
    n += (size_t)snprintf(h + n, cap - n, "}");
    size_t len = 8 + n + (size_t)MANY * 4;
    uint8_t *b = calloc(1, len);
    ck_assert_ptr_nonnull(b);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(b + 8, h, n);
    free(h);
    *out_len = len;
    return b;
}

START_TEST(test_many_tensors_linear)
{
    size_t len;
    uint8_t *b = many_tensors_file(&len);
    SlError err = {0};
    strcmp_calls = 0;
    SlTensorSet *ts = sl_safetensors_parse(b, len, "many.safetensors", &err);
    ck_assert_msg(ts != NULL, "%s", err.message);
    ck_assert_int_eq(ts->count, MANY);
    ck_assert_ptr_nonnull(sl_tensorset_find(ts, "t79999"));
    ck_assert_ptr_null(sl_tensorset_find(ts, "t80000"));
    SlModel *m = sl_model_from_tensors(ts, "many.safetensors", &err);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(err.message, "missing weight"), "%s", err.message);
    unsigned long long calls = strcmp_calls;
    /* a linear scan per name: MANY^2 / 2 = 3.2e9; hashed: a few per name */
    ck_assert_msg(calls < 64ull * MANY, "%llu string comparisons for %d tensors", calls, MANY);
    fprintf(stderr, "note: %llu string comparisons to load and refuse %d tensors\n", calls, MANY);
    sl_tensorset_free(ts);
    free(b);
}
END_TEST

/* The same in a .pt: MANY empty views of one storage (1.2 MB of ZIP).
 * Sorting the names for duplicates costs n log n comparisons (17 a name
 * here), never n^2. */
static void put(uint8_t **buf, size_t *n, size_t *cap, const void *p, size_t k)
{
    if (*n + k > *cap) {
        *cap = 2 * (*n + k);
        *buf = realloc(*buf, *cap);
        ck_assert_ptr_nonnull(*buf);
    }
    memcpy(*buf + *n, p, k);
    *n += k;
}

static void put_str(uint8_t **buf, size_t *n, size_t *cap, const char *str)
{
    uint8_t h[5] = {'X', (uint8_t)strlen(str)};
    put(buf, n, cap, h, 5);
    put(buf, n, cap, str, strlen(str));
}

START_TEST(test_many_tensors_pt_linear)
{
    uint8_t *pkl = NULL;
    size_t n = 0, cap = 0;
    /* PROTO 2, OrderedDict(), BINPUT 0 (the OrderedDict global), MARK */
#define PUT_LIT(lit) put(&pkl, &n, &cap, lit, sizeof lit - 1)
    PUT_LIT("\x80\x02" "ccollections\nOrderedDict\nq\x00)R(");
    const char *tensor_head = "ctorch._utils\n_rebuild_tensor_v2\n((";
    for (int i = 0; i < MANY; i++) {
        char name[16];
        if (i && i % 1000 == 0)
            PUT_LIT("u(");   /* SETITEMS in batches of 1000, as pickle does */
        snprintf(name, sizeof name, "t%d", i);
        put_str(&pkl, &n, &cap, name);
        put(&pkl, &n, &cap, tensor_head, strlen(tensor_head));
        put_str(&pkl, &n, &cap, "storage");
        PUT_LIT("ctorch\nFloatStorage\n");
        put_str(&pkl, &n, &cap, "0");
        put_str(&pkl, &n, &cap, "cpu");
        /* numel 12; tQ; offset 0, size (0,), stride (1,), False, OrderedDict() */
        PUT_LIT("K\x0ctQK\x00K\x00\x85K\x01\x85\x89h\x00)RtR");
    }
    PUT_LIT("u.");
#undef PUT_LIT
    float storage[12] = {0};
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_t *za = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
    ck_assert_ptr_nonnull(za);
    zip_source_keep(src);
    const struct { const char *name; const void *data; size_t len; } e[] = {
        {"many/data.pkl", pkl, n}, {"many/data/0", storage, sizeof storage}, {"many/version", "3\n", 2}};
    for (int i = 0; i < 3; i++) {
        zip_int64_t idx = zip_file_add(za, e[i].name, zip_source_buffer(za, e[i].data, e[i].len, 0), 0);
        ck_assert_msg(idx >= 0, "%s", zip_strerror(za));
        zip_set_file_compression(za, (zip_uint64_t)idx, i == 0 ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
    }
    ck_assert_int_eq(zip_close(za), 0);
    zip_stat_t st;
    ck_assert_int_eq(zip_source_open(src), 0);
    ck_assert_int_eq(zip_source_stat(src, &st), 0);
    uint8_t *zip = malloc(st.size);
    ck_assert_int_eq(zip_source_read(src, zip, st.size), (zip_int64_t)st.size);
    zip_source_close(src);
    zip_source_free(src);
    zip_error_fini(&ze);
    free(pkl);

    SlError err = {0};
    strcmp_calls = 0;
    SlTensorSet *ts = sl_pt_parse(zip, st.size, "many.pt", &err);
    ck_assert_msg(ts != NULL, "%s", err.message);
    ck_assert_int_eq(ts->count, MANY);
    SlModel *m = sl_model_from_tensors(ts, "many.pt", &err);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(err.message, "missing weight"), "%s", err.message);
    ck_assert_msg(strcmp_calls < 64ull * MANY, "%llu string comparisons for %d tensors", strcmp_calls, MANY);
    fprintf(stderr, "note: %llu string comparisons to load and refuse %d tensors from a .pt of %zu bytes\n",
            strcmp_calls, MANY, (size_t)st.size);
    sl_tensorset_free(ts);
    free(zip);
}
END_TEST

/* Metadata: 80,000 keys are refused at once, under the stated cap; below
 * the cap, setting and finding keys costs a few comparisons each. */
START_TEST(test_many_metadata_keys)
{
    size_t cap = (size_t)MANY * 32 + 64, n = 0;
    char *h = malloc(cap);
    ck_assert_ptr_nonnull(h);
    n += (size_t)snprintf(h + n, cap - n, "{\"__metadata__\":{");
    for (int i = 0; i < MANY; i++)
        n += (size_t)snprintf(h + n, cap - n, "%s\"k%d\":\"v\"", i ? "," : "", i);
    n += (size_t)snprintf(h + n, cap - n, "}}");
    uint8_t *b = malloc(8 + n);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(b + 8, h, n);
    free(h);
    SlError err = {0};
    strcmp_calls = 0;
    ck_assert_ptr_null(sl_safetensors_parse(b, 8 + n, "meta.safetensors", &err));
    ck_assert_msg(strstr(err.message, "meta.safetensors: __metadata__ has 80000 entries; at most 1024 are accepted"),
                  "%s", err.message);
    ck_assert_msg(strcmp_calls < 64ull * MANY, "%llu string comparisons for %d keys", strcmp_calls, MANY);
    free(b);

    SlTensorSet *ts = sl_tensorset_new();
    char key[32];
    strcmp_calls = 0;
    for (int i = 0; i < SL_META_MAX_ENTRIES; i++) {
        snprintf(key, sizeof key, "key%d", i);
        ck_assert_int_eq(sl_tensorset_set_meta(ts, key, "v", &err), 0);
    }
    for (int i = 0; i < SL_META_MAX_ENTRIES; i++) {
        snprintf(key, sizeof key, "key%d", i);
        ck_assert_str_eq(sl_tensorset_get_meta(ts, key), "v");
    }
    ck_assert_msg(strcmp_calls < 8ull * SL_META_MAX_ENTRIES, "%llu comparisons", strcmp_calls);
    ck_assert_int_eq(sl_tensorset_set_meta(ts, "one more", "v", &err), SL_EFORMAT);
    ck_assert_str_eq(err.message, "more than 1024 metadata entries (no model needs that many)");
    /* replacing a key is not adding one */
    ck_assert_int_eq(sl_tensorset_set_meta(ts, "key7", "w", &err), 0);
    ck_assert_str_eq(sl_tensorset_get_meta(ts, "key7"), "w");
    sl_tensorset_free(ts);
    /* the byte cap */
    ts = sl_tensorset_new();
    char *big = malloc(SL_META_MAX_BYTES + 1);
    memset(big, 'x', SL_META_MAX_BYTES);
    big[SL_META_MAX_BYTES] = '\0';
    ck_assert_int_eq(sl_tensorset_set_meta(ts, "big", big, &err), SL_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.message, "metadata of more than 1048576 bytes"));
    big[SL_META_MAX_BYTES - 8] = '\0';
    ck_assert_int_eq(sl_tensorset_set_meta(ts, "big", big, &err), 0);
    free(big);
    sl_tensorset_free(ts);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("hostile");
    TCase *tc = tcase_create("escaping");
    tcase_add_test(tc, test_escape_rules);
    tcase_add_test(tc, test_error_messages_escape_names);
    suite_add_tcase(s, tc);
    tc = tcase_create("files");
    tcase_add_test(tc, test_special_files);
    tcase_add_test(tc, test_sparse_files_bounded);
    suite_add_tcase(s, tc);
    tc = tcase_create("many names");
    tcase_add_test(tc, test_many_tensors_linear);
    tcase_add_test(tc, test_many_tensors_pt_linear);
    tcase_add_test(tc, test_many_metadata_keys);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(suite()); }
