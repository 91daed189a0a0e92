#include "sortlens/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Messages quote names taken from untrusted files (ZIP entries, pickle
 * strings, JSON keys).  A newline would break the one-line rule and an ESC
 * could drive the user's terminal when the message is printed, so every
 * ASCII control character becomes '?'. */
static void scrub(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

int sl_error_set(SlError *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        scrub(err->message);
    }
    return code;
}

void sl_error_prefix(SlError *err, const char *prefix)
{
    if (!err || !prefix)
        return;
    char old[SL_ERROR_MAX];
    memcpy(old, err->message, sizeof old);
    size_t plen = strnlen(prefix, SL_ERROR_MAX - 3);
    memcpy(err->message, prefix, plen);
    memcpy(err->message + plen, ": ", 2);
    /* keep as much of the old message as fits */
    size_t room = SL_ERROR_MAX - plen - 3;
    size_t olen = strnlen(old, room);
    memcpy(err->message + plen + 2, old, olen);
    err->message[plen + 2 + olen] = '\0';
    scrub(err->message);
}
