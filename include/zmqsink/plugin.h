/* zmqsink plugin ABI: the plugin author's manual.
 *
 * A sink plugin is a shared object that exports one function,
 * zmqsink_plugin_entry(), returning a const descriptor (zmqsink_plugin_t):
 * the sink type it serves, the options it accepts, and its callbacks. The
 * core calls the callbacks; the plugin reaches the core only through the
 * zmqsink_host_t table that open() receives and the functions of
 * zmqsink/event.h. zmqsink-plugin(7) says the same at more length, and
 * examples/prometheus in the source tree is a complete plugin built out of
 * tree.
 *
 * Loading. For each sink of a config file, the core:
 *   1. finds the file: `plugin: x.so` (relative to the config file), else
 *      `type: NAME` as NAME.so in `plugin_dir`, each directory of
 *      $ZMQSINK_PLUGIN_DIR (':'-separated), then the installed plugin
 *      directory (`pkg-config --variable=plugindir zmqsink`);
 *   2. refuses it when the file or its directory (after symbolic links) is
 *      writable by others, or belongs to neither root nor the user running
 *      zmqsink: whoever could replace it would run code in every process;
 *   3. dlopens it with RTLD_NOW | RTLD_LOCAL (plugins never see each
 *      other's symbols) and calls zmqsink_plugin_entry();
 *   4. checks the descriptor: the ABI version (below); name, open, write
 *      and close set (tick, flush, reopen and check are optional); an
 *      option table with known types, choices for every ENUM and min <=
 *      max; and, when the sink has both `type:` and `plugin:`, that name
 *      equals `type:`;
 *   5. validates the sink's options against the table, then calls the
 *      plugin's check(), if it has one, for what a table cannot say;
 *   6. calls open() (`zmqsink check` stops before this).
 * A failure at any step stops the whole config (zmqsink_new() returns
 * NULL; zmqsink_reload() leaves the running sinks as they were), with one
 * line naming the config file, the sink and the plugin file, for instance:
 *   app.yaml:7:13: sink 'metrics': plugin '/opt/zs/old.so' was built for
 *   plugin ABI 2.0, this zmqsink provides 1.5: rebuild it against this
 *   zmqsink's headers
 *   app.yaml:7:13: sink 'metrics': plugin '/opt/zs/new.so' has no write in
 *   its descriptor (mandatory: name, open, write, close)
 * Nothing of the plugin runs before step 4 passes except its entry (and its
 * constructors, if it has any: have none).
 *
 * fork(). The application may fork at any moment, also while a sink
 * opens on its own thread. Loading and unloading a plugin run with fork()
 * held off, and so does what a plugin does between fork_hold() and
 * fork_release(): the place for changes to state it keeps for the whole
 * process. (pthread_atfork() from a plugin cannot do it: handlers
 * registered while a fork is under way are not run for that fork.) A
 * forked child never calls the instances of its parent: it starts zmqsink
 * afresh (see child_process), with a copy of that state as the fork found
 * it.
 *
 * ABI versions: ZMQSINK_PLUGIN_ABI_MAJOR.ZMQSINK_PLUGIN_ABI_MINOR, stamped
 * into the descriptor by ZMQSINK_PLUGIN_DESCRIPTOR_INIT.
 *   - The major changes when anything that exists changes: the layout or
 *     meaning of zmqsink_plugin_t, zmqsink_host_t, zmqsink_option_t or
 *     zmqsink_event_t, a callback's signature or contract, an enum value.
 *   - The minor grows when things are only added: members at the end of
 *     zmqsink_host_t or zmqsink_plugin_t, option types, event types.
 *   - The loader accepts a plugin whose major is the host's and whose minor
 *     is at most the host's: everything it was built against is there. It
 *     refuses every other major, older or newer, and a newer minor (the
 *     plugin could call a host service this zmqsink lacks). So a plugin
 *     built against 1.0 loads in every 1.x; one that uses nothing added
 *     since an older minor may declare that one (.abi_minor = 0) to load in
 *     older hosts too.
 *   - The host reads a zmqsink_plugin_t member added in minor M only from
 *     plugins that declare M or later, and gives every plugin its own full
 *     host table (host->abi_minor says which).
 *   - abi_major and abi_minor stay the first members of zmqsink_plugin_t in
 *     every major, so that any zmqsink can read them and say what is wrong.
 *   - 1.0: the first. 1.1: sink_drops and resolve_address in the host.
 *     1.2: child_process, fork_hold and fork_release in the host.
 *     1.3: resolve_path and host_name in the host.
 *     1.4: count_delivered in the host, flags in the descriptor.
 *     1.5: tick_at in the host, ZMQSINK_PLUGIN_TICKS_ON_REQUEST.
 *     1.6: own_fd, close_fd and sockets_attached in the host.
 *     1.7: check in the descriptor.
 *     1.8: ZMQSINK_ADDRESS_UNRESOLVED from resolve_address (a name the
 *     lookup did not resolve; -1 before, as for a malformed address).
 *
 * Instances and threads. Each sink of a config is one instance: its own
 * state (what open() returns), host table, worker thread and ring of
 * events. open, write, tick, flush, reopen and close of one instance run on
 * that instance's thread, one at a time, so its state needs no lock.
 * Several instances of one plugin (two sinks of one type, or the old and
 * the new instance of a sink that zmqsink_reload() replaces) run at the
 * same time: keep everything mutable in the state, nothing in globals. A
 * callback may block (a slow network, a full disk): that delays only its
 * own sink, whose events wait in its ring and, once it is full, are dropped
 * and counted. Nothing a plugin does stalls the application or another
 * sink.
 *
 * Lifecycle: open once; then write for each batch, tick about every 100 ms
 * (or, with ZMQSINK_PLUGIN_TICKS_ON_REQUEST, when it asked for it with
 * tick_at()) and reopen on request, in any order; at shutdown (zmqsink_destroy(), or
 * a reload that removes or replaces the sink) the events left in the ring
 * are written until shutdown_timeout, then flush once, then close once. A
 * plugin still inside a callback a second past that deadline is left
 * running on its thread, its state and host table untouched, and is never
 * closed.
 *
 * What users see of a failure:
 *   - check() returns -1: `zmqsink check`, zmqsink_new() and
 *     zmqsink_reload() refuse the file with "FILE:LINE:COL: sink 'NAME':
 *     <your message>" at the option (or entry of an option) it named. What
 *     the user can fix in the file alone belongs there.
 *   - open() returns NULL: zmqsink_new() fails with "FILE:LINE:COL: sink
 *     'NAME': <your message>" and no sink runs (zmqsink_reload() keeps the
 *     running config). So fail open() for what the user must fix (a bad
 *     path, a missing directory); for a server that may come up later,
 *     succeed, and retry from write() or tick().
 *   - write() returns ZMQSINK_WRITE_FAILED: the events count as `failed` in
 *     zmqsink_stats() and are discarded; the sink goes on with the next.
 *     The core does not log them: log why yourself, once.
 *   - write() returns ZMQSINK_WRITE_RETRY: the events stay queued, newer
 *     ones pile up behind them and, once the ring is full, count as
 *     `dropped`.
 *   - events the plugin took but lost (count_failed()) count as `failed`;
 *     those it still holds when flush() gives up count as `dropped`.
 *
 * Delivered. By default, write() returning ZMQSINK_WRITE_OK counts its
 * events as `delivered`. A plugin that keeps events before they reach the
 * other side (a socket buffer, a batch, a spool) sets
 * ZMQSINK_PLUGIN_COUNTS_DELIVERED in its descriptor's flags (ABI 1.4):
 * then what write() took counts as `pending` until the plugin reports each
 * event once, with count_delivered() when it certainly left (a datagram
 * sent, a line written whole to a file or a stream socket, a 2xx answer),
 * with count_failed() when it never will, or in flush()'s return at
 * shutdown; what it still holds when it is closed counts as `dropped`. The
 * core never counts more events delivered or failed than the plugin holds.
 * For every sink, at every zmqsink_stats(): enqueued + dropped_full =
 * delivered + pending + queue_depth + failed + dropped_full +
 * dropped_shutdown.
 *
 * Options: the plugin lists every option key it accepts with its type, its
 * default and its range. The core validates a sink's configuration against
 * that table before open() (and in `zmqsink check`), rejects unknown keys
 * with the list of valid ones, and expands ${VAR} and ${VAR:-default}. The
 * keys name, type, plugin, events, sockets and min_severity belong to the
 * core (it filters events before write()): never declare them.
 *
 * Building: compile with `pkg-config --cflags zmqsink`, -fPIC -shared
 * -fvisibility=hidden. A plugin that uses only its host table links no
 * library of zmqsink: the core hands it everything it needs there (the
 * formats included). One that calls the functions of zmqsink/event.h
 * (zmqsink_event_name(), zmqsink_event_fields(), ...) links with
 * `pkg-config --libs zmqsink`, where they live. Install the file
 * with mode 0755 in `pkg-config --variable=plugindir zmqsink`, or name it
 * with `plugin:`. A complete plugin:
 *
 * ---- count.c ----
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
 *               c->host->log(c->host, ZMQSINK_SEV_NOTICE,
 *                            "%llu events, the last %s on %s",
 *                            (unsigned long long)c->n,
 *                            zmqsink_event_name(events[i].type),
 *                            events[i].socket);
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
 * ---- end of count.c ----
 *
 * built and used with
 *   cc -shared -fPIC -o count.so count.c $(pkg-config --cflags --libs zmqsink)
 *   sinks:
 *     - { name: counter, plugin: ./count.so, every: 10 }
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
#define ZMQSINK_PLUGIN_ABI_MINOR 8

/* What zmqsink_host_t.resolve_address returns for a well-formed address
 * whose name did not resolve (yet). */
#define ZMQSINK_ADDRESS_UNRESOLVED (-2)

/* The name of the one symbol a plugin exports. */
#define ZMQSINK_PLUGIN_ENTRY_SYMBOL "zmqsink_plugin_entry"
#define ZMQSINK_PLUGIN_EXPORT __attribute__((visibility("default")))

/* What write() says about the events it was given. */
typedef enum zmqsink_write_result {
    ZMQSINK_WRITE_OK = 0,    /* all taken: delivered, or kept by the plugin,
                                which then owns their fate (deliver them
                                later, or count_failed() them; with
                                ZMQSINK_PLUGIN_COUNTS_DELIVERED, pending
                                until count_delivered() or count_failed()) */
    ZMQSINK_WRITE_RETRY = 1, /* none taken, try again later: the worker
                                waits (10 ms, doubling up to 2 s), calls
                                tick() and offers them again, from the same
                                first event */
    ZMQSINK_WRITE_FAILED = 2 /* none taken, never will be: counted as
                                failed and discarded */
} zmqsink_write_result_t;

/* Option types. Values are validated by the core before open(). */
typedef enum zmqsink_option_type {
    ZMQSINK_OPT_STRING = 1, /* option_string() */
    ZMQSINK_OPT_INT,        /* option_int(), within [min, max] */
    ZMQSINK_OPT_BOOL,       /* true|false|yes|no|on|off: option_int() 1 or 0 */
    ZMQSINK_OPT_DURATION,   /* "500ms", "2s", "1m", "1h": option_int() in
                               milliseconds, within [min, max] */
    ZMQSINK_OPT_SIZE,       /* "512", "64KiB", "100MiB", "1GiB": option_int()
                               in bytes, within [min, max] */
    ZMQSINK_OPT_ENUM,       /* one of choices ("never|batch"): option_int()
                               is its index, option_string() its text */
    ZMQSINK_OPT_LIST,       /* a string or a sequence of strings:
                               option_list(); a fallback is one item */
    ZMQSINK_OPT_MAP         /* a mapping of strings to strings: option_map();
                               takes no fallback */
} zmqsink_option_type_t;

/* One accepted option. A key with a dot ("rotate.keep") is a key inside a
 * mapping ("rotate: { keep: 5 }"). A table ends with an entry whose key is
 * NULL. The table is read while the plugin is loaded: keep it const and
 * static. */
typedef struct zmqsink_option {
    const char *key;
    zmqsink_option_type_t type;
    const char *fallback; /* default, written as in the YAML file; NULL: none
                             (option_* then return NULL, 0 or no items). A
                             fallback that does not parse is reported as
                             the plugin's bug when a sink needs it. */
    int required;         /* 1: the config file must set it; the error
                             quotes help */
    int64_t min, max;     /* INT, DURATION, SIZE: inclusive range; both 0 means
                             any value >= 0; min > max is refused at load */
    const char *choices;  /* ENUM: the words, separated by '|' (mandatory) */
    const char *help;     /* one line, shown in errors and documentation */
} zmqsink_option_t;

typedef struct zmqsink_host zmqsink_host_t;

/* One sink's counters, as sink_counters() gives them (since ABI 1.4). For
 * every sink: the events routed to it = delivered + pending + queued +
 * failed + dropped. */
typedef struct zmqsink_counters {
    uint64_t delivered; /* reached the other side (see "Delivered" above) */
    uint64_t pending;   /* taken by its plugin, neither delivered nor failed */
    uint64_t queued;    /* in its ring */
    uint64_t failed;    /* its plugin failed them, or gave up */
    uint64_t dropped;   /* its ring was full, or left at shutdown */
} zmqsink_counters_t;

/* Services the host gives one sink instance. The table, and every string
 * it hands out, belongs to the host and stays valid from open() until
 * close() returns; never free or change them. Each service says from which
 * thread it may be called: "sink's thread" means from inside a callback of
 * this instance, "any thread" includes threads the plugin starts. */
struct zmqsink_host {
    uint16_t abi_major, abi_minor; /* of the host: members added after
                                      abi_minor do not exist */
    const char *sink_name;         /* the sink's `name:` in the config */
    const char *config_dir;        /* absolute directory of the config file
                                      (the working directory without one):
                                      relative paths are relative to it, as
                                      resolve_path() resolves them */

    /* The validated value of a declared option, or its fallback; for an
     * option the file did not set and that has no fallback: NULL, 0, or 0
     * items. Any thread. Strings and arrays belong to the host. Asking
     * for a key the table does not declare, or with the accessor of
     * another type, is a bug in the plugin: it gets NULL, 0 or no items,
     * and the log says so.
     * option_string: any scalar type, as written after ${VAR} expansion
     * (an ENUM's word, a DURATION's "500ms"). option_int: INT, BOOL,
     * DURATION, SIZE and ENUM, as converted. option_list: LIST; sets *items
     * and returns their count. option_map: MAP; sets *keys and *values,
     * in file order, and returns their count. */
    const char *(*option_string)(const zmqsink_host_t *host, const char *key);
    int64_t (*option_int)(const zmqsink_host_t *host, const char *key);
    size_t (*option_list)(const zmqsink_host_t *host, const char *key,
                          const char *const **items);
    size_t (*option_map)(const zmqsink_host_t *host, const char *key,
                         const char *const **keys,
                         const char *const **values);
    /* Whether the config file set the option (1) or it has its default (0).
     * Any thread. */
    int (*option_is_set)(const zmqsink_host_t *host, const char *key);

    /* zmqsink_format_event() through the host table, for a plugin that
     * links no library of zmqsink: renders one event as one json, logfmt
     * or text line into buf (cap bytes, NUL included) and returns the
     * length the whole line needs, as snprintf does; 0, with buf "", for
     * bad arguments. Any thread. */
    size_t (*format)(zmqsink_format_t format, const zmqsink_event_t *event,
                     char *buf, size_t cap);

    /* Writes one line to zmqsink's log (stderr): "zmqsink: LEVEL: sink
     * 'NAME': message", at most about 1000 bytes. Lines less severe than
     * $ZMQSINK_LOG_LEVEL (default notice) are dropped. Any thread. */
    void (*log)(const zmqsink_host_t *host, zmqsink_severity_t severity,
                const char *fmt, ...) __attribute__((format(printf, 3, 4)));

    /* Counts n events the plugin took with ZMQSINK_WRITE_OK but then could
     * not deliver (a dead letter, a buffer overflow) as `failed` in
     * zmqsink_stats(), so that no loss goes unseen; reason is a short
     * static word ("rejected", "overflow"), logged at debug. Sink's thread
     * only: the counter has one writer. Without
     * ZMQSINK_PLUGIN_COUNTS_DELIVERED, the events move from `delivered` to
     * `failed`. */
    void (*count_failed)(const zmqsink_host_t *host, uint64_t n,
                         const char *reason);

    /* Since ABI 1.1. The core's drop counter of every sink of this
     * instance, for sinks that forward metrics: returns the number of
     * sinks, and for index below it sets *name and *dropped (events that
     * sink lost: ring full, or undelivered at shutdown). *name is copied
     * into a buffer of the asking sink, valid until its next call. Sink's
     * thread. */
    size_t (*sink_drops)(const zmqsink_host_t *host, size_t index,
                         const char **name, uint64_t *dropped);

    /* Since ABI 1.1. Resolves a server address, at open and again when
     * the plugin reconnects: a path containing '/' is a unix socket
     * (relative to config_dir); otherwise "host:port" or "[ipv6]:port", or
     * "host" alone when default_port is not NULL. socktype (SOCK_DGRAM or
     * SOCK_STREAM) guides the lookup, which may block on DNS. Fills *addr
     * and *addr_len and returns 0. Otherwise returns -1 when the address
     * is malformed (or its lookup failed for good), with "address 'X':
     * what is wrong" in err, or
     * (since ABI 1.8) ZMQSINK_ADDRESS_UNRESOLVED when it is well formed but
     * the lookup of its name failed, with "cannot resolve 'NAME': the
     * resolver's reason" in err (the plugin says which address): a
     * later call may succeed (DNS not reachable yet, a service not yet
     * registered), so a sink should keep its events and try again rather
     * than fail. Sink's thread. */
    int (*resolve_address)(const zmqsink_host_t *host, const char *address,
                           const char *default_port, int socktype,
                           struct sockaddr_storage *addr, socklen_t *addr_len,
                           char *err, size_t errlen);

    /* Since ABI 1.2. Nonzero when this instance runs in a child of the
     * process that `zmqsink run` started (forked, or executed by it),
     * which shares the config with its parent and siblings: state that
     * stands for one process (a gauge, a lock) must then say which
     * process it is, as the pid. 0 in that process itself and for
     * library users. */
    int child_process;

    /* Since ABI 1.2. Hold off the application's fork() until release:
     * take it around a change to state the plugin keeps for the whole
     * process (a library's global init, a list of its open files, the
     * fds of its locks), so that no child is forked from the middle of the
     * change or inherits it locked. Hold it briefly, never across a wait
     * on the network or a slow disk, and never twice at once. Any
     * thread. */
    void (*fork_hold)(const zmqsink_host_t *host);
    void (*fork_release)(const zmqsink_host_t *host);

    /* Since ABI 1.3. Resolves a path of the sink's options (a file, a
     * directory) as the core resolves its own: an absolute path as it is,
     * a relative one against config_dir, a leading "./" dropped. Writes it
     * into out (cap bytes, NUL included) and returns its length, or -1
     * when it does not fit (out is then ""). Any thread. */
    int (*resolve_path)(const zmqsink_host_t *host, const char *path,
                        char *out, size_t cap);

    /* Since ABI 1.3. This machine's host name as events carry it in their
     * `host` field (read once, when libzmqsink loads); "" when unknown. */
    const char *host_name;

    /* Since ABI 1.4. Counts n events the plugin holds (took with
     * ZMQSINK_WRITE_OK) as `delivered`, once they certainly left or the
     * other side confirmed them; they stop being `pending`. Only for a
     * plugin whose descriptor sets ZMQSINK_PLUGIN_COUNTS_DELIVERED (ignored
     * otherwise), at most what it holds. May be called from write() for
     * events of that very batch. Sink's thread only: the counter has one
     * writer. */
    void (*count_delivered)(const zmqsink_host_t *host, uint64_t n);

    /* Since ABI 1.4. sink_drops() with every counter, in the words of
     * zmqsink_stats(): for sinks that forward metrics about the sinks.
     * Returns the number of sinks, and for index below it sets *name (as
     * sink_drops() does) and *out. Sink's thread. */
    size_t (*sink_counters)(const zmqsink_host_t *host, size_t index,
                            const char **name, zmqsink_counters_t *out);

    /* Since ABI 1.5. For a plugin whose descriptor sets
     * ZMQSINK_PLUGIN_TICKS_ON_REQUEST (ignored otherwise): asks for one
     * tick() at when_ns (monotonic) or soon after; when_ns <= now: as soon
     * as the current callback returns. Of several requests before the tick,
     * the earliest counts. The tick consumes the request: ask again from
     * tick() to keep ticking. Sink's thread (open, write, tick, reopen). */
    void (*tick_at)(const zmqsink_host_t *host, int64_t when_ns);

    /* Since ABI 1.6. Keeps an fd of the instance (a listening socket, a
     * connection, a file, a lock) out of the processes forked from this
     * one: the core closes it in the child before fork() returns there.
     * A child never uses it (it starts zmqsink afresh), but without this
     * it would hold the parent's port bound, its connection open and its
     * rotated-away file on disk for as long as it lives. (exec() is the
     * plugin's to cover, with O_CLOEXEC or SOCK_CLOEXEC.)
     * own_fd(host, fd, 1) right after opening fd (a fork between the two
     * leaves a copy in that one child); returns 0, or -1 out of memory
     * (the fd is then inherited, as without it). own_fd(host, fd, 0)
     * forgets it again (returns -1 when it was not owned): before
     * something else closes it. close_fd(host, fd) instead of close():
     * forgets and closes fd with fork() held off, so that no child ever
     * closes a number the program opened since. Any thread, also between
     * fork_hold() and fork_release(). */
    int (*own_fd)(const zmqsink_host_t *host, int fd, int own);
    void (*close_fd)(const zmqsink_host_t *host, int fd);

    /* Since ABI 1.6. The number of sockets the instance's zmqsink
     * monitors now (sockets_attached of zmqsink_stats()). Any thread. */
    uint64_t (*sockets_attached)(const zmqsink_host_t *host);
};

/* Descriptor flags (since ABI 1.4). */
#define ZMQSINK_PLUGIN_COUNTS_DELIVERED 0x1u /* the plugin reports deliveries
                                                with count_delivered(): what
                                                write() takes is `pending`
                                                until then */
#define ZMQSINK_PLUGIN_TICKS_ON_REQUEST 0x2u /* since 1.5: tick() runs only
                                                when the plugin asked with
                                                tick_at(), so that an idle
                                                sink never wakes */

/* The descriptor: const, static, the same at every call of the entry. */
typedef struct zmqsink_plugin {
    uint16_t abi_major, abi_minor; /* use ZMQSINK_PLUGIN_DESCRIPTOR_INIT;
                                      first in every major */
    const char *name;              /* mandatory: the `type:` it serves, e.g.
                                      "file"; install it as NAME.so */
    const char *description;       /* one line */
    const zmqsink_option_t *options; /* accepted keys; NULL: none */

    /* Mandatory. Makes the sink ready to write: reads options, opens
     * files, resolves addresses. Sink's thread; zmqsink_new() waits for
     * it. Returns the instance's state (never NULL on success: return a
     * dummy non-NULL pointer if there is none), or NULL with a message of
     * at most len bytes (512 today) in err that names what is wrong and,
     * where it can, what to do; release everything first, since close()
     * does not follow a failed open(). */
    void *(*open)(const zmqsink_host_t *host, char *err, size_t len);

    /* Mandatory. Delivers n events (1 <= n, at most 1024 today), in
     * sequence order, those the sink's events/sockets/min_severity let
     * through. The events belong to the host and are valid during the call
     * only: copy what is kept. Skip event types outside the
     * ZMQSINK_EVENT_ALL of your headers: a minor version may add some.
     * Returns a zmqsink_write_result_t, above. */
    zmqsink_write_result_t (*write)(void *state, const zmqsink_event_t *events,
                                    size_t n);

    /* Optional. Called about every 100 ms, idle or not, and between
     * retries (at shutdown: only between retries), with the monotonic
     * clock in ns: for batch timers, reconnects, retries. With
     * ZMQSINK_PLUGIN_TICKS_ON_REQUEST, only at the times it asked for with
     * tick_at() (at shutdown: only between retries, once due). */
    void (*tick)(void *state, int64_t now_ns);

    /* Optional. At shutdown, after the last write (also when the deadline
     * left events in the ring, which count as dropped): deliver what the
     * plugin holds, by deadline_ns (monotonic). Returns the number of
     * events it could not deliver, counted as dropped (0: all went out). */
    uint64_t (*flush)(void *state, int64_t deadline_ns);

    /* Optional. Reopens files when the application calls zmqsink_reopen()
     * (after logrotate, on SIGHUP), between two writes. Returns 0, or -1
     * after logging why; the sink goes on either way. */
    int (*reopen)(void *state);

    /* Mandatory. Releases everything; state is not used again. Last
     * callback of the instance, after flush; not called after a failed
     * open(). */
    void (*close)(void *state);

    /* Since ABI 1.4. ZMQSINK_PLUGIN_* bits; read only from a plugin that
     * declares 1.4 or later. */
    uint32_t flags;

    /* Since ABI 1.7. Optional. Checks what the option table cannot say (a
     * template's placeholders, settings that a client library validates
     * itself) from the options alone: it opens, connects, starts and keeps
     * nothing. The core calls it once the options passed the table, in
     * `zmqsink check` and before open(), so that the file is refused at
     * check rather than when the sink starts. Any thread; of the host
     * table it may use sink_name, config_dir, host_name, the option
     * accessors, option_is_set, format, log and resolve_path, nothing
     * else. Returns 0; or -1 with a message in err (at most len bytes, as
     * open()'s), *key set to the option it is about (NULL: the sink as a
     * whole) and *item to the index of the entry of a LIST or MAP option
     * it is about (in file order, as option_list() and option_map() give
     * them; -1: the option as a whole), so that the user reads
     * "FILE:LINE:COL: sink 'NAME': <your message>" at that line. */
    int (*check)(const zmqsink_host_t *host, const char **key, long *item,
                 char *err, size_t len);
} zmqsink_plugin_t;

#define ZMQSINK_PLUGIN_DESCRIPTOR_INIT                                         \
    .abi_major = ZMQSINK_PLUGIN_ABI_MAJOR, .abi_minor = ZMQSINK_PLUGIN_ABI_MINOR

/* The entry point every plugin defines and exports: returns the
 * descriptor, and does nothing else. */
typedef const zmqsink_plugin_t *(*zmqsink_plugin_entry_fn)(void);
ZMQSINK_PLUGIN_EXPORT const zmqsink_plugin_t *zmqsink_plugin_entry(void);

#ifdef __cplusplus
}
#endif
#endif
