/* The YAML tree: one document read with libyaml into nodes that remember
 * where they stand, with keys checked and scalars ${VAR}-expanded.
 *
 * Messages about the file quote its scalars as the file wrote them
 * (zs__node_show(), zs__node_written()), never what ${VAR} expanded them
 * to: the environment may hold secrets, such as a bearer token for an
 * http sink's headers, and messages go to logs. */
#ifndef ZS_YAML_TREE_H
#define ZS_YAML_TREE_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"

typedef enum zs__node_kind {
    ZS__NODE_SCALAR,
    ZS__NODE_SEQUENCE,
    ZS__NODE_MAPPING
} zs__node_kind_t;

/* A YAML node. Mapping children alternate key, value (keys are scalars).
 * Scalars have had ${VAR} and ${VAR:-default} expanded. */
typedef struct zs__node {
    zs__node_kind_t kind;
    unsigned line, col;      /* 1-based, where the node starts */
    char *text;              /* scalars */
    char *written;           /* scalars that expansion changed: the text as
                                the file wrote it; else NULL */
    struct zs__node **items; /* sequences: items; mappings: k0,v0,k1,v1... */
    size_t nitems;
} zs__node_t;

/* Reads the one document of yaml (len bytes). Returns 0 and *root (caller
 * owns it; NULL when the stream holds no document), or -1 after a message.
 * Anchors, aliases, tags, duplicate keys, non-string keys and several
 * documents are refused. */
int zs__tree_read(const zs__diag_t *d, const char *yaml, size_t len,
                  zs__node_t **root);

void zs__node_free(zs__node_t *node);

/* Whether two nodes hold the same settings, wherever they stand. */
bool zs__node_equal(const zs__node_t *a, const zs__node_t *b);

/* The value of a key in a mapping (NULL: absent, or no mapping). */
const zs__node_t *zs__map_get(const zs__node_t *map, const char *key);

/* "a string", "a list" or "a mapping". */
const char *zs__node_kind_name(zs__node_kind_t kind);

/* A node as messages show what they got: a scalar's text as written, "an
 * empty value", or its kind. Belongs to node. */
const char *zs__node_show(const zs__node_t *node);

/* A scalar's text as the file wrote it, before ${VAR} expansion, for
 * messages that quote a key or a word. Belongs to node. */
const char *zs__node_written(const zs__node_t *node);

/* An empty scalar, as a key with nothing after its ':' is. */
bool zs__node_is_empty(const zs__node_t *node);

/* Writes "FILE:LINE:COL: message" at node and returns -1. */
int zs__fail_at(const zs__diag_t *d, const zs__node_t *node, const char *fmt,
                ...) __attribute__((format(printf, 3, 4)));

#endif
