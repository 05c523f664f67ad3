/* Option tables: one validator for a mapping of known keys, against a
 * table of zmqsink_option_t (zmqsink/plugin.h), whether a plugin declared
 * it for its sinks or the core for its own sections; then the typed
 * values. */
#ifndef ZS_OPTIONS_H
#define ZS_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zmqsink/plugin.h>

#include "diag.h"
#include "yaml_tree.h"

/* The values of one mapping, validated against a table. */
typedef struct zs__options zs__options_t;

/* A type the core's tables use besides those of zmqsink_option_type_t, for
 * keys whose value has a shape no option type describes (a list of
 * mappings, a mapping of event names): the validator knows the key and
 * keeps its node, its reader checks the rest. Plugins cannot declare it:
 * the loader refuses types outside ZMQSINK_OPT_STRING..ZMQSINK_OPT_MAP. */
#define ZS__OPT_NODE ((zmqsink_option_type_t)0)

/* Whose keys a mapping holds, which decides how messages word them. */
typedef struct zs__options_owner {
    /* A plugin's options: "sink 'SINK': unknown option 'K' for type
     * 'TYPE'; valid options: ...". NULL for the core's own keys, which
     * read "SECTION: unknown key 'K'; valid keys: ...", refuse empty
     * strings, and whose help says what a value must be ("queue.capacity:
     * expected HELP, got X") and why a required key is needed. */
    const char *type;
    const char *sink;      /* keys named "sink 'SINK': KEY"; else: */
    const char *section;   /* "SECTION.KEY"; NULL: "KEY", at the top level */
    const char *expected;  /* what the mapping must be, for "SECTION:
                              expected EXPECTED, got X" */
    const zs__node_t *map; /* NULL: the section is absent, every key
                              takes its fallback */
    const zmqsink_option_t *const *skip; /* NULL-terminated: tables whose
                              keys, at the top of map, are read by others */
    bool open; /* every unknown key is read by others */
} zs__options_owner_t;

/* Checks every key of owner->map against table (which must outlive *out):
 * unknown keys, types, ranges, choices, required keys; then applies the
 * fallbacks. Returns 0 and *out (caller owns it), or -1 after a message. */
int zs__options_read(const zs__diag_t *d, const zs__options_owner_t *owner,
                     const zmqsink_option_t *table, zs__options_t **out);
void zs__options_free(zs__options_t **options);

/* For checks a table cannot express (a power of two, a name's
 * characters): writes "KEY: expected ..., got X" at the value the file
 * gave key, worded as zs__options_read() words it, and returns -1. */
int zs__options_fail(const zs__diag_t *d, const zs__options_owner_t *owner,
                     const zs__options_t *o, const char *key);

/* The node the file set key with (its text is the tree's, valid as long
 * as the tree), or NULL when it did not. */
const zs__node_t *zs__options_node(const zs__options_t *o, const char *key);

/* What a value is read as. */
typedef enum zs__accessor {
    ZS__ACCESS_ANY,
    ZS__ACCESS_STRING,
    ZS__ACCESS_INT,
    ZS__ACCESS_LIST,
    ZS__ACCESS_MAP
} zs__accessor_t;

/* Why key cannot be read with accessor ("its table does not declare
 * it", ...), or NULL when it can. */
const char *zs__options_misuse(const zs__options_t *o, const char *key,
                               zs__accessor_t accessor);

/* Values, as zmqsink_host_t hands them to plugins (see zmqsink/plugin.h).
 * A key the table does not declare, or read as another type, gives NULL,
 * 0 or no items (zs__options_misuse() says why). */
const char *zs__options_string(const zs__options_t *o, const char *key);
int64_t zs__options_int(const zs__options_t *o, const char *key);
size_t zs__options_list(const zs__options_t *o, const char *key,
                        const char *const **items);
size_t zs__options_map(const zs__options_t *o, const char *key,
                       const char *const **keys, const char *const **values);
int zs__options_is_set(const zs__options_t *o, const char *key);

#endif
