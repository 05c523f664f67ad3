/* Tables of entries keyed by name, and names made safe for a protocol. */
#include "names.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t names_hash(const char *name)
{
    uint64_t h = 14695981039346656037u; /* FNV-1a */
    for (; *name; name++)
        h = (h ^ (unsigned char)*name) * 1099511628211u;
    return h;
}

void *names_slot(void *table, size_t capacity, size_t entry_size,
                 const char *name)
{
    size_t mask = capacity - 1;
    for (size_t i = names_hash(name) & mask;; i = (i + 1) & mask) {
        char *entry = (char *)table + i * entry_size;
        if (!entry[0] || strcmp(entry, name) == 0)
            return entry;
    }
}

size_t names_capacity(size_t n, size_t min)
{
    size_t capacity = min;
    while (capacity / 2 < n)
        capacity *= 2;
    return capacity;
}

long names_rebuild(void **table, size_t *capacity, size_t entry_size,
                   size_t new_capacity,
                   bool (*keep)(const void *entry, void *arg), void *arg)
{
    char *fresh = calloc(new_capacity, entry_size);
    if (!fresh)
        return -1;
    long kept = 0;
    for (size_t i = 0; i < *capacity; i++) {
        const char *entry = (const char *)*table + i * entry_size;
        if (entry[0] && (!keep || keep(entry, arg))) {
            memcpy(names_slot(fresh, new_capacity, entry_size, entry), entry,
                   entry_size);
            kept++;
        }
    }
    free(*table);
    *table = fresh;
    *capacity = new_capacity;
    return kept;
}

void names_sanitize(char *dst, size_t cap, const char *src,
                    const char *syntax)
{
    size_t i = 0;
    for (; src[i] && i + 1 < cap; i++) {
        unsigned char c = (unsigned char)src[i];
        bool bad = c <= ' ' || c == 0x7f || strchr(syntax, c);
        dst[i] = bad ? '_' : (char)c;
    }
    if (cap > 0)
        dst[i] = '\0';
    if (i == 0 && cap > 1)
        snprintf(dst, cap, "_");
}
