/* The collector: one thread that drains the monitor readers of every
 * attached socket, decodes and enriches their events, copies each into
 * the rings of the sinks that want it, and serves the application's own
 * monitors (taps). It never blocks on a sink nor on the application, and
 * never runs plugin code. */
#include "collector_private.h"

#include <errno.h>
#include <fnmatch.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "bindwait.h"
#include "conns.h"
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

/* How long an ended tap keeps what its application has not taken,
 * monitor_stopped last: then it is closed all the same, so that a monitor
 * whose reader is gone holds no socket for good. */
#define TAP_LINGER_NS (10 * 1000 * 1000 * 1000LL)

enum {
    /* While events flow, a round that read some starts at most once per
     * COALESCE_NS: the events of a burst wait in their monitors' pipes
     * (which never block libzmq: RCVHWM 0) and are read in few rounds,
     * each one wake-up of this thread and of the workers instead of one
     * per event. A lone event is read and handed over at once. */
    COALESCE_NS = 1000 * 1000,
    /* Within a large round, the workers are woken once WAKE_BATCH events
     * or WAKE_AFTER_NS went by since the first event they have not been
     * woken for, so that they write while the rest is read. A wake-up of a
     * worker that is awake already costs no system call. */
    WAKE_BATCH = 256,
    WAKE_AFTER_NS = 100 * 1000,
    ROUND_MAX = 256, /* epoll events per round */
    /* How often readers that epoll cannot tell about are read. */
    STALLED_RETRY_NS = 100 * 1000 * 1000,
};

/* Events of sockets left open at zmqsink_destroy(), read and discarded
 * since the process began, over every instance: zmqsink_discarded_events(). */
static _Atomic uint64_t discarded_events;

_Atomic int zs__inject_epoll_add_failures;
_Atomic int zs__inject_read_failures;

/* Whether a fault is injected here: takes one from *left. */
static bool injected(_Atomic int *left)
{
    int n = atomic_load_explicit(left, memory_order_relaxed);
    while (n > 0 && !atomic_compare_exchange_weak(left, &n, n - 1))
        ;
    return n > 0;
}


static int64_t wall_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- routing ---- */

static bool sink_wants_socket(const zs__sink_t *sink, const reader_t *r)
{
    if (sink->lineage)
        return sink->lineage == r->lineage;
    if (sink->nsocket_globs == 0)
        return true;
    for (size_t i = 0; i < sink->nsocket_globs; i++)
        if (fnmatch(sink->socket_globs[i], r->name, 0) == 0)
            return true;
    return false;
}

/* Wakes the workers of the sinks that got events since the last call. */
static void collector_wake(zs__collector_t *c)
{
    zs__worker_wake(c->set->sinks, c->set->n, c->pushed);
    c->pushed = 0;
    c->unwoken = 0;
}

/* Copies the event into every sink that wants it, and notes them in
 * c->pushed. A full ring drops the event for that sink only. */
static void collector_route(zs__collector_t *c, reader_t *r,
                            const zmqsink_event_t *ev)
{
    const zs__sinkset_t *set = c->set;
    if (r->set_seen != set->generation) {
        r->sink_mask = 0;
        for (size_t i = 0; i < set->n; i++)
            if (sink_wants_socket(set->sinks[i], r))
                r->sink_mask |= 1ull << i;
        r->set_seen = set->generation;
    }
    uint64_t pushed = 0, matched = 0, dropped = 0;
    for (size_t i = 0; i < set->n; i++) {
        zs__sink_t *sink = set->sinks[i];
        if (!(r->sink_mask >> i & 1) || !(sink->events & ev->type) ||
            ev->severity > sink->min_severity)
            continue;
        matched = 1;
        if (zs__ring_push(sink->ring, ev)) {
            pushed |= 1ull << i; /* counted by the ring: zs__ring_pushed() */
        } else {
            zs__counter_add(&sink->dropped_full, 1);
            dropped = 1;
        }
    }
    if (!matched)
        zs__counter_add(&c->zs->filtered, 1);
    c->dropped |= dropped; /* said by the report thread: collector_said() */
    if (!pushed)
        return;
    if (!c->unwoken++)
        c->unwoken_since_ns = ev->time_ns;
    c->pushed |= pushed;
    if (c->unwoken >= WAKE_BATCH ||
        ev->time_ns - c->unwoken_since_ns >= WAKE_AFTER_NS)
        collector_wake(c);
}

/* Tells the report thread of the round's drops, once the round's events
 * are routed, with no lock held (its first loss may start the thread). */
static void collector_said(zs__collector_t *c)
{
    if (!c->dropped)
        return;
    c->dropped = false;
    zs__report_loss(c->zs->report);
}

/* Decodes, enriches and routes one event. Types outside the reader's
 * mask are tracked (their connection opens and closes give the others a
 * peer and a duration) but take no sequence number. */
static void collector_emit(zs__collector_t *c, reader_t *r,
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
    zs__conns_track(&c->conns, r->lineage, &ev);
    if (!(r->events & ev.type))
        return;
    ev.seq = ++c->seq;
    zs__counter_add(&c->zs->events, 1);
    collector_route(c, r, &ev);
}

/* ---- readers ---- */


void zs__reader_link(zs__collector_t *c, reader_t *r)
{
    r->prev = NULL;
    r->next = c->readers;
    if (c->readers)
        c->readers->prev = r;
    c->readers = r;
    r->next_fresh = c->fresh;
    c->fresh = r;
}

void zs__reader_unlink(zs__collector_t *c, reader_t *r)
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

/* Ends a tap: monitor_stopped (when libzmq stopped the monitor, not at
 * context end) and its endpoint released at once; the close once the
 * application took what the tap holds (or its context ended, or
 * TAP_LINGER_NS went by), and never within a round, since an event of the
 * round may still name it. */
static void tap_end(zs__collector_t *c, zs__tap_t *tap, bool stopped)
{
    zs__tap_end(tap, stopped, clock_now_ns());
    pthread_mutex_lock(&c->lock);
    zs__taps_released(c, tap);
    pthread_mutex_unlock(&c->lock);
    *zs__tap_link(tap) = c->ending;
    c->ending = tap;
}

/* ---- readers epoll cannot tell about ---- */

/* A reader whose registration with epoll failed, or whose read failed
 * with an error other than ETERM (after which the edge-triggered epoll
 * never reports it again), while libzmq goes on queueing into its pipe:
 * it is read on a timer, every STALLED_RETRY_NS, until a read empties it
 * while epoll watches it. Logged once per stall. */
static void reader_stall(zs__collector_t *c, reader_t *r, const char *what,
                         int err)
{
    if (r->stalled)
        return;
    if (c->nstalled == c->stalled_cap) {
        size_t cap = c->stalled_cap ? c->stalled_cap * 2 : 8;
        reader_t **grown = realloc(c->stalled, cap * sizeof *grown);
        if (!grown) {
            zs__log(ZMQSINK_SEV_ERR, "socket '%s': %s: %s; out of memory to "
                    "retry: its events are no longer read", r->name, what,
                    zmq_strerror(err));
            return;
        }
        c->stalled = grown;
        c->stalled_cap = cap;
    }
    if (c->nstalled == 0)
        c->stalled_retry_ns = clock_now_ns() + STALLED_RETRY_NS;
    c->stalled[c->nstalled++] = r;
    r->stalled = true;
    zs__log(ZMQSINK_SEV_ERR, "socket '%s': %s: %s; its monitor is read every "
            "%d ms until this passes", r->name, what, zmq_strerror(err),
            (int)(STALLED_RETRY_NS / 1000000));
}

static void reader_unstall(zs__collector_t *c, reader_t *r)
{
    if (!r->stalled)
        return;
    for (size_t i = 0; i < c->nstalled; i++)
        if (c->stalled[i] == r) {
            c->stalled[i] = c->stalled[--c->nstalled];
            break;
        }
    r->stalled = false;
}

/* Registers the reader with epoll, or stalls it. */
static void reader_watch(zs__collector_t *c, reader_t *r)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = r};
    int rc = injected(&zs__inject_epoll_add_failures)
                 ? (errno = EINVAL, -1)
                 : epoll_ctl(c->epfd, EPOLL_CTL_ADD, r->fd, &ev);
    if (rc == 0)
        r->watched = true;
    else
        reader_stall(c, r, "epoll", errno);
}

/* An event of r read once routing stopped: counted as collector_emit()
 * counts it (when r asks for its type), here for the notice and
 * process-wide for zmqsink_discarded_events(). */
static void collector_discard(zs__collector_t *c, const reader_t *r,
                              uint32_t type)
{
    if (!(r->events & type))
        return;
    c->discarded++;
    atomic_fetch_add_explicit(&discarded_events, 1, memory_order_relaxed);
}

/* Ends a reader whose monitor stopped (stopped true, its monitor_stopped
 * in m) or whose context ended. Its monitor_stopped reaches the sinks
 * unless it only handed the socket over to a successor; its tap ends
 * unless the successor goes on with it. The reader is freed after the
 * epoll round. Returns the successor to read from here on (adopted, so
 * held until now), or NULL. */
static reader_t *reader_end(zs__collector_t *c, reader_t *r, bool stopped,
                            const zs__monitor_message_t *m)
{
    pthread_mutex_lock(&c->lock);
    /* Counted before the reader leaves the list: zmqsink_settle() that
     * finds it gone finds its monitor_stopped counted too. */
    if (stopped && r->name[0] && (!r->superseded || r->report_stop)) {
        if (c->discarding)
            collector_discard(c, r, (uint32_t)m->type);
        else
            collector_emit(c, r, m);
    }
    zs__reader_unlink(c, r);
    reader_t *successor = r->successor;
    if (successor)
        successor->predecessor = NULL;
    bool current = zs__ptrmap_get(&c->current, r->socket) == r;
    if (current)
        zs__ptrmap_remove(&c->current, r->socket);
    bool resume = successor && successor->adopted;
    pthread_mutex_unlock(&c->lock);

    if (r->tap && !(successor && successor->tap == r->tap))
        tap_end(c, r->tap, stopped);
    reader_unstall(c, r);
    if (r->watched)
        epoll_ctl(c->epfd, EPOLL_CTL_DEL, r->fd, NULL);
    zmq_close(r->pair);
    if (successor && successor->lineage == r->lineage) {
        /* The same socket goes on: what its connections were opened on
         * too (its successor has read nothing yet, libzmq says its binds
         * once). */
        successor->sides = r->sides;
        r->sides = (zs__wire_sides_t){0};
    } else {
        zs__conns_forget(&c->conns, r->lineage);
    }
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
static void reader_drain(zs__collector_t *c, reader_t *r)
{
    /* A reader that ends hands over to its successor, read on in this
     * loop (not by recursion: a chain of them can be long). */
    while (r && !r->ended && !r->predecessor) { /* else held, or done */
        zs__monitor_message_t m;
        int got = injected(&zs__inject_read_failures)
                      ? (errno = EINVAL, ZS__WIRE_STOP)
                      : zs__wire_read(r->pair, &r->sides, &m);
        if (got == ZS__WIRE_EMPTY) {
            if (r->stalled && r->watched) {
                reader_unstall(c, r);
                zs__log(ZMQSINK_SEV_NOTICE, "socket '%s': its monitor is "
                        "read as events come again", r->name);
            }
            break;
        }
        if (got == ZS__WIRE_STOP) {
            if (errno == ETERM) {
                r = reader_end(c, r, false, NULL);
                continue;
            }
            if (errno == EINTR)
                continue;
            reader_stall(c, r, "monitor read", errno);
            break;
        }
        if (got == ZS__WIRE_BAD) {
            zs__log(ZMQSINK_SEV_WARNING,
                    "socket '%s': malformed monitor message skipped", r->name);
            zs__wire_skip(r->pair);
            continue;
        }
        if (m.type == ZMQSINK_EVENT_MONITOR_STOPPED) {
            r = reader_end(c, r, true, &m);
            continue;
        }
        if (r->tap)
            zs__tap_send(r->tap, &m);
        if (m.type == ZMQSINK_EVENT_BIND_FAILED)
            zs__bind_waits_answer(&c->binds, r->socket, m.endpoint,
                                  (int)m.value);
        if (zs__wire_event_known(m.type) && r->name[0]) {
            if (c->discarding)
                collector_discard(c, r, (uint32_t)m.type);
            else
                collector_emit(c, r, &m);
        }
    }
}

/* Registers readers handed over by a change (and the taps that came with
 * them) and reads what they queued before epoll watched them. */
static void collector_adopt(zs__collector_t *c)
{
    reader_t *fresh[64];
    size_t n = 0;
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
        reader_watch(c, r);
        if (r->tap_new) {
            struct epoll_event ev = {.events = EPOLLIN | EPOLLET,
                                     .data.u64 = (uint64_t)(uintptr_t)r->tap |
                                                 TAP_TAG};
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
        reader_drain(c, fresh[i]);
    }
}

/* Frees what ended during the round, now that no event of the round can
 * point at it any more. */
static void collector_bury(zs__collector_t *c, int64_t now_ns)
{
    for (zs__tap_t **at = &c->ending; *at;) {
        zs__tap_t *tap = *at;
        if (zs__tap_flush(tap) > 0) { /* the application has yet to read */
            if (now_ns - zs__tap_ended_ns(tap) < TAP_LINGER_NS) {
                at = zs__tap_link(tap);
                continue;
            }
            zs__tap_abandon(tap);
        }
        *at = *zs__tap_link(tap);
        epoll_ctl(c->epfd, EPOLL_CTL_DEL, zs__tap_fd(tap), NULL);
        zs__tap_close(&tap);
    }
    while (c->dead) {
        reader_t *r = c->dead;
        c->dead = r->next;
        zs__wire_sides_free(&r->sides);
        free(r);
    }
}

/* Readers not yet ended, or taps still holding something. */
static bool readers_left(zs__collector_t *c)
{
    pthread_mutex_lock(&c->lock);
    bool left = c->readers != NULL;
    pthread_mutex_unlock(&c->lock);
    return left || c->ending;
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
    size_t open = zs__collector_attached(c);
    if (open > 0)
        zs__log(ZMQSINK_SEV_WARNING,
                "zmqsink_destroy(): %zu attached socket%s still open: "
                "%s events are read and discarded from now on, until %s "
                "closed (detach sockets before destroying to keep their "
                "last events)",
                open, open == 1 ? " is" : "s are", open == 1 ? "its" : "their",
                open == 1 ? "it is" : "they are");
    sem_post(&c->settled);
}

/* The count of what the sockets left open lost, once they are all gone. */
static void collector_say_discarded(const zs__collector_t *c)
{
    if (c->discarded > 0)
        zs__log(ZMQSINK_SEV_NOTICE,
                "%llu events of sockets left open at zmqsink_destroy() were "
                "discarded", (unsigned long long)c->discarded);
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

/* Reads the stalled readers when their time has come, registering with
 * epoll those it does not watch yet. */
static void collector_retry_stalled(zs__collector_t *c, int64_t now_ns)
{
    if (c->nstalled == 0 || now_ns < c->stalled_retry_ns)
        return;
    /* Reading one may end it and others, which leave the list: work on a
     * copy of all of them (out of memory: the next round tries again). */
    size_t n = c->nstalled;
    reader_t **batch = malloc(n * sizeof *batch);
    if (!batch) {
        c->stalled_retry_ns = now_ns + STALLED_RETRY_NS;
        return;
    }
    memcpy(batch, c->stalled, n * sizeof *batch);
    for (size_t i = 0; i < n; i++) {
        reader_t *r = batch[i];
        if (!r->stalled || r->ended)
            continue;
        if (!r->watched)
            reader_watch(c, r);
        reader_drain(c, r);
    }
    free(batch);
    c->stalled_retry_ns = now_ns + STALLED_RETRY_NS;
}

/* The epoll timeout of a round: -1 (none), or ms. */
static int collector_timeout(const zs__collector_t *c, int64_t now_ns)
{
    int timeout = atomic_load(&c->finishing) && !c->discarding ? 10 : -1;
    int64_t until = c->nstalled > 0 ? c->stalled_retry_ns : INT64_MAX;
    for (zs__tap_t *tap = c->ending; tap; tap = *zs__tap_link(tap)) {
        int64_t linger_end = zs__tap_ended_ns(tap) + TAP_LINGER_NS;
        if (linger_end < until)
            until = linger_end;
    }
    if (until != INT64_MAX) {
        int64_t wait = until - now_ns;
        int ms = wait > 0 ? (int)(wait / 1000000) + 1 : 0;
        if (timeout < 0 || ms < timeout)
            timeout = ms;
    }
    return timeout;
}

static void collector_free(zs__collector_t *c)
{
    close(c->wakefd);
    close(c->epfd);
    sem_destroy(&c->settled);
    sem_destroy(&c->switched);
    zs__bind_waits_destroy(&c->binds);
    pthread_cond_destroy(&c->released);
    pthread_mutex_destroy(&c->lock);
    zs__ptrmap_clear(&c->current);
    while (c->ending) {
        zs__tap_t *tap = c->ending;
        c->ending = *zs__tap_link(tap);
        zs__tap_close(&tap);
    }
    free(c->stalled);
    zs__conns_free(&c->conns);
    free(c);
}

/* One epoll event: the wake-up eventfd, a tap or a reader. Returns
 * whether it was a monitor's. */
static bool collector_serve(zs__collector_t *c, const struct epoll_event *e)
{
    if (e->data.u64 == 0) {
        eventfd_t ignored;
        eventfd_read(c->wakefd, &ignored);
        collector_adopt(c);
        if (!c->discarding && atomic_exchange(&c->say_last, 0))
            zs__report_say_last(c->zs->report);
        return false;
    }
    if (e->data.u64 & TAP_TAG) {
        zs__tap_flush((zs__tap_t *)(uintptr_t)(e->data.u64 & ~(uint64_t)TAP_TAG));
        return false;
    }
    reader_drain(c, e->data.ptr);
    return true;
}

/* After a round that read monitors and left none ready: while events
 * flow (the previous such round began less than COALESCE_NS before this
 * one), waits until COALESCE_NS after this round began. */
static void collector_coalesce(zs__collector_t *c, int64_t round_ns)
{
    bool flowing = round_ns - c->last_read_ns < COALESCE_NS;
    c->last_read_ns = round_ns;
    if (!flowing)
        return;
    int64_t until = round_ns + COALESCE_NS;
    struct timespec ts = {.tv_sec = until / 1000000000,
                          .tv_nsec = until % 1000000000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static void *collector_main(void *arg)
{
    zs__collector_t *c = arg;
    struct epoll_event events[ROUND_MAX];
    c->last_read_ns = clock_now_ns() - COALESCE_NS;
    while (!c->discarding || readers_left(c)) {
        int n = epoll_wait(c->epfd, events, ROUND_MAX,
                           collector_timeout(c, clock_now_ns()));
        int64_t round_ns = clock_now_ns();
        bool read = false;
        if (!c->discarding)
            collector_take_set(c);
        for (int i = 0; i < n; i++)
            read |= collector_serve(c, &events[i]);
        collector_retry_stalled(c, round_ns);
        collector_bury(c, round_ns);
        if (!c->discarding) {
            collector_wake(c);
            collector_said(c);
            /* A switch stores its set, then writes the eventfd: one whose
             * write this round's read took came after the take above, and
             * no wake-up is left to bring it. */
            collector_take_set(c);
        }
        collector_settle(c);
        if (read && n < ROUND_MAX)
            collector_coalesce(c, round_ns);
    }
    collector_say_discarded(c);
    pthread_mutex_lock(&c->lock);
    bool orphaned = c->orphaned;
    c->exited = true;
    pthread_mutex_unlock(&c->lock);
    if (orphaned)
        collector_free(c);
    return NULL;
}

/* ---- API ---- */

uint64_t zmqsink_discarded_events(void)
{
    return atomic_load_explicit(&discarded_events, memory_order_relaxed);
}

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
    pthread_cond_init(&c->released, &monotonic);
    pthread_condattr_destroy(&monotonic);
    zs__bind_waits_init(&c->binds);
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
    errno = zs__thread_create(&c->thread, "zs-collector", collector_main, c);
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
    zs__bind_waits_destroy(&c->binds);
    pthread_cond_destroy(&c->released);
    pthread_mutex_destroy(&c->lock);
    free(c);
    return NULL;
}

void zs__collector_say_last(zs__collector_t *c)
{
    atomic_store(&c->say_last, 1);
    eventfd_write(c->wakefd, 1);
}

void zs__collector_switch(zs__collector_t *c, const zs__sinkset_t *set)
{
    atomic_store(&c->next_set, set);
    eventfd_write(c->wakefd, 1);
    while (sem_wait(&c->switched) != 0 && errno == EINTR)
        ;
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
