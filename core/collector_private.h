/* The collector's state, shared by its thread (core/collector.c) and the
 * calls of application threads that make and change its readers
 * (core/readers.c). Private to those two. */
#ifndef ZS_COLLECTOR_PRIVATE_H
#define ZS_COLLECTOR_PRIVATE_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bindwait.h"
#include "collector.h"
#include "conns.h"
#include "monitor_wire.h"
#include "ptrmap.h"
#include "tap.h"

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
    bool watched;               /* (thread) registered with epoll */
    bool stalled;               /* (thread) in c->stalled: epoll cannot
                                   tell when it is readable (see
                                   reader_stall()) */
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

struct zs__collector {
    zmqsink_t *zs;
    const zs__sinkset_t *set; /* (thread) the sinks routed to */
    _Atomic(const zs__sinkset_t *) next_set; /* handed by switch */
    sem_t switched;           /* posted once next_set is routed to */
    pthread_t thread;
    int epfd, wakefd;
    pthread_mutex_t lock;
    reader_t *readers;        /* (lock) */
    reader_t *fresh;          /* (lock) newest first, via next_fresh */
    zs__ptrmap_t current;     /* (lock) socket -> its newest reader */
    zs__bind_waits_t binds;   /* failed binds waiting for their cause */
    _Atomic int finishing;    /* destroy has begun */
    _Atomic int say_last;     /* zs__collector_say_last() */
    _Atomic int64_t settle_deadline_ns;
    /* Taps the application let go (it stopped or replaced its monitor)
     * that are still bound, linked by zs__tap_link(): the thread unbinds
     * each as it reads the monitor's end, then signals released. */
    zs__tap_t *let_go;        /* (lock) */
    pthread_cond_t released;  /* on the monotonic clock */
    sem_t settled;            /* posted once the thread stopped routing */
    bool discarding;          /* (thread) routing stopped: zs may be gone */
    uint64_t discarded;       /* (thread) events read since, and dropped */
    bool exited;              /* (lock) the thread has ended */
    bool orphaned;            /* (lock) destroy returned: the thread frees c */
    reader_t *dead;           /* (thread) ended, freed after the round */
    zs__tap_t *ending;        /* (thread) taps ended, closed at the end
                                 of a round once all they hold is sent,
                                 linked by zs__tap_link() (a tap is on
                                 let_go first, on ending once it ended) */
    uint64_t lineages;        /* (lock) the last socket lineage given */
    zs__conns_t conns;        /* (thread) connections seen opening */
    uint64_t seq;
    uint64_t pushed;          /* (thread) sinks given events since the
                                 workers were last woken, as a bit mask */
    unsigned unwoken;         /* (thread) events routed since then */
    bool dropped;             /* (thread) a ring was full this round */
    int64_t unwoken_since_ns; /* (thread) the first one's time_ns */
    int64_t last_read_ns;     /* (thread) start of the last round that
                                 read monitors */
    reader_t **stalled;       /* (thread) readers read on a timer */
    size_t nstalled, stalled_cap;
    int64_t stalled_retry_ns; /* (thread) when they are read next */
};

/* Links a new reader into the lists of readers and of fresh ones (to be
 * adopted by the thread). With the lock held. */
void zs__reader_link(zs__collector_t *c, reader_t *r);

/* Unlinks a reader, with the lock held; r is adopted (a failed change
 * unlinks it at once, before anything adopts it). */
void zs__reader_unlink(zs__collector_t *c, reader_t *r);

/* From the thread, with the lock held, once tap has released its
 * endpoint: wakes the application threads that wait to bind it. */
void zs__taps_released(zs__collector_t *c, zs__tap_t *tap);

#endif
