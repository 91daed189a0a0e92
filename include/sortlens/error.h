/* error.h: how the core library reports failure.
 *
 * The core never prints or exits.  A function that can fail returns 0 on
 * success or a negative SL_E* code (constructors return NULL) and, when the
 * caller passed a non-NULL SlError, fills it with one line that names the
 * thing at fault and what is wrong, e.g.
 *   "model.pt: embed.W_E has 26 rows; unembed.W_U implies 52".
 * The CLI and the TUI print it as "sortlens: <message>".
 */
#ifndef SORTLENS_ERROR_H
#define SORTLENS_ERROR_H

#include <stddef.h>

enum {
    SL_OK = 0,
    SL_EIO = -1,      /* cannot open / read / write a file */
    SL_EFORMAT = -2,  /* a file is malformed or an invalid model: runtime failure, exit 1 */
    SL_EINVAL = -3,   /* bad user input (a list, an option value): exit 2 */
    SL_ENOMEM = -4,   /* allocation failed */
    SL_EINTR = -5,    /* stopped on request (Ctrl-C during training) */
};

#define SL_ERROR_MAX 512

typedef struct SlError {
    int code;                    /* the SL_E* code of the last failure */
    char message[SL_ERROR_MAX];  /* one line, no trailing newline */
} SlError;

/* Fills err (if not NULL) with code and a printf-style message; returns code
 * so that `return sl_error_set(err, SL_EFORMAT, "...")` reads naturally. */
int sl_error_set(SlError *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to an existing message (e.g. the file name). */
void sl_error_prefix(SlError *err, const char *prefix);

#endif
