#include "sortlens/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int sl_error_set(SlError *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
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
}
