/* Configuration: the YAML file parsed with libyaml into a small tree that
 * remembers where every node stands, validated into zs__config_t, and the
 * typed option values of each sink checked against its plugin's table.
 * Every error reads "FILE:LINE:COL: what was expected" (1-based). */
#ifndef ZS_CONFIG_H
#define ZS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zmqsink.h>
#include <zmqsink/plugin.h>

#include "options.h"
#include "value.h"
#include "yaml_tree.h"

/* `sockets:` naming rule for `zmqsink run`. */
typedef struct zs__socket_rule {
    char *match;     /* glob over endpoints */
    char *name;
    uint32_t events; /* mask of ZMQSINK_EVENT_* to monitor */
} zs__socket_rule_t;

/* Sinks an instance runs at most, callback sinks included (zmqsink.h). */
#define ZS__MAX_SINKS ZMQSINK_MAX_SINKS

/* `watch:` probes are zmqsink_probe_t (zmqsink.h); their strings point
 * into the config's tree. */
typedef struct zmqsink_probe zs__probe_t;

typedef struct zs__sink_config {
    char *name;
    char *type;           /* `type:`; NULL when only `plugin:` is given */
    char *plugin;         /* `plugin:` as written, or NULL */
    uint32_t events;      /* `events:` mask; default ZMQSINK_EVENT_ALL */
    char **sockets;       /* `sockets:` globs over socket names; NULL: all */
    size_t nsockets;
    int min_severity;     /* `min_severity:`; default ZMQSINK_SEV_DEBUG */
    const zs__node_t *node; /* the sink's mapping, for its plugin's options */
} zs__sink_config_t;

typedef struct zs__config {
    char *path;            /* as given, or "<default>" */
    char *dir;             /* directory of path (absolute), or cwd */
    char *plugin_dir;      /* `plugin_dir:` or NULL */
    uint32_t queue_capacity;      /* `queue: {capacity}`, a power of two in
                                     [16, 16777216]; default 65536 */
    int64_t shutdown_timeout_ms;  /* default 5000 */
    const char *stats_path;       /* `stats.path` as written (relative to
                                     dir), or NULL */
    int64_t stats_interval_ms;    /* `stats.interval`; default 5000 */
    uint8_t severity[ZMQSINK_EVENT_TYPES]; /* per type index, after
                                     `severity: {event: level}` overrides */
    zs__socket_rule_t *rules;
    size_t nrules;
    zs__probe_t *probes;
    size_t nprobes;
    zs__sink_config_t *sinks;
    size_t nsinks;
    zs__node_t *root;      /* owned */
} zs__config_t;

/* Parses and validates a file. Returns 0 and *out (caller owns it), or -1
 * with "FILE:LINE:COL: message" in err. */
int zs__config_load_file(const char *path, zs__config_t **out, char *err,
                         size_t errlen);

/* The same for YAML text; name stands for the file in messages. */
int zs__config_load_string(const char *name, const char *yaml,
                           zs__config_t **out, char *err, size_t errlen);

/* The same for len bytes of YAML, which may hold NULs (refused with their
 * position, as in a file). */
int zs__config_load_text(const char *name, const char *yaml, size_t len,
                         zs__config_t **out, char *err, size_t errlen);

void zs__config_free(zs__config_t **config);

/* Index 0..14 of a single ZMQSINK_EVENT_* bit. */
int zs__event_index(uint32_t type);

/* Checks every key of the sink's mapping other than the core's own (name,
 * type, plugin, events, sockets, min_severity) against table: unknown keys
 * ("FILE:L:C: sink 'x': unknown option 'pth' for type 'file'; valid
 * options: path, format, ..."), types, ranges, choices, required keys.
 * Returns 0 and *out (caller owns it), or -1 with the message in err. */
int zs__options_parse(const zs__config_t *config, const zs__sink_config_t *sink,
                      const char *type_name, const zmqsink_option_t *table,
                      zs__options_t **out, char *err, size_t errlen);

#endif
