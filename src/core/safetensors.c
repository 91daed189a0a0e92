/* safetensors.c: read and write the safetensors format.
 *
 * Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
 * (an object: tensor name -> {"dtype", "shape", "data_offsets": [BEGIN, END]},
 * plus an optional "__metadata__" object of string -> string), then the data
 * block.  Offsets are relative to the data block.
 *
 * The reader trusts nothing: jansson parses the header (rejecting duplicate
 * keys and invalid UTF-8), and every offset, shape and size is checked
 * against the buffer before a byte of tensor data is touched, as strictly as
 * huggingface's tensor.rs: the tensors must tile the data block exactly, with
 * no hole, no overlap and nothing after the last one.  Allocation is bounded
 * by the input size.
 */
#include "sortlens/safetensors.h"

#include "sortlens/atomic_write.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The header length limit of tensor.rs (100 MB). */
#define SAFETENSORS_MAX_HEADER 100000000ull

typedef struct Entry {
    const char *name;     /* borrowed from the JSON object */
    DType dtype;
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
    uint64_t begin, end;  /* relative to the data block */
} Entry;

static int cmp_entry(const void *a, const void *b)
{
    const Entry *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    /* zero-sized tensors may share a begin: the shorter one first */
    return x->end < y->end ? -1 : x->end > y->end;
}

static uint64_t read_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Reads one tensor's description; the message names the tensor. */
static int parse_entry(const char *label, const char *name, json_t *info, Entry *e, SlError *err)
{
    if (!json_is_object(info))
        return sl_error_set(err, SL_EFORMAT, "%s: tensor %s: its description is not a JSON object", label, name);
    const char *key;
    json_t *val;
    json_object_foreach(info, key, val) {
        if (strcmp(key, "dtype") && strcmp(key, "shape") && strcmp(key, "data_offsets"))
            return sl_error_set(err, SL_EFORMAT, "%s: tensor %s: unknown field \"%s\"", label, name, key);
    }
    json_t *dt = json_object_get(info, "dtype");
    json_t *shape = json_object_get(info, "shape");
    json_t *offs = json_object_get(info, "data_offsets");
    if (!dt || !shape || !offs)
        return sl_error_set(err, SL_EFORMAT, "%s: tensor %s: missing \"%s\"", label, name,
                            !dt ? "dtype" : !shape ? "shape" : "data_offsets");
    if (!json_is_string(dt))
        return sl_error_set(err, SL_EFORMAT, "%s: tensor %s: dtype is not a string", label, name);
    if (dtype_from_name(json_string_value(dt), &e->dtype))
        return sl_error_set(err, SL_EFORMAT, "%s: tensor %s: unknown dtype \"%.32s\"", label, name, json_string_value(dt));
    if (!json_is_array(shape))
        return sl_error_set(err, SL_EFORMAT, "%s: tensor %s: shape is not an array", label, name);
    size_t nd = json_array_size(shape);
    if (nd > TENSOR_MAX_DIMS)
        return sl_error_set(err, SL_EFORMAT, "%s: tensor %s: %zu dimensions; at most %d are supported", label, name, nd,
                            TENSOR_MAX_DIMS);
    e->ndim = (int)nd;
    for (size_t i = 0; i < nd; i++) {
        json_t *d = json_array_get(shape, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return sl_error_set(err, SL_EFORMAT, "%s: tensor %s: shape[%zu] is not a non-negative integer", label, name, i);
        e->shape[i] = (int64_t)json_integer_value(d);
    }
    if (!json_is_array(offs) || json_array_size(offs) != 2 || !json_is_integer(json_array_get(offs, 0)) ||
        !json_is_integer(json_array_get(offs, 1)) || json_integer_value(json_array_get(offs, 0)) < 0 ||
        json_integer_value(json_array_get(offs, 1)) < 0)
        return sl_error_set(err, SL_EFORMAT, "%s: tensor %s: data_offsets is not two non-negative integers", label, name);
    e->begin = (uint64_t)json_integer_value(json_array_get(offs, 0));
    e->end = (uint64_t)json_integer_value(json_array_get(offs, 1));
    if (e->end < e->begin)
        return sl_error_set(err, SL_EFORMAT, "%s: tensor %s: data_offsets end %" PRIu64 " is before begin %" PRIu64, label,
                            name, e->end, e->begin);
    /* shape_numel refuses a product that overflows int64 or size_t bytes,
     * so a product that would wrap to zero is caught here too. */
    int64_t numel = shape_numel(e->ndim, e->shape, dtype_size(e->dtype));
    if (numel < 0)
        return sl_error_set(err, SL_EFORMAT, "%s: tensor %s: the shape's element count overflows", label, name);
    uint64_t nbytes = (uint64_t)numel * dtype_size(e->dtype);
    if (e->end - e->begin != nbytes)
        return sl_error_set(err, SL_EFORMAT,
                            "%s: tensor %s: data_offsets span %" PRIu64 " bytes; shape and dtype %s need %" PRIu64, label,
                            name, e->end - e->begin, dtype_name(e->dtype), nbytes);
    e->name = name;
    return 0;
}

static int parse_metadata(const char *label, json_t *meta, TensorSet *ts, SlError *err)
{
    if (json_is_null(meta))
        return 0;   /* tensor.rs accepts an absent (null) metadata map */
    if (!json_is_object(meta))
        return sl_error_set(err, SL_EFORMAT, "%s: __metadata__ is not a JSON object", label);
    const char *key;
    json_t *val;
    json_object_foreach(meta, key, val) {
        if (!json_is_string(val))
            return sl_error_set(err, SL_EFORMAT, "%s: __metadata__ value of \"%.64s\" is not a string", label, key);
        int rc = tensorset_set_meta(ts, key, json_string_value(val), err);
        if (rc)
            return rc;
    }
    return 0;
}

TensorSet *safetensors_parse(const uint8_t *buf, size_t len, const char *label, SlError *err)
{
    TensorSet *ts = NULL;
    json_t *root = NULL;
    Entry *entries = NULL;
    if (!label)
        label = "safetensors";
    if (len < 8) {
        sl_error_set(err, SL_EFORMAT, "%s: %zu bytes is too short for a safetensors file (the header length alone is 8)",
                     label, len);
        return NULL;
    }
    uint64_t n = read_le64(buf);
    /* compare before adding 8, so that a huge n cannot wrap */
    if (n > SAFETENSORS_MAX_HEADER) {
        sl_error_set(err, SL_EFORMAT, "%s: header length %" PRIu64 " exceeds the limit of %llu bytes", label, n,
                     SAFETENSORS_MAX_HEADER);
        return NULL;
    }
    if (n > len - 8) {
        sl_error_set(err, SL_EFORMAT, "%s: header length %" PRIu64 " runs past the end of the file (%zu bytes)", label, n,
                     len);
        return NULL;
    }
    const uint8_t *data = buf + 8 + n;
    uint64_t data_len = len - 8 - n;

    json_error_t jerr;
    root = json_loadb((const char *)buf + 8, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        sl_error_set(err, SL_EFORMAT, "%s: header is not valid UTF-8 JSON: %s (byte %d)", label, jerr.text, jerr.position);
        return NULL;
    }
    if (!json_is_object(root)) {
        sl_error_set(err, SL_EFORMAT, "%s: header is not a JSON object", label);
        goto fail;
    }
    ts = tensorset_new();
    size_t cap = json_object_size(root);
    entries = calloc(cap ? cap : 1, sizeof *entries);
    if (!ts || !entries) {
        sl_error_set(err, SL_ENOMEM, "%s: out of memory", label);
        goto fail;
    }
    size_t count = 0;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            if (parse_metadata(label, val, ts, err))
                goto fail;
            continue;
        }
        if (parse_entry(label, key, val, &entries[count], err))
            goto fail;
        count++;
    }
    /* The tensors must tile the data block: sorted by offset, each begins
     * where the previous ended, and the last ends at the end of the file. */
    qsort(entries, count, sizeof *entries, cmp_entry);
    uint64_t pos = 0;
    for (size_t i = 0; i < count; i++) {
        if (entries[i].begin != pos) {
            if (entries[i].begin > pos)
                sl_error_set(err, SL_EFORMAT, "%s: tensor %s: a hole of %" PRIu64 " bytes before it (begins at %" PRIu64
                             ", the previous data ends at %" PRIu64 ")", label, entries[i].name, entries[i].begin - pos,
                             entries[i].begin, pos);
            else
                sl_error_set(err, SL_EFORMAT, "%s: tensor %s: overlaps the previous tensor (begins at %" PRIu64
                             ", the previous data ends at %" PRIu64 ")", label, entries[i].name, entries[i].begin, pos);
            goto fail;
        }
        pos = entries[i].end;
    }
    if (pos != data_len) {
        if (pos > data_len)
            sl_error_set(err, SL_EFORMAT, "%s: the tensors need %" PRIu64 " bytes of data; the file holds %" PRIu64
                         " (truncated)", label, pos, data_len);
        else
            sl_error_set(err, SL_EFORMAT, "%s: %" PRIu64 " trailing bytes after the last tensor", label, data_len - pos);
        goto fail;
    }
    for (size_t i = 0; i < count; i++) {
        const Entry *e = &entries[i];
        if (!tensorset_add(ts, e->name, e->dtype, e->ndim, e->shape, data + e->begin, err)) {
            sl_error_prefix(err, label);
            goto fail;
        }
    }
    free(entries);
    json_decref(root);
    return ts;
fail:
    free(entries);
    tensorset_free(ts);
    json_decref(root);
    return NULL;
}

/* Reads a whole regular file; the allocation is the file's size. */
static int read_file(const char *path, uint8_t **out, size_t *out_len, SlError *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sl_error_set(err, SL_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return sl_error_set(err, SL_EIO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > SIZE_MAX / 2) {
        close(fd);
        return sl_error_set(err, SL_EIO, "%s: too large (%lld bytes)", path, (long long)st.st_size);
    }
    size_t size = (size_t)st.st_size;
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) {
        close(fd);
        return sl_error_set(err, SL_ENOMEM, "%s: cannot allocate %zu bytes to read it", path, size);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return sl_error_set(err, SL_EIO, "%s: read failed: %s", path, strerror(e));
        }
        if (r == 0)
            break;   /* the file shrank while we read: parse what we got */
        got += (size_t)r;
    }
    close(fd);
    *out = buf;
    *out_len = got;
    return 0;
}

TensorSet *safetensors_read(const char *path, SlError *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (read_file(path, &buf, &len, err))
        return NULL;
    TensorSet *ts = safetensors_parse(buf, len, path, err);
    free(buf);
    return ts;
}

/* ---- writer ---------------------------------------------------------------- */

/* Builds the header JSON (metadata first, tensors in set order). */
static char *build_header(const TensorSet *ts, const char *path, size_t *out_len, SlError *err)
{
    json_t *root = json_object(), *meta = json_object();
    char *text = NULL;
    if (!root || !meta)
        goto nomem;
    for (int i = 0; i < ts->meta_count; i++)
        if (json_object_set_new(meta, ts->meta_keys[i], json_string(ts->meta_values[i])))
            goto bad_string;
    if (ts->meta_count && json_object_set(root, "__metadata__", meta))
        goto nomem;
    uint64_t off = 0;
    for (int i = 0; i < ts->count; i++) {
        const Tensor *t = &ts->items[i];
        if (strcmp(t->name, "__metadata__") == 0) {
            sl_error_set(err, SL_EINVAL, "%s: a tensor may not be called __metadata__", path);
            goto fail;
        }
        json_t *info = json_object(), *shape = json_array(), *offs = json_array();
        if (!info || !shape || !offs) {
            json_decref(info);
            json_decref(shape);
            json_decref(offs);
            goto nomem;
        }
        for (int d = 0; d < t->ndim; d++)
            json_array_append_new(shape, json_integer(t->shape[d]));
        json_array_append_new(offs, json_integer((json_int_t)off));
        json_array_append_new(offs, json_integer((json_int_t)(off + t->nbytes)));
        off += t->nbytes;
        json_object_set_new(info, "dtype", json_string(dtype_name(t->dtype)));
        json_object_set_new(info, "shape", shape);
        json_object_set_new(info, "data_offsets", offs);
        if (json_object_set_new(root, t->name, info))
            goto bad_string;
    }
    text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    if (!text)
        goto nomem;
    *out_len = strlen(text);
    json_decref(meta);
    json_decref(root);
    return text;
bad_string:
    sl_error_set(err, SL_EINVAL, "%s: a tensor name or metadata entry is not valid UTF-8", path);
    goto fail;
nomem:
    sl_error_set(err, SL_ENOMEM, "%s: out of memory", path);
fail:
    json_decref(meta);
    json_decref(root);
    return NULL;
}

int safetensors_write(const char *path, const TensorSet *ts, SlError *err)
{
    for (int i = 0; i < ts->count; i++) {
        const Tensor *t = &ts->items[i];
        int64_t numel = shape_numel(t->ndim, t->shape, dtype_size(t->dtype));
        if (numel < 0 || (size_t)numel * dtype_size(t->dtype) != t->nbytes)
            return sl_error_set(err, SL_EINVAL, "%s: tensor %s: %zu bytes of data disagree with its shape", path, t->name,
                                t->nbytes);
    }
    size_t hlen;
    char *header = build_header(ts, path, &hlen, err);
    if (!header)
        return err ? err->code : SL_ENOMEM;
    /* Pad with spaces so that the data block starts 8-byte aligned. */
    size_t padded = (hlen + 7) / 8 * 8;
    char *h = realloc(header, padded ? padded : 1);
    if (!h) {
        free(header);
        return sl_error_set(err, SL_ENOMEM, "%s: out of memory", path);
    }
    memset(h + hlen, ' ', padded - hlen);

    /* Through the one atomic writer: a failed write never leaves a
     * half-written checkpoint, and a device or FIFO is written through. */
    uint8_t lenbuf[8];
    for (int i = 0; i < 8; i++)
        lenbuf[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    SlAtomicFile *f = sl_atomic_open(path, err);
    int rc = f ? SL_OK : (err ? err->code : SL_EIO);
    if (f && !(rc = sl_atomic_write(f, lenbuf, 8, err)))
        rc = sl_atomic_write(f, h, padded, err);
    for (int i = 0; f && !rc && i < ts->count; i++)
        rc = sl_atomic_write(f, ts->items[i].data, ts->items[i].nbytes, err);
    if (f && !rc)
        rc = sl_atomic_commit(f, err);
    else
        sl_atomic_abort(f);
    free(h);
    return rc;
}
