/* parse_int.h: the one integer parser for every number a user types (option
 * values, list entries).  Whole text or nothing: no leading or trailing
 * space, an optional '-' and decimal digits only, and a number too large for
 * any machine integer is reported as itself, not as a wrapped or clamped one. */
#ifndef SORTLENS_PARSE_INT_H
#define SORTLENS_PARSE_INT_H

#include <stdint.h>

#include "sortlens/error.h"

/* Parses text as an integer in min..max.  On failure returns SL_EINVAL with
 * one of these messages (text quoted as given, already scrubbed):
 *   "'abc' is not an integer"
 *   "99999999999999999999 is outside 0..49"   (also for -5 when min is 0)
 * The caller prefixes what the number was ("--steps: ", "value 3: "). */
int sl_parse_i64(const char *text, int64_t min, int64_t max, int64_t *out, SlError *err);
/* The same for unsigned 64-bit ranges (seeds up to 2^64-1). */
int sl_parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out, SlError *err);
/* The same over a counted span (text[0..len-1], not NUL-terminated), for
 * parsers that split a line themselves. */
int sl_parse_i64_span(const char *text, size_t len, int64_t min, int64_t max, int64_t *out, SlError *err);

#endif
