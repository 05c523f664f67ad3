/* Tables of fixed-size entries found by a name each entry begins with
 * (a char array; "" marks a free slot): open addressing with linear
 * probing, a power-of-two capacity. The sinks that count by socket name
 * keep their sockets in one. And the rule by which a sink makes a name
 * (a socket's, a host's) safe inside the names of its own protocol. */
#ifndef ZS_COMMON_NAMES_H
#define ZS_COMMON_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* FNV-1a of a NUL-terminated name. */
uint64_t names_hash(const char *name);

/* The entry named name, or the free slot where it goes. The table must
 * have a free slot (keep it at most half full, so probing stays short). */
void *names_slot(void *table, size_t capacity, size_t entry_size,
                 const char *name);

/* The smallest power of two, at least min, that holds n entries at most
 * half full. */
size_t names_capacity(size_t n, size_t min);

/* Moves the entries of *table (*capacity slots) that keep() accepts (all
 * when keep is NULL) into a new table of capacity slots, which replaces
 * it. keep() is called once for each entry, once the new table is there:
 * it may release what an entry it drops holds. Returns how many were
 * kept, or -1 when out of memory (*table is then unchanged, and keep() was
 * not called). */
long names_rebuild(void **table, size_t *capacity, size_t entry_size,
                   size_t new_capacity,
                   bool (*keep)(const void *entry, void *arg), void *arg);

/* Copies src into dst (cap bytes), replacing with '_' whitespace, control
 * characters, DEL and every byte in syntax (what the protocol reads as
 * its own: ":|@#" for statsd, ".*>" for a NATS subject token); an empty
 * name becomes "_", since it would vanish from a dotted path. */
void names_sanitize(char *dst, size_t cap, const char *src,
                    const char *syntax);

#endif
