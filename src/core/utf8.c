/* utf8.c: the strict UTF-8 decoder (see utf8.h). */
#include "sortlens/utf8.h"

size_t sl_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp)
{
    if (n == 0)
        return 0;
    uint8_t c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if ((c & 0xe0) == 0xc0) { len = 2; v = c & 0x1f; min = 0x80; }
    else if ((c & 0xf0) == 0xe0) { len = 3; v = c & 0x0f; min = 0x800; }
    else if ((c & 0xf8) == 0xf0) { len = 4; v = c & 0x07; min = 0x10000; }
    else return 0;   /* a continuation byte alone, or 0xf8.. */
    for (size_t k = 1; k < len; k++) {
        if (k >= n || (s[k] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (s[k] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

bool sl_utf8_valid(const uint8_t *s, size_t n, bool allow_nul)
{
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t len = sl_utf8_decode(s + i, n - i, &cp);
        if (len == 0 || (cp == 0 && !allow_nul))
            return false;
        i += len;
    }
    return true;
}
