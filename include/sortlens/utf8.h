/* utf8.h: the one strict UTF-8 decoder of the project.
 *
 * Strict means what RFC 3629 allows and nothing else: no overlong forms, no
 * surrogates (U+D800..U+DFFF), nothing past U+10FFFF.  Names read from
 * checkpoints are validated with it, the text escaper walks strings with it,
 * and the renderer decodes with it. */
#ifndef SORTLENS_UTF8_H
#define SORTLENS_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decodes the sequence at s (n bytes available).  Returns its length (1..4)
 * and sets *cp, or returns 0 when s does not start a valid sequence (or n is
 * 0).  It reads continuation bytes one at a time and stops at the first that
 * is not one, so a NUL-terminated string may pass n = 4 safely. */
size_t sl_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp);

/* Is s[0..n) valid UTF-8 throughout?  With allow_nul false a NUL byte fails
 * too (names that become C strings). */
bool sl_utf8_valid(const uint8_t *s, size_t n, bool allow_nul);

#endif
