/* text_escape.h: make a string from an untrusted file safe to print.
 *
 * Names and values read from checkpoints (tensor names, metadata keys and
 * values, pickle strings, ZIP entry names) may hold bytes that drive a
 * terminal (ESC, the one-byte CSI U+009B, BEL) or forge output lines (a
 * newline).  Every such string goes through sl_text_escape before it reaches
 * a terminal, a text output or an error message, so they all look the same:
 *
 *   \\           a backslash (so that the escapes below are unambiguous)
 *   \n \r \t     newline, carriage return, tab
 *   \xNN         any other C0 control, DEL, and every byte that is not part
 *                of valid UTF-8 (including a lone 0x9b)
 *   \uXXXX       C1 controls U+0080..U+009F, and the invisible characters
 *                that reorder or break a line: U+061C, U+200E, U+200F,
 *                U+2028..U+202E, U+2066..U+2069
 *
 * Printable ASCII and all other valid UTF-8 pass unchanged.  JSON output
 * does not use this: jansson escapes strings as JSON requires. */
#ifndef SORTLENS_TEXT_ESCAPE_H
#define SORTLENS_TEXT_ESCAPE_H

#include <stddef.h>

/* Escapes s[0..n) into out (outsize bytes, NUL-terminated when outsize > 0),
 * never cutting an escape or a character in half.  Returns the bytes
 * written, not counting the NUL. */
size_t sl_text_escape(const char *s, size_t n, char *out, size_t outsize);

/* The escaped copy of a NUL-terminated string, malloc'ed; NULL when out of
 * memory. */
char *sl_text_escape_dup(const char *s);

#endif
