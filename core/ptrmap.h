/* A hash map from pointers to pointers, for the per-socket bookkeeping
 * that must cost the same with ten sockets as with thousands: open
 * addressing with linear probing, no tombstones. Not thread-safe. */
#ifndef ZS_PTRMAP_H
#define ZS_PTRMAP_H

#include <stddef.h>

typedef struct zs__ptrmap {
    const void **keys; /* NULL marks an empty slot */
    void **values;
    size_t cap;        /* a power of two, or 0 before the first put */
    size_t n;
} zs__ptrmap_t;

/* An empty map; it allocates on its first put. */
#define ZS__PTRMAP_INIT {NULL, NULL, 0, 0}

/* The value stored for key (not NULL), or NULL. */
void *zs__ptrmap_get(const zs__ptrmap_t *m, const void *key);

/* Stores value (not NULL) for key, replacing any earlier value. Returns 0,
 * or -1 when out of memory (the map is unchanged). */
int zs__ptrmap_put(zs__ptrmap_t *m, const void *key, void *value);

/* Removes key; returns the value it had, or NULL. */
void *zs__ptrmap_remove(zs__ptrmap_t *m, const void *key);

/* Frees the table (not the values) and empties the map. */
void zs__ptrmap_clear(zs__ptrmap_t *m);

#endif
