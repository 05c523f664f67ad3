/* The prometheus sink: counts events per socket and serves them, with the
 * sinks' own counters, on /metrics in Prometheus' text exposition format
 * (0.0.4), over HTTP served by libmicrohttpd.
 *
 * Metrics (every series also carries the `labels:` of the sink):
 *   zmqsink_events_total{socket,event}             counter, every event
 *   zmqsink_event_reasons_total{socket,event,reason}
 *                                                  counter, the events with
 *                                                  a reason (failures), by
 *                                                  zmqsink_event_reason()
 *   zmqsink_connections{socket}                    gauge, live connections
 *   zmqsink_connection_duration_seconds{socket}    histogram of the
 *                                                  connections that ended
 *   zmqsink_sink_events_total{sink,outcome}        counter, each sink's
 *                                                  delivered, dropped and
 *                                                  failed events
 *   zmqsink_sink_queue_depth{sink}                 gauge, events in its ring
 *   zmqsink_sockets_attached                       gauge, sockets monitored
 *   zmqsink_build_info{version,libzmq,monitor}     gauge, always 1
 * Every counter of a socket seen starts at 0 for every event type, so that
 * rate() and increase() see the first event. zmqsink_events_total counts
 * every event, those with a reason included: the reasons are a breakdown.
 *
 * Threads. write() and tick() run on the sink's thread: they update the
 * tables, which only that thread touches, and render the exposition into a
 * fresh buffer (at most every 100 ms while events arrive, and every second
 * for the sinks' counters, which sink_counters() gives on this thread
 * only). The buffer is published by swapping a pointer under a mutex;
 * libmicrohttpd's own thread takes a reference to the current buffer under
 * that mutex and answers from it. A scrape therefore sees one consistent
 * snapshot, at most 100 ms old, never waits for the sink, and the sink
 * never waits for a scrape.
 *
 * Bounds. At most max_sockets socket names have series of their own; the
 * events of the others are counted under socket="_other". A socket whose
 * last event is older than expire_after and that has no live connection
 * loses its series. Reasons per socket are bounded (REASONS_MAX; past it,
 * reason="_other"). A rendering longer than max_response leaves out the
 * sockets that do not fit (logged once); the sinks' metrics always fit.
 *
 * Several processes. With `listen: 127.0.0.1:0` each process binds a port
 * of its own. With targets_file, each adds itself to that Prometheus file_sd
 * file, [{"targets":["HOST:PORT"],"labels":{"zmqsink_pid":"PID"}}, ...], at
 * open and removes itself at close; each change holds flock() on
 * "<targets_file>.lock" and replaces the file by rename(), and drops the
 * entries of processes that no longer exist (killed without closing). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <microhttpd.h>
#include <zmq.h>

#include <zmqsink.h>
#include <zmqsink/plugin.h>
#include "bytes.h"
#include "clock.h"
#include "names.h"
#include "once.h"

#define TABLE_INITIAL 16
#define REASONS_MAX 16
#define OTHER "_other"
#define RENDER_MIN_NS (100 * CLOCK_NS_PER_MS) /* between two renderings */
#define SINKS_REFRESH_NS CLOCK_NS_PER_S       /* sinks' counters, idle too */
#define LABELS_MAX 1024                       /* the rendered labels: */
#define LABEL_VALUE_MAX 256                   /* each value, as written */
#define LISTEN_HOST_MAX 256                   /* HOST of listen */
#define TARGETS_PATH_MAX 4096

/* Upper bounds of the duration histogram, in seconds: from a connection
 * refused at once to one that lived a day. */
static const double duration_buckets[] = {0.001, 0.01, 0.1, 1, 10, 60,
                                          600, 3600, 86400};
#define BUCKETS (sizeof duration_buckets / sizeof duration_buckets[0])

/* The events of one type with one reason, on one socket. */
struct reason_count {
    const char *reason; /* static (zmqsink_event_reason()) */
    int type_index;
    uint64_t n;
};

/* What one socket name adds up to, since it was first seen. */
struct socket_metrics {
    char name[ZMQSINK_SOCKET_NAME_MAX]; /* "" marks a free slot */
    uint64_t counts[ZMQSINK_EVENT_TYPES];
    struct reason_count reasons[REASONS_MAX];
    size_t nreasons;
    uint64_t other_reasons[ZMQSINK_EVENT_TYPES]; /* past REASONS_MAX, by type */
    int64_t connections;
    uint64_t buckets[BUCKETS]; /* not cumulative: rendered cumulative */
    uint64_t durations;        /* count */
    double duration_sum_s;
    int64_t last_event_ns;
};

/* A rendered exposition, shared between the sink and the scrapes. */
struct exposition {
    atomic_int refs;
    size_t len;
    char text[];
};

struct prom_sink {
    const zmqsink_host_t *host;
    char labels[LABELS_MAX]; /* `k="v",` for each configured label */
    size_t max_sockets, max_response;
    int64_t expire_ns;
    int64_t idle_since_ns; /* for expire_sockets(): a socket whose last
                              event is not later expires */

    struct socket_metrics *sockets; /* open addressing, power of two */
    size_t nsockets, capacity;
    struct socket_metrics other;    /* the sockets past max_sockets */

    int64_t last_render_ns, last_sinks_ns;
    bool dirty, nomem_logged, truncated_logged;
    char build_info[512];

    pthread_mutex_t lock; /* guards current, only for the swap */
    struct exposition *current;
    struct MHD_Daemon *daemon;
    int listen_fd;
    char target[300]; /* HOST:PORT as Prometheus reaches it */
    char targets_file[TARGETS_PATH_MAX];
    bool registered;
};

/* ---- text ---- */

static void exposition_release(struct exposition *e)
{
    if (e && atomic_fetch_sub(&e->refs, 1) == 1)
        free(e);
}

/* The rendering: one check for memory at its end. */
struct text {
    bytes_t bytes;
    bool failed;
};

#define text_printf(t, ...) bytes_printf(&(t)->bytes, &(t)->failed, __VA_ARGS__)

/* Writes a label value escaped as the format wants (backslash, quote,
 * newline), with control bytes and bytes outside ASCII as '_': a socket
 * name is any bytes, and the exposition must be UTF-8. */
static void escape_value(char *dst, size_t cap, const char *src)
{
    size_t o = 0;
    for (; *src && o + 3 < cap; src++) {
        unsigned char c = (unsigned char)*src;
        if (c == '\\' || c == '"') {
            dst[o++] = '\\';
            dst[o++] = (char)c;
        } else if (c == '\n') {
            dst[o++] = '\\';
            dst[o++] = 'n';
        } else {
            dst[o++] = c < 0x20 || c >= 0x7f ? '_' : (char)c;
        }
    }
    dst[o] = '\0';
}

/* Whether text is a label name: [a-zA-Z_][a-zA-Z0-9_]*, not starting with
 * "__" (reserved). */
static bool label_name_valid(const char *text)
{
    if (!*text || strncmp(text, "__", 2) == 0)
        return false;
    for (const char *c = text; *c; c++) {
        bool letter = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                      *c == '_';
        if (!letter && !(c > text && *c >= '0' && *c <= '9'))
            return false;
    }
    return true;
}

/* ---- the table of sockets ---- */

/* Rebuilds the table at capacity, keeping the sockets keep() accepts. */
static int table_rebuild(struct prom_sink *s, size_t capacity,
                         bool (*keep)(const void *entry, void *sink))
{
    void *table = s->sockets;
    long kept = names_rebuild(&table, &s->capacity, sizeof *s->sockets,
                              capacity, keep, s);
    if (kept < 0)
        return -1;
    s->sockets = table;
    s->nsockets = (size_t)kept;
    return 0;
}

/* The metrics of a socket name: added if new, "_other" past max_sockets,
 * NULL when out of memory. */
static struct socket_metrics *socket_metrics(struct prom_sink *s,
                                             const char *name)
{
    struct socket_metrics *m =
        names_slot(s->sockets, s->capacity, sizeof *s->sockets, name);
    if (m->name[0])
        return m;
    if (s->nsockets >= s->max_sockets) {
        snprintf(s->other.name, sizeof s->other.name, OTHER);
        return &s->other;
    }
    if ((s->nsockets + 1) * 2 > s->capacity) {
        if (table_rebuild(s, s->capacity * 2, NULL) < 0)
            return NULL;
        m = names_slot(s->sockets, s->capacity, sizeof *s->sockets, name);
    }
    snprintf(m->name, sizeof m->name, "%s", name);
    s->nsockets++;
    return m;
}

static bool not_expired(const void *entry, void *sink)
{
    const struct socket_metrics *m = entry;
    const struct prom_sink *s = sink;
    return m->connections > 0 || m->last_event_ns > s->idle_since_ns;
}

/* Drops the series of the sockets idle for expire_after. */
static void expire_sockets(struct prom_sink *s, int64_t now_ns)
{
    s->idle_since_ns = now_ns - s->expire_ns;
    size_t kept = 0;
    for (size_t i = 0; i < s->capacity; i++)
        kept += s->sockets[i].name[0] && not_expired(&s->sockets[i], s);
    if (kept < s->nsockets &&
        table_rebuild(s, names_capacity(kept, TABLE_INITIAL), not_expired) == 0)
        s->dirty = true; /* the table shrinks as well */
}

/* ---- counting ---- */

static void count_reason(struct socket_metrics *m, int type_index,
                         const char *reason)
{
    for (size_t i = 0; i < m->nreasons; i++) {
        struct reason_count *r = &m->reasons[i];
        if (r->type_index == type_index && strcmp(r->reason, reason) == 0) {
            r->n++;
            return;
        }
    }
    if (m->nreasons == REASONS_MAX)
        m->other_reasons[type_index]++; /* rendered as reason="_other" */
    else
        m->reasons[m->nreasons++] =
            (struct reason_count){reason, type_index, 1};
}

static void add_duration(struct socket_metrics *m, int64_t ms)
{
    double seconds = (double)ms / 1000.0;
    for (size_t b = 0; b < BUCKETS; b++)
        if (seconds <= duration_buckets[b]) {
            m->buckets[b]++;
            break;
        }
    m->durations++;
    m->duration_sum_s += seconds;
}

/* A connection opens on accepted and connected, and closes on the closing
 * event that carries its duration (see plugins/statsd/statsd.c for why);
 * monitor_stopped ends them all. */
static void count_event(struct prom_sink *s, const zmqsink_event_t *ev)
{
    int index = ev->type ? __builtin_ctz(ev->type) : ZMQSINK_EVENT_TYPES;
    if (index >= ZMQSINK_EVENT_TYPES || ev->type != 1u << index)
        return; /* a type newer than this plugin */
    struct socket_metrics *m = socket_metrics(s, ev->socket);
    if (!m) {
        if (once_failed(&s->nomem_logged))
            s->host->log(s->host, ZMQSINK_SEV_ERR,
                         "out of memory: events of socket '%s' not counted",
                         ev->socket);
        s->host->count_failed(s->host, 1, "nomem");
        return;
    }
    m->counts[index]++;
    m->last_event_ns = clock_now_ns();
    const char *reason = zmqsink_event_reason(ev);
    if (reason)
        count_reason(m, index, reason);
    if (ev->type == ZMQSINK_EVENT_ACCEPTED ||
        ev->type == ZMQSINK_EVENT_CONNECTED) {
        m->connections++;
    } else if ((ev->type == ZMQSINK_EVENT_DISCONNECTED ||
                ev->type == ZMQSINK_EVENT_CLOSED) &&
               ev->duration_ms >= 0) {
        if (m->connections > 0)
            m->connections--;
        add_duration(m, ev->duration_ms);
    } else if (ev->type == ZMQSINK_EVENT_MONITOR_STOPPED) {
        m->connections = 0;
    }
}

/* ---- rendering ---- */

static void family(struct text *t, const char *name, const char *type,
                   const char *help)
{
    text_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The sockets to render: those of the table, then "_other" if used. */
static size_t socket_list(struct prom_sink *s,
                          const struct socket_metrics **list)
{
    size_t n = 0;
    for (size_t i = 0; i < s->capacity; i++)
        if (s->sockets[i].name[0])
            list[n++] = &s->sockets[i];
    if (s->other.name[0])
        list[n++] = &s->other;
    return n;
}

static void render_sockets(struct prom_sink *s, struct text *t,
                           const struct socket_metrics **list, size_t n)
{
    char name[2 * ZMQSINK_SOCKET_NAME_MAX + 4];
    family(t, "zmqsink_events_total", "counter",
           "Socket monitor events, by socket and event.");
    for (size_t i = 0; i < n; i++) {
        escape_value(name, sizeof name, list[i]->name);
        for (int k = 0; k < ZMQSINK_EVENT_TYPES; k++)
            text_printf(t, "zmqsink_events_total{%ssocket=\"%s\",event=\"%s\"}"
                        " %llu\n", s->labels, name, zmqsink_event_name(1u << k),
                        (unsigned long long)list[i]->counts[k]);
    }
    family(t, "zmqsink_event_reasons_total", "counter",
           "Failure events by their reason (errno, protocol error or ZAP "
           "status).");
    for (size_t i = 0; i < n; i++) {
        escape_value(name, sizeof name, list[i]->name);
        for (size_t r = 0; r < list[i]->nreasons; r++) {
            const struct reason_count *rc = &list[i]->reasons[r];
            text_printf(t, "zmqsink_event_reasons_total{%ssocket=\"%s\","
                        "event=\"%s\",reason=\"%s\"} %llu\n", s->labels, name,
                        zmqsink_event_name(1u << rc->type_index), rc->reason,
                        (unsigned long long)rc->n);
        }
        for (int k = 0; k < ZMQSINK_EVENT_TYPES; k++)
            if (list[i]->other_reasons[k])
                text_printf(t, "zmqsink_event_reasons_total{%ssocket=\"%s\","
                            "event=\"%s\",reason=\"" OTHER "\"} %llu\n",
                            s->labels, name, zmqsink_event_name(1u << k),
                            (unsigned long long)list[i]->other_reasons[k]);
    }
    family(t, "zmqsink_connections", "gauge",
           "Live connections of the socket.");
    for (size_t i = 0; i < n; i++) {
        escape_value(name, sizeof name, list[i]->name);
        text_printf(t, "zmqsink_connections{%ssocket=\"%s\"} %lld\n",
                    s->labels, name, (long long)list[i]->connections);
    }
    family(t, "zmqsink_connection_duration_seconds", "histogram",
           "Lifetime of the connections that ended.");
    for (size_t i = 0; i < n; i++) {
        const struct socket_metrics *m = list[i];
        escape_value(name, sizeof name, m->name);
        uint64_t cumulative = 0;
        for (size_t b = 0; b < BUCKETS; b++) {
            cumulative += m->buckets[b];
            text_printf(t, "zmqsink_connection_duration_seconds_bucket{%s"
                        "socket=\"%s\",le=\"%g\"} %llu\n", s->labels, name,
                        duration_buckets[b], (unsigned long long)cumulative);
        }
        text_printf(t, "zmqsink_connection_duration_seconds_bucket{%s"
                    "socket=\"%s\",le=\"+Inf\"} %llu\n", s->labels, name,
                    (unsigned long long)m->durations);
        text_printf(t, "zmqsink_connection_duration_seconds_sum{%s"
                    "socket=\"%s\"} %.17g\n", s->labels, name,
                    m->duration_sum_s);
        text_printf(t, "zmqsink_connection_duration_seconds_count{%s"
                    "socket=\"%s\"} %llu\n", s->labels, name,
                    (unsigned long long)m->durations);
    }
}

/* The sinks' counters, read here: sink_counters() is for the sink's
 * thread. */
static void render_sinks(struct prom_sink *s, struct text *t)
{
    const zmqsink_host_t *host = s->host;
    if (host->abi_minor < 4 || !host->sink_counters)
        return;
    const char *sink;
    zmqsink_counters_t c;
    char name[2 * ZMQSINK_SOCKET_NAME_MAX + 4];
    size_t n = host->sink_counters(host, 0, &sink, &c);
    struct text depth = {0};
    family(t, "zmqsink_sink_events_total", "counter",
           "Events routed to each sink, by outcome.");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            host->sink_counters(host, i, &sink, &c);
        escape_value(name, sizeof name, sink);
        const char *words[] = {"delivered", "dropped", "failed"};
        uint64_t values[] = {c.delivered, c.dropped, c.failed};
        for (int k = 0; k < 3; k++)
            text_printf(t, "zmqsink_sink_events_total{%ssink=\"%s\","
                        "outcome=\"%s\"} %llu\n", s->labels, name, words[k],
                        (unsigned long long)values[k]);
        text_printf(&depth, "zmqsink_sink_queue_depth{%ssink=\"%s\"} %llu\n",
                    s->labels, name, (unsigned long long)c.queued);
    }
    family(t, "zmqsink_sink_queue_depth", "gauge",
           "Events waiting in each sink's ring.");
    if (depth.failed)
        t->failed = true;
    else
        bytes_put(&t->bytes, depth.bytes.data, depth.bytes.len, &t->failed);
    bytes_free(&depth.bytes);
}

static void render_attached(struct prom_sink *s, struct text *t)
{
    unsigned long long n = s->host->sockets_attached(s->host);
    size_t labels = strlen(s->labels); /* each label ends with ',' */
    family(t, "zmqsink_sockets_attached", "gauge",
           "Sockets whose monitor zmqsink reads now.");
    if (labels)
        text_printf(t, "zmqsink_sockets_attached{%.*s} %llu\n",
                    (int)labels - 1, s->labels, n);
    else
        text_printf(t, "zmqsink_sockets_attached %llu\n", n);
}

/* Renders everything with at most max_listed sockets into a new
 * exposition; NULL when out of memory. */
static struct exposition *render_with(struct prom_sink *s,
                                      const struct socket_metrics **list,
                                      size_t n)
{
    struct text t = {0};
    if (bytes_reserve(&t.bytes, sizeof(struct exposition) + 4096) < 0)
        return NULL;
    t.bytes.len = sizeof(struct exposition); /* the header, filled last */
    family(&t, "zmqsink_build_info", "gauge",
           "zmqsink's version, libzmq's, and the monitor protocol read.");
    text_printf(&t, "zmqsink_build_info{%s%s} 1\n", s->labels, s->build_info);
    render_attached(s, &t);
    render_sinks(s, &t);
    render_sockets(s, &t, list, n);
    if (t.failed) {
        bytes_free(&t.bytes);
        return NULL;
    }
    struct exposition *e = (struct exposition *)t.bytes.data;
    atomic_init(&e->refs, 1);
    e->len = t.bytes.len - sizeof *e;
    return e;
}

/* Renders and publishes a new snapshot. Past max_response, halves the
 * sockets listed until it fits. */
static void render(struct prom_sink *s, int64_t now_ns)
{
    const struct socket_metrics **list =
        malloc((s->nsockets + 1) * sizeof *list);
    if (!list)
        return;
    size_t n = socket_list(s, list);
    struct exposition *e = render_with(s, list, n);
    while (e && e->len > s->max_response && n > 0) {
        exposition_release(e);
        n /= 2;
        e = render_with(s, list, n);
        if (once_failed(&s->truncated_logged))
            s->host->log(s->host, ZMQSINK_SEV_WARNING,
                         "the metrics of %zu sockets exceed max_response "
                         "(%zu bytes): serving those of %zu; raise "
                         "max_response or lower max_sockets",
                         s->nsockets, s->max_response, n);
    }
    free(list);
    if (!e)
        return;
    pthread_mutex_lock(&s->lock);
    struct exposition *old = s->current;
    s->current = e;
    pthread_mutex_unlock(&s->lock);
    exposition_release(old);
    s->last_render_ns = now_ns;
    s->last_sinks_ns = now_ns;
    s->dirty = false;
}

/* ---- HTTP, on libmicrohttpd's thread ---- */

static void response_done(void *cls)
{
    exposition_release(cls);
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *connection,
                              const char *url, const char *method,
                              const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    struct prom_sink *s = cls;
    (void)version, (void)upload_data, (void)con_cls;
    if (*upload_data_size)
        return MHD_NO; /* no request of ours has a body */
    struct MHD_Response *response;
    unsigned status = MHD_HTTP_OK;
    const char *type = "text/plain; version=0.0.4; charset=utf-8";
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        static const char text[] = "only GET and HEAD\n";
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        response = MHD_create_response_from_buffer(
            sizeof text - 1, (void *)text, MHD_RESPMEM_PERSISTENT);
    } else if (strcmp(url, "/metrics") != 0) {
        static const char text[] = "zmqsink: the metrics are on /metrics\n";
        status = MHD_HTTP_NOT_FOUND;
        response = MHD_create_response_from_buffer(
            sizeof text - 1, (void *)text, MHD_RESPMEM_PERSISTENT);
    } else {
        pthread_mutex_lock(&s->lock);
        struct exposition *e = s->current;
        atomic_fetch_add(&e->refs, 1);
        pthread_mutex_unlock(&s->lock);
        response = MHD_create_response_from_buffer_with_free_callback_cls(
            e->len, e->text, response_done, e);
        if (!response)
            exposition_release(e);
    }
    if (!response)
        return MHD_NO;
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result rc = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    return rc;
}

/* ---- listening ---- */

/* Splits "host:port" or "[v6]:port" (port 0: any free one) without
 * looking anything up. Returns 0, or -1 with a message in err. */
static int split_listen(const char *address, char *host, size_t cap,
                        const char **port, char *err, size_t len)
{
    const char *colon = NULL;
    int n = -1;
    if (address[0] == '[') {
        const char *close = strchr(address, ']');
        if (close && close[1] == ':') {
            colon = close + 1;
            n = snprintf(host, cap, "%.*s", (int)(close - address - 1),
                         address + 1);
        }
    } else if ((colon = strrchr(address, ':'))) {
        n = snprintf(host, cap, "%.*s", (int)(colon - address), address);
    }
    long number = -1;
    if (colon) {
        char *end;
        *port = colon + 1;
        number = strtol(*port, &end, 10);
        if ((*port)[0] < '0' || (*port)[0] > '9' || *end)
            number = -1;
    }
    if (n <= 0 || (size_t)n >= cap || number < 0 || number > 65535) {
        snprintf(err, len, "listen '%s': expected HOST:PORT or [IPV6]:PORT "
                 "(port 0: any free port)", address);
        return -1;
    }
    return 0;
}

/* Where Prometheus reaches this process: the listening address, loopback
 * for a wildcard one. */
static void set_target(struct prom_sink *s, const struct sockaddr_storage *a)
{
    char host[INET6_ADDRSTRLEN] = "127.0.0.1";
    unsigned port;
    if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *)a;
        if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr))
            snprintf(host, sizeof host, "::1");
        else
            inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
        snprintf(s->target, sizeof s->target, "[%s]:%u", host, port);
    } else {
        const struct sockaddr_in *in = (const void *)a;
        if (in->sin_addr.s_addr != htonl(INADDR_ANY))
            inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
        snprintf(s->target, sizeof s->target, "%s:%u", host, port);
    }
}

/* Binds the listening socket itself, so that port 0 works and [::] takes
 * IPv4 too (dual stack). */
static int open_listener(struct prom_sink *s, const char *address,
                         char *err, size_t len)
{
    char host[LISTEN_HOST_MAX];
    const char *port;
    if (split_listen(address, host, sizeof host, &port, err, len) < 0)
        return -1;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *found;
    int rc = getaddrinfo(host, port, &hints, &found);
    if (rc != 0) {
        snprintf(err, len, "listen '%s': %s", address, gai_strerror(rc));
        return -1;
    }
    int fd = socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC, 0);
    int on = 1, off = 0;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        if (found->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    }
    if (fd < 0 || bind(fd, found->ai_addr, found->ai_addrlen) < 0 ||
        listen(fd, 64) < 0) {
        snprintf(err, len, "listen '%s': %s", address, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(found);
        return -1;
    }
    freeaddrinfo(found);
    struct sockaddr_storage bound;
    socklen_t bound_len = sizeof bound;
    getsockname(fd, (struct sockaddr *)&bound, &bound_len);
    set_target(s, &bound);
    s->listen_fd = fd;
    s->host->own_fd(s->host, fd, 1); /* no child keeps the port bound */
    return 0;
}

/* ---- the file_sd targets file ---- */

/* The pid of an entry line of ours, or 0. */
static long entry_pid(const char *line)
{
    const char *pid = strstr(line, "\"zmqsink_pid\":\"");
    return pid ? strtol(pid + strlen("\"zmqsink_pid\":\""), NULL, 10) : 0;
}

/* Rewrites the targets file from its entries of living processes other
 * than this one, with this one's added when add is true. One entry per
 * line, which is how entries are read back: the file belongs to zmqsink. */
static int targets_rewrite(struct prom_sink *s, FILE *in, FILE *out, bool add)
{
    char line[1024];
    long self = (long)getpid();
    bool first = true;
    fputs("[\n", out);
    while (in && fgets(line, sizeof line, in)) {
        long pid = entry_pid(line);
        if (pid <= 0 || pid == self || (kill((pid_t)pid, 0) < 0 &&
                                        errno == ESRCH))
            continue; /* not an entry, ours, or of a process gone */
        const char *brace = strchr(line, '{'), *end = strrchr(line, '}');
        if (!brace || !end)
            continue;
        fprintf(out, "%s%.*s", first ? "" : ",\n", (int)(end + 1 - brace),
                brace);
        first = false;
    }
    if (add) {
        fprintf(out, "%s{\"targets\":[\"%s\"],\"labels\":{\"zmqsink_pid\":"
                "\"%ld\"}}", first ? "" : ",\n", s->target, self);
        first = false;
    }
    fputs(first ? "]\n" : "\n]\n", out);
    return fflush(out) == 0 && fsync(fileno(out)) == 0 ? 0 : -1;
}

/* Adds or removes this process's entry, under flock() of the lock file,
 * through a temporary file renamed over the targets file. The lock's fd is
 * owned (a forked child closes its copy, so that the lock goes with this
 * process's close), and fork() is held off only while it is opened: the
 * wait for the lock and the writing go on with fork() free. */
static int targets_update(struct prom_sink *s, bool add, char *err,
                          size_t len)
{
    char lock_path[TARGETS_PATH_MAX + 8], tmp_path[TARGETS_PATH_MAX + 32];
    snprintf(lock_path, sizeof lock_path, "%s.lock", s->targets_file);
    snprintf(tmp_path, sizeof tmp_path, "%s.tmp.%ld", s->targets_file,
             (long)getpid());
    int rc = -1;
    s->host->fork_hold(s->host);
    int lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock >= 0 && s->host->own_fd(s->host, lock, 1) != 0) {
        close(lock);
        lock = -1;
        errno = ENOMEM;
    }
    s->host->fork_release(s->host);
    if (lock < 0 || flock(lock, LOCK_EX) < 0) {
        snprintf(err, len, "targets_file: cannot lock '%s': %s", lock_path,
                 strerror(errno));
        goto done;
    }
    FILE *in = fopen(s->targets_file, "re");
    FILE *out = fopen(tmp_path, "we");
    if (!out) {
        snprintf(err, len, "targets_file: cannot write '%s': %s", tmp_path,
                 strerror(errno));
    } else if (targets_rewrite(s, in, out, add) < 0 || fclose(out) != 0 ||
               rename(tmp_path, s->targets_file) < 0) {
        snprintf(err, len, "targets_file: cannot write '%s': %s",
                 s->targets_file, strerror(errno));
        unlink(tmp_path);
        out = NULL;
    } else {
        out = NULL;
        rc = 0;
    }
    if (out)
        fclose(out);
    if (in)
        fclose(in);
done:
    if (lock >= 0)
        s->host->close_fd(s->host, lock); /* releases the lock */
    return rc;
}

/* ---- callbacks ---- */

/* Asks for the next tick: soon after events (at most every RENDER_MIN_NS),
 * else when the sinks' counters are due. */
static void request_tick(struct prom_sink *s)
{
    int64_t when = s->last_sinks_ns + SINKS_REFRESH_NS;
    if (s->dirty && s->last_render_ns + RENDER_MIN_NS < when)
        when = s->last_render_ns + RENDER_MIN_NS;
    s->host->tick_at(s->host, when);
}

static zmqsink_write_result_t prom_write(void *state,
                                         const zmqsink_event_t *events,
                                         size_t n)
{
    struct prom_sink *s = state;
    for (size_t i = 0; i < n; i++)
        count_event(s, &events[i]);
    s->dirty = true;
    int64_t now = clock_now_ns();
    if (now - s->last_render_ns >= RENDER_MIN_NS)
        render(s, now);
    request_tick(s);
    return ZMQSINK_WRITE_OK;
}

static void prom_tick(void *state, int64_t now_ns)
{
    struct prom_sink *s = state;
    expire_sockets(s, now_ns);
    if ((s->dirty && now_ns - s->last_render_ns >= RENDER_MIN_NS) ||
        now_ns - s->last_sinks_ns >= SINKS_REFRESH_NS)
        render(s, now_ns);
    request_tick(s);
}

static void prom_close(void *state)
{
    struct prom_sink *s = state;
    if (!s)
        return;
    if (s->daemon) {
        /* Quiesced, the daemon leaves the listening socket to us, to
         * close it as an fd given to own_fd(). */
        MHD_socket fd = MHD_quiesce_daemon(s->daemon);
        if (fd == MHD_INVALID_SOCKET)
            s->host->own_fd(s->host, s->listen_fd, 0);
        MHD_stop_daemon(s->daemon); /* joins its thread: no scrape after */
        if (fd != MHD_INVALID_SOCKET)
            s->host->close_fd(s->host, fd);
    } else if (s->listen_fd >= 0) {
        s->host->close_fd(s->host, s->listen_fd);
    }
    if (s->registered) {
        char err[512];
        if (targets_update(s, false, err, sizeof err) < 0)
            s->host->log(s->host, ZMQSINK_SEV_WARNING, "%s", err);
    }
    exposition_release(s->current);
    pthread_mutex_destroy(&s->lock);
    free(s->sockets);
    free(s);
}

/* Renders the `labels:` map as `k="v",` into out (cap bytes). Returns 0,
 * or -1 with a message in err and *item the index of the entry at
 * fault. */
static int labels_render(const zmqsink_host_t *host, char *out, size_t cap,
                         long *item, char *err, size_t len)
{
    static const char *const reserved[] = {"socket", "event", "reason",
                                           "sink", "outcome", "le",
                                           "version", "libzmq", "monitor"};
    const char *const *keys, *const *values;
    size_t n = host->option_map(host, "labels", &keys, &values);
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        *item = (long)i;
        if (!label_name_valid(keys[i])) {
            snprintf(err, len, "labels: '%s' is not a label name "
                     "([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)",
                     keys[i]);
            return -1;
        }
        for (size_t r = 0; r < sizeof reserved / sizeof *reserved; r++)
            if (strcmp(keys[i], reserved[r]) == 0) {
                snprintf(err, len, "labels: '%s' is a label of the sink's "
                         "own metrics: choose another name", keys[i]);
                return -1;
            }
        if (strlen(values[i]) > LABEL_VALUE_MAX) {
            snprintf(err, len, "labels: the value of '%s' is longer than %d "
                     "bytes", keys[i], LABEL_VALUE_MAX);
            return -1;
        }
        /* Escaping at most doubles a value, and escape_value() stops three
         * bytes before the end of its buffer: a value that passed fits. */
        char value[2 * LABEL_VALUE_MAX + 4];
        escape_value(value, sizeof value, values[i]);
        int w = snprintf(out + used, cap - used, "%s=\"%s\",", keys[i], value);
        if (w < 0 || (size_t)w >= cap - used) {
            out[used] = '\0';
            snprintf(err, len, "labels: at most %zu bytes in all", cap - 1);
            return -1;
        }
        used += (size_t)w;
    }
    return 0;
}

static void read_build_info(struct prom_sink *s)
{
    int major, minor, patch;
    zmq_version(&major, &minor, &patch);
    snprintf(s->build_info, sizeof s->build_info,
             "version=\"%s\",libzmq=\"%d.%d.%d\",monitor=\"%d\"",
             zmqsink_version_string(), major, minor, patch,
             zmqsink_monitor_version());
}

static int start_daemon(struct prom_sink *s, char *err, size_t len)
{
    s->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ITC, 0, NULL,
        NULL, answer,
        s, MHD_OPTION_LISTEN_SOCKET, s->listen_fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (!s->daemon) {
        snprintf(err, len, "cannot start the HTTP server on %s", s->target);
        return -1;
    }
    return 0;
}

/* The targets_file, resolved into out (cap bytes; "" without one).
 * Returns 0, or -1 with a message in err. */
static int targets_path(const zmqsink_host_t *host, char *out, size_t cap,
                        char *err, size_t len)
{
    const char *targets = host->option_string(host, "targets_file");
    out[0] = '\0';
    if (targets && targets[0] &&
        host->resolve_path(host, targets, out, cap) < 0) {
        snprintf(err, len, "targets_file: path too long");
        return -1;
    }
    return 0;
}

static void *prom_open(const zmqsink_host_t *host, char *err, size_t len)
{
    struct prom_sink *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, len, "out of memory");
        return NULL;
    }
    s->host = host;
    s->listen_fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    s->max_sockets = (size_t)host->option_int(host, "max_sockets");
    s->max_response = (size_t)host->option_int(host, "max_response");
    s->expire_ns = host->option_int(host, "expire_after") * CLOCK_NS_PER_MS;
    read_build_info(s);
    if (targets_path(host, s->targets_file, sizeof s->targets_file, err,
                     len) < 0)
        goto err;
    if (table_rebuild(s, TABLE_INITIAL, NULL) < 0) {
        snprintf(err, len, "out of memory");
        goto err;
    }
    long item;
    if (labels_render(host, s->labels, sizeof s->labels, &item, err, len) < 0)
        goto err;
    render(s, clock_now_ns());
    if (!s->current) {
        snprintf(err, len, "out of memory");
        goto err;
    }
    if (open_listener(s, host->option_string(host, "listen"), err, len) < 0 ||
        start_daemon(s, err, len) < 0)
        goto err;
    if (s->targets_file[0]) {
        if (targets_update(s, true, err, len) < 0)
            goto err;
        s->registered = true;
    }
    host->log(host, ZMQSINK_SEV_INFO, "serving /metrics on %s", s->target);
    request_tick(s);
    return s;
err:
    prom_close(s);
    return NULL;
}

static const zmqsink_option_t prom_options[] = {
    { .key = "listen", .type = ZMQSINK_OPT_STRING,
      .fallback = "127.0.0.1:9465",
      .help = "HOST:PORT or [IPV6]:PORT to serve /metrics on ([::]: IPv6 and "
              "IPv4; port 0: any free port, see targets_file)" },
    { .key = "labels", .type = ZMQSINK_OPT_MAP,
      .help = "labels added to every series" },
    { .key = "targets_file", .type = ZMQSINK_OPT_STRING,
      .help = "Prometheus file_sd file this process adds itself to while it "
              "runs (for several processes, each on its own port)" },
    { .key = "max_sockets", .type = ZMQSINK_OPT_INT, .fallback = "1000",
      .min = 1, .max = 100000,
      .help = "socket names with series of their own; the others count as "
              "socket=\"_other\"" },
    { .key = "expire_after", .type = ZMQSINK_OPT_DURATION, .fallback = "1h",
      .min = 1000, .max = 2000000LL * 3600 * 1000, /* 2000000h: in ns, fits */
      .help = "a socket without events and live connections for this long "
              "loses its series" },
    { .key = "max_response", .type = ZMQSINK_OPT_SIZE, .fallback = "8MiB",
      .min = 65536, .max = 1073741824,
      .help = "largest /metrics answer; past it, sockets are left out" },
    { 0 }
};

/* The labels, the listen address's form and the targets_file's path, in
 * `zmqsink check` already: open() refuses them alike, and looks the
 * address up only then. */
static int prom_check(const zmqsink_host_t *host, const char **key,
                      long *item, char *err, size_t len)
{
    char labels[LABELS_MAX], listen_host[LISTEN_HOST_MAX],
        targets[TARGETS_PATH_MAX];
    const char *port;
    *key = "labels";
    if (labels_render(host, labels, sizeof labels, item, err, len) < 0)
        return -1;
    *item = -1;
    *key = "listen";
    if (split_listen(host->option_string(host, "listen"), listen_host,
                     sizeof listen_host, &port, err, len) < 0)
        return -1;
    *key = "targets_file";
    return targets_path(host, targets, sizeof targets, err, len);
}

static const zmqsink_plugin_t prom_plugin = {
    ZMQSINK_PLUGIN_DESCRIPTOR_INIT,
    .name = "prometheus",
    .description = "serves counters, gauges and histograms on /metrics for "
                   "Prometheus",
    .options = prom_options,
    .open = prom_open,
    .write = prom_write,
    .tick = prom_tick,
    .close = prom_close,
    .flags = ZMQSINK_PLUGIN_TICKS_ON_REQUEST,
    .check = prom_check,
};

ZMQSINK_PLUGIN_EXPORT const zmqsink_plugin_t *zmqsink_plugin_entry(void)
{
    return &prom_plugin;
}
