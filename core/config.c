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

#include <zmq.h>

#include "text.h"

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

int zs__event_index(uint32_t type)
{
    assert(type && !(type & (type - 1)) && (type & ZMQSINK_EVENT_ALL));
    return __builtin_ctz(type);
}

/* ---- the core's keys ---- */

static void event_names_add(zs__text_t *t)
{
    zs__text_add(t, "all, errors");
    for (int i = 0; i < ZMQSINK_EVENT_TYPES; i++)
        zs__text_add(t, ", %s", zmqsink_event_name(1u << i));
}

static void severity_names_add(zs__text_t *t)
{
    for (int i = ZMQSINK_SEV_EMERG; i <= ZMQSINK_SEV_DEBUG; i++)
        zs__text_add(t, "%s%s", i ? ", " : "", zmqsink_severity_name(i));
}

static int keys_check(const zs__diag_t *w, const zs__node_t *map,
                      const char *const *valid, const char *where)
{
    for (size_t i = 0; i < map->nitems; i += 2) {
        const zs__node_t *key = map->items[i];
        if (zs__word_in(valid, key->text))
            continue;
        zs__text_t list = {0};
        zs__text_add_words(&list, valid);
        zs__fail_at(w, key, "%s%sunknown key '%s'; valid keys: %s",
                    where ? where : "", where ? ": " : "", key->text,
                    zs__text_get(&list));
        zs__text_free(&list);
        return -1;
    }
    return 0;
}

static int expect_kind(const zs__diag_t *w, const zs__node_t *node,
                       zs__node_kind_t kind, const char *what,
                       const char *expected)
{
    if (node->kind == kind)
        return 0;
    return zs__fail_at(w, node, "%s: expected %s, got %s", what, expected,
                       zs__node_show(node));
}

/* The text of a non-empty scalar, or NULL after a message. */
static char *expect_text(const zs__diag_t *w, const zs__node_t *node,
                         const char *what, const char *expected)
{
    if (node->kind == ZS__NODE_SCALAR && node->text[0])
        return node->text;
    zs__fail_at(w, node, "%s: expected %s, got %s", what, expected,
                zs__node_show(node));
    return NULL;
}

/* A key of a section that must be there, as a non-empty string. */
static char *required_text(const zs__diag_t *w, const zs__node_t *map,
                           const char *section, const char *key,
                           const char *expected)
{
    const zs__node_t *value = zs__map_get(map, key);
    if (!value) {
        zs__fail_at(w, map, "%s: missing required key '%s' (%s)", section, key,
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
static int event_word(const zs__diag_t *w, const zs__node_t *node,
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
    zs__text_t names = {0};
    event_names_add(&names);
    zs__fail_at(w, node, "%s: %s '%s'; valid events: %s", what,
                glob ? "no event matches" : "unknown event", word,
                zs__text_get(&names));
    zs__text_free(&names);
    return -1;
}

/* `events:` as one word or a list of them. */
static int events_read(const zs__diag_t *w, const zs__node_t *node,
                       const char *what, uint32_t *mask)
{
    *mask = 0;
    if (node->kind == ZS__NODE_SCALAR)
        return event_word(w, node, what, mask);
    if (expect_kind(w, node, ZS__NODE_SEQUENCE, what,
                    "an event name or a list of them") < 0)
        return -1;
    if (!node->nitems)
        return zs__fail_at(w, node,
                           "%s: an empty list selects no event; remove "
                           "the key to select all",
                           what);
    for (size_t i = 0; i < node->nitems; i++)
        if (event_word(w, node->items[i], what, mask) < 0)
            return -1;
    return 0;
}

static int severity_read(const zs__diag_t *w, const zs__node_t *node,
                         const char *what, int *severity)
{
    *severity = node->kind == ZS__NODE_SCALAR
                    ? zmqsink_severity_from_name(node->text)
                    : -1;
    if (*severity >= 0)
        return 0;
    zs__text_t names = {0};
    severity_names_add(&names);
    zs__fail_at(w, node, "%s: expected one of %s, got %s", what,
                zs__text_get(&names), zs__node_show(node));
    zs__text_free(&names);
    return -1;
}

/* A string or a list of strings, pointing into the tree. */
static int strings_read(const zs__diag_t *w, const zs__node_t *node,
                        const char *what, char ***items, size_t *count)
{
    static const char expected[] = "a name glob or a list of them";
    bool scalar = node->kind == ZS__NODE_SCALAR;
    if (!scalar && expect_kind(w, node, ZS__NODE_SEQUENCE, what, expected) < 0)
        return -1;
    size_t n = scalar ? 1 : node->nitems;
    if (!n)
        return zs__fail_at(w, node,
                           "%s: an empty list matches nothing; remove "
                           "the key to match all",
                           what);
    char **list = calloc(n, sizeof *list);
    if (!list)
        return zs__fail_nomem(w);
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

static int queue_read(zs__config_t *c, const zs__diag_t *w,
                      const zs__node_t *queue)
{
    c->queue_capacity = QUEUE_DEFAULT;
    if (!queue)
        return 0;
    if (expect_kind(w, queue, ZS__NODE_MAPPING, "queue",
                    "a mapping like { capacity: 65536 }") < 0 ||
        keys_check(w, queue, queue_keys, "queue") < 0)
        return -1;
    const zs__node_t *capacity = zs__map_get(queue, "capacity");
    if (!capacity)
        return 0;
    int64_t n = 0;
    if (capacity->kind != ZS__NODE_SCALAR ||
        zs__parse_int(capacity->text, &n) < 0 || n < QUEUE_MIN ||
        n > QUEUE_MAX || (n & (n - 1)))
        return zs__fail_at(w, capacity,
                           "queue.capacity: expected a power of two between %d "
                           "and %d, got %s",
                           QUEUE_MIN, QUEUE_MAX, zs__node_show(capacity));
    c->queue_capacity = (uint32_t)n;
    return 0;
}

static int shutdown_read(zs__config_t *c, const zs__diag_t *w,
                         const zs__node_t *node)
{
    static const zmqsink_option_t timeout = {
        .key = "shutdown_timeout", .type = ZMQSINK_OPT_DURATION, .min = 0,
        .max = SHUTDOWN_MAX_MS};
    c->shutdown_timeout_ms = SHUTDOWN_DEFAULT_MS;
    if (!node)
        return 0;
    if (node->kind != ZS__NODE_SCALAR ||
        zs__value_parse(&timeout, node->text, &c->shutdown_timeout_ms) < 0)
        return zs__fail_value(w, node, timeout.key, &timeout);
    return 0;
}

/* `stats: { path, interval }`: the counters file, and how often losses
 * may be logged. */
static int stats_read(zs__config_t *c, const zs__diag_t *w,
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
    const zs__node_t *path = zs__map_get(node, "path");
    if (path && !(c->stats_path = expect_text(w, path, "stats.path",
                                              "a file name")))
        return -1;
    const zs__node_t *every = zs__map_get(node, "interval");
    if (every &&
        (every->kind != ZS__NODE_SCALAR ||
         zs__value_parse(&interval, every->text, &c->stats_interval_ms) < 0))
        return zs__fail_value(w, every, interval.key, &interval);
    return 0;
}

/* `severity: { event-or-glob: level }` over the default severities. */
static int severities_read(zs__config_t *c, const zs__diag_t *w,
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

static int rule_read(const zs__diag_t *w, const zs__node_t *node,
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
    const zs__node_t *events = zs__map_get(node, "events");
    rule->events = ZMQSINK_EVENT_ALL;
    return events ? events_read(w, events, "sockets.events", &rule->events) : 0;
}

/* The length of a list section, 0 when it is absent or empty; -1 after a
 * message when it is no list. */
static long list_length(const zs__diag_t *w, const zs__node_t *node,
                        const char *what, const char *expected)
{
    if (!node || zs__node_is_empty(node))
        return 0;
    if (expect_kind(w, node, ZS__NODE_SEQUENCE, what, expected) < 0)
        return -1;
    return (long)node->nitems;
}

static int rules_read(zs__config_t *c, const zs__diag_t *w,
                      const zs__node_t *node)
{
    long n = list_length(w, node, "sockets",
                         "a list of rules like "
                         "- { match: \"tcp://*:5555\", name: frontend }");
    if (n <= 0)
        return (int)n;
    c->rules = calloc(node->nitems, sizeof *c->rules);
    if (!c->rules)
        return zs__fail_nomem(w);
    for (; c->nrules < node->nitems; c->nrules++)
        if (rule_read(w, node->items[c->nrules], &c->rules[c->nrules]) < 0)
            return -1;
    return 0;
}

/* A `curve:` key: 40 characters of Z85 text (32 bytes). NULL: absent. */
static int curve_key_read(const zs__diag_t *w, const zs__node_t *curve,
                          const char *key, const char **out)
{
    const zs__node_t *node = zs__map_get(curve, key);
    if (!node)
        return 0;
    char what[64];
    uint8_t bytes[32];
    snprintf(what, sizeof what, "watch.curve.%s", key);
    const char *expected = "a CURVE key in Z85 text, 40 characters";
    if (!(*out = expect_text(w, node, what, expected)))
        return -1;
    if (strlen(*out) != 40 || !zmq_z85_decode(bytes, *out))
        return zs__fail_at(w, node, "%s: expected %s, got %s", what, expected,
                           zs__node_show(node));
    return 0;
}

static int probe_curve_read(const zs__diag_t *w, const zs__node_t *node,
                            zs__probe_t *probe)
{
    const zs__node_t *curve = zs__map_get(node, "curve");
    if (!curve)
        return 0;
    if (expect_kind(w, curve, ZS__NODE_MAPPING, "watch.curve",
                    "a mapping like { server_key: KEY }") < 0 ||
        keys_check(w, curve, curve_keys, "watch.curve") < 0)
        return -1;
    if (!zs__map_get(curve, "server_key"))
        return zs__fail_at(w, curve,
                           "watch.curve: missing required key "
                           "'server_key' (the server's public key)");
    if (curve_key_read(w, curve, "server_key", &probe->server_key) < 0 ||
        curve_key_read(w, curve, "public_key", &probe->public_key) < 0 ||
        curve_key_read(w, curve, "secret_key", &probe->secret_key) < 0)
        return -1;
    if (!probe->public_key != !probe->secret_key)
        return zs__fail_at(w, curve,
                           "watch.curve: public_key and secret_key go "
                           "together (without both, the probe makes a "
                           "key pair)");
    return 0;
}

/* `type:` of a probe: a socket type name, dealer by default. */
static int probe_type_read(const zs__diag_t *w, const zs__node_t *node,
                           zs__probe_t *probe)
{
    const zs__node_t *type = zs__map_get(node, "type");
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
    return zs__fail_at(w, type, "watch.type: expected %s, got %s", expected,
                       zs__node_show(type));
}

static int probe_read(const zs__diag_t *w, const zs__node_t *node,
                      zs__probe_t *probe)
{
    if (expect_kind(w, node, ZS__NODE_MAPPING, "watch",
                    "a probe like { name: billing, endpoint: "
                    "\"tcp://billing:5555\" }") < 0 ||
        keys_check(w, node, probe_keys, "watch") < 0 ||
        !(probe->endpoint = required_text(w, node, "watch", "endpoint",
                                          "an endpoint to connect to")))
        return -1;
    const zs__node_t *name = zs__map_get(node, "name");
    probe->name = probe->endpoint;
    if (name && !(probe->name = expect_text(w, name, "watch.name",
                                            "the probe socket's name")))
        return -1;
    if (strlen(probe->name) >= ZMQSINK_SOCKET_NAME_MAX)
        return zs__fail_at(w, name ? name : node,
                           "watch.name: '%s' is longer than %d characters",
                           probe->name, ZMQSINK_SOCKET_NAME_MAX - 1);
    if (strlen(probe->endpoint) >= ZMQSINK_ENDPOINT_MAX)
        return zs__fail_at(w, zs__map_get(node, "endpoint"),
                           "watch.endpoint: longer than %d characters",
                           ZMQSINK_ENDPOINT_MAX - 1);
    return probe_type_read(w, node, probe) < 0 ||
                   probe_curve_read(w, node, probe) < 0
               ? -1
               : 0;
}

/* `watch:`: the probes of `zmqsink watch`, with unique names. */
static int watch_read(zs__config_t *c, const zs__diag_t *w,
                      const zs__node_t *node)
{
    long n = list_length(w, node, "watch",
                         "a list of probes like "
                         "- { name: billing, endpoint: \"tcp://billing:5555\" }");
    if (n <= 0)
        return (int)n;
    c->probes = calloc(node->nitems, sizeof *c->probes);
    if (!c->probes)
        return zs__fail_nomem(w);
    for (; c->nprobes < node->nitems; c->nprobes++) {
        zs__probe_t *probe = &c->probes[c->nprobes];
        if (probe_read(w, node->items[c->nprobes], probe) < 0)
            return -1;
        for (const zs__probe_t *other = c->probes; other < probe; other++)
            if (strcmp(other->name, probe->name) == 0)
                return zs__fail_at(w, node->items[c->nprobes],
                                   "watch: duplicate probe name '%s' (name one "
                                   "of them with `name:`)",
                                   probe->name);
    }
    return 0;
}

static int sink_name_read(const zs__diag_t *w, const zs__node_t *node,
                          zs__sink_config_t *sink)
{
    const zs__node_t *name = zs__map_get(node, "name");
    if (!name)
        return zs__fail_at(w, node, "sinks: missing required key 'name' (%s)",
                           NAME_RULE);
    if (name->kind != ZS__NODE_SCALAR || !name_valid(name->text))
        return zs__fail_at(w, name, "sinks.name: expected %s, got %s",
                           NAME_RULE, zs__node_show(name));
    sink->name = name->text;
    return 0;
}

static int sink_plugin_read(const zs__diag_t *w, const zs__node_t *node,
                            const char *prefix, zs__sink_config_t *sink)
{
    const zs__node_t *type = zs__map_get(node, "type");
    const zs__node_t *plugin = zs__map_get(node, "plugin");
    char what[128];
    if (!type && !plugin)
        return zs__fail_at(w, node,
                           "%s: missing 'type:' (a plugin name, like file) or "
                           "'plugin:' (a path to a plugin .so)",
                           prefix);
    /* The type names a file in plugin_dir, so no '/' may reach it. */
    snprintf(what, sizeof what, "%s: type", prefix);
    if (type && (type->kind != ZS__NODE_SCALAR || !name_valid(type->text)))
        return zs__fail_at(w, type, "%s: expected a plugin name (%s), got %s",
                           what, NAME_RULE, zs__node_show(type));
    sink->type = type ? type->text : NULL;
    snprintf(what, sizeof what, "%s: plugin", prefix);
    if (plugin && !(sink->plugin = expect_text(w, plugin, what,
                                               "a path to a plugin .so")))
        return -1;
    return 0;
}

/* events, sockets and min_severity, the filters the core applies. */
static int sink_filters_read(const zs__diag_t *w, const zs__node_t *node,
                             const char *prefix, zs__sink_config_t *sink)
{
    char what[128];
    const zs__node_t *value;
    sink->events = ZMQSINK_EVENT_ALL;
    sink->min_severity = ZMQSINK_SEV_DEBUG;
    snprintf(what, sizeof what, "%s: events", prefix);
    if ((value = zs__map_get(node, "events")) &&
        events_read(w, value, what, &sink->events) < 0)
        return -1;
    snprintf(what, sizeof what, "%s: min_severity", prefix);
    if ((value = zs__map_get(node, "min_severity")) &&
        severity_read(w, value, what, &sink->min_severity) < 0)
        return -1;
    /* Last, as the only one that allocates. */
    snprintf(what, sizeof what, "%s: sockets", prefix);
    if ((value = zs__map_get(node, "sockets")) &&
        strings_read(w, value, what, &sink->sockets, &sink->nsockets) < 0)
        return -1;
    return 0;
}

static int sink_read(const zs__diag_t *w, const zs__node_t *node,
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

static int sink_name_unique(const zs__config_t *c, const zs__diag_t *w,
                            const zs__sink_config_t *sink)
{
    for (const zs__sink_config_t *other = c->sinks; other < sink; other++) {
        if (strcmp(other->name, sink->name))
            continue;
        const zs__node_t *first = zs__map_get(other->node, "name");
        return zs__fail_at(w, zs__map_get(sink->node, "name"),
                           "duplicate sink name '%s' (first at %s:%u:%u)",
                           sink->name, w->file, first->line, first->col);
    }
    return 0;
}

static int sinks_read(zs__config_t *c, const zs__diag_t *w,
                      const zs__node_t *node)
{
    static const char none[] = "no sinks configured; add a `sinks:` list";
    if (!node)
        return zs__fail_pos(w, 1, 1, "%s", none);
    if (zs__node_is_empty(node) ||
        (node->kind == ZS__NODE_SEQUENCE && !node->nitems))
        return zs__fail_at(w, node, "sinks: %s", none);
    if (expect_kind(w, node, ZS__NODE_SEQUENCE, "sinks",
                    "a list of sinks") < 0)
        return -1;
    if (node->nitems > ZS__MAX_SINKS)
        return zs__fail_at(w, node->items[ZS__MAX_SINKS],
                           "sinks: at most %d sinks", ZS__MAX_SINKS);
    c->sinks = calloc(node->nitems, sizeof *c->sinks);
    if (!c->sinks)
        return zs__fail_nomem(w);
    for (size_t i = 0; i < node->nitems; i++) {
        if (sink_read(w, node->items[i], &c->sinks[i]) < 0)
            return -1;
        c->nsinks = i + 1; /* now zs__config_free() frees its sockets */
        if (sink_name_unique(c, w, &c->sinks[i]) < 0)
            return -1;
    }
    return 0;
}

static int config_build(zs__config_t *c, const zs__diag_t *w)
{
    const zs__node_t *root = c->root;
    if (root && zs__node_is_empty(root))
        root = NULL;
    if (root && (expect_kind(w, root, ZS__NODE_MAPPING, "top level",
                             "a mapping of settings") < 0 ||
                 keys_check(w, root, top_keys, NULL) < 0))
        return -1;
    const zs__node_t *plugin_dir = zs__map_get(root, "plugin_dir");
    if (plugin_dir && !(c->plugin_dir = expect_text(w, plugin_dir, "plugin_dir",
                                                    "a directory")))
        return -1;
    if (queue_read(c, w, zs__map_get(root, "queue")) < 0 ||
        shutdown_read(c, w, zs__map_get(root, "shutdown_timeout")) < 0 ||
        stats_read(c, w, zs__map_get(root, "stats")) < 0 ||
        severities_read(c, w, zs__map_get(root, "severity")) < 0 ||
        rules_read(c, w, zs__map_get(root, "sockets")) < 0 ||
        watch_read(c, w, zs__map_get(root, "watch")) < 0 ||
        sinks_read(c, w, zs__map_get(root, "sinks")) < 0)
        return -1;
    return 0;
}

/* Parses yaml (len bytes) into a new config that takes dir. */
static int config_load(const zs__diag_t *w, char *dir, const char *yaml,
                       size_t len, zs__config_t **out)
{
    zs__config_t *c = calloc(1, sizeof *c);
    if (!c) {
        free(dir);
        return zs__fail_nomem(w);
    }
    c->dir = dir;
    if (!(c->path = strdup(w->file))) {
        zs__fail_nomem(w);
        goto err;
    }
    if (zs__tree_read(w, yaml, len, &c->root) < 0 || config_build(c, w) < 0)
        goto err;
    *out = c;
    return 0;
err:
    zs__config_free(&c);
    return -1;
}

/* The whole file, NUL-terminated: config files are small, and having the
 * text at hand places encoding errors. */
static char *file_read(const zs__diag_t *w, const char *path, size_t *len)
{
    char *data = NULL;
    size_t cap = 0, n = 0, got;
    FILE *file = fopen(path, "rb");
    if (!file) {
        zs__fail_file(w, "cannot open: %m");
        return NULL;
    }
    do {
        if (n + 1 >= cap) {
            size_t grown = cap ? cap * 2 : 4096;
            bool fits = grown <= CONFIG_FILE_MAX;
            char *bigger = fits ? realloc(data, grown) : NULL;
            if (!bigger) {
                zs__fail_file(w, fits ? "out of memory"
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
        zs__fail_file(w, "cannot read: %m");
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
    zs__diag_t w = {path, err, errlen};
    size_t len;
    char *dir = NULL, *copy = NULL, *yaml = NULL;
    int rc = -1;
    *out = NULL;
    if (!(yaml = file_read(&w, path, &len)))
        goto out;
    if (!(copy = strdup(path))) {
        zs__fail_nomem(&w);
        goto out;
    }
    if (!(dir = realpath(dirname(copy), NULL))) {
        zs__fail_file(&w, "cannot resolve its directory: %m");
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
    zs__diag_t w = {name, err, errlen};
    *out = NULL;
    char *dir = realpath(".", NULL);
    if (!dir)
        return zs__fail_file(&w, "cannot resolve the working directory: %m");
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
    zs__node_free(c->root);
    free(c->dir);
    free(c->path);
    free(c);
    *config = NULL;
}

int zs__options_parse(const zs__config_t *config, const zs__sink_config_t *sink,
                      const char *type_name, const zmqsink_option_t *table,
                      zs__options_t **out, char *err, size_t errlen)
{
    assert(config && sink && sink->node && type_name && out);
    zs__diag_t d = {config->path, err, errlen};
    zs__options_owner_t owner = {sink->name, type_name, sink->node,
                                 sink_core_keys};
    return zs__options_read(&d, &owner, table, out);
}
