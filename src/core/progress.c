/* progress.c: one part's progress reported as the whole's (see progress.h). */
#include "sortlens/progress.h"

void sl_progress_part(void *part, long done, long total)
{
    SlProgressPart *p = part;
    (void)total;   /* the part's own total; the whole's is p->total */
    p->fn(p->ctx, p->offset + done, p->total);
}
