/* The collector: one thread that drains the monitor readers of every
 * attached socket, decodes and enriches their events, and copies each into
 * the rings of the sinks that want it. It never blocks on a sink and never
 * runs plugin code. */
#include "zmqsink-config.h"

#include "collector.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fnmatch.h>
#include <semaphore.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_ZMQ_SOCKET_MONITOR_VERSIONED
#define ZMQ_BUILD_DRAFT_API 1 /* declares zmq_socket_monitor_versioned() */
#endif
#include <zmq.h>

#include "log.h"
#include "worker.h"

/* Draft builds of libzmq export the v2 monitor, whose messages carry the
 * remote address: the peer is then known even for connections gone before
 * their events are read. Otherwise v1, and getpeername() on the fd. */
#ifdef HAVE_ZMQ_SOCKET_MONITOR_VERSIONED
#define MONITOR_VERSION 2
#else
#define MONITOR_VERSION 1
#endif

/* How long destroy lets the monitors of closed sockets deliver their last
 * events before routing stops. */
#define SETTLE_NS (250 * 1000 * 1000LL)

/* One attached socket's monitor reader. Fields marked (lock) are shared
 * with application threads; the rest belong to the collector thread. */
typedef struct reader {
    struct reader *next; /* (lock) registry of readers not yet closed */
    void *socket;        /* (lock) the application's socket */
    void *ctx;           /* (lock) its context */
    bool adopted;        /* (lock) registered with epoll by the collector */
    bool starting;       /* (lock) its monitor is being started: not polled */
    bool detached;       /* (lock) its monitor was asked to stop */
    void *pair;
    int fd;
    int socket_type;
    char name[ZMQSINK_SOCKET_NAME_MAX];
    char inproc[64];     /* where the monitor sends */
    uint32_t events;     /* the event types to deliver */
    uint64_t sink_mask;  /* sinks whose `sockets:` globs match name */
    uint64_t set_seen;   /* generation of the set sink_mask is for */
#if MONITOR_VERSION == 2
    /* Local addresses this socket accepted connections on: they tell the
     * bind side from the connect side of a connection's later events. */
    char accept_locals[4][ZMQSINK_ENDPOINT_MAX];
    unsigned naccept_locals;
#endif
} reader_t;

/* One monitor message, from either wire format. */
typedef struct monitor_message {
    uint32_t type;
    uint32_t value;
    char endpoint[ZMQSINK_ENDPOINT_MAX]; /* as v1 names it */
    char peer[ZMQSINK_PEER_MAX];         /* from v2; "" when not given */
} monitor_message_t;

/* A connection seen opening, by fd, to give its later events a peer and a
 * duration. fds are unique in the process, so one table serves all. It is
 * keyed by the application socket, not the reader, so that it outlives a
 * rename (a new monitor, a new reader). */
typedef struct conn {
    const void *socket;
    int64_t opened_ns;
    char peer[ZMQSINK_PEER_MAX];
} conn_t;

struct zs__collector {
    zmqsink_t *zs;
    const zs__sinkset_t *set; /* (thread) the sinks routed to */
    _Atomic(const zs__sinkset_t *) next_set; /* handed by switch */
    sem_t switched;           /* posted once next_set is routed to */
    pthread_t thread;
    int epfd, wakefd;
    pthread_mutex_t lock;
    reader_t *readers;        /* (lock) */
    _Atomic size_t attached;
    _Atomic int finishing;    /* destroy has begun */
    _Atomic int64_t settle_deadline_ns;
    sem_t settled;            /* posted once the thread stopped routing */
    bool discarding;          /* (thread) routing stopped: zs may be gone */
    bool exited;              /* (lock) the thread has ended */
    bool orphaned;            /* (lock) destroy returned: the thread frees c */
    conn_t *conns;            /* indexed by fd */
    size_t nconns;
    uint64_t seq;
};

/* Inproc endpoints must be unique in the process, across instances. */
static _Atomic uint64_t endpoint_serial;

static int64_t wall_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- connections ---- */

static conn_t *conn_slot(zs__collector_t *c, int fd, bool grow)
{
    if (fd < 0)
        return NULL;
    if ((size_t)fd >= c->nconns) {
        if (!grow)
            return NULL;
        size_t n = c->nconns ? c->nconns : 64;
        while (n <= (size_t)fd)
            n *= 2;
        conn_t *bigger = realloc(c->conns, n * sizeof *bigger);
        if (!bigger)
            return NULL;
        memset(bigger + c->nconns, 0, (n - c->nconns) * sizeof *bigger);
        c->conns = bigger;
        c->nconns = n;
    }
    return &c->conns[fd];
}

/* "host:port" of the connection's other end; "pid:N" for ipc. */
static void peer_of_fd(int fd, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[INET6_ADDRSTRLEN];
    out[0] = '\0';
    if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
        if (inet_ntop(AF_INET, &in->sin_addr, host, sizeof host))
            snprintf(out, cap, "%s:%u", host, ntohs(in->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
        if (inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host))
            snprintf(out, cap, "[%s]:%u", host, ntohs(in6->sin6_port));
    } else if (ss.ss_family == AF_UNIX) {
        struct ucred cred;
        socklen_t clen = sizeof cred;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0)
            snprintf(out, cap, "pid:%ld", (long)cred.pid);
    }
}

/* Opening events remember the peer; closing ones report it with the
 * connection's lifetime and forget it. */
static void conn_track(zs__collector_t *c, const reader_t *r,
                       zmqsink_event_t *ev)
{
    int64_t now_ns = zs__now_ns(); /* monotonic: durations survive clock steps */
    int fd = (int)ev->value;
    if (ev->type == ZMQSINK_EVENT_CONNECTED ||
        ev->type == ZMQSINK_EVENT_ACCEPTED) {
        conn_t *conn = conn_slot(c, fd, true);
        if (!ev->peer[0])
            peer_of_fd(fd, ev->peer, sizeof ev->peer);
        if (conn) {
            conn->socket = r->socket;
            conn->opened_ns = now_ns;
            memcpy(conn->peer, ev->peer, sizeof conn->peer);
        }
    } else if (ev->type == ZMQSINK_EVENT_DISCONNECTED ||
               ev->type == ZMQSINK_EVENT_CLOSED) {
        conn_t *conn = conn_slot(c, fd, false);
        if (conn && conn->socket == r->socket) {
            if (!ev->peer[0])
                memcpy(ev->peer, conn->peer, sizeof ev->peer);
            ev->duration_ms = (now_ns - conn->opened_ns) / 1000000;
            conn->socket = NULL;
        }
    }
}

/* ---- routing ---- */

static bool sink_wants_socket(const zs__sink_t *sink, const char *name)
{
    if (sink->nsocket_globs == 0)
        return true;
    for (size_t i = 0; i < sink->nsocket_globs; i++)
        if (fnmatch(sink->socket_globs[i], name, 0) == 0)
            return true;
    return false;
}

/* Copies the event into every sink that wants it; returns the sinks that
 * got it as a bit mask. A full ring drops the event for that sink only. */
static uint64_t collector_route(zs__collector_t *c, reader_t *r,
                                const zmqsink_event_t *ev)
{
    const zs__sinkset_t *set = c->set;
    if (r->set_seen != set->generation) {
        r->sink_mask = 0;
        for (size_t i = 0; i < set->n; i++)
            if (sink_wants_socket(set->sinks[i], r->name))
                r->sink_mask |= 1ull << i;
        r->set_seen = set->generation;
    }
    uint64_t pushed = 0, matched = 0;
    for (size_t i = 0; i < set->n; i++) {
        zs__sink_t *sink = set->sinks[i];
        if (!(r->sink_mask >> i & 1) || !(sink->events & ev->type) ||
            ev->severity > sink->min_severity)
            continue;
        matched = 1;
        if (zs__ring_push(sink->ring, ev)) {
            zs__counter_add(&sink->enqueued, 1);
            pushed |= 1ull << i;
        } else {
            zs__counter_add(&sink->dropped_full, 1);
        }
    }
    if (!matched)
        zs__counter_add(&c->zs->filtered, 1);
    return pushed;
}

/* Decodes, enriches and routes one event. Types outside the reader's
 * mask are tracked (their connection opens and closes give the others a
 * peer and a duration) but take no sequence number. */
static uint64_t collector_emit(zs__collector_t *c, reader_t *r,
                               const monitor_message_t *m)
{
    int index = zs__event_index(m->type);
    zmqsink_event_t ev;
    memset(&ev, 0, offsetof(zmqsink_event_t, socket));
    ev.time_ns = wall_clock_ns();
    ev.duration_ms = -1;
    ev.type = m->type;
    ev.value = m->value;
    ev.socket_type = r->socket_type;
    ev.severity = c->set->config->severity[index];
    memcpy(ev.socket, r->name, sizeof ev.socket);
    memcpy(ev.endpoint, m->endpoint, sizeof ev.endpoint);
    memcpy(ev.peer, m->peer, sizeof ev.peer);
    conn_track(c, r, &ev);
    if (!(r->events & ev.type))
        return 0;
    ev.seq = ++c->seq;
    zs__counter_add(&c->zs->events, 1);
    return collector_route(c, r, &ev);
}

/* ---- readers ---- */

static reader_t *reader_find(zs__collector_t *c, void *socket);

static void reader_unlink(zs__collector_t *c, reader_t *r)
{
    for (reader_t **p = &c->readers; *p; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            break;
        }
}

/* Closes a reader whose monitor has stopped. The socket's connections stay
 * tracked if another reader took over (a rename). */
static void reader_close(zs__collector_t *c, reader_t *r)
{
    pthread_mutex_lock(&c->lock);
    reader_unlink(c, r);
    bool succeeded = reader_find(c, r->socket) != NULL;
    pthread_mutex_unlock(&c->lock);
    /* Counted out before the close: closing the last reader may let a
     * zmq_ctx_term() return, and the application may then read the count. */
    atomic_fetch_sub(&c->attached, 1);
    epoll_ctl(c->epfd, EPOLL_CTL_DEL, r->fd, NULL);
    zmq_close(r->pair);
    for (size_t fd = 0; fd < c->nconns && !succeeded; fd++)
        if (c->conns[fd].socket == r->socket)
            c->conns[fd].socket = NULL;
    free(r);
}

/* Reads one frame; *more tells whether another follows. Returns its
 * size (which may exceed cap: the rest is cut), or -1 with errno. */
static int frame_read(reader_t *r, void *buf, size_t cap, int *more)
{
    int n = zmq_recv(r->pair, buf, cap, ZMQ_DONTWAIT);
    size_t size = sizeof *more;
    *more = 0;
    if (n >= 0)
        zmq_getsockopt(r->pair, ZMQ_RCVMORE, more, &size);
    return n;
}

enum { READ_OK = 1, READ_EMPTY = 0, READ_STOP = -1, READ_BAD = -2 };

#if MONITOR_VERSION == 1
/* v1: [u16 event, u32 value] [endpoint]. */
static int monitor_read(reader_t *r, monitor_message_t *m)
{
    uint8_t head[6];
    int more;
    int n = frame_read(r, head, sizeof head, &more);
    if (n < 0)
        return errno == EAGAIN ? READ_EMPTY : READ_STOP;
    int len = more ? frame_read(r, m->endpoint, sizeof m->endpoint - 1, &more)
                   : -1;
    if (n != sizeof head || len < 0)
        return READ_BAD;
    uint16_t type;
    memcpy(&type, head, sizeof type);
    memcpy(&m->value, head + 2, sizeof m->value);
    m->type = type;
    m->endpoint[(size_t)len < sizeof m->endpoint ? (size_t)len
                                                 : sizeof m->endpoint - 1] = '\0';
    m->peer[0] = '\0';
    return more ? READ_BAD : READ_OK;
}
#else
/* The address part of a URI ("tcp://10.0.0.1:5555" -> "10.0.0.1:5555");
 * "" for ipc, whose peers are unnamed (their pid comes from the fd). */
static void peer_of_uri(const char *uri, char *out, size_t cap)
{
    const char *sep = strstr(uri, "://");
    out[0] = '\0';
    if (sep && strncmp(uri, "ipc://", 6) != 0)
        snprintf(out, cap, "%s", sep + 3);
}

static bool uri_named(const char *uri)
{
    return uri[0] && strcmp(uri, "ipc://") != 0;
}

/* v1 named an event by its bind address on the accepting side and by the
 * connect address on the connecting side; v2 gives both ends, and which
 * side this is follows from the event, or for a connection's later events
 * from the local addresses the socket accepted on. */
static void monitor_name_ends(reader_t *r, monitor_message_t *m,
                              const char *local, const char *remote)
{
    bool bind_side;
    switch (m->type) {
    case ZMQSINK_EVENT_LISTENING:
    case ZMQSINK_EVENT_BIND_FAILED:
    case ZMQSINK_EVENT_ACCEPT_FAILED:
        bind_side = true;
        break;
    case ZMQSINK_EVENT_ACCEPTED:
        bind_side = true;
        snprintf(r->accept_locals[r->naccept_locals++ % 4],
                 sizeof r->accept_locals[0], "%s", local);
        break;
    case ZMQSINK_EVENT_CONNECTED:
    case ZMQSINK_EVENT_CONNECT_DELAYED:
    case ZMQSINK_EVENT_CONNECT_RETRIED:
        bind_side = false;
        break;
    default:
        bind_side = !uri_named(remote);
        for (unsigned i = 0; i < 4 && uri_named(remote); i++)
            bind_side |= strcmp(r->accept_locals[i], local) == 0;
    }
    if (!uri_named(bind_side ? local : remote))
        bind_side = !bind_side;
    snprintf(m->endpoint, sizeof m->endpoint, "%s", bind_side ? local : remote);
    if (uri_named(local) && uri_named(remote))
        peer_of_uri(remote, m->peer, sizeof m->peer);
}

/* v2: [u64 event] [u64 count] [u64 value]... [local] [remote]. */
static int monitor_read(reader_t *r, monitor_message_t *m)
{
    uint64_t event, count, value = 0;
    char local[ZMQSINK_ENDPOINT_MAX], remote[ZMQSINK_ENDPOINT_MAX];
    int more;
    int n = frame_read(r, &event, sizeof event, &more);
    if (n < 0)
        return errno == EAGAIN ? READ_EMPTY : READ_STOP;
    if (n != sizeof event || !more ||
        frame_read(r, &count, sizeof count, &more) != sizeof count || !more)
        return READ_BAD;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t v;
        if (frame_read(r, &v, sizeof v, &more) != sizeof v || !more)
            return READ_BAD;
        if (i == 0)
            value = v;
    }
    int llen = frame_read(r, local, sizeof local - 1, &more);
    if (llen < 0 || !more)
        return READ_BAD;
    int rlen = frame_read(r, remote, sizeof remote - 1, &more);
    if (rlen < 0 || more)
        return READ_BAD;
    local[(size_t)llen < sizeof local ? (size_t)llen : sizeof local - 1] = '\0';
    remote[(size_t)rlen < sizeof remote ? (size_t)rlen : sizeof remote - 1] = '\0';
    m->type = event <= UINT32_MAX ? (uint32_t)event : 0;
    m->value = (uint32_t)value;
    m->peer[0] = '\0';
    if (m->type && !(m->type & (m->type - 1)) && m->type <= ZMQSINK_EVENT_ALL)
        monitor_name_ends(r, m, local, remote);
    return READ_OK;
}
#endif

/* Skips the rest of a malformed message, so that the next one is read
 * from its start. */
static void reader_skip_message(reader_t *r)
{
    int more = 1;
    size_t size = sizeof more;
    while (zmq_getsockopt(r->pair, ZMQ_RCVMORE, &more, &size) == 0 && more) {
        char ignored[8];
        if (zmq_recv(r->pair, ignored, sizeof ignored, ZMQ_DONTWAIT) < 0)
            break;
    }
}

/* Reads every queued event of one reader (edge-triggered: until EAGAIN).
 * Closes the reader only once libzmq can no longer write to it: after
 * monitor_stopped, or when its context ends. Once discarding, events are
 * read and dropped without touching the instance. */
static uint64_t reader_drain(zs__collector_t *c, reader_t *r)
{
    uint64_t pushed = 0;
    for (;;) {
        monitor_message_t m;
        int got = monitor_read(r, &m);
        if (got == READ_EMPTY)
            return pushed;
        if (got == READ_STOP) {
            if (errno == ETERM) {
                reader_close(c, r);
                return pushed;
            }
            if (errno == EINTR)
                continue;
            zs__log(ZMQSINK_SEV_ERR, "socket '%s': monitor read: %s", r->name,
                    zmq_strerror(errno));
            return pushed;
        }
        if (got == READ_BAD) {
            zs__log(ZMQSINK_SEV_WARNING,
                    "socket '%s': malformed monitor message skipped", r->name);
            reader_skip_message(r);
            continue;
        }
        bool known = m.type != 0 && !(m.type & (m.type - 1)) &&
                     m.type <= ZMQSINK_EVENT_ALL; /* else newer than us */
        if (known && !c->discarding)
            pushed |= collector_emit(c, r, &m);
        if (m.type == ZMQSINK_EVENT_MONITOR_STOPPED) {
            reader_close(c, r);
            return pushed;
        }
    }
}

/* Registers readers handed over by zs__collector_attach() and reads what
 * they queued before epoll watched them. */
static uint64_t collector_adopt(zs__collector_t *c)
{
    reader_t *fresh[64];
    size_t n = 0;
    uint64_t pushed = 0;
    pthread_mutex_lock(&c->lock);
    for (reader_t *r = c->readers; r && n < 64; r = r->next)
        if (!r->adopted && !r->starting) {
            r->adopted = true;
            fresh[n++] = r;
        }
    pthread_mutex_unlock(&c->lock);
    for (size_t i = 0; i < n; i++) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLET,
                                 .data.ptr = fresh[i]};
        if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, fresh[i]->fd, &ev) != 0)
            zs__log(ZMQSINK_SEV_ERR, "socket '%s': epoll: %s", fresh[i]->name,
                    strerror(errno));
        pushed |= reader_drain(c, fresh[i]);
    }
    if (n == 64) /* more left: come back at once */
        eventfd_write(c->wakefd, 1);
    return pushed;
}

static bool readers_left(zs__collector_t *c)
{
    pthread_mutex_lock(&c->lock);
    bool left = c->readers != NULL;
    pthread_mutex_unlock(&c->lock);
    return left;
}

/* Once destroy has begun and every reader stopped, or the settle time is
 * over: stop routing (the instance is about to go) and let destroy go on.
 * Readers still live belong to sockets the application keeps open; they
 * are drained and their events dropped until they stop, so that libzmq
 * never blocks on them. */
static void collector_settle(zs__collector_t *c)
{
    if (c->discarding || !atomic_load(&c->finishing))
        return;
    if (readers_left(c) &&
        zs__now_ns() < atomic_load(&c->settle_deadline_ns))
        return;
    c->discarding = true;
    sem_post(&c->settled);
}

/* Takes the set a switch handed over; events read from here on go to its
 * sinks, those before went to the previous set's. */
static void collector_take_set(zs__collector_t *c)
{
    const zs__sinkset_t *next = atomic_exchange(&c->next_set, NULL);
    if (next) {
        c->set = next;
        sem_post(&c->switched);
    }
}

static void collector_free(zs__collector_t *c)
{
    close(c->wakefd);
    close(c->epfd);
    sem_destroy(&c->settled);
    sem_destroy(&c->switched);
    pthread_mutex_destroy(&c->lock);
    free(c->conns);
    free(c);
}

static void *collector_main(void *arg)
{
    zs__collector_t *c = arg;
    struct epoll_event events[64];
    while (!c->discarding || readers_left(c)) {
        int timeout = atomic_load(&c->finishing) && !c->discarding ? 10 : -1;
        int n = epoll_wait(c->epfd, events, 64, timeout);
        uint64_t pushed = 0;
        if (!c->discarding)
            collector_take_set(c);
        for (int i = 0; i < n; i++) {
            if (events[i].data.ptr == NULL) {
                eventfd_t ignored;
                eventfd_read(c->wakefd, &ignored);
                pushed |= collector_adopt(c);
            } else {
                pushed |= reader_drain(c, events[i].data.ptr);
            }
        }
        if (!c->discarding)
            zs__worker_wake(c->set->sinks, c->set->n, pushed);
        collector_settle(c);
    }
    pthread_mutex_lock(&c->lock);
    bool orphaned = c->orphaned;
    c->exited = true;
    pthread_mutex_unlock(&c->lock);
    if (orphaned)
        collector_free(c);
    return NULL;
}

/* ---- API ---- */

int zmqsink_monitor_version(void)
{
    return MONITOR_VERSION;
}

zs__collector_t *zs__collector_new(zmqsink_t *zs, const zs__sinkset_t *set,
                                   char *err, size_t errlen)
{
    zs__collector_t *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->zs = zs;
    c->set = set;
    c->wakefd = -1;
    pthread_mutex_init(&c->lock, NULL);
    sem_init(&c->settled, 0, 0);
    sem_init(&c->switched, 0, 0);
    c->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (c->epfd < 0)
        goto err;
    c->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (c->wakefd < 0)
        goto err;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->wakefd, &ev) != 0)
        goto err;
    errno = zs__thread_create(&c->thread, collector_main, c);
    if (errno != 0)
        goto err;
    return c;
err:
    snprintf(err, errlen, "cannot start the collector: %s", strerror(errno));
    if (c->wakefd >= 0)
        close(c->wakefd);
    if (c->epfd >= 0)
        close(c->epfd);
    sem_destroy(&c->settled);
    sem_destroy(&c->switched);
    pthread_mutex_destroy(&c->lock);
    free(c);
    return NULL;
}

static reader_t *reader_find(zs__collector_t *c, void *socket)
{
    for (reader_t *r = c->readers; r; r = r->next)
        if (r->socket == socket && !r->detached)
            return r;
    return NULL;
}

static reader_t *reader_new(zs__collector_t *c, void *ctx, void *socket,
                            const char *name, uint32_t events)
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
        zmq_connect(r->pair, r->inproc) != 0 ||
        zmq_getsockopt(r->pair, ZMQ_FD, &r->fd, &fdsize) != 0) {
        int saved = errno;
        if (r->pair)
            zmq_close(r->pair);
        free(r);
        errno = saved;
        return NULL;
    }
    return r;
}

static int monitor_start(void *socket, const char *inproc)
{
#if MONITOR_VERSION == 2
    return zmq_socket_monitor_versioned(socket, inproc, ZMQSINK_EVENT_ALL, 2,
                                        ZMQ_PAIR);
#else
    return zmq_socket_monitor(socket, inproc, ZMQSINK_EVENT_ALL);
#endif
}

int zs__collector_attach(zs__collector_t *c, void *ctx, void *socket,
                         const char *name, uint32_t events)
{
    reader_t *r = reader_new(c, ctx, socket, name, events);
    if (!r)
        return errno == ENOMEM ? -ZMQSINK_ENOMEM : -ZMQSINK_EZMQ;
    /* Registered before its monitor starts: starting it stops the socket's
     * previous monitor (a rename, or a closed socket whose address libzmq
     * reused), whose reader may then close at once and must see that this
     * one took over. The mutex also hands the reader socket to the
     * collector thread with the full barrier libzmq asks for when a socket
     * changes threads. */
    r->starting = true;
    pthread_mutex_lock(&c->lock);
    reader_t *old = reader_find(c, socket);
    if (old)
        old->detached = true;
    r->next = c->readers;
    c->readers = r;
    pthread_mutex_unlock(&c->lock);

    int rc = monitor_start(socket, r->inproc);
    int saved = errno;
    pthread_mutex_lock(&c->lock);
    r->starting = false;
    if (rc != 0)
        reader_unlink(c, r);
    pthread_mutex_unlock(&c->lock);
    if (rc != 0) {
        zmq_close(r->pair);
        free(r);
        errno = saved;
        return -ZMQSINK_EZMQ;
    }
    atomic_fetch_add(&c->attached, 1);
    eventfd_write(c->wakefd, 1);
    return 0;
}

int zs__collector_detach(zs__collector_t *c, void *socket)
{
    pthread_mutex_lock(&c->lock);
    reader_t *r = reader_find(c, socket);
    if (r)
        r->detached = true;
    pthread_mutex_unlock(&c->lock);
    if (!r)
        return -ZMQSINK_ENOTFOUND;
    zmq_socket_monitor(socket, NULL, 0);
    return 0;
}

void zs__collector_switch(zs__collector_t *c, const zs__sinkset_t *set)
{
    atomic_store(&c->next_set, set);
    eventfd_write(c->wakefd, 1);
    while (sem_wait(&c->switched) != 0 && errno == EINTR)
        ;
}

size_t zs__collector_attached(zs__collector_t *c)
{
    return atomic_load(&c->attached);
}

size_t zs__collector_readers_of(zs__collector_t *c, const void *ctx)
{
    size_t n = 0;
    pthread_mutex_lock(&c->lock);
    for (reader_t *r = c->readers; r; r = r->next)
        n += r->ctx == ctx;
    pthread_mutex_unlock(&c->lock);
    return n;
}

void zs__collector_destroy(zs__collector_t **cp, int64_t deadline_ns)
{
    zs__collector_t *c = cp ? *cp : NULL;
    if (!c)
        return;
    *cp = NULL;
    /* Application sockets are never touched here: they may be closed, or
     * owned by another thread. Their monitors' last events get a short
     * time to arrive (closed sockets stop within milliseconds). */
    int64_t settle = zs__now_ns() + SETTLE_NS;
    atomic_store(&c->settle_deadline_ns,
                 settle < deadline_ns ? settle : deadline_ns);
    atomic_store(&c->finishing, 1);
    eventfd_write(c->wakefd, 1);
    while (sem_wait(&c->settled) != 0 && errno == EINTR)
        ;
    pthread_t thread = c->thread;
    pthread_mutex_lock(&c->lock);
    bool exited = c->exited;
    c->orphaned = !exited;
    pthread_mutex_unlock(&c->lock);
    if (exited) {
        pthread_join(thread, NULL);
        collector_free(c);
    } else {
        pthread_detach(thread); /* it frees c when its readers stop */
    }
}
