/* file_read.h: opening and reading the files a user names (checkpoints),
 * which may be anything: a FIFO with no writer (a blocking open would hang
 * forever), a directory, a device, a file that shrinks while it is read.
 *
 * The loaders never read a whole file blindly: they open it here, read the
 * part that declares the layout (a safetensors header, a ZIP's central
 * directory), check the declared sizes against the file's size, and only
 * then read what was declared (docs/SECURITY.md). */
#ifndef SORTLENS_FILE_READ_H
#define SORTLENS_FILE_READ_H

#include <stddef.h>
#include <stdint.h>

#include "sortlens/error.h"

typedef struct SlFile {
    int fd;
    uint64_t size;      /* from fstat at open */
    const char *path;   /* borrowed; names the file in messages */
} SlFile;

/* Opens path read-only without blocking and refuses anything but a regular
 * file with a message that says what it is: "PATH: is a directory", "is a
 * FIFO", "is a character device", "is a block device", "is a socket". */
int sl_file_open(SlFile *f, const char *path, SlError *err);

/* Reads exactly n bytes at offset off (SL_EIO with a message otherwise,
 * e.g. when the file shrank since it was opened). */
int sl_file_read_at(const SlFile *f, uint64_t off, void *buf, size_t n, SlError *err);

void sl_file_close(SlFile *f);   /* accepts a closed or zeroed-then-failed SlFile */

#endif
