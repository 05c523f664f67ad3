/* The YAML tree: one document read with libyaml into nodes that remember
 * where they stand. */
#include "yaml_tree.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "expand.h"
#include "strset.h"

/* Deeper nesting than any valid file needs; bounds the recursion. */
#define MAX_DEPTH 64

/* At a libyaml mark, which counts from 0. */
__attribute__((format(printf, 3, 4))) static int
fail_mark(const zs__diag_t *d, yaml_mark_t mark, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    zs__fail_pos_v(d, (unsigned)mark.line + 1, (unsigned)mark.column + 1, fmt,
                   args);
    va_end(args);
    return -1;
}

int zs__fail_at(const zs__diag_t *d, const zs__node_t *node, const char *fmt,
                ...)
{
    va_list args;
    va_start(args, fmt);
    zs__fail_pos_v(d, node->line, node->col, fmt, args);
    va_end(args);
    return -1;
}

/* ---- nodes ---- */

const char *zs__node_kind_name(zs__node_kind_t kind)
{
    switch (kind) {
    case ZS__NODE_SCALAR:
        return "a string";
    case ZS__NODE_SEQUENCE:
        return "a list";
    case ZS__NODE_MAPPING:
        return "a mapping";
    }
    return "?";
}

const char *zs__node_written(const zs__node_t *node)
{
    return node->written ? node->written : node->text;
}

const char *zs__node_show(const zs__node_t *node)
{
    if (node->kind != ZS__NODE_SCALAR)
        return zs__node_kind_name(node->kind);
    const char *written = zs__node_written(node);
    return written[0] ? written : "an empty value";
}

bool zs__node_is_empty(const zs__node_t *node)
{
    return node->kind == ZS__NODE_SCALAR && !node->text[0];
}

static zs__node_t *node_new(zs__node_kind_t kind, yaml_mark_t mark)
{
    zs__node_t *node = calloc(1, sizeof *node);
    if (node) {
        node->kind = kind;
        node->line = (unsigned)mark.line + 1;
        node->col = (unsigned)mark.column + 1;
    }
    return node;
}

void zs__node_free(zs__node_t *node)
{
    if (!node)
        return;
    for (size_t i = 0; i < node->nitems; i++)
        zs__node_free(node->items[i]);
    free(node->items);
    free(node->text);
    free(node->written);
    free(node);
}

static int node_append(zs__node_t *parent, zs__node_t *child, size_t *cap)
{
    if (parent->nitems == *cap) {
        size_t grown = *cap ? *cap * 2 : 8;
        zs__node_t **items = realloc(parent->items, grown * sizeof *items);
        if (!items)
            return -1;
        parent->items = items;
        *cap = grown;
    }
    parent->items[parent->nitems++] = child;
    return 0;
}

bool zs__node_equal(const zs__node_t *a, const zs__node_t *b)
{
    if (!a || !b)
        return a == b;
    if (a->kind != b->kind || a->nitems != b->nitems ||
        (a->kind == ZS__NODE_SCALAR && strcmp(a->text, b->text) != 0))
        return false;
    for (size_t i = 0; i < a->nitems; i++)
        if (!zs__node_equal(a->items[i], b->items[i]))
            return false;
    return true;
}

const zs__node_t *zs__map_get(const zs__node_t *map, const char *key)
{
    if (!map || map->kind != ZS__NODE_MAPPING)
        return NULL;
    for (size_t i = 0; i + 1 < map->nitems; i += 2)
        if (!strcmp(map->items[i]->text, key))
            return map->items[i + 1];
    return NULL;
}

/* ---- reading ---- */

struct reader {
    yaml_parser_t *parser;
    const zs__diag_t *d;
    const char *input;
    size_t len;
};

/* Reader errors (bad encoding) carry a byte offset instead of a mark. */
static yaml_mark_t reader_mark_at(const struct reader *r, size_t offset)
{
    yaml_mark_t mark = {0};
    for (size_t i = 0; i < offset && i < r->len; i++) {
        if (r->input[i] == '\n') {
            mark.line++;
            mark.column = 0;
        } else if (((unsigned char)r->input[i] & 0xc0) != 0x80) {
            mark.column++; /* columns count characters, as libyaml's do */
        }
    }
    return mark;
}

static int reader_error(const struct reader *r)
{
    const yaml_parser_t *p = r->parser;
    if (p->error == YAML_MEMORY_ERROR)
        return zs__fail_nomem(r->d);
    const char *problem = p->problem ? p->problem : "invalid YAML";
    if (p->error == YAML_READER_ERROR) {
        return fail_mark(r->d, reader_mark_at(r, p->problem_offset),
                         "%s (byte 0x%02x)", problem,
                         (unsigned)p->problem_value & 0xffu);
    }
    if (p->context)
        return fail_mark(r->d, p->problem_mark, "%s (%s at %u:%u)", problem,
                         p->context, (unsigned)p->context_mark.line + 1,
                         (unsigned)p->context_mark.column + 1);
    return fail_mark(r->d, p->problem_mark, "%s", problem);
}

static int reader_next(const struct reader *r, yaml_event_t *event)
{
    return yaml_parser_parse(r->parser, event) ? 0 : reader_error(r);
}

/* Anchors, aliases and tags would let a file mean more than it shows, and
 * nothing here needs them. */
static int event_check_plain(const struct reader *r, const yaml_event_t *ev)
{
    const yaml_char_t *anchor = NULL, *tag = NULL;
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        return fail_mark(r->d, ev->start_mark,
                         "aliases (*%s) are not supported; write the value out",
                         (const char *)ev->data.alias.anchor);
    case YAML_SCALAR_EVENT:
        anchor = ev->data.scalar.anchor;
        tag = ev->data.scalar.tag;
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = ev->data.sequence_start.anchor;
        tag = ev->data.sequence_start.tag;
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = ev->data.mapping_start.anchor;
        tag = ev->data.mapping_start.tag;
        break;
    default:
        break;
    }
    if (anchor)
        return fail_mark(r->d, ev->start_mark,
                         "anchors (&%s) are not supported; write the value out",
                         (const char *)anchor);
    if (tag)
        return fail_mark(r->d, ev->start_mark,
                         "tags (%s) are not supported; remove the tag",
                         (const char *)tag);
    return 0;
}

static zs__node_t *read_node(const struct reader *r, const yaml_event_t *ev,
                             int depth);

static zs__node_t *read_scalar(const struct reader *r, const yaml_event_t *ev)
{
    zs__node_t *node = node_new(ZS__NODE_SCALAR, ev->start_mark);
    if (!node) {
        zs__fail_nomem(r->d);
        return NULL;
    }
    const char *value = (const char *)ev->data.scalar.value;
    if (strlen(value) != ev->data.scalar.length) {
        zs__fail_at(r->d, node, "strings must not contain NUL characters");
        goto err;
    }
    node->text = zs__env_expand(r->d, node->line, node->col, value);
    if (!node->text)
        goto err;
    if (strcmp(node->text, value) != 0 && !(node->written = strdup(value))) {
        zs__fail_nomem(r->d);
        goto err;
    }
    return node;
err:
    zs__node_free(node);
    return NULL;
}

/* Keys are plain strings, each once per mapping: keys holds those read so
 * far, under their place in map->items, so that a mapping of any size is
 * checked in linear time. */
static int key_check(const struct reader *r, const zs__node_t *map,
                     zs__strset_t *keys, const zs__node_t *key)
{
    if (key->kind != ZS__NODE_SCALAR)
        return zs__fail_at(r->d, key, "expected a string as key, got %s",
                           zs__node_kind_name(key->kind));
    size_t first;
    int added = zs__strset_add(keys, key->text, map->nitems - 1, &first);
    if (added < 0)
        return zs__fail_nomem(r->d);
    if (added == 0)
        return zs__fail_at(r->d, key, "duplicate key '%s' (first at %s:%u:%u)",
                           zs__node_written(key), r->d->file,
                           map->items[first]->line, map->items[first]->col);
    return 0;
}

static zs__node_t *read_collection(const struct reader *r,
                                   const yaml_event_t *start, int depth)
{
    bool mapping = start->type == YAML_MAPPING_START_EVENT;
    yaml_event_type_t end =
        mapping ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;
    zs__node_t *node = node_new(mapping ? ZS__NODE_MAPPING : ZS__NODE_SEQUENCE,
                                start->start_mark);
    zs__strset_t keys = ZS__STRSET_INIT;
    size_t cap = 0;
    if (!node) {
        zs__fail_nomem(r->d);
        return NULL;
    }
    if (depth >= MAX_DEPTH) {
        zs__fail_at(r->d, node, "nested deeper than %d levels", MAX_DEPTH);
        goto err;
    }
    for (;;) {
        yaml_event_t ev;
        if (reader_next(r, &ev) < 0)
            goto err;
        if (ev.type == end) {
            yaml_event_delete(&ev);
            zs__strset_clear(&keys);
            return node;
        }
        zs__node_t *child = read_node(r, &ev, depth + 1);
        yaml_event_delete(&ev);
        if (!child)
            goto err;
        if (node_append(node, child, &cap) < 0) {
            zs__node_free(child);
            zs__fail_nomem(r->d);
            goto err;
        }
        if (mapping && node->nitems % 2 && key_check(r, node, &keys, child) < 0)
            goto err;
    }
err:
    zs__strset_clear(&keys);
    zs__node_free(node);
    return NULL;
}

static zs__node_t *read_node(const struct reader *r, const yaml_event_t *ev,
                             int depth)
{
    if (event_check_plain(r, ev) < 0)
        return NULL;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        return read_scalar(r, ev);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        return read_collection(r, ev, depth);
    default:
        fail_mark(r->d, ev->start_mark, "unexpected YAML event");
        return NULL;
    }
}

/* Reads the one document of the stream; *root stays NULL when there is
 * none. */
static int read_stream(const struct reader *r, zs__node_t **root)
{
    yaml_event_t ev;
    *root = NULL;
    if (reader_next(r, &ev) < 0) /* stream start */
        return -1;
    yaml_event_delete(&ev);
    if (reader_next(r, &ev) < 0) /* document start, or stream end */
        return -1;
    bool empty = ev.type == YAML_STREAM_END_EVENT;
    yaml_event_delete(&ev);
    if (empty)
        return 0;
    if (reader_next(r, &ev) < 0)
        return -1;
    *root = read_node(r, &ev, 0);
    yaml_event_delete(&ev);
    if (!*root)
        return -1;
    if (reader_next(r, &ev) < 0) /* document end */
        goto err;
    yaml_event_delete(&ev);
    if (reader_next(r, &ev) < 0)
        goto err;
    if (ev.type != YAML_STREAM_END_EVENT) {
        fail_mark(r->d, ev.start_mark,
                  "multiple documents are not supported; keep one per file");
        yaml_event_delete(&ev);
        goto err;
    }
    yaml_event_delete(&ev);
    return 0;
err:
    zs__node_free(*root);
    *root = NULL;
    return -1;
}

int zs__tree_read(const zs__diag_t *d, const char *yaml, size_t len,
                  zs__node_t **root)
{
    yaml_parser_t parser;
    struct reader r = {&parser, d, yaml, len};
    *root = NULL;
    if (!yaml_parser_initialize(&parser))
        return zs__fail_nomem(d);
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    int rc = read_stream(&r, root);
    yaml_parser_delete(&parser);
    return rc;
}
