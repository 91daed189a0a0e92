/* pt.h: read torch.save(state_dict) checkpoints (ZIP + pickle) without ever
 * executing code: libzip reads the archive, a small allowlisted pickle
 * interpreter builds inert values, and only after validation are storages
 * read into tensors. */
#ifndef SORTLENS_PT_H
#define SORTLENS_PT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sortlens/file_read.h"
#include "sortlens/tensor.h"

SlTensorSet *sl_pt_parse(const uint8_t *buf, size_t len, const char *label, SlError *err);
/* Reads the ZIP's directory and then only the entries the pickle declares,
 * each size checked against the file's before anything is allocated. */
SlTensorSet *sl_pt_read(const char *path, SlError *err);
SlTensorSet *sl_pt_read_file(const SlFile *f, SlError *err);
/* Does buf start like a pre-1.6 torch.save file (a bare pickle, not a ZIP)? */
bool sl_pt_is_legacy(const uint8_t *buf, size_t len);

#endif
