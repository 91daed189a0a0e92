/* name_index.c: open addressing with linear probing over a keyed hash
 * (hash.h), grown at half full; names are compared only when their full
 * 64-bit hashes agree. */
#include "name_index.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

typedef struct Slot { const char *name; uint64_t hash; int pos; } Slot;

struct SlNameIndex {
    Slot *slots;
    size_t cap, count;   /* cap a power of two */
};

void sl_name_index_free(SlNameIndex *ix)
{
    if (ix) {
        free(ix->slots);
        free(ix);
    }
}

static size_t probe(const Slot *slots, size_t cap, uint64_t h, const char *name)
{
    size_t i = (size_t)h & (cap - 1);
    while (slots[i].name) {
        if (slots[i].hash == h && strcmp(slots[i].name, name) == 0)
            break;
        i = (i + 1) & (cap - 1);
    }
    return i;
}

int sl_name_index_find(const SlNameIndex *ix, const char *name)
{
    if (!ix || !ix->count)
        return -1;
    size_t i = probe(ix->slots, ix->cap, sl_hash(name, strlen(name)), name);
    return ix->slots[i].name ? ix->slots[i].pos : -1;
}

static int grow(SlNameIndex *ix)
{
    size_t cap = ix->cap ? 2 * ix->cap : 64;
    Slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < ix->cap; i++)
        if (ix->slots[i].name) {
            size_t j = (size_t)ix->slots[i].hash & (cap - 1);
            while (slots[j].name)
                j = (j + 1) & (cap - 1);
            slots[j] = ix->slots[i];
        }
    free(ix->slots);
    ix->slots = slots;
    ix->cap = cap;
    return 0;
}

int sl_name_index_add(SlNameIndex **ixp, const char *name, int pos)
{
    if (!*ixp && !(*ixp = calloc(1, sizeof **ixp)))
        return -1;
    SlNameIndex *ix = *ixp;
    if ((ix->count + 1) * 2 > ix->cap && grow(ix))
        return -1;
    uint64_t h = sl_hash(name, strlen(name));
    size_t i = probe(ix->slots, ix->cap, h, name);
    ix->slots[i] = (Slot){name, h, pos};
    ix->count++;
    return 0;
}
