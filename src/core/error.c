#include "sortlens/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sortlens/text_escape.h"

/* Messages quote names taken from untrusted files (ZIP entries, pickle
 * strings, JSON keys).  A newline would break the one-line rule and an ESC
 * or a CSI could drive the user's terminal when the message is printed, so
 * every message is escaped as all untrusted text is (text_escape.h) once,
 * here, after formatting.  Callers pass names raw, never escaped twice. */
int sl_error_set(SlError *err, int code, const char *fmt, ...)
{
    if (err) {
        char raw[SL_ERROR_MAX];
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(raw, sizeof raw, fmt, ap);
        va_end(ap);
        sl_text_escape(raw, strlen(raw), err->message, sizeof err->message);
    }
    return code;
}

void sl_error_prefix(SlError *err, const char *prefix)
{
    if (!err || !prefix)
        return;
    /* the old message is escaped already; only the prefix is new */
    char old[SL_ERROR_MAX];
    memcpy(old, err->message, sizeof old);
    size_t plen = sl_text_escape(prefix, strlen(prefix), err->message, SL_ERROR_MAX - 2);
    memcpy(err->message + plen, ": ", 2);
    /* keep as much of the old message as fits */
    size_t room = SL_ERROR_MAX - plen - 3;
    size_t olen = strnlen(old, room);
    memcpy(err->message + plen + 2, old, olen);
    err->message[plen + 2 + olen] = '\0';
}
