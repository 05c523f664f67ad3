/* Tests of the configuration module (core/config.c): bad files and the exact
 * message each gives, good files and the values they give, plugin option
 * tables, and the unit parsers. */
#include <criterion/criterion.h>
#include <zmq.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define ERR_LEN 2048

#define EVENT_NAMES                                                            \
    "all, errors, connected, connect_delayed, connect_retried, listening, "    \
    "bind_failed, accepted, accept_failed, closed, close_failed, "             \
    "disconnected, monitor_stopped, handshake_failed_no_detail, "              \
    "handshake_succeeded, handshake_failed_protocol, handshake_failed_auth"
#define SEVERITY_NAMES "emerg, alert, crit, err, warning, notice, info, debug"
#define NAME_RULE "1 to 63 characters among A-Z a-z 0-9 _ . -"
#define TOP_KEYS                                                               \
    "plugin_dir, queue, shutdown_timeout, severity, sockets, sinks, watch, "  \
    "stats"
#define DURATION_HINT "(like 500ms, 5s, 1m, 1h)"
/* A valid sink list, for cases about other keys. */
#define ONE_SINK "sinks:\n  - { name: a, type: file }\n"
/* The server key of libzmq's CURVE tests. */
#define SERVER_KEY "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
/* A sink whose further keys the cases append, 4 spaces in. */
#define OUT_SINK "sinks:\n  - name: out\n    type: file\n"
/* Never set: the cases about unset variables use it. */
#define UNSET_VAR "ZS_TEST_SURELY_UNSET"

/* ---- helpers ---- */

static zs__config_t *load_ok(const char *yaml)
{
    char err[ERR_LEN] = "";
    zs__config_t *config = NULL;
    int rc =
        zs__config_load_string("test.yaml", yaml, &config, err, sizeof err);
    cr_assert_eq(rc, 0, "rejected: %s\n%s", err, yaml);
    cr_assert_not_null(config);
    return config;
}

/* The one sink of "sinks: [ { name: a, type: file, <extra> } ]". */
static uint32_t sink_events(const char *events)
{
    char yaml[512];
    snprintf(yaml, sizeof yaml, OUT_SINK "    events: %s\n", events);
    zs__config_t *config = load_ok(yaml);
    uint32_t mask = config->sinks[0].events;
    zs__config_free(&config);
    return mask;
}

static const char *src_dir(void)
{
    const char *dir = getenv("ZMQSINK_TEST_SRCDIR");
    cr_assert_not_null(dir, "set ZMQSINK_TEST_SRCDIR to the source tree's "
                            "tests/ directory (make check does)");
    return dir;
}

/* ---- bad files: each gives exactly this message ---- */

struct bad_case {
    const char *yaml;
    const char *message;
};

static const struct bad_case bad_cases[] = {
    /* nothing to do */
    {"", "test.yaml:1:1: no sinks configured; add a `sinks:` list"},
    {"# only a comment\n",
     "test.yaml:1:1: no sinks configured; add a `sinks:` list"},
    {"queue: { capacity: 64 }\n",
     "test.yaml:1:1: no sinks configured; add a `sinks:` list"},
    {"sinks: []\n",
     "test.yaml:1:8: sinks: no sinks configured; add a `sinks:` list"},
    /* YAML itself */
    {"sinks: [a\n", "test.yaml:2:1: did not find expected ',' or ']' (while "
                    "parsing a flow sequence at 1:8)"},
    {"sinks:\n  - name: a\n   type: file\n",
     "test.yaml:3:4: did not find expected '-' indicator (while parsing a "
     "block collection at 2:3)"},
    {"sinks:\n  - name: a\xff\n",
     "test.yaml:2:12: invalid leading UTF-8 octet (byte 0xff)"},
    {ONE_SINK "---\n" ONE_SINK,
     "test.yaml:3:1: multiple documents are not supported; keep one per file"},
    {"sinks:\n  - &s { name: a, type: file }\n",
     "test.yaml:2:5: anchors (&s) are not supported; write the value out"},
    {"sinks:\n  - *s\n",
     "test.yaml:2:5: aliases (*s) are not supported; write the value out"},
    {"sinks: !!seq\n  - { name: a, type: file }\n",
     "test.yaml:1:8: tags (tag:yaml.org,2002:seq) are not supported; remove "
     "the tag"},
    {OUT_SINK "    path: \"a\\0b\"\n",
     "test.yaml:4:11: strings must not contain NUL characters"},
    {OUT_SINK "    name: again\n",
     "test.yaml:4:5: duplicate key 'name' (first at test.yaml:2:5)"},
    {"sinks:\n  - { ? [a] : b }\n",
     "test.yaml:2:9: expected a string as key, got a list"},
    {"x: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]"
     "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
     "test.yaml:1:67: nested deeper than 64 levels"},
    /* top level */
    {"- a\n",
     "test.yaml:1:1: top level: expected a mapping of settings, got a list"},
    {"sink:\n  - { name: a, type: file }\n",
     "test.yaml:1:1: unknown key 'sink'; valid keys: " TOP_KEYS},
    {"plugin_dir: [a, b]\n" ONE_SINK,
     "test.yaml:1:13: plugin_dir: expected a directory, got a list"},
    {"watch: probe\n" ONE_SINK,
     "test.yaml:1:8: watch: expected a list of probes like - { name: "
     "billing, endpoint: \"tcp://billing:5555\" }, got probe"},
    /* watch */
    {"watch:\n  - { name: a }\n" ONE_SINK,
     "test.yaml:2:5: watch: missing required key 'endpoint' (an endpoint to "
     "connect to)"},
    {"watch:\n  - { endpoint: e, port: 1 }\n" ONE_SINK,
     "test.yaml:2:20: watch: unknown key 'port'; valid keys: name, endpoint, "
     "type, curve"},
    {"watch:\n  - { endpoint: e, type: socket }\n" ONE_SINK,
     "test.yaml:2:26: watch.type: expected a socket type: pair, pub, sub, "
     "req, rep, dealer, router, pull, push, xpub, xsub or stream, got socket"},
    {"watch:\n  - { endpoint: e }\n  - { endpoint: e }\n" ONE_SINK,
     "test.yaml:3:5: watch: duplicate probe name 'e' (name one of them with "
     "`name:`)"},
    {"watch:\n  - { endpoint: e, curve: { public_key: k } }\n" ONE_SINK,
     "test.yaml:2:27: watch.curve: missing required key 'server_key' (the "
     "server's public key)"},
    {"watch:\n  - { endpoint: e, curve: { server_key: short } }\n" ONE_SINK,
     "test.yaml:2:41: watch.curve.server_key: expected a CURVE key in Z85 "
     "text, 40 characters, got short"},
    {"watch:\n  - endpoint: e\n    curve:\n      server_key: " SERVER_KEY
     "\n      secret_key: " SERVER_KEY "\n" ONE_SINK,
     "test.yaml:4:7: watch.curve: public_key and secret_key go together "
     "(without both, the probe makes a key pair)"},
    /* queue */
    {"queue:\n  capacity: 1000\n" ONE_SINK,
     "test.yaml:2:13: queue.capacity: expected a power of two between 16 and "
     "16777216, got 1000"},
    {"queue: { capacity: 8 }\n" ONE_SINK,
     "test.yaml:1:20: queue.capacity: expected a power of two between 16 and "
     "16777216, got 8"},
    {"queue: { capacity: 33554432 }\n" ONE_SINK,
     "test.yaml:1:20: queue.capacity: expected a power of two between 16 and "
     "16777216, got 33554432"},
    {"queue: { capacity: lots }\n" ONE_SINK,
     "test.yaml:1:20: queue.capacity: expected a power of two between 16 and "
     "16777216, got lots"},
    {"queue: { size: 64 }\n" ONE_SINK,
     "test.yaml:1:10: queue: unknown key 'size'; valid keys: capacity"},
    {"queue: 64\n" ONE_SINK, "test.yaml:1:8: queue: expected a mapping like "
                             "{ capacity: 65536 }, got 64"},
    /* stats */
    {"stats: { interval: 10ms }\n" ONE_SINK,
     "test.yaml:1:20: stats.interval: expected a duration between 100ms and "
     "1h " DURATION_HINT ", got 10ms"},
    {"stats: { file: x.json }\n" ONE_SINK,
     "test.yaml:1:10: stats: unknown key 'file'; valid keys: path, interval"},
    {"stats: x.json\n" ONE_SINK,
     "test.yaml:1:8: stats: expected a mapping like { path: stats.json, "
     "interval: 5s }, got x.json"},
    {"stats: { path: \"\" }\n" ONE_SINK,
     "test.yaml:1:16: stats.path: expected a file name, got an empty value"},
    /* shutdown_timeout */
    {"shutdown_timeout: 5 seconds\n" ONE_SINK,
     "test.yaml:1:19: shutdown_timeout: expected a duration between 0 and 1h "
     DURATION_HINT ", got 5 seconds"},
    {"shutdown_timeout: -1s\n" ONE_SINK,
     "test.yaml:1:19: shutdown_timeout: expected a duration between 0 and 1h "
     DURATION_HINT ", got -1s"},
    {"shutdown_timeout: 2h\n" ONE_SINK,
     "test.yaml:1:19: shutdown_timeout: expected a duration between 0 and 1h "
     DURATION_HINT ", got 2h"},
    /* ${VAR} */
    {"plugin_dir: ${" UNSET_VAR "}/plugins\n" ONE_SINK,
     "test.yaml:1:13: environment variable '" UNSET_VAR "' is not set (use "
     "${" UNSET_VAR ":-default} to give a default)"},
    {"plugin_dir: \"${HOME\"\n" ONE_SINK,
     "test.yaml:1:13: unterminated '${': close it with '}', or write '$$' for "
     "a literal '$'"},
    {"plugin_dir: ${1X}\n" ONE_SINK,
     "test.yaml:1:13: '1X' is not a valid environment variable name"},
    {"plugin_dir: ${}\n" ONE_SINK,
     "test.yaml:1:13: '' is not a valid environment variable name"},
    {"plugin_dir: ${HOME:x}\n" ONE_SINK,
     "test.yaml:1:13: '${HOME:x}': expected ${VAR} or ${VAR:-default}"},
    {"plugin_dir: \"${" UNSET_VAR ":-${ZS_TEST_B}}\"\n" ONE_SINK,
     "test.yaml:1:13: '${" UNSET_VAR ":-...}': a default cannot hold '${' "
     "(defaults are taken as written, not expanded)"},
    {"plugin_dir: \"${" UNSET_VAR ":-/x/${HOME}/y}\"\n" ONE_SINK,
     "test.yaml:1:13: '${" UNSET_VAR ":-...}': a default cannot hold '${' "
     "(defaults are taken as written, not expanded)"},
    {"plugin_dir: \"${HOME:-${HOME}}\"\n" ONE_SINK,
     "test.yaml:1:13: '${HOME:-...}': a default cannot hold '${' (defaults "
     "are taken as written, not expanded)"},
    /* dotted keys are for sink options; the core's sections are nested */
    {"queue.capacity: 32\n" ONE_SINK,
     "test.yaml:1:1: unknown key 'queue.capacity'; the core's keys are not "
     "dotted: write 'capacity' under 'queue'"},
    {"stats.path: x\n" ONE_SINK,
     "test.yaml:1:1: unknown key 'stats.path'; the core's keys are not "
     "dotted: write 'path' under 'stats'"},
    {"watch:\n  - endpoint: \"tcp://a:1\"\n    curve.server_key: x\n"
     ONE_SINK,
     "test.yaml:3:5: watch: unknown key 'curve.server_key'; the core's keys "
     "are not dotted: write 'server_key' under 'curve'"},
    {"queue.x.y: 32\n" ONE_SINK,
     "test.yaml:1:1: unknown key 'queue.x.y'; the core's keys are not "
     "dotted: write 'x.y' under 'queue'"},
    /* severity */
    {"severity:\n  conected: err\n" ONE_SINK,
     "test.yaml:2:3: severity: unknown event 'conected'; valid events: "
     EVENT_NAMES},
    {"severity:\n  \"bind_*_x\": err\n" ONE_SINK,
     "test.yaml:2:3: severity: no event matches 'bind_*_x'; valid events: "
     EVENT_NAMES},
    {"severity:\n  connected: loud\n" ONE_SINK,
     "test.yaml:2:14: severity.connected: expected one of " SEVERITY_NAMES
     ", got loud"},
    {"severity: err\n" ONE_SINK,
     "test.yaml:1:11: severity: expected a mapping of events to severities, "
     "like { disconnected: warning }, got err"},
    /* sockets */
    {"sockets:\n  - name: frontend\n" ONE_SINK,
     "test.yaml:2:5: sockets: missing required key 'match' (a glob over "
     "endpoints)"},
    {"sockets:\n  - match: \"tcp://*:5555\"\n" ONE_SINK,
     "test.yaml:2:5: sockets: missing required key 'name' (" NAME_RULE ")"},
    {"sockets:\n  - { match: x, name: \"my socket\" }\n" ONE_SINK,
     "test.yaml:2:23: sockets.name: expected " NAME_RULE ", got my socket"},
    {"sockets:\n  - { match: x, name: \"a\\nb\" }\n" ONE_SINK,
     "test.yaml:2:23: sockets.name: expected " NAME_RULE ", got a\nb"},
    {"sockets:\n  - match: x\n    name: "
     "a123456789b123456789c123456789d123456789e123456789f123456789abcd\n"
     ONE_SINK,
     "test.yaml:3:11: sockets.name: expected " NAME_RULE
     ", got a123456789b123456789c123456789d123456789e123456789f123456789abcd"},
    {"sockets:\n  - { match: x, name: \"\" }\n" ONE_SINK,
     "test.yaml:2:23: sockets.name: expected " NAME_RULE
     ", got an empty value"},
    {"sockets:\n  - { match: x, name: y, mask: all }\n" ONE_SINK,
     "test.yaml:2:26: sockets: unknown key 'mask'; valid keys: match, name, "
     "events"},
    {"sockets:\n  - { match: x, name: y, events: nothing }\n" ONE_SINK,
     "test.yaml:2:34: sockets.events: unknown event 'nothing'; valid events: "
     EVENT_NAMES},
    {"sockets: { match: x }\n" ONE_SINK,
     "test.yaml:1:10: sockets: expected a list of rules like - { match: "
     "\"tcp://*:5555\", name: frontend }, got a mapping"},
    /* sinks */
    {"sinks:\n  name: a\n",
     "test.yaml:2:3: sinks: expected a list of sinks, got a mapping"},
    {"sinks:\n  - console\n", "test.yaml:2:5: sinks: expected a sink mapping "
                              "with name, type and options, got console"},
    {"sinks:\n  - type: file\n",
     "test.yaml:2:5: sinks: missing required key 'name' (" NAME_RULE ")"},
    {"sinks:\n  - name: \"my sink\"\n    type: file\n",
     "test.yaml:2:11: sinks.name: expected " NAME_RULE ", got my sink"},
    {"sinks:\n  - name: "
     "a123456789b123456789c123456789d123456789e123456789f123456789abcd\n",
     "test.yaml:2:11: sinks.name: expected " NAME_RULE
     ", got a123456789b123456789c123456789d123456789e123456789f123456789abcd"},
    {"sinks:\n  - name: [a]\n",
     "test.yaml:2:11: sinks.name: expected " NAME_RULE ", got a list"},
    {OUT_SINK "  - name: out\n    type: file\n",
     "test.yaml:4:11: duplicate sink name 'out' (first at test.yaml:2:11)"},
    {"sinks:\n  - name: out\n    path: x\n",
     "test.yaml:2:5: sink 'out': missing 'type:' (a plugin name, like file) "
     "or 'plugin:' (a path to a plugin .so)"},
    {"sinks:\n  - name: out\n    type: ../evil\n",
     "test.yaml:3:11: sink 'out': type: expected a plugin name (" NAME_RULE
     "), got ../evil"},
    {"sinks:\n  - name: out\n    plugin: \"\"\n",
     "test.yaml:3:13: sink 'out': plugin: expected a path to a plugin .so, got "
     "an empty value"},
    {OUT_SINK "    events: [connected, conected]\n",
     "test.yaml:4:25: sink 'out': events: unknown event 'conected'; valid "
     "events: " EVENT_NAMES},
    {OUT_SINK "    events: \"handshake_*_ok\"\n",
     "test.yaml:4:13: sink 'out': events: no event matches 'handshake_*_ok'; "
     "valid events: " EVENT_NAMES},
    {OUT_SINK "    events: { connected: true }\n",
     "test.yaml:4:13: sink 'out': events: expected an event name or a list of "
     "them, got a mapping"},
    {OUT_SINK "    events: []\n",
     "test.yaml:4:13: sink 'out': events: an empty list selects no event; "
     "remove the key to select all"},
    {OUT_SINK "    events: [connected, [closed]]\n",
     "test.yaml:4:25: sink 'out': events: expected an event name, got a list"},
    {OUT_SINK "    min_severity: loud\n",
     "test.yaml:4:19: sink 'out': min_severity: expected one of "
     SEVERITY_NAMES ", got loud"},
    {OUT_SINK "    sockets: []\n",
     "test.yaml:4:14: sink 'out': sockets: an empty list matches nothing; "
     "remove the key to match all"},
    {OUT_SINK "    sockets: { a: b }\n",
     "test.yaml:4:14: sink 'out': sockets: expected a name glob or a list of "
     "them, got a mapping"},
};

Test(config, bad_files)
{
    unsetenv(UNSET_VAR);
    cr_assert_geq(COUNT(bad_cases), 25);
    for (size_t i = 0; i < COUNT(bad_cases); i++) {
        char err[ERR_LEN] = "";
        zs__config_t *config = NULL;
        int rc = zs__config_load_string("test.yaml", bad_cases[i].yaml,
                                        &config, err, sizeof err);
        cr_expect_eq(rc, -1, "case %zu accepted:\n%s", i, bad_cases[i].yaml);
        cr_expect_null(config, "case %zu", i);
        cr_expect_str_eq(err, bad_cases[i].message, "case %zu:\n%s", i,
                         bad_cases[i].yaml);
        zs__config_free(&config);
    }
}

Test(config, error_buffer_is_optional_and_truncated)
{
    zs__config_t *config = NULL;
    char err[16];
    cr_expect_eq(zs__config_load_string("test.yaml", "", &config, NULL, 0), -1);
    cr_expect_eq(zs__config_load_string("test.yaml", "", &config, err,
                                        sizeof err),
                 -1);
    cr_expect_str_eq(err, "test.yaml:1:1: ");
    cr_expect_null(config);
}

/* ---- good files ---- */

Test(config, example_file_loads)
{
    char path[PATH_MAX], etc[PATH_MAX], err[ERR_LEN] = "";
    snprintf(path, sizeof path, "%s/../etc/zmqsink.yaml", src_dir());
    snprintf(etc, sizeof etc, "%s/../etc", src_dir());
    setenv("ZMQSINK_TOKEN", "secret-token", 1);
    zs__config_t *config = NULL;
    cr_assert_eq(zs__config_load_file(path, &config, err, sizeof err), 0, "%s",
                 err);
    char *dir = realpath(etc, NULL);
    cr_assert_not_null(dir);
    cr_expect_str_eq(config->dir, dir);
    cr_expect_str_eq(config->path, path);
    free(dir);
    cr_expect_null(config->plugin_dir);
    cr_expect_eq(config->queue_capacity, 65536);
    cr_expect_eq(config->shutdown_timeout_ms, 5000);
    cr_expect_eq(config->severity[zs__event_index(ZMQSINK_EVENT_DISCONNECTED)],
                 ZMQSINK_SEV_WARNING);
    cr_assert_eq(config->nrules, 1);
    cr_expect_str_eq(config->rules[0].match, "tcp://*:5555");
    cr_expect_str_eq(config->rules[0].name, "frontend");
    cr_expect_eq(config->rules[0].events, ZMQSINK_EVENT_ALL);
    cr_assert_eq(config->nsinks, 1);
    const zs__sink_config_t *sink = &config->sinks[0];
    cr_expect_str_eq(sink->name, "console");
    cr_expect_str_eq(sink->type, "file");
    cr_expect_null(sink->plugin);

    /* The file plugin's table, as plugins/file/file.c declares it. */
    static const zmqsink_option_t file_options[] = {
        {.key = "path", .type = ZMQSINK_OPT_STRING, .required = 1},
        {.key = "format", .type = ZMQSINK_OPT_ENUM, .fallback = "json",
         .choices = "json|logfmt|text"},
        {.key = "rotate.max_size", .type = ZMQSINK_OPT_SIZE, .min = 1024,
         .max = INT64_C(1) << 40},
        {.key = "rotate.keep", .type = ZMQSINK_OPT_INT, .fallback = "5",
         .min = 1, .max = 1000},
        {.key = "fsync", .type = ZMQSINK_OPT_ENUM, .fallback = "never",
         .choices = "never|batch"},
        {0}};
    zs__options_t *options = NULL;
    cr_assert_eq(zs__options_parse(config, sink, "file", file_options,
                                   &options, err, sizeof err),
                 0, "%s", err);
    cr_expect_str_eq(zs__options_string(options, "path"), "-");
    cr_expect_eq(zs__options_int(options, "format"), 2);
    cr_expect_eq(zs__options_is_set(options, "rotate.max_size"), 0);
    /* A plugin's mistakes give empty values and a reason, no abort. */
    cr_expect_null(zs__options_string(options, "nosuch"));
    cr_expect_eq(zs__options_int(options, "nosuch"), 0);
    cr_expect_eq(zs__options_int(options, "path"), 0, "a string as a number");
    const char *const *items = (const char *const *)&items;
    cr_expect_eq(zs__options_list(options, "format", &items), 0u);
    cr_expect_null(items);
    cr_expect_str_eq(zs__options_misuse(options, "nosuch", ZS__ACCESS_STRING),
                     "its table does not declare it");
    cr_expect_str_eq(zs__options_misuse(options, "path", ZS__ACCESS_INT),
                     "its table declares it with another type");
    cr_expect_null(zs__options_misuse(options, "format", ZS__ACCESS_INT));
    zs__options_free(&options);
    zs__config_free(&config);
    cr_expect_null(config);
}

Test(config, stats_section)
{
    zs__config_t *config =
        load_ok("stats: { path: \"run/{pid}.json\", interval: 2s }\n" ONE_SINK);
    cr_expect_str_eq(config->stats_path, "run/{pid}.json");
    cr_expect_eq(config->stats_interval_ms, 2000);
    zs__config_free(&config);
}

Test(config, defaults)
{
    zs__config_t *config = load_ok(ONE_SINK);
    char *cwd = realpath(".", NULL);
    cr_assert_not_null(cwd);
    cr_expect_str_eq(config->path, "test.yaml");
    cr_expect_str_eq(config->dir, cwd);
    free(cwd);
    cr_expect_null(config->plugin_dir);
    cr_expect_eq(config->queue_capacity, 65536);
    cr_expect_eq(config->shutdown_timeout_ms, 5000);
    cr_expect_null(config->stats_path);
    cr_expect_eq(config->stats_interval_ms, 5000);
    for (int i = 0; i < ZMQSINK_EVENT_TYPES; i++)
        cr_expect_eq(config->severity[i],
                     zmqsink_event_default_severity(1u << i), "type %d", i);
    cr_expect_eq(config->nrules, 0);
    cr_assert_eq(config->nsinks, 1);
    const zs__sink_config_t *sink = &config->sinks[0];
    cr_expect_str_eq(sink->name, "a");
    cr_expect_str_eq(sink->type, "file");
    cr_expect_null(sink->plugin);
    cr_expect_eq(sink->events, ZMQSINK_EVENT_ALL);
    cr_expect_null(sink->sockets);
    cr_expect_eq(sink->nsockets, 0);
    cr_expect_eq(sink->min_severity, ZMQSINK_SEV_DEBUG);
    cr_expect_eq(sink->node->kind, ZS__NODE_MAPPING);
    cr_expect_eq(sink->node->line, 2);
    cr_expect_eq(sink->node->col, 5);
    zs__config_free(&config);
}

Test(config, at_most_64_sinks)
{
    char yaml[8192] = "sinks:\n";
    for (int i = 0; i < 65; i++)
        snprintf(yaml + strlen(yaml), sizeof yaml - strlen(yaml),
                 "  - { name: s%d, type: file }\n", i);
    char err[ERR_LEN] = "";
    zs__config_t *config = NULL;
    cr_assert_eq(zs__config_load_string("test.yaml", yaml, &config, err,
                                        sizeof err), -1);
    cr_assert_str_eq(err, "test.yaml:66:5: sinks: at most 64 sinks");
    /* 64 are fine. */
    *strstr(yaml, "  - { name: s64") = '\0';
    cr_assert_eq(zs__config_load_string("test.yaml", yaml, &config, err,
                                        sizeof err), 0, "%s", err);
    cr_assert_eq(config->nsinks, 64u);
    zs__config_free(&config);
}

/* Appends printf-style text to a growing buffer; the tests below build
 * files too long for a fixed one. */
__attribute__((format(printf, 2, 3))) static void
yaml_add(char **yaml, const char *fmt, ...)
{
    va_list args;
    size_t used = *yaml ? strlen(*yaml) : 0;
    va_start(args, fmt);
    int more = vsnprintf(NULL, 0, fmt, args);
    va_end(args);
    cr_assert_geq(more, 0);
    char *grown = realloc(*yaml, used + (size_t)more + 1);
    cr_assert_not_null(grown);
    va_start(args, fmt);
    vsnprintf(grown + used, (size_t)more + 1, fmt, args);
    va_end(args);
    *yaml = grown;
}

/* The first load error of yaml, in err. */
static void load_fails(const char *yaml, char *err, size_t errlen)
{
    zs__config_t *config = NULL;
    cr_assert_eq(zs__config_load_string("test.yaml", yaml, &config, err,
                                        errlen), -1);
    cr_assert_null(config);
}

/* Keys are checked for duplicates in time linear in their number, which
 * must not change which duplicate is reported: the first one in file
 * order, with the first place its key stands. */
Test(config, duplicate_among_many_keys)
{
    char *yaml = NULL;
    yaml_add(&yaml, ONE_SINK "severity:\n");
    for (int i = 0; i < 5000; i++)
        yaml_add(&yaml, "  k%d: err\n", i);
    yaml_add(&yaml, "  k4321: err\n  k17: err\n  k4321: err\n");
    char err[ERR_LEN] = "";
    load_fails(yaml, err, sizeof err);
    cr_expect_str_eq(err, "test.yaml:5004:3: duplicate key 'k4321' (first at "
                          "test.yaml:4325:3)");
    free(yaml);
}

Test(config, at_most_1024_probes)
{
    char *yaml = NULL;
    yaml_add(&yaml, ONE_SINK "watch:\n");
    for (int i = 0; i < 1025; i++)
        yaml_add(&yaml, "  - { name: p%d, endpoint: \"tcp://h:%d\" }\n", i,
                 i + 1);
    char err[ERR_LEN] = "";
    load_fails(yaml, err, sizeof err);
    cr_expect_str_eq(err, "test.yaml:1028:5: watch: at most 1024 probes");
    /* 1024 are fine, and a repeated name among them is still found. */
    *strstr(yaml, "  - { name: p1024,") = '\0';
    zs__config_t *config = load_ok(yaml);
    cr_expect_eq(config->nprobes, 1024u);
    zs__config_free(&config);
    *strstr(yaml, "  - { name: p1023,") = '\0';
    yaml_add(&yaml, "  - { name: p700, endpoint: \"tcp://h:1\" }\n");
    load_fails(yaml, err, sizeof err);
    cr_expect_str_eq(err, "test.yaml:1027:5: watch: duplicate probe name "
                          "'p700' (name one of them with `name:`)");
    free(yaml);
}

Test(config, every_setting)
{
    zs__config_t *config = load_ok(
        "plugin_dir: /opt/zmqsink\n"
        "queue: { capacity: 16 }\n"
        "shutdown_timeout: 0\n"
        "watch:\n"
        "  - { endpoint: \"tcp://127.0.0.1:5555\" }\n"
        "  - name: billing\n"
        "    endpoint: \"ipc:///run/billing\"\n"
        "    type: sub\n"
        "    curve: { server_key: \"" SERVER_KEY "\" }\n"
        "sockets:\n"
        "  - { match: \"tcp://*:5555\", name: frontend, events: errors }\n"
        "  - { match: \"ipc://*\", name: local }\n"
        "sinks:\n"
        "  - name: Out_1.x-y\n"
        "    plugin: ./custom.so\n"
        "    sockets: [\"front*\", back]\n"
        "    min_severity: warn\n"
        "  - { name: two, type: file, plugin: /p/file.so, sockets: one,"
        " min_severity: error }\n");
    cr_expect_str_eq(config->plugin_dir, "/opt/zmqsink");
    cr_expect_eq(config->queue_capacity, 16);
    cr_expect_eq(config->shutdown_timeout_ms, 0);
    cr_assert_eq(config->nrules, 2);
    cr_expect_eq(config->rules[0].events, ZMQSINK_EVENT_ERRORS);
    cr_expect_str_eq(config->rules[1].match, "ipc://*");
    cr_expect_str_eq(config->rules[1].name, "local");
    cr_assert_eq(config->nprobes, 2);
    cr_expect_str_eq(config->probes[0].name, "tcp://127.0.0.1:5555");
    cr_expect_str_eq(config->probes[0].endpoint, "tcp://127.0.0.1:5555");
    cr_expect_eq(config->probes[0].type, ZMQ_DEALER);
    cr_expect_null(config->probes[0].server_key);
    cr_expect_str_eq(config->probes[1].name, "billing");
    cr_expect_eq(config->probes[1].type, ZMQ_SUB);
    cr_expect_str_eq(config->probes[1].server_key, SERVER_KEY);
    cr_expect_null(config->probes[1].public_key);
    cr_expect_eq(config->rules[1].events, ZMQSINK_EVENT_ALL);
    cr_assert_eq(config->nsinks, 2);
    const zs__sink_config_t *one = &config->sinks[0], *two = &config->sinks[1];
    cr_expect_str_eq(one->name, "Out_1.x-y");
    cr_expect_null(one->type);
    cr_expect_str_eq(one->plugin, "./custom.so");
    cr_assert_eq(one->nsockets, 2);
    cr_expect_str_eq(one->sockets[0], "front*");
    cr_expect_str_eq(one->sockets[1], "back");
    cr_expect_eq(one->min_severity, ZMQSINK_SEV_WARNING);
    cr_expect_str_eq(two->type, "file");
    cr_expect_str_eq(two->plugin, "/p/file.so");
    cr_assert_eq(two->nsockets, 1);
    cr_expect_str_eq(two->sockets[0], "one");
    cr_expect_eq(two->min_severity, ZMQSINK_SEV_ERR);
    zs__config_free(&config);
}

Test(config, capacity_bounds)
{
    zs__config_t *config = load_ok("queue: { capacity: 16777216 }\n" ONE_SINK);
    cr_expect_eq(config->queue_capacity, 16777216);
    zs__config_free(&config);
    config = load_ok("shutdown_timeout: 1h\n" ONE_SINK);
    cr_expect_eq(config->shutdown_timeout_ms, 3600000);
    zs__config_free(&config);
}

Test(config, event_masks)
{
    static const struct {
        const char *events;
        uint32_t mask;
    } cases[] = {
        {"connected", ZMQSINK_EVENT_CONNECTED},
        {"[connected, closed]", ZMQSINK_EVENT_CONNECTED | ZMQSINK_EVENT_CLOSED},
        {"\"handshake_failed_*\"", ZMQSINK_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                                       ZMQSINK_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                       ZMQSINK_EVENT_HANDSHAKE_FAILED_AUTH},
        {"\"*_failed\"", ZMQSINK_EVENT_BIND_FAILED |
                             ZMQSINK_EVENT_ACCEPT_FAILED |
                             ZMQSINK_EVENT_CLOSE_FAILED},
        {"\"connect_*\"",
         ZMQSINK_EVENT_CONNECT_DELAYED | ZMQSINK_EVENT_CONNECT_RETRIED},
        {"\"?losed\"", ZMQSINK_EVENT_CLOSED},
        {"all", ZMQSINK_EVENT_ALL},
        {"errors", ZMQSINK_EVENT_ERRORS},
        {"[errors, listening]", ZMQSINK_EVENT_ERRORS | ZMQSINK_EVENT_LISTENING},
        {"[all, closed]", ZMQSINK_EVENT_ALL},
        {"monitor_stopped", ZMQSINK_EVENT_MONITOR_STOPPED},
        {"\"*\"", ZMQSINK_EVENT_ALL},
    };
    for (size_t i = 0; i < COUNT(cases); i++)
        cr_expect_eq(sink_events(cases[i].events), cases[i].mask,
                     "events: %s", cases[i].events);
}

Test(config, environment_expansion)
{
    static const struct {
        const char *value, *expanded;
    } cases[] = {
        {"${ZS_TEST_DIR}", "/srv/zs"},
        {"\"${ZS_TEST_DIR}/lib/${ZS_TEST_DIR}\"", "/srv/zs/lib//srv/zs"},
        {"\"${" UNSET_VAR ":-/usr/lib}/zs\"", "/usr/lib/zs"},
        {"\"${ZS_TEST_DIR:-/usr/lib}\"", "/srv/zs"},
        {"\"${ZS_TEST_EMPTY:-fallback}\"", "fallback"},
        {"\"x${ZS_TEST_EMPTY}y\"", "xy"},
        {"\"${" UNSET_VAR ":-}x\"", "x"},
        {"\"cost $$5 and $HOME\"", "cost $5 and $HOME"},
        {"\"a$\"", "a$"},
        {"\"$$${ZS_TEST_DIR}\"", "$/srv/zs"},
    };
    setenv("ZS_TEST_DIR", "/srv/zs", 1);
    setenv("ZS_TEST_EMPTY", "", 1);
    unsetenv(UNSET_VAR);
    for (size_t i = 0; i < COUNT(cases); i++) {
        char yaml[512];
        snprintf(yaml, sizeof yaml, "plugin_dir: %s\n" ONE_SINK,
                 cases[i].value);
        zs__config_t *config = load_ok(yaml);
        cr_expect_str_eq(config->plugin_dir, cases[i].expanded, "%s",
                         cases[i].value);
        zs__config_free(&config);
    }
}

/* Messages quote what the file wrote, never what ${VAR} made of it: the
 * environment holds secrets. Found by fuzz/fuzz_config (the first case,
 * fuzz/corpus/config/regress-secret-in-message). */
#define SECRET_VAR "ZS_TEST_SECRET"
static const struct bad_case secret_cases[] = {
    {"watc${" SECRET_VAR "}  ce\n",
     "test.yaml:1:1: top level: expected a mapping of settings, got watc${"
     SECRET_VAR "}  ce"},
    {"shutdown_timeout: \"${" SECRET_VAR "}\"\n" ONE_SINK,
     "test.yaml:1:19: shutdown_timeout: expected a duration between 0 and 1h "
     DURATION_HINT ", got ${" SECRET_VAR "}"},
    {"\"x${" SECRET_VAR "}\": 1\n" ONE_SINK,
     "test.yaml:1:1: unknown key 'x${" SECRET_VAR "}'; valid keys: " TOP_KEYS},
    {OUT_SINK "    events: \"${" SECRET_VAR "}\"\n",
     "test.yaml:4:13: sink 'out': events: unknown event '${" SECRET_VAR
     "}'; valid events: " EVENT_NAMES},
    {"watch:\n  - { endpoint: \"tcp://a:1\", name: \"${" SECRET_VAR "}\" }\n"
     "  - { endpoint: \"tcp://b:1\", name: \"${" SECRET_VAR "}\" }\n" ONE_SINK,
     "test.yaml:3:5: watch: duplicate probe name '${" SECRET_VAR "}' (name "
     "one of them with `name:`)"},
};

Test(config, messages_quote_the_file_not_the_environment)
{
    setenv(SECRET_VAR, "Bearer s3cr3t", 1);
    for (size_t i = 0; i < COUNT(secret_cases); i++) {
        char err[ERR_LEN] = "";
        zs__config_t *config = NULL;
        cr_expect_eq(zs__config_load_string("test.yaml", secret_cases[i].yaml,
                                            &config, err, sizeof err),
                     -1, "case %zu", i);
        cr_expect_str_eq(err, secret_cases[i].message, "case %zu", i);
        zs__config_free(&config);
    }
}

Test(config, severity_overrides)
{
    zs__config_t *config = load_ok("severity:\n"
                                   "  connected: err\n"
                                   "  \"handshake_failed_*\": crit\n"
                                   "  disconnected: warn\n"
                                   "  errors: alert\n"
                                   "  bind_failed: emerg\n" ONE_SINK);
    static const struct {
        uint32_t type;
        int severity;
    } expected[] = {
        {ZMQSINK_EVENT_CONNECTED, ZMQSINK_SEV_ERR},
        /* Later keys win over earlier ones. */
        {ZMQSINK_EVENT_HANDSHAKE_FAILED_AUTH, ZMQSINK_SEV_ALERT},
        {ZMQSINK_EVENT_DISCONNECTED, ZMQSINK_SEV_WARNING},
        {ZMQSINK_EVENT_ACCEPT_FAILED, ZMQSINK_SEV_ALERT},
        {ZMQSINK_EVENT_BIND_FAILED, ZMQSINK_SEV_EMERG},
        {ZMQSINK_EVENT_ACCEPTED, ZMQSINK_SEV_INFO},
        {ZMQSINK_EVENT_CONNECT_RETRIED, ZMQSINK_SEV_NOTICE},
    };
    for (size_t i = 0; i < COUNT(expected); i++)
        cr_expect_eq(config->severity[zs__event_index(expected[i].type)],
                     expected[i].severity, "%s",
                     zmqsink_event_name(expected[i].type));
    zs__config_free(&config);
}

/* Config files load on application threads, options on the threads that
 * call zmqsink_new(): nothing may be shared between two loads. */
#define PARALLEL_THREADS 4
#define PARALLEL_LOADS 50

static void *load_repeatedly(void *arg)
{
    static const zmqsink_option_t table[] = {
        {.key = "path", .type = ZMQSINK_OPT_STRING, .required = 1},
        {.key = "rotate.keep", .type = ZMQSINK_OPT_INT, .fallback = "5"},
        {0}};
    const char *yaml = arg;
    for (int i = 0; i < PARALLEL_LOADS; i++) {
        char err[ERR_LEN] = "";
        zs__config_t *config = NULL;
        zs__options_t *options = NULL;
        if (zs__config_load_string("test.yaml", yaml, &config, err,
                                   sizeof err) < 0 ||
            zs__options_parse(config, &config->sinks[0], "file", table,
                              &options, err, sizeof err) < 0 ||
            zs__options_int(options, "rotate.keep") != 3 ||
            config->queue_capacity != 1024) {
            zs__options_free(&options);
            zs__config_free(&config);
            return (void *)1;
        }
        zs__options_free(&options);
        zs__config_free(&config);
    }
    return NULL;
}

Test(config, loads_in_parallel)
{
    static const char yaml[] = "queue: { capacity: 1024 }\n" OUT_SINK
                               "    path: ${ZS_TEST_DIR:-/tmp}/x\n"
                               "    rotate: { keep: 3 }\n";
    pthread_t threads[PARALLEL_THREADS];
    for (int i = 0; i < PARALLEL_THREADS; i++)
        cr_assert_eq(pthread_create(&threads[i], NULL, load_repeatedly,
                                    (void *)yaml),
                     0);
    for (int i = 0; i < PARALLEL_THREADS; i++) {
        void *failed = (void *)1;
        cr_expect_eq(pthread_join(threads[i], &failed), 0);
        cr_expect_null(failed, "thread %d", i);
    }
}

/* ---- files ---- */

static char *temp_dir(void)
{
    char *dir = strdup("/tmp/zs-test-config-XXXXXX");
    cr_assert_not_null(dir);
    cr_assert_not_null(mkdtemp(dir));
    return dir;
}

static void file_write(const char *path, const char *text)
{
    FILE *file = fopen(path, "w");
    cr_assert_not_null(file, "%s", path);
    cr_assert_eq(fputs(text, file) >= 0, 1);
    cr_assert_eq(fclose(file), 0);
}

Test(config, file_names_itself_and_its_directory)
{
    char *dir = temp_dir(), *real = realpath(dir, NULL);
    char good[PATH_MAX], bad[PATH_MAX], missing[PATH_MAX];
    char err[ERR_LEN] = "", expected[PATH_MAX + ERR_LEN];
    snprintf(good, sizeof good, "%s/good.yaml", dir);
    snprintf(bad, sizeof bad, "%s/bad.yaml", dir);
    snprintf(missing, sizeof missing, "%s/missing.yaml", dir);
    file_write(good, ONE_SINK);
    file_write(bad, "# bad capacity\nqueue:\n  capacity: 1000\n" ONE_SINK);

    zs__config_t *config = NULL;
    cr_assert_eq(zs__config_load_file(good, &config, err, sizeof err), 0, "%s",
                 err);
    cr_expect_str_eq(config->path, good);
    cr_expect_str_eq(config->dir, real);
    zs__config_free(&config);

    cr_expect_eq(zs__config_load_file(bad, &config, err, sizeof err), -1);
    snprintf(expected, sizeof expected,
             "%s:3:13: queue.capacity: expected a power of two between 16 "
             "and 16777216, got 1000",
             bad);
    cr_expect_str_eq(err, expected);
    cr_expect_null(config);

    cr_expect_eq(zs__config_load_file(missing, &config, err, sizeof err), -1);
    snprintf(expected, sizeof expected,
             "%s: cannot open: No such file or directory", missing);
    cr_expect_str_eq(err, expected);

    unlink(good);
    unlink(bad);
    rmdir(dir);
    free(real);
    free(dir);
}

Test(config, free_takes_null)
{
    zs__config_t *config = NULL;
    zs__config_free(&config);
    zs__config_free(NULL);
    zs__options_t *options = NULL;
    zs__options_free(&options);
    zs__options_free(NULL);
    cr_expect_null(config);
    cr_expect_null(options);
}

/* ---- plugin options ---- */

static const zmqsink_option_t sample_options[] = {
    {.key = "path", .type = ZMQSINK_OPT_STRING, .required = 1,
     .help = "where to write"},
    {.key = "label", .type = ZMQSINK_OPT_STRING, .fallback = "none"},
    {.key = "count", .type = ZMQSINK_OPT_INT, .fallback = "3", .min = 1,
     .max = 10},
    {.key = "offset", .type = ZMQSINK_OPT_INT},
    {.key = "enabled", .type = ZMQSINK_OPT_BOOL, .fallback = "off"},
    {.key = "timeout", .type = ZMQSINK_OPT_DURATION, .fallback = "1s",
     .min = 100, .max = 60000},
    {.key = "limit", .type = ZMQSINK_OPT_SIZE, .fallback = "64KiB",
     .min = 1024, .max = INT64_C(1) << 30},
    {.key = "mode", .type = ZMQSINK_OPT_ENUM, .fallback = "fast",
     .choices = "fast|safe|off"},
    {.key = "tags", .type = ZMQSINK_OPT_LIST},
    {.key = "hosts", .type = ZMQSINK_OPT_LIST, .fallback = "localhost"},
    {.key = "headers", .type = ZMQSINK_OPT_MAP},
    {.key = "rotate.max_size", .type = ZMQSINK_OPT_SIZE},
    {.key = "rotate.keep", .type = ZMQSINK_OPT_INT, .fallback = "5", .min = 1,
     .max = 100},
    {.key = "batch.limits.events", .type = ZMQSINK_OPT_INT, .fallback = "100",
     .min = 1, .max = INT64_MAX},
    {0}};

#define SAMPLE_KEYS                                                            \
    "path, label, count, offset, enabled, timeout, limit, mode, tags, hosts, " \
    "headers, rotate.max_size, rotate.keep, batch.limits.events"
#define SAMPLE_SINK "sinks:\n  - name: s\n    type: sample\n"

/* Parses the sink "s" with body appended (lines 4 spaces in, from line 4)
 * against table. The config is freed before returning, so the values must
 * not point into it. */
static int options_load(const zmqsink_option_t *table, const char *body,
                        zs__options_t **options, char *err, size_t errlen)
{
    char yaml[2048];
    snprintf(yaml, sizeof yaml, SAMPLE_SINK "%s", body);
    zs__config_t *config = load_ok(yaml);
    int rc = zs__options_parse(config, &config->sinks[0], "sample", table,
                               options, err, errlen);
    zs__config_free(&config);
    return rc;
}

Test(options, every_type_set)
{
    char err[ERR_LEN] = "";
    zs__options_t *o = NULL;
    int rc = options_load(sample_options,
                          "    path: /var/log/x\n"
                          "    label: \"\"\n"
                          "    count: 10\n"
                          "    offset: 0\n"
                          "    enabled: Yes\n"
                          "    timeout: 1m\n"
                          "    limit: 1GiB\n"
                          "    mode: off\n"
                          "    tags: [a, \"b c\"]\n"
                          "    hosts: h1\n"
                          "    headers: { X-A: 1, X-B: two }\n"
                          "    rotate: { max_size: 10MB, keep: 1 }\n"
                          "    batch:\n"
                          "      limits: { events: 9000000000 }\n"
                          "    events: errors\n"
                          "    sockets: [front]\n"
                          "    min_severity: info\n",
                          &o, err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_expect_str_eq(zs__options_string(o, "path"), "/var/log/x");
    cr_expect_str_eq(zs__options_string(o, "label"), "");
    cr_expect_eq(zs__options_int(o, "count"), 10);
    cr_expect_eq(zs__options_int(o, "offset"), 0);
    cr_expect_eq(zs__options_int(o, "enabled"), 1);
    cr_expect_eq(zs__options_int(o, "timeout"), 60000);
    cr_expect_str_eq(zs__options_string(o, "timeout"), "1m");
    cr_expect_eq(zs__options_int(o, "limit"), INT64_C(1) << 30);
    cr_expect_eq(zs__options_int(o, "mode"), 2);
    cr_expect_str_eq(zs__options_string(o, "mode"), "off");
    cr_expect_eq(zs__options_int(o, "rotate.max_size"), 10000000);
    cr_expect_eq(zs__options_int(o, "rotate.keep"), 1);
    cr_expect_eq(zs__options_int(o, "batch.limits.events"),
                 INT64_C(9000000000));

    const char *const *items, *const *values;
    cr_assert_eq(zs__options_list(o, "tags", &items), 2);
    cr_expect_str_eq(items[0], "a");
    cr_expect_str_eq(items[1], "b c");
    cr_assert_eq(zs__options_list(o, "hosts", &items), 1);
    cr_expect_str_eq(items[0], "h1");
    cr_assert_eq(zs__options_map(o, "headers", &items, &values), 2);
    cr_expect_str_eq(items[0], "X-A");
    cr_expect_str_eq(values[0], "1");
    cr_expect_str_eq(items[1], "X-B");
    cr_expect_str_eq(values[1], "two");
    for (const zmqsink_option_t *opt = sample_options; opt->key; opt++)
        cr_expect_eq(zs__options_is_set(o, opt->key), 1, "%s", opt->key);
    zs__options_free(&o);
    cr_expect_null(o);
}

Test(options, fallbacks)
{
    char err[ERR_LEN] = "";
    zs__options_t *o = NULL;
    cr_assert_eq(options_load(sample_options, "    path: \"-\"\n", &o, err,
                              sizeof err),
                 0, "%s", err);
    cr_expect_str_eq(zs__options_string(o, "path"), "-");
    cr_expect_str_eq(zs__options_string(o, "label"), "none");
    cr_expect_eq(zs__options_int(o, "count"), 3);
    cr_expect_eq(zs__options_int(o, "offset"), 0);
    cr_expect_eq(zs__options_int(o, "enabled"), 0);
    cr_expect_eq(zs__options_int(o, "timeout"), 1000);
    cr_expect_eq(zs__options_int(o, "limit"), 65536);
    cr_expect_eq(zs__options_int(o, "mode"), 0);
    cr_expect_str_eq(zs__options_string(o, "mode"), "fast");
    cr_expect_eq(zs__options_int(o, "rotate.max_size"), 0);
    cr_expect_null(zs__options_string(o, "rotate.max_size"));
    cr_expect_eq(zs__options_int(o, "rotate.keep"), 5);
    cr_expect_eq(zs__options_int(o, "batch.limits.events"), 100);

    const char *const *items, *const *values;
    cr_expect_eq(zs__options_list(o, "tags", &items), 0);
    cr_assert_eq(zs__options_list(o, "hosts", &items), 1);
    cr_expect_str_eq(items[0], "localhost");
    cr_expect_eq(zs__options_map(o, "headers", &items, &values), 0);

    cr_expect_eq(zs__options_is_set(o, "path"), 1);
    for (const zmqsink_option_t *opt = sample_options + 1; opt->key; opt++)
        cr_expect_eq(zs__options_is_set(o, opt->key), 0, "%s", opt->key);
    zs__options_free(&o);
}

Test(options, flat_dotted_key)
{
    char err[ERR_LEN] = "";
    zs__options_t *o = NULL;
    cr_assert_eq(options_load(sample_options,
                              "    path: x\n    rotate.keep: 7\n", &o, err,
                              sizeof err),
                 0, "%s", err);
    cr_expect_eq(zs__options_int(o, "rotate.keep"), 7);
    cr_expect_eq(zs__options_is_set(o, "rotate.keep"), 1);
    zs__options_free(&o);
}

/* A header value written where a mapping belongs is shown as written. */
Test(options, messages_quote_the_file_not_the_environment)
{
    char err[ERR_LEN] = "";
    zs__options_t *o = NULL;
    setenv(SECRET_VAR, "Bearer s3cr3t", 1);
    cr_expect_eq(options_load(sample_options,
                              "    path: x\n"
                              "    headers: \"Authorization: ${" SECRET_VAR
                              "}\"\n",
                              &o, err, sizeof err),
                 -1);
    cr_expect_str_eq(err, "test.yaml:5:14: sink 's': headers: expected a "
                          "mapping of strings to strings, got "
                          "Authorization: ${" SECRET_VAR "}");
    zs__options_free(&o);
}

Test(options, bad_values)
{
    static const struct bad_case cases[] = {
        {"", "test.yaml:2:5: sink 's': missing required option 'path' for "
             "type 'sample' (where to write)"},
        {"    path: x\n    pth: y\n",
         "test.yaml:5:5: sink 's': unknown option 'pth' for type 'sample'; "
         "valid options: " SAMPLE_KEYS},
        {"    path: x\n    rotate: { max: 1 }\n",
         "test.yaml:5:15: sink 's': unknown option 'rotate.max' for type "
         "'sample'; valid options: " SAMPLE_KEYS},
        {"    path: x\n    batch: { limits: { events: 1, bytes: 2 } }\n",
         "test.yaml:5:35: sink 's': unknown option 'batch.limits.bytes' for "
         "type 'sample'; valid options: " SAMPLE_KEYS},
        {"    path: x\n    rotate: 5\n",
         "test.yaml:5:13: sink 's': rotate: expected a mapping of "
         "rotate.max_size, rotate.keep, got 5"},
        {"    path: x\n    count: 11\n",
         "test.yaml:5:12: sink 's': count: expected an integer between 1 and "
         "10, got 11"},
        {"    path: x\n    count: 0\n",
         "test.yaml:5:12: sink 's': count: expected an integer between 1 and "
         "10, got 0"},
        {"    path: x\n    count: 3x\n",
         "test.yaml:5:12: sink 's': count: expected an integer between 1 and "
         "10, got 3x"},
        {"    path: x\n    offset: -1\n",
         "test.yaml:5:13: sink 's': offset: expected an integer >= 0, got -1"},
        {"    path: x\n    offset: 99999999999999999999\n",
         "test.yaml:5:13: sink 's': offset: expected an integer >= 0, got "
         "99999999999999999999"},
        {"    path: x\n    batch: { limits: { events: 0 } }\n",
         "test.yaml:5:32: sink 's': batch.limits.events: expected an integer "
         "of at least 1, got 0"},
        {"    path: x\n    enabled: maybe\n",
         "test.yaml:5:14: sink 's': enabled: expected true or false (or "
         "yes/no, on/off), got maybe"},
        {"    path: x\n    timeout: 50ms\n",
         "test.yaml:5:14: sink 's': timeout: expected a duration between "
         "100ms and 1m " DURATION_HINT ", got 50ms"},
        {"    path: x\n    timeout: 1\n",
         "test.yaml:5:14: sink 's': timeout: expected a duration between "
         "100ms and 1m " DURATION_HINT ", got 1"},
        {"    path: x\n    limit: 12XB\n",
         "test.yaml:5:12: sink 's': limit: expected a size between 1KiB and "
         "1GiB (like 512, 64KiB, 100MiB, 1GiB), got 12XB"},
        {"    path: x\n    rotate: { max_size: -1 }\n",
         "test.yaml:5:25: sink 's': rotate.max_size: expected a size (like "
         "512, 64KiB, 100MiB, 1GiB), got -1"},
        {"    path: x\n    mode: slow\n",
         "test.yaml:5:11: sink 's': mode: expected one of fast, safe, off, got "
         "slow"},
        {"    path: x\n    label: [a]\n",
         "test.yaml:5:12: sink 's': label: expected a string, got a list"},
        {"    path: x\n    tags: { a: b }\n",
         "test.yaml:5:11: sink 's': tags: expected a string or a list of "
         "strings, got a mapping"},
        {"    path: x\n    tags: [a, [b]]\n",
         "test.yaml:5:15: sink 's': tags: expected a string or a list of "
         "strings, got a list"},
        {"    path: x\n    headers: [a]\n",
         "test.yaml:5:14: sink 's': headers: expected a mapping of strings to "
         "strings, got a list"},
        {"    path: x\n    headers: { a: [b] }\n",
         "test.yaml:5:19: sink 's': headers: expected a mapping of strings to "
         "strings, got a list"},
        {"    path: x\n    rotate.keep: 3\n    rotate: { keep: 4 }\n",
         "test.yaml:6:15: sink 's': option 'rotate.keep' is set twice"},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        char err[ERR_LEN] = "";
        zs__options_t *o = NULL;
        int rc = options_load(sample_options, cases[i].yaml, &o, err,
                              sizeof err);
        cr_expect_eq(rc, -1, "case %zu accepted:\n%s", i, cases[i].yaml);
        cr_expect_null(o, "case %zu", i);
        cr_expect_str_eq(err, cases[i].message, "case %zu:\n%s", i,
                         cases[i].yaml);
        zs__options_free(&o);
    }
}

Test(options, broken_fallback_blames_the_plugin)
{
    static const struct {
        zmqsink_option_t table[2];
        const char *message;
    } cases[] = {
        {{{.key = "format", .type = ZMQSINK_OPT_ENUM, .fallback = "xml",
           .choices = "json|text"}},
         "test.yaml:2:5: sink 's': plugin 'sample' is broken: its default for "
         "option 'format' is xml, not one of json, text"},
        {{{.key = "every", .type = ZMQSINK_OPT_INT, .fallback = "0", .min = 1,
           .max = 5}},
         "test.yaml:2:5: sink 's': plugin 'sample' is broken: its default for "
         "option 'every' is 0, not an integer between 1 and 5"},
        {{{.key = "headers", .type = ZMQSINK_OPT_MAP, .fallback = "a"}},
         "test.yaml:2:5: sink 's': plugin 'sample' is broken: its default for "
         "option 'headers' is a, not a mapping of strings to strings"},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        char err[ERR_LEN] = "";
        zs__options_t *o = NULL;
        cr_expect_eq(options_load(cases[i].table, "", &o, err, sizeof err), -1);
        cr_expect_str_eq(err, cases[i].message, "case %zu", i);
        cr_expect_null(o);
    }
}

Test(options, plugin_without_options)
{
    char err[ERR_LEN] = "";
    zs__options_t *o = NULL;
    cr_expect_eq(options_load(NULL, "    events: all\n", &o, err, sizeof err),
                 0, "%s", err);
    zs__options_free(&o);
    cr_expect_eq(options_load(NULL, "    path: x\n", &o, err, sizeof err), -1);
    cr_expect_str_eq(err, "test.yaml:4:5: sink 's': unknown option 'path' for "
                          "type 'sample'; valid options: (none)");
    cr_expect_null(o);
}

/* A plugin asking for a key its table does not declare has a bug, which
 * must not take the application down: it gets nothing, and why. */
Test(options, undeclared_key_is_a_plugin_bug_not_a_crash)
{
    char err[ERR_LEN] = "";
    zs__options_t *o = NULL;
    cr_assert_eq(options_load(sample_options, "    path: x\n", &o, err,
                              sizeof err),
                 0, "%s", err);
    cr_assert_eq(zs__options_int(o, "no_such_key"), 0);
    cr_assert_null(zs__options_string(o, "no_such_key"));
    cr_assert_not_null(zs__options_misuse(o, "no_such_key", ZS__ACCESS_INT));
    cr_assert_str_eq(zs__options_string(o, "path"), "x", "the rest reads on");
    zs__options_free(&o);
}

/* ---- units ---- */

struct unit_case {
    const char *text;
    int64_t value;
};

Test(units, durations)
{
    static const struct unit_case good[] = {
        {"0", 0},
        {"0ms", 0},
        {"500ms", 500},
        {"1s", 1000},
        {"007s", 7000},
        {"2m", 120000},
        {"1h", 3600000},
        {"9223372036854775807ms", INT64_MAX},
        {"2562047788015h", INT64_C(2562047788015) * 3600000},
    };
    static const char *const bad[] = {
        "",    "5",     "00",      "-1s", "+1s",  "1.5s", "1 s", " 1s",
        "1s ", "1d",    "s",       "1S",  "1sec", "1ms2", "1h1m",
        "9223372036854775808ms", "9223372036854775807s", "2562047788016h",
    };
    for (size_t i = 0; i < COUNT(good); i++) {
        int64_t ms = -1;
        cr_expect_eq(zs__parse_duration_ms(good[i].text, &ms), 0, "%s",
                     good[i].text);
        cr_expect_eq(ms, good[i].value, "%s", good[i].text);
    }
    for (size_t i = 0; i < COUNT(bad); i++) {
        int64_t ms = -1;
        cr_expect_eq(zs__parse_duration_ms(bad[i], &ms), -1, "'%s'", bad[i]);
    }
}

Test(units, sizes)
{
    static const struct unit_case good[] = {
        {"0", 0},
        {"512", 512},
        {"512B", 512},
        {"1KiB", 1024},
        {"64KiB", 65536},
        {"100MiB", INT64_C(100) << 20},
        {"1GiB", INT64_C(1) << 30},
        {"1KB", 1000},
        {"2MB", 2000000},
        {"3GB", 3000000000},
        {"9223372036854775807", INT64_MAX},
        {"8589934591GiB", INT64_C(8589934591) << 30},
    };
    static const char *const bad[] = {
        "",     "-1",     "1kib",   "1K",    "1.5MiB", "1 MiB",
        "1TiB", "MiB",    " 1",     "1B ",   "0x10",   "1MiB1",
        "9223372036854775808",      "8589934592GiB",
    };
    for (size_t i = 0; i < COUNT(good); i++) {
        int64_t bytes = -1;
        cr_expect_eq(zs__parse_size(good[i].text, &bytes), 0, "%s",
                     good[i].text);
        cr_expect_eq(bytes, good[i].value, "%s", good[i].text);
    }
    for (size_t i = 0; i < COUNT(bad); i++) {
        int64_t bytes = -1;
        cr_expect_eq(zs__parse_size(bad[i], &bytes), -1, "'%s'", bad[i]);
    }
}

Test(units, event_index)
{
    for (int i = 0; i < ZMQSINK_EVENT_TYPES; i++)
        cr_expect_eq(zs__event_index(1u << i), i);
    cr_expect_eq(zs__event_index(ZMQSINK_EVENT_HANDSHAKE_FAILED_AUTH), 14);
}

Test(units, event_index_of_two_bits_aborts, .signal = SIGABRT)
{
    zs__event_index(ZMQSINK_EVENT_CONNECTED | ZMQSINK_EVENT_CLOSED);
}

Test(units, event_index_of_zero_aborts, .signal = SIGABRT)
{
    zs__event_index(0);
}
