/* listfile.h: lists read from a file, one per line in predict's syntax
 * (sl_task_parse_list), in bounded memory whatever the file's size.
 *
 * A file is taken whole or refused whole: sl_list_file_open reads it through
 * once, parsing every line and stopping at the first bad one ("PATH: line
 * N: what is wrong"), so nothing is evaluated on a file with a bad line.
 * While it checks, it writes the parsed values to an anonymous temporary
 * file (tmpfile(3), in $TMPDIR or /tmp: one byte per value when the values
 * fit in a byte, else two), and the lists are then read back from there in
 * batches.  Standard input ("-") is read only once this way, and a file
 * changed between the two reads cannot change what is evaluated.  Lines
 * holding only white space are skipped; a line longer than
 * sl_list_file_max_line() is refused. */
#ifndef SORTLENS_LISTFILE_H
#define SORTLENS_LISTFILE_H

#include <stddef.h>

#include "sortlens/model.h"

typedef struct SlListFile SlListFile;

/* Opens and checks `path` ("-": standard input) for lists of model config
 * c.  NULL and a message on failure (SL_EIO unreadable, SL_EINVAL a bad
 * line or no list at all, SL_ENOMEM). */
SlListFile *sl_list_file_open(const SlModelConfig *c, const char *path, SlError *err);
/* The number of lists in the file. */
long sl_list_file_count(const SlListFile *f);
/* The next lists, at most max of them, into values [max, n]: the number
 * read, 0 at the end, or a negative SL_E* code. */
long sl_list_file_read(SlListFile *f, int *values, long max, SlError *err);
/* Lists first.. (0 is the file's first), at most max of them, into values
 * [max, n], without moving the place sl_list_file_read reads from: the
 * number read (0 past the end) or a negative SL_E* code.  Safe to call
 * from several threads at once. */
long sl_list_file_read_at(const SlListFile *f, long first, int *values, long max, SlError *err);
/* Back to the first list. */
int sl_list_file_rewind(SlListFile *f, SlError *err);
void sl_list_file_close(SlListFile *f);   /* accepts NULL */
/* The longest line accepted for lists of c, in bytes. */
size_t sl_list_file_max_line(const SlModelConfig *c);

#endif
