/* A set of strings with the index each was first added under. */
#include "strset.h"

#include <stdlib.h>
#include <string.h>

#include "names.h"

static size_t find(const zs__strset_t *set, const char *key)
{
    size_t mask = set->cap - 1;
    size_t i = (size_t)names_hash(key) & mask;
    while (set->keys[i] && strcmp(set->keys[i], key) != 0)
        i = (i + 1) & mask;
    return i;
}

static void put(zs__strset_t *set, size_t slot, const char *key, size_t index)
{
    set->keys[slot] = key;
    set->firsts[slot] = index;
    set->n++;
}

static int grow(zs__strset_t *set)
{
    size_t cap = set->cap ? set->cap * 2 : 16;
    zs__strset_t bigger = {calloc(cap, sizeof *bigger.keys),
                           calloc(cap, sizeof *bigger.firsts), cap, 0};
    if (!bigger.keys || !bigger.firsts) {
        zs__strset_clear(&bigger);
        return -1;
    }
    for (size_t i = 0; i < set->cap; i++)
        if (set->keys[i])
            put(&bigger, find(&bigger, set->keys[i]), set->keys[i],
                set->firsts[i]);
    zs__strset_clear(set);
    *set = bigger;
    return 0;
}

int zs__strset_add(zs__strset_t *set, const char *key, size_t index,
                   size_t *first)
{
    if ((set->n + 1) * 2 > set->cap && grow(set) != 0)
        return -1;
    size_t slot = find(set, key);
    if (set->keys[slot]) {
        *first = set->firsts[slot];
        return 0;
    }
    put(set, slot, key, index);
    return 1;
}

void zs__strset_clear(zs__strset_t *set)
{
    free(set->keys);
    free(set->firsts);
    *set = (zs__strset_t)ZS__STRSET_INIT;
}
