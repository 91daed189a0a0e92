/* reference.h: PyTorch's tensors for the seed model
 * (../shared/reference/reference.safetensors, made by the reference script)
 * and the comparisons the parity tests make against them. */
#ifndef SORTLENS_TEST_REFERENCE_H
#define SORTLENS_TEST_REFERENCE_H

#include <stdbool.h>
#include <stddef.h>

#include "sortlens/tensor.h"

/* Print each comparison's worst error (the PyTorch parity figures); set by
 * ref_load. */
extern bool ref_report_errors;

/* |got - want| <= tol * max|want| over every entry; infinities must match
 * exactly (masked scores are -inf in PyTorch and here). */
void expect_close_f(const char *what, const float *got, const float *want, size_t n, double tol);
void expect_close_d(const char *what, const float *got, const double *want, size_t n, double tol);

/* The reference tensors, or NULL (saying the test skips) without them. */
SlTensorSet *ref_load(void);
/* A reference tensor as floats (F32) or ints (I64, malloc'ed), with its
 * element count. */
const float *ref_f32(const SlTensorSet *ts, const char *name, size_t *count);
int *ref_ints(const SlTensorSet *ts, const char *name, size_t *count);

/* The activations the reference holds for its first 4 lists, as
 * cache4.NAME (short TransformerLens names; attn.* and the block's outputs
 * are layer 0's). */
enum { REF_CACHE4_COUNT = 11 };
extern const char *const ref_cache4_names[REF_CACHE4_COUNT];

#endif
