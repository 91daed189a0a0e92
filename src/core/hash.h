/* hash.h: the keyed hash for everything a file chooses the keys of (tensor
 * names, metadata keys, pickle memo indices).  With a fixed hash a hostile
 * file could put every key in one chain and make loading quadratic;
 * SipHash-1-3 under a key drawn once per process from the system's entropy
 * makes that impossible to arrange in advance (Python hashes strings the
 * same way). */
#ifndef SORTLENS_HASH_H
#define SORTLENS_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t sl_hash(const void *data, size_t n);

#endif
