/* tensor.h: named, typed, contiguous tensors as read from or written to a
 * checkpoint.  A TensorSet is what a file holds before it becomes a Model:
 * the loaders (safetensors.h, pt.h) produce one, model_from_tensors()
 * validates and consumes it, model_to_tensors() makes one for writing. */
#ifndef SORTLENS_TENSOR_H
#define SORTLENS_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "sortlens/error.h"

#define TENSOR_MAX_DIMS 8

typedef enum {
    DT_F32, DT_F64, DT_F16, DT_BF16,
    DT_I64, DT_I32, DT_I16, DT_I8, DT_U8, DT_BOOL,
    DT_COUNT
} DType;

size_t dtype_size(DType dt);
const char *dtype_name(DType dt);          /* safetensors spelling: "F32", "BOOL", ... */
int dtype_from_name(const char *name, DType *out); /* 0 or SL_EFORMAT */

typedef struct Tensor {
    char *name;
    DType dtype;
    int ndim;                        /* 0..TENSOR_MAX_DIMS */
    int64_t shape[TENSOR_MAX_DIMS];
    void *data;                      /* owned; row-major, little-endian, nbytes long */
    size_t nbytes;                   /* = numel * dtype_size(dtype) */
} Tensor;

/* Limits on __metadata__ (string -> string): no model needs more, and a
 * file's metadata is loaded whole.  tensorset_set_meta refuses past them. */
#define SL_META_MAX_ENTRIES 1024
#define SL_META_MAX_BYTES (1u << 20)   /* keys and values together */

typedef struct TensorSet {
    Tensor *items;
    int count, capacity;
    /* safetensors __metadata__ (string -> string), in insertion order */
    char **meta_keys;
    char **meta_values;
    int meta_count, meta_capacity;
    size_t meta_bytes;                  /* keys and values, for the limit */
    /* name -> position in items / meta_keys (name_index.c); change the
     * arrays only through these functions */
    struct SlNameIndex *name_index, *meta_index;
} TensorSet;

TensorSet *tensorset_new(void);
void tensorset_free(TensorSet *ts);   /* accepts NULL */

/* Adds a tensor; data (nbytes = numel * dtype size) is copied, or zeroed when
 * data is NULL.  Fails on a duplicate name, bad shape or overflow. */
Tensor *tensorset_add(TensorSet *ts, const char *name, DType dtype, int ndim,
                      const int64_t *shape, const void *data, SlError *err);
/* Same, but takes ownership of data (malloc'ed, nbytes long) instead of copying. */
Tensor *tensorset_add_owned(TensorSet *ts, const char *name, DType dtype, int ndim,
                            const int64_t *shape, void *data, size_t nbytes, SlError *err);
const Tensor *tensorset_find(const TensorSet *ts, const char *name);

/* Sets or replaces key; refuses (SL_EFORMAT) past SL_META_MAX_ENTRIES or
 * SL_META_MAX_BYTES. */
int tensorset_set_meta(TensorSet *ts, const char *key, const char *value, SlError *err);
const char *tensorset_get_meta(const TensorSet *ts, const char *key); /* NULL if absent */

/* numel of a shape; returns -1 on a negative dimension or overflow of int64
 * or of size_t bytes for the given element size. */
int64_t shape_numel(int ndim, const int64_t *shape, size_t elem_size);

/* Converts a floating tensor (F32/F64/F16/BF16) to a new float32 array. */
float *tensor_to_f32(const Tensor *t, SlError *err);

#endif
