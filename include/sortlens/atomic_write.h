/* atomic_write.h: the one way sortlens writes a file (models, caches), so
 * that a reader of PATH sees the old file or the whole new one, and never a
 * half-written one, and so that nothing that is not a regular file is ever
 * replaced.
 *
 * What PATH is decides how it is written:
 *   - missing, or a regular file: the bytes go to an unnamed file in PATH's
 *     directory (O_TMPFILE; where the file system lacks it, a unique mkstemp
 *     name beside PATH), which is fsynced, given a unique name, renamed over
 *     PATH, and the directory fsynced.  Every failure removes the temporary
 *     file; with O_TMPFILE even kill -9 leaves nothing behind.
 *   - a character device or a FIFO (/dev/null, /dev/stdout, a named pipe):
 *     written through, in place; never renamed over.
 *   - a symbolic link is followed: the file it names is written as above and
 *     the link stays (as the shell's `>` does).  A link to nothing is refused.
 *   - a directory, a block device or a socket is refused.
 * sl_atomic_commit_new puts a new file in place without replacing anything
 * (the explorer's `S`).  Messages name PATH as the caller gave it. */
#ifndef SORTLENS_ATOMIC_WRITE_H
#define SORTLENS_ATOMIC_WRITE_H

#include <stdbool.h>
#include <stddef.h>

#include "sortlens/error.h"

typedef struct SlAtomicFile SlAtomicFile;

/* Checks, before any work is done, that PATH can be written as above (its
 * directory exists and takes a new file, or it is a device or FIFO we may
 * write to).  *exists (may be NULL) is set when PATH is (or links to) an
 * existing regular file, which a caller may refuse to overwrite. */
int sl_atomic_check(const char *path, bool *exists, SlError *err);
/* True when a and b name the same existing file (after links). */
bool sl_same_file(const char *a, const char *b);

SlAtomicFile *sl_atomic_open(const char *path, SlError *err);
int sl_atomic_write(SlAtomicFile *f, const void *data, size_t n, SlError *err);
/* Puts the file in place and frees f (also on failure, having removed the
 * temporary file). */
int sl_atomic_commit(SlAtomicFile *f, SlError *err);
/* The same, but only where nothing is at PATH yet: the name is taken with
 * link(), which never replaces anything (a file, a link, a device made there
 * since the open).  Returns 1 when something is there (f freed, nothing
 * left), for a caller that tries the next name; 0 in place; < 0 an error. */
int sl_atomic_commit_new(SlAtomicFile *f, SlError *err);
/* Removes the temporary file and frees f; NULL is allowed. */
void sl_atomic_abort(SlAtomicFile *f);

#endif
