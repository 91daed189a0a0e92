/* listfile.c: lists from a file, checked whole, then read back in batches
 * from a spool of parsed values (listfile.h). */
#include "sortlens/listfile.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "sortlens/task.h"

struct SlListFile {
    SlModelConfig cfg;
    FILE *spool;          /* the parsed values, `width` bytes each, little-endian */
    int width;            /* 1 or 2 */
    long count, read;     /* lists in the spool; lists read back so far */
    unsigned char *buf;   /* [n * width] one list's bytes */
};

size_t sl_list_file_max_line(const SlModelConfig *c)
{
    /* room for every value written with generous padding (leading zeros,
     * spaces), and never less than 64 KB */
    size_t room = (size_t)c->list_len * 32 + 256;
    return room > 65536 ? room : 65536;
}

void sl_list_file_close(SlListFile *f)
{
    if (!f)
        return;
    if (f->spool)
        fclose(f->spool);
    free(f->buf);
    free(f);
}

/* Reads one line (without its newline) into line [cap]: its length, -1 at
 * the end of the file, -2 when it is longer than cap - 1 bytes, -3 when it
 * holds a NUL byte.  getc_unlocked: one reader, and it is the hot loop. */
static long read_line(FILE *in, char *line, size_t cap)
{
    size_t len = 0;
    int ch;
    bool nul = false;
    while ((ch = getc_unlocked(in)) != EOF && ch != '\n') {
        if (len + 1 >= cap)
            return -2;
        nul |= ch == 0;
        line[len++] = (char)ch;
    }
    if (ch == EOF && len == 0)
        return -1;
    line[len] = '\0';
    return nul ? -3 : (long)len;
}

static bool blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            return false;
    return true;
}

SlListFile *sl_list_file_open(const SlModelConfig *c, const char *path, SlError *err)
{
    const int n = c->list_len;
    bool is_stdin = strcmp(path, "-") == 0;
    const char *name = is_stdin ? "standard input" : path;
    size_t cap = sl_list_file_max_line(c) + 1;   /* the line and its NUL */
    SlListFile *f = calloc(1, sizeof *f);
    char *line = malloc(cap);
    int *values = malloc((size_t)n * sizeof *values);
    FILE *in = NULL;
    if (!f || !line || !values) {
        sl_error_set(err, SL_ENOMEM, "%s: out of memory for reading lists", name);
        goto fail;
    }
    f->cfg = *c;
    f->width = c->d_vocab_out <= 256 ? 1 : 2;   /* d_vocab_out <= SL_MODEL_MAX_VOCAB = 65536: two bytes hold a value */
    if (!(f->buf = malloc((size_t)n * f->width))) {
        sl_error_set(err, SL_ENOMEM, "%s: out of memory for reading lists", name);
        goto fail;
    }
    in = is_stdin ? stdin : fopen(path, "r");
    if (!in) {
        sl_error_set(err, SL_EIO, "%s: cannot open: %s", name, strerror(errno));
        goto fail;
    }
    if (!(f->spool = tmpfile())) {
        sl_error_set(err, SL_EIO, "%s: cannot make a temporary file for its lists: %s", name, strerror(errno));
        goto fail;
    }
    SlError perr = {0};
    for (long lineno = 1;; lineno++) {
        long got = read_line(in, line, cap);
        if (got == -1)
            break;
        if (got == -2) {
            sl_error_set(err, SL_EINVAL, "%s: line %ld is longer than %zu bytes", name, lineno, cap - 1);
            goto fail;
        }
        if (got == -3) {
            sl_error_set(err, SL_EINVAL, "%s: line %ld holds a NUL byte", name, lineno);
            goto fail;
        }
        size_t len = (size_t)got;
        if (len > 0 && line[len - 1] == '\r')
            line[--len] = '\0';
        if (blank(line))
            continue;
        if (sl_task_parse_list(c, line, values, &perr)) {
            sl_error_set(err, SL_EINVAL, "%s: line %ld: %s", name, lineno, perr.message);
            goto fail;
        }
        for (int i = 0; i < n; i++) {
            f->buf[(size_t)i * f->width] = (unsigned char)(values[i] & 0xff);
            if (f->width == 2)
                f->buf[(size_t)i * 2 + 1] = (unsigned char)(values[i] >> 8);
        }
        if (fwrite(f->buf, (size_t)f->width, (size_t)n, f->spool) != (size_t)n) {
            sl_error_set(err, SL_EIO, "%s: cannot write its lists to a temporary file: %s", name, strerror(errno));
            goto fail;
        }
        f->count++;
    }
    if (ferror(in)) {
        sl_error_set(err, SL_EIO, "%s: read error: %s", name, strerror(errno));
        goto fail;
    }
    if (f->count == 0) {
        sl_error_set(err, SL_EINVAL, "%s: no lists in it", name);
        goto fail;
    }
    if (!is_stdin)
        fclose(in);
    in = NULL;
    free(line);
    free(values);
    if (sl_list_file_rewind(f, err)) {
        sl_list_file_close(f);
        return NULL;
    }
    return f;
fail:
    if (in && !is_stdin)
        fclose(in);
    free(line);
    free(values);
    sl_list_file_close(f);
    return NULL;
}

long sl_list_file_count(const SlListFile *f) { return f->count; }

int sl_list_file_rewind(SlListFile *f, SlError *err)
{
    if (fflush(f->spool) != 0 || fseek(f->spool, 0, SEEK_SET) != 0)
        return sl_error_set(err, SL_EIO, "cannot read back the temporary file of lists: %s", strerror(errno));
    f->read = 0;
    return 0;
}

long sl_list_file_read(SlListFile *f, int *values, long max, SlError *err)
{
    const int n = f->cfg.list_len;
    long got = 0;
    for (; got < max && f->read < f->count; got++, f->read++) {
        if (fread(f->buf, (size_t)f->width, (size_t)n, f->spool) != (size_t)n)
            return sl_error_set(err, SL_EIO, "the temporary file of lists ended early");
        int *v = values + (size_t)got * n;
        for (int i = 0; i < n; i++)
            v[i] = f->width == 1 ? f->buf[i] : f->buf[2 * i] | f->buf[2 * i + 1] << 8;
    }
    return got;
}

long sl_list_file_read_at(const SlListFile *f, long first, int *values, long max, SlError *err)
{
    const int n = f->cfg.list_len, w = f->width;
    if (first < 0 || first >= f->count || max <= 0)
        return 0;
    long k = max < f->count - first ? max : f->count - first;
    /* The bytes are read into the room of the values themselves and widened
     * from the last one back: value i's bytes (w * i ..) lie below where
     * value i is written (4 * i ..) for every i, so none is overwritten
     * before it is read.  No buffer of its own: no state, thread-safe. */
    unsigned char *raw = (unsigned char *)values;
    size_t bytes = (size_t)k * n * w, got = 0;
    off_t at = (off_t)first * n * w;
    while (got < bytes) {
        ssize_t r = pread(fileno(f->spool), raw + got, bytes - got, at + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return sl_error_set(err, SL_EIO, "cannot read back the temporary file of lists: %s", strerror(errno));
        if (r == 0)
            return sl_error_set(err, SL_EIO, "the temporary file of lists ended early");
        got += (size_t)r;
    }
    for (size_t i = (size_t)k * n; i-- > 0;) {
        int v = w == 1 ? raw[i] : raw[2 * i] | raw[2 * i + 1] << 8;
        values[i] = v;
    }
    return k;
}
