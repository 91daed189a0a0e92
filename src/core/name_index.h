/* name_index.h: a hash map from names to positions, so that a SlTensorSet
 * finds a tensor or a metadata key in constant time: a file with 80,000
 * tensors must not take 80,000 x 80,000 comparisons to load.  The names are
 * borrowed (each stays owned by the SlTensorSet, at a stable address). */
#ifndef SORTLENS_NAME_INDEX_H
#define SORTLENS_NAME_INDEX_H

#include <stddef.h>

typedef struct SlNameIndex SlNameIndex;

void sl_name_index_free(SlNameIndex *ix);   /* accepts NULL */
/* The position stored for name, or -1. */
int sl_name_index_find(const SlNameIndex *ix, const char *name);
/* Adds name -> pos (name must not be there yet); *ix is created on first
 * use.  Returns 0, or -1 when out of memory. */
int sl_name_index_add(SlNameIndex **ix, const char *name, int pos);

#endif
