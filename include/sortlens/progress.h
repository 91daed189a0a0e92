/* progress.h: how long work reports how far it has come, and how one part
 * of a longer piece of work reports its progress as the whole's. */
#ifndef SORTLENS_PROGRESS_H
#define SORTLENS_PROGRESS_H

/* Called now and then with done out of total units of work. */
typedef void (*SlProgressFn)(void *ctx, long done, long total);

/* One part of a longer piece of work: the part's done becomes offset + done
 * out of the whole's total, reported to fn(ctx, ...).  Pass
 * sl_progress_part as the part's SlProgressFn and the SlProgressPart as its
 * ctx; move offset on between parts. */
typedef struct SlProgressPart {
    SlProgressFn fn;
    void *ctx;
    long offset, total;
} SlProgressPart;

void sl_progress_part(void *part, long done, long total);

#endif
