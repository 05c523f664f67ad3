/* The public calls about the application's sockets: attaching and
 * detaching them, their own monitors, binding, and waiting for their last
 * events. Each runs on the socket's thread and waits on nothing but a
 * lock (settling, and a failed bind, excepted: see zmqsink.h). */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <zmq.h>

#include "clock.h"
#include "collector.h"
#include "internal.h"
#include "worker.h"

/* Attaches under name ("" or NULL: "<type>-<n>"), delivering events. */
static int attach(zmqsink_t *zs, void *zmq_ctx, void *socket,
                  const char *name, uint32_t events)
{
    char fallback[ZMQSINK_SOCKET_NAME_MAX];
    if (!name || !*name) {
        int type = -1;
        size_t size = sizeof type;
        if (zmq_getsockopt(socket, ZMQ_TYPE, &type, &size) != 0)
            return -ZMQSINK_EZMQ;
        unsigned n = type >= 0 && type < 16
                         ? atomic_fetch_add(&zs->type_counts[type], 1) + 1
                         : 0;
        snprintf(fallback, sizeof fallback, "%s-%u",
                 zmqsink_socket_type_name(type), n);
        name = fallback;
    }
    return zs__collector_attach(zs->collector, zmq_ctx, socket, name, events);
}

int zmqsink_attach_ctx(zmqsink_t *zs, void *zmq_ctx, void *socket,
                       const char *name)
{
    if (!zs || !zmq_ctx || !socket)
        return -ZMQSINK_EINVAL;
    return attach(zs, zmq_ctx, socket, name, ZMQSINK_EVENT_ALL);
}

int zmqsink_attach(zmqsink_t *zs, void *socket, const char *name)
{
    return zmqsink_attach_ctx(zs, zs ? zs->ctx : NULL, socket, name);
}

int zmqsink_detach(zmqsink_t *zs, void *socket)
{
    if (!zs || !socket)
        return -ZMQSINK_EINVAL;
    return zs__collector_detach(zs->collector, socket);
}

/* Waits until ctx has no reader left (of those ending soon only, with
 * ending_only), at most timeout_ms. */
static int settle(zmqsink_t *zs, void *zmq_ctx, int timeout_ms,
                  bool ending_only)
{
    int64_t deadline = clock_now_ns() + (int64_t)timeout_ms * 1000000;
    while (zs__collector_readers_of(zs->collector, zmq_ctx, ending_only) > 0) {
        if (clock_now_ns() >= deadline)
            return -ZMQSINK_ELIMIT;
        zs__pause();
    }
    return 0;
}

int zmqsink_settle(zmqsink_t *zs, void *zmq_ctx, int timeout_ms)
{
    if (!zs || !zmq_ctx)
        return -ZMQSINK_EINVAL;
    return settle(zs, zmq_ctx, timeout_ms, false);
}

int zmqsink_settle_closed(zmqsink_t *zs, void *zmq_ctx, int timeout_ms)
{
    if (!zs || !zmq_ctx)
        return -ZMQSINK_EINVAL;
    return settle(zs, zmq_ctx, timeout_ms, true);
}

void zmqsink_socket_closed(zmqsink_t *zs, void *socket)
{
    if (zs && socket)
        zs__collector_closed(zs->collector, socket);
}

int zmqsink_attach_endpoint(zmqsink_t *zs, void *zmq_ctx, void *socket,
                            const char *endpoint)
{
    if (!zs || !zmq_ctx || !socket || !endpoint)
        return -ZMQSINK_EINVAL;
    char name[ZMQSINK_SOCKET_NAME_MAX] = "";
    uint32_t events = ZMQSINK_EVENT_ALL;
    pthread_mutex_lock(&zs->set_lock);
    for (size_t i = 0; i < zs->config->nrules; i++) {
        const zs__socket_rule_t *rule = &zs->config->rules[i];
        if (fnmatch(rule->match, endpoint, 0) == 0) {
            snprintf(name, sizeof name, "%s", rule->name);
            events = rule->events;
            break;
        }
    }
    pthread_mutex_unlock(&zs->set_lock);
    return attach(zs, zmq_ctx, socket, name, events);
}

int zmqsink_socket_monitor_versioned(zmqsink_t *zs, void *zmq_ctx,
                                     void *socket, const char *endpoint,
                                     uint64_t events, int event_version,
                                     int type)
{
    if (!zs || !socket) {
        errno = EINVAL;
        return -ZMQSINK_EINVAL;
    }
    return zs__collector_monitor(zs->collector, zmq_ctx ? zmq_ctx : zs->ctx,
                                 socket, endpoint, events, event_version,
                                 type);
}

int zmqsink_socket_monitor(zmqsink_t *zs, void *socket, const char *endpoint,
                           int events)
{
    return zmqsink_socket_monitor_versioned(zs, NULL, socket, endpoint,
                                            (uint64_t)events, 1,
                                            ZMQ_PAIR);
}

int zmqsink_bind(zmqsink_t *zs, void *socket, const char *endpoint)
{
    if (!zs || !socket || !endpoint) {
        errno = EINVAL;
        return -ZMQSINK_EINVAL;
    }
    return zs__collector_bind(zs->collector, socket, endpoint) == 0
               ? 0
               : -ZMQSINK_EZMQ;
}
