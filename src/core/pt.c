/* pt.c: to be written (loader helper). */
#include "sortlens/pt.h"

TensorSet *pt_parse(const uint8_t *buf, size_t len, const char *label, SlError *err)
{
    (void)buf; (void)len;
    sl_error_set(err, SL_EFORMAT, "%s: PyTorch reader not written yet", label);
    return NULL;
}
TensorSet *pt_read(const char *path, SlError *err) { return pt_parse(NULL, 0, path, err); }
