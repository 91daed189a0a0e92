/* checkpoint.c: pick the reader by content (a ZIP starts with "PK\3\4"; a
 * safetensors file with an 8-byte header length and '{'), load, save. */
#include "sortlens/checkpoint.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sortlens/file_read.h"
#include "sortlens/pt.h"
#include "sortlens/safetensors.h"

SlTensorSet *sl_ckpt_read_tensors(const char *path, const char **format_out, SlError *err)
{
    unsigned char magic[16] = {0};
    SlFile f;
    if (sl_file_open(&f, path, err))
        return NULL;   /* which says what a FIFO, a directory or a device is */
    size_t got = f.size < sizeof magic ? (size_t)f.size : sizeof magic;
    SlTensorSet *ts = NULL;
    if (sl_file_read_at(&f, 0, magic, got, err))
        goto done;
    if (got >= 4 && memcmp(magic, "PK\3\4", 4) == 0) {
        if (format_out)
            *format_out = "pytorch";
        ts = sl_pt_read_file(&f, err);
    } else if (sl_pt_is_legacy(magic, got)) {
        ts = sl_pt_read_file(&f, err);   /* which says what the file is */
    } else if (got >= 9 && magic[8] == '{') {
        if (format_out)
            *format_out = "safetensors";
        ts = sl_safetensors_read_file(&f, err);
    } else if (got == 0) {
        sl_error_set(err, SL_EFORMAT, "%s: the file is empty", path);
    } else {
        sl_error_set(err, SL_EFORMAT, "%s: neither a PyTorch checkpoint (ZIP) nor a safetensors file", path);
    }
done:
    sl_file_close(&f);
    return ts;
}

SlModel *sl_ckpt_load(const char *path, SlError *err)
{
    const char *format = NULL;
    SlTensorSet *ts = sl_ckpt_read_tensors(path, &format, err);
    if (!ts)
        return NULL;
    SlModel *m = sl_model_from_tensors(ts, path, err);
    sl_tensorset_free(ts);
    if (m)
        snprintf(m->format, sizeof m->format, "%s", format);
    return m;
}

int sl_ckpt_save(const SlModel *m, const char *path, SlError *err)
{
    SlTensorSet *ts = sl_model_to_tensors(m, err);
    if (!ts)
        return err ? err->code : SL_ENOMEM;
    int rc = sl_safetensors_write(path, ts, err);
    sl_tensorset_free(ts);
    return rc;
}
