/* The collector: one thread that drains the monitor readers of every
 * attached socket, decodes and enriches their events, and copies each into
 * the rings of the sinks that want it. It never blocks on a sink and never
 * runs plugin code. */
#ifndef ZS_COLLECTOR_H
#define ZS_COLLECTOR_H

#include <stddef.h>

#include "internal.h"

typedef struct zs__collector zs__collector_t;

/* Starts the collector thread for zs, routing to set. Returns NULL with a
 * message in err. */
zs__collector_t *zs__collector_new(zmqsink_t *zs, const zs__sinkset_t *set,
                                   char *err, size_t errlen);

/* Creates a reader PAIR in ctx, connects it, starts the monitor of socket
 * and hands the reader to the collector, which delivers the event types in
 * events. On the socket's thread. Returns 0 or a negated zmqsink_err_t. */
int zs__collector_attach(zs__collector_t *c, void *ctx, void *socket,
                         const char *name, uint32_t events);

/* Stops the monitor of socket (on its thread). 0 or -ZMQSINK_ENOTFOUND. */
int zs__collector_detach(zs__collector_t *c, void *socket);

/* Routes the events read from now on to set, and returns once the
 * collector no longer uses the set it had. Not during destroy. */
void zs__collector_switch(zs__collector_t *c, const zs__sinkset_t *set);

/* Sockets monitored now. Any thread. */
size_t zs__collector_attached(zs__collector_t *c);

/* Readers of ctx's sockets not yet closed: their monitors have not
 * stopped, or their last events are still being read. Any thread. */
size_t zs__collector_readers_of(zs__collector_t *c, const void *ctx);

/* Lets the readers of sockets being closed deliver their last events
 * (briefly, and before deadline_ns, monotonic), then stops routing: after
 * this returns the collector no longer touches the instance. It never
 * touches application sockets. Readers whose sockets are still open stay
 * with the collector thread, which drains and drops their events until
 * they stop (socket closed, or context terminated), then frees itself.
 * Sets *c to NULL. */
void zs__collector_destroy(zs__collector_t **c, int64_t deadline_ns);

#endif
