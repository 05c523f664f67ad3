/* The core's schema: its keys (plugin_dir, queue, shutdown_timeout,
 * severity, sockets, watch, stats, and a sink's name, type, plugin,
 * events, sockets and min_severity) described with the option tables
 * plugins use, checked by the one validator of options.c, and read into
 * zs__config_t. */
#include "schema.h"

#include <assert.h>
#include <fnmatch.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "options.h"
#include "strset.h"
#include "text.h"

#define SHUTDOWN_MAX_MS (3600 * 1000)
#define NAME_MAX_LEN 63
#define NAME_CHARS                                                             \
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"
#define NAME_RULE "1 to 63 characters among A-Z a-z 0-9 _ . -"
#define Z85_KEY "a CURVE key in Z85 text, 40 characters"

/* ---- the schema: the core's keys, one table per mapping ---- */

/* Keys whose values have a shape of their own (lists of mappings, event
 * names, severities) are ZS__OPT_NODE: the validator knows them, and their
 * readers below check the rest. */
static const zmqsink_option_t top_keys[] = {
    {.key = "plugin_dir", .type = ZMQSINK_OPT_STRING, .help = "a directory"},
    {.key = "queue", .type = ZS__OPT_NODE},
    {.key = "shutdown_timeout",
     .type = ZMQSINK_OPT_DURATION,
     .fallback = "5s",
     .min = 0,
     .max = SHUTDOWN_MAX_MS},
    {.key = "severity", .type = ZS__OPT_NODE},
    {.key = "sockets", .type = ZS__OPT_NODE},
    {.key = "sinks", .type = ZS__OPT_NODE},
    {.key = "watch", .type = ZS__OPT_NODE},
    {.key = "stats", .type = ZS__OPT_NODE},
    {0},
};

/* The range is checked here, the power of two by queue_fields(). */
static const zmqsink_option_t queue_keys[] = {
    {.key = "capacity",
     .type = ZMQSINK_OPT_INT,
     .fallback = "65536",
     .min = 16,
     .max = 16777216,
     .help = "a power of two between 16 and 16777216"},
    {0},
};

static const zmqsink_option_t stats_keys[] = {
    {.key = "path", .type = ZMQSINK_OPT_STRING, .help = "a file name"},
    {.key = "interval",
     .type = ZMQSINK_OPT_DURATION,
     .fallback = "5s",
     .min = 100,
     .max = SHUTDOWN_MAX_MS},
    {0},
};

static const zmqsink_option_t rule_keys[] = {
    {.key = "match",
     .type = ZMQSINK_OPT_STRING,
     .required = 1,
     .help = "a glob over endpoints"},
    {.key = "name",
     .type = ZMQSINK_OPT_STRING,
     .required = 1,
     .help = NAME_RULE},
    {.key = "events", .type = ZS__OPT_NODE},
    {0},
};

static const zmqsink_option_t probe_keys[] = {
    {.key = "name",
     .type = ZMQSINK_OPT_STRING,
     .help = "the probe socket's name"},
    {.key = "endpoint",
     .type = ZMQSINK_OPT_STRING,
     .required = 1,
     .help = "an endpoint to connect to"},
    {.key = "type",
     .type = ZMQSINK_OPT_STRING,
     .help = "a socket type: pair, pub, sub, req, rep, dealer, router, "
             "pull, push, xpub, xsub or stream"},
    {.key = "curve", .type = ZS__OPT_NODE},
    {0},
};

/* server_key is required, but its message says what the key is for rather
 * than what it looks like, so curve_fields() asks for it. */
static const zmqsink_option_t curve_keys[] = {
    {.key = "server_key", .type = ZMQSINK_OPT_STRING, .help = Z85_KEY},
    {.key = "public_key", .type = ZMQSINK_OPT_STRING, .help = Z85_KEY},
    {.key = "secret_key", .type = ZMQSINK_OPT_STRING, .help = Z85_KEY},
    {0},
};

/* A sink's keys that the core reads: its name first, since messages about
 * the others name the sink; the remaining keys belong to its plugin. */
static const zmqsink_option_t sink_name_keys[] = {
    {.key = "name",
     .type = ZMQSINK_OPT_STRING,
     .required = 1,
     .help = NAME_RULE},
    {0},
};
static const zmqsink_option_t sink_keys[] = {
    {.key = "type",
     .type = ZMQSINK_OPT_STRING,
     .help = "a plugin name (" NAME_RULE ")"},
    {.key = "plugin",
     .type = ZMQSINK_OPT_STRING,
     .help = "a path to a plugin .so"},
    {.key = "events", .type = ZS__OPT_NODE},
    {.key = "sockets",
     .type = ZMQSINK_OPT_LIST,
     .help = "a name glob or a list of them"},
    {.key = "min_severity", .type = ZS__OPT_NODE},
    {0},
};
static const zmqsink_option_t *const sink_core_tables[] = {sink_name_keys,
                                                           sink_keys, NULL};

/* ---- one mapping of the core's keys ---- */

/* A mapping read with its table: where messages go, how they name its
 * keys, and the validated values. */
struct section {
    const zs__diag_t *d;
    zs__options_owner_t owner;
    zs__options_t *values;
};

/* Validates owner.map against table, then has fields() read the values
 * into out. */
static int section_read(const zs__diag_t *d, zs__options_owner_t owner,
                        const zmqsink_option_t *table,
                        int (*fields)(const struct section *s, void *out),
                        void *out)
{
    struct section s = {.d = d, .owner = owner};
    int rc = zs__options_read(d, &s.owner, table, &s.values);
    if (rc == 0)
        rc = fields(&s, out);
    zs__options_free(&s.values);
    return rc;
}

/* The value of key as the file gave it, or NULL. */
static const zs__node_t *section_node(const struct section *s, const char *key)
{
    return zs__options_node(s->values, key);
}

/* A string key's text, pointing into the tree, or NULL. */
static char *section_text(const struct section *s, const char *key)
{
    const zs__node_t *node = section_node(s, key);
    return node ? node->text : NULL;
}

static int section_fail(const struct section *s, const char *key)
{
    return zs__options_fail(s->d, &s->owner, s->values, key);
}

/* ---- values of their own shape ---- */

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

static int expect_kind(const zs__diag_t *d, const zs__node_t *node,
                       zs__node_kind_t kind, const char *what,
                       const char *expected)
{
    if (node->kind == kind)
        return 0;
    return zs__fail_at(d, node, "%s: expected %s, got %s", what, expected,
                       zs__node_show(node));
}

/* The text of a non-empty scalar, or NULL after a message. */
static char *expect_text(const zs__diag_t *d, const zs__node_t *node,
                         const char *what, const char *expected)
{
    if (node->kind == ZS__NODE_SCALAR && node->text[0])
        return node->text;
    zs__fail_at(d, node, "%s: expected %s, got %s", what, expected,
                zs__node_show(node));
    return NULL;
}

static bool name_valid(const char *name)
{
    size_t len = strlen(name);
    return len >= 1 && len <= NAME_MAX_LEN && strspn(name, NAME_CHARS) == len;
}

/* One word of `events:`: a name, a glob over names, `all` or `errors`. */
static int event_word(const zs__diag_t *d, const zs__node_t *node,
                      const char *what, uint32_t *mask)
{
    const char *word = expect_text(d, node, what, "an event name");
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
    zs__fail_at(d, node, "%s: %s '%s'; valid events: %s", what,
                glob ? "no event matches" : "unknown event",
                zs__node_written(node), zs__text_get(&names));
    zs__text_free(&names);
    return -1;
}

/* `events:` as one word or a list of them. */
static int events_read(const zs__diag_t *d, const zs__node_t *node,
                       const char *what, uint32_t *mask)
{
    *mask = 0;
    if (node->kind == ZS__NODE_SCALAR)
        return event_word(d, node, what, mask);
    if (expect_kind(d, node, ZS__NODE_SEQUENCE, what,
                    "an event name or a list of them") < 0)
        return -1;
    if (!node->nitems)
        return zs__fail_at(d, node,
                           "%s: an empty list selects no event; remove "
                           "the key to select all",
                           what);
    for (size_t i = 0; i < node->nitems; i++)
        if (event_word(d, node->items[i], what, mask) < 0)
            return -1;
    return 0;
}

static int severity_read(const zs__diag_t *d, const zs__node_t *node,
                         const char *what, int *severity)
{
    *severity = node->kind == ZS__NODE_SCALAR
                    ? zmqsink_severity_from_name(node->text)
                    : -1;
    if (*severity >= 0)
        return 0;
    zs__text_t names = {0};
    severity_names_add(&names);
    zs__fail_at(d, node, "%s: expected one of %s, got %s", what,
                zs__text_get(&names), zs__node_show(node));
    zs__text_free(&names);
    return -1;
}

/* ---- the sections ---- */

static int queue_fields(const struct section *s, void *config)
{
    zs__config_t *c = config;
    int64_t n = zs__options_int(s->values, "capacity");
    c->queue_capacity = (uint32_t)n;
    return n & (n - 1) ? section_fail(s, "capacity") : 0;
}

static int queue_read(zs__config_t *c, const zs__diag_t *d,
                      const zs__node_t *node)
{
    zs__options_owner_t owner = {.section = "queue",
                                 .expected =
                                     "a mapping like { capacity: 65536 }",
                                 .map = node};
    return section_read(d, owner, queue_keys, queue_fields, c);
}

/* `stats: { path, interval }`: the counters file, and how often losses
 * may be logged. */
static int stats_fields(const struct section *s, void *config)
{
    zs__config_t *c = config;
    c->stats_path = section_text(s, "path");
    c->stats_interval_ms = zs__options_int(s->values, "interval");
    return 0;
}

static int stats_read(zs__config_t *c, const zs__diag_t *d,
                      const zs__node_t *node)
{
    zs__options_owner_t owner = {
        .section = "stats",
        .expected = "a mapping like { path: stats.json, interval: 5s }",
        .map = node};
    return section_read(d, owner, stats_keys, stats_fields, c);
}

/* `severity: { event-or-glob: level }` over the default severities: its
 * keys are event names, not a fixed set, so no table describes it. */
static int severities_read(zs__config_t *c, const zs__diag_t *d,
                           const zs__node_t *node)
{
    for (int i = 0; i < ZMQSINK_EVENT_TYPES; i++)
        c->severity[i] = (uint8_t)zmqsink_event_default_severity(1u << i);
    if (!node)
        return 0;
    if (expect_kind(d, node, ZS__NODE_MAPPING, "severity",
                    "a mapping of events to severities, like "
                    "{ disconnected: warning }") < 0)
        return -1;
    for (size_t i = 0; i < node->nitems; i += 2) {
        const zs__node_t *key = node->items[i];
        uint32_t mask = 0;
        int level;
        char what[96];
        snprintf(what, sizeof what, "severity.%s", zs__node_written(key));
        if (event_word(d, key, "severity", &mask) < 0 ||
            severity_read(d, node->items[i + 1], what, &level) < 0)
            return -1;
        for (int bit = 0; bit < ZMQSINK_EVENT_TYPES; bit++)
            if (mask & (1u << bit))
                c->severity[bit] = (uint8_t)level;
    }
    return 0;
}

/* The length of a list section, 0 when it is absent or empty; -1 after a
 * message when it is no list. The sections that are lists of mappings
 * (sockets, watch, sinks) walk their items here and read each item with
 * its table: no option type describes a list of mappings. */
static long list_length(const zs__diag_t *d, const zs__node_t *node,
                        const char *what, const char *expected)
{
    if (!node || zs__node_is_empty(node))
        return 0;
    if (expect_kind(d, node, ZS__NODE_SEQUENCE, what, expected) < 0)
        return -1;
    return (long)node->nitems;
}

static int rule_fields(const struct section *s, void *out)
{
    zs__socket_rule_t *rule = out;
    const zs__node_t *events = section_node(s, "events");
    rule->match = section_text(s, "match");
    rule->name = section_text(s, "name");
    rule->events = ZMQSINK_EVENT_ALL;
    if (!name_valid(rule->name))
        return section_fail(s, "name");
    return events ? events_read(s->d, events, "sockets.events", &rule->events)
                  : 0;
}

static int rule_read(const zs__diag_t *d, const zs__node_t *node,
                     zs__socket_rule_t *rule)
{
    zs__options_owner_t owner = {
        .section = "sockets",
        .expected = "a rule like { match: \"tcp://*:5555\", name: frontend }",
        .map = node};
    return section_read(d, owner, rule_keys, rule_fields, rule);
}

static int rules_read(zs__config_t *c, const zs__diag_t *d,
                      const zs__node_t *node)
{
    long n = list_length(d, node, "sockets",
                         "a list of rules like "
                         "- { match: \"tcp://*:5555\", name: frontend }");
    if (n <= 0)
        return (int)n;
    c->rules = calloc(node->nitems, sizeof *c->rules);
    if (!c->rules)
        return zs__fail_nomem(d);
    for (; c->nrules < node->nitems; c->nrules++)
        if (rule_read(d, node->items[c->nrules], &c->rules[c->nrules]) < 0)
            return -1;
    return 0;
}

/* A `curve:` key is 40 characters of Z85 text (32 bytes). */
static int curve_key_check(const struct section *s, const char *key)
{
    const char *text = section_text(s, key);
    uint8_t bytes[32];
    if (text && (strlen(text) != 40 || !zmq_z85_decode(bytes, text)))
        return section_fail(s, key);
    return 0;
}

static int curve_fields(const struct section *s, void *out)
{
    zs__probe_t *probe = out;
    if (!section_node(s, "server_key"))
        return zs__fail_at(s->d, s->owner.map,
                           "watch.curve: missing required key 'server_key' "
                           "(the server's public key)");
    if (curve_key_check(s, "server_key") < 0 ||
        curve_key_check(s, "public_key") < 0 ||
        curve_key_check(s, "secret_key") < 0)
        return -1;
    probe->server_key = section_text(s, "server_key");
    probe->public_key = section_text(s, "public_key");
    probe->secret_key = section_text(s, "secret_key");
    if (!probe->public_key != !probe->secret_key)
        return zs__fail_at(s->d, s->owner.map,
                           "watch.curve: public_key and secret_key go "
                           "together (without both, the probe makes a key "
                           "pair)");
    return 0;
}

static int probe_curve_read(const zs__diag_t *d, const zs__node_t *node,
                            zs__probe_t *probe)
{
    zs__options_owner_t owner = {.section = "watch.curve",
                                 .expected =
                                     "a mapping like { server_key: KEY }",
                                 .map = node};
    return section_read(d, owner, curve_keys, curve_fields, probe);
}

/* `type:` of a probe: a socket type name, dealer by default. */
static int probe_type_read(const struct section *s, zs__probe_t *probe)
{
    const char *text = section_text(s, "type");
    probe->type = ZMQ_DEALER;
    if (!text)
        return 0;
    for (int t = 0; t <= ZMQ_STREAM; t++)
        if (strcmp(text, zmqsink_socket_type_name(t)) == 0) {
            probe->type = t;
            return 0;
        }
    return section_fail(s, "type");
}

/* The node a probe's name comes from: its name, else its endpoint. */
static const zs__node_t *probe_name_node(const zs__node_t *probe)
{
    const zs__node_t *name = zs__map_get(probe, "name");
    return name ? name : zs__map_get(probe, "endpoint");
}

static int probe_fields(const struct section *s, void *out)
{
    zs__probe_t *probe = out;
    const zs__node_t *name = section_node(s, "name");
    probe->endpoint = section_text(s, "endpoint");
    probe->name = name ? name->text : probe->endpoint;
    if (strlen(probe->name) >= ZMQSINK_SOCKET_NAME_MAX)
        return zs__fail_at(s->d, name ? name : s->owner.map,
                           "watch.name: '%s' is longer than %d characters",
                           zs__node_written(probe_name_node(s->owner.map)),
                           ZMQSINK_SOCKET_NAME_MAX - 1);
    if (strlen(probe->endpoint) >= ZMQSINK_ENDPOINT_MAX)
        return zs__fail_at(s->d, section_node(s, "endpoint"),
                           "watch.endpoint: longer than %d characters",
                           ZMQSINK_ENDPOINT_MAX - 1);
    if (probe_type_read(s, probe) < 0)
        return -1;
    const zs__node_t *curve = section_node(s, "curve");
    return curve ? probe_curve_read(s->d, curve, probe) : 0;
}

static int probe_read(const zs__diag_t *d, const zs__node_t *node,
                      zs__probe_t *probe)
{
    zs__options_owner_t owner = {.section = "watch",
                                 .expected =
                                     "a probe like { name: billing, endpoint: "
                                     "\"tcp://billing:5555\" }",
                                 .map = node};
    return section_read(d, owner, probe_keys, probe_fields, probe);
}

/* Adds the name of probe index (read from item) to names, refusing one
 * that an earlier probe has. */
static int probe_name_unique(const zs__diag_t *d, zs__strset_t *names,
                             const zs__node_t *item, const zs__probe_t *probe,
                             size_t index)
{
    size_t first;
    int added = zs__strset_add(names, probe->name, index, &first);
    if (added < 0)
        return zs__fail_nomem(d);
    if (added == 0)
        return zs__fail_at(d, item,
                           "watch: duplicate probe name '%s' (name one of "
                           "them with `name:`)",
                           zs__node_written(probe_name_node(item)));
    return 0;
}

/* `watch:`: the probes of `zmqsink watch`, at most ZMQSINK_MAX_PROBES,
 * with unique names. */
static int watch_read(zs__config_t *c, const zs__diag_t *d,
                      const zs__node_t *node)
{
    long n =
        list_length(d, node, "watch",
                    "a list of probes like "
                    "- { name: billing, endpoint: \"tcp://billing:5555\" }");
    if (n <= 0)
        return (int)n;
    if (node->nitems > ZMQSINK_MAX_PROBES)
        return zs__fail_at(d, node->items[ZMQSINK_MAX_PROBES],
                           "watch: at most %d probes", ZMQSINK_MAX_PROBES);
    c->probes = calloc(node->nitems, sizeof *c->probes);
    if (!c->probes)
        return zs__fail_nomem(d);
    zs__strset_t names = ZS__STRSET_INIT;
    int rc = 0;
    for (; c->nprobes < node->nitems; c->nprobes++) {
        const zs__node_t *item = node->items[c->nprobes];
        zs__probe_t *probe = &c->probes[c->nprobes];
        if (probe_read(d, item, probe) < 0 ||
            probe_name_unique(d, &names, item, probe, c->nprobes) < 0) {
            rc = -1;
            break;
        }
    }
    zs__strset_clear(&names);
    return rc;
}

/* ---- sinks ---- */

static int sink_name_fields(const struct section *s, void *out)
{
    zs__sink_config_t *sink = out;
    sink->name = section_text(s, "name");
    return name_valid(sink->name) ? 0 : section_fail(s, "name");
}

/* `sockets:` as globs pointing into the tree. */
static int sink_sockets_read(const struct section *s, zs__sink_config_t *sink)
{
    const zs__node_t *node = section_node(s, "sockets");
    if (!node)
        return 0;
    bool scalar = node->kind == ZS__NODE_SCALAR;
    size_t n = scalar ? 1 : node->nitems;
    if (!n)
        return zs__fail_at(s->d, node,
                           "sink '%s': sockets: an empty list matches "
                           "nothing; remove the key to match all",
                           sink->name);
    if (!(sink->sockets = calloc(n, sizeof *sink->sockets)))
        return zs__fail_nomem(s->d);
    for (size_t i = 0; i < n; i++)
        sink->sockets[i] = scalar ? node->text : node->items[i]->text;
    sink->nsockets = n;
    return 0;
}

/* events and min_severity, the filters the core applies with sockets. */
static int sink_filters_read(const struct section *s, zs__sink_config_t *sink)
{
    char what[128];
    const zs__node_t *value;
    sink->events = ZMQSINK_EVENT_ALL;
    sink->min_severity = ZMQSINK_SEV_DEBUG;
    snprintf(what, sizeof what, "sink '%s': events", sink->name);
    if ((value = section_node(s, "events")) &&
        events_read(s->d, value, what, &sink->events) < 0)
        return -1;
    snprintf(what, sizeof what, "sink '%s': min_severity", sink->name);
    if ((value = section_node(s, "min_severity")) &&
        severity_read(s->d, value, what, &sink->min_severity) < 0)
        return -1;
    /* Last, as the only one that allocates. */
    return sink_sockets_read(s, sink);
}

static int sink_fields(const struct section *s, void *out)
{
    zs__sink_config_t *sink = out;
    sink->type = section_text(s, "type");
    sink->plugin = section_text(s, "plugin");
    if (!sink->type && !sink->plugin)
        return zs__fail_at(s->d, sink->node,
                           "sink '%s': missing 'type:' (a plugin name, like "
                           "file) or 'plugin:' (a path to a plugin .so)",
                           sink->name);
    /* The type names a file in plugin_dir, so no '/' may reach it. */
    if (sink->type && !name_valid(sink->type))
        return section_fail(s, "type");
    return sink_filters_read(s, sink);
}

/* The name first, as messages about the other keys name the sink. */
static int sink_read(const zs__diag_t *d, const zs__node_t *node,
                     zs__sink_config_t *sink)
{
    zs__options_owner_t name_owner = {
        .section = "sinks",
        .expected = "a sink mapping with name, type and options",
        .map = node,
        .open = true};
    if (section_read(d, name_owner, sink_name_keys, sink_name_fields, sink) < 0)
        return -1;
    sink->node = node;
    zs__options_owner_t owner = {.sink = sink->name, .map = node, .open = true};
    return section_read(d, owner, sink_keys, sink_fields, sink);
}

static int sink_name_unique(const zs__config_t *c, const zs__diag_t *d,
                            const zs__sink_config_t *sink)
{
    for (const zs__sink_config_t *other = c->sinks; other < sink; other++) {
        if (strcmp(other->name, sink->name))
            continue;
        const zs__node_t *first = zs__map_get(other->node, "name");
        return zs__fail_at(d, zs__map_get(sink->node, "name"),
                           "duplicate sink name '%s' (first at %s:%u:%u)",
                           sink->name, d->file, first->line, first->col);
    }
    return 0;
}

static int sinks_read(zs__config_t *c, const zs__diag_t *d,
                      const zs__node_t *node)
{
    static const char none[] = "no sinks configured; add a `sinks:` list";
    if (!node)
        return zs__fail_pos(d, 1, 1, "%s", none);
    if (zs__node_is_empty(node) ||
        (node->kind == ZS__NODE_SEQUENCE && !node->nitems))
        return zs__fail_at(d, node, "sinks: %s", none);
    if (expect_kind(d, node, ZS__NODE_SEQUENCE, "sinks", "a list of sinks") < 0)
        return -1;
    if (node->nitems > ZS__MAX_SINKS)
        return zs__fail_at(d, node->items[ZS__MAX_SINKS],
                           "sinks: at most %d sinks", ZS__MAX_SINKS);
    c->sinks = calloc(node->nitems, sizeof *c->sinks);
    if (!c->sinks)
        return zs__fail_nomem(d);
    for (size_t i = 0; i < node->nitems; i++) {
        c->nsinks = i + 1; /* zs__config_free() frees its sockets */
        if (sink_read(d, node->items[i], &c->sinks[i]) < 0 ||
            sink_name_unique(c, d, &c->sinks[i]) < 0)
            return -1;
    }
    return 0;
}

/* ---- the whole file ---- */

static int config_fields(const struct section *top, void *config)
{
    zs__config_t *c = config;
    const zs__diag_t *d = top->d;
    c->plugin_dir = section_text(top, "plugin_dir");
    c->shutdown_timeout_ms = zs__options_int(top->values, "shutdown_timeout");
    if (queue_read(c, d, section_node(top, "queue")) < 0 ||
        stats_read(c, d, section_node(top, "stats")) < 0 ||
        severities_read(c, d, section_node(top, "severity")) < 0 ||
        rules_read(c, d, section_node(top, "sockets")) < 0 ||
        watch_read(c, d, section_node(top, "watch")) < 0 ||
        sinks_read(c, d, section_node(top, "sinks")) < 0)
        return -1;
    return 0;
}

int zs__schema_read(zs__config_t *c, const zs__diag_t *d)
{
    const zs__node_t *root = c->root;
    zs__options_owner_t owner = {.expected = "a mapping of settings",
                                 .map = root && zs__node_is_empty(root) ? NULL
                                                                        : root};
    return section_read(d, owner, top_keys, config_fields, c);
}

int zs__options_parse(const zs__config_t *config, const zs__sink_config_t *sink,
                      const char *type_name, const zmqsink_option_t *table,
                      zs__options_t **out, char *err, size_t errlen)
{
    assert(config && sink && sink->node && type_name && out);
    zs__diag_t d = {config->path, err, errlen};
    zs__options_owner_t owner = {.type = type_name,
                                 .sink = sink->name,
                                 .map = sink->node,
                                 .skip = sink_core_tables};
    return zs__options_read(&d, &owner, table, out);
}
