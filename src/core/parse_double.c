/* parse_double.c: the one decimal parser (see parse_double.h).  The text is
 * checked against the grammar first, because strtod alone skips leading
 * space, takes '+', hexadecimal, "nan" and "inf", and reads the locale's
 * decimal point; strtod_l in the "C" locale then converts it (correctly
 * rounded, which a hand-written conversion would not be). */
#define _GNU_SOURCE   /* strtod_l, newlocale */
#include "sortlens/parse_double.h"

#include <errno.h>
#include <locale.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* At most 48 characters of what was typed, for messages (as parse_int.c). */
static int shown(size_t len) { return len > 48 ? 48 : (int)len; }

static size_t digits(const char *s)
{
    size_t n = 0;
    while (s[n] >= '0' && s[n] <= '9')
        n++;
    return n;
}

/* -?(D+(.D*)?|.D+)([eE][+-]?D+)?, the whole text. */
static bool well_formed(const char *s)
{
    if (*s == '-')
        s++;
    size_t whole = digits(s);
    s += whole;
    size_t frac = 0;
    if (*s == '.') {
        s++;
        frac = digits(s);
        s += frac;
    }
    if (whole == 0 && frac == 0)
        return false;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '-' || *s == '+')
            s++;
        size_t exp = digits(s);
        if (exp == 0)
            return false;
        s += exp;
    }
    return *s == '\0';
}

int sl_parse_double(const char *text, double *out, SlError *err)
{
    size_t len = strlen(text);
    if (!well_formed(text))
        return sl_error_set(err, SL_EINVAL, "'%.*s%s' is not a number", shown(len), text, len > 48 ? "..." : "");
    /* one "C" locale for the process, made on first use (a race between two
     * threads makes it twice, and one copy stays allocated: harmless) */
    static locale_t c_locale;
    if (!c_locale)
        c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (!c_locale)
        return sl_error_set(err, SL_ENOMEM, "out of memory reading the number '%.*s%s'", shown(len), text,
                            len > 48 ? "..." : "");
    char *end;
    errno = 0;
    double v = strtod_l(text, &end, c_locale);
    if (*end != '\0')   /* not reached: the grammar is strtod's in the "C" locale */
        return sl_error_set(err, SL_EINVAL, "'%.*s%s' is not a number", shown(len), text, len > 48 ? "..." : "");
    /* ERANGE: an overflow to +-HUGE_VAL, or a number that is not zero read
     * as a subnormal or zero (an exact 0, "0e-999", is not an underflow) */
    if (errno == ERANGE)
        return sl_error_set(err, SL_EINVAL, "%.*s%s is outside the range of a double", shown(len), text,
                            len > 48 ? "..." : "");
    *out = v;
    return SL_OK;
}
