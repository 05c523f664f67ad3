/* Option tables: one validator for a mapping of known keys, whether a
 * plugin declared them for its sinks or the core for its own sections, and
 * the typed values it keeps. */
#include "options.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "value.h"

/* Longest dotted option key looked up; longer keys are unknown anyway. */
#define OPTION_PATH_MAX 256

struct option_value {
    bool set;               /* by the file, not by the fallback */
    const zs__node_t *node; /* where the file set it, or NULL */
    char *text;             /* scalar types: the text */
    int64_t number;         /* INT, BOOL, DURATION, SIZE, ENUM */
    char **keys;            /* LIST: the items; MAP: the keys */
    char **values;          /* MAP: the values */
    size_t count;
};

/* Values in the order of the table, which must outlive them (a plugin
 * stays loaded while its sink exists). */
struct zs__options {
    const zmqsink_option_t *table;
    size_t count;
    struct option_value values[];
};

/* What parsing one mapping keeps at hand. */
struct options_reader {
    const zs__diag_t *d;
    const zs__options_owner_t *owner;
    zs__options_t *options;
};

/* The core's own keys speak of keys, take help as what a value must be,
 * and refuse empty strings; a plugin's speak of options for its type. */
static bool core_voice(const struct options_reader *r)
{
    return !r->owner->type;
}

/* Who a message is about: "sink 'out'", "queue", or "top level". */
static void speaker(const struct options_reader *r, char *buf, size_t cap)
{
    const zs__options_owner_t *o = r->owner;
    if (o->sink)
        snprintf(buf, cap, "sink '%s'", o->sink);
    else
        snprintf(buf, cap, "%s", o->section ? o->section : "top level");
}

/* What messages call a key: "sink 'out': path", "queue.capacity", or
 * "plugin_dir" at the top level. */
static void key_name(const struct options_reader *r, const char *path,
                     char *buf, size_t cap)
{
    const zs__options_owner_t *o = r->owner;
    if (o->sink)
        snprintf(buf, cap, "sink '%s': %s", o->sink, path);
    else if (o->section)
        snprintf(buf, cap, "%s.%s", o->section, path);
    else
        snprintf(buf, cap, "%s", path);
}

/* "WHAT: expected ..., got ..." at node. */
static int value_error(const struct options_reader *r, const zs__node_t *node,
                       const char *what, const zmqsink_option_t *opt)
{
    zs__text_t expected = {0};
    if (core_voice(r) && opt->help)
        zs__text_add(&expected, "%s", opt->help);
    else
        zs__value_describe(&expected, opt);
    zs__fail_at(r->d, node, "%s: expected %s, got %s", what,
                zs__text_get(&expected), zs__node_show(node));
    zs__text_free(&expected);
    return -1;
}

static int option_find(const zs__options_t *o, const char *key)
{
    for (size_t i = 0; i < o->count; i++)
        if (!strcmp(o->table[i].key, key))
            return (int)i;
    return -1;
}

/* Whether a dotted key lives under "prefix.". */
static bool option_prefix_declared(const zs__options_t *o, const char *prefix)
{
    size_t len = strlen(prefix);
    for (size_t i = 0; i < o->count; i++)
        if (!strncmp(o->table[i].key, prefix, len) &&
            o->table[i].key[len] == '.')
            return true;
    return false;
}

static bool table_declares(const zmqsink_option_t *table, const char *key)
{
    for (; table && table->key; table++)
        if (!strcmp(table->key, key))
            return true;
    return false;
}

/* Whether a top-level key belongs to another table. */
static bool key_skipped(const struct options_reader *r, const char *key)
{
    if (r->owner->open && option_find(r->options, key) < 0 &&
        !option_prefix_declared(r->options, key))
        return true;
    for (const zmqsink_option_t *const *t = r->owner->skip; t && *t; t++)
        if (table_declares(*t, key))
            return true;
    return false;
}

/* The declared keys that start with prefix ("" for all). */
static void option_keys_add(zs__text_t *t, const zs__options_t *o,
                            const char *prefix)
{
    size_t len = strlen(prefix), n = 0;
    for (size_t i = 0; i < o->count; i++)
        if (!strncmp(o->table[i].key, prefix, len))
            zs__text_add(t, "%s%s", n++ ? ", " : "", o->table[i].key);
    if (!n)
        zs__text_add(t, "(none)");
}

/* An empty string, where the core's keys take none. */
static bool empty_refused(const struct options_reader *r,
                          const zs__node_t *node)
{
    return core_voice(r) && node->kind == ZS__NODE_SCALAR && !node->text[0];
}

/* A LIST from one string or a sequence of them; a MAP of strings. */
static int option_strings_read(const struct options_reader *r, const char *what,
                               const zmqsink_option_t *opt,
                               const zs__node_t *node, struct option_value *v)
{
    bool map = opt->type == ZMQSINK_OPT_MAP;
    bool scalar = node->kind == ZS__NODE_SCALAR;
    if ((map && node->kind != ZS__NODE_MAPPING) ||
        (!map && node->kind == ZS__NODE_MAPPING))
        return value_error(r, node, what, opt);
    size_t n = scalar ? 1 : map ? node->nitems / 2 : node->nitems;
    v->keys = calloc(n ? n : 1, sizeof *v->keys);
    v->values = map ? calloc(n ? n : 1, sizeof *v->values) : NULL;
    if (!v->keys || (map && !v->values))
        return zs__fail_nomem(r->d);
    for (size_t i = 0; i < n; i++) {
        const zs__node_t *item = scalar ? node : node->items[map ? 2 * i : i];
        const zs__node_t *value = map ? node->items[2 * i + 1] : NULL;
        if (value && value->kind != ZS__NODE_SCALAR)
            return value_error(r, value, what, opt);
        if (item->kind != ZS__NODE_SCALAR || empty_refused(r, item))
            return value_error(r, item, what, opt);
        v->keys[i] = strdup(item->text);
        v->count = i + 1; /* from here on zs__options_free() frees it */
        if (!v->keys[i] || (value && !(v->values[i] = strdup(value->text))))
            return zs__fail_nomem(r->d);
    }
    return 0;
}

static int option_value_read(const struct options_reader *r, const char *what,
                             const zmqsink_option_t *opt,
                             const zs__node_t *node, struct option_value *v)
{
    if (opt->type == ZS__OPT_NODE)
        return 0;
    if (opt->type == ZMQSINK_OPT_LIST || opt->type == ZMQSINK_OPT_MAP)
        return option_strings_read(r, what, opt, node, v);
    if (node->kind != ZS__NODE_SCALAR || empty_refused(r, node) ||
        zs__value_parse(opt, node->text, &v->number) < 0)
        return value_error(r, node, what, opt);
    if (!(v->text = strdup(node->text)))
        return zs__fail_nomem(r->d);
    return 0;
}

static int option_set(const struct options_reader *r, const zs__node_t *key,
                      const char *what, int index, const zs__node_t *value)
{
    const zmqsink_option_t *opt = &r->options->table[index];
    struct option_value *v = &r->options->values[index];
    char who[96];
    /* "rotate.keep: 5" beside "rotate: { keep: 5 }" */
    speaker(r, who, sizeof who);
    if (v->set)
        return zs__fail_at(r->d, key, "%s: option '%s' is set twice", who,
                           opt->key);
    v->set = true;
    v->node = value;
    return option_value_read(r, what, opt, value, v);
}

/* Dotted keys are a sink option's way ("rotate.keep: 5"); the core's
 * sections are written nested. A key "SECTION.KEY" whose SECTION is one
 * of the table's is told so. */
static bool dotted_section(const struct options_reader *r,
                           const zs__node_t *key)
{
    const char *dot = strchr(key->text, '.');
    if (!core_voice(r) || key->written || !dot || dot == key->text)
        return false;
    for (size_t i = 0; i < r->options->count; i++) {
        const zmqsink_option_t *opt = &r->options->table[i];
        if (opt->type == ZS__OPT_NODE &&
            strlen(opt->key) == (size_t)(dot - key->text) &&
            !strncmp(opt->key, key->text, (size_t)(dot - key->text)))
            return true;
    }
    return false;
}

/* "unknown key 'PREFIX.KEY'", the key as the file wrote it. */
static int option_unknown(const struct options_reader *r, const zs__node_t *key,
                          const char *prefix)
{
    const char *section = r->owner->section, *written = zs__node_written(key);
    if (!*prefix && dotted_section(r, key)) {
        const char *dot = strchr(written, '.');
        return zs__fail_at(r->d, key,
                           "%s%sunknown key '%s'; the core's keys are not "
                           "dotted: write '%s' under '%.*s'",
                           section ? section : "", section ? ": " : "",
                           written, dot + 1, (int)(dot - written), written);
    }
    zs__text_t keys = {0};
    option_keys_add(&keys, r->options, "");
    if (core_voice(r))
        zs__fail_at(r->d, key, "%s%sunknown key '%s%s'; valid keys: %s",
                    section ? section : "", section ? ": " : "", prefix,
                    written, zs__text_get(&keys));
    else
        zs__fail_at(r->d, key,
                    "sink '%s': unknown option '%s%s' for type '%s'; valid "
                    "options: %s",
                    r->owner->sink, prefix, written, r->owner->type,
                    zs__text_get(&keys));
    zs__text_free(&keys);
    return -1;
}

static int options_walk(const struct options_reader *r, const zs__node_t *map,
                        const char *prefix);

/* "rotate: { ... }" for the declared keys "rotate.*". */
static int options_nested(const struct options_reader *r, const char *path,
                          const char *what, const zs__node_t *value)
{
    char prefix[OPTION_PATH_MAX + 1];
    snprintf(prefix, sizeof prefix, "%s.", path);
    if (value->kind == ZS__NODE_MAPPING)
        return options_walk(r, value, prefix);
    zs__text_t keys = {0};
    option_keys_add(&keys, r->options, prefix);
    zs__fail_at(r->d, value, "%s: expected a mapping of %s, got %s", what,
                zs__text_get(&keys), zs__node_show(value));
    zs__text_free(&keys);
    return -1;
}

static int options_walk(const struct options_reader *r, const zs__node_t *map,
                        const char *prefix)
{
    for (size_t i = 0; i < map->nitems; i += 2) {
        const zs__node_t *key = map->items[i], *value = map->items[i + 1];
        char path[OPTION_PATH_MAX], what[OPTION_PATH_MAX + 96];
        if (!*prefix && key_skipped(r, key->text))
            continue;
        int n = snprintf(path, sizeof path, "%s%s", prefix, key->text);
        if (n < 0 || (size_t)n >= sizeof path)
            return option_unknown(r, key, "");
        key_name(r, path, what, sizeof what);
        int index = option_find(r->options, path);
        int rc = index >= 0 ? option_set(r, key, what, index, value)
                 : option_prefix_declared(r->options, path)
                     ? options_nested(r, path, what, value)
                     : option_unknown(r, key, prefix);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Where messages about the whole mapping stand: the mapping, or the start
 * of the file when the section is absent. */
static zs__node_t mapping_position(const struct options_reader *r)
{
    const zs__node_t *map = r->owner->map;
    return (zs__node_t){.kind = ZS__NODE_MAPPING,
                        .line = map ? map->line : 1,
                        .col = map ? map->col : 1};
}

/* A fallback that does not parse is a bug of whoever wrote the table, not
 * the user's. */
static int option_fallback(const struct options_reader *r,
                           const zmqsink_option_t *opt, struct option_value *v)
{
    zs__node_t at = mapping_position(r);
    zs__node_t node = {.kind = ZS__NODE_SCALAR,
                       .line = at.line,
                       .col = at.col,
                       .text = (char *)opt->fallback};
    int64_t number;
    bool valid = opt->type == ZMQSINK_OPT_LIST ||
                 (opt->type != ZMQSINK_OPT_MAP && opt->type != ZS__OPT_NODE &&
                  zs__value_parse(opt, opt->fallback, &number) == 0);
    if (valid)
        return option_value_read(r, opt->key, opt, &node, v);
    zs__text_t expected = {0};
    zs__value_describe(&expected, opt);
    if (core_voice(r))
        zs__fail_at(r->d, &at,
                    "the core is broken: its default for '%s' is "
                    "%s, not %s",
                    opt->key, opt->fallback, zs__text_get(&expected));
    else
        zs__fail_at(r->d, &at,
                    "sink '%s': plugin '%s' is broken: its default for option "
                    "'%s' is %s, not %s",
                    r->owner->sink, r->owner->type, opt->key, opt->fallback,
                    zs__text_get(&expected));
    zs__text_free(&expected);
    return -1;
}

/* "sink 'x': missing required option 'path' for type 'file' (help)", or
 * for the core's keys "sockets: missing required key 'match' (help)". */
static int option_missing(const struct options_reader *r,
                          const zmqsink_option_t *opt)
{
    zs__node_t at = mapping_position(r);
    char who[96];
    speaker(r, who, sizeof who);
    if (core_voice(r))
        return zs__fail_at(r->d, &at, "%s: missing required key '%s' (%s)", who,
                           opt->key, opt->help ? opt->help : "");
    return zs__fail_at(r->d, &at,
                       "%s: missing required option '%s' for type '%s'%s%s%s",
                       who, opt->key, r->owner->type, opt->help ? " (" : "",
                       opt->help ? opt->help : "", opt->help ? ")" : "");
}

static int options_complete(const struct options_reader *r)
{
    for (size_t i = 0; i < r->options->count; i++) {
        const zmqsink_option_t *opt = &r->options->table[i];
        struct option_value *v = &r->options->values[i];
        if (v->set)
            continue;
        if (opt->required)
            return option_missing(r, opt);
        if (opt->fallback && option_fallback(r, opt, v) < 0)
            return -1;
    }
    return 0;
}

/* The core's sections must be mappings; a sink's mapping was checked by
 * the core before its plugin's options are. */
static int mapping_check(const struct options_reader *r)
{
    const zs__node_t *map = r->owner->map;
    char who[96];
    if (!map || map->kind == ZS__NODE_MAPPING)
        return 0;
    speaker(r, who, sizeof who);
    return zs__fail_at(r->d, map, "%s: expected %s, got %s", who,
                       r->owner->expected ? r->owner->expected : "a mapping",
                       zs__node_show(map));
}

int zs__options_read(const zs__diag_t *d, const zs__options_owner_t *owner,
                     const zmqsink_option_t *table, zs__options_t **out)
{
    assert(d && owner && out);
    assert(owner->type ? owner->sink && owner->map : !owner->skip);
    size_t count = 0;
    while (table && table[count].key)
        count++;
    *out = NULL;
    zs__options_t *o = calloc(1, sizeof *o + count * sizeof o->values[0]);
    if (!o)
        return zs__fail_nomem(d);
    o->table = table;
    o->count = count;
    struct options_reader r = {d, owner, o};
    if (mapping_check(&r) < 0 ||
        (owner->map && options_walk(&r, owner->map, "") < 0) ||
        options_complete(&r) < 0) {
        zs__options_free(&o);
        return -1;
    }
    *out = o;
    return 0;
}

int zs__options_fail(const zs__diag_t *d, const zs__options_owner_t *owner,
                     const zs__options_t *o, const char *key)
{
    int index = option_find(o, key);
    assert(index >= 0 && o->values[index].node);
    char what[OPTION_PATH_MAX + 96];
    struct options_reader r = {d, owner, (zs__options_t *)o};
    key_name(&r, key, what, sizeof what);
    return value_error(&r, o->values[index].node, what, &o->table[index]);
}

void zs__options_free(zs__options_t **options)
{
    if (!options || !*options)
        return;
    zs__options_t *o = *options;
    for (size_t i = 0; i < o->count; i++) {
        struct option_value *v = &o->values[i];
        for (size_t j = 0; j < v->count; j++) {
            free(v->keys[j]);
            if (v->values)
                free(v->values[j]);
        }
        free(v->keys);
        free(v->values);
        free(v->text);
    }
    free(o);
    *options = NULL;
}

/* Whether an option of type answers to accessor: a string for any scalar,
 * a number for the numeric types, a list or a map for its own. */
static bool type_answers(zmqsink_option_type_t type, zs__accessor_t accessor)
{
    switch (accessor) {
    case ZS__ACCESS_STRING:
        return type != ZMQSINK_OPT_LIST && type != ZMQSINK_OPT_MAP;
    case ZS__ACCESS_INT:
        return type != ZMQSINK_OPT_STRING && type != ZMQSINK_OPT_LIST &&
               type != ZMQSINK_OPT_MAP;
    case ZS__ACCESS_LIST:
        return type == ZMQSINK_OPT_LIST;
    case ZS__ACCESS_MAP:
        return type == ZMQSINK_OPT_MAP;
    default:
        return true;
    }
}

const char *zs__options_misuse(const zs__options_t *o, const char *key,
                               zs__accessor_t accessor)
{
    int index = o && key ? option_find(o, key) : -1;
    if (index < 0)
        return "its table does not declare it";
    return type_answers(o->table[index].type, accessor)
               ? NULL
               : "its table declares it with another type";
}

/* The value of key when the accessor may read it, else NULL: a plugin's
 * mistake, said by the host (zs__options_misuse()), never a crash. */
static const struct option_value *option_get(const zs__options_t *o,
                                             const char *key,
                                             zs__accessor_t accessor)
{
    if (zs__options_misuse(o, key, accessor))
        return NULL;
    return &o->values[option_find(o, key)];
}

const char *zs__options_string(const zs__options_t *o, const char *key)
{
    const struct option_value *v = option_get(o, key, ZS__ACCESS_STRING);
    return v ? v->text : NULL;
}

int64_t zs__options_int(const zs__options_t *o, const char *key)
{
    const struct option_value *v = option_get(o, key, ZS__ACCESS_INT);
    return v ? v->number : 0;
}

size_t zs__options_list(const zs__options_t *o, const char *key,
                        const char *const **items)
{
    const struct option_value *v = option_get(o, key, ZS__ACCESS_LIST);
    if (items)
        *items = v ? (const char *const *)v->keys : NULL;
    return v && items ? v->count : 0;
}

size_t zs__options_map(const zs__options_t *o, const char *key,
                       const char *const **keys, const char *const **values)
{
    const struct option_value *v = option_get(o, key, ZS__ACCESS_MAP);
    if (keys)
        *keys = v ? (const char *const *)v->keys : NULL;
    if (values)
        *values = v ? (const char *const *)v->values : NULL;
    return v && keys && values ? v->count : 0;
}

int zs__options_is_set(const zs__options_t *o, const char *key)
{
    const struct option_value *v = option_get(o, key, ZS__ACCESS_ANY);
    return v ? v->set : 0;
}

const zs__node_t *zs__options_node(const zs__options_t *o, const char *key)
{
    const struct option_value *v = option_get(o, key, ZS__ACCESS_ANY);
    return v ? v->node : NULL;
}
