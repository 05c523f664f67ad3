/* zmqsink plugin ABI: what a sink plugin exports and what the host gives it.
 *
 * A sink plugin is a shared object that exports one function,
 * zmqsink_plugin_entry(), returning a const descriptor. The core loads it
 * with dlopen(RTLD_NOW | RTLD_LOCAL), checks the descriptor (ABI major,
 * mandatory callbacks, option table) and only then calls open().
 *
 * Threads: open, write, tick, flush, reopen and close of one sink instance
 * are all called on that sink's own worker thread, never concurrently. A
 * plugin may block in them (a slow network, a full disk): that delays only
 * this sink, whose events then wait in its ring and, once it is full, are
 * dropped and counted. Nothing a plugin does can stall the application.
 *
 * Versions: ZMQSINK_PLUGIN_ABI_MAJOR changes when the descriptor, the host
 * table or zmqsink_event_t change incompatibly; the loader refuses a plugin
 * built for another major. ZMQSINK_PLUGIN_ABI_MINOR grows when members are
 * added at the end of zmqsink_host_t; a plugin built for a newer minor than
 * the host's is refused, an older one is accepted.
 *
 * Options: the plugin lists every option key it accepts with its type, its
 * default and its range. The core validates a sink's configuration against
 * that table before open() (and in `zmqsink check`, without calling open),
 * rejects unknown keys with the list of valid ones, and expands ${VAR} and
 * ${VAR:-default}. The keys name, type, plugin, events, sockets and
 * min_severity belong to the core and are never passed to a plugin.
 *
 * A complete plugin, built with
 *   cc -shared -fPIC $(pkg-config --cflags zmqsink) -o count.so count.c
 *
 *   #include <stdlib.h>
 *   #include <zmqsink/plugin.h>
 *
 *   struct count { const zmqsink_host_t *host; int64_t every; uint64_t n; };
 *
 *   static void *count_open(const zmqsink_host_t *host, char *err, size_t len)
 *   {
 *       struct count *c = calloc(1, sizeof *c);
 *       if (!c) { snprintf(err, len, "out of memory"); return NULL; }
 *       c->host = host;
 *       c->every = host->option_int(host, "every");
 *       return c;
 *   }
 *   static zmqsink_write_result_t count_write(void *state,
 *           const zmqsink_event_t *events, size_t n)
 *   {
 *       struct count *c = state;
 *       for (size_t i = 0; i < n; i++)
 *           if (++c->n % (uint64_t)c->every == 0)
 *               c->host->log(c->host, ZMQSINK_SEV_INFO, "%llu events, last %s",
 *                            (unsigned long long)c->n,
 *                            zmqsink_event_name(events[i].type));
 *       return ZMQSINK_WRITE_OK;
 *   }
 *   static void count_close(void *state) { free(state); }
 *
 *   static const zmqsink_option_t count_options[] = {
 *       { .key = "every", .type = ZMQSINK_OPT_INT, .fallback = "100",
 *         .min = 1, .max = 1000000, .help = "log once per this many events" },
 *       { 0 }
 *   };
 *   static const zmqsink_plugin_t count_plugin = {
 *       ZMQSINK_PLUGIN_DESCRIPTOR_INIT,
 *       .name = "count", .description = "logs a line every N events",
 *       .options = count_options,
 *       .open = count_open, .write = count_write, .close = count_close,
 *   };
 *   ZMQSINK_PLUGIN_EXPORT const zmqsink_plugin_t *zmqsink_plugin_entry(void)
 *   {
 *       return &count_plugin;
 *   }
 *
 * Note that the example calls zmqsink_event_name(): functions of
 * zmqsink/event.h resolve in libzmqsink, which is always loaded in the
 * process that loads the plugin. Everything else comes through the host.
 */
#ifndef ZMQSINK_PLUGIN_H
#define ZMQSINK_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include <zmqsink/event.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZMQSINK_PLUGIN_ABI_MAJOR 1
#define ZMQSINK_PLUGIN_ABI_MINOR 1

/* The name of the one symbol a plugin exports. */
#define ZMQSINK_PLUGIN_ENTRY_SYMBOL "zmqsink_plugin_entry"
#define ZMQSINK_PLUGIN_EXPORT __attribute__((visibility("default")))

/* What write() says about the events it was given. */
typedef enum zmqsink_write_result {
    ZMQSINK_WRITE_OK = 0,    /* all taken: delivered, or buffered by the
                                plugin, which then owns them */
    ZMQSINK_WRITE_RETRY = 1, /* none taken: offer the same events again
                                later (the worker backs off and ticks) */
    ZMQSINK_WRITE_FAILED = 2 /* none taken, never will be: counted as
                                failed and discarded */
} zmqsink_write_result_t;

/* Option types. Values are validated by the core before open(). */
typedef enum zmqsink_option_type {
    ZMQSINK_OPT_STRING = 1, /* option_string() */
    ZMQSINK_OPT_INT,        /* option_int(), within [min, max] */
    ZMQSINK_OPT_BOOL,       /* option_int(): 0 or 1 */
    ZMQSINK_OPT_DURATION,   /* "500ms", "2s", "1m", "1h": option_int() in
                               milliseconds, within [min, max] */
    ZMQSINK_OPT_SIZE,       /* "512", "64KiB", "100MiB", "1GiB": option_int()
                               in bytes, within [min, max] */
    ZMQSINK_OPT_ENUM,       /* one of choices ("never|batch"): option_int()
                               is its index, option_string() its text */
    ZMQSINK_OPT_LIST,       /* a sequence of strings: option_list() */
    ZMQSINK_OPT_MAP         /* a mapping of strings to strings: option_map() */
} zmqsink_option_type_t;

/* One accepted option. A key with a dot ("rotate.keep") is a key inside a
 * mapping ("rotate: { keep: 5 }"). A table ends with an entry whose key is
 * NULL. */
typedef struct zmqsink_option {
    const char *key;
    zmqsink_option_type_t type;
    const char *fallback; /* default, written as in the YAML file; NULL: none
                             (option_* then return NULL, 0 or an empty list) */
    int required;         /* 1: the config file must set it */
    int64_t min, max;     /* INT, DURATION, SIZE: inclusive range; both 0 means
                             any value >= 0 */
    const char *choices;  /* ENUM: the words, separated by '|' */
    const char *help;     /* one line, shown in errors and documentation */
} zmqsink_option_t;

typedef struct zmqsink_host zmqsink_host_t;

/* Services the host gives one sink instance. The table and everything it
 * points to stay valid from open() until close() returns. Callable only
 * from the sink's own thread unless said otherwise. */
struct zmqsink_host {
    uint16_t abi_major, abi_minor; /* of the host */
    const char *sink_name;         /* the sink's `name:` in the config */
    const char *config_dir;        /* directory of the config file, to
                                      resolve relative paths against */

    /* The validated value of a declared option, or the fallback. Strings
     * are owned by the host. For an option the file did not set and that
     * has no fallback: NULL, 0, or 0 items. */
    const char *(*option_string)(const zmqsink_host_t *host, const char *key);
    int64_t (*option_int)(const zmqsink_host_t *host, const char *key);
    size_t (*option_list)(const zmqsink_host_t *host, const char *key,
                          const char *const **items);
    size_t (*option_map)(const zmqsink_host_t *host, const char *key,
                         const char *const **keys,
                         const char *const **values);
    /* Whether the config file set the option (1) or it has its default (0). */
    int (*option_is_set)(const zmqsink_host_t *host, const char *key);

    /* zmqsink_format_event(), reachable without linking libzmqsink. */
    size_t (*format)(zmqsink_format_t format, const zmqsink_event_t *event,
                     char *buf, size_t cap);

    /* Logs through the host's log, prefixed with the sink's name. Any
     * thread. */
    void (*log)(const zmqsink_host_t *host, zmqsink_severity_t severity,
                const char *fmt, ...) __attribute__((format(printf, 3, 4)));

    /* Counts events the plugin accepted with ZMQSINK_WRITE_OK but then could
     * not deliver (a dead letter, a buffer overflow), so that no loss goes
     * unseen; reason is a short static word ("rejected", "overflow"). */
    void (*count_failed)(const zmqsink_host_t *host, uint64_t n,
                         const char *reason);

    /* Since ABI 1.1. The core's drop counter of every sink of this
     * instance, for sinks that forward metrics: for index < the returned
     * count, sets *name (valid until close) and *dropped (events that sink
     * lost: ring full, or undelivered at shutdown). Any thread. */
    size_t (*sink_drops)(const zmqsink_host_t *host, size_t index,
                         const char **name, uint64_t *dropped);

    /* Since ABI 1.1. Resolves a server address once, at open: a path
     * containing '/' is a unix socket (relative to config_dir); otherwise
     * "host:port" or "[ipv6]:port", or "host" alone when default_port is
     * not NULL. socktype (SOCK_DGRAM or SOCK_STREAM) guides the lookup.
     * Fills *addr and *addr_len and returns 0, or returns -1 with
     * "address 'X': what was expected" in err. */
    int (*resolve_address)(const zmqsink_host_t *host, const char *address,
                           const char *default_port, int socktype,
                           struct sockaddr_storage *addr, socklen_t *addr_len,
                           char *err, size_t errlen);
};

typedef struct zmqsink_plugin {
    uint16_t abi_major, abi_minor; /* use ZMQSINK_PLUGIN_DESCRIPTOR_INIT */
    const char *name;              /* the `type:` it serves, e.g. "file" */
    const char *description;       /* one line */
    const zmqsink_option_t *options; /* accepted keys; NULL: none */

    /* Mandatory. Makes the sink ready to write. Returns its state, or NULL
     * with a message in err (len bytes) that names what is wrong and, where
     * it can, what to do. */
    void *(*open)(const zmqsink_host_t *host, char *err, size_t len);

    /* Mandatory. Delivers n >= 1 events in sequence order. The events belong
     * to the host: copy what is kept beyond the call. */
    zmqsink_write_result_t (*write)(void *state, const zmqsink_event_t *events,
                                    size_t n);

    /* Optional. Called about every 100 ms, and between retries, with the
     * monotonic clock in ns: for batch timers, reconnects, retries. */
    void (*tick)(void *state, int64_t now_ns);

    /* Optional. At shutdown, after the last write: deliver what the plugin
     * buffered, within deadline_ns (monotonic). Returns the number of events
     * it could not deliver (0 when all went out). */
    uint64_t (*flush)(void *state, int64_t deadline_ns);

    /* Optional. Reopen files (SIGHUP, logrotate). Returns 0, or -1 after
     * logging why. */
    int (*reopen)(void *state);

    /* Mandatory. Releases everything; state is not used again. */
    void (*close)(void *state);
} zmqsink_plugin_t;

#define ZMQSINK_PLUGIN_DESCRIPTOR_INIT                                         \
    .abi_major = ZMQSINK_PLUGIN_ABI_MAJOR, .abi_minor = ZMQSINK_PLUGIN_ABI_MINOR

/* The entry point every plugin defines and exports. */
typedef const zmqsink_plugin_t *(*zmqsink_plugin_entry_fn)(void);
ZMQSINK_PLUGIN_EXPORT const zmqsink_plugin_t *zmqsink_plugin_entry(void);

#ifdef __cplusplus
}
#endif
#endif
