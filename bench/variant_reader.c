/* The hand-written peer: what an application writes without zmqsink. Each
 * socket gets zmq_socket_monitor() to an inproc PAIR reader connected
 * before (RCVHWM 0, so libzmq never blocks on it), and ONE thread reads
 * them: a blocking zmq_msg_recv() for one socket, zmq_poll() over all of
 * them for more, writing one json line per event to a file. The lines
 * stay in stdio's buffer until it fills; reader-flushed writes them out
 * after each round of reads, so that they are seen as zmqsink's are. */
#include "variants_private.h"

#include "measure.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

/* A blocking read wakes this often to see whether it should give up. */
#define READ_TIMEOUT_MS 200
/* How long stop waits for the last monitor_stopped. */
#define STOP_TIMEOUT_MS 10000

/* What the reader's thread tells stop. */
typedef struct reader {
    _Atomic int stopped; /* monitors that said monitor_stopped */
    atomic_bool done;    /* the thread has returned */
} reader_t;

static int reader_start(variant_t *v, char *err, size_t errlen)
{
    if (!(v->consumer = calloc(1, sizeof(reader_t)))) {
        snprintf(err, errlen, "reader: out of memory");
        return -1;
    }
    return 0;
}

static int reader_attach(variant_t *v, void *socket, int index, char *err,
                         size_t errlen)
{
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "inproc://bench-monitor-%d", index);
    void *pair = zmq_socket(v->ctx, ZMQ_PAIR);
    int hwm = 0, timeout = READ_TIMEOUT_MS, linger = 0;
    /* Connected before the monitor binds its end: no event is lost. */
    if (!pair || zmq_setsockopt(pair, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(pair, ZMQ_RCVTIMEO, &timeout, sizeof timeout) != 0 ||
        zmq_setsockopt(pair, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_connect(pair, endpoint) != 0 ||
        zmq_socket_monitor(socket, endpoint, ZMQ_EVENT_ALL) != 0) {
        snprintf(err, errlen, "reader: monitor of socket %d: %s", index,
                 zmq_strerror(zmq_errno()));
        if (pair)
            zmq_close(pair);
        return -1;
    }
    v->monitors[index] = pair;
    return 0;
}

/* Reads one event from pair (flags 0 or ZMQ_DONTWAIT) and writes its line.
 * Returns 1 for an event, 2 for monitor_stopped, 0 when there was none
 * (EAGAIN), -1 on error. */
static int read_event(variant_t *v, void *pair, int index, int flags)
{
    zmq_msg_t head, endpoint;
    zmq_msg_init(&head);
    if (zmq_msg_recv(&head, pair, flags) < 0) {
        zmq_msg_close(&head);
        return zmq_errno() == EAGAIN ? 0 : -1;
    }
    uint16_t type = 0;
    uint32_t value = 0;
    if (zmq_msg_size(&head) >= 6) {
        memcpy(&type, zmq_msg_data(&head), sizeof type);
        memcpy(&value, (char *)zmq_msg_data(&head) + 2, sizeof value);
    }
    bool more = zmq_msg_more(&head);
    zmq_msg_close(&head);
    char text[256] = "";
    zmq_msg_init(&endpoint);
    if (more && zmq_msg_recv(&endpoint, pair, 0) >= 0) {
        size_t len = zmq_msg_size(&endpoint);
        len = len < sizeof text - 1 ? len : sizeof text - 1;
        memcpy(text, zmq_msg_data(&endpoint), len);
        text[len] = '\0';
    }
    zmq_msg_close(&endpoint);
    const variant_options_t *opts = v->opts;
    if (opts->on_event && (opts->on_event_mask & type))
        opts->on_event(opts->on_event_arg, index, type, clock_realtime_ns(), -1);
    const char *name = zmqsink_event_name(type);
    consumer_line(v, name ? name : "unknown", value, text);
    return type == ZMQ_EVENT_MONITOR_STOPPED ? 2 : 1;
}

/* reader-flushed: what this round read is written out now. */
static void round_done(variant_t *v)
{
    if (v->kind == VARIANT_READER_FLUSHED)
        fflush(v->out);
}

/* One socket: the simplest loop, a blocking receive. */
static void read_one(variant_t *v, reader_t *r)
{
    while (!atomic_load(&v->give_up)) {
        int rc = read_event(v, v->monitors[0], 0, 0);
        round_done(v);
        if (rc == 2) {
            atomic_fetch_add(&r->stopped, 1);
            return;
        }
        if (rc < 0 && zmq_errno() != EINTR)
            return;
    }
}

/* Many sockets: zmq_poll() over every reader, each drained until EAGAIN; a
 * reader whose monitor stopped leaves the set. */
static void read_many(variant_t *v, reader_t *r)
{
    int live = v->nsockets;
    zmq_pollitem_t *items = calloc((size_t)live, sizeof *items);
    int *index = calloc((size_t)live, sizeof *index);
    if (!items || !index)
        live = 0;
    for (int i = 0; i < live; i++) {
        items[i] = (zmq_pollitem_t){.socket = v->monitors[i], .events = ZMQ_POLLIN};
        index[i] = i;
    }
    while (live > 0 && !atomic_load(&v->give_up)) {
        int rc = zmq_poll(items, live, READ_TIMEOUT_MS);
        if (rc < 0 && zmq_errno() != EINTR)
            break;
        for (int i = live - 1; rc > 0 && i >= 0; i--) {
            if (!(items[i].revents & ZMQ_POLLIN))
                continue;
            int got;
            while ((got = read_event(v, items[i].socket, index[i], ZMQ_DONTWAIT)) == 1)
                ;
            if (got == 2) {
                atomic_fetch_add(&r->stopped, 1);
                items[i] = items[--live];
                index[i] = index[live];
            }
        }
        round_done(v);
    }
    free(items);
    free(index);
}

static void *reader_main(void *arg)
{
    variant_t *v = arg;
    reader_t *r = v->consumer;
    if (v->nsockets == 1)
        read_one(v, r);
    else
        read_many(v, r);
    atomic_store(&r->done, true);
    return NULL;
}

static int reader_stop(variant_t *v, variant_counts_t *out, char *err,
                       size_t errlen)
{
    (void)out; /* variants.c counts the lines */
    reader_t *r = v->consumer;
    variant_close_sockets(v);
    int64_t deadline = clock_monotonic_ns() + (int64_t)STOP_TIMEOUT_MS * 1000000;
    while (v->thread_started && !atomic_load(&r->done) &&
           clock_monotonic_ns() < deadline)
        sleep_ms(1);
    consumer_join(v);
    int stopped = atomic_load(&r->stopped);
    if (stopped < v->nsockets) {
        snprintf(err, errlen, "reader: %d of %d monitors did not stop within %d ms",
                 v->nsockets - stopped, v->nsockets, STOP_TIMEOUT_MS);
        return -1;
    }
    return 0;
}

static void reader_free(variant_t *v)
{
    for (int i = 0; i < v->nsockets; i++)
        if (v->monitors[i]) {
            zmq_close(v->monitors[i]);
            v->monitors[i] = NULL;
        }
    free(v->consumer);
    v->consumer = NULL;
}

const consumer_ops_t reader_ops = {
    .start = reader_start,
    .attach = reader_attach,
    .main = reader_main,
    .stop = reader_stop,
    .free = reader_free,
};
