/* safetensors.h: read and write the safetensors format
 * (8-byte little-endian header length, JSON header, raw data), validated
 * as strictly as huggingface's tensor.rs.  See HARDENING notes in the tests. */
#ifndef SORTLENS_SAFETENSORS_H
#define SORTLENS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "sortlens/tensor.h"

/* label names the source in error messages (usually the path). */
TensorSet *safetensors_parse(const uint8_t *buf, size_t len, const char *label, SlError *err);
TensorSet *safetensors_read(const char *path, SlError *err);
/* Writes tensors in set order with __metadata__; PyTorch's safetensors can load it. */
int safetensors_write(const char *path, const TensorSet *ts, SlError *err);

#endif
