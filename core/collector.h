/* The collector: one thread that drains the monitor readers of every
 * attached socket, decodes and enriches their events, copies each into
 * the rings of the sinks that want it, and serves the application's own
 * monitors (taps). It never blocks on a sink nor on the application, and
 * never runs plugin code. */
#ifndef ZS_COLLECTOR_H
#define ZS_COLLECTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "internal.h"

typedef struct zs__collector zs__collector_t;

/* Starts the collector thread for zs, routing to set. Returns NULL with a
 * message in err. */
zs__collector_t *zs__collector_new(zmqsink_t *zs, const zs__sinkset_t *set,
                                   char *err, size_t errlen);

/* Reports the events of socket (of ctx) under name, delivering the event
 * types in events: creates a reader PAIR in ctx, connects it, and
 * (re)starts the socket's monitor. A socket already reported is renamed:
 * its old name's monitor_stopped is reported. On the socket's thread.
 * Returns 0 or a negated zmqsink_err_t with errno set. */
int zs__collector_attach(zs__collector_t *c, void *ctx, void *socket,
                         const char *name, uint32_t events);

/* Stops reporting socket (on its thread); its last events, up to
 * monitor_stopped, are reported. The application's own monitor of it, if
 * any, goes on. 0 or -ZMQSINK_ENOTFOUND. */
int zs__collector_detach(zs__collector_t *c, void *socket);

/* The lineage of an attached socket: one number for the socket across its
 * renames, never given to another socket (libzmq reuses a closed socket's
 * address at once). 0 when the socket is not attached, or is closing. */
uint64_t zs__collector_lineage(zs__collector_t *c, void *socket);

/* zmq_socket_monitor_versioned() for the application: serves its monitor
 * at endpoint (NULL: stops it) with what libzmq would send there, while
 * zmqsink keeps the socket's one libzmq monitor. ctx: the socket's
 * context, needed when zmqsink does not monitor it yet. On the socket's
 * thread. Returns 0, or a negated zmqsink_err_t with errno as libzmq
 * would set it. */
int zs__collector_monitor(zs__collector_t *c, void *ctx, void *socket,
                          const char *endpoint, uint64_t events, int version,
                          int type);

/* zmq_bind() on a socket this collector may monitor, with the errno libzmq
 * would give without a monitor: on a monitored socket, a failure that
 * libzmq reports as bind_failed leaves EAGAIN, and the cause is taken from
 * the event (waiting for the collector to read it: microseconds, at most a
 * second). Returns what zmq_bind() returns. */
int zs__collector_bind(zs__collector_t *c, void *socket, const char *endpoint);

/* Has the collector's thread say the instance's last word
 * (zs__report_say_last()) when no report thread runs. Async-signal-safe:
 * an atomic store and a write(). */
void zs__collector_say_last(zs__collector_t *c);

/* Routes the events read from now on to set, and returns once the
 * collector no longer uses the set it had. Not during destroy. */
void zs__collector_switch(zs__collector_t *c, const zs__sinkset_t *set);

/* Faults that tests inject where the real ones cannot be provoked at will:
 * each is how many of the next such calls fail (with EINVAL); 0 outside
 * tests. */
extern _Atomic int zs__inject_epoll_add_failures; /* adopting a reader */
extern _Atomic int zs__inject_read_failures;      /* reading a monitor */

/* Sockets reported to the sinks now. Any thread. */
size_t zs__collector_attached(zs__collector_t *c);

/* Readers of ctx's sockets not yet closed: their monitors have not
 * stopped, or their last events are still being read; with ending_only,
 * only those that are sure to end soon: of sockets announced closed, of
 * monitors stopped or replaced. Any thread. */
size_t zs__collector_readers_of(zs__collector_t *c, const void *ctx,
                                bool ending_only);

/* The application closes socket (on its thread, before zmq_close()): its
 * reader ends at its last events as before, but the socket is forgotten at
 * once, so that a new socket libzmq makes at the same address starts
 * afresh. Unknown sockets: no-op. */
void zs__collector_closed(zs__collector_t *c, void *socket);

/* Lets the readers of sockets being closed deliver their last events
 * (briefly, and before deadline_ns, monotonic), then stops routing: after
 * this returns the collector no longer touches the instance. It never
 * touches application sockets. Readers whose sockets are still open stay
 * with the collector thread, which drains and drops their events until
 * they stop (socket closed, or context terminated), then frees itself.
 * Sets *c to NULL. */
void zs__collector_destroy(zs__collector_t **c, int64_t deadline_ns);

#endif
