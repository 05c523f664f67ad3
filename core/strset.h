/* A set of strings that remembers where each was first added, for
 * finding repeated keys and names in time linear in their number: open
 * addressing with linear probing, kept at most half full. The strings are
 * not copied. Not thread-safe. */
#ifndef ZS_STRSET_H
#define ZS_STRSET_H

#include <stddef.h>

typedef struct zs__strset {
    const char **keys; /* NULL marks an empty slot */
    size_t *firsts;    /* the index given with each key */
    size_t cap;        /* a power of two, or 0 before the first add */
    size_t n;
} zs__strset_t;

/* An empty set; it allocates on its first add. */
#define ZS__STRSET_INIT {NULL, NULL, 0, 0}

/* Adds key (which must outlive the set) under index. Returns 1 when key
 * is new; 0 when an equal string was added before, with its index in
 * *first (the set is unchanged); -1 when out of memory. */
int zs__strset_add(zs__strset_t *set, const char *key, size_t index,
                   size_t *first);

/* Frees the table (not the strings) and empties the set. */
void zs__strset_clear(zs__strset_t *set);

#endif
