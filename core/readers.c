/* The collector's readers as application threads make and change them:
 * attaching, renaming and detaching a socket, starting or stopping the
 * application's own monitor of it (a tap), binding it, announcing its
 * close, and the questions asked of the readers (how many, of which
 * context). Each change starts a new reader, read by the collector thread
 * (core/collector.c) once its predecessor has ended. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "collector_private.h"
#include "monitor_wire.h"

/* How long a failed bind waits for its bind_failed event to learn its
 * cause; the collector reads it within microseconds. */
#define BIND_WAIT_NS (1000 * 1000 * 1000LL)
/* How long zmq_socket_monitor() waits for a tap the application let go to
 * release the endpoint it binds anew (microseconds, as a rule). */
#define TAP_RELEASE_WAIT_NS (1000 * 1000 * 1000LL)

/* Inproc endpoints must be unique in the process, across instances. */
static _Atomic uint64_t endpoint_serial;

/* Raises the soft limit on open files when a reader's fd comes near it:
 * each monitored socket costs two fds, which must not be the ones the
 * application counted on. Returns false when there is no room left. */
static bool fd_room(int fd)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
        return true;
    rlim_t headroom = limit.rlim_cur / 8 > 64 ? limit.rlim_cur / 8 : 64;
    if ((rlim_t)fd + headroom < limit.rlim_cur)
        return true;
    rlim_t want = limit.rlim_cur * 2;
    if (limit.rlim_max != RLIM_INFINITY && want > limit.rlim_max)
        want = limit.rlim_max;
    if (want > limit.rlim_cur) {
        limit.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &limit) == 0)
            return true;
    }
    return (rlim_t)fd + headroom / 2 < limit.rlim_cur;
}

static reader_t *reader_new(void *ctx, void *socket, const char *name,
                            uint32_t events)
{
    reader_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->socket = socket;
    r->ctx = ctx;
    r->events = events;
    r->fd = -1;
    snprintf(r->name, sizeof r->name, "%s", name);
    size_t size = sizeof r->socket_type;
    snprintf(r->inproc, sizeof r->inproc, "inproc://zmqsink-monitor-%ld-%llu",
             (long)getpid(),
             (unsigned long long)atomic_fetch_add(&endpoint_serial, 1));
    /* The reader connects first (inproc allows it) and takes any number of
     * queued events, so libzmq never waits on it. */
    int unlimited = 0, linger = 0;
    size_t fdsize = sizeof r->fd;
    if (zmq_getsockopt(socket, ZMQ_TYPE, &r->socket_type, &size) != 0 ||
        !(r->pair = zmq_socket(ctx, ZMQ_PAIR)) ||
        zmq_setsockopt(r->pair, ZMQ_RCVHWM, &unlimited, sizeof unlimited) ||
        zmq_setsockopt(r->pair, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_getsockopt(r->pair, ZMQ_FD, &r->fd, &fdsize) != 0 ||
        (!fd_room(r->fd) && (errno = EMFILE)) ||
        zmq_connect(r->pair, r->inproc) != 0) {
        int saved = errno;
        if (r->pair)
            zmq_close(r->pair);
        free(r);
        errno = saved;
        return NULL;
    }
    return r;
}

/* Closes and frees a reader that never got its monitor. libzmq keeps its
 * connect to the unbound inproc endpoint until the context ends, and then
 * makes a socket of its own to bind each such endpoint, aborting when the
 * context is at its socket limit: so the endpoint is bound and let go
 * here. */
static void reader_discard(reader_t *r)
{
    /* Bound by the reader itself: no socket more, at the limit too. */
    zmq_bind(r->pair, r->inproc);
    zmq_close(r->pair);
    free(r);
}

/* A change of what a socket's monitor reports: its name and events (name
 * "": to no sink), its tap. */
typedef struct change {
    bool set_name;
    const char *name;
    uint32_t events;
    bool set_tap;
    zs__tap_t *tap;
    bool report_stop; /* the old reader's monitor_stopped is reported */
} change_t;

/* Remembers that the application let tap go (NULL: none), with the lock
 * held: on c->let_go, through the link it takes to c->ending once it ended
 * (zs__taps_released() unlinks it first). */
static void tap_let_go(zs__collector_t *c, zs__tap_t *tap)
{
    if (!tap)
        return;
    for (zs__tap_t *t = c->let_go; t; t = *zs__tap_link(t))
        if (t == tap)
            return;
    *zs__tap_link(tap) = c->let_go;
    c->let_go = tap;
}

void zs__taps_released(zs__collector_t *c, zs__tap_t *tap)
{
    for (zs__tap_t **at = &c->let_go; *at; at = zs__tap_link(*at))
        if (*at == tap) {
            *at = *zs__tap_link(tap);
            *zs__tap_link(tap) = NULL;
            pthread_cond_broadcast(&c->released);
            return;
        }
}

/* Whether a tap the application let go still holds endpoint. With the
 * lock held. */
static bool endpoint_let_go(const zs__collector_t *c, const char *endpoint)
{
    for (zs__tap_t *t = c->let_go; t; t = *zs__tap_link(t))
        if (strcmp(zs__tap_endpoint(t), endpoint) == 0)
            return true;
    return false;
}

/* A monitor the application stopped or replaced releases its endpoint in
 * that call with libzmq; zmqsink's tap releases it once the collector
 * reads the monitor's end, which libzmq queued in that call. Waits for
 * that, while a tap the application let go holds endpoint, at most
 * TAP_RELEASE_WAIT_NS. Returns whether none holds it now (it may have been
 * released since the bind failed: then a bind again finds it free). */
static bool taps_release_wait(zs__collector_t *c, const char *endpoint)
{
    int64_t deadline = clock_now_ns() + TAP_RELEASE_WAIT_NS;
    struct timespec until = {.tv_sec = deadline / 1000000000,
                             .tv_nsec = deadline % 1000000000};
    pthread_mutex_lock(&c->lock);
    bool held;
    while ((held = endpoint_let_go(c, endpoint)) &&
           pthread_cond_timedwait(&c->released, &c->lock, &until) == 0)
        ;
    if (held)
        held = endpoint_let_go(c, endpoint);
    pthread_mutex_unlock(&c->lock);
    return !held;
}

/* Restarts the socket's monitor with a new reader for what it reports
 * after the change, or stops it when nothing is left to report or serve.
 * The old reader ends at the monitor_stopped this queues, and the new one
 * is read only from then on. With the lock held: the collector ends the
 * old reader only once the change is complete. On the thread that owns
 * the socket (libzmq's rule for zmq_socket_monitor). Returns 0 or a
 * negated zmqsink_err_t with errno set; the new tap, if any, then stays
 * the caller's. */
static int collector_change_locked(zs__collector_t *c, void *ctx, void *socket,
                                   const change_t *ch)
{
    reader_t *old = zs__ptrmap_get(&c->current, socket);
    bool old_live = old && !old->stopping;
    const char *name = ch->set_name ? ch->name : old_live ? old->name : "";
    uint32_t events = ch->set_name ? ch->events
                      : old_live   ? old->events
                                   : ZMQSINK_EVENT_ALL;
    zs__tap_t *tap = ch->set_tap ? ch->tap : old_live ? old->tap : NULL;
    if (old_live && !ch->set_name && tap == old->tap)
        return 0; /* no monitor of the application to stop: nothing to do */
    if (!name[0] && !tap) {
        if (!old_live) {
            errno = ENOENT;
            return -ZMQSINK_ENOTFOUND;
        }
        old->stopping = true;
        zmq_socket_monitor(socket, NULL, 0);
        tap_let_go(c, old->tap);
        return 0;
    }
    reader_t *r = reader_new(ctx ? ctx : old ? old->ctx : NULL, socket, name,
                             events);
    if (!r)
        return errno == ENOMEM ? -ZMQSINK_ENOMEM : -ZMQSINK_EZMQ;
    r->tap = tap;
    r->tap_new = ch->set_tap && tap;
    r->predecessor = old;
    /* The socket goes on unless it was detached: then it starts anew. */
    r->lineage = old_live ? old->lineage : ++c->lineages;
    if (zs__ptrmap_put(&c->current, socket, r) != 0) {
        reader_discard(r);
        errno = ENOMEM;
        return -ZMQSINK_ENOMEM;
    }
    zs__reader_link(c, r);
    if (old) /* a stopping one too: the new reader waits for its end */
        old->successor = r;
    if (old_live) {
        old->superseded = true;
        old->report_stop = ch->report_stop;
    }
    if (zs__wire_monitor(socket, r->inproc) != 0) {
        /* libzmq may have stopped the old monitor already: it then ends
         * for real, as if the socket had been detached. */
        int saved = errno;
        zs__reader_unlink(c, r);
        if (old) {
            zs__ptrmap_put(&c->current, socket, old); /* its slot is there */
            old->successor = NULL;
        } else {
            zs__ptrmap_remove(&c->current, socket);
        }
        if (old_live)
            old->superseded = false;
        reader_discard(r);
        errno = saved;
        return -ZMQSINK_EZMQ;
    }
    if (old_live && old->tap != tap)
        tap_let_go(c, old->tap);
    eventfd_write(c->wakefd, 1);
    return 0;
}

static int collector_change(zs__collector_t *c, void *ctx, void *socket,
                            const change_t *ch)
{
    pthread_mutex_lock(&c->lock);
    int rc = collector_change_locked(c, ctx, socket, ch);
    int saved = errno;
    pthread_mutex_unlock(&c->lock);
    errno = saved;
    return rc;
}

int zs__collector_attach(zs__collector_t *c, void *ctx, void *socket,
                         const char *name, uint32_t events)
{
    change_t ch = {.set_name = true, .name = name, .events = events,
                   .report_stop = true};
    return collector_change(c, ctx, socket, &ch);
}

uint64_t zs__collector_lineage(zs__collector_t *c, void *socket)
{
    pthread_mutex_lock(&c->lock);
    reader_t *r = zs__ptrmap_get(&c->current, socket);
    uint64_t lineage = r && !r->stopping && !r->closed && r->name[0]
                           ? r->lineage
                           : 0;
    pthread_mutex_unlock(&c->lock);
    return lineage;
}

int zs__collector_detach(zs__collector_t *c, void *socket)
{
    change_t ch = {.set_name = true, .name = "", .events = ZMQSINK_EVENT_ALL,
                   .report_stop = true};
    pthread_mutex_lock(&c->lock);
    reader_t *r = zs__ptrmap_get(&c->current, socket);
    int rc = r && !r->stopping && r->name[0]
                 ? collector_change_locked(c, NULL, socket, &ch)
                 : -ZMQSINK_ENOTFOUND;
    pthread_mutex_unlock(&c->lock);
    return rc;
}

int zs__collector_monitor(zs__collector_t *c, void *ctx, void *socket,
                          const char *endpoint, uint64_t events, int version,
                          int type)
{
    if (zs__tap_check(socket, endpoint, events, version) != 0)
        return -ZMQSINK_EZMQ;
    if (version == 2 && zs__wire_version() == 1) {
        errno = EINVAL; /* the v1 monitor zmqsink reads has no both ends */
        return -ZMQSINK_EZMQ;
    }
    change_t stop = {.set_tap = true, .tap = NULL};
    if (!endpoint) {
        int rc = collector_change(c, ctx, socket, &stop);
        return rc == -ZMQSINK_ENOTFOUND ? 0 : rc; /* none: nothing to stop */
    }
    pthread_mutex_lock(&c->lock);
    reader_t *r = zs__ptrmap_get(&c->current, socket);
    void *tap_ctx = r ? r->ctx : ctx;
    pthread_mutex_unlock(&c->lock);
    zs__tap_t *tap = zs__tap_open(tap_ctx, endpoint, events, version, type);
    if (!tap && errno == EADDRINUSE && taps_release_wait(c, endpoint))
        tap = zs__tap_open(tap_ctx, endpoint, events, version, type);
    int rc;
    if (!tap) { /* libzmq stops the old monitor before it fails */
        int saved = errno;
        collector_change(c, ctx, socket, &stop);
        errno = saved;
        return errno == ENOMEM ? -ZMQSINK_ENOMEM : -ZMQSINK_EZMQ;
    }
    change_t start = {.set_tap = true, .tap = tap};
    rc = collector_change(c, ctx, socket, &start);
    if (rc != 0) {
        int saved = errno;
        zs__tap_close(&tap);
        errno = saved;
    }
    return rc;
}

int zs__collector_bind(zs__collector_t *c, void *socket, const char *endpoint)
{
    pthread_mutex_lock(&c->lock);
    reader_t *r = zs__ptrmap_get(&c->current, socket);
    bool monitored = r && !r->stopping;
    pthread_mutex_unlock(&c->lock);
    return monitored ? zs__bind_waits_bind(&c->binds, socket, endpoint,
                                           BIND_WAIT_NS)
                     : zmq_bind(socket, endpoint);
}

void zs__collector_closed(zs__collector_t *c, void *socket)
{
    pthread_mutex_lock(&c->lock);
    reader_t *r = zs__ptrmap_remove(&c->current, socket);
    if (r) /* its tap ends once libzmq stopped the monitor, after linger:
              no bind waits for that (nor for libzmq's own, as without) */
        r->closed = true;
    pthread_mutex_unlock(&c->lock);
}

size_t zs__collector_attached(zs__collector_t *c)
{
    /* The readers of sockets reported now: the newest of each socket, one
     * whose monitor goes on and that has a name. Counted under the lock,
     * which a reader leaves before its pair closes: a zmq_ctx_term() that
     * returns once the last one closed never reads a stale count. */
    size_t n = 0;
    pthread_mutex_lock(&c->lock);
    for (const reader_t *r = c->readers; r; r = r->next)
        n += !r->successor && !r->closed && !r->stopping && r->name[0];
    pthread_mutex_unlock(&c->lock);
    return n;
}

size_t zs__collector_readers_of(zs__collector_t *c, const void *ctx,
                                bool ending_only)
{
    size_t n = 0;
    pthread_mutex_lock(&c->lock);
    for (reader_t *r = c->readers; r; r = r->next)
        n += r->ctx == ctx &&
             (!ending_only || r->closed || r->stopping || r->superseded);
    pthread_mutex_unlock(&c->lock);
    return n;
}
