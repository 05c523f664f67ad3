/* The collector: one thread that drains the monitor readers of every
 * attached socket, decodes and enriches their events, copies each into
 * the rings of the sinks that want it, and serves the application's own
 * monitors (taps). It never blocks on a sink nor on the application, and
 * never runs plugin code. */
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "log.h"
#include "monitor_wire.h"
#include "ptrmap.h"
#include "report.h"
#include "tap.h"
#include "worker.h"
#include "clock.h"

/* How long destroy lets the monitors of closed sockets deliver their last
 * events before routing stops. */
#define SETTLE_NS (250 * 1000 * 1000LL)

/* How long a failed bind waits for its bind_failed event to learn its
 * cause; the collector reads it within microseconds. */
#define BIND_WAIT_NS (1000 * 1000 * 1000LL)

/* epoll tags: readers are registered by their pointer, taps by theirs
 * with the low bit set, the wake-up eventfd as 0. */
#define TAP_TAG 1u

/* One monitor of an application socket: zmqsink restarts the monitor at
 * each change of what it reports (a rename, a detach, the application's
 * own monitor started or stopped), so that the monitor_stopped of the old
 * one marks exactly where the change falls in the stream of events.
 * Fields marked (lock) are shared with application threads; the others
 * are set before the reader is published and then belong to the
 * collector thread. */
typedef struct reader {
    struct reader *next, *prev; /* (lock) every reader not yet ended */
    struct reader *next_fresh;  /* (lock) readers not yet adopted */
    struct reader *predecessor; /* the reader this one took over from,
                                   until that one ends: this one is not
                                   read before, so that events keep their
                                   order. Set before the reader is
                                   published, then changed only by the
                                   collector thread (under the lock) */
    void *socket;               /* (lock) the application's socket */
    void *ctx;                  /* (lock) its context */
    bool adopted;               /* (lock) registered with epoll */
    bool superseded;            /* (lock) another reader took over: its
                                   monitor_stopped is a hand-over */
    bool report_stop;           /* (lock) report it even then */
    bool stopping;              /* (lock) its monitor was stopped: it
                                   reports and serves nothing more */
    bool closed;                /* (lock) the application closes its
                                   socket (zs__collector_closed) */
    struct reader *successor;   /* (lock) the reader that took over */
    bool ended;                 /* freed at the end of the epoll round */
    bool tap_new;               /* its tap came with it: poll the tap */
    uint64_t lineage;           /* the socket's, across its readers */
    void *pair;
    int fd;
    int socket_type;
    char name[ZMQSINK_SOCKET_NAME_MAX]; /* "": reported to no sink */
    char inproc[64];            /* where the monitor sends */
    uint32_t events;            /* the event types to deliver */
    zs__tap_t *tap;             /* the application's monitor, or NULL */
    uint64_t sink_mask;         /* sinks whose `sockets:` globs match name */
    uint64_t set_seen;          /* generation of the set sink_mask is for */
    zs__wire_sides_t sides;
} reader_t;

/* A connection seen opening, by fd, to give its later events a peer and a
 * duration. fds are unique in the process, so one table serves all. It is
 * keyed by the socket's lineage, not the reader, so that it outlives a
 * rename (a new monitor, a new reader), and not by the socket's address,
 * which libzmq gives the next socket as soon as one is closed. */
typedef struct conn {
    uint64_t lineage; /* 0: free */
    int64_t opened_ns;
    char peer[ZMQSINK_PEER_MAX];
} conn_t;

/* An application thread inside a failed bind, waiting for the cause. */
typedef struct bind_wait {
    struct bind_wait *next;
    const void *socket;
    const char *address; /* the endpoint without its transport */
    bool done;
    int error;
} bind_wait_t;

struct zs__collector {
    zmqsink_t *zs;
    const zs__sinkset_t *set; /* (thread) the sinks routed to */
    _Atomic(const zs__sinkset_t *) next_set; /* handed by switch */
    sem_t switched;           /* posted once next_set is routed to */
    pthread_t thread;
    int epfd, wakefd;
    pthread_mutex_t lock;
    pthread_cond_t bind_done; /* (lock) a bind_wait was answered */
    reader_t *readers;        /* (lock) */
    reader_t *fresh;          /* (lock) newest first, via next_fresh */
    zs__ptrmap_t current;     /* (lock) socket -> its newest reader */
    bind_wait_t *bind_waits;  /* (lock) */
    _Atomic int finishing;    /* destroy has begun */
    _Atomic int64_t settle_deadline_ns;
    sem_t settled;            /* posted once the thread stopped routing */
    bool discarding;          /* (thread) routing stopped: zs may be gone */
    bool exited;              /* (lock) the thread has ended */
    bool orphaned;            /* (lock) destroy returned: the thread frees c */
    reader_t *dead;           /* (thread) ended, freed after the round */
    zs__tap_t **ending;       /* (thread) taps ended, closed at the end
                                 of a round once all they hold is sent */
    size_t nending, ending_cap;
    uint64_t lineages;        /* (lock) the last socket lineage given */
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
    int64_t now_ns = clock_now_ns(); /* monotonic: durations survive clock steps */
    int fd = (int)ev->value;
    if (ev->type == ZMQSINK_EVENT_CONNECTED ||
        ev->type == ZMQSINK_EVENT_ACCEPTED) {
        conn_t *conn = conn_slot(c, fd, true);
        if (!ev->peer[0])
            peer_of_fd(fd, ev->peer, sizeof ev->peer);
        if (conn) {
            conn->lineage = r->lineage;
            conn->opened_ns = now_ns;
            memcpy(conn->peer, ev->peer, sizeof conn->peer);
        }
    } else if (ev->type == ZMQSINK_EVENT_DISCONNECTED ||
               ev->type == ZMQSINK_EVENT_CLOSED) {
        conn_t *conn = conn_slot(c, fd, false);
        if (conn && conn->lineage == r->lineage) {
            if (!ev->peer[0])
                memcpy(ev->peer, conn->peer, sizeof ev->peer);
            ev->duration_ms = (now_ns - conn->opened_ns) / 1000000;
            conn->lineage = 0;
        }
    }
}

/* Forgets the open connections of a socket that is gone. */
static void conn_forget(zs__collector_t *c, uint64_t lineage)
{
    for (size_t fd = 0; fd < c->nconns; fd++)
        if (c->conns[fd].lineage == lineage)
            c->conns[fd].lineage = 0;
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
    uint64_t pushed = 0, matched = 0, first_drop = 0;
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
            first_drop |= zs__counter_get(&sink->dropped_full) == 0;
            zs__counter_add(&sink->dropped_full, 1);
        }
    }
    if (!matched)
        zs__counter_add(&c->zs->filtered, 1);
    if (first_drop) /* said at once, by the report thread */
        zs__report_poke(c->zs);
    return pushed;
}

/* Decodes, enriches and routes one event. Types outside the reader's
 * mask are tracked (their connection opens and closes give the others a
 * peer and a duration) but take no sequence number. */
static uint64_t collector_emit(zs__collector_t *c, reader_t *r,
                               const zs__monitor_message_t *m)
{
    int index = zs__event_index((uint32_t)m->type);
    zmqsink_event_t ev;
    memset(&ev, 0, offsetof(zmqsink_event_t, socket));
    ev.time_ns = wall_clock_ns();
    ev.duration_ms = -1;
    ev.type = (uint32_t)m->type;
    ev.value = (uint32_t)m->value;
    ev.socket_type = r->socket_type;
    ev.severity = c->set->config->severity[index];
    memcpy(ev.socket, r->name, sizeof ev.socket);
    /* Cut to the event's size: the tap got it whole. */
    size_t len = strnlen(m->endpoint, sizeof ev.endpoint - 1);
    memcpy(ev.endpoint, m->endpoint, len);
    ev.endpoint[len] = '\0';
    memcpy(ev.peer, m->peer, sizeof ev.peer);
    conn_track(c, r, &ev);
    if (!(r->events & ev.type))
        return 0;
    ev.seq = ++c->seq;
    zs__counter_add(&c->zs->events, 1);
    return collector_route(c, r, &ev);
}

/* ---- failed binds ---- */

/* Answers the application threads whose bind of this address failed. */
static void bind_waits_answer(zs__collector_t *c, const reader_t *r,
                              const zs__monitor_message_t *m)
{
    pthread_mutex_lock(&c->lock);
    bool answered = false;
    for (bind_wait_t *w = c->bind_waits; w; w = w->next)
        if (!w->done && w->socket == r->socket &&
            strcmp(w->address, m->endpoint) == 0) {
            w->done = answered = true;
            w->error = (int)m->value;
        }
    if (answered)
        pthread_cond_broadcast(&c->bind_done);
    pthread_mutex_unlock(&c->lock);
}

/* ---- readers ---- */


/* With the lock held. */
static void reader_link(zs__collector_t *c, reader_t *r)
{
    r->prev = NULL;
    r->next = c->readers;
    if (c->readers)
        c->readers->prev = r;
    c->readers = r;
    r->next_fresh = c->fresh;
    c->fresh = r;
}

/* With the lock held; r is adopted (a failed change unlinks it at once,
 * before anything adopts it). */
static void reader_unlink(zs__collector_t *c, reader_t *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        c->readers = r->next;
    if (r->next)
        r->next->prev = r->prev;
    if (c->fresh == r)
        c->fresh = r->next_fresh;
}

/* Ends a tap: monitor_stopped at once (when libzmq stopped the monitor,
 * not at context end); the close once the application took what the tap
 * holds (or its context ended), and never within a round, since an event
 * of the round may still name it. Closed at once when there is no memory
 * to remember it. */
static void tap_end(zs__collector_t *c, zs__tap_t *tap, bool stopped)
{
    if (stopped)
        zs__tap_stop(tap);
    if (c->nending == c->ending_cap) {
        size_t cap = c->ending_cap ? c->ending_cap * 2 : 8;
        zs__tap_t **bigger = realloc(c->ending, cap * sizeof *bigger);
        if (!bigger) {
            epoll_ctl(c->epfd, EPOLL_CTL_DEL, zs__tap_fd(tap), NULL);
            zs__tap_close(&tap);
            return;
        }
        c->ending = bigger;
        c->ending_cap = cap;
    }
    c->ending[c->nending++] = tap;
}

/* Ends a reader whose monitor stopped (stopped true, its monitor_stopped
 * in m) or whose context ended. Its monitor_stopped reaches the sinks
 * unless it only handed the socket over to a successor; its tap ends
 * unless the successor goes on with it. The reader is freed after the
 * epoll round. Returns the successor to read from here on (adopted, so
 * held until now), or NULL; the sinks that got an event go in *pushed. */
static reader_t *reader_end(zs__collector_t *c, reader_t *r, bool stopped,
                            const zs__monitor_message_t *m, uint64_t *pushed)
{
    pthread_mutex_lock(&c->lock);
    reader_unlink(c, r);
    reader_t *successor = r->successor;
    if (successor)
        successor->predecessor = NULL;
    bool current = zs__ptrmap_get(&c->current, r->socket) == r;
    if (current)
        zs__ptrmap_remove(&c->current, r->socket);
    bool report = r->name[0] && (!r->superseded || r->report_stop);
    bool resume = successor && successor->adopted;
    pthread_mutex_unlock(&c->lock);

    if (stopped && report && !c->discarding)
        *pushed |= collector_emit(c, r, m);
    if (r->tap && !(successor && successor->tap == r->tap))
        tap_end(c, r->tap, stopped);
    epoll_ctl(c->epfd, EPOLL_CTL_DEL, r->fd, NULL);
    zmq_close(r->pair);
    if (!successor)
        conn_forget(c, r->lineage);
    r->ended = true;
    r->next = c->dead;
    c->dead = r;
    return resume ? successor : NULL;
}

/* Reads every queued event of one reader (edge-triggered: until EAGAIN).
 * Ends the reader only once libzmq can no longer write to it: after
 * monitor_stopped, or when its context ends. Once discarding, events are
 * read and dropped without touching the instance; taps are served all
 * along. */
static uint64_t reader_drain(zs__collector_t *c, reader_t *r)
{
    uint64_t pushed = 0;
    /* A reader that ends hands over to its successor, read on in this
     * loop (not by recursion: a chain of them can be long). */
    while (r && !r->ended && !r->predecessor) { /* else held, or done */
        zs__monitor_message_t m;
        int got = zs__wire_read(r->pair, &r->sides, &m);
        if (got == ZS__WIRE_EMPTY)
            break;
        if (got == ZS__WIRE_STOP) {
            if (errno == ETERM) {
                r = reader_end(c, r, false, NULL, &pushed);
                continue;
            }
            if (errno == EINTR)
                continue;
            zs__log(ZMQSINK_SEV_ERR, "socket '%s': monitor read: %s", r->name,
                    zmq_strerror(errno));
            break;
        }
        if (got == ZS__WIRE_BAD) {
            zs__log(ZMQSINK_SEV_WARNING,
                    "socket '%s': malformed monitor message skipped", r->name);
            zs__wire_skip(r->pair);
            continue;
        }
        if (m.type == ZMQSINK_EVENT_MONITOR_STOPPED) {
            r = reader_end(c, r, true, &m, &pushed);
            continue;
        }
        if (r->tap)
            zs__tap_send(r->tap, &m);
        if (m.type == ZMQSINK_EVENT_BIND_FAILED)
            bind_waits_answer(c, r, &m);
        if (zs__wire_event_known(m.type) && r->name[0] && !c->discarding)
            pushed |= collector_emit(c, r, &m);
    }
    return pushed;
}

/* Registers readers handed over by a change (and the taps that came with
 * them) and reads what they queued before epoll watched them. */
static uint64_t collector_adopt(zs__collector_t *c)
{
    reader_t *fresh[64];
    size_t n = 0;
    uint64_t pushed = 0;
    pthread_mutex_lock(&c->lock);
    /* Newest first: taken as they come, read in reverse below. */
    for (reader_t *r = c->fresh; r && n < 64; r = r->next_fresh) {
        r->adopted = true;
        fresh[n++] = r;
    }
    c->fresh = n == 64 ? fresh[63]->next_fresh : NULL;
    pthread_mutex_unlock(&c->lock);
    if (n == 64) /* more may be left: come back at once */
        eventfd_write(c->wakefd, 1);
    /* All registered before any is read: reading one may end it and go
     * on to read its successor, which must be watched by then. */
    for (size_t i = 0; i < n; i++) {
        reader_t *r = fresh[i];
        struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = r};
        if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, r->fd, &ev) != 0)
            zs__log(ZMQSINK_SEV_ERR, "socket '%s': epoll: %s", r->name,
                    strerror(errno));
        if (r->tap_new) {
            ev.data.u64 = (uint64_t)(uintptr_t)r->tap | TAP_TAG;
            if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, zs__tap_fd(r->tap), &ev) != 0)
                zs__log(ZMQSINK_SEV_ERR, "socket '%s': epoll: %s", r->name,
                        strerror(errno));
        }
    }
    /* Taken newest first: read the oldest first, so that a
     * reader is read before its successor. */
    for (size_t i = n; i-- > 0;) {
        if (fresh[i]->tap_new)
            zs__tap_flush(fresh[i]->tap);
        pushed |= reader_drain(c, fresh[i]);
    }
    return pushed;
}

/* Frees what ended during the round, now that no event of the round can
 * point at it any more. */
static void collector_bury(zs__collector_t *c)
{
    size_t kept = 0;
    for (size_t i = 0; i < c->nending; i++) {
        zs__tap_t *tap = c->ending[i];
        if (zs__tap_flush(tap) > 0) { /* the application has yet to read */
            c->ending[kept++] = tap;
            continue;
        }
        epoll_ctl(c->epfd, EPOLL_CTL_DEL, zs__tap_fd(tap), NULL);
        zs__tap_close(&tap);
    }
    c->nending = kept;
    while (c->dead) {
        reader_t *r = c->dead;
        c->dead = r->next;
        free(r);
    }
}

/* Readers not yet ended, or taps still holding something. */
static bool readers_left(zs__collector_t *c)
{
    pthread_mutex_lock(&c->lock);
    bool left = c->readers != NULL;
    pthread_mutex_unlock(&c->lock);
    return left || c->nending > 0;
}

/* Once destroy has begun and every reader stopped, or the settle time is
 * over: stop routing (the instance is about to go) and let destroy go on.
 * Readers still live belong to sockets the application keeps open; they
 * are drained and their events dropped (their taps still served) until
 * they stop, so that libzmq never blocks on them. */
static void collector_settle(zs__collector_t *c)
{
    if (c->discarding || !atomic_load(&c->finishing))
        return;
    if (readers_left(c) &&
        clock_now_ns() < atomic_load(&c->settle_deadline_ns))
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
    pthread_cond_destroy(&c->bind_done);
    pthread_mutex_destroy(&c->lock);
    zs__ptrmap_clear(&c->current);
    for (size_t i = 0; i < c->nending; i++)
        zs__tap_close(&c->ending[i]);
    free(c->ending);
    free(c->conns);
    free(c);
}

/* One epoll event: the wake-up eventfd, a tap or a reader. */
static uint64_t collector_serve(zs__collector_t *c, const struct epoll_event *e)
{
    if (e->data.u64 == 0) {
        eventfd_t ignored;
        eventfd_read(c->wakefd, &ignored);
        return collector_adopt(c);
    }
    if (e->data.u64 & TAP_TAG) {
        zs__tap_flush((zs__tap_t *)(uintptr_t)(e->data.u64 & ~(uint64_t)TAP_TAG));
        return 0;
    }
    return reader_drain(c, e->data.ptr);
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
        for (int i = 0; i < n; i++)
            pushed |= collector_serve(c, &events[i]);
        collector_bury(c);
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
    return zs__wire_version();
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
    pthread_condattr_t monotonic;
    pthread_condattr_init(&monotonic);
    pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
    pthread_cond_init(&c->bind_done, &monotonic);
    pthread_condattr_destroy(&monotonic);
    sem_init(&c->settled, 0, 0);
    sem_init(&c->switched, 0, 0);
    c->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (c->epfd < 0)
        goto err;
    c->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (c->wakefd < 0)
        goto err;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
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
    pthread_cond_destroy(&c->bind_done);
    pthread_mutex_destroy(&c->lock);
    free(c);
    return NULL;
}

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
        zmq_connect(r->pair, r->inproc) != 0 ||
        zmq_getsockopt(r->pair, ZMQ_FD, &r->fd, &fdsize) != 0 ||
        (!fd_room(r->fd) && (errno = EMFILE))) {
        int saved = errno;
        if (r->pair)
            zmq_close(r->pair);
        free(r);
        errno = saved;
        return NULL;
    }
    return r;
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
        return 0;
    }
    reader_t *r = reader_new(ctx ? ctx : old ? old->ctx : NULL, socket, name,
                             events);
    if (!r)
        return errno == ENOMEM ? -ZMQSINK_ENOMEM : -ZMQSINK_EZMQ;
    r->tap = tap;
    r->tap_new = ch->set_tap && tap;
    r->predecessor = old;
    r->lineage = old ? old->lineage : ++c->lineages;
    if (zs__ptrmap_put(&c->current, socket, r) != 0) {
        zmq_close(r->pair);
        free(r);
        errno = ENOMEM;
        return -ZMQSINK_ENOMEM;
    }
    reader_link(c, r);
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
        reader_unlink(c, r);
        if (old) {
            zs__ptrmap_put(&c->current, socket, old); /* its slot is there */
            old->successor = NULL;
        } else {
            zs__ptrmap_remove(&c->current, socket);
        }
        if (old_live)
            old->superseded = false;
        zmq_close(r->pair);
        free(r);
        errno = saved;
        return -ZMQSINK_EZMQ;
    }
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
    const char *sep = strstr(endpoint, "://");
    bind_wait_t wait = {.socket = socket, .address = sep ? sep + 3 : endpoint};
    pthread_mutex_lock(&c->lock);
    reader_t *r = zs__ptrmap_get(&c->current, socket);
    bool monitored = r && !r->stopping;
    if (monitored) {
        wait.next = c->bind_waits;
        c->bind_waits = &wait;
    }
    pthread_mutex_unlock(&c->lock);
    int rc = zmq_bind(socket, endpoint);
    if (!monitored)
        return rc;
    int error = errno;
    pthread_mutex_lock(&c->lock);
    /* libzmq's send of bind_failed to the monitor leaves EAGAIN in errno;
     * the event's value holds the cause. */
    if (rc != 0 && error == EAGAIN) {
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += BIND_WAIT_NS / 1000000000;
        while (!wait.done &&
               pthread_cond_timedwait(&c->bind_done, &c->lock, &deadline) == 0)
            ;
        if (wait.done)
            error = wait.error;
    }
    for (bind_wait_t **p = &c->bind_waits; *p; p = &(*p)->next)
        if (*p == &wait) {
            *p = wait.next;
            break;
        }
    pthread_mutex_unlock(&c->lock);
    errno = error;
    return rc;
}

void zs__collector_closed(zs__collector_t *c, void *socket)
{
    pthread_mutex_lock(&c->lock);
    reader_t *r = zs__ptrmap_remove(&c->current, socket);
    if (r)
        r->closed = true;
    pthread_mutex_unlock(&c->lock);
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

void zs__collector_destroy(zs__collector_t **cp, int64_t deadline_ns)
{
    zs__collector_t *c = cp ? *cp : NULL;
    if (!c)
        return;
    *cp = NULL;
    /* Application sockets are never touched here: they may be closed, or
     * owned by another thread. Their monitors' last events get a short
     * time to arrive (closed sockets stop within milliseconds). */
    int64_t settle = clock_now_ns() + SETTLE_NS;
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
