/* parse_int.c: the one integer parser (see parse_int.h). strtol is not used:
 * it skips leading space, takes '+', and clamps on overflow, so "99999999999999999999"
 * and " -5" would come back as other numbers. */
#include "sortlens/parse_int.h"

#include <stdbool.h>
#include <string.h>

/* The magnitude of text[0..len-1] as sign and digits; *huge is set when it does
 * not fit in 64 bits (then only "outside the range" can be said of it). */
static bool scan(const char *text, size_t len, bool *negative, uint64_t *magnitude, bool *huge)
{
    size_t i = 0;
    *negative = false;
    *magnitude = 0;
    *huge = false;
    if (i < len && text[i] == '-') {
        *negative = true;
        i++;
    }
    if (i == len)
        return false;
    for (; i < len; i++) {
        unsigned d = (unsigned char)text[i] - '0';
        if (d > 9)
            return false;
        if (*magnitude > (UINT64_MAX - d) / 10)
            *huge = true;
        else
            *magnitude = *magnitude * 10 + d;
    }
    return true;
}

/* At most 48 characters of what was typed, for messages. */
static int shown(size_t len) { return len > 48 ? 48 : (int)len; }

static int not_integer(const char *text, size_t len, SlError *err)
{
    return sl_error_set(err, SL_EINVAL, "'%.*s%s' is not an integer", shown(len), text, len > 48 ? "..." : "");
}

int sl_parse_i64_span(const char *text, size_t len, int64_t min, int64_t max, int64_t *out, SlError *err)
{
    bool negative, huge;
    uint64_t mag;
    if (!scan(text, len, &negative, &mag, &huge))
        return not_integer(text, len, err);
    /* -2^63 is the one magnitude that fits only negative */
    bool fits = !huge && (negative ? mag <= (uint64_t)INT64_MAX + 1 : mag <= (uint64_t)INT64_MAX);
    int64_t v = 0;
    if (fits)
        v = negative ? (mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
    if (!fits || v < min || v > max)
        return sl_error_set(err, SL_EINVAL, "%.*s%s is outside %lld..%lld", shown(len), text, len > 48 ? "..." : "",
                            (long long)min, (long long)max);
    *out = v;
    return SL_OK;
}

int sl_parse_i64(const char *text, int64_t min, int64_t max, int64_t *out, SlError *err)
{
    return sl_parse_i64_span(text, strlen(text), min, max, out, err);
}

int sl_parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out, SlError *err)
{
    size_t len = strlen(text);
    bool negative, huge;
    uint64_t mag;
    if (!scan(text, len, &negative, &mag, &huge))
        return not_integer(text, len, err);
    if (huge || (negative && mag != 0) || mag < min || mag > max)
        return sl_error_set(err, SL_EINVAL, "%.*s%s is outside %llu..%llu", shown(len), text, len > 48 ? "..." : "",
                            (unsigned long long)min, (unsigned long long)max);
    *out = mag;
    return SL_OK;
}
