/* The statsd sink: turns events into statsd metrics, aggregated per flush
 * interval and sent as UDP or unix datagrams.
 *
 * Metrics, with `prefix: zmq` and `tags: none`:
 *   zmq.<socket>.<event>:N|c          events of that type in the interval
 *   zmq.<socket>.<event>.<reason>:N|c those with that reason (failures)
 *   zmq.<socket>.connections:N|g      live connections of the socket
 *   zmq.<socket>.connection_ms:N|ms   one sample per connection that ended
 *   zmq.zmqsink.<sink>.<counter>:N|c  each sink's delivered, failed and
 *                                     dropped events since the last flush
 *   zmq.zmqsink.<sink>.<gauge>:N|g    its pending and queued events now
 *     (the words of zmqsink_stats(); a host older than plugin ABI 1.4
 *     gives the dropped counter only)
 * With `tags: dogstatsd` the socket, event, reason and sink become tags:
 *   zmq.events:N|c|#socket:S,event:E   zmq.connections:N|g|#socket:S
 *   zmq.events:N|c|#socket:S,event:E,reason:R
 *   zmq.connection_ms:N|ms|#socket:S   zmq.zmqsink.dropped:N|c|#sink:K
 * With per_process in effect, the gauge also names its process:
 *   zmq.<socket>.connections.<pid>:N|g zmq.connections:N|g|#socket:S,pid:P
 * because processes that share a config (the workers of a pre-fork server)
 * share socket names, and statsd keeps only the last value written to a
 * gauge, while counters and timers add up across processes. `auto` (the
 * default) puts it in effect in a child of the process `zmqsink run`
 * started (host->child_process), so that process keeps the plain name and
 * every other has a series of its own; `true` always, `false` never. The
 * series of a process that has ended keeps its last value (0 if it closed
 * its sockets first) until statsd deletes idle gauges (deleteGauges).
 *
 * write() only counts, in a table keyed by socket name; tick() flushes once
 * flush_interval has passed since the last flush, flush() at shutdown. The
 * sink asks for a tick at the end of each interval, however short, once a
 * flush has something to send: the gauges of the sockets seen or the
 * metrics of the sinks, both sent at every flush (see below). Every host
 * that ticks on request tells the sinks' metrics, which change without this
 * sink being sent events: so it wakes once per interval, idle or not. Lines
 * are joined with '\n' into datagrams of at most max_packet bytes; a line
 * longer than max_packet goes alone in a datagram of its own.
 *
 * Rules, and why:
 * - An event with a reason (zmqsink_event_reason(): EADDRINUSE, ZAP_400,
 *   ...) is counted under its reason only, not also without it, so that a
 *   sum over a counter's reasons or tags counts each event once. Reasons
 *   are few and static symbols; past REASONS_MAX of them on one socket the
 *   rest are counted without a reason.
 * - A connection is counted up on accepted and connected, down on the
 *   closing event (disconnected or closed) of a connection the core saw
 *   opening, which is the one that carries duration_ms >= 0: libzmq also
 *   emits closed for listeners and failed connects, which never counted up.
 *   The gauge never goes below zero (an opening this sink did not see: its
 *   filter or a full ring). The same closing events give the timer sample.
 * - monitor_stopped sets the gauge to 0: libzmq sends no closing event for
 *   the connections a socket still has when it is closed (measured: a
 *   closed DEALER's monitor gets only monitor_stopped), and a detached
 *   socket is no longer watched. Sockets that share a name share one
 *   gauge, so closing one of them zeroes it for all (events carry no
 *   socket identity to do better).
 * - Every flush sends the gauge of every socket known and the counters
 *   and gauges of every sink, 0 included: statsd may have restarted or
 *   deleted idle metrics, and a 0 that is sent says "none", not "no data".
 * - A socket is forgotten after the flush that sent its last metrics: once
 *   its monitor stopped (the gauge said 0), or when it had no live
 *   connection and no event for expire_after. Programs that open and close
 *   sockets for ever (each with a name of its own) so keep a table of the
 *   sockets open now, not of every socket ever seen; a name that comes
 *   back starts afresh.
 * - Timer samples are kept up to TIMER_SAMPLES_MAX per socket and
 *   interval; past that a uniform reservoir of them is sent with the sample
 *   rate (|@r), so that statsd still counts every connection. The sample
 *   buffer grows as samples come, up to that bound.
 * - Names are sanitised: ':', '|', '@', '#', whitespace and control
 *   characters become '_' (',' too in tag values). Two sockets whose names
 *   sanitise alike share their metrics.
 * - Datagrams are sent with sendto() without waiting (MSG_DONTWAIT), to an
 *   address resolved at open. A name that does not resolve yet (DNS not up
 *   at boot) is looked up again at the flushes, after a backoff from
 *   LOOKUP_MIN_NS doubling up to LOOKUP_MAX_NS; until it resolves (and a
 *   socket opens), the events of each flush are counted with
 *   count_failed(n, "unresolved") (or "socket"), and the streak is logged
 *   once. A datagram that cannot be sent (no listener
 *   on a unix socket, a full buffer, ...) is logged once per streak of
 *   failures, and the events its counter lines stood for are counted with
 *   count_failed(n, "send"); gauges, timers and drop counters stand for no
 *   events of their own. flush() therefore returns 0: its losses are
 *   already counted. The events a datagram's counter lines stand for
 *   count as delivered (count_delivered) once sendto() sent it; until the
 *   next flush they are pending. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <zmqsink/plugin.h>
#include "backoff.h"
#include "once.h"
#include "clock.h"
#include "lines.h"
#include "names.h"

#define TIMER_SAMPLES_MAX 1024
/* Between lookups of a name that did not resolve. */
#define LOOKUP_MIN_NS (1000 * INT64_C(1000000))
#define LOOKUP_MAX_NS (60 * INT64_C(1000000000))
#define TABLE_INITIAL 16
#define REASONS_MAX 16

enum { TAGS_NONE = 0, TAGS_DOGSTATSD = 1 };
enum { PER_PROCESS_AUTO = 0, PER_PROCESS_TRUE = 1, PER_PROCESS_FALSE = 2 };

/* Events of one type and reason, this interval. */
struct reason_count {
    const char *reason; /* static (zmqsink_event_reason()) */
    int type_index;
    uint64_t n;
};

/* What one socket name adds up to. */
struct socket_metrics {
    char name[ZMQSINK_SOCKET_NAME_MAX];   /* sanitised; "" marks a free slot */
    uint64_t counts[ZMQSINK_EVENT_TYPES]; /* this interval, by type index;
                                             events with a reason apart */
    struct reason_count reasons[REASONS_MAX]; /* kept across intervals */
    size_t nreasons;
    int64_t connections;                  /* live, across intervals */
    int64_t *samples;                     /* kept durations (ms) */
    size_t nsamples, samples_cap;
    int64_t last_event_ns;
    bool stopped; /* its last event was monitor_stopped */
    bool forget;  /* forget_sockets() drops it */
    uint64_t timed; /* durations seen this interval, kept or not */
};

/* The counters of a sink statsd gets as deltas, as the last flush saw
 * them, by the sink's name: a reload reorders, adds and removes sinks. */
enum { SEEN_DELIVERED, SEEN_FAILED, SEEN_DROPPED, SEEN_COUNTERS };
typedef struct sink_seen {
    char name[ZMQSINK_SOCKET_NAME_MAX];
    uint64_t counter[SEEN_COUNTERS];
} sink_seen_t;

struct statsd_sink {
    const zmqsink_host_t *host;
    const char *address; /* as configured, for messages */
    int fd;              /* -1 until the address resolved and the
                            socket opened; why not, for count_failed: */
    const char *no_socket; /* "unresolved" or "socket" */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    backoff_t lookup;    /* between lookups while the name does not resolve */
    int64_t next_lookup_ns;
    bool unresolved_logged;
    statsd_style_t style;
    int64_t interval_ns, last_flush_ns;
    int64_t expire_ns;

    struct socket_metrics *sockets; /* open addressing, power-of-two size */
    size_t nsockets, capacity;
    uint64_t pending_events; /* aggregated since the last flush */
    sink_seen_t *sinks_seen; /* per sink index, at the last flush */
    size_t nsinks_seen;
    uint64_t random; /* xorshift64 state, for the reservoir */

    statsd_packet_t packet;
    bool send_failing;
    bool nomem_logged;
};

/* ---- the table of sockets ---- */

static int table_grow(struct statsd_sink *s)
{
    size_t capacity = s->capacity ? s->capacity * 2 : TABLE_INITIAL;
    void *table = s->sockets;
    if (names_rebuild(&table, &s->capacity, sizeof *s->sockets, capacity,
                      NULL, NULL) < 0)
        return -1;
    s->sockets = table;
    return 0;
}

/* The metrics of a (sanitised) socket name, added if new; NULL when out of
 * memory. The table stays at most half full, so probing stays short. */
static struct socket_metrics *socket_metrics(struct statsd_sink *s,
                                             const char *name)
{
    if ((s->nsockets + 1) * 2 > s->capacity && table_grow(s) < 0)
        return NULL;
    struct socket_metrics *m =
        names_slot(s->sockets, s->capacity, sizeof *s->sockets, name);
    if (!m->name[0]) {
        snprintf(m->name, sizeof m->name, "%s", name);
        s->nsockets++;
    }
    return m;
}

/* ---- aggregation ---- */

/* Keeps the sample, or past TIMER_SAMPLES_MAX replaces a kept one with the
 * probability that keeps the reservoir uniform. */
static void add_sample(struct statsd_sink *s, struct socket_metrics *m,
                       int64_t ms)
{
    if (m->nsamples == m->samples_cap && m->samples_cap < TIMER_SAMPLES_MAX) {
        size_t cap = m->samples_cap ? m->samples_cap * 2 : 8;
        int64_t *grown = realloc(m->samples, cap * sizeof *grown);
        if (!grown)
            return; /* the counter still counts the event */
        m->samples = grown;
        m->samples_cap = cap;
    }
    m->timed++;
    if (m->nsamples < TIMER_SAMPLES_MAX) {
        m->samples[m->nsamples++] = ms;
        return;
    }
    uint64_t j = random_next(&s->random) % m->timed;
    if (j < TIMER_SAMPLES_MAX)
        m->samples[j] = ms;
}

/* Counts the event under its reason; false when it has none or the
 * socket's table of reasons is full. */
static bool count_reason(struct socket_metrics *m, int type_index,
                         const char *reason)
{
    if (!reason)
        return false;
    for (size_t i = 0; i < m->nreasons; i++) {
        struct reason_count *r = &m->reasons[i];
        if (r->type_index == type_index && strcmp(r->reason, reason) == 0) {
            r->n++;
            return true;
        }
    }
    if (m->nreasons == REASONS_MAX)
        return false;
    m->reasons[m->nreasons++] =
        (struct reason_count){ reason, type_index, 1 };
    return true;
}

static bool opens_connection(uint32_t type)
{
    return type == ZMQSINK_EVENT_ACCEPTED || type == ZMQSINK_EVENT_CONNECTED;
}

/* A closing event of a connection the core saw opening. */
static bool closes_connection(const zmqsink_event_t *ev)
{
    return (ev->type == ZMQSINK_EVENT_DISCONNECTED ||
            ev->type == ZMQSINK_EVENT_CLOSED) &&
           ev->duration_ms >= 0;
}

static void aggregate(struct statsd_sink *s, const zmqsink_event_t *ev,
                      int64_t now_ns)
{
    char name[ZMQSINK_SOCKET_NAME_MAX];
    statsd_sanitize(name, sizeof name, ev->socket, s->style.dogstatsd);
    struct socket_metrics *m = socket_metrics(s, name);
    if (!m) {
        if (once_failed(&s->nomem_logged))
            s->host->log(s->host, ZMQSINK_SEV_ERR,
                         "out of memory: events of socket '%s' not counted",
                         name);
        s->host->count_failed(s->host, 1, "nomem");
        return;
    }
    m->last_event_ns = now_ns;
    m->stopped = ev->type == ZMQSINK_EVENT_MONITOR_STOPPED;
    int index = ev->type ? __builtin_ctz(ev->type) : ZMQSINK_EVENT_TYPES;
    if (index < ZMQSINK_EVENT_TYPES && ev->type == 1u << index) {
        if (!count_reason(m, index, zmqsink_event_reason(ev)))
            m->counts[index]++;
        s->pending_events++;
    } else {
        s->host->count_delivered(s->host, 1); /* a type it does not count */
    }
    if (opens_connection(ev->type)) {
        m->connections++;
    } else if (closes_connection(ev)) {
        if (m->connections > 0)
            m->connections--;
        add_sample(s, m, ev->duration_ms);
    } else if (ev->type == ZMQSINK_EVENT_MONITOR_STOPPED) {
        m->connections = 0;
    }
}

/* ---- the address ---- */

/* Resolves the address and opens the socket. Returns 0, also when the
 * name did not resolve (logged once per streak), or -1 with the message
 * in err when the address is malformed or no socket can be had. Until
 * then, the next try waits for the backoff. */
static int open_socket(struct statsd_sink *s, int64_t now_ns, char *err,
                       size_t len)
{
    int rc = s->host->resolve_address(s->host, s->address, NULL, SOCK_DGRAM,
                                      &s->addr, &s->addrlen, err, len);
    s->no_socket = "unresolved";
    s->next_lookup_ns = now_ns + backoff_next(&s->lookup);
    if (rc == ZMQSINK_ADDRESS_UNRESOLVED) {
        if (once_failed(&s->unresolved_logged))
            s->host->log(s->host, ZMQSINK_SEV_WARNING,
                         "address '%s': %s; metrics are counted as failed "
                         "until it resolves (looked up again at the flushes)",
                         s->address, err);
        return 0;
    }
    if (rc < 0)
        return -1;
    s->no_socket = "socket";
    s->fd = socket(s->addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        snprintf(err, len, "address '%s': cannot create a socket: %s",
                 s->address, strerror(errno));
        return -1;
    }
    s->host->own_fd(s->host, s->fd, 1); /* no child keeps it open */
    backoff_reset(&s->lookup);
    if (once_recovered(&s->unresolved_logged))
        s->host->log(s->host, ZMQSINK_SEV_NOTICE,
                     "address '%s' resolved: sending metrics", s->address);
    return 0;
}

/* Before a flush: looks the name up and opens the socket again, when
 * that failed and the backoff is over. (A lookup may block on DNS, also
 * in the flush at shutdown: once the backoff allows it.) */
static void lookup_when_due(struct statsd_sink *s, int64_t now_ns)
{
    if (s->fd >= 0 || now_ns < s->next_lookup_ns)
        return;
    char err[256];
    if (open_socket(s, now_ns, err, sizeof err) < 0 &&
        once_failed(&s->send_failing))
        s->host->log(s->host, ZMQSINK_SEV_ERR,
                     "%s; metrics are counted as failed until it can",
                     err);
}

/* ---- datagrams ---- */

/* Sends a full datagram (a statsd_send_fn). */
static void send_datagram(void *ctx, const char *data, size_t len,
                          uint64_t events)
{
    struct statsd_sink *s = ctx;
    if (s->fd < 0) {
        if (events)
            s->host->count_failed(s->host, events, s->no_socket);
        return;
    }
    ssize_t sent;
    do
        sent = sendto(s->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL,
                      (const struct sockaddr *)&s->addr, s->addrlen);
    while (sent < 0 && errno == EINTR);
    if (sent < 0) {
        if (once_failed(&s->send_failing))
            s->host->log(s->host, ZMQSINK_SEV_WARNING,
                         "cannot send to '%s': %s; metrics are lost until "
                         "it works again",
                         s->address, strerror(errno));
        if (events)
            s->host->count_failed(s->host, events, "send");
    } else {
        if (events)
            s->host->count_delivered(s->host, events);
        if (once_recovered(&s->send_failing))
            s->host->log(s->host, ZMQSINK_SEV_NOTICE,
                         "sending to '%s' again", s->address);
    }
}

/* Adds a line standing for events to the datagram being filled. */
static void emit(struct statsd_sink *s, const char *line, int len,
                 uint64_t events)
{
    statsd_packet_add(&s->packet, line, len, events, send_datagram, s);
}

/* ---- metric lines ---- */

static void emit_counter(struct statsd_sink *s, const char *socket,
                         uint32_t type, const char *reason, uint64_t n)
{
    char line[STATSD_LINE_MAX];
    emit(s, line, statsd_counter_line(&s->style, line, socket, type, reason, n),
         n);
}

static void emit_gauge(struct statsd_sink *s, const char *socket,
                       int64_t connections)
{
    char line[STATSD_LINE_MAX];
    emit(s, line, statsd_gauge_line(&s->style, line, socket, connections), 0);
}

static void emit_timer(struct statsd_sink *s, const char *socket, int64_t ms,
                       const char *rate)
{
    char line[STATSD_LINE_MAX];
    emit(s, line, statsd_timer_line(&s->style, line, socket, ms, rate), 0);
}

static void emit_sink_metric(struct statsd_sink *s, const char *sink_name,
                             const char *word, uint64_t n, char type)
{
    char name[ZMQSINK_SOCKET_NAME_MAX], line[STATSD_LINE_MAX];
    statsd_sanitize(name, sizeof name, sink_name, s->style.dogstatsd);
    emit(s, line, statsd_sink_line(&s->style, line, name, word, n, type), 0);
}

/* Sends the socket's metrics of the interval and starts the next one. */
static void flush_socket(struct statsd_sink *s, struct socket_metrics *m)
{
    for (int i = 0; i < ZMQSINK_EVENT_TYPES; i++)
        if (m->counts[i])
            emit_counter(s, m->name, 1u << i, NULL, m->counts[i]);
    for (size_t i = 0; i < m->nreasons; i++) {
        struct reason_count *r = &m->reasons[i];
        if (r->n)
            emit_counter(s, m->name, 1u << r->type_index, r->reason, r->n);
        r->n = 0;
    }
    emit_gauge(s, m->name, m->connections);
    char rate[32] = "";
    if (m->timed > m->nsamples)
        snprintf(rate, sizeof rate, "|@%g",
                 (double)m->nsamples / (double)m->timed);
    for (size_t i = 0; i < m->nsamples; i++)
        emit_timer(s, m->name, m->samples[i], rate);
    memset(m->counts, 0, sizeof m->counts);
    m->nsamples = 0;
    m->timed = 0;
}

/* What the last flush saw of the sink named name: made, counting from
 * zero, for a sink not seen before. NULL when out of memory (it is then
 * counted at a later flush). */
static sink_seen_t *sink_seen(struct statsd_sink *s, const char *name)
{
    for (size_t i = 0; i < s->nsinks_seen; i++)
        if (strcmp(s->sinks_seen[i].name, name) == 0)
            return &s->sinks_seen[i];
    sink_seen_t *more =
        realloc(s->sinks_seen, (s->nsinks_seen + 1) * sizeof *more);
    if (!more)
        return NULL;
    s->sinks_seen = more;
    sink_seen_t *seen = &more[s->nsinks_seen++];
    memset(seen, 0, sizeof *seen);
    snprintf(seen->name, sizeof seen->name, "%s", name);
    return seen;
}

/* Whether the host tells every sink's counters (ABI 1.4), or their drops
 * (ABI 1.1). */
static bool host_has_sink_counters(const zmqsink_host_t *host)
{
    return host->abi_minor >= 4 && host->sink_counters;
}

static bool host_has_sink_metrics(const zmqsink_host_t *host)
{
    return host_has_sink_counters(host) ||
           (host->abi_minor >= 1 && host->sink_drops);
}

/* Every sink's counters (its drops only, from a host older than ABI 1.4):
 * the increase since the last flush of delivered, failed and dropped, and
 * pending and queued as they are. */
static void flush_sinks(struct statsd_sink *s)
{
    const zmqsink_host_t *host = s->host;
    bool all = host_has_sink_counters(host);
    if (!host_has_sink_metrics(host))
        return; /* a host older than ABI 1.1 */
    static const char *const words[SEEN_COUNTERS] = {"delivered", "failed",
                                                     "dropped"};
    const char *name;
    zmqsink_counters_t c = {0};
    size_t n = all ? host->sink_counters(host, 0, &name, &c)
                   : host->sink_drops(host, 0, &name, &c.dropped);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && all)
            host->sink_counters(host, i, &name, &c);
        else if (i > 0)
            host->sink_drops(host, i, &name, &c.dropped);
        sink_seen_t *seen = sink_seen(s, name);
        if (!seen)
            continue;
        uint64_t now[SEEN_COUNTERS] = {c.delivered, c.failed, c.dropped};
        for (int k = all ? 0 : SEEN_DROPPED; k < SEEN_COUNTERS; k++) {
            uint64_t *was = &seen->counter[k];
            emit_sink_metric(s, name, words[k],
                             now[k] > *was ? now[k] - *was : 0, 'c');
            *was = now[k];
        }
        if (all) {
            emit_sink_metric(s, name, "pending", c.pending, 'g');
            emit_sink_metric(s, name, "queued", c.queued, 'g');
        }
    }
}

/* names_rebuild()'s keep: releases what a dropped socket holds. */
static bool keep_socket(const void *entry, void *arg)
{
    const struct socket_metrics *m = entry;
    if (m->forget)
        free(m->samples);
    return !m->forget;
}

/* Drops the sockets that stopped, and those idle without connections for
 * expire_after, once a flush sent their last metrics; the table shrinks
 * with them. Out of memory, they stay until the next flush. */
static void forget_sockets(struct statsd_sink *s, int64_t now_ns)
{
    size_t forgotten = 0;
    for (size_t i = 0; i < s->capacity; i++) {
        struct socket_metrics *m = &s->sockets[i];
        m->forget = m->name[0] &&
                    (m->stopped || (m->connections == 0 &&
                                    now_ns - m->last_event_ns >= s->expire_ns));
        forgotten += m->forget;
    }
    if (!forgotten)
        return;
    void *table = s->sockets;
    long kept = names_rebuild(&table, &s->capacity, sizeof *s->sockets,
                              names_capacity(s->nsockets - forgotten,
                                             TABLE_INITIAL),
                              keep_socket, NULL);
    if (kept < 0)
        return;
    s->sockets = table;
    s->nsockets = (size_t)kept;
}

static void flush_all(struct statsd_sink *s, int64_t now_ns)
{
    lookup_when_due(s, now_ns);
    for (size_t i = 0; i < s->capacity; i++)
        if (s->sockets[i].name[0])
            flush_socket(s, &s->sockets[i]);
    flush_sinks(s);
    statsd_packet_send(&s->packet, send_datagram, s);
    forget_sockets(s, now_ns);
    s->pending_events = 0;
    s->last_flush_ns = now_ns;
}

/* Asks for the tick at the end of the interval when its flush will send
 * something: what every flush sends, the gauges of the sockets seen (the
 * counted events' among them) and the metrics of the sinks. */
static void request_tick(struct statsd_sink *s)
{
    if (s->nsockets > 0 || host_has_sink_metrics(s->host))
        s->host->tick_at(s->host, s->last_flush_ns + s->interval_ns);
}

static zmqsink_write_result_t statsd_write(void *state,
                                           const zmqsink_event_t *events,
                                           size_t n)
{
    struct statsd_sink *s = state;
    int64_t now_ns = clock_now_ns();
    for (size_t i = 0; i < n; i++)
        aggregate(s, &events[i], now_ns);
    request_tick(s);
    return ZMQSINK_WRITE_OK;
}

static void statsd_tick(void *state, int64_t now_ns)
{
    struct statsd_sink *s = state;
    if (now_ns - s->last_flush_ns >= s->interval_ns)
        flush_all(s, now_ns);
    request_tick(s);
}

static uint64_t statsd_flush(void *state, int64_t deadline_ns)
{
    (void)deadline_ns; /* sending never waits (a due lookup may) */
    flush_all(state, clock_now_ns());
    return 0;
}

static void statsd_close(void *state)
{
    struct statsd_sink *s = state;
    if (!s)
        return;
    if (s->pending_events)
        s->host->count_failed(s->host, s->pending_events, "unsent");
    for (size_t i = 0; i < s->capacity; i++)
        free(s->sockets[i].samples);
    free(s->sockets);
    free(s->sinks_seen);
    statsd_packet_free(&s->packet);
    s->host->close_fd(s->host, s->fd);
    free(s);
}

/* ---- open ---- */

/* The prefix into style. Returns 0, or -1 with the message in err. */
static int read_prefix(const zmqsink_host_t *host, statsd_style_t *style,
                       char *err, size_t len)
{
    const char *prefix = host->option_string(host, "prefix");
    if (statsd_style_prefix(style, prefix) == 0)
        return 0;
    snprintf(err, len, "prefix: at most %d characters, not %zu",
             STATSD_PREFIX_MAX, strlen(prefix));
    return -1;
}

/* Whether the gauge names its process (see the top of the file). */
static bool per_process(const zmqsink_host_t *host)
{
    switch (host->option_int(host, "per_process")) {
    case PER_PROCESS_TRUE:
        return true;
    case PER_PROCESS_FALSE:
        return false;
    default: /* auto; a host older than ABI 1.2 has no child_process */
        return host->abi_minor >= 2 && host->child_process;
    }
}

static void *statsd_open(const zmqsink_host_t *host, char *err, size_t len)
{
    struct statsd_sink *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, len, "out of memory");
        return NULL;
    }
    s->host = host;
    s->fd = -1;
    s->address = host->option_string(host, "address");
    statsd_style_t *style = &s->style;
    style->dogstatsd = host->option_int(host, "tags") == TAGS_DOGSTATSD;
    if (per_process(host))
        snprintf(style->process, sizeof style->process,
                 style->dogstatsd ? ",pid:%ld" : ".%ld", (long)getpid());
    s->interval_ns = host->option_int(host, "flush_interval") * 1000000;
    s->expire_ns = host->option_int(host, "expire_after") * 1000000;
    s->last_flush_ns = clock_now_ns();
    s->random = random_seed();
    if (statsd_packet_init(&s->packet, (size_t)host->option_int(
                                           host, "max_packet")) < 0 ||
        table_grow(s) < 0) {
        snprintf(err, len, "out of memory");
        goto err;
    }
    backoff_init(&s->lookup, LOOKUP_MIN_NS, LOOKUP_MAX_NS);
    if (read_prefix(host, style, err, len) < 0 ||
        open_socket(s, s->last_flush_ns, err, len) < 0)
        goto err;
    request_tick(s);
    return s;
err:
    statsd_close(s);
    return NULL;
}

/* The prefix, in `zmqsink check` already; the address is resolved, and
 * its shape judged, at open. */
static int statsd_check(const zmqsink_host_t *host, const char **key,
                        long *item, char *err, size_t len)
{
    (void)item;
    statsd_style_t style;
    *key = "prefix";
    return read_prefix(host, &style, err, len);
}

static const zmqsink_option_t statsd_options[] = {
    { .key = "address", .type = ZMQSINK_OPT_STRING,
      .fallback = "127.0.0.1:8125",
      .help = "host:port of the statsd server (UDP), or the path of a unix "
              "datagram socket (a name containing '/')" },
    { .key = "prefix", .type = ZMQSINK_OPT_STRING, .fallback = "zmq",
      .help = "first component of every metric name" },
    { .key = "flush_interval", .type = ZMQSINK_OPT_DURATION, .fallback = "1s",
      .min = 10, .max = 3600000,
      .help = "how often the aggregated metrics are sent" },
    { .key = "max_packet", .type = ZMQSINK_OPT_SIZE, .fallback = "1432",
      .min = 64, .max = 65507,
      .help = "largest datagram sent, in bytes (1432 fits an Ethernet MTU)" },
    /* The choices are in the order of TAGS_*. */
    { .key = "tags", .type = ZMQSINK_OPT_ENUM, .fallback = "none",
      .choices = "none|dogstatsd",
      .help = "none: socket and event in the metric name; dogstatsd: as "
              "tags" },
    /* The choices are in the order of PER_PROCESS_*. */
    { .key = "per_process", .type = ZMQSINK_OPT_ENUM, .fallback = "auto",
      .choices = "auto|true|false",
      .help = "whether the connections gauge names its process by pid (auto: "
              "in the children of the process `zmqsink run` started)" },
    { .key = "expire_after", .type = ZMQSINK_OPT_DURATION, .fallback = "1h",
      .min = 1000, .max = 2000000LL * 3600 * 1000, /* 2000000h: in ns, fits */
      .help = "a socket without events and live connections for this long "
              "is forgotten (its gauge is no longer sent)" },
    { 0 }
};

static const zmqsink_plugin_t statsd_plugin = {
    ZMQSINK_PLUGIN_DESCRIPTOR_INIT,
    .name = "statsd",
    .description = "sends counters, gauges and timers to statsd",
    .options = statsd_options,
    .open = statsd_open,
    .write = statsd_write,
    .tick = statsd_tick,
    .flush = statsd_flush,
    .close = statsd_close,
    .check = statsd_check,
    .flags = ZMQSINK_PLUGIN_COUNTS_DELIVERED | ZMQSINK_PLUGIN_TICKS_ON_REQUEST,
};

ZMQSINK_PLUGIN_EXPORT const zmqsink_plugin_t *zmqsink_plugin_entry(void)
{
    return &statsd_plugin;
}
