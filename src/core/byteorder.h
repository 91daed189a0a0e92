/* byteorder.h: little-endian integers in file formats, read and written
 * byte by byte (so alignment and the host's order never matter).  The
 * pickle machine, the .pt layer and safetensors all use these. */
#ifndef SORTLENS_BYTEORDER_H
#define SORTLENS_BYTEORDER_H

#include <stddef.h>
#include <stdint.h>

/* The n-byte (n <= 8) little-endian unsigned integer at p. */
static inline uint64_t sl_read_le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

static inline uint32_t sl_read_le32(const uint8_t *p) { return (uint32_t)sl_read_le(p, 4); }
static inline uint64_t sl_read_le64(const uint8_t *p) { return sl_read_le(p, 8); }

static inline void sl_write_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

#endif
