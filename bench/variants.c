/* The variants' common part (the context, the attached sockets) and the
 * zmqsink variants; the hand-written consumers live in variant_reader.c
 * and variant_zmonitor.c. */
#include "variants_private.h"

#include "measure.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>
#ifdef HAVE_CZMQ
#include <czmq.h>
#endif

static const char *const kind_names[] = {
    [VARIANT_NONE] = "none",         [VARIANT_READER] = "reader",
    [VARIANT_ZMONITOR] = "zmonitor", [VARIANT_ZMQSINK] = "zmqsink",
    [VARIANT_ZMQSINK3] = "zmqsink3", [VARIANT_ZMQSINK_STATSD] = "zmqsink-statsd",
    [VARIANT_ZMQSINK_STUCK] = "zmqsink-stuck",
    [VARIANT_READER_FLUSHED] = "reader-flushed",
};

int variant_kind_from_name(const char *name)
{
    for (size_t i = 0; i < sizeof kind_names / sizeof kind_names[0]; i++)
        if (strcmp(kind_names[i], name) == 0)
            return (int)i;
    return -1;
}

bool variant_available(variant_kind_t kind)
{
#ifdef HAVE_CZMQ
    (void)kind;
    return true;
#else
    return kind != VARIANT_ZMONITOR;
#endif
}

static bool is_zmqsink(const variant_t *v)
{
    return v->kind == VARIANT_ZMQSINK || v->kind == VARIANT_ZMQSINK3 ||
           v->kind == VARIANT_ZMQSINK_STATSD || v->kind == VARIANT_ZMQSINK_STUCK;
}

static const consumer_ops_t *consumer_of(const variant_t *v)
{
    if (v->kind == VARIANT_READER || v->kind == VARIANT_READER_FLUSHED)
        return &reader_ops;
#ifdef HAVE_CZMQ
    if (v->kind == VARIANT_ZMONITOR)
        return &zmonitor_ops;
#endif
    return NULL;
}

static void *context_new(const variant_t *v)
{
    const variant_options_t *opts = v->opts;
#ifdef HAVE_CZMQ
    if (v->kind == VARIANT_ZMONITOR) {
        zsys_handler_set(NULL); /* the benchmark's signals stay its own */
        if (opts->io_threads > 0)
            zsys_set_io_threads((size_t)opts->io_threads);
        if (opts->max_sockets > 0)
            zsys_set_max_sockets((size_t)opts->max_sockets);
        return zsys_init();
    }
#endif
    void *ctx = zmq_ctx_new();
    if (ctx && opts->io_threads > 0)
        zmq_ctx_set(ctx, ZMQ_IO_THREADS, opts->io_threads);
    if (ctx && opts->max_sockets > 0)
        zmq_ctx_set(ctx, ZMQ_MAX_SOCKETS, opts->max_sockets);
    return ctx;
}

int variant_new(variant_t **out, variant_kind_t kind,
                const variant_options_t *opts, char *err, size_t errlen)
{
    *out = NULL;
    if (!variant_available(kind)) {
        snprintf(err, errlen, "%s: not built (configure found no libczmq)",
                 kind_names[kind]);
        return -1;
    }
    variant_t *v = calloc(1, sizeof *v);
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    v->kind = kind;
    v->opts = opts;
    v->ctx = context_new(v);
    if (!v->ctx) {
        snprintf(err, errlen, "context: %s", zmq_strerror(zmq_errno()));
        free(v);
        return -1;
    }
    *out = v;
    return 0;
}

void *variant_ctx(const variant_t *v)
{
    return v->ctx;
}

/* Writes the zmqsink config of the variant's kind to v->path. */
static int write_config(variant_t *v, char *err, size_t errlen)
{
    const variant_options_t *opts = v->opts;
    snprintf(v->path, sizeof v->path, "%s/zmqsink.yaml", opts->dir);
    FILE *f = fopen(v->path, "w");
    if (!f) {
        snprintf(err, errlen, "%s: %s", v->path, strerror(errno));
        return -1;
    }
    if (opts->queue_capacity > 0)
        fprintf(f, "queue: { capacity: %d }\n", opts->queue_capacity);
    if (opts->shutdown_timeout)
        fprintf(f, "shutdown_timeout: %s\n", opts->shutdown_timeout);
    fprintf(f, "sinks:\n");
    if (v->kind != VARIANT_ZMQSINK_STATSD)
        fprintf(f, "  - name: events\n    type: file\n    path: %s/zmqsink.jsonl\n"
                   "    format: json\n", opts->dir);
    if (v->kind == VARIANT_ZMQSINK3)
        fprintf(f, "  - name: syslog\n    type: syslog\n    transport: udp\n"
                   "    address: 127.0.0.1:%d\n", opts->udp_port);
    if (v->kind == VARIANT_ZMQSINK3 || v->kind == VARIANT_ZMQSINK_STATSD)
        fprintf(f, "  - name: metrics\n    type: statsd\n    address: 127.0.0.1:%d\n",
                opts->udp_port);
    if (fclose(f) != 0) {
        snprintf(err, errlen, "%s: %s", v->path, strerror(errno));
        return -1;
    }
    return 0;
}

/* The index in a socket name "s<index>", or -1. */
static int socket_index(const char *name)
{
    if (name[0] != 's')
        return -1;
    char *end;
    long index = strtol(name + 1, &end, 10);
    return *end || end == name + 1 ? -1 : (int)index;
}

static void latency_callback(const zmqsink_event_t *event, void *arg)
{
    int64_t received = clock_realtime_ns();
    const variant_options_t *opts = arg;
    opts->on_event(opts->on_event_arg, socket_index(event->socket), event->type,
                   received, event->time_ns);
}

/* A sink that never returns: the process ends around it. */
static void stuck_callback(const zmqsink_event_t *event, void *arg)
{
    (void)event;
    (void)arg;
    for (;;)
        pause();
}

static int zmqsink_variant_start(variant_t *v, char *err, size_t errlen)
{
    if (write_config(v, err, errlen) != 0)
        return -1;
    char why[1024] = "";
    int rc = zmqsink_start(&v->zs, v->ctx, v->path, 0, why, sizeof why);
    if (rc < 0) {
        snprintf(err, errlen, "zmqsink_start: %s (%s)", why, zmqsink_err_name(rc));
        return -1;
    }
    const variant_options_t *opts = v->opts;
    if (opts->on_event &&
        (rc = zmqsink_add_callback(v->zs, "latency", opts->on_event_mask,
                                   latency_callback, (void *)opts)) < 0) {
        snprintf(err, errlen, "zmqsink_add_callback: %s", zmqsink_err_name(rc));
        return -1;
    }
    if (v->kind == VARIANT_ZMQSINK_STUCK &&
        (rc = zmqsink_add_callback(v->zs, "stuck", ZMQSINK_EVENT_ALL,
                                   stuck_callback, NULL)) < 0) {
        snprintf(err, errlen, "zmqsink_add_callback: %s", zmqsink_err_name(rc));
        return -1;
    }
    return 0;
}

int variant_start(variant_t *v, char *err, size_t errlen)
{
    if (is_zmqsink(v))
        return zmqsink_variant_start(v, err, errlen);
    const consumer_ops_t *ops = consumer_of(v);
    if (!ops)
        return 0;
    snprintf(v->path, sizeof v->path, "%s/%s.jsonl", v->opts->dir, kind_names[v->kind]);
    if (!(v->out = fopen(v->path, "w"))) {
        snprintf(err, errlen, "%s: %s", v->path, strerror(errno));
        return -1;
    }
    return ops->start ? ops->start(v, err, errlen) : 0;
}

/* Makes room in v->sockets and v->monitors for index. */
static int reserve_socket(variant_t *v, int index, char *err, size_t errlen)
{
    if (index < v->sockets_cap)
        return 0;
    int cap = index + 1 > 2 * v->sockets_cap ? index + 1 : 2 * v->sockets_cap;
    void **sockets = realloc(v->sockets, (size_t)cap * sizeof *sockets);
    if (sockets)
        v->sockets = sockets;
    void **monitors = sockets ? realloc(v->monitors, (size_t)cap * sizeof *monitors) : NULL;
    if (!monitors) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    v->monitors = monitors;
    size_t added = (size_t)(cap - v->sockets_cap);
    memset(v->sockets + v->sockets_cap, 0, added * sizeof *sockets);
    memset(v->monitors + v->sockets_cap, 0, added * sizeof *monitors);
    v->sockets_cap = cap;
    return 0;
}

static int zmqsink_variant_attach(variant_t *v, void *socket, int index,
                                  char *err, size_t errlen)
{
    char name[32];
    snprintf(name, sizeof name, "s%d", index);
    int rc = zmqsink_attach(v->zs, socket, name);
    if (rc < 0) {
        snprintf(err, errlen, "zmqsink_attach(%s): %s (%s)", name,
                 zmqsink_err_name(rc), zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

int variant_attach(variant_t *v, void *socket, int index, char *err,
                   size_t errlen)
{
    if (index < 0 || !socket) {
        snprintf(err, errlen, "no socket, or a negative index");
        return -1;
    }
    if (reserve_socket(v, index, err, errlen) != 0)
        return -1;
    const consumer_ops_t *ops = consumer_of(v);
    int rc = is_zmqsink(v) ? zmqsink_variant_attach(v, socket, index, err, errlen)
             : ops         ? ops->attach(v, socket, index, err, errlen)
                           : 0;
    /* Only an attached socket is the variant's to close. */
    if (rc == 0) {
        v->sockets[index] = socket;
        if (index >= v->nsockets)
            v->nsockets = index + 1;
    }
    return rc;
}

int variant_begin(variant_t *v, char *err, size_t errlen)
{
    const consumer_ops_t *ops = consumer_of(v);
    if (!ops)
        return 0;
    int rc = pthread_create(&v->thread, NULL, ops->main, v);
    if (rc != 0) {
        snprintf(err, errlen, "%s: thread: %s", kind_names[v->kind], strerror(rc));
        return -1;
    }
    v->thread_started = true;
    return 0;
}

void consumer_join(variant_t *v)
{
    atomic_store(&v->give_up, true);
    if (v->thread_started)
        pthread_join(v->thread, NULL);
    v->thread_started = false;
}

void consumer_line(variant_t *v, const char *event, unsigned value,
                   const char *endpoint)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    char ts[40];
    size_t len = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + len, sizeof ts - len, ".%06ldZ", now.tv_nsec / 1000);
    fprintf(v->out, "{\"event\":\"%s\",\"value\":%u,\"endpoint\":\"%s\",\"ts\":\"%s\"}\n",
            event, value, endpoint, ts);
    atomic_fetch_add_explicit(&v->lines, 1, memory_order_relaxed);
}

/* Sums zmqsink's counters into *out; the first sink gives events. */
static void counts_from_stats(const zmqsink_stats_t *stats, variant_counts_t *out)
{
    out->decoded = stats->events;
    for (size_t i = 0; i < stats->nsinks && i < stats->sinks_cap; i++) {
        const zmqsink_sink_stats_t *sink = &stats->sinks[i];
        if (i == 0)
            out->events = sink->delivered;
        out->dropped_full += sink->dropped_full;
        out->dropped_shutdown += sink->dropped_shutdown;
        out->failed += sink->failed;
        if (strcmp(sink->name, "stuck") == 0)
            out->stuck_dropped = sink->dropped_full;
    }
}

void variant_counts_so_far(variant_t *v, variant_counts_t *out)
{
    memset(out, 0, sizeof *out);
    if (!v->zs) {
        out->events = atomic_load_explicit(&v->lines, memory_order_relaxed);
        return;
    }
    zmqsink_sink_stats_t sinks[ZMQSINK_MAX_SINKS];
    zmqsink_stats_t stats = {.sinks = sinks, .sinks_cap = ZMQSINK_MAX_SINKS};
    if (zmqsink_stats(v->zs, &stats) == 0)
        counts_from_stats(&stats, out);
}

uint64_t variant_events_so_far(variant_t *v)
{
    variant_counts_t counts;
    variant_counts_so_far(v, &counts);
    return counts.events;
}

int variant_reload(variant_t *v, char *err, size_t errlen)
{
    if (!v->zs) {
        snprintf(err, errlen, "only zmqsink reloads");
        return -1;
    }
    char why[1024] = "";
    int rc = zmqsink_reload(v->zs, v->path, why, sizeof why);
    if (rc < 0) {
        snprintf(err, errlen, "zmqsink_reload: %s (%s)", why, zmqsink_err_name(rc));
        return -1;
    }
    return 0;
}

void variant_close_sockets(variant_t *v)
{
    for (int i = 0; i < v->nsockets; i++)
        if (v->sockets[i]) {
            if (v->zs)
                zmqsink_socket_closed(v->zs, v->sockets[i]);
            zmq_close(v->sockets[i]);
            v->sockets[i] = NULL;
        }
}

/* Settle timeout: the last events of the closed sockets. */
#define SETTLE_TIMEOUT_MS 10000

static int zmqsink_variant_stop(variant_t *v, variant_counts_t *out, char *err,
                                size_t errlen)
{
    variant_close_sockets(v);
    int settled = zmqsink_settle(v->zs, v->ctx, SETTLE_TIMEOUT_MS);
    zmqsink_sink_stats_t sinks[ZMQSINK_MAX_SINKS];
    zmqsink_stats_t stats = {.sinks = sinks, .sinks_cap = ZMQSINK_MAX_SINKS};
    int64_t start = clock_monotonic_ns();
    zmqsink_destroy_stats(&v->zs, &stats);
    out->destroy_ms = (double)(clock_monotonic_ns() - start) / 1e6;
    counts_from_stats(&stats, out);
    if (settled < 0) {
        snprintf(err, errlen, "zmqsink_settle: %s after %d ms",
                 zmqsink_err_name(settled), SETTLE_TIMEOUT_MS);
        return -1;
    }
    return 0;
}

int variant_stop(variant_t *v, variant_counts_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (v->zs)
        return zmqsink_variant_stop(v, out, err, errlen);
    const consumer_ops_t *ops = consumer_of(v);
    if (!ops) {
        variant_close_sockets(v);
        return 0;
    }
    int rc = ops->stop(v, out, err, errlen);
    fflush(v->out);
    out->events = atomic_load(&v->lines);
    return rc;
}

void variant_destroy(variant_t **vp)
{
    variant_t *v = *vp;
    if (!v)
        return;
    const consumer_ops_t *ops = consumer_of(v);
    consumer_join(v);
    if (ops)
        ops->free(v);
    if (v->out)
        fclose(v->out);
    if (v->zs)
        zmqsink_destroy(&v->zs);
    variant_close_sockets(v);
#ifdef HAVE_CZMQ
    if (v->kind == VARIANT_ZMONITOR)
        zsys_shutdown();
    else
#endif
        zmq_ctx_term(v->ctx);
    free(v->sockets);
    free(v->monitors);
    free(v);
    *vp = NULL;
}
