/* tensor.h: named, typed, contiguous tensors as read from or written to a
 * checkpoint.  A SlTensorSet is what a file holds before it becomes a SlModel:
 * the loaders (safetensors.h, pt.h) produce one, sl_model_from_tensors()
 * validates and consumes it, sl_model_to_tensors() makes one for writing. */
#ifndef SORTLENS_TENSOR_H
#define SORTLENS_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "sortlens/error.h"

#define SL_TENSOR_MAX_DIMS 8

typedef enum {
    SL_DT_F32, SL_DT_F64, SL_DT_F16, SL_DT_BF16,
    SL_DT_I64, SL_DT_I32, SL_DT_I16, SL_DT_I8, SL_DT_U8, SL_DT_BOOL,
    SL_DT_COUNT
} SlDType;

size_t sl_dtype_size(SlDType dt);
const char *sl_dtype_name(SlDType dt);          /* safetensors spelling: "F32", "BOOL", ... */
int sl_dtype_from_name(const char *name, SlDType *out); /* 0 or SL_EFORMAT */

typedef struct SlTensor {
    char *name;
    SlDType dtype;
    int ndim;                        /* 0..SL_TENSOR_MAX_DIMS */
    int64_t shape[SL_TENSOR_MAX_DIMS];
    void *data;                      /* owned; row-major, little-endian, nbytes long */
    size_t nbytes;                   /* = numel * sl_dtype_size(dtype) */
} SlTensor;

/* Limits on __metadata__ (string -> string): no model needs more, and a
 * file's metadata is loaded whole.  sl_tensorset_set_meta refuses past them. */
#define SL_META_MAX_ENTRIES 1024
#define SL_META_MAX_BYTES (1u << 20)   /* keys and values together */

typedef struct SlTensorSet {
    SlTensor *items;
    int count, capacity;
    /* safetensors __metadata__ (string -> string), in insertion order */
    char **meta_keys;
    char **meta_values;
    int meta_count, meta_capacity;
    size_t meta_bytes;                  /* keys and values, for the limit */
    /* name -> position in items / meta_keys (name_index.c); change the
     * arrays only through these functions */
    struct SlNameIndex *name_index, *meta_index;
} SlTensorSet;

SlTensorSet *sl_tensorset_new(void);
void sl_tensorset_free(SlTensorSet *ts);   /* accepts NULL */

/* Adds a tensor; data (nbytes = numel * dtype size) is copied, or zeroed when
 * data is NULL.  Fails on a duplicate name, bad shape or overflow. */
SlTensor *sl_tensorset_add(SlTensorSet *ts, const char *name, SlDType dtype, int ndim,
                      const int64_t *shape, const void *data, SlError *err);
/* Same, but takes ownership of data (malloc'ed, nbytes long) instead of copying. */
SlTensor *sl_tensorset_add_owned(SlTensorSet *ts, const char *name, SlDType dtype, int ndim,
                            const int64_t *shape, void *data, size_t nbytes, SlError *err);
const SlTensor *sl_tensorset_find(const SlTensorSet *ts, const char *name);

/* Sets or replaces key; refuses (SL_EFORMAT) past SL_META_MAX_ENTRIES or
 * SL_META_MAX_BYTES. */
int sl_tensorset_set_meta(SlTensorSet *ts, const char *key, const char *value, SlError *err);
const char *sl_tensorset_get_meta(const SlTensorSet *ts, const char *key); /* NULL if absent */

/* numel of a shape; returns -1 on a negative dimension or overflow of int64
 * or of size_t bytes for the given element size. */
int64_t sl_shape_numel(int ndim, const int64_t *shape, size_t elem_size);

/* Converts a floating tensor (F32/F64/F16/BF16) to a new float32 array. */
float *sl_tensor_to_f32(const SlTensor *t, SlError *err);

#endif
