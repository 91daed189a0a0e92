/* atomic_write.c: the one file writer (see atomic_write.h). */
#define _GNU_SOURCE   /* O_TMPFILE, linkat */
#include "sortlens/atomic_write.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct SlAtomicFile {
    const char *shown;     /* the path as the caller gave it, for messages (borrowed) */
    char *target;          /* where the file goes, links followed */
    char *dir;             /* target's directory */
    char *tmp;             /* the mkstemp name, or NULL (O_TMPFILE, or written through) */
    int fd;
    bool through;          /* a device or FIFO, written in place */
};

/* Where PATH leads: target (malloc'd; links followed) and what it is. */
typedef enum { DEST_NEW, DEST_REGULAR, DEST_THROUGH } DestKind;

static const char *kind_name(mode_t m)
{
    return S_ISDIR(m) ? "a directory" : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

static int resolve(const char *path, char **target, DestKind *kind, SlError *err)
{
    struct stat st;
    *target = NULL;
    if (!*path)
        return sl_error_set(err, SL_EINVAL, "the output path is empty");
    if (lstat(path, &st) != 0) {
        if (errno != ENOENT)
            return sl_error_set(err, SL_EIO, "%s: %s", path, strerror(errno));
        *kind = DEST_NEW;
        *target = strdup(path);
        return *target ? SL_OK : sl_error_set(err, SL_ENOMEM, "%s: out of memory", path);
    }
    if (S_ISLNK(st.st_mode)) {
        *target = realpath(path, NULL);
        if (!*target)
            return sl_error_set(err, SL_EIO, "%s: a symbolic link to nothing (%s); remove it or give another path", path,
                                strerror(errno));
        if (stat(*target, &st) != 0) {
            int e = errno;
            free(*target);
            *target = NULL;
            return sl_error_set(err, SL_EIO, "%s: %s", path, strerror(e));
        }
    } else {
        *target = strdup(path);
        if (!*target)
            return sl_error_set(err, SL_ENOMEM, "%s: out of memory", path);
    }
    if (S_ISREG(st.st_mode)) {
        *kind = DEST_REGULAR;
    } else if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)) {
        *kind = DEST_THROUGH;
    } else {
        free(*target);
        *target = NULL;
        return sl_error_set(err, SL_EIO, "%s: is %s, not a file sortlens can write", path, kind_name(st.st_mode));
    }
    return SL_OK;
}

/* The directory part of path ("." when it has none). */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

static void fsync_dir(const char *dir)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);   /* the rename is durable once the directory is; a failure here loses nothing */
        close(dfd);
    }
}

/* Opens a temporary file in dir: unnamed when the file system allows. */
static int open_temp(SlAtomicFile *f, SlError *err)
{
#ifdef O_TMPFILE
    f->fd = open(f->dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
    if (f->fd >= 0)
        return SL_OK;
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL && errno != ENOENT)
        return sl_error_set(err, SL_EIO, "%s: cannot create a file in %s: %s", f->shown, f->dir, strerror(errno));
#endif
    size_t len = strlen(f->target) + 16;
    if (!(f->tmp = malloc(len)))
        return sl_error_set(err, SL_ENOMEM, "%s: out of memory", f->shown);
    snprintf(f->tmp, len, "%s.tmpXXXXXX", f->target);
    f->fd = mkostemp(f->tmp, O_CLOEXEC);
    if (f->fd < 0) {
        int e = errno;
        free(f->tmp);
        f->tmp = NULL;
        return sl_error_set(err, SL_EIO, "%s: cannot create a file in %s: %s", f->shown, f->dir, strerror(e));
    }
    /* mkstemp makes the file 0600; give it the usual mode. */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(f->fd, 0666 & ~mask);
    return SL_OK;
}

int sl_atomic_check(const char *path, bool *exists, SlError *err)
{
    char *target;
    DestKind kind;
    if (exists)
        *exists = false;
    int rc = resolve(path, &target, &kind, err);
    if (rc)
        return rc;
    if (kind == DEST_THROUGH) {
        if (access(target, W_OK) != 0)
            rc = sl_error_set(err, SL_EIO, "%s: cannot write: %s", path, strerror(errno));
        free(target);
        return rc;
    }
    if (exists)
        *exists = kind == DEST_REGULAR;
    /* Try it: only creating a file tells a read-only file system, a missing
     * directory or a missing permission apart from a writable one (root
     * passes access() everywhere). */
    SlAtomicFile probe = {.shown = path, .target = target, .dir = dir_of(target), .fd = -1};
    if (!probe.dir)
        rc = sl_error_set(err, SL_ENOMEM, "%s: out of memory", path);
    else if (!(rc = open_temp(&probe, err)))
        close(probe.fd);
    if (probe.tmp)
        unlink(probe.tmp);
    free(probe.tmp);
    free(probe.dir);
    free(target);
    return rc;
}

bool sl_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

SlAtomicFile *sl_atomic_open(const char *path, SlError *err)
{
    SlAtomicFile *f = calloc(1, sizeof *f);
    if (!f) {
        sl_error_set(err, SL_ENOMEM, "%s: out of memory", path);
        return NULL;
    }
    f->shown = path;
    f->fd = -1;
    DestKind kind;
    if (resolve(path, &f->target, &kind, err))
        goto fail;
    if (kind == DEST_THROUGH) {
        f->through = true;
        f->fd = open(f->target, O_WRONLY | O_NOCTTY | O_CLOEXEC);
        if (f->fd < 0) {
            sl_error_set(err, SL_EIO, "%s: cannot open: %s", path, strerror(errno));
            goto fail;
        }
        return f;
    }
    if (!(f->dir = dir_of(f->target))) {
        sl_error_set(err, SL_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    if (open_temp(f, err))
        goto fail;
    return f;
fail:
    sl_atomic_abort(f);
    return NULL;
}

int sl_atomic_write(SlAtomicFile *f, const void *data, size_t n, SlError *err)
{
    const unsigned char *p = data;
    while (n) {
        ssize_t w = write(f->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return sl_error_set(err, SL_EIO, "%s: write failed: %s", f->shown, w < 0 ? strerror(errno) : "no progress");
        p += w;
        n -= (size_t)w;
    }
    return SL_OK;
}

/* Gives the unnamed O_TMPFILE file a unique name beside the target. */
static int link_temp(SlAtomicFile *f, SlError *err)
{
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", f->fd);
    size_t len = strlen(f->target) + 32;
    if (!(f->tmp = malloc(len)))
        return sl_error_set(err, SL_ENOMEM, "%s: out of memory", f->shown);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t r = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
    for (int attempt = 0; attempt < 100; attempt++, r = r * 6364136223846793005ULL + 1442695040888963407ULL) {
        snprintf(f->tmp, len, "%s.tmp%06llx", f->target, (unsigned long long)(r >> 40));
        if (linkat(AT_FDCWD, proc, AT_FDCWD, f->tmp, AT_SYMLINK_FOLLOW) == 0)
            return SL_OK;
        if (errno != EEXIST)
            break;
    }
    int e = errno;
    free(f->tmp);
    f->tmp = NULL;
    return sl_error_set(err, SL_EIO, "%s: cannot name the new file in %s: %s", f->shown, f->dir, strerror(e));
}

int sl_atomic_commit(SlAtomicFile *f, SlError *err)
{
    int rc = SL_OK;
    if (f->through) {
        if (close(f->fd) != 0)
            rc = sl_error_set(err, SL_EIO, "%s: write failed: %s", f->shown, strerror(errno));
        f->fd = -1;
        sl_atomic_abort(f);
        return rc;
    }
    if (fsync(f->fd) != 0) {
        rc = sl_error_set(err, SL_EIO, "%s: write failed: %s", f->shown, strerror(errno));
        goto out;
    }
    if (!f->tmp && (rc = link_temp(f, err)))
        goto out;
    if (close(f->fd) != 0) {
        f->fd = -1;
        rc = sl_error_set(err, SL_EIO, "%s: write failed: %s", f->shown, strerror(errno));
        goto out;
    }
    f->fd = -1;
    if (rename(f->tmp, f->target) != 0) {
        rc = sl_error_set(err, SL_EIO, "%s: cannot put the new file in place: %s", f->shown, strerror(errno));
        goto out;
    }
    free(f->tmp);
    f->tmp = NULL;   /* in place: nothing to remove */
    fsync_dir(f->dir);
out:
    sl_atomic_abort(f);
    return rc;
}

int sl_atomic_commit_new(SlAtomicFile *f, SlError *err)
{
    int rc = SL_OK;
    if (f->through) {   /* a device or FIFO was made at PATH since the open: not a new file */
        sl_atomic_abort(f);
        return 1;
    }
    if (fsync(f->fd) != 0) {
        rc = sl_error_set(err, SL_EIO, "%s: write failed: %s", f->shown, strerror(errno));
        goto out;
    }
    int linked;
    if (f->tmp) {
        linked = link(f->tmp, f->target);
    } else {
        char proc[64];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", f->fd);
        linked = linkat(AT_FDCWD, proc, AT_FDCWD, f->target, AT_SYMLINK_FOLLOW);
    }
    if (linked != 0) {
        rc = errno == EEXIST ? 1 : sl_error_set(err, SL_EIO, "%s: cannot put the new file in place: %s", f->shown,
                                                 strerror(errno));
        goto out;
    }
    if (close(f->fd) != 0) {
        int e = errno;
        f->fd = -1;
        unlink(f->target);   /* ours, just linked: a file whose last bytes may be lost is not kept */
        rc = sl_error_set(err, SL_EIO, "%s: write failed: %s", f->shown, strerror(e));
        goto out;
    }
    f->fd = -1;
    fsync_dir(f->dir);
out:
    sl_atomic_abort(f);   /* removes the mkstemp name, which the link left beside PATH */
    return rc;
}

void sl_atomic_abort(SlAtomicFile *f)
{
    if (!f)
        return;
    if (f->fd >= 0)
        close(f->fd);
    if (f->tmp)
        unlink(f->tmp);
    free(f->tmp);
    free(f->dir);
    free(f->target);
    free(f);
}
