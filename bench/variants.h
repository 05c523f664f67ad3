/* The ways of watching a socket's monitor events that the event-path
 * benchmarks compare, behind one interface: nothing, a hand-written monitor
 * reader, CZMQ's zmonitor actor, and zmqsink with one or three sinks.
 *
 *   variant_new()     the ZeroMQ context the workload makes its sockets in
 *   variant_start()   the consumer: zmqsink_start(), the reader's file
 *   variant_attach()  per socket, on its thread; the variant closes it later
 *   variant_begin()   the consumer's thread, once every socket is attached
 *   ... the workload ...
 *   variant_stop()    closes the attached sockets, waits for the consumer to
 *                     read their last events, and counts what it got
 *   variant_destroy() terminates the context */
#ifndef BENCH_VARIANTS_H
#define BENCH_VARIANTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum variant_kind {
    VARIANT_NONE,     /* unmonitored */
    VARIANT_READER,   /* zmq_socket_monitor + PAIR readers, one thread,
                         a json line per event to a file */
    VARIANT_ZMONITOR, /* a CZMQ zmonitor actor per socket, one thread reading
                         them, a json line per event to a file */
    VARIANT_ZMQSINK,  /* zmqsink, one file sink (json) */
    VARIANT_ZMQSINK3, /* zmqsink, file + syslog (udp) + statsd (udp) */
    VARIANT_ZMQSINK_STATSD, /* zmqsink, one statsd sink (udp) */
    VARIANT_ZMQSINK_STUCK, /* zmqsink, the file sink and a callback sink
                              that never returns */
    VARIANT_READER_FLUSHED /* the reader, flushing its lines after each
                              round of reads (as zmqsink writes each batch
                              at once) instead of when stdio's buffer fills */
} variant_kind_t;

/* The kind for a name ("none", "reader", "zmonitor", "zmqsink",
 * "zmqsink3", "zmqsink-statsd", "zmqsink-stuck", "reader-flushed"), or
 * -1. */
int variant_kind_from_name(const char *name);

/* Whether this build has the kind (zmonitor needs CZMQ). */
bool variant_available(variant_kind_t kind);

/* Called on the consumer's thread for each event of on_event_mask:
 * socket is the index given to variant_attach(), received_ns the
 * CLOCK_REALTIME at which the consumer got the event, stamped_ns the
 * event's time_ns for zmqsink (set when its collector decoded it), else
 * -1. */
typedef void variant_event_fn(void *arg, int socket, uint32_t type,
                              int64_t received_ns, int64_t stamped_ns);

typedef struct variant_options {
    const char *dir;        /* for the config and the events file */
    int udp_port;           /* 127.0.0.1 port of the syslog and statsd sinks */
    int io_threads;         /* 0: libzmq's default */
    int max_sockets;        /* 0: libzmq's default */
    int queue_capacity;     /* zmqsink's queue.capacity; 0: its default */
    const char *shutdown_timeout; /* zmqsink's, e.g. "100ms"; NULL: default */
    variant_event_fn *on_event; /* NULL: none */
    void *on_event_arg;
    uint32_t on_event_mask; /* ZMQSINK_EVENT_* bits */
} variant_options_t;

/* What the consumer got. */
typedef struct variant_counts {
    uint64_t events;        /* lines written (reader, zmonitor), delivered
                               by zmqsink's first sink */
    uint64_t decoded;       /* zmqsink: events its collector decoded */
    uint64_t dropped_full;  /* zmqsink: over all sinks, ring full */
    uint64_t dropped_shutdown; /* zmqsink: over all sinks, left at destroy */
    uint64_t failed;        /* zmqsink: over all sinks */
    uint64_t stuck_dropped; /* zmqsink: dropped_full of the stuck callback */
    double destroy_ms;      /* zmqsink: how long zmqsink_destroy() took */
} variant_counts_t;

typedef struct variant variant_t;

/* Makes the variant and its ZeroMQ context (CZMQ's for zmonitor, whose
 * actor's inproc pipe must share the monitored socket's context). opts
 * and the strings it points to must outlive the variant. Returns 0, or -1
 * with a message in err. */
int variant_new(variant_t **out, variant_kind_t kind,
                const variant_options_t *opts, char *err, size_t errlen);

/* The context to make the workload's sockets in. */
void *variant_ctx(const variant_t *v);

/* Starts the consumer (zmqsink_start(), the reader's output file).
 * Returns 0, or -1 with a message in err. */
int variant_start(variant_t *v, char *err, size_t errlen);

/* Monitors socket (call on its thread) under the index given, which names
 * it "s<index>" for zmqsink. The variant closes it in variant_stop().
 * Returns 0, or -1 with a message in err. */
int variant_attach(variant_t *v, void *socket, int index, char *err,
                   size_t errlen);

/* Starts the consumer's thread (reader, zmonitor) once every socket is
 * attached. Returns 0, or -1 with a message in err. */
int variant_begin(variant_t *v, char *err, size_t errlen);

/* Events the consumer got so far (see variant_counts_t.events). Any
 * thread. */
uint64_t variant_events_so_far(variant_t *v);

/* zmqsink's counters so far, as variant_stop() gives them at the end;
 * zeros for the others. */
void variant_counts_so_far(variant_t *v, variant_counts_t *out);

/* Re-reads zmqsink's config (zmqsink_reload()). Returns 0, or -1 with a
 * message in err. */
int variant_reload(variant_t *v, char *err, size_t errlen);

/* Closes the attached sockets, waits (bounded) until the consumer has read
 * their last events, stops it and fills *out. Returns 0, or -1 with a
 * message in err (the counts are then what could be had). */
int variant_stop(variant_t *v, variant_counts_t *out, char *err,
                 size_t errlen);

/* Terminates the context and frees the variant; NULL: no-op. Sockets the
 * workload made and did not attach must be closed before. */
void variant_destroy(variant_t **v);

#endif
