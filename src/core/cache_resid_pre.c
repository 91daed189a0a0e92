/* cache_resid_pre.c: blocks.l.hook_resid_pre from the cache (see the header). */
#include "sortlens/cache_resid_pre.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sl_cache_add_resid_pre(const SlActCache *c, SlTensorSet *ts, SlError *err)
{
    const size_t btd = (size_t)c->B * c->T * c->D;
    const int64_t shape[3] = {c->B, c->T, c->D};
    for (int l = 0; l < c->L; l++) {
        char name[64];
        snprintf(name, sizeof name, "blocks.%d.hook_resid_pre", l);
        float *x = malloc(btd * sizeof *x);
        if (!x)
            return sl_error_set(err, SL_ENOMEM, "out of memory for %s", name);
        if (l == 0)
            for (size_t i = 0; i < btd; i++)
                x[i] = c->embed[i] + c->pos_embed[i];
        else
            memcpy(x, c->resid_post + (size_t)(l - 1) * btd, btd * sizeof *x);
        if (!sl_tensorset_add_owned(ts, name, SL_DT_F32, 3, shape, x, btd * sizeof *x, err)) {
            free(x);
            return err ? err->code : SL_ENOMEM;
        }
    }
    return SL_OK;
}
