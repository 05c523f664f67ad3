/* Option tables: a mapping of the YAML tree validated against a table of
 * zmqsink_option_t (zmqsink/plugin.h): unknown keys, types, ranges,
 * choices, required keys and defaults; then the typed values. */
#ifndef ZS_OPTIONS_H
#define ZS_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zmqsink/plugin.h>

#include "diag.h"
#include "yaml_tree.h"

/* The option values of one sink, validated against a plugin's table. */
typedef struct zs__options zs__options_t;

/* Whose options a mapping holds, as messages name them. */
typedef struct zs__options_owner {
    const char *sink;        /* "sink 'NAME': ..." */
    const char *type;        /* "... for type 'TYPE'" */
    const zs__node_t *map;   /* the sink's mapping */
    const char *const *skip; /* top-level keys read by someone else */
} zs__options_owner_t;

/* Checks every key of owner->map but the skipped ones against table (which
 * must outlive *out). Returns 0 and *out (caller owns it), or -1 after a
 * message. */
int zs__options_read(const zs__diag_t *d, const zs__options_owner_t *owner,
                     const zmqsink_option_t *table, zs__options_t **out);
void zs__options_free(zs__options_t **options);

/* Values, as zmqsink_host_t hands them to plugins (see zmqsink/plugin.h).
 * Asking for a key the table does not declare is a programmer error. */
const char *zs__options_string(const zs__options_t *o, const char *key);
int64_t zs__options_int(const zs__options_t *o, const char *key);
size_t zs__options_list(const zs__options_t *o, const char *key,
                        const char *const **items);
size_t zs__options_map(const zs__options_t *o, const char *key,
                       const char *const **keys, const char *const **values);
int zs__options_is_set(const zs__options_t *o, const char *key);

/* Writes "WHAT: expected <what opt takes>, got <node>" at node; -1. */
int zs__fail_value(const zs__diag_t *d, const zs__node_t *node,
                   const char *what, const zmqsink_option_t *opt);

/* Whether word is among the NULL-terminated words. */
bool zs__word_in(const char *const *words, const char *word);

#endif
