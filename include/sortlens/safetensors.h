/* safetensors.h: read and write the safetensors format
 * (8-byte little-endian header length, JSON header, raw data), validated
 * as strictly as huggingface's tensor.rs.  What is accepted and refused, and
 * why: docs/SECURITY.md. */
#ifndef SORTLENS_SAFETENSORS_H
#define SORTLENS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "sortlens/file_read.h"
#include "sortlens/tensor.h"

/* label names the source in error messages (usually the path). */
SlTensorSet *sl_safetensors_parse(const uint8_t *buf, size_t len, const char *label, SlError *err);
/* Reads the header first, checks the layout it declares against the file's
 * size, and only then reads the tensors it declares (never the whole file
 * blindly): refusing a file costs memory bounded by its header. */
SlTensorSet *sl_safetensors_read(const char *path, SlError *err);
SlTensorSet *sl_safetensors_read_file(const SlFile *f, SlError *err);
/* Writes tensors in set order with __metadata__; PyTorch's safetensors can load it. */
int sl_safetensors_write(const char *path, const SlTensorSet *ts, SlError *err);

#endif
