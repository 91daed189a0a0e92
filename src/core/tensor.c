/* tensor.c: SlTensorSet, the neutral form of a checkpoint's contents. */
#include "sortlens/tensor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "name_index.h"

static const struct { const char *name; size_t size; } dtype_info[SL_DT_COUNT] = {
    [SL_DT_F32] = {"F32", 4}, [SL_DT_F64] = {"F64", 8}, [SL_DT_F16] = {"F16", 2},
    [SL_DT_BF16] = {"BF16", 2}, [SL_DT_I64] = {"I64", 8}, [SL_DT_I32] = {"I32", 4},
    [SL_DT_I16] = {"I16", 2}, [SL_DT_I8] = {"I8", 1}, [SL_DT_U8] = {"U8", 1},
    [SL_DT_BOOL] = {"BOOL", 1},
};

size_t sl_dtype_size(SlDType dt) { return (unsigned)dt < SL_DT_COUNT ? dtype_info[dt].size : 0; }
const char *sl_dtype_name(SlDType dt) { return (unsigned)dt < SL_DT_COUNT ? dtype_info[dt].name : "?"; }

int sl_dtype_from_name(const char *name, SlDType *out)
{
    for (int i = 0; i < SL_DT_COUNT; i++)
        if (strcmp(name, dtype_info[i].name) == 0) {
            *out = (SlDType)i;
            return 0;
        }
    return SL_EFORMAT;
}

int64_t sl_shape_numel(int ndim, const int64_t *shape, size_t elem_size)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return -1;
        if (shape[i] != 0 && n > INT64_MAX / shape[i])
            return -1;
        n *= shape[i];
    }
    if (elem_size && (uint64_t)n > SIZE_MAX / elem_size)
        return -1;
    return n;
}

SlTensorSet *sl_tensorset_new(void) { return calloc(1, sizeof(SlTensorSet)); }

void sl_tensorset_free(SlTensorSet *ts)
{
    if (!ts)
        return;
    for (int i = 0; i < ts->count; i++) {
        free(ts->items[i].name);
        free(ts->items[i].data);
    }
    for (int i = 0; i < ts->meta_count; i++) {
        free(ts->meta_keys[i]);
        free(ts->meta_values[i]);
    }
    sl_name_index_free(ts->name_index);
    sl_name_index_free(ts->meta_index);
    free(ts->items);
    free(ts->meta_keys);
    free(ts->meta_values);
    free(ts);
}

const SlTensor *sl_tensorset_find(const SlTensorSet *ts, const char *name)
{
    int i = sl_name_index_find(ts->name_index, name);
    return i >= 0 ? &ts->items[i] : NULL;
}

SlTensor *sl_tensorset_add_owned(SlTensorSet *ts, const char *name, SlDType dtype, int ndim,
                            const int64_t *shape, void *data, size_t nbytes, SlError *err)
{
    if ((unsigned)dtype >= SL_DT_COUNT || ndim < 0 || ndim > SL_TENSOR_MAX_DIMS) {
        sl_error_set(err, SL_EFORMAT, "%s: bad dtype or %d dimensions", name, ndim);
        return NULL;
    }
    int64_t numel = sl_shape_numel(ndim, shape, sl_dtype_size(dtype));
    if (numel < 0 || (size_t)numel * sl_dtype_size(dtype) != nbytes) {
        sl_error_set(err, SL_EFORMAT, "%s: shape does not match %zu bytes of data", name, nbytes);
        return NULL;
    }
    if (sl_tensorset_find(ts, name)) {
        sl_error_set(err, SL_EFORMAT, "%s: tensor appears twice", name);
        return NULL;
    }
    if (ts->count == ts->capacity) {
        int cap = ts->capacity ? 2 * ts->capacity : 16;
        SlTensor *items = realloc(ts->items, (size_t)cap * sizeof *items);
        if (!items) {
            sl_error_set(err, SL_ENOMEM, "out of memory");
            return NULL;
        }
        ts->items = items;
        ts->capacity = cap;
    }
    char *copy = strdup(name);
    if (!copy || sl_name_index_add(&ts->name_index, copy, ts->count)) {
        free(copy);
        sl_error_set(err, SL_ENOMEM, "out of memory");
        return NULL;
    }
    SlTensor *t = &ts->items[ts->count++];
    memset(t, 0, sizeof *t);
    t->name = copy;
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    t->data = data;
    t->nbytes = nbytes;
    return t;
}

SlTensor *sl_tensorset_add(SlTensorSet *ts, const char *name, SlDType dtype, int ndim,
                      const int64_t *shape, const void *data, SlError *err)
{
    if ((unsigned)dtype >= SL_DT_COUNT || ndim < 0 || ndim > SL_TENSOR_MAX_DIMS) {
        sl_error_set(err, SL_EFORMAT, "%s: bad dtype or %d dimensions", name, ndim);
        return NULL;
    }
    int64_t numel = sl_shape_numel(ndim, shape, sl_dtype_size(dtype));
    if (numel < 0) {
        sl_error_set(err, SL_EFORMAT, "%s: shape overflows", name);
        return NULL;
    }
    size_t nbytes = (size_t)numel * sl_dtype_size(dtype);
    void *buf = malloc(nbytes ? nbytes : 1);
    if (!buf) {
        sl_error_set(err, SL_ENOMEM, "%s: cannot allocate %zu bytes", name, nbytes);
        return NULL;
    }
    if (data)
        memcpy(buf, data, nbytes);
    else
        memset(buf, 0, nbytes);
    SlTensor *t = sl_tensorset_add_owned(ts, name, dtype, ndim, shape, buf, nbytes, err);
    if (!t)
        free(buf);
    return t;
}

int sl_tensorset_set_meta(SlTensorSet *ts, const char *key, const char *value, SlError *err)
{
    int at = sl_name_index_find(ts->meta_index, key);
    size_t klen = strlen(key), vlen = strlen(value);
    size_t bytes = ts->meta_bytes + vlen + (at >= 0 ? 0 : klen);
    if (at >= 0)
        bytes -= strlen(ts->meta_values[at]);
    if (at < 0 && ts->meta_count >= SL_META_MAX_ENTRIES)
        return sl_error_set(err, SL_EFORMAT, "more than %d metadata entries (no model needs that many)",
                            SL_META_MAX_ENTRIES);
    if (bytes > SL_META_MAX_BYTES)
        return sl_error_set(err, SL_EFORMAT, "metadata of more than %u bytes (no model needs that much; at \"%.64s\")",
                            SL_META_MAX_BYTES, key);
    char *v = strdup(value);
    if (!v)
        return sl_error_set(err, SL_ENOMEM, "out of memory");
    if (at >= 0) {
        free(ts->meta_values[at]);
        ts->meta_values[at] = v;
        ts->meta_bytes = bytes;
        return 0;
    }
    if (ts->meta_count == ts->meta_capacity) {
        int cap = ts->meta_capacity ? 2 * ts->meta_capacity : 16;
        char **k = realloc(ts->meta_keys, (size_t)cap * sizeof *k);
        if (k)
            ts->meta_keys = k;
        char **vs = k ? realloc(ts->meta_values, (size_t)cap * sizeof *vs) : NULL;
        if (!vs) {
            free(v);
            return sl_error_set(err, SL_ENOMEM, "out of memory");
        }
        ts->meta_values = vs;
        ts->meta_capacity = cap;
    }
    char *k = strdup(key);
    if (!k || sl_name_index_add(&ts->meta_index, k, ts->meta_count)) {
        free(k);
        free(v);
        return sl_error_set(err, SL_ENOMEM, "out of memory");
    }
    ts->meta_keys[ts->meta_count] = k;
    ts->meta_values[ts->meta_count] = v;
    ts->meta_count++;
    ts->meta_bytes = bytes;
    return 0;
}

const char *sl_tensorset_get_meta(const SlTensorSet *ts, const char *key)
{
    int i = sl_name_index_find(ts->meta_index, key);
    return i >= 0 ? ts->meta_values[i] : NULL;
}

/* IEEE half and bfloat16 to float, bit by bit (no library does this in C11). */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    float f;
    if (exp == 0)
        f = ldexpf((float)mant, -24);
    else if (exp == 31)
        f = mant ? NAN : INFINITY;
    else
        f = ldexpf((float)(mant | 0x400), (int)exp - 25);
    return sign ? -f : f;
}

float *sl_tensor_to_f32(const SlTensor *t, SlError *err)
{
    int64_t n = sl_shape_numel(t->ndim, t->shape, sizeof(float));
    if (n < 0) {
        sl_error_set(err, SL_EFORMAT, "%s: shape overflows", t->name);
        return NULL;
    }
    if ((size_t)n * sl_dtype_size(t->dtype) != t->nbytes) {
        sl_error_set(err, SL_EFORMAT, "%s: data size disagrees with shape", t->name);
        return NULL;
    }
    float *out = malloc((size_t)(n ? n : 1) * sizeof(float));
    if (!out) {
        sl_error_set(err, SL_ENOMEM, "%s: out of memory", t->name);
        return NULL;
    }
    const uint8_t *p = t->data;
    for (int64_t i = 0; i < n; i++) {
        switch (t->dtype) {
        case SL_DT_F32: memcpy(&out[i], p + 4 * i, 4); break;
        case SL_DT_F64: { double d; memcpy(&d, p + 8 * i, 8); out[i] = (float)d; break; }
        case SL_DT_F16: { uint16_t h; memcpy(&h, p + 2 * i, 2); out[i] = half_to_float(h); break; }
        case SL_DT_BF16: { uint16_t h; memcpy(&h, p + 2 * i, 2); uint32_t u = (uint32_t)h << 16; memcpy(&out[i], &u, 4); break; }
        default:
            free(out);
            sl_error_set(err, SL_EFORMAT, "%s: dtype %s is not a floating type", t->name, sl_dtype_name(t->dtype));
            return NULL;
        }
    }
    return out;
}
