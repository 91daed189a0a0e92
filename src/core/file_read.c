/* file_read.c: see file_read.h. */
#include "sortlens/file_read.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *file_kind(mode_t mode)
{
    if (S_ISDIR(mode))
        return "is a directory";
    if (S_ISFIFO(mode))
        return "is a FIFO";
    if (S_ISCHR(mode))
        return "is a character device";
    if (S_ISBLK(mode))
        return "is a block device";
    if (S_ISSOCK(mode))
        return "is a socket";
    return "is of an unknown type";
}

int sl_file_open(SlFile *f, const char *path, SlError *err)
{
    f->fd = -1;
    f->size = 0;
    f->path = path;
    /* O_NONBLOCK: opening a FIFO with no writer returns at once instead of
     * waiting for one; fstat then says what the file is. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return sl_error_set(err, SL_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return sl_error_set(err, SL_EIO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return sl_error_set(err, SL_EIO, "%s: %s, not a regular file", path, file_kind(st.st_mode));
    }
    /* a regular file: reads block as usual (O_NONBLOCK means nothing to them,
     * but clear it so that nothing depends on that) */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    f->fd = fd;
    f->size = (uint64_t)st.st_size;
    return 0;
}

int sl_file_read_at(const SlFile *f, uint64_t off, void *buf, size_t n, SlError *err)
{
    uint8_t *p = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(f->fd, p + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return sl_error_set(err, SL_EIO, "%s: read failed: %s", f->path, strerror(errno));
        if (r == 0)
            return sl_error_set(err, SL_EIO, "%s: the file ended at byte %llu, before the %zu bytes at %llu it declares "
                                "(did it shrink while being read?)", f->path, (unsigned long long)(off + got), n,
                                (unsigned long long)off);
        got += (size_t)r;
    }
    return 0;
}

void sl_file_close(SlFile *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
}
