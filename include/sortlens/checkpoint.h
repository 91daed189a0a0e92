/* checkpoint.h: load a model from a PyTorch (.pt ZIP) or safetensors file,
 * telling them apart by content, never by name; save as safetensors. */
#ifndef SORTLENS_CHECKPOINT_H
#define SORTLENS_CHECKPOINT_H

#include "sortlens/model.h"

/* Reads the tensors of either format; *format_out (if not NULL) receives
 * "pytorch" or "safetensors".  Messages start with the path. */
SlTensorSet *sl_ckpt_read_tensors(const char *path, const char **format_out, SlError *err);
SlModel *sl_ckpt_load(const char *path, SlError *err);
int sl_ckpt_save(const SlModel *m, const char *path, SlError *err);

#endif
