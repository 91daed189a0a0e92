/* checkpoint.c: pick the reader by content (a ZIP starts with "PK\3\4"; a
 * safetensors file with an 8-byte header length and '{'), load, save. */
#include "sortlens/checkpoint.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sortlens/pt.h"
#include "sortlens/safetensors.h"

TensorSet *ckpt_read_tensors(const char *path, const char **format_out, SlError *err)
{
    unsigned char magic[16] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) {
        sl_error_set(err, SL_EIO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t got = fread(magic, 1, sizeof magic, f);
    fclose(f);
    if (got >= 4 && memcmp(magic, "PK\3\4", 4) == 0) {
        if (format_out)
            *format_out = "pytorch";
        return pt_read(path, err);
    }
    if (pt_is_legacy(magic, got))
        return pt_read(path, err);   /* which says what the file is */
    if (got >= 9 && magic[8] == '{') {
        if (format_out)
            *format_out = "safetensors";
        return safetensors_read(path, err);
    }
    if (got == 0)
        sl_error_set(err, SL_EFORMAT, "%s: the file is empty", path);
    else
        sl_error_set(err, SL_EFORMAT, "%s: neither a PyTorch checkpoint (ZIP) nor a safetensors file", path);
    return NULL;
}

Model *ckpt_load(const char *path, SlError *err)
{
    const char *format = NULL;
    TensorSet *ts = ckpt_read_tensors(path, &format, err);
    if (!ts)
        return NULL;
    Model *m = model_from_tensors(ts, path, err);
    tensorset_free(ts);
    if (m)
        snprintf(m->format, sizeof m->format, "%s", format);
    return m;
}

int ckpt_save(const Model *m, const char *path, SlError *err)
{
    TensorSet *ts = model_to_tensors(m, err);
    if (!ts)
        return err ? err->code : SL_ENOMEM;
    int rc = safetensors_write(path, ts, err);
    tensorset_free(ts);
    return rc;
}
