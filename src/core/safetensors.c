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

#include "byteorder.h"
#include "sortlens/file_read.h"

/* The header length limit of tensor.rs (100 MB). */
#define SAFETENSORS_MAX_HEADER 100000000ull

typedef struct Entry {
    const char *name;     /* borrowed from the JSON object */
    SlDType dtype;
    int ndim;
    int64_t shape[SL_TENSOR_MAX_DIMS];
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
    if (sl_dtype_from_name(json_string_value(dt), &e->dtype))
        return sl_error_set(err, SL_EFORMAT, "%s: tensor %s: unknown dtype \"%.32s\"", label, name, json_string_value(dt));
    if (!json_is_array(shape))
        return sl_error_set(err, SL_EFORMAT, "%s: tensor %s: shape is not an array", label, name);
    size_t nd = json_array_size(shape);
    if (nd > SL_TENSOR_MAX_DIMS)
        return sl_error_set(err, SL_EFORMAT, "%s: tensor %s: %zu dimensions; at most %d are supported", label, name, nd,
                            SL_TENSOR_MAX_DIMS);
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
    /* sl_shape_numel refuses a product that overflows int64 or size_t bytes,
     * so a product that would wrap to zero is caught here too. */
    int64_t numel = sl_shape_numel(e->ndim, e->shape, sl_dtype_size(e->dtype));
    if (numel < 0)
        return sl_error_set(err, SL_EFORMAT, "%s: tensor %s: the shape's element count overflows", label, name);
    uint64_t nbytes = (uint64_t)numel * sl_dtype_size(e->dtype);
    if (e->end - e->begin != nbytes)
        return sl_error_set(err, SL_EFORMAT,
                            "%s: tensor %s: data_offsets span %" PRIu64 " bytes; shape and dtype %s need %" PRIu64, label,
                            name, e->end - e->begin, sl_dtype_name(e->dtype), nbytes);
    e->name = name;
    return 0;
}

static int parse_metadata(const char *label, json_t *meta, SlTensorSet *ts, SlError *err)
{
    if (json_is_null(meta))
        return 0;   /* tensor.rs accepts an absent (null) metadata map */
    if (!json_is_object(meta))
        return sl_error_set(err, SL_EFORMAT, "%s: __metadata__ is not a JSON object", label);
    if (json_object_size(meta) > SL_META_MAX_ENTRIES)
        return sl_error_set(err, SL_EFORMAT, "%s: __metadata__ has %zu entries; at most %d are accepted (no model needs "
                            "more)", label, json_object_size(meta), SL_META_MAX_ENTRIES);
    const char *key;
    json_t *val;
    json_object_foreach(meta, key, val) {
        if (!json_is_string(val))
            return sl_error_set(err, SL_EFORMAT, "%s: __metadata__ value of \"%.64s\" is not a string", label, key);
        int rc = sl_tensorset_set_meta(ts, key, json_string_value(val), err);
        if (rc) {
            sl_error_prefix(err, label);
            return rc;
        }
    }
    return 0;
}

/* A parsed header: the metadata in ts, the tensors' descriptions in entries
 * (sorted by offset; names borrowed from root), already checked to tile a
 * data block of the size the file has. */
typedef struct Header {
    json_t *root;
    Entry *entries;
    size_t count;
    SlTensorSet *ts;
} Header;

static void header_free(Header *h)
{
    free(h->entries);
    sl_tensorset_free(h->ts);
    json_decref(h->root);
}

/* The 8-byte header length n against the limit and the file's length. */
static int check_header_length(uint64_t n, uint64_t file_len, const char *label, SlError *err)
{
    if (file_len < 8)
        return sl_error_set(err, SL_EFORMAT, "%s: %" PRIu64 " bytes is too short for a safetensors file (the header "
                            "length alone is 8)", label, file_len);
    /* compare before adding 8, so that a huge n cannot wrap */
    if (n > SAFETENSORS_MAX_HEADER)
        return sl_error_set(err, SL_EFORMAT, "%s: header length %" PRIu64 " exceeds the limit of %llu bytes", label, n,
                            SAFETENSORS_MAX_HEADER);
    if (n > file_len - 8)
        return sl_error_set(err, SL_EFORMAT, "%s: header length %" PRIu64 " runs past the end of the file (%" PRIu64
                            " bytes)", label, n, file_len);
    return 0;
}

/* Parses the JSON header json[0..n) and checks that its tensors tile a data
 * block of data_len bytes exactly: nothing is read or allocated for tensor
 * data before this passes. */
static int parse_header(const uint8_t *json, size_t n, uint64_t data_len, const char *label, Header *h, SlError *err)
{
    memset(h, 0, sizeof *h);
    json_error_t jerr;
    h->root = json_loadb((const char *)json, n, JSON_REJECT_DUPLICATES, &jerr);
    if (!h->root)
        return sl_error_set(err, SL_EFORMAT, "%s: header is not valid UTF-8 JSON: %s (byte %d)", label, jerr.text,
                            jerr.position);
    if (!json_is_object(h->root))
        return sl_error_set(err, SL_EFORMAT, "%s: header is not a JSON object", label);
    h->ts = sl_tensorset_new();
    size_t cap = json_object_size(h->root);
    h->entries = calloc(cap ? cap : 1, sizeof *h->entries);
    if (!h->ts || !h->entries)
        return sl_error_set(err, SL_ENOMEM, "%s: out of memory", label);
    const char *key;
    json_t *val;
    json_object_foreach(h->root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            int rc = parse_metadata(label, val, h->ts, err);
            if (rc)
                return rc;
            continue;
        }
        int rc = parse_entry(label, key, val, &h->entries[h->count], err);
        if (rc)
            return rc;
        h->count++;
    }
    /* The tensors must tile the data block: sorted by offset, each begins
     * where the previous ended, and the last ends at the end of the file. */
    qsort(h->entries, h->count, sizeof *h->entries, cmp_entry);
    uint64_t pos = 0;
    for (size_t i = 0; i < h->count; i++) {
        const Entry *e = &h->entries[i];
        if (e->begin > pos)
            return sl_error_set(err, SL_EFORMAT, "%s: tensor %s: a hole of %" PRIu64 " bytes before it (begins at %" PRIu64
                                ", the previous data ends at %" PRIu64 ")", label, e->name, e->begin - pos, e->begin, pos);
        if (e->begin < pos)
            return sl_error_set(err, SL_EFORMAT, "%s: tensor %s: overlaps the previous tensor (begins at %" PRIu64
                                ", the previous data ends at %" PRIu64 ")", label, e->name, e->begin, pos);
        pos = e->end;
    }
    if (pos > data_len)
        return sl_error_set(err, SL_EFORMAT, "%s: the tensors need %" PRIu64 " bytes of data; the file holds %" PRIu64
                            " (truncated)", label, pos, data_len);
    if (pos < data_len)
        return sl_error_set(err, SL_EFORMAT, "%s: %" PRIu64 " trailing bytes after the last tensor", label, data_len - pos);
    return 0;
}

SlTensorSet *sl_safetensors_parse(const uint8_t *buf, size_t len, const char *label, SlError *err)
{
    if (!label)
        label = "safetensors";
    uint64_t n = len >= 8 ? sl_read_le64(buf) : 0;
    if (check_header_length(n, len, label, err))
        return NULL;
    const uint8_t *data = buf + 8 + n;
    Header h;
    if (parse_header(buf + 8, (size_t)n, len - 8 - n, label, &h, err))
        goto fail;
    for (size_t i = 0; i < h.count; i++) {
        const Entry *e = &h.entries[i];
        if (!sl_tensorset_add(h.ts, e->name, e->dtype, e->ndim, e->shape, data + e->begin, err)) {
            sl_error_prefix(err, label);
            goto fail;
        }
    }
    SlTensorSet *ts = h.ts;
    h.ts = NULL;
    header_free(&h);
    return ts;
fail:
    header_free(&h);
    return NULL;
}

SlTensorSet *sl_safetensors_read_file(const SlFile *f, SlError *err)
{
    const char *label = f->path;
    uint8_t lenbuf[8] = {0};
    if (f->size >= 8 && sl_file_read_at(f, 0, lenbuf, 8, err))
        return NULL;
    uint64_t n = sl_read_le64(lenbuf);
    if (check_header_length(n, f->size, label, err))
        return NULL;
    /* the header alone, then the layout it declares against the file's size */
    Header h = {0};
    uint8_t *json = malloc(n ? (size_t)n : 1);
    if (!json) {
        sl_error_set(err, SL_ENOMEM, "%s: cannot allocate the %" PRIu64 "-byte header", label, n);
        return NULL;
    }
    int rc = sl_file_read_at(f, 8, json, (size_t)n, err);
    if (!rc)
        rc = parse_header(json, (size_t)n, f->size - 8 - n, label, &h, err);
    free(json);
    /* then exactly the bytes each tensor declares, read into its own buffer */
    for (size_t i = 0; !rc && i < h.count; i++) {
        const Entry *e = &h.entries[i];
        size_t nbytes = (size_t)(e->end - e->begin);
        void *data = malloc(nbytes ? nbytes : 1);
        if (!data) {
            rc = sl_error_set(err, SL_ENOMEM, "%s: tensor %s: cannot allocate %zu bytes", label, e->name, nbytes);
            break;
        }
        rc = sl_file_read_at(f, 8 + n + e->begin, data, nbytes, err);
        if (!rc && !sl_tensorset_add_owned(h.ts, e->name, e->dtype, e->ndim, e->shape, data, nbytes, err)) {
            sl_error_prefix(err, label);
            rc = SL_EFORMAT;
        }
        if (rc)
            free(data);
    }
    SlTensorSet *ts = NULL;
    if (!rc) {
        ts = h.ts;
        h.ts = NULL;
    }
    header_free(&h);
    return ts;
}

SlTensorSet *sl_safetensors_read(const char *path, SlError *err)
{
    SlFile f;
    if (sl_file_open(&f, path, err))
        return NULL;
    SlTensorSet *ts = sl_safetensors_read_file(&f, err);
    sl_file_close(&f);
    return ts;
}

/* ---- writer ---------------------------------------------------------------- */

/* Builds the header JSON (metadata first, tensors in set order). */
static char *build_header(const SlTensorSet *ts, const char *path, size_t *out_len, SlError *err)
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
        const SlTensor *t = &ts->items[i];
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
        json_object_set_new(info, "dtype", json_string(sl_dtype_name(t->dtype)));
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

int sl_safetensors_write(const char *path, const SlTensorSet *ts, SlError *err)
{
    for (int i = 0; i < ts->count; i++) {
        const SlTensor *t = &ts->items[i];
        int64_t numel = sl_shape_numel(t->ndim, t->shape, sl_dtype_size(t->dtype));
        if (numel < 0 || (size_t)numel * sl_dtype_size(t->dtype) != t->nbytes)
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
    sl_write_le64(lenbuf, (uint64_t)padded);
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
