/* zmqsink: forwards the socket monitor events of an application's ZeroMQ
 * sockets to the sinks a YAML file chooses (files, syslog, the systemd
 * journal, HTTP, statsd, plugins, callbacks), without ever blocking the
 * application.
 *
 *   zmqsink_t *zs;
 *   int rc = zmqsink_start(&zs, ctx, "/etc/zmqsink.yaml", 0, err, sizeof err);
 *   if (rc < 0)
 *       fprintf(stderr, "%s (%s)\n", err, zmqsink_err_name(rc));
 *   zmqsink_attach(zs, frontend, "frontend");
 *   ...
 *   zmqsink_destroy(&zs);   // delivers what is queued, then returns
 *
 * One collector thread drains the monitors of every attached socket; each
 * sink has its own thread and its own bounded ring. When a sink cannot keep
 * up, its ring fills and new events for it are dropped and counted (see
 * zmqsink_stats()); the other sinks and the application go on. */
#ifndef ZMQSINK_H
#define ZMQSINK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <zmqsink/event.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this header; zmqsink_version() gives the library's. */
#define ZMQSINK_VERSION_MAJOR 0
#define ZMQSINK_VERSION_MINOR 1
#define ZMQSINK_VERSION_PATCH 0
#define ZMQSINK_VERSION                                                        \
    ((ZMQSINK_VERSION_MAJOR << 16) | (ZMQSINK_VERSION_MINOR << 8) |            \
     ZMQSINK_VERSION_PATCH)
#define ZMQSINK_VERSION_STRING "0.1.0"

/* The version of the library running, which may be newer than the header
 * the caller was built with: (major << 16) | (minor << 8) | patch, and
 * "major.minor.patch" (static). */
ZMQSINK_EXPORT unsigned zmqsink_version(void);
ZMQSINK_EXPORT const char *zmqsink_version_string(void);

/* Errors. Every function below that can fail returns 0 (or a count) on
 * success and a negated zmqsink_err_t on failure, as libuv does: bad
 * arguments (a NULL instance or socket, unknown flags) give
 * -ZMQSINK_EINVAL, in release builds too, never an abort. */
#define ZMQSINK_ERRORS(X)                                                      \
    X(OK, "success")                                                           \
    X(CONFIG, "invalid configuration")                                         \
    X(PLUGIN, "sink plugin could not be loaded")                               \
    X(OPEN, "sink could not be opened")                                        \
    X(NOMEM, "out of memory")                                                  \
    X(ZMQ, "ZeroMQ call failed")                                               \
    X(SYSTEM, "system call failed")                                            \
    X(EXISTS, "already exists")                                                \
    X(NOTFOUND, "not found")                                                   \
    X(LIMIT, "limit reached")                                                  \
    X(INVAL, "invalid argument")

typedef enum zmqsink_err {
#define ZMQSINK_ERR_ENUM(name, text) ZMQSINK_E##name,
    ZMQSINK_ERRORS(ZMQSINK_ERR_ENUM)
#undef ZMQSINK_ERR_ENUM
} zmqsink_err_t;

/* A static sentence for an error code (positive or negated): "invalid
 * configuration"; "unknown error" for a code this library does not know. */
ZMQSINK_EXPORT const char *zmqsink_strerror(int err);

/* The static name of an error code (positive or negated), for logs and
 * programs: "ECONFIG", "EINVAL", "OK" for 0; "UNKNOWN" for a code this
 * library does not know. */
ZMQSINK_EXPORT const char *zmqsink_err_name(int err);

/* An instance runs at most this many sinks, callback sinks included: the
 * collector keeps, for each socket, the sinks that want its events as one
 * 64-bit mask, so routing an event costs no allocation and no lookup.
 * A config with more is refused; zmqsink_add_callback() then returns
 * -ZMQSINK_ELIMIT. */
#define ZMQSINK_MAX_SINKS 64

typedef struct zmqsink zmqsink_t;

/* Which calls wait, and for how long. zmqsink_new() and zmqsink_reload()
 * wait for the open() of the sinks they start (a DNS lookup, a spool to
 * scan: as long as a plugin takes); zmqsink_start() with
 * ZMQSINK_START_BACKGROUND does not. zmqsink_destroy() waits at most
 * shutdown_timeout plus a second; zmqsink_settle() at most its timeout;
 * zmqsink_bind() at most a second, and only after a failed bind.
 * zmqsink_reload() also waits for removed sinks to deliver (at most
 * shutdown_timeout), and for sinks still opening in the background (at
 * most shutdown_timeout, then it fails). Every other call returns at once: attaching,
 * detaching and monitoring take a lock that nothing holds across a wait,
 * and no call waits on a sink. */

/* Flags of zmqsink_start(). */
#define ZMQSINK_START_BACKGROUND 1u /* open the sinks on their own threads */

/* Loads the config (NULL: the compiled-in default of
 * zmqsink_default_config(): every event as text on stdout), opens every
 * sink and starts the threads; *out receives the new instance (caller
 * owns it: zmqsink_destroy()). zmq_ctx is the context of the sockets that
 * zmqsink_attach() will take. Without flags, each sink's plugin is loaded,
 * checked and opened before this returns, and a failure stops the start.
 * With ZMQSINK_START_BACKGROUND it returns once the file is read: each
 * sink loads and opens its plugin on its own thread while the events
 * meant for it wait in its queue, and a sink that cannot open logs why
 * ("FILE:LINE:COL: sink 'NAME': ...") and counts its events as failed;
 * the file is then best checked first with zmqsink_check(). Returns 0, or
 * a negated zmqsink_err_t with a message in err ("FILE:LINE:COL: ..." for
 * config errors) and *out NULL (left as it was when out itself is NULL). */
ZMQSINK_EXPORT int zmqsink_start(zmqsink_t **out, void *zmq_ctx,
                                 const char *config_path, unsigned flags,
                                 char *err, size_t errlen);

/* zmqsink_start() without flags, for callers who want the instance as the
 * result: returns it, or NULL with a message in err (the code is lost:
 * call zmqsink_start() to branch on it). */
ZMQSINK_EXPORT zmqsink_t *zmqsink_new(void *zmq_ctx, const char *config_path,
                                      char *err, size_t errlen);

/* Validates a config file (NULL: the compiled-in default) as zmqsink_new()
 * would, loading every plugin and checking every option, but opens no sink
 * and starts nothing. Writes what would run to out (may be NULL). Returns
 * 0, or a negated zmqsink_err_t with "FILE:LINE:COL: ..." in err. */
ZMQSINK_EXPORT int zmqsink_check(const char *config_path, FILE *out, char *err,
                                 size_t errlen);

/* The libzmq monitor protocol this build reads: 2 where libzmq exports
 * zmq_socket_monitor_versioned() (draft builds; peers come with every
 * event), else 1 (peers from getpeername() when a connection opens). */
ZMQSINK_EXPORT int zmqsink_monitor_version(void);

/* The YAML text used when no config file is given. Static. */
ZMQSINK_EXPORT const char *zmqsink_default_config(void);

/* Starts monitoring a socket under a name (NULL: "<type>-<n>", e.g.
 * "router-1"). Call it on the thread that owns the socket. Attaching a
 * socket again renames it: its old monitor ends with monitor_stopped and a
 * new one starts. Each attached socket costs two sockets of its context
 * (ZMQ_MAX_SOCKETS) and fds. Returns 0, or a negated zmqsink_err_t:
 * -ZMQSINK_EZMQ (errno set by libzmq), -ZMQSINK_ENOMEM. */
ZMQSINK_EXPORT int zmqsink_attach(zmqsink_t *zs, void *socket,
                                  const char *name);

/* The same for a socket of another context than the one given to
 * zmqsink_new(). */
ZMQSINK_EXPORT int zmqsink_attach_ctx(zmqsink_t *zs, void *zmq_ctx,
                                      void *socket, const char *name);

/* Stops monitoring a socket (on its owning thread). Its last events, up to
 * monitor_stopped, still reach the sinks. Closing the socket with
 * zmq_close() ends its monitoring as well, and needs no detach. The
 * application's own monitor of it (zmqsink_socket_monitor()) goes on.
 * Returns 0 or -ZMQSINK_ENOTFOUND. */
ZMQSINK_EXPORT int zmqsink_detach(zmqsink_t *zs, void *socket);

/* libzmq keeps one monitor per socket: a zmq_socket_monitor() of the
 * application would replace zmqsink's, and zmqsink's replaces the
 * application's. So an application that monitors a socket itself calls
 * this instead, with the same arguments and results: zmqsink keeps the
 * one libzmq monitor and serves the application's endpoint with exactly
 * what libzmq would send there (the events of its mask, in v1 frames;
 * monitor_stopped when it is replaced, disabled with a NULL endpoint, or
 * the socket closes), whether zmqsink reports the socket yet or not, and
 * never waits on it: while the application does not read, up to 1024
 * events wait beyond libzmq's queue, the rest are lost and logged. Call it
 * on the socket's thread. Returns 0, or a negated zmqsink_err_t
 * (-ZMQSINK_EZMQ, -ZMQSINK_ENOMEM) with errno as zmq_socket_monitor()
 * would set it. */
ZMQSINK_EXPORT int zmqsink_socket_monitor(zmqsink_t *zs, void *socket,
                                          const char *endpoint, int events);

/* The same as zmq_socket_monitor_versioned(): event_version 1, or 2 where
 * libzmq exports the v2 monitor (zmqsink_monitor_version() == 2), and
 * type ZMQ_PAIR, ZMQ_PUB or ZMQ_PUSH. zmq_ctx is the socket's context
 * (NULL: that of its attach, else the one given to zmqsink_new()).
 * zmqsink_socket_monitor() is this with v1 and ZMQ_PAIR. */
ZMQSINK_EXPORT int zmqsink_socket_monitor_versioned(
    zmqsink_t *zs, void *zmq_ctx, void *socket, const char *endpoint,
    uint64_t events, int event_version, int type);

/* zmq_bind() for a monitored socket. When a bind fails, libzmq sends
 * bind_failed to the socket's monitor, and that send leaves EAGAIN in
 * errno in place of the cause (ENODEV, EADDRINUSE...). This binds, and
 * on such a failure takes the cause from the event (waiting for it,
 * microseconds, at most a second). Returns 0, or -ZMQSINK_EZMQ with errno
 * as libzmq sets it on a socket nobody monitors, or -ZMQSINK_EINVAL (errno
 * EINVAL) for a NULL argument. */
ZMQSINK_EXPORT int zmqsink_bind(zmqsink_t *zs, void *socket,
                                const char *endpoint);

/* Waits until every attached socket of zmq_ctx has been closed and its
 * monitor's last events were read, at most timeout_ms. Call it after
 * closing the sockets and before zmq_ctx_term(), which would discard the
 * events still queued. Returns 0, or -ZMQSINK_ELIMIT when sockets of the
 * context are still open at the timeout. */
ZMQSINK_EXPORT int zmqsink_settle(zmqsink_t *zs, void *zmq_ctx,
                                  int timeout_ms);

/* Tells zmqsink that socket is about to be closed: call it on the
 * socket's thread right before zmq_close(). Its last events still arrive,
 * zmqsink_settle_closed() waits for them, and a new socket that libzmq
 * makes at the same address (it reuses the memory at once) is not taken
 * for this one. A socket zmqsink does not monitor: no-op. `zmqsink run`
 * does it for every zmq_close() of the program. */
ZMQSINK_EXPORT void zmqsink_socket_closed(zmqsink_t *zs, void *socket);

/* zmqsink_settle() for the sockets of zmq_ctx announced with
 * zmqsink_socket_closed() (and monitors being replaced or stopped) only:
 * sockets still open may stay so, as when one thread terminates the
 * context to wake the others' calls with ETERM (`zmqsink run` does this
 * before each zmq_ctx_term()). Returns as zmqsink_settle(). */
ZMQSINK_EXPORT int zmqsink_settle_closed(zmqsink_t *zs, void *zmq_ctx,
                                         int timeout_ms);

/* Attaches a socket of zmq_ctx that binds or connects to endpoint as the
 * config's `sockets:` rules say: named by the first rule whose `match`
 * glob fits endpoint, delivering that rule's `events:`; with no rule
 * fitting, as zmqsink_attach_ctx(zs, zmq_ctx, socket, NULL). `zmqsink run`
 * attaches every socket so. Returns as zmqsink_attach(). */
ZMQSINK_EXPORT int zmqsink_attach_endpoint(zmqsink_t *zs, void *zmq_ctx,
                                           void *socket, const char *endpoint);

/* Re-reads the config file (NULL: the compiled-in default) and applies it
 * without stopping: sinks new to it are opened, sinks gone from it are
 * flushed and closed (within its shutdown_timeout), and sinks whose
 * settings are unchanged (same name, same mapping) keep running with
 * their queues. A sink whose settings changed is closed and opened anew.
 * Each event goes either to the sinks before or to the sinks after the
 * change, never both nor neither, and the sequence goes on without a gap.
 * Severities, `sockets:` rules and `watch:` probes follow the new file;
 * queue.capacity applies to sinks opened from then on. Callback sinks stay.
 * Call it from one thread at a time, not concurrently with
 * zmqsink_attach_endpoint() or zmqsink_probes(). Returns 0, or a negated
 * zmqsink_err_t with the reason in err ("FILE:LINE:COL: ..."), in which
 * case the running config is left as it was: -ZMQSINK_ELIMIT when a sink
 * started in the background is still opening after shutdown_timeout. */
ZMQSINK_EXPORT int zmqsink_reload(zmqsink_t *zs, const char *config_path,
                                  char *err, size_t errlen);

/* A probe of the config's `watch:` list, for `zmqsink watch`: a socket of
 * the given type that connects to endpoint and is attached under name. */
typedef struct zmqsink_probe {
    const char *name;       /* unique among the probes */
    const char *endpoint;
    int type;               /* ZMQ_DEALER unless `type:` says otherwise */
    const char *server_key; /* `curve:` keys, Z85 text; NULL without */
    const char *public_key; /* NULL: the probe makes a key pair */
    const char *secret_key;
} zmqsink_probe_t;

/* A config's `watch:` list holds at most this many probes; a longer one
 * is refused. */
#define ZMQSINK_MAX_PROBES 1024

/* Points *probes at the config's `watch:` list and returns its length.
 * The list stays valid until zmqsink_reload() or zmqsink_destroy(). */
ZMQSINK_EXPORT size_t zmqsink_probes(const zmqsink_t *zs,
                                     const zmqsink_probe_t **probes);

/* Callbacks. Each callback is a sink like the others: it has its own
 * thread (never the socket's, never the caller's) and its own ring of
 * queue.capacity events; while it is slow the ring fills and newer events
 * are dropped and counted (dropped_full in its zmqsink_sink_stats_t), and
 * the application and the other sinks go on. It is called with one event
 * at a time, in sequence order.
 *
 * event points into zmqsink's memory and is valid only during the call:
 * copy what must outlive it. arg is the caller's, never touched. A
 * callback may call zmqsink_stats(), zmqsink_format_event() and
 * zmqsink_reopen() of its instance, and anything of another instance. It
 * must not change its own instance: zmqsink_add_callback(),
 * zmqsink_socket_callback(), zmqsink_remove_callback() and zmqsink_reload()
 * return -ZMQSINK_EINVAL there, and zmqsink_destroy() refuses (logs and
 * returns, destroying nothing), since each waits for the callback's own
 * thread. Attaching sockets from a callback is a mistake as well: a socket
 * belongs to the thread that made it. */
typedef void(zmqsink_callback_fn)(const zmqsink_event_t *event, void *arg);

/* Adds a sink named name (unique among the sinks) that calls fn(event,
 * arg) for each event whose type is in events (a mask of ZMQSINK_EVENT_*
 * bits), from every attached socket. It stays through zmqsink_reload().
 * Returns 0, or -ZMQSINK_EINVAL, -ZMQSINK_EEXISTS (the name is taken),
 * -ZMQSINK_ELIMIT (ZMQSINK_MAX_SINKS sinks already), -ZMQSINK_ENOMEM,
 * -ZMQSINK_EOPEN (no thread). */
ZMQSINK_EXPORT int zmqsink_add_callback(zmqsink_t *zs, const char *name,
                                        uint32_t events,
                                        zmqsink_callback_fn *fn, void *arg);

/* A callback for one socket, as the ZMQ_MONITOR proposal has it: it is
 * given the socket handle with each event. The handle only names the
 * socket: the callback runs on another thread, where the socket must not
 * be used, and it may have been closed since. */
typedef void(zmqsink_socket_callback_fn)(void *socket,
                                         const zmqsink_event_t *event,
                                         void *arg);

/* Sets the callback of an attached socket: fn(socket, event, arg) for each
 * of its events from now on (those of its `sockets:` rule, or all), as a
 * sink of its own named "socket-callback-N" (N: a serial). Its last event
 * is the socket's monitor_stopped when the socket is detached or closed;
 * a new socket that libzmq makes at the same address is not taken for it.
 * The sink stays, with its thread, until the callback is cleared: clear
 * it when done with the socket. Setting it again replaces fn and arg; fn
 * NULL clears it, and returns once the callback has made its last call.
 * Call it on the socket's thread. Returns 0, or -ZMQSINK_EINVAL, -ZMQSINK_ENOTFOUND (the socket is
 * not attached, or fn is NULL and it has no callback), -ZMQSINK_ELIMIT,
 * -ZMQSINK_ENOMEM, -ZMQSINK_EOPEN. */
ZMQSINK_EXPORT int zmqsink_socket_callback(zmqsink_t *zs, void *socket,
                                           zmqsink_socket_callback_fn *fn,
                                           void *arg);

/* Removes a callback sink (zmqsink_add_callback(), or a socket's): it
 * delivers what it holds within shutdown_timeout, and once this returns
 * its function is never called again. Returns 0, or -ZMQSINK_EINVAL, or
 * -ZMQSINK_ENOTFOUND when no callback sink has that name (a sink of the
 * config is removed by zmqsink_reload(), not here). */
ZMQSINK_EXPORT int zmqsink_remove_callback(zmqsink_t *zs, const char *name);

/* Asks every sink to reopen its files (after logrotate). Any thread; NULL:
 * no-op. */
ZMQSINK_EXPORT void zmqsink_reopen(zmqsink_t *zs);

/* Counters of one sink. Each is also said: a sink's first loss is logged
 * at once, later ones at most once per `stats.interval` with the counts
 * since the last line, and at destroy one line per sink that lost
 * anything; with `stats.path` (or $ZMQSINK_STATS_FILE) all of them are
 * written as json every `stats.interval`. Every event routed to the sink
 * is in exactly one place, in every snapshot:
 *   enqueued + dropped_full = delivered + pending + queue_depth + failed
 *                             + dropped_full + dropped_shutdown
 * While zmqsink is 0.x the struct may grow, at its end: fill it only
 * through zmqsink_stats(). */
typedef struct zmqsink_sink_stats {
    char name[64];
    char type[32];
    uint64_t enqueued;         /* events put in its ring */
    uint64_t delivered;        /* events that reached the other side: a
                                  datagram sent, a line written whole to a
                                  file or a stream socket, a 2xx answer (for
                                  a plugin that does not say: write() took
                                  them) */
    uint64_t dropped_full;     /* not enqueued: the ring was full */
    uint64_t dropped_shutdown; /* still queued, or held by the plugin,
                                  when shutdown_timeout ended */
    uint64_t failed;           /* write() failed, or the plugin gave up */
    uint64_t queue_depth;      /* in the ring now */
    uint64_t queue_capacity;
    uint64_t pending;          /* taken by the plugin, neither delivered nor
                                  failed yet (a socket's buffer, a batch, a
                                  spool) */
} zmqsink_sink_stats_t;

/* Counters of the whole instance, and of its sinks into an array the
 * caller gives (sinks, with room for sinks_cap; NULL and 0 for none):
 *
 *   zmqsink_sink_stats_t per_sink[ZMQSINK_MAX_SINKS];
 *   zmqsink_stats_t stats = {.sinks = per_sink,
 *                            .sinks_cap = ZMQSINK_MAX_SINKS};
 *   zmqsink_stats(zs, &stats);
 *   for (size_t i = 0; i < stats.nsinks && i < stats.sinks_cap; i++) ... */
typedef struct zmqsink_stats {
    uint64_t events;          /* decoded from monitors (= last seq) */
    uint64_t filtered;        /* events that matched no sink */
    uint64_t sockets_attached;/* monitored now */
    size_t nsinks;            /* sinks the instance has: may exceed
                                 sinks_cap, of which only sinks_cap are
                                 filled */
    zmqsink_sink_stats_t *sinks; /* the caller's, filled in sink order */
    size_t sinks_cap;
} zmqsink_stats_t;

/* Fills *out with a snapshot: its counters, nsinks, and the first
 * min(nsinks, sinks_cap) entries of out->sinks. Any thread. Returns 0, or
 * -ZMQSINK_EINVAL (out is NULL, or sinks NULL with sinks_cap > 0). */
ZMQSINK_EXPORT int zmqsink_stats(zmqsink_t *zs, zmqsink_stats_t *out);

/* For the exit of the process, where other threads may still use zs, or
 * from a signal handler (as _exit() may be called): has every sink
 * deliver what it holds, flush and close (within shutdown_timeout, plus a
 * second for a sink stuck in its plugin), says the last word (the stats
 * file, a line per sink that lost anything), and returns, taking no lock
 * on the calling thread and freeing nothing. The instance is spent: only
 * the end of the process may follow (its memory is left to it). Not
 * concurrently with zmqsink_reload(). `zmqsink run` calls it when the
 * program exits. */
ZMQSINK_EXPORT void zmqsink_exit_flush(zmqsink_t *zs);

/* Delivers what is queued within shutdown_timeout, closes the sinks, logs
 * what could not be delivered, frees everything and sets *zs to NULL.
 * NULL or *zs NULL: no-op. It never touches the application's sockets, so
 * any thread may call it (except a callback of this instance: see
 * zmqsink_callback_fn), before or after they are closed. Events of sockets
 * being closed get a brief moment to arrive; sockets still open keep their
 * monitor, drained and discarded by a leftover thread until they are
 * closed or their context ends (detach them first if their last events
 * matter), so that libzmq never blocks on a monitor nobody reads: a
 * warning says how many sockets were left open, and once the last of
 * them is closed a notice says how many events were discarded
 * (zmqsink_discarded_events() counts them as they go). A sink still busy
 * in its plugin a second past shutdown_timeout is left running, and said
 * in the log; what it holds counts as dropped_shutdown, and its memory
 * and the instance's are freed once its plugin returns (its plugin's
 * library stays loaded; with more than ZMQSINK_MAX_SINKS left running
 * at once, nothing is freed). */
ZMQSINK_EXPORT void zmqsink_destroy(zmqsink_t **zs);

/* zmqsink_destroy() that also fills *stats (when not NULL; its sinks
 * array as for zmqsink_stats()) with the final counters. */
ZMQSINK_EXPORT void zmqsink_destroy_stats(zmqsink_t **zs,
                                          zmqsink_stats_t *stats);

/* Events read from the monitors of sockets left open at zmqsink_destroy()
 * (of any instance, since the process began) and discarded: the counts
 * the notices of zmqsink_destroy() give, summed, and growing while such
 * sockets stay open. They are counted as zmqsink_stats() counts `events`
 * (the types each socket asks for), so that with the instances' stats
 * every such event read from a monitor is accounted for. Any thread. */
ZMQSINK_EXPORT uint64_t zmqsink_discarded_events(void);

#ifdef __cplusplus
}
#endif
#endif
