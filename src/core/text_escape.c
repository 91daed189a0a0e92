/* text_escape.c: escaping untrusted text for terminals and text output
 * (the rules are in text_escape.h). */
#include "sortlens/text_escape.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sortlens/utf8.h"

/* Valid characters that are shown as \uXXXX: C1 controls, and the format
 * characters that reorder text (bidi marks, embeddings, overrides,
 * isolates) or end a line in some terminals. */
static bool escaped_code_point(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c || cp == 0x200e || cp == 0x200f ||
           (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/* The escape (or the bytes themselves) for what starts at s; *used is how
 * many input bytes it stands for.  Returns the length of buf's text. */
static size_t escape_one(const uint8_t *s, size_t n, char buf[8], size_t *used)
{
    uint32_t cp = 0;
    size_t len = sl_utf8_decode(s, n, &cp);
    if (len == 0) {   /* not UTF-8: the byte itself, in hex */
        *used = 1;
        return (size_t)snprintf(buf, 8, "\\x%02x", s[0]);
    }
    *used = len;
    if (len == 1) {
        switch (cp) {
        case '\\': memcpy(buf, "\\\\", 2); return 2;
        case '\n': memcpy(buf, "\\n", 2); return 2;
        case '\r': memcpy(buf, "\\r", 2); return 2;
        case '\t': memcpy(buf, "\\t", 2); return 2;
        default:
            if (cp < 0x20 || cp == 0x7f)
                return (size_t)snprintf(buf, 8, "\\x%02x", (unsigned)cp);
            buf[0] = (char)cp;
            return 1;
        }
    }
    if (escaped_code_point(cp))
        return (size_t)snprintf(buf, 8, "\\u%04x", (unsigned)cp);
    memcpy(buf, s, len);
    return len;
}

size_t sl_text_escape(const char *s, size_t n, char *out, size_t outsize)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t o = 0;
    if (outsize == 0)
        return 0;
    for (size_t i = 0; i < n;) {
        char buf[8];
        size_t used, k = escape_one(p + i, n - i, buf, &used);
        if (o + k + 1 > outsize)
            break;
        memcpy(out + o, buf, k);
        o += k;
        i += used;
    }
    out[o] = '\0';
    return o;
}

char *sl_text_escape_dup(const char *s)
{
    size_t n = strlen(s);
    /* \xNN is the widest escape per input byte (4:1); \uXXXX is 6 for 2 */
    if (n > (SIZE_MAX - 1) / 4)
        return NULL;
    char *out = malloc(4 * n + 1);
    if (out)
        sl_text_escape(s, n, out, 4 * n + 1);
    return out;
}
