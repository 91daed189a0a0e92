/* names.h: an enum's names, a table indexed by the enum (names[value] is
 * the value's name), looked up the other way: the one loop behind every
 * "name -> enum" of the program (stress kinds, circuits, plot formats, the
 * explorer's facets and scales).  The caller says what is wrong with a name
 * not found, in its own words: the lookup neither prints nor sets an error. */
#ifndef SORTLENS_NAMES_H
#define SORTLENS_NAMES_H

/* The value v in 0..count-1 with names[v] equal to name (compared exactly),
 * or -1 when there is none; a NULL entry matches nothing. */
int sl_names_find(const char *const *names, int count, const char *name);

#endif
