/* fuzz_pt.c: libFuzzer target for the PyTorch checkpoint reader (ZIP +
 * pickle), then for sl_model_from_tensors on whatever it accepts.
 *
 * Byte-level mutation of a ZIP mostly breaks the CRC of the entry it
 * touches, so the fuzzer would rarely get past libzip into the pickle
 * interpreter.  When built as a real fuzzer (SORTLENS_FUZZ_MUTATOR), a custom
 * mutator therefore usually opens the archive, mutates one entry (most often
 * data.pkl) with libFuzzer's own mutator and stores the archive again with
 * correct CRCs; the rest of the time it mutates the raw bytes, which keeps
 * the ZIP layer itself under test.  Every input is also read from a file
 * descriptor, as a user's file is, and must give the same answer. */
#define _GNU_SOURCE   /* memfd_create, for fuzz_check_file_reader */
#include <stdint.h>

#include "sortlens/pt.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    SlError err = {0};
    SlTensorSet *ts = sl_pt_parse(data, size, "fuzz.pt", &err);
    fuzz_check_file_reader(data, size, ts, "fuzz.pt", sl_pt_read_file);
    if (!ts) {
        fuzz_check_refusal(&err);
        return 0;
    }
    fuzz_check_tensorset(ts);
    fuzz_try_model(ts, "fuzz.pt");
    sl_tensorset_free(ts);
    return 0;
}

#ifdef SORTLENS_FUZZ_MUTATOR
#include <zip.h>

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

enum { MAX_ENTRIES = 64 };

typedef struct Entry {
    char *name;
    uint8_t *data;
    size_t len;
} Entry;

/* Reads every entry of the archive in data; returns the count or -1. */
static int read_entries(const uint8_t *data, size_t size, Entry *e)
{
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(data, size, 0, &ze);
    if (!src)
        return -1;
    zip_t *za = zip_open_from_source(src, ZIP_RDONLY, &ze);
    if (!za) {
        zip_source_free(src);
        return -1;
    }
    zip_int64_t n = zip_get_num_entries(za, 0);
    int count = 0;
    for (zip_int64_t i = 0; i < n && count < MAX_ENTRIES; i++) {
        zip_stat_t st;
        if (zip_stat_index(za, (zip_uint64_t)i, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE) ||
            !(st.valid & ZIP_STAT_NAME) || st.size > size)
            goto fail;
        zip_file_t *f = zip_fopen_index(za, (zip_uint64_t)i, 0);
        if (!f)
            goto fail;
        e[count].name = strdup(st.name);
        e[count].data = malloc(st.size ? st.size : 1);
        e[count].len = st.size;
        count++;
        zip_int64_t got = e[count - 1].name && e[count - 1].data
                        ? zip_fread(f, e[count - 1].data, st.size) : -1;
        zip_fclose(f);
        if (got < 0 || (zip_uint64_t)got != st.size)
            goto fail;
    }
    zip_discard(za);
    return count;
fail:
    zip_discard(za);
    for (int i = 0; i < count; i++) {
        free(e[i].name);
        free(e[i].data);
    }
    return -1;
}

/* Stores the entries (uncompressed, as torch.save does) into out; returns
 * the archive's size, or 0 if it does not fit in max_size. */
static size_t write_entries(const Entry *e, int count, uint8_t *out, size_t max_size)
{
    zip_error_t ze;
    zip_error_init(&ze);
    size_t result = 0;
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    if (!src)
        return 0;
    zip_source_keep(src);
    zip_t *za = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
    if (!za)
        goto done;
    for (int i = 0; i < count; i++) {
        zip_source_t *s = zip_source_buffer(za, e[i].data, e[i].len, 0);
        zip_int64_t idx = s ? zip_file_add(za, e[i].name, s, ZIP_FL_ENC_UTF_8) : -1;
        if (idx < 0) {
            zip_source_free(s);
            continue;   /* e.g. a duplicate name after a mutation */
        }
        zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0);
    }
    if (zip_close(za) != 0) {
        zip_discard(za);
        goto done;
    }
    if (zip_source_open(src) != 0)
        goto done;
    zip_stat_t st;
    if (zip_source_stat(src, &st) == 0 && st.size <= max_size) {
        zip_int64_t got = zip_source_read(src, out, st.size);
        if (got >= 0 && (zip_uint64_t)got == st.size)
            result = (size_t)got;
    }
    zip_source_close(src);
done:
    zip_source_free(src);
    return result;
}

/* A private generator: the mutator must be a function of its seed alone. */
static unsigned next_rand(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    uint32_t state = seed ? seed : 1;
    if (next_rand(&state) % 4 == 0)
        return LLVMFuzzerMutate(data, size, max_size);
    Entry e[MAX_ENTRIES];
    int count = read_entries(data, size, e);
    if (count <= 0)
        return LLVMFuzzerMutate(data, size, max_size);
    /* pick data.pkl half of the time, else any entry */
    int pick = next_rand(&state) % count;
    if (next_rand(&state) % 2)
        for (int i = 0; i < count; i++)
            if (strstr(e[i].name, "data.pkl"))
                pick = i;
    int what = next_rand(&state) % 16;
    if (what == 0 && count > 1) {          /* drop an entry */
        free(e[pick].name);
        free(e[pick].data);
        e[pick] = e[--count];
    } else if (what == 1) {                /* mutate a name */
        size_t nlen = strlen(e[pick].name), cap = nlen + 16;
        char *nn = realloc(e[pick].name, cap + 1);
        if (nn) {
            e[pick].name = nn;
            size_t len = LLVMFuzzerMutate((uint8_t *)nn, nlen, cap);
            nn[len] = '\0';
        }
    } else {                               /* mutate the contents */
        size_t cap = e[pick].len + 256 < max_size ? e[pick].len + 256 : max_size;
        uint8_t *nd = realloc(e[pick].data, cap ? cap : 1);
        if (nd) {
            e[pick].data = nd;
            e[pick].len = LLVMFuzzerMutate(nd, e[pick].len, cap);
        }
    }
    size_t out = write_entries(e, count, data, max_size);
    for (int i = 0; i < count; i++) {
        free(e[i].name);
        free(e[i].data);
    }
    return out ? out : LLVMFuzzerMutate(data, size, max_size);
}
#endif
