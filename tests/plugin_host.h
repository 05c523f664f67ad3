/* A plugin driven directly, without the core's pipeline: loaded by hand,
 * given a host table whose option values the test chooses and whose
 * services record what the plugin did. */
#ifndef ZS_TEST_PLUGIN_HOST_H
#define ZS_TEST_PLUGIN_HOST_H

#include <stdbool.h>
#include <zmqsink/plugin.h>

/* One option value as the core would hand it over. */
typedef struct th_option {
    const char *key;
    const char *text;   /* NULL: not set and no fallback */
    int64_t number;     /* ints, durations (ms), sizes, enum indexes */
    bool set;           /* what option_is_set() says */
} th_option_t;

#define TH_MAX_OPTIONS 24
#define TH_MAX_REASONS 8
#define TH_MAX_SINKS 4

typedef struct th_plugin_host {
    zmqsink_host_t host; /* first: the services cast back to this */
    const zmqsink_plugin_t *plugin;
    th_option_t options[TH_MAX_OPTIONS];
    /* option_map(): one map, whatever its key */
    const char *map_keys[4], *map_values[4];
    size_t map_n;
    /* what log() and count_failed() were told */
    int logs;
    char last_log[512];
    char log_text[32768]; /* every line, '\n'-terminated, while it fits */
    size_t log_len;
    uint64_t failed;
    const char *failed_reason;
    char reasons[TH_MAX_REASONS][32]; /* failures per reason (copied: the
                                         plugin may be unloaded) */
    uint64_t reason_failed[TH_MAX_REASONS];
    uint64_t delivered; /* what count_delivered() was told */
    int64_t tick_at_ns; /* the earliest tick_at() asked; INT64_MAX: none
                           (the test resets it when it ticks) */
    /* what sink_drops() reports */
    size_t nsinks;
    const char *sink_names[TH_MAX_SINKS];
    uint64_t sink_dropped[TH_MAX_SINKS];
    uint64_t sockets_attached; /* what sockets_attached() reports */
    /* resolve_address(): the core's, after failing the next
     * lookups_to_fail lookups of a name (not a path) as a resolver that
     * cannot be reached would; lookups counts the names looked up */
    int lookups_to_fail;
    int lookups;
} th_plugin_host_t;

/* Loads NAME.so from $ZMQSINK_PLUGIN_DIR; *handle is for dlclose(). */
const zmqsink_plugin_t *th_plugin_load(const char *name, void **handle);

/* Fills h with every service of this ABI (format, resolve_path, host_name
 * and the fds': the core's; resolve_address: the core's, see
 * lookups_to_fail) and the options, ended by a NULL key; or, when options
 * is NULL, every option the plugin declares, with its fallback parsed as
 * the core parses it (set false). */
void th_plugin_host_init(th_plugin_host_t *h, const zmqsink_plugin_t *plugin,
                         const char *sink_name, const char *config_dir,
                         const th_option_t *options);

/* The option the test host holds for key; the test fails if the plugin
 * does not declare it or the host lacks it. */
th_option_t *th_plugin_option(th_plugin_host_t *h, const char *key);

/* Opens the plugin on the host; the test fails with the plugin's message
 * if it cannot. Returns its state. */
void *th_plugin_open(th_plugin_host_t *h);

/* Opens the plugin with its next `fail` lookups of a name failing (see
 * lookups_to_fail): it must open all the same, having looked the name up
 * once and said exactly `said`, its one log line. Returns its state. */
void *th_plugin_open_unresolved(th_plugin_host_t *h, int fail,
                                const char *said);

/* Ticks a plugin that ticks on request as the core does: once the time it
 * asked for has come, consuming the request. The test fails when it asked
 * for none (what it holds would wait forever) or for one more than wait_ms
 * away. */
void th_plugin_tick_when_asked(th_plugin_host_t *h, void *state, int wait_ms);

/* Events count_failed() was told of with this reason. */
uint64_t th_plugin_failed(const th_plugin_host_t *h, const char *reason);

/* Sets an option as a config file would (set becomes true). */
void th_plugin_set_option(th_plugin_host_t *h, const char *key,
                          const char *text, int64_t number);

#endif
