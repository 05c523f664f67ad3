/* Core-internal types shared by the instance, collector and workers: the
 * zmqsink instance and its sinks. Never installed. */
#ifndef ZS_INTERNAL_H
#define ZS_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <zmqsink.h>
#include <zmqsink/plugin.h>

#include "config.h"
#include "loader.h"
#include "ring.h"


/* A counter with a single writer: a load and a release store, no locked
 * instruction, readable from any thread. A reader's acquire load that
 * sees a value also sees everything its writer did before storing it:
 * zs__sink_stats() relies on that to read a sink's counters in an order
 * that keeps its identity (core/sinkset.c). */
typedef _Atomic uint64_t zs__counter_t;

static inline void zs__counter_add(zs__counter_t *counter, uint64_t n)
{
    atomic_store_explicit(counter,
                          atomic_load_explicit(counter, memory_order_relaxed) + n,
                          memory_order_release);
}

static inline uint64_t zs__counter_get(const zs__counter_t *counter)
{
    return atomic_load_explicit(counter, memory_order_acquire);
}

typedef struct zs__sink {
    struct zmqsink *owner;
    char name[ZMQSINK_SOCKET_NAME_MAX];
    char type[32];

    /* Filter, read by the collector. */
    uint32_t events;
    int min_severity;
    char **socket_globs;
    size_t nsocket_globs;
    uint64_t lineage;         /* nonzero: only the socket of this lineage
                                 (zmqsink_socket_callback()) */
    bool callback;            /* a callback sink, not one of the config */

    zs__ring_t *ring;

    /* The plugin and its instance, used on the worker thread only. */
    zs__plugin_t plugin;
    const zs__node_t *node;   /* its config mapping; NULL when added by
                                 zmqsink_add_callback() */
    zs__options_t *options;
    void *state;
    void *builtin_arg;        /* state handed to a built-in sink's open() */
    zmqsink_host_t host;
    char config_dir[4096];
    char drops_name[ZMQSINK_SOCKET_NAME_MAX]; /* sink_drops() answers here */

    /* Worker (core/worker.c). */
    pthread_t thread;
    char thread_name[16];     /* "zs:NAME", cut */
    sem_t opened;             /* posted once open() has returned */
    char open_error[1024];    /* why open() failed, when it did */
    /* Started in the background: the worker itself loads the plugin and
     * checks the options (prepare) before open(), from this config, which
     * stays valid until opening is over. */
    int (*prepare)(struct zs__sink *sink, char *err, size_t errlen);
    const zs__config_t *config;
    const zs__sink_config_t *sink_config;
    char origin[PATH_MAX + 96]; /* "FILE:LINE:COL: sink 'NAME'" for logs */
    _Atomic int opening;      /* 1 until open() returned or failed */
    _Atomic int unopened;     /* it could not open: its events fail */
    _Atomic uint32_t sleeping;/* futex word: 1 while idle-waiting */
    _Atomic uint32_t control; /* futex word: ZS__WORKER_STOP | _REOPEN */
    _Atomic int64_t deadline_ns;
    _Atomic int finished;     /* 1: the thread has closed the sink; 2: it
                                 still ran when its instance was
                                 destroyed, and ends it (zs__stuck_orphan) */
    _Atomic int abandoned;    /* its join gave up: it delivers nothing
                                 more, whenever its plugin returns */

    /* Counters. The ring counts what was enqueued (pushed) and what the
     * worker took (released). dropped_full is written by the collector,
     * the others by the worker: an event is released from the ring before
     * it is counted delivered, failed or dropped_shutdown, and what was
     * released and is in none of them is pending in the plugin. revoked:
     * events of a plugin without ZMQSINK_PLUGIN_COUNTS_DELIVERED that were
     * counted delivered when write() took them, and failed later; the
     * delivered that zmqsink_stats() reports is delivered - revoked. */
    zs__counter_t delivered, revoked, dropped_full, dropped_shutdown, failed;

    /* Worker thread only: inside write(), the plugin's count_delivered()
     * and count_failed() wait here until its batch has left the ring. */
    bool in_write;
    uint64_t write_delivered, write_failed;
    int64_t tick_at_ns;       /* next tick() (monotonic); INT64_MAX: none */
} zs__sink_t;

/* The sinks of an instance between two changes, and the config they
 * came with. Immutable once published: the collector routes with the set
 * it was last handed; other threads read zmqsink.set under set_lock. */
typedef struct zs__sinkset {
    uint64_t generation;      /* +1 at each change */
    zs__config_t *config;     /* owned by the instance while current */
    size_t n;
    zs__sink_t *sinks[ZS__MAX_SINKS];
} zs__sinkset_t;

struct zs__collector;
struct zs__report;

struct zmqsink {
    void *ctx;
    pthread_mutex_t change_lock; /* serialises changes to the sinks */
    pthread_mutex_t set_lock;    /* guards set and config for readers */
    zs__sinkset_t *set;
    zs__config_t *config;        /* that of set, owned */
    zs__sink_t *stuck[ZS__MAX_SINKS]; /* removed, but busy in their plugin */
    size_t nstuck;
    bool stuck_lost;             /* more were stuck than the list holds:
                                    the instance is never freed */
    _Atomic size_t orphan_refs;  /* destroyed with sinks of stuck still
                                    running: how many, + 1 while destroy
                                    looks; the last frees the instance */
    struct zs__collector *collector; /* sinks' threads: under set_lock */
    struct zs__report *report;   /* set before any thread of zs runs */
    char *stats_file;            /* $ZMQSINK_STATS_FILE at start, or NULL */
    zs__counter_t events;       /* written by the collector */
    zs__counter_t filtered;
    _Atomic uint32_t type_counts[16]; /* for default names "router-1" */
    uint64_t socket_callbacks;   /* serial of their sinks' names (change_lock) */
};

/* A zmqsink_stats_t with room for every sink: zs__stats_init() points
 * its array here (so a copy must be initialised again). */
typedef struct zs__stats {
    zmqsink_stats_t all;
    zmqsink_sink_stats_t sinks[ZS__MAX_SINKS];
} zs__stats_t;

static inline zmqsink_stats_t *zs__stats_init(zs__stats_t *s)
{
    s->all = (zmqsink_stats_t){.sinks = s->sinks, .sinks_cap = ZS__MAX_SINKS};
    return &s->all;
}

/* err, or scratch (of cap bytes, errlen then set to cap) when the caller
 * gave no room for a message: a public call may be given NULL and 0. */
static inline char *zs__err_room(char *err, size_t *errlen, char *scratch,
                                 size_t cap)
{
    if (err && *errlen)
        return err;
    *errlen = cap;
    return scratch;
}

/* Reads a config file, or the compiled-in default for NULL (core/check.c).
 * Returns 0 or -ZMQSINK_ECONFIG with the message in err. */
int zs__config_read(const char *config_path, zs__config_t **config,
                    char *err, size_t errlen);

/* Nonzero in a child (forked or executed) of the process `zmqsink run`
 * started; see zmqsink_host_t.child_process. */
int zs__child_process(void);

/* Fills the sink's host table (core/host.c). */
void zs__host_init(zs__sink_t *sink);


/* The sink a host table belongs to. */
static inline zs__sink_t *zs__sink_of_host(const zmqsink_host_t *host)
{
    return (zs__sink_t *)((char *)host - offsetof(zs__sink_t, host));
}

/* Frees an instance whose sinks are all gone but those in zs->stuck,
 * which have all finished (core/zmqsink.c). */
void zs__instance_free(zmqsink_t *zs);

/* The sockets the instance reports now; 0 once destroy has begun. With
 * set_lock held: destroy takes the collector away under it before it
 * frees it, while sinks' threads may still ask (core/zmqsink.c). */
uint64_t zs__sockets_attached(zmqsink_t *zs);

#endif
