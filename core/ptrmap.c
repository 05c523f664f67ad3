/* A hash map from pointers to pointers: open addressing with linear
 * probing, kept at most half full, and backward-shift deletion so that
 * lookups never wade through tombstones. */
#include "ptrmap.h"

#include <stdint.h>
#include <stdlib.h>

/* Fibonacci hashing: allocations are aligned, so the low bits of a
 * pointer say little; the multiply spreads the high ones. */
static size_t slot_of(const zs__ptrmap_t *m, const void *key)
{
    uint64_t h = (uint64_t)(uintptr_t)key * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 32) & (m->cap - 1);
}

static size_t find(const zs__ptrmap_t *m, const void *key)
{
    size_t i = slot_of(m, key);
    while (m->keys[i] && m->keys[i] != key)
        i = (i + 1) & (m->cap - 1);
    return i;
}

void *zs__ptrmap_get(const zs__ptrmap_t *m, const void *key)
{
    if (m->n == 0)
        return NULL;
    size_t i = find(m, key);
    return m->keys[i] ? m->values[i] : NULL;
}

static int grow(zs__ptrmap_t *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16;
    zs__ptrmap_t bigger = {calloc(cap, sizeof *bigger.keys),
                           calloc(cap, sizeof *bigger.values), cap, 0};
    if (!bigger.keys || !bigger.values) {
        free(bigger.keys);
        free(bigger.values);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i]) {
            size_t j = find(&bigger, m->keys[i]);
            bigger.keys[j] = m->keys[i];
            bigger.values[j] = m->values[i];
            bigger.n++;
        }
    free(m->keys);
    free(m->values);
    *m = bigger;
    return 0;
}

int zs__ptrmap_put(zs__ptrmap_t *m, const void *key, void *value)
{
    if ((m->n + 1) * 2 > m->cap && grow(m) != 0)
        return -1;
    size_t i = find(m, key);
    if (!m->keys[i]) {
        m->keys[i] = key;
        m->n++;
    }
    m->values[i] = value;
    return 0;
}

void *zs__ptrmap_remove(zs__ptrmap_t *m, const void *key)
{
    if (m->n == 0)
        return NULL;
    size_t i = find(m, key);
    if (!m->keys[i])
        return NULL;
    void *value = m->values[i];
    /* Moves back each later entry of the run that may sit in the hole, so
     * that every key stays reachable from its home slot. */
    for (size_t j = (i + 1) & (m->cap - 1); m->keys[j];
         j = (j + 1) & (m->cap - 1)) {
        size_t home = slot_of(m, m->keys[j]);
        if (((j - home) & (m->cap - 1)) >= ((j - i) & (m->cap - 1))) {
            m->keys[i] = m->keys[j];
            m->values[i] = m->values[j];
            i = j;
        }
    }
    m->keys[i] = NULL;
    m->values[i] = NULL;
    m->n--;
    return value;
}

void zs__ptrmap_clear(zs__ptrmap_t *m)
{
    free(m->keys);
    free(m->values);
    *m = (zs__ptrmap_t)ZS__PTRMAP_INIT;
}
