/* Configuration: the YAML file read with libyaml into a tree of positioned
 * nodes, validated into zs__config_t, and each sink's options checked
 * against its plugin's table. */
#include "config.h"

#include <assert.h>
#include <fnmatch.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>
#include <zmq.h>

/* Deeper nesting than any valid file needs; bounds the recursion. */
#define MAX_DEPTH 64
#define QUEUE_MIN 16
#define QUEUE_MAX 16777216
#define QUEUE_DEFAULT 65536
#define SHUTDOWN_DEFAULT_MS 5000
#define CONFIG_FILE_MAX (16 * 1024 * 1024)
#define SHUTDOWN_MAX_MS (3600 * 1000)
#define STATS_INTERVAL_DEFAULT_MS 5000
#define NAME_MAX_LEN 63
#define NAME_CHARS                                                             \
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"
#define NAME_RULE "1 to 63 characters among A-Z a-z 0-9 _ . -"
/* Longest dotted option key looked up; longer keys are unknown anyway. */
#define OPTION_PATH_MAX 256

static const char *const top_keys[] = {
    "plugin_dir", "queue", "shutdown_timeout", "severity", "sockets",
    "sinks",      "watch", "stats",            NULL};
static const char *const queue_keys[] = {"capacity", NULL};
static const char *const stats_keys[] = {"path", "interval", NULL};
static const char *const rule_keys[] = {"match", "name", "events", NULL};
static const char *const probe_keys[] = {"name", "endpoint", "type", "curve",
                                         NULL};
static const char *const curve_keys[] = {"server_key", "public_key",
                                         "secret_key", NULL};
/* The keys of a sink that the core reads; the rest belong to the plugin. */
static const char *const sink_core_keys[] = {
    "name", "type", "plugin", "events", "sockets", "min_severity", NULL};

/* ---- messages ---- */

/* Where messages go, and the file they name. */
struct where {
    const char *file;
    char *err;
    size_t errlen;
};

static int fail_pos_v(const struct where *w, unsigned line, unsigned col,
                      const char *fmt, va_list args)
{
    if (!w->err || !w->errlen)
        return -1;
    int n = snprintf(w->err, w->errlen, "%s:%u:%u: ", w->file, line, col);
    if (n >= 0 && (size_t)n < w->errlen)
        vsnprintf(w->err + n, w->errlen - (size_t)n, fmt, args);
    return -1;
}

/* At a libyaml mark, which counts from 0. */
__attribute__((format(printf, 3, 4))) static int
fail_mark(const struct where *w, yaml_mark_t mark, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    fail_pos_v(w, (unsigned)mark.line + 1, (unsigned)mark.column + 1, fmt,
               args);
    va_end(args);
    return -1;
}

__attribute__((format(printf, 3, 4))) static int
fail_at(const struct where *w, const zs__node_t *node, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    fail_pos_v(w, node->line, node->col, fmt, args);
    va_end(args);
    return -1;
}

/* Failures that have no position in the file. */
__attribute__((format(printf, 2, 3))) static int
fail_file(const struct where *w, const char *fmt, ...)
{
    if (!w->err || !w->errlen)
        return -1;
    int n = snprintf(w->err, w->errlen, "%s: ", w->file);
    if (n >= 0 && (size_t)n < w->errlen) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(w->err + n, w->errlen - (size_t)n, fmt, args);
        va_end(args);
    }
    return -1;
}

static int fail_nomem(const struct where *w)
{
    return fail_file(w, "out of memory");
}

/* ---- growable text, for lists in messages and ${VAR} expansion ---- */

/* An allocation failure is remembered and checked once at the end. */
struct text {
    char *data;
    size_t len, cap;
    bool oom;
};

__attribute__((format(printf, 2, 3))) static void
text_add(struct text *t, const char *fmt, ...)
{
    va_list args;
    if (t->oom)
        return;
    va_start(args, fmt);
    int n = vsnprintf(NULL, 0, fmt, args);
    va_end(args);
    if (n < 0) {
        t->oom = true;
        return;
    }
    size_t need = t->len + (size_t)n + 1;
    if (need > t->cap) {
        size_t cap = t->cap ? t->cap : 64;
        while (cap < need)
            cap *= 2;
        char *data = realloc(t->data, cap);
        if (!data) {
            t->oom = true;
            return;
        }
        t->data = data;
        t->cap = cap;
    }
    va_start(args, fmt);
    vsnprintf(t->data + t->len, t->cap - t->len, fmt, args);
    va_end(args);
    t->len += (size_t)n;
}

static const char *text_get(const struct text *t)
{
    if (t->oom)
        return "(out of memory)";
    return t->data ? t->data : "";
}

static void text_free(struct text *t)
{
    free(t->data);
    *t = (struct text){0};
}

static void words_add(struct text *t, const char *const *words)
{
    for (size_t i = 0; words[i]; i++)
        text_add(t, "%s%s", i ? ", " : "", words[i]);
}

static void event_names_add(struct text *t)
{
    text_add(t, "all, errors");
    for (int i = 0; i < ZMQSINK_EVENT_TYPES; i++)
        text_add(t, ", %s", zmqsink_event_name(1u << i));
}

static void severity_names_add(struct text *t)
{
    for (int i = ZMQSINK_SEV_EMERG; i <= ZMQSINK_SEV_DEBUG; i++)
        text_add(t, "%s%s", i ? ", " : "", zmqsink_severity_name(i));
}

/* ---- the node tree ---- */

static const char *kind_name(zs__node_kind_t kind)
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

/* A node as messages show what they got. */
static const char *node_show(const zs__node_t *node)
{
    if (node->kind != ZS__NODE_SCALAR)
        return kind_name(node->kind);
    return node->text[0] ? node->text : "an empty value";
}

static bool node_is_empty(const zs__node_t *node)
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

static void node_free(zs__node_t *node)
{
    if (!node)
        return;
    for (size_t i = 0; i < node->nitems; i++)
        node_free(node->items[i]);
    free(node->items);
    free(node->text);
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

/* The value of a key in a mapping (NULL: absent, or no mapping). */
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

static const zs__node_t *map_get(const zs__node_t *map, const char *key)
{
    if (!map || map->kind != ZS__NODE_MAPPING)
        return NULL;
    for (size_t i = 0; i + 1 < map->nitems; i += 2)
        if (!strcmp(map->items[i]->text, key))
            return map->items[i + 1];
    return NULL;
}

static bool word_in(const char *const *words, const char *word)
{
    for (size_t i = 0; words[i]; i++)
        if (!strcmp(words[i], word))
            return true;
    return false;
}

/* ---- ${VAR} expansion ---- */

static bool env_name_valid(const char *name, size_t len)
{
    static const char chars[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_";
    char first = len ? name[0] : '0';
    return !(first >= '0' && first <= '9') && strspn(name, chars) >= len;
}

/* Expands one ${...} starting at ref (just after "${"); returns a pointer
 * past its '}', or NULL after a message. */
static const char *env_reference(const struct where *w, const zs__node_t *at,
                                 const char *ref, struct text *out)
{
    const char *close = strchr(ref, '}');
    if (!close) {
        fail_at(w, at, "unterminated '${': close it with '}', or write '$$' "
                       "for a literal '$'");
        return NULL;
    }
    size_t len = strcspn(ref, ":}");
    const char *fallback = NULL;
    if (ref[len] == ':') {
        if (ref[len + 1] != '-') {
            fail_at(w, at, "'${%.*s}': expected ${VAR} or ${VAR:-default}",
                    (int)(close - ref), ref);
            return NULL;
        }
        fallback = ref + len + 2;
    }
    if (!env_name_valid(ref, len)) {
        fail_at(w, at, "'%.*s' is not a valid environment variable name",
                (int)len, ref);
        return NULL;
    }
    char *name = strndup(ref, len);
    if (!name) {
        fail_nomem(w);
        return NULL;
    }
    const char *value = getenv(name);
    int rc = 0;
    /* As in the shell, ":-" also replaces an empty value. */
    if (value && (*value || !fallback))
        text_add(out, "%s", value);
    else if (fallback)
        text_add(out, "%.*s", (int)(close - fallback), fallback);
    else
        rc = fail_at(w, at,
                     "environment variable '%s' is not set (use ${%s:-default} "
                     "to give a default)",
                     name, name);
    free(name);
    return rc < 0 ? NULL : close + 1;
}

/* ${VAR}, ${VAR:-default} and $$ (a literal '$'); any other '$' stays. */
static char *env_expand(const struct where *w, const zs__node_t *at,
                        const char *in)
{
    struct text out = {0};
    const char *p = in;
    text_add(&out, "%s", ""); /* an empty scalar is "", not NULL */
    for (;;) {
        const char *dollar = strchr(p, '$');
        if (!dollar) {
            text_add(&out, "%s", p);
            break;
        }
        text_add(&out, "%.*s", (int)(dollar - p), p);
        if (dollar[1] == '{') {
            p = env_reference(w, at, dollar + 2, &out);
            if (!p)
                goto err;
            continue;
        }
        text_add(&out, "$");
        p = dollar + (dollar[1] == '$' ? 2 : 1);
    }
    if (out.oom) {
        fail_nomem(w);
        goto err;
    }
    return out.data;
err:
    text_free(&out);
    return NULL;
}

/* ---- reading YAML ---- */

struct reader {
    yaml_parser_t *parser;
    const struct where *w;
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
        return fail_nomem(r->w);
    const char *problem = p->problem ? p->problem : "invalid YAML";
    if (p->error == YAML_READER_ERROR) {
        return fail_mark(r->w, reader_mark_at(r, p->problem_offset),
                         "%s (byte 0x%02x)", problem,
                         (unsigned)p->problem_value & 0xffu);
    }
    if (p->context)
        return fail_mark(r->w, p->problem_mark, "%s (%s at %u:%u)", problem,
                         p->context, (unsigned)p->context_mark.line + 1,
                         (unsigned)p->context_mark.column + 1);
    return fail_mark(r->w, p->problem_mark, "%s", problem);
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
        return fail_mark(r->w, ev->start_mark,
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
        return fail_mark(r->w, ev->start_mark,
                         "anchors (&%s) are not supported; write the value out",
                         (const char *)anchor);
    if (tag)
        return fail_mark(r->w, ev->start_mark,
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
        fail_nomem(r->w);
        return NULL;
    }
    const char *value = (const char *)ev->data.scalar.value;
    if (strlen(value) != ev->data.scalar.length) {
        fail_at(r->w, node, "strings must not contain NUL characters");
        goto err;
    }
    node->text = env_expand(r->w, node, value);
    if (!node->text)
        goto err;
    return node;
err:
    node_free(node);
    return NULL;
}

/* Keys are plain strings, each once per mapping. */
static int key_check(const struct reader *r, const zs__node_t *map,
                     const zs__node_t *key)
{
    if (key->kind != ZS__NODE_SCALAR)
        return fail_at(r->w, key, "expected a string as key, got %s",
                       kind_name(key->kind));
    for (size_t i = 0; i + 2 < map->nitems; i += 2)
        if (!strcmp(map->items[i]->text, key->text))
            return fail_at(r->w, key, "duplicate key '%s' (first at %s:%u:%u)",
                           key->text, r->w->file, map->items[i]->line,
                           map->items[i]->col);
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
    size_t cap = 0;
    if (!node) {
        fail_nomem(r->w);
        return NULL;
    }
    if (depth >= MAX_DEPTH) {
        fail_at(r->w, node, "nested deeper than %d levels", MAX_DEPTH);
        goto err;
    }
    for (;;) {
        yaml_event_t ev;
        if (reader_next(r, &ev) < 0)
            goto err;
        if (ev.type == end) {
            yaml_event_delete(&ev);
            return node;
        }
        zs__node_t *child = read_node(r, &ev, depth + 1);
        yaml_event_delete(&ev);
        if (!child)
            goto err;
        if (node_append(node, child, &cap) < 0) {
            node_free(child);
            fail_nomem(r->w);
            goto err;
        }
        if (mapping && node->nitems % 2 && key_check(r, node, child) < 0)
            goto err;
    }
err:
    node_free(node);
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
        fail_mark(r->w, ev->start_mark, "unexpected YAML event");
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
        fail_mark(r->w, ev.start_mark,
                  "multiple documents are not supported; keep one per file");
        yaml_event_delete(&ev);
        goto err;
    }
    yaml_event_delete(&ev);
    return 0;
err:
    node_free(*root);
    *root = NULL;
    return -1;
}

/* ---- numbers with units ---- */

struct unit {
    const char *name;
    int64_t factor;
};

static const struct unit no_units[] = {{"", 1}, {NULL, 0}};
static const struct unit duration_units[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 3600 * 1000}, {NULL, 0}};
static const struct unit size_units[] = {
    {"", 1},
    {"B", 1},
    {"KiB", INT64_C(1) << 10},
    {"MiB", INT64_C(1) << 20},
    {"GiB", INT64_C(1) << 30},
    {"KB", 1000},
    {"MB", 1000 * 1000},
    {"GB", 1000 * 1000 * 1000},
    {NULL, 0}};

/* Decimal digits followed by one of the units, nothing else. */
static int unit_parse(const char *text, const struct unit *units, int64_t *out)
{
    const char *p = text;
    int64_t n = 0;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        int digit = *p - '0';
        if (n > (INT64_MAX - digit) / 10)
            return -1;
        n = n * 10 + digit;
    }
    for (const struct unit *u = units; u->name; u++) {
        if (strcmp(p, u->name))
            continue;
        if (n > INT64_MAX / u->factor)
            return -1;
        *out = n * u->factor;
        return 0;
    }
    return -1;
}

/* Writes a value with the largest unit that divides it. */
static void unit_show(struct text *t, int64_t value, const struct unit *units)
{
    const struct unit *best = NULL;
    for (const struct unit *u = units; u->name; u++)
        if (value % u->factor == 0 && (!best || u->factor > best->factor))
            best = u;
    if (!value || !best)
        text_add(t, "%lld", (long long)value);
    else
        text_add(t, "%lld%s", (long long)(value / best->factor), best->name);
}

int zs__parse_duration_ms(const char *text, int64_t *ms)
{
    assert(text && ms);
    if (!strcmp(text, "0")) {
        *ms = 0;
        return 0;
    }
    return unit_parse(text, duration_units, ms);
}

int zs__parse_size(const char *text, int64_t *bytes)
{
    assert(text && bytes);
    return unit_parse(text, size_units, bytes);
}

/* An optional '-' and decimal digits, within int64_t. */
static int int_parse(const char *text, int64_t *out)
{
    bool negative = *text == '-';
    int64_t n;
    if (unit_parse(text + negative, no_units, &n) < 0)
        return -1;
    *out = negative ? -n : n;
    return 0;
}

int zs__event_index(uint32_t type)
{
    assert(type && !(type & (type - 1)) && (type & ZMQSINK_EVENT_ALL));
    return __builtin_ctz(type);
}

/* ---- typed values, shared by plugin options and the core's own keys ---- */

static bool range_any(const zmqsink_option_t *opt)
{
    return opt->min == 0 && opt->max == 0;
}

static int range_check(const zmqsink_option_t *opt, int64_t n)
{
    if (range_any(opt))
        return n >= 0 ? 0 : -1;
    return n >= opt->min && n <= opt->max ? 0 : -1;
}

static int bool_parse(const char *text, int64_t *out)
{
    static const char *const truths[] = {"true", "yes", "on", NULL};
    static const char *const lies[] = {"false", "no", "off", NULL};
    for (size_t i = 0; truths[i]; i++) {
        if (!strcasecmp(text, truths[i]) || !strcasecmp(text, lies[i])) {
            *out = !strcasecmp(text, truths[i]);
            return 0;
        }
    }
    return -1;
}

/* The index of text among "a|b|c". */
static int choice_parse(const char *choices, const char *text, int64_t *out)
{
    size_t len = strlen(text);
    int64_t index = 0;
    for (const char *p = choices; p; index++) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == len && !strncmp(p, text, n)) {
            *out = index;
            return 0;
        }
        p = bar ? bar + 1 : NULL;
    }
    return -1;
}

/* Checks a scalar against a scalar option type and range. */
static int scalar_parse(const zmqsink_option_t *opt, const char *text,
                        int64_t *out)
{
    *out = 0;
    switch (opt->type) {
    case ZMQSINK_OPT_STRING:
        return 0;
    case ZMQSINK_OPT_INT:
        return int_parse(text, out) < 0 ? -1 : range_check(opt, *out);
    case ZMQSINK_OPT_BOOL:
        return bool_parse(text, out);
    case ZMQSINK_OPT_DURATION:
        return zs__parse_duration_ms(text, out) < 0 ? -1
                                                    : range_check(opt, *out);
    case ZMQSINK_OPT_SIZE:
        return zs__parse_size(text, out) < 0 ? -1 : range_check(opt, *out);
    case ZMQSINK_OPT_ENUM:
        return opt->choices ? choice_parse(opt->choices, text, out) : -1;
    case ZMQSINK_OPT_LIST:
    case ZMQSINK_OPT_MAP:
        break;
    }
    return -1;
}

static void range_describe(struct text *t, const zmqsink_option_t *opt,
                           const struct unit *units)
{
    if (range_any(opt))
        return;
    if (opt->max == INT64_MAX) {
        text_add(t, " of at least ");
        unit_show(t, opt->min, units);
        return;
    }
    text_add(t, " between ");
    unit_show(t, opt->min, units);
    text_add(t, " and ");
    unit_show(t, opt->max, units);
}

/* What a value of the option must look like, for messages. */
static void expected_describe(struct text *t, const zmqsink_option_t *opt)
{
    switch (opt->type) {
    case ZMQSINK_OPT_STRING:
        text_add(t, "a string");
        break;
    case ZMQSINK_OPT_INT:
        text_add(t, "an integer");
        if (range_any(opt))
            text_add(t, " >= 0");
        range_describe(t, opt, no_units);
        break;
    case ZMQSINK_OPT_BOOL:
        text_add(t, "true or false (or yes/no, on/off)");
        break;
    case ZMQSINK_OPT_DURATION:
        text_add(t, "a duration");
        range_describe(t, opt, duration_units);
        text_add(t, " (like 500ms, 5s, 1m, 1h)");
        break;
    case ZMQSINK_OPT_SIZE:
        text_add(t, "a size");
        range_describe(t, opt, size_units);
        text_add(t, " (like 512, 64KiB, 100MiB, 1GiB)");
        break;
    case ZMQSINK_OPT_ENUM:
        text_add(t, "one of ");
        for (const char *p = opt->choices; p && *p;) {
            size_t n = strcspn(p, "|");
            text_add(t, "%s%.*s", p == opt->choices ? "" : ", ", (int)n, p);
            p += n + (p[n] == '|');
        }
        break;
    case ZMQSINK_OPT_LIST:
        text_add(t, "a string or a list of strings");
        break;
    case ZMQSINK_OPT_MAP:
        text_add(t, "a mapping of strings to strings");
        break;
    }
}

/* "WHAT: expected ..., got ..." at node. */
static int value_error(const struct where *w, const zs__node_t *node,
                       const char *what, const zmqsink_option_t *opt)
{
    struct text expected = {0};
    expected_describe(&expected, opt);
    fail_at(w, node, "%s: expected %s, got %s", what, text_get(&expected),
            node_show(node));
    text_free(&expected);
    return -1;
}

/* ---- the core's keys ---- */

static int keys_check(const struct where *w, const zs__node_t *map,
                      const char *const *valid, const char *where)
{
    for (size_t i = 0; i < map->nitems; i += 2) {
        const zs__node_t *key = map->items[i];
        if (word_in(valid, key->text))
            continue;
        struct text list = {0};
        words_add(&list, valid);
        fail_at(w, key, "%s%sunknown key '%s'; valid keys: %s",
                where ? where : "", where ? ": " : "", key->text,
                text_get(&list));
        text_free(&list);
        return -1;
    }
    return 0;
}

static int expect_kind(const struct where *w, const zs__node_t *node,
                       zs__node_kind_t kind, const char *what,
                       const char *expected)
{
    if (node->kind == kind)
        return 0;
    return fail_at(w, node, "%s: expected %s, got %s", what, expected,
                   node_show(node));
}

/* The text of a non-empty scalar, or NULL after a message. */
static char *expect_text(const struct where *w, const zs__node_t *node,
                         const char *what, const char *expected)
{
    if (node->kind == ZS__NODE_SCALAR && node->text[0])
        return node->text;
    fail_at(w, node, "%s: expected %s, got %s", what, expected,
            node_show(node));
    return NULL;
}

/* A key of a section that must be there, as a non-empty string. */
static char *required_text(const struct where *w, const zs__node_t *map,
                           const char *section, const char *key,
                           const char *expected)
{
    const zs__node_t *value = map_get(map, key);
    if (!value) {
        fail_at(w, map, "%s: missing required key '%s' (%s)", section, key,
                expected);
        return NULL;
    }
    char what[64];
    snprintf(what, sizeof what, "%s.%s", section, key);
    return expect_text(w, value, what, expected);
}

static bool name_valid(const char *name)
{
    size_t len = strlen(name);
    return len >= 1 && len <= NAME_MAX_LEN && strspn(name, NAME_CHARS) == len;
}

/* One word of `events:`: a name, a glob over names, `all` or `errors`. */
static int event_word(const struct where *w, const zs__node_t *node,
                      const char *what, uint32_t *mask)
{
    const char *word = expect_text(w, node, what, "an event name");
    if (!word)
        return -1;
    bool glob = strpbrk(word, "*?[") != NULL;
    uint32_t found = 0;
    if (!strcmp(word, "all"))
        found = ZMQSINK_EVENT_ALL;
    else if (!strcmp(word, "errors"))
        found = ZMQSINK_EVENT_ERRORS;
    else if (!glob)
        found = zmqsink_event_from_name(word);
    for (int i = 0; glob && i < ZMQSINK_EVENT_TYPES; i++)
        if (!fnmatch(word, zmqsink_event_name(1u << i), 0))
            found |= 1u << i;
    if (found) {
        *mask |= found;
        return 0;
    }
    struct text names = {0};
    event_names_add(&names);
    fail_at(w, node, "%s: %s '%s'; valid events: %s", what,
            glob ? "no event matches" : "unknown event", word,
            text_get(&names));
    text_free(&names);
    return -1;
}

/* `events:` as one word or a list of them. */
static int events_read(const struct where *w, const zs__node_t *node,
                       const char *what, uint32_t *mask)
{
    *mask = 0;
    if (node->kind == ZS__NODE_SCALAR)
        return event_word(w, node, what, mask);
    if (expect_kind(w, node, ZS__NODE_SEQUENCE, what,
                    "an event name or a list of them") < 0)
        return -1;
    if (!node->nitems)
        return fail_at(w, node, "%s: an empty list selects no event; remove "
                                "the key to select all",
                       what);
    for (size_t i = 0; i < node->nitems; i++)
        if (event_word(w, node->items[i], what, mask) < 0)
            return -1;
    return 0;
}

static int severity_read(const struct where *w, const zs__node_t *node,
                         const char *what, int *severity)
{
    *severity = node->kind == ZS__NODE_SCALAR
                    ? zmqsink_severity_from_name(node->text)
                    : -1;
    if (*severity >= 0)
        return 0;
    struct text names = {0};
    severity_names_add(&names);
    fail_at(w, node, "%s: expected one of %s, got %s", what, text_get(&names),
            node_show(node));
    text_free(&names);
    return -1;
}

/* A string or a list of strings, pointing into the tree. */
static int strings_read(const struct where *w, const zs__node_t *node,
                        const char *what, char ***items, size_t *count)
{
    static const char expected[] = "a name glob or a list of them";
    bool scalar = node->kind == ZS__NODE_SCALAR;
    if (!scalar && expect_kind(w, node, ZS__NODE_SEQUENCE, what, expected) < 0)
        return -1;
    size_t n = scalar ? 1 : node->nitems;
    if (!n)
        return fail_at(w, node, "%s: an empty list matches nothing; remove "
                                "the key to match all",
                       what);
    char **list = calloc(n, sizeof *list);
    if (!list)
        return fail_nomem(w);
    for (size_t i = 0; i < n; i++) {
        if (!(list[i] = expect_text(w, scalar ? node : node->items[i], what,
                                    expected))) {
            free(list);
            return -1;
        }
    }
    *items = list;
    *count = n;
    return 0;
}

static int queue_read(zs__config_t *c, const struct where *w,
                      const zs__node_t *queue)
{
    c->queue_capacity = QUEUE_DEFAULT;
    if (!queue)
        return 0;
    if (expect_kind(w, queue, ZS__NODE_MAPPING, "queue",
                    "a mapping like { capacity: 65536 }") < 0 ||
        keys_check(w, queue, queue_keys, "queue") < 0)
        return -1;
    const zs__node_t *capacity = map_get(queue, "capacity");
    if (!capacity)
        return 0;
    int64_t n = 0;
    if (capacity->kind != ZS__NODE_SCALAR ||
        int_parse(capacity->text, &n) < 0 || n < QUEUE_MIN ||
        n > QUEUE_MAX || (n & (n - 1)))
        return fail_at(w, capacity,
                       "queue.capacity: expected a power of two between %d "
                       "and %d, got %s",
                       QUEUE_MIN, QUEUE_MAX, node_show(capacity));
    c->queue_capacity = (uint32_t)n;
    return 0;
}

static int shutdown_read(zs__config_t *c, const struct where *w,
                         const zs__node_t *node)
{
    static const zmqsink_option_t timeout = {
        .key = "shutdown_timeout", .type = ZMQSINK_OPT_DURATION, .min = 0,
        .max = SHUTDOWN_MAX_MS};
    c->shutdown_timeout_ms = SHUTDOWN_DEFAULT_MS;
    if (!node)
        return 0;
    if (node->kind != ZS__NODE_SCALAR ||
        scalar_parse(&timeout, node->text, &c->shutdown_timeout_ms) < 0)
        return value_error(w, node, timeout.key, &timeout);
    return 0;
}

/* `stats: { path, interval }`: the counters file, and how often losses
 * may be logged. */
static int stats_read(zs__config_t *c, const struct where *w,
                      const zs__node_t *node)
{
    static const zmqsink_option_t interval = {
        .key = "stats.interval", .type = ZMQSINK_OPT_DURATION, .min = 100,
        .max = SHUTDOWN_MAX_MS};
    c->stats_interval_ms = STATS_INTERVAL_DEFAULT_MS;
    if (!node)
        return 0;
    if (expect_kind(w, node, ZS__NODE_MAPPING, "stats",
                    "a mapping like { path: stats.json, interval: 5s }") < 0 ||
        keys_check(w, node, stats_keys, "stats") < 0)
        return -1;
    const zs__node_t *path = map_get(node, "path");
    if (path && !(c->stats_path = expect_text(w, path, "stats.path",
                                              "a file name")))
        return -1;
    const zs__node_t *every = map_get(node, "interval");
    if (every && (every->kind != ZS__NODE_SCALAR ||
                  scalar_parse(&interval, every->text,
                               &c->stats_interval_ms) < 0))
        return value_error(w, every, interval.key, &interval);
    return 0;
}

/* `severity: { event-or-glob: level }` over the default severities. */
static int severities_read(zs__config_t *c, const struct where *w,
                           const zs__node_t *node)
{
    for (int i = 0; i < ZMQSINK_EVENT_TYPES; i++)
        c->severity[i] = (uint8_t)zmqsink_event_default_severity(1u << i);
    if (!node)
        return 0;
    if (expect_kind(w, node, ZS__NODE_MAPPING, "severity",
                    "a mapping of events to severities, like "
                    "{ disconnected: warning }") < 0)
        return -1;
    for (size_t i = 0; i < node->nitems; i += 2) {
        const zs__node_t *key = node->items[i];
        uint32_t mask = 0;
        int level;
        char what[96];
        snprintf(what, sizeof what, "severity.%s", key->text);
        if (event_word(w, key, "severity", &mask) < 0 ||
            severity_read(w, node->items[i + 1], what, &level) < 0)
            return -1;
        for (int bit = 0; bit < ZMQSINK_EVENT_TYPES; bit++)
            if (mask & (1u << bit))
                c->severity[bit] = (uint8_t)level;
    }
    return 0;
}

static int rule_read(const struct where *w, const zs__node_t *node,
                     zs__socket_rule_t *rule)
{
    if (expect_kind(w, node, ZS__NODE_MAPPING, "sockets",
                    "a rule like { match: \"tcp://*:5555\", name: frontend }") <
            0 ||
        keys_check(w, node, rule_keys, "sockets") < 0 ||
        !(rule->match = required_text(w, node, "sockets", "match",
                                      "a glob over endpoints")) ||
        !(rule->name = required_text(w, node, "sockets", "name",
                                     "the socket's name")))
        return -1;
    const zs__node_t *events = map_get(node, "events");
    rule->events = ZMQSINK_EVENT_ALL;
    return events ? events_read(w, events, "sockets.events", &rule->events) : 0;
}

/* The length of a list section, 0 when it is absent or empty; -1 after a
 * message when it is no list. */
static long list_length(const struct where *w, const zs__node_t *node,
                        const char *what, const char *expected)
{
    if (!node || node_is_empty(node))
        return 0;
    if (expect_kind(w, node, ZS__NODE_SEQUENCE, what, expected) < 0)
        return -1;
    return (long)node->nitems;
}

static int rules_read(zs__config_t *c, const struct where *w,
                      const zs__node_t *node)
{
    long n = list_length(w, node, "sockets",
                         "a list of rules like "
                         "- { match: \"tcp://*:5555\", name: frontend }");
    if (n <= 0)
        return (int)n;
    c->rules = calloc(node->nitems, sizeof *c->rules);
    if (!c->rules)
        return fail_nomem(w);
    for (; c->nrules < node->nitems; c->nrules++)
        if (rule_read(w, node->items[c->nrules], &c->rules[c->nrules]) < 0)
            return -1;
    return 0;
}

/* A `curve:` key: 40 characters of Z85 text (32 bytes). NULL: absent. */
static int curve_key_read(const struct where *w, const zs__node_t *curve,
                          const char *key, const char **out)
{
    const zs__node_t *node = map_get(curve, key);
    if (!node)
        return 0;
    char what[64];
    uint8_t bytes[32];
    snprintf(what, sizeof what, "watch.curve.%s", key);
    const char *expected = "a CURVE key in Z85 text, 40 characters";
    if (!(*out = expect_text(w, node, what, expected)))
        return -1;
    if (strlen(*out) != 40 || !zmq_z85_decode(bytes, *out))
        return fail_at(w, node, "%s: expected %s, got %s", what, expected,
                       node_show(node));
    return 0;
}

static int probe_curve_read(const struct where *w, const zs__node_t *node,
                            zs__probe_t *probe)
{
    const zs__node_t *curve = map_get(node, "curve");
    if (!curve)
        return 0;
    if (expect_kind(w, curve, ZS__NODE_MAPPING, "watch.curve",
                    "a mapping like { server_key: KEY }") < 0 ||
        keys_check(w, curve, curve_keys, "watch.curve") < 0)
        return -1;
    if (!map_get(curve, "server_key"))
        return fail_at(w, curve, "watch.curve: missing required key "
                                 "'server_key' (the server's public key)");
    if (curve_key_read(w, curve, "server_key", &probe->server_key) < 0 ||
        curve_key_read(w, curve, "public_key", &probe->public_key) < 0 ||
        curve_key_read(w, curve, "secret_key", &probe->secret_key) < 0)
        return -1;
    if (!probe->public_key != !probe->secret_key)
        return fail_at(w, curve, "watch.curve: public_key and secret_key go "
                                 "together (without both, the probe makes a "
                                 "key pair)");
    return 0;
}

/* `type:` of a probe: a socket type name, dealer by default. */
static int probe_type_read(const struct where *w, const zs__node_t *node,
                           zs__probe_t *probe)
{
    const zs__node_t *type = map_get(node, "type");
    probe->type = ZMQ_DEALER;
    if (!type)
        return 0;
    const char *expected = "a socket type: pair, pub, sub, req, rep, dealer, "
                           "router, pull, push, xpub, xsub or stream";
    const char *text = expect_text(w, type, "watch.type", expected);
    if (!text)
        return -1;
    for (int t = 0; t <= ZMQ_STREAM; t++)
        if (strcmp(text, zmqsink_socket_type_name(t)) == 0) {
            probe->type = t;
            return 0;
        }
    return fail_at(w, type, "watch.type: expected %s, got %s", expected,
                   node_show(type));
}

static int probe_read(const struct where *w, const zs__node_t *node,
                      zs__probe_t *probe)
{
    if (expect_kind(w, node, ZS__NODE_MAPPING, "watch",
                    "a probe like { name: billing, endpoint: "
                    "\"tcp://billing:5555\" }") < 0 ||
        keys_check(w, node, probe_keys, "watch") < 0 ||
        !(probe->endpoint = required_text(w, node, "watch", "endpoint",
                                          "an endpoint to connect to")))
        return -1;
    const zs__node_t *name = map_get(node, "name");
    probe->name = probe->endpoint;
    if (name && !(probe->name = expect_text(w, name, "watch.name",
                                            "the probe socket's name")))
        return -1;
    if (strlen(probe->name) >= ZMQSINK_SOCKET_NAME_MAX)
        return fail_at(w, name ? name : node,
                       "watch.name: '%s' is longer than %d characters",
                       probe->name, ZMQSINK_SOCKET_NAME_MAX - 1);
    if (strlen(probe->endpoint) >= ZMQSINK_ENDPOINT_MAX)
        return fail_at(w, map_get(node, "endpoint"),
                       "watch.endpoint: longer than %d characters",
                       ZMQSINK_ENDPOINT_MAX - 1);
    return probe_type_read(w, node, probe) < 0 ||
                   probe_curve_read(w, node, probe) < 0
               ? -1
               : 0;
}

/* `watch:`: the probes of `zmqsink watch`, with unique names. */
static int watch_read(zs__config_t *c, const struct where *w,
                      const zs__node_t *node)
{
    long n = list_length(w, node, "watch",
                         "a list of probes like "
                         "- { name: billing, endpoint: \"tcp://billing:5555\" }");
    if (n <= 0)
        return (int)n;
    c->probes = calloc(node->nitems, sizeof *c->probes);
    if (!c->probes)
        return fail_nomem(w);
    for (; c->nprobes < node->nitems; c->nprobes++) {
        zs__probe_t *probe = &c->probes[c->nprobes];
        if (probe_read(w, node->items[c->nprobes], probe) < 0)
            return -1;
        for (const zs__probe_t *other = c->probes; other < probe; other++)
            if (strcmp(other->name, probe->name) == 0)
                return fail_at(w, node->items[c->nprobes],
                               "watch: duplicate probe name '%s' (name one "
                               "of them with `name:`)", probe->name);
    }
    return 0;
}

static int sink_name_read(const struct where *w, const zs__node_t *node,
                          zs__sink_config_t *sink)
{
    const zs__node_t *name = map_get(node, "name");
    if (!name)
        return fail_at(w, node, "sinks: missing required key 'name' (%s)",
                       NAME_RULE);
    if (name->kind != ZS__NODE_SCALAR || !name_valid(name->text))
        return fail_at(w, name, "sinks.name: expected %s, got %s", NAME_RULE,
                       node_show(name));
    sink->name = name->text;
    return 0;
}

static int sink_plugin_read(const struct where *w, const zs__node_t *node,
                            const char *prefix, zs__sink_config_t *sink)
{
    const zs__node_t *type = map_get(node, "type");
    const zs__node_t *plugin = map_get(node, "plugin");
    char what[128];
    if (!type && !plugin)
        return fail_at(w, node,
                       "%s: missing 'type:' (a plugin name, like file) or "
                       "'plugin:' (a path to a plugin .so)",
                       prefix);
    /* The type names a file in plugin_dir, so no '/' may reach it. */
    snprintf(what, sizeof what, "%s: type", prefix);
    if (type && (type->kind != ZS__NODE_SCALAR || !name_valid(type->text)))
        return fail_at(w, type, "%s: expected a plugin name (%s), got %s",
                       what, NAME_RULE, node_show(type));
    sink->type = type ? type->text : NULL;
    snprintf(what, sizeof what, "%s: plugin", prefix);
    if (plugin && !(sink->plugin = expect_text(w, plugin, what,
                                               "a path to a plugin .so")))
        return -1;
    return 0;
}

/* events, sockets and min_severity, the filters the core applies. */
static int sink_filters_read(const struct where *w, const zs__node_t *node,
                             const char *prefix, zs__sink_config_t *sink)
{
    char what[128];
    const zs__node_t *value;
    sink->events = ZMQSINK_EVENT_ALL;
    sink->min_severity = ZMQSINK_SEV_DEBUG;
    snprintf(what, sizeof what, "%s: events", prefix);
    if ((value = map_get(node, "events")) &&
        events_read(w, value, what, &sink->events) < 0)
        return -1;
    snprintf(what, sizeof what, "%s: min_severity", prefix);
    if ((value = map_get(node, "min_severity")) &&
        severity_read(w, value, what, &sink->min_severity) < 0)
        return -1;
    /* Last, as the only one that allocates. */
    snprintf(what, sizeof what, "%s: sockets", prefix);
    if ((value = map_get(node, "sockets")) &&
        strings_read(w, value, what, &sink->sockets, &sink->nsockets) < 0)
        return -1;
    return 0;
}

static int sink_read(const struct where *w, const zs__node_t *node,
                     zs__sink_config_t *sink)
{
    char prefix[96];
    if (expect_kind(w, node, ZS__NODE_MAPPING, "sinks",
                    "a sink mapping with name, type and options") < 0 ||
        sink_name_read(w, node, sink) < 0)
        return -1;
    sink->node = node;
    snprintf(prefix, sizeof prefix, "sink '%s'", sink->name);
    if (sink_plugin_read(w, node, prefix, sink) < 0 ||
        sink_filters_read(w, node, prefix, sink) < 0)
        return -1;
    return 0;
}

static int sink_name_unique(const zs__config_t *c, const struct where *w,
                            const zs__sink_config_t *sink)
{
    for (const zs__sink_config_t *other = c->sinks; other < sink; other++) {
        if (strcmp(other->name, sink->name))
            continue;
        const zs__node_t *first = map_get(other->node, "name");
        return fail_at(w, map_get(sink->node, "name"),
                       "duplicate sink name '%s' (first at %s:%u:%u)",
                       sink->name, w->file, first->line, first->col);
    }
    return 0;
}

static int sinks_read(zs__config_t *c, const struct where *w,
                      const zs__node_t *node)
{
    static const char none[] = "no sinks configured; add a `sinks:` list";
    if (!node)
        return fail_mark(w, (yaml_mark_t){0}, "%s", none);
    if (node_is_empty(node) ||
        (node->kind == ZS__NODE_SEQUENCE && !node->nitems))
        return fail_at(w, node, "sinks: %s", none);
    if (expect_kind(w, node, ZS__NODE_SEQUENCE, "sinks",
                    "a list of sinks") < 0)
        return -1;
    if (node->nitems > ZS__MAX_SINKS)
        return fail_at(w, node->items[ZS__MAX_SINKS],
                       "sinks: at most %d sinks", ZS__MAX_SINKS);
    c->sinks = calloc(node->nitems, sizeof *c->sinks);
    if (!c->sinks)
        return fail_nomem(w);
    for (size_t i = 0; i < node->nitems; i++) {
        if (sink_read(w, node->items[i], &c->sinks[i]) < 0)
            return -1;
        c->nsinks = i + 1; /* now zs__config_free() frees its sockets */
        if (sink_name_unique(c, w, &c->sinks[i]) < 0)
            return -1;
    }
    return 0;
}

static int config_build(zs__config_t *c, const struct where *w)
{
    const zs__node_t *root = c->root;
    if (root && node_is_empty(root))
        root = NULL;
    if (root && (expect_kind(w, root, ZS__NODE_MAPPING, "top level",
                             "a mapping of settings") < 0 ||
                 keys_check(w, root, top_keys, NULL) < 0))
        return -1;
    const zs__node_t *plugin_dir = map_get(root, "plugin_dir");
    if (plugin_dir && !(c->plugin_dir = expect_text(w, plugin_dir, "plugin_dir",
                                                    "a directory")))
        return -1;
    if (queue_read(c, w, map_get(root, "queue")) < 0 ||
        shutdown_read(c, w, map_get(root, "shutdown_timeout")) < 0 ||
        stats_read(c, w, map_get(root, "stats")) < 0 ||
        severities_read(c, w, map_get(root, "severity")) < 0 ||
        rules_read(c, w, map_get(root, "sockets")) < 0 ||
        watch_read(c, w, map_get(root, "watch")) < 0 ||
        sinks_read(c, w, map_get(root, "sinks")) < 0)
        return -1;
    return 0;
}

/* Parses yaml (len bytes) into a new config that takes dir. */
static int config_load(const struct where *w, char *dir, const char *yaml,
                       size_t len, zs__config_t **out)
{
    yaml_parser_t parser;
    struct reader r = {&parser, w, yaml, len};
    bool parser_ready = false;
    zs__config_t *c = calloc(1, sizeof *c);
    if (!c) {
        free(dir);
        return fail_nomem(w);
    }
    c->dir = dir;
    if (!(c->path = strdup(w->file)) || !yaml_parser_initialize(&parser)) {
        fail_nomem(w);
        goto err;
    }
    parser_ready = true;
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    if (read_stream(&r, &c->root) < 0 || config_build(c, w) < 0)
        goto err;
    yaml_parser_delete(&parser);
    *out = c;
    return 0;
err:
    if (parser_ready)
        yaml_parser_delete(&parser);
    zs__config_free(&c);
    return -1;
}

/* The whole file, NUL-terminated: config files are small, and having the
 * text at hand places encoding errors. */
static char *file_read(const struct where *w, const char *path, size_t *len)
{
    char *data = NULL;
    size_t cap = 0, n = 0, got;
    FILE *file = fopen(path, "rb");
    if (!file) {
        fail_file(w, "cannot open: %m");
        return NULL;
    }
    do {
        if (n + 1 >= cap) {
            size_t grown = cap ? cap * 2 : 4096;
            bool fits = grown <= CONFIG_FILE_MAX;
            char *bigger = fits ? realloc(data, grown) : NULL;
            if (!bigger) {
                fail_file(w, fits ? "out of memory"
                                  : "too large for a config file (16 MiB)");
                goto err;
            }
            data = bigger;
            cap = grown;
        }
        got = fread(data + n, 1, cap - n - 1, file);
        n += got;
    } while (got);
    if (ferror(file)) {
        fail_file(w, "cannot read: %m");
        goto err;
    }
    fclose(file);
    data[n] = '\0';
    *len = n;
    return data;
err:
    free(data);
    fclose(file);
    return NULL;
}

int zs__config_load_file(const char *path, zs__config_t **out, char *err,
                         size_t errlen)
{
    assert(path && out);
    struct where w = {path, err, errlen};
    size_t len;
    char *dir = NULL, *copy = NULL, *yaml = NULL;
    int rc = -1;
    *out = NULL;
    if (!(yaml = file_read(&w, path, &len)))
        goto out;
    if (!(copy = strdup(path))) {
        fail_nomem(&w);
        goto out;
    }
    if (!(dir = realpath(dirname(copy), NULL))) {
        fail_file(&w, "cannot resolve its directory: %m");
        goto out;
    }
    rc = config_load(&w, dir, yaml, len, out);
out:
    free(copy);
    free(yaml);
    return rc;
}

int zs__config_load_string(const char *name, const char *yaml,
                           zs__config_t **out, char *err, size_t errlen)
{
    assert(name && yaml && out);
    struct where w = {name, err, errlen};
    *out = NULL;
    char *dir = realpath(".", NULL);
    if (!dir)
        return fail_file(&w, "cannot resolve the working directory: %m");
    return config_load(&w, dir, yaml, strlen(yaml), out);
}

void zs__config_free(zs__config_t **config)
{
    if (!config || !*config)
        return;
    zs__config_t *c = *config;
    for (size_t i = 0; i < c->nsinks; i++)
        free(c->sinks[i].sockets);
    free(c->sinks);
    free(c->rules);
    free(c->probes);
    node_free(c->root);
    free(c->dir);
    free(c->path);
    free(c);
    *config = NULL;
}

/* ---- plugin options ---- */

struct option_value {
    bool set;       /* by the file, not by the fallback */
    char *text;     /* scalar types: the text */
    int64_t number; /* INT, BOOL, DURATION, SIZE, ENUM */
    char **keys;    /* LIST: the items; MAP: the keys */
    char **values;  /* MAP: the values */
    size_t count;
};

/* Values in the order of the plugin's table, which must outlive them (the
 * plugin stays loaded while its sink exists). */
struct zs__options {
    const zmqsink_option_t *table;
    size_t count;
    struct option_value values[];
};

/* What parsing one sink's options keeps at hand. */
struct options_reader {
    const struct where *w;
    const zs__sink_config_t *sink;
    const char *type;
    zs__options_t *options;
};

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

/* The declared keys that start with prefix ("" for all). */
static void option_keys_add(struct text *t, const zs__options_t *o,
                            const char *prefix)
{
    size_t len = strlen(prefix), n = 0;
    for (size_t i = 0; i < o->count; i++)
        if (!strncmp(o->table[i].key, prefix, len))
            text_add(t, "%s%s", n++ ? ", " : "", o->table[i].key);
    if (!n)
        text_add(t, "(none)");
}

/* A LIST from one string or a sequence of them; a MAP of strings. */
static int option_strings_read(const struct options_reader *r,
                               const char *what, const zmqsink_option_t *opt,
                               const zs__node_t *node, struct option_value *v)
{
    bool map = opt->type == ZMQSINK_OPT_MAP;
    bool scalar = node->kind == ZS__NODE_SCALAR;
    if ((map && node->kind != ZS__NODE_MAPPING) ||
        (!map && node->kind == ZS__NODE_MAPPING))
        return value_error(r->w, node, what, opt);
    size_t n = scalar ? 1 : map ? node->nitems / 2 : node->nitems;
    v->keys = calloc(n ? n : 1, sizeof *v->keys);
    v->values = map ? calloc(n ? n : 1, sizeof *v->values) : NULL;
    if (!v->keys || (map && !v->values))
        return fail_nomem(r->w);
    for (size_t i = 0; i < n; i++) {
        const zs__node_t *item = scalar ? node : node->items[map ? 2 * i : i];
        const zs__node_t *value = map ? node->items[2 * i + 1] : NULL;
        if (value && value->kind != ZS__NODE_SCALAR)
            return value_error(r->w, value, what, opt);
        if (item->kind != ZS__NODE_SCALAR)
            return value_error(r->w, item, what, opt);
        v->keys[i] = strdup(item->text);
        v->count = i + 1; /* from here on zs__options_free() frees it */
        if (!v->keys[i] || (value && !(v->values[i] = strdup(value->text))))
            return fail_nomem(r->w);
    }
    return 0;
}

static int option_value_read(const struct options_reader *r, const char *what,
                             const zmqsink_option_t *opt,
                             const zs__node_t *node, struct option_value *v)
{
    if (opt->type == ZMQSINK_OPT_LIST || opt->type == ZMQSINK_OPT_MAP)
        return option_strings_read(r, what, opt, node, v);
    if (node->kind != ZS__NODE_SCALAR ||
        scalar_parse(opt, node->text, &v->number) < 0)
        return value_error(r->w, node, what, opt);
    if (!(v->text = strdup(node->text)))
        return fail_nomem(r->w);
    return 0;
}

static int option_set(const struct options_reader *r, const zs__node_t *key,
                      const char *what, int index, const zs__node_t *value)
{
    const zmqsink_option_t *opt = &r->options->table[index];
    struct option_value *v = &r->options->values[index];
    /* "rotate.keep: 5" beside "rotate: { keep: 5 }" */
    if (v->set)
        return fail_at(r->w, key, "sink '%s': option '%s' is set twice",
                       r->sink->name, opt->key);
    v->set = true;
    return option_value_read(r, what, opt, value, v);
}

static int option_unknown(const struct options_reader *r,
                          const zs__node_t *key, const char *path)
{
    struct text keys = {0};
    option_keys_add(&keys, r->options, "");
    fail_at(r->w, key,
            "sink '%s': unknown option '%s' for type '%s'; valid options: %s",
            r->sink->name, path, r->type, text_get(&keys));
    text_free(&keys);
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
    struct text keys = {0};
    option_keys_add(&keys, r->options, prefix);
    fail_at(r->w, value, "%s: expected a mapping of %s, got %s", what,
            text_get(&keys), node_show(value));
    text_free(&keys);
    return -1;
}

static int options_walk(const struct options_reader *r, const zs__node_t *map,
                        const char *prefix)
{
    for (size_t i = 0; i < map->nitems; i += 2) {
        const zs__node_t *key = map->items[i], *value = map->items[i + 1];
        char path[OPTION_PATH_MAX], what[OPTION_PATH_MAX + 96];
        if (!*prefix && word_in(sink_core_keys, key->text))
            continue;
        int n = snprintf(path, sizeof path, "%s%s", prefix, key->text);
        if (n < 0 || (size_t)n >= sizeof path)
            return option_unknown(r, key, key->text);
        snprintf(what, sizeof what, "sink '%s': %s", r->sink->name, path);
        int index = option_find(r->options, path);
        int rc = index >= 0 ? option_set(r, key, what, index, value)
                 : option_prefix_declared(r->options, path)
                     ? options_nested(r, path, what, value)
                     : option_unknown(r, key, path);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* A fallback that does not parse is the plugin's bug, not the user's. */
static int option_fallback(const struct options_reader *r,
                           const zmqsink_option_t *opt, struct option_value *v)
{
    zs__node_t node = {.kind = ZS__NODE_SCALAR,
                       .line = r->sink->node->line,
                       .col = r->sink->node->col,
                       .text = (char *)opt->fallback};
    int64_t number;
    bool valid = opt->type == ZMQSINK_OPT_LIST ||
                 (opt->type != ZMQSINK_OPT_MAP &&
                  scalar_parse(opt, opt->fallback, &number) == 0);
    if (valid)
        return option_value_read(r, opt->key, opt, &node, v);
    struct text expected = {0};
    expected_describe(&expected, opt);
    fail_at(r->w, r->sink->node,
            "sink '%s': plugin '%s' is broken: its default for option '%s' "
            "is %s, not %s",
            r->sink->name, r->type, opt->key, opt->fallback,
            text_get(&expected));
    text_free(&expected);
    return -1;
}

static int options_complete(const struct options_reader *r)
{
    for (size_t i = 0; i < r->options->count; i++) {
        const zmqsink_option_t *opt = &r->options->table[i];
        struct option_value *v = &r->options->values[i];
        if (v->set)
            continue;
        if (opt->required)
            return fail_at(r->w, r->sink->node,
                           "sink '%s': missing required option '%s' for type "
                           "'%s'%s%s%s",
                           r->sink->name, opt->key, r->type,
                           opt->help ? " (" : "", opt->help ? opt->help : "",
                           opt->help ? ")" : "");
        if (opt->fallback && option_fallback(r, opt, v) < 0)
            return -1;
    }
    return 0;
}

int zs__options_parse(const zs__config_t *config, const zs__sink_config_t *sink,
                      const char *type_name, const zmqsink_option_t *table,
                      zs__options_t **out, char *err, size_t errlen)
{
    assert(config && sink && sink->node && type_name && out);
    struct where w = {config->path, err, errlen};
    size_t count = 0;
    while (table && table[count].key)
        count++;
    *out = NULL;
    zs__options_t *o = calloc(1, sizeof *o + count * sizeof o->values[0]);
    if (!o)
        return fail_nomem(&w);
    o->table = table;
    o->count = count;
    struct options_reader r = {&w, sink, type_name, o};
    if (options_walk(&r, sink->node, "") < 0 || options_complete(&r) < 0) {
        zs__options_free(&o);
        return -1;
    }
    *out = o;
    return 0;
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

static const struct option_value *option_get(const zs__options_t *o,
                                             const char *key,
                                             zmqsink_option_type_t *type)
{
    assert(o && key);
    int index = option_find(o, key);
    assert(index >= 0 && "option not declared in the plugin's table");
    if (index < 0)
        abort();
    *type = o->table[index].type;
    return &o->values[index];
}

const char *zs__options_string(const zs__options_t *o, const char *key)
{
    zmqsink_option_type_t type;
    const struct option_value *v = option_get(o, key, &type);
    assert(type != ZMQSINK_OPT_LIST && type != ZMQSINK_OPT_MAP);
    return v->text;
}

int64_t zs__options_int(const zs__options_t *o, const char *key)
{
    zmqsink_option_type_t type;
    const struct option_value *v = option_get(o, key, &type);
    assert(type != ZMQSINK_OPT_STRING && type != ZMQSINK_OPT_LIST &&
           type != ZMQSINK_OPT_MAP);
    return v->number;
}

size_t zs__options_list(const zs__options_t *o, const char *key,
                        const char *const **items)
{
    zmqsink_option_type_t type;
    const struct option_value *v = option_get(o, key, &type);
    assert(type == ZMQSINK_OPT_LIST && items);
    *items = (const char *const *)v->keys;
    return v->count;
}

size_t zs__options_map(const zs__options_t *o, const char *key,
                       const char *const **keys, const char *const **values)
{
    zmqsink_option_type_t type;
    const struct option_value *v = option_get(o, key, &type);
    assert(type == ZMQSINK_OPT_MAP && keys && values);
    *keys = (const char *const *)v->keys;
    *values = (const char *const *)v->values;
    return v->count;
}

int zs__options_is_set(const zs__options_t *o, const char *key)
{
    zmqsink_option_type_t type;
    return option_get(o, key, &type)->set;
}
