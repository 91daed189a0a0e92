/* parse_double.h: the one decimal parser for every real number a user types
 * or a file holds (option values such as --lr, metadata written by sortlens).
 * The companion of parse_int.h, and as strict: whole text or nothing. */
#ifndef SORTLENS_PARSE_DOUBLE_H
#define SORTLENS_PARSE_DOUBLE_H

#include "sortlens/error.h"

/* Parses text as a finite decimal number: an optional '-', digits with an
 * optional '.' and fraction (".5" and "5." too), an optional exponent
 * ("1e-3").  Refused, with SL_EINVAL and "'TEXT' is not a number": leading
 * or trailing space, '+', a comma, hexadecimal ("0x1p3"), "nan", "inf", the
 * empty text; and "TEXT is outside the range of a double" for one that
 * overflows or underflows (1e999, 1e-999, a subnormal 1e-310; 0e-999 is 0).
 * The decimal point is '.' whatever the locale.  *out is untouched on
 * failure; the caller prefixes what the number was ("--lr: "). */
int sl_parse_double(const char *text, double *out, SlError *err);

#endif
