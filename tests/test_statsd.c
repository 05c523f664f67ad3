/* Tests of the statsd sink: the plugin driven directly through its ABI with
 * a hand-made host and a UDP listener of the test's own, then the whole
 * pipeline against the real statsd daemon (npm, tests/statsd), read back
 * through its admin interface. */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include <zmqsink.h>
#include <zmqsink/plugin.h>

#include "helpers.h"
#include "plugin_host.h"
#include "statsd_peer.h"

/* Longest a bounded wait in these tests lasts. */
#define WAIT_MS 15000

static char *tmpdir;

static int64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct sockaddr_un unix_address(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    cr_assert_lt(strlen(path), sizeof addr.sun_path, "%s: too long", path);
    memcpy(addr.sun_path, path, strlen(path) + 1);
    return addr;
}

static void unix_send(const char *path, const char *text)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = unix_address(path);
    cr_assert_eq(sendto(fd, text, strlen(text), 0, (struct sockaddr *)&addr,
                        sizeof addr),
                 (ssize_t)strlen(text));
    close(fd);
}

#define MARKER "test.marker:1|c"

/* Datagrams received, and the lines in them. */
typedef struct received {
    char **packet;
    size_t npackets;
    size_t max_packet_len;
    char **line;
    size_t nlines;
} received_t;

static void push(char ***array, size_t *n, char *item)
{
    *array = realloc(*array, (*n + 1) * sizeof **array);
    cr_assert_not_null(*array);
    (*array)[(*n)++] = item;
}

/* Reads datagrams until MARKER, which the test sent after the plugin's
 * datagrams: the kernel queues them in order, so all have arrived then. */
static received_t receive_until_marker(int fd)
{
    received_t r = { 0 };
    static char buf[70000];
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        cr_assert_eq(poll(&p, 1, WAIT_MS), 1, "the marker did not arrive");
        ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
        cr_assert_geq(n, 0, "recv: %s", strerror(errno));
        buf[n] = '\0';
        if (strcmp(buf, MARKER) == 0)
            break;
        push(&r.packet, &r.npackets, strdup(buf));
        if ((size_t)n > r.max_packet_len)
            r.max_packet_len = (size_t)n;
        cr_assert_eq(strlen(buf), (size_t)n, "a NUL in a datagram");
        char *save, *copy = strdup(buf);
        for (char *l = strtok_r(copy, "\n", &save); l;
             l = strtok_r(NULL, "\n", &save))
            push(&r.line, &r.nlines, strdup(l));
        free(copy);
    }
    return r;
}

static void free_received(received_t *r)
{
    for (size_t i = 0; i < r->npackets; i++)
        free(r->packet[i]);
    for (size_t i = 0; i < r->nlines; i++)
        free(r->line[i]);
    free(r->packet);
    free(r->line);
    *r = (received_t){ 0 };
}

static size_t count_lines(const received_t *r, const char *line)
{
    size_t n = 0;
    for (size_t i = 0; i < r->nlines; i++)
        n += strcmp(r->line[i], line) == 0;
    return n;
}

static size_t count_prefixed(const received_t *r, const char *prefix)
{
    size_t n = 0;
    for (size_t i = 0; i < r->nlines; i++)
        n += strncmp(r->line[i], prefix, strlen(prefix)) == 0;
    return n;
}

/* ---- the plugin, loaded by hand ---- */

static void *plugin_handle;
static const zmqsink_plugin_t *plugin;
static th_plugin_host_t th;
static int listener = -1, listener_port;

static char address[64];

static void direct_setup(void)
{
    tmpdir = th_tempdir();
    plugin = th_plugin_load("statsd", &plugin_handle);
    listener = sp_udp_bound(&listener_port);
    snprintf(address, sizeof address, "127.0.0.1:%d", listener_port);
    const th_option_t options[] = {
        { "address", address, 0, true },
        { "prefix", "zmq", 0, false },
        { "flush_interval", "1s", 1000, false },
        { "max_packet", "1432", 1432, false },
        { "tags", "none", 0, false },
        { "per_process", "auto", 0, false },
        { "expire_after", "1h", 3600000, false },
        { 0 },
    };
    th_plugin_host_init(&th, plugin, "metrics", tmpdir, options);
}

static void direct_teardown(void)
{
    if (listener >= 0)
        close(listener);
    if (plugin_handle)
        dlclose(plugin_handle);
    th_remove_tree(tmpdir);
    free(tmpdir);
}

TestSuite(direct, .init = direct_setup, .fini = direct_teardown,
          .timeout = 120);


static zmqsink_event_t event(const char *socket, uint32_t type,
                             int64_t duration_ms)
{
    zmqsink_event_t ev = { .type = type, .duration_ms = duration_ms,
                           .socket_type = ZMQ_ROUTER };
    snprintf(ev.socket, sizeof ev.socket, "%s", socket);
    return ev;
}

static void write_ok(void *state, const zmqsink_event_t *events, size_t n)
{
    cr_assert_eq(plugin->write(state, events, n), ZMQSINK_WRITE_OK);
}

/* Writes n copies of one event, in batches as a worker would. */
static void write_many(void *state, zmqsink_event_t ev, size_t n)
{
    static zmqsink_event_t batch[1000];
    for (size_t i = 0; i < sizeof batch / sizeof batch[0]; i++)
        batch[i] = ev;
    for (size_t done = 0; done < n;) {
        size_t k = n - done < 1000 ? n - done : 1000;
        write_ok(state, batch, k);
        done += k;
    }
}

/* Flushes at shutdown and collects what the listener got. */
static received_t flush_and_receive(void *state)
{
    cr_assert_eq(plugin->flush(state, monotonic_ns() + 1000000000LL), 0u);
    sp_udp_send(listener_port, MARKER);
    return receive_until_marker(listener);
}

Test(direct, descriptor)
{
    cr_assert_eq(plugin->abi_major, ZMQSINK_PLUGIN_ABI_MAJOR);
    cr_assert_str_eq(plugin->name, "statsd");
    cr_assert(plugin->open && plugin->write && plugin->tick &&
              plugin->flush && plugin->close);
    const char *keys[] = { "address", "prefix", "flush_interval",
                           "max_packet", "tags", "per_process",
                           "expire_after" };
    size_t n = 0;
    for (const zmqsink_option_t *o = plugin->options; o->key; o++, n++)
        cr_assert_str_eq(o->key, keys[n]);
    cr_assert_eq(n, sizeof keys / sizeof keys[0]);
    cr_assert_str_eq(plugin->options[0].fallback, "127.0.0.1:8125");
    cr_assert_str_eq(plugin->options[2].fallback, "1s");
    cr_assert_eq(plugin->options[3].min, 64);
    cr_assert_eq(plugin->options[3].max, 65507);
    cr_assert_str_eq(plugin->options[4].choices, "none|dogstatsd");
    cr_assert_str_eq(plugin->options[5].choices, "auto|true|false");
    cr_assert_str_eq(plugin->options[5].fallback, "auto");
    cr_assert_str_eq(plugin->options[6].fallback, "1h");
}

Test(direct, ten_thousand_events_leave_as_one_counter_line)
{
    th.nsinks = 2;
    th.sink_names[0] = "metrics";
    th.sink_names[1] = "slow sink|x";
    th.sink_dropped[1] = 7;
    void *s = th_plugin_open(&th);
    write_many(s, event("front", ZMQSINK_EVENT_ACCEPTED, -1), 10000);

    /* Before flush_interval has passed, tick sends nothing. */
    int64_t opened = monotonic_ns();
    plugin->tick(s, opened);
    sp_udp_send(listener_port, MARKER);
    received_t r = receive_until_marker(listener);
    cr_assert_eq(r.npackets, 0u, "sent early: %s",
                 r.npackets ? r.packet[0] : "");
    free_received(&r);

    plugin->tick(s, opened + 1000 * 1000000LL);
    sp_udp_send(listener_port, MARKER);
    r = receive_until_marker(listener);
    cr_assert_eq(r.nlines, 4u);
    cr_assert_eq(count_prefixed(&r, "zmq.front.accepted:"), 1u);
    cr_assert_eq(count_lines(&r, "zmq.front.accepted:10000|c"), 1u);
    cr_assert_eq(count_lines(&r, "zmq.front.connections:10000|g"), 1u);
    cr_assert_eq(count_lines(&r, "zmq.zmqsink.metrics.dropped:0|c"), 1u);
    cr_assert_eq(count_lines(&r, "zmq.zmqsink.slow_sink_x.dropped:7|c"), 1u);
    cr_assert_eq(r.npackets, 1u);
    free_received(&r);

    /* The next interval: counters start again, the gauge stays, drops are
     * the increase. */
    th.sink_dropped[1] = 10;
    write_many(s, event("front", ZMQSINK_EVENT_DISCONNECTED, 5), 3);
    r = flush_and_receive(s);
    cr_assert_eq(r.nlines, 7u);
    cr_assert_eq(count_lines(&r, "zmq.front.disconnected:3|c"), 1u);
    cr_assert_eq(count_lines(&r, "zmq.front.connections:9997|g"), 1u);
    cr_assert_eq(count_lines(&r, "zmq.front.connection_ms:5|ms"), 3u);
    cr_assert_eq(count_lines(&r, "zmq.zmqsink.metrics.dropped:0|c"), 1u);
    cr_assert_eq(count_lines(&r, "zmq.zmqsink.slow_sink_x.dropped:3|c"), 1u);
    free_received(&r);
    plugin->close(s);
    cr_assert_eq(th.failed, 0u);
    cr_assert_eq(th.logs, 0, "logged: %s", th.last_log);
}

Test(direct, lines_are_packed_into_datagrams_of_at_most_max_packet)
{
    th_plugin_set_option(&th, "max_packet", "512", 512);
    void *s = th_plugin_open(&th);
    enum { SOCKETS = 500 };
    for (int i = 0; i < SOCKETS; i++) {
        char name[64];
        snprintf(name, sizeof name, "s:%d |@#\tx\n", i);
        zmqsink_event_t ev = event(name, ZMQSINK_EVENT_CONNECTED, -1);
        write_ok(s, &ev, 1);
    }
    received_t r = flush_and_receive(s);
    cr_assert_eq(r.nlines, 2u * SOCKETS);
    for (int i = 0; i < SOCKETS; i++) {
        char line[128];
        snprintf(line, sizeof line, "zmq.s_%d_____x_.connected:1|c", i);
        cr_assert_eq(count_lines(&r, line), 1u, "%s", line);
        snprintf(line, sizeof line, "zmq.s_%d_____x_.connections:1|g", i);
        cr_assert_eq(count_lines(&r, line), 1u, "%s", line);
    }
    cr_assert_leq(r.max_packet_len, 512u);
    /* Packed: each datagram was sent only when the next line did not fit. */
    cr_assert_gt(r.npackets, 1u);
    for (size_t i = 0; i + 1 < r.npackets; i++) {
        size_t next_line = strcspn(r.packet[i + 1], "\n");
        cr_assert_gt(strlen(r.packet[i]) + 1 + next_line, 512u,
                     "datagram %zu had room for the next line", i);
    }
    free_received(&r);
    plugin->close(s);
}

Test(direct, a_line_longer_than_max_packet_goes_alone)
{
    th_plugin_set_option(&th, "max_packet", "64", 64);
    void *s = th_plugin_open(&th);
    char name[64];
    memset(name, 'n', 63);
    name[63] = '\0';
    zmqsink_event_t events[] = { event("a", ZMQSINK_EVENT_LISTENING, -1),
                                 event(name, ZMQSINK_EVENT_LISTENING, -1) };
    write_ok(s, events, 2);
    received_t r = flush_and_receive(s);
    char long_line[128];
    snprintf(long_line, sizeof long_line, "zmq.%s.listening:1|c", name);
    size_t alone = 0;
    for (size_t i = 0; i < r.npackets; i++)
        alone += strcmp(r.packet[i], long_line) == 0;
    cr_assert_eq(alone, 1u, "the %zu-byte line was not sent alone",
                 strlen(long_line));
    cr_assert_eq(r.nlines, 4u);
    cr_assert_eq(count_lines(&r, "zmq.a.listening:1|c"), 1u);
    for (size_t i = 0; i < r.npackets; i++)
        cr_assert(strlen(r.packet[i]) <= 64 || !strchr(r.packet[i], '\n'),
                  "datagram %zu: %s", i, r.packet[i]);
    free_received(&r);
    plugin->close(s);
}

/* What a sequence of events on one socket leaves in the gauge and the
 * timer: up on opening, down only on the closing event of a connection the
 * core saw opening (duration_ms >= 0), never below zero. */
typedef struct gauge_case {
    const char *name;
    struct { uint32_t type; int64_t duration_ms; } events[6];
    int64_t gauge;
    const char *timer_lines[3];
} gauge_case_t;

static const gauge_case_t gauge_cases[] = {
    { "open and close", { { ZMQSINK_EVENT_ACCEPTED, -1 },
                          { ZMQSINK_EVENT_CONNECTED, -1 },
                          { ZMQSINK_EVENT_DISCONNECTED, 12 } },
      1, { "zmq.g.connection_ms:12|ms" } },
    { "closed of a tracked connection", { { ZMQSINK_EVENT_CONNECTED, -1 },
                                          { ZMQSINK_EVENT_CLOSED, 0 } },
      0, { "zmq.g.connection_ms:0|ms" } },
    { "closed of a listener", { { ZMQSINK_EVENT_ACCEPTED, -1 },
                                { ZMQSINK_EVENT_CLOSED, -1 } },
      1, { NULL } },
    { "untracked disconnect", { { ZMQSINK_EVENT_ACCEPTED, -1 },
                                { ZMQSINK_EVENT_DISCONNECTED, -1 } },
      1, { NULL } },
    { "never below zero", { { ZMQSINK_EVENT_DISCONNECTED, 3 },
                            { ZMQSINK_EVENT_DISCONNECTED, 4 },
                            { ZMQSINK_EVENT_ACCEPTED, -1 } },
      1, { "zmq.g.connection_ms:3|ms", "zmq.g.connection_ms:4|ms" } },
    { "no connection events", { { ZMQSINK_EVENT_LISTENING, -1 } }, 0,
      { NULL } },
    { "monitor_stopped forgets", { { ZMQSINK_EVENT_ACCEPTED, -1 },
                                   { ZMQSINK_EVENT_ACCEPTED, -1 },
                                   { ZMQSINK_EVENT_MONITOR_STOPPED, -1 },
                                   { ZMQSINK_EVENT_DISCONNECTED, 9 } },
      0, { "zmq.g.connection_ms:9|ms" } },
};

Test(direct, gauge_and_timer_follow_tracked_connections)
{
    for (size_t c = 0; c < sizeof gauge_cases / sizeof gauge_cases[0]; c++) {
        const gauge_case_t *gc = &gauge_cases[c];
        void *s = th_plugin_open(&th);
        size_t nevents = 0;
        for (; nevents < 6 && gc->events[nevents].type; nevents++) {
            zmqsink_event_t ev = event("g", gc->events[nevents].type,
                                       gc->events[nevents].duration_ms);
            write_ok(s, &ev, 1);
        }
        received_t r = flush_and_receive(s);
        char gauge[64];
        snprintf(gauge, sizeof gauge, "zmq.g.connections:%lld|g",
                 (long long)gc->gauge);
        cr_assert_eq(count_lines(&r, gauge), 1u, "%s: want %s", gc->name,
                     gauge);
        size_t ntimers = 0;
        for (; ntimers < 3 && gc->timer_lines[ntimers]; ntimers++)
            cr_assert_eq(count_lines(&r, gc->timer_lines[ntimers]), 1u,
                         "%s: want %s", gc->name, gc->timer_lines[ntimers]);
        cr_assert_eq(count_prefixed(&r, "zmq.g.connection_ms:"), ntimers,
                     "%s", gc->name);
        size_t counters = 0;
        for (size_t i = 0; i < r.nlines; i++)
            counters += strstr(r.line[i], "|c") != NULL;
        cr_assert_leq(counters, nevents, "%s", gc->name);
        free_received(&r);
        plugin->close(s);
    }
}

/* Sockets that stopped are sent once more (gauge 0, their last counters),
 * then forgotten; idle ones without connections after expire_after; live
 * ones never. */
Test(direct, stopped_and_idle_sockets_are_forgotten_after_their_last_flush)
{
    enum { STOPPED = 1000 };
    th_plugin_set_option(&th, "expire_after", "1s", 1000);
    void *s = th_plugin_open(&th);
    for (int i = 0; i < STOPPED; i++) {
        char name[32];
        snprintf(name, sizeof name, "pull-%d", i);
        zmqsink_event_t ev = event(name, ZMQSINK_EVENT_ACCEPTED, -1);
        write_ok(s, &ev, 1);
        ev = event(name, ZMQSINK_EVENT_MONITOR_STOPPED, -1);
        write_ok(s, &ev, 1);
    }
    zmqsink_event_t live = event("live", ZMQSINK_EVENT_ACCEPTED, -1);
    zmqsink_event_t idle = event("idle", ZMQSINK_EVENT_LISTENING, -1);
    write_ok(s, &live, 1);

    received_t r = flush_and_receive(s);
    cr_assert_eq(count_prefixed(&r, "zmq.pull-"), 3 * STOPPED,
                 "each stopped socket: two counters and its gauge");
    cr_assert_eq(count_lines(&r, "zmq.pull-7.monitor_stopped:1|c"), 1u);
    cr_assert_eq(count_lines(&r, "zmq.pull-7.connections:0|g"), 1u);
    free_received(&r);

    write_ok(s, &idle, 1);
    r = flush_and_receive(s);
    cr_assert_eq(count_prefixed(&r, "zmq.pull-"), 0u, "forgotten");
    cr_assert_eq(count_lines(&r, "zmq.live.connections:1|g"), 1u);
    cr_assert_eq(count_lines(&r, "zmq.idle.connections:0|g"), 1u);
    free_received(&r);

    th_sleep_ms(1100); /* past expire_after */
    r = flush_and_receive(s);
    cr_assert_eq(count_lines(&r, "zmq.live.connections:1|g"), 1u,
                 "a live connection keeps its socket");
    cr_assert_eq(count_prefixed(&r, "zmq.idle."), 1u, "its last gauge");
    free_received(&r);
    r = flush_and_receive(s);
    cr_assert_eq(count_prefixed(&r, "zmq.idle."), 0u, "expired");
    cr_assert_eq(count_lines(&r, "zmq.live.connections:1|g"), 1u);
    free_received(&r);

    /* A name that comes back starts afresh. */
    write_ok(s, &idle, 1);
    r = flush_and_receive(s);
    cr_assert_eq(count_lines(&r, "zmq.idle.listening:1|c"), 1u);
    free_received(&r);
    plugin->close(s);
}

Test(direct, dogstatsd_tags)
{
    th_plugin_set_option(&th, "tags", "dogstatsd", 1);
    th_plugin_set_option(&th, "prefix", "app zmq", 0);
    th.nsinks = 1;
    th.sink_names[0] = "met,rics";
    th.sink_dropped[0] = 5;
    void *s = th_plugin_open(&th);
    zmqsink_event_t events[] = {
        event("a,b:c", ZMQSINK_EVENT_ACCEPTED, -1),
        event("a,b:c", ZMQSINK_EVENT_ACCEPTED, -1),
        event("a,b:c", ZMQSINK_EVENT_DISCONNECTED, 12),
        event("a,b:c", ZMQSINK_EVENT_CLOSED, -1),
    };
    write_ok(s, events, 4);
    received_t r = flush_and_receive(s);
    const char *want[] = {
        "app_zmq.events:2|c|#socket:a_b_c,event:accepted",
        "app_zmq.events:1|c|#socket:a_b_c,event:disconnected",
        "app_zmq.events:1|c|#socket:a_b_c,event:closed",
        "app_zmq.connections:1|g|#socket:a_b_c",
        "app_zmq.connection_ms:12|ms|#socket:a_b_c",
        "app_zmq.zmqsink.dropped:5|c|#sink:met_rics",
    };
    cr_assert_eq(r.nlines, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_assert_eq(count_lines(&r, want[i]), 1u, "missing %s", want[i]);
    free_received(&r);
    plugin->close(s);
}

/* A failure with a reason is counted under its reason only. */
Test(direct, reasons_in_names_and_tags)
{
    for (int tags = 0; tags < 2; tags++) {
        th_plugin_set_option(&th, "tags", tags ? "dogstatsd" : "none", tags);
        void *s = th_plugin_open(&th);
        zmqsink_event_t events[] = {
            event("f", ZMQSINK_EVENT_BIND_FAILED, -1),
            event("f", ZMQSINK_EVENT_BIND_FAILED, -1),
            event("f", ZMQSINK_EVENT_HANDSHAKE_FAILED_AUTH, -1),
            event("f", ZMQSINK_EVENT_HANDSHAKE_FAILED_AUTH, -1),
            event("f", ZMQSINK_EVENT_CONNECT_RETRIED, -1),
        };
        events[0].value = events[1].value = EADDRINUSE;
        events[2].value = 400;
        events[3].value = 500;
        events[4].value = 100; /* ms */
        write_ok(s, events, 5);
        received_t r = flush_and_receive(s);
        const char *plain[] = {
            "zmq.f.bind_failed.EADDRINUSE:2|c",
            "zmq.f.handshake_failed_auth.ZAP_400:1|c",
            "zmq.f.handshake_failed_auth.ZAP_500:1|c",
            "zmq.f.connect_retried:1|c",
            "zmq.f.connections:0|g",
        };
        const char *tagged[] = {
            "zmq.events:2|c|#socket:f,event:bind_failed,reason:EADDRINUSE",
            "zmq.events:1|c|#socket:f,event:handshake_failed_auth,"
            "reason:ZAP_400",
            "zmq.events:1|c|#socket:f,event:handshake_failed_auth,"
            "reason:ZAP_500",
            "zmq.events:1|c|#socket:f,event:connect_retried",
            "zmq.connections:0|g|#socket:f",
        };
        const char **want = tags ? tagged : plain;
        cr_assert_eq(r.nlines, 5u, "tags %d: %zu lines", tags, r.nlines);
        for (size_t i = 0; i < 5; i++)
            cr_assert_eq(count_lines(&r, want[i]), 1u, "missing %s", want[i]);
        free_received(&r);
        plugin->close(s);
    }
}

/* Which lines one process sends, by per_process, the host's
 * child_process and ABI minor, and tags; "PID" stands for the pid. Only
 * the gauge names the process: counters and timers add up across
 * processes. */
typedef struct per_process_case {
    const char *per_process;
    int64_t index; /* of per_process among its choices */
    int child_process;
    uint16_t abi_minor;
    bool dogstatsd;
    const char *lines[4];
} per_process_case_t;

#define PLAIN_LINES(gauge)                                                     \
    { gauge, "zmq.w.accepted:3|c", "zmq.w.disconnected:1|c",                   \
      "zmq.w.connection_ms:5|ms" }
#define TAGGED_LINES(gauge)                                                    \
    { gauge, "zmq.events:3|c|#socket:w,event:accepted",                        \
      "zmq.events:1|c|#socket:w,event:disconnected",                           \
      "zmq.connection_ms:5|ms|#socket:w" }

static const per_process_case_t per_process_cases[] = {
    { "auto", 0, 0, 2, false, PLAIN_LINES("zmq.w.connections:2|g") },
    { "auto", 0, 1, 2, false, PLAIN_LINES("zmq.w.connections.PID:2|g") },
    /* A 1.1 host has no child_process: what lies there is not read. */
    { "auto", 0, 1, 1, false, PLAIN_LINES("zmq.w.connections:2|g") },
    { "true", 1, 0, 2, false, PLAIN_LINES("zmq.w.connections.PID:2|g") },
    { "false", 2, 1, 2, false, PLAIN_LINES("zmq.w.connections:2|g") },
    { "auto", 0, 0, 2, true, TAGGED_LINES("zmq.connections:2|g|#socket:w") },
    { "auto", 0, 1, 2, true,
      TAGGED_LINES("zmq.connections:2|g|#socket:w,pid:PID") },
    { "true", 1, 0, 2, true,
      TAGGED_LINES("zmq.connections:2|g|#socket:w,pid:PID") },
    { "false", 2, 1, 2, true, TAGGED_LINES("zmq.connections:2|g|#socket:w") },
};

/* text with "PID" replaced by pid. */
static void with_pid(char *buf, size_t cap, const char *text, pid_t pid)
{
    const char *at = strstr(text, "PID");
    if (at)
        snprintf(buf, cap, "%.*s%ld%s", (int)(at - text), text, (long)pid,
                 at + 3);
    else
        snprintf(buf, cap, "%s", text);
}

Test(direct, per_process_names_only_the_gauge_by_pid)
{
    for (size_t c = 0; c < sizeof per_process_cases / sizeof per_process_cases[0];
         c++) {
        const per_process_case_t *pc = &per_process_cases[c];
        th_plugin_set_option(&th, "per_process", pc->per_process, pc->index);
        th_plugin_set_option(&th, "tags", pc->dogstatsd ? "dogstatsd" : "none",
                             pc->dogstatsd);
        th.host.child_process = pc->child_process;
        th.host.abi_minor = pc->abi_minor;
        void *s = th_plugin_open(&th);
        zmqsink_event_t events[] = {
            event("w", ZMQSINK_EVENT_ACCEPTED, -1),
            event("w", ZMQSINK_EVENT_ACCEPTED, -1),
            event("w", ZMQSINK_EVENT_ACCEPTED, -1),
            event("w", ZMQSINK_EVENT_DISCONNECTED, 5),
        };
        write_ok(s, events, 4);
        received_t r = flush_and_receive(s);
        cr_assert_eq(r.nlines, 4u, "case %zu: %zu lines", c, r.nlines);
        for (size_t i = 0; i < 4; i++) {
            char line[128];
            with_pid(line, sizeof line, pc->lines[i], getpid());
            cr_assert_eq(count_lines(&r, line), 1u,
                         "case %zu (per_process: %s, child_process %d, ABI "
                         "1.%u): missing %s",
                         c, pc->per_process, pc->child_process, pc->abi_minor,
                         line);
        }
        free_received(&r);
        plugin->close(s);
    }
}

Test(direct, timer_samples_past_the_reservoir_carry_a_sample_rate)
{
    th_plugin_set_option(&th, "max_packet", "65507", 65507);
    void *s = th_plugin_open(&th);
    write_many(s, event("t", ZMQSINK_EVENT_DISCONNECTED, 7), 2000);
    received_t r = flush_and_receive(s);
    cr_assert_eq(count_lines(&r, "zmq.t.connection_ms:7|ms|@0.512"), 1024u);
    cr_assert_eq(count_prefixed(&r, "zmq.t.connection_ms:"), 1024u);
    cr_assert_eq(count_lines(&r, "zmq.t.disconnected:2000|c"), 1u);
    free_received(&r);
    plugin->close(s);
}

Test(direct, unix_datagram_socket_and_send_failures)
{
    th_plugin_set_option(&th, "address", "statsd.sock", 0); /* no '/': a host name */
    char err[512] = "";
    cr_assert_null(plugin->open(&th.host, err, sizeof err));

    th_plugin_set_option(&th, "address", "./statsd.sock", 0); /* relative to config_dir */
    void *s = th_plugin_open(&th);
    zmqsink_event_t ev = event("u", ZMQSINK_EVENT_ACCEPTED, -1);
    write_ok(s, &ev, 1);
    write_ok(s, &ev, 1);
    /* Nobody listens yet: the counter's 2 events are lost, logged once. */
    plugin->tick(s, monotonic_ns() + 3600 * 1000000000LL);
    cr_assert_eq(th.failed, 2u);
    cr_assert_str_eq(th.failed_reason, "send");
    write_ok(s, &ev, 1);
    plugin->tick(s, monotonic_ns() + 7200 * 1000000000LL);
    cr_assert_eq(th.failed, 3u);
    cr_assert_eq(th.logs, 1, "logged %d times, last: %s", th.logs,
                 th.last_log);
    cr_assert(strstr(th.last_log, "cannot send to './statsd.sock'"), "%s",
              th.last_log);

    char path[512];
    snprintf(path, sizeof path, "%s/statsd.sock", tmpdir);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = unix_address(path);
    cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    write_ok(s, &ev, 1);
    cr_assert_eq(plugin->flush(s, 0), 0u);
    unix_send(path, MARKER);
    received_t r = receive_until_marker(fd);
    cr_assert_eq(r.nlines, 2u);
    cr_assert_eq(count_lines(&r, "zmq.u.accepted:1|c"), 1u);
    cr_assert_eq(count_lines(&r, "zmq.u.connections:4|g"), 1u);
    cr_assert_eq(th.failed, 3u);
    cr_assert_eq(th.logs, 2);
    cr_assert(strstr(th.last_log, "sending to './statsd.sock' again"), "%s",
              th.last_log);
    free_received(&r);
    plugin->close(s);
    close(fd);
}

/* A name that does not resolve when the sink opens (DNS not up yet at
 * boot; the resolver's failures are the test host's, the listener is
 * real): the sink opens and says so once; each flush until the name
 * resolves counts its events as failed, "unresolved"; then metrics go. */
Test(direct, a_name_that_resolves_late_fails_its_metrics_until_then)
{
    char said[512];
    snprintf(said, sizeof said,
             "address '%s': cannot resolve '%s': %s; metrics are counted as "
             "failed until it resolves (looked up again at the flushes)",
             address, address, gai_strerror(EAI_AGAIN));
    void *s = th_plugin_open_unresolved(&th, 2, said);

    zmqsink_event_t ev = event("r", ZMQSINK_EVENT_ACCEPTED, -1);
    write_many(s, ev, 2);
    plugin->tick(s, monotonic_ns() + 3600 * 1000000000LL);
    cr_assert_eq(th.lookups, 2, "looked up again at the flush");
    cr_assert_eq(th_plugin_failed(&th, "unresolved"), 2u);
    cr_assert_eq(th.logs, 1, "the streak is said once: %s", th.log_text);

    write_ok(s, &ev, 1);
    plugin->tick(s, monotonic_ns() + 7200 * 1000000000LL);
    cr_assert_eq(th.lookups, 3);
    cr_assert_eq(th_plugin_failed(&th, "unresolved"), 2u);
    cr_assert_eq(th.delivered, 1u);
    cr_assert_eq(th.logs, 2, "%s", th.log_text);
    snprintf(said, sizeof said, "address '%s' resolved: sending metrics",
             address);
    cr_assert_str_eq(th.last_log, said);
    received_t r = flush_and_receive(s);
    cr_assert_eq(count_lines(&r, "zmq.r.accepted:1|c"), 1u);
    cr_assert_eq(count_prefixed(&r, "zmq.r.accepted:"), 1u);
    free_received(&r);
    plugin->close(s);
    cr_assert_eq(th.failed, 2u);
}

/* The core's resolver itself, on a name that never resolves: the sink
 * opens all the same. */
Test(direct, a_name_that_never_resolves_is_said_at_open)
{
    th_resolver_quick();
    th_plugin_set_option(&th, "address", TH_NO_SUCH_HOST ":8125", 0);
    void *s = th_plugin_open(&th);
    cr_assert(strstr(th.last_log, "address '" TH_NO_SUCH_HOST ":8125': "
                                  "cannot resolve '" TH_NO_SUCH_HOST "': "),
              "%s", th.last_log);
    write_ok(s, &(zmqsink_event_t){.type = ZMQSINK_EVENT_ACCEPTED}, 1);
    plugin->tick(s, monotonic_ns() + 3600 * 1000000000LL);
    cr_assert_eq(th_plugin_failed(&th, "unresolved"), 1u);
    plugin->close(s);
}

Test(direct, close_counts_what_was_never_sent)
{
    void *s = th_plugin_open(&th);
    write_many(s, event("c", ZMQSINK_EVENT_ACCEPTED, -1), 5);
    plugin->close(s);
    cr_assert_eq(th.failed, 5u);
    cr_assert_str_eq(th.failed_reason, "unsent");
}

/* The sinks' metrics change without this sink being sent events, and
 * every host that ticks on request tells them: an idle sink asks for a
 * tick at each interval, and each tick sends them. */
Test(direct, ticks_at_each_interval_for_the_sinks_metrics)
{
    cr_assert(plugin->flags & ZMQSINK_PLUGIN_TICKS_ON_REQUEST);
    th_plugin_set_option(&th, "flush_interval", "50ms", 50);
    th.nsinks = 1;
    th.sink_names[0] = "file";
    void *s = th_plugin_open(&th);
    cr_assert_neq(th.tick_at_ns, INT64_MAX, "idle, it asks for the interval");
    int64_t asked = th.tick_at_ns;
    th_plugin_tick_when_asked(&th, s, 2000);
    cr_assert_gt(th.tick_at_ns, asked, "it asks for the next interval");
    th.sink_dropped[0] = 3;
    th_plugin_tick_when_asked(&th, s, 2000);
    cr_assert_neq(th.tick_at_ns, INT64_MAX);
    sp_udp_send(listener_port, MARKER);
    received_t r = receive_until_marker(listener);
    cr_assert_eq(r.nlines, 2u);
    cr_assert_str_eq(r.line[0], "zmq.zmqsink.file.dropped:0|c");
    cr_assert_str_eq(r.line[1], "zmq.zmqsink.file.dropped:3|c");
    free_received(&r);
    plugin->close(s);
}

/* With a host that tells no sinks' metrics, a sink that saw no event has
 * nothing to send and asks for nothing; counted events ask for the flush,
 * which delivers them. The sockets' gauges, sent at every flush, keep it
 * ticking at the interval from then on. */
Test(direct, without_the_sinks_metrics_an_idle_sink_asks_for_nothing)
{
    th_plugin_set_option(&th, "flush_interval", "50ms", 50);
    th.host.sink_drops = NULL;
    void *s = th_plugin_open(&th);
    cr_assert_eq(th.tick_at_ns, INT64_MAX, "nothing to send, no tick asked");
    zmqsink_event_t ev = event("t", ZMQSINK_EVENT_ACCEPTED, -1);
    write_ok(s, &ev, 1);
    cr_assert_neq(th.tick_at_ns, INT64_MAX, "a counted event asks");
    th_plugin_tick_when_asked(&th, s, 2000);
    cr_assert_eq(th.delivered, 1u, "the tick flushed the counter");
    cr_assert_neq(th.tick_at_ns, INT64_MAX, "the gauge goes at every flush");
    sp_udp_send(listener_port, MARKER);
    received_t r = receive_until_marker(listener);
    cr_assert_eq(count_lines(&r, "zmq.t.accepted:1|c"), 1u);
    cr_assert_eq(count_lines(&r, "zmq.t.connections:1|g"), 1u);
    free_received(&r);
    plugin->close(s);
}

typedef struct open_case {
    const char *address;
    const char *prefix;
    const char *error;
} open_case_t;

static const open_case_t open_cases[] = {
    { "127.0.0.1", "zmq",
      "address '127.0.0.1': expected HOST:PORT or [IPV6]:PORT (port "
      "1-65535), or a unix socket path containing '/'" },
    { "127.0.0.1:0", "zmq", "address '127.0.0.1:0': expected HOST:PORT" },
    { "127.0.0.1:65536", "zmq",
      "address '127.0.0.1:65536': expected HOST:PORT" },
    { "127.0.0.1:81x", "zmq", "address '127.0.0.1:81x': expected HOST:PORT" },
    { "127.0.0.1:", "zmq", "address '127.0.0.1:': expected HOST:PORT" },
    { ":8125", "zmq", "address ':8125': expected HOST:PORT" },
    { "::1:8125", "zmq", "address '::1:8125': expected HOST:PORT" },
    { "[::1]8125", "zmq", "address '[::1]8125': expected HOST:PORT" },
    { "/a/very/long/path/that/does/not/fit/in/sun_path/of/a/unix/socket/"
      "address/which/is/one/hundred/and/eight/bytes/long/x",
      "zmq", "a unix socket path must be shorter than 108 bytes" },
    { "127.0.0.1:8125", NULL, "prefix: at most 200 characters, not 201" },
};

Test(direct, open_errors_say_what_is_wrong)
{
    char long_prefix[202];
    memset(long_prefix, 'p', 201);
    long_prefix[201] = '\0';
    for (size_t i = 0; i < sizeof open_cases / sizeof open_cases[0]; i++) {
        const open_case_t *oc = &open_cases[i];
        th_plugin_set_option(&th, "address", oc->address, 0);
        th_plugin_set_option(&th, "prefix", oc->prefix ? oc->prefix : long_prefix, 0);
        char err[512] = "";
        void *s = plugin->open(&th.host, err, sizeof err);
        if (s)
            plugin->close(s);
        cr_assert_null(s, "%s opened", oc->address);
        cr_assert(strstr(err, oc->error), "%s: got \"%s\"", oc->address, err);
    }
    /* Both address forms that are fine. */
    const char *good[] = { "[::1]:8125", "localhost:8125", "127.0.0.1:1" };
    th_plugin_set_option(&th, "prefix", "zmq", 0);
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        th_plugin_set_option(&th, "address", good[i], 0);
        char err[512] = "";
        void *s = plugin->open(&th.host, err, sizeof err);
        cr_assert_not_null(s, "%s: %s", good[i], err);
        plugin->close(s);
    }
}

/* A prefix open() refuses is refused by `zmqsink check` (and so by
 * `zmqsink run`, before the program starts) at its line. */
Test(check, zmqsink_check_names_the_option_at_fault)
{
    char prefix[202], options[512]; /* 201 characters: one too many */
    memset(prefix, 'p', sizeof prefix - 1);
    prefix[sizeof prefix - 1] = '\0';
    snprintf(options, sizeof options,
             "    address: 127.0.0.1:8125\n    prefix: %s\n", prefix);
    const th_refusal_t cases[] = {
        { options, "prefix: at most 200 characters, not 201", 5 },
    };
    char *dir = th_tempdir();
    th_expect_refused(dir, "bus", "statsd", cases,
                      sizeof cases / sizeof cases[0], th_check_config);
    prefix[sizeof prefix - 2] = '\0'; /* 200: the longest */
    snprintf(options, sizeof options,
             "    address: 127.0.0.1:8125\n    prefix: %s\n", prefix);
    th_expect_accepted(dir, "bus", "statsd", options);
    th_expect_accepted(dir, "bus", "statsd", "    prefix: \"\"\n");
    th_remove_tree(dir);
    free(dir);
}

/* ---- the statsd daemon ---- */

static sp_daemon_t statsd = { .pid = -1 };
static void *ctx;

static void daemon_setup(void)
{
    tmpdir = th_tempdir();
    ctx = zmq_ctx_new();
    sp_start(&statsd, tmpdir);
}

static void daemon_teardown(void)
{
    sp_stop(&statsd);
    if (plugin_handle)
        dlclose(plugin_handle);
    th_close_all();
    if (ctx)
        zmq_ctx_term(ctx);
    th_remove_tree(tmpdir);
    free(tmpdir);
}

TestSuite(daemon, .init = daemon_setup, .fini = daemon_teardown,
          .timeout = 180);

/* What the callback log says statsd must hold for one socket: events per
 * type, the gauge by the sink's rule, the durations of its timer. */
typedef struct expected {
    uint64_t counts[ZMQSINK_EVENT_TYPES];
    int64_t gauge;
    double durations[256];
    int ndurations;
} expected_t;

static expected_t expect_from_log(th_log_t *log, const char *socket)
{
    expected_t e = { 0 };
    pthread_mutex_lock(&log->lock);
    for (size_t i = 0; i < log->n; i++) {
        const zmqsink_event_t *ev = &log->events[i];
        if (strcmp(ev->socket, socket) != 0)
            continue;
        e.counts[__builtin_ctz(ev->type)]++;
        if (ev->type == ZMQSINK_EVENT_ACCEPTED ||
            ev->type == ZMQSINK_EVENT_CONNECTED)
            e.gauge++;
        if ((ev->type == ZMQSINK_EVENT_DISCONNECTED ||
             ev->type == ZMQSINK_EVENT_CLOSED) &&
            ev->duration_ms >= 0) {
            if (e.gauge > 0)
                e.gauge--;
            cr_assert_lt(e.ndurations, 256);
            e.durations[e.ndurations++] = (double)ev->duration_ms;
        }
        if (ev->type == ZMQSINK_EVENT_MONITOR_STOPPED)
            e.gauge = 0;
    }
    pthread_mutex_unlock(&log->lock);
    return e;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* statsd holds exactly what the log says for socket. */
static void check_socket(bool tags, th_log_t *log, const char *socket,
                         const char *counters, const char *gauges,
                         const char *timers)
{
    expected_t e = expect_from_log(log, socket);
    char key[256];
    for (int i = 0; i < ZMQSINK_EVENT_TYPES; i++) {
        const char *name = zmqsink_event_name(1u << i);
        sp_counter_key(tags, key, sizeof key, socket, name);
        double v = 0;
        bool found = sp_dump_number(counters, key, &v);
        if (e.counts[i]) {
            cr_assert(found, "%s missing:\n%s", key, counters);
            cr_assert_eq(v, (double)e.counts[i], "%s: %g, the log has %llu",
                         key, v, (unsigned long long)e.counts[i]);
        } else {
            cr_assert(!found, "%s is %g, the log has none", key, v);
        }
    }
    sp_socket_key(tags, key, sizeof key, socket, "connections");
    double gauge = -1;
    cr_assert(sp_dump_number(gauges, key, &gauge), "%s missing:\n%s", key,
              gauges);
    cr_assert_eq(gauge, (double)e.gauge, "%s: %g, want %lld", key, gauge,
                 (long long)e.gauge);

    sp_socket_key(tags, key, sizeof key, socket, "connection_ms");
    double samples[256];
    int n = sp_dump_array(timers, key, samples, 256);
    if (e.ndurations == 0) {
        cr_assert_eq(n, -1, "%s has %d samples, the log none", key, n);
        return;
    }
    cr_assert_eq(n, e.ndurations, "%s: %d samples, the log has %d", key, n,
                 e.ndurations);
    qsort(samples, (size_t)n, sizeof samples[0], compare_doubles);
    qsort(e.durations, (size_t)n, sizeof samples[0], compare_doubles);
    for (int i = 0; i < n; i++)
        cr_assert_eq(samples[i], e.durations[i], "%s sample %d", key, i);
}

/* Waits until the log holds count events of type from socket; returns
 * how many it holds. */
static size_t wait_socket_events(th_log_t *log, const char *socket,
                                 uint32_t type, size_t count)
{
    size_t n = 0;
    for (int waited = 0; waited < WAIT_MS; waited += 10) {
        n = 0;
        pthread_mutex_lock(&log->lock);
        for (size_t i = 0; i < log->n; i++)
            n += log->events[i].type == type &&
                 strcmp(log->events[i].socket, socket) == 0;
        pthread_mutex_unlock(&log->lock);
        if (n >= count)
            break;
        th_sleep_ms(10);
    }
    return n;
}

/* A zmqsink with a statsd sink (flushing every 50 ms) and a callback log
 * of the same events, and a router named "server" bound on loopback. */
static zmqsink_t *start_with_server(bool tags, th_log_t *log, void **server,
                                    char *endpoint, size_t cap)
{
    zmqsink_t *zs = th_start(ctx, tmpdir, "shutdown_timeout: 5s\n"
                          "sinks:\n"
                          "  - name: metrics\n"
                          "    type: statsd\n"
                          "    address: 127.0.0.1:%d\n"
                          "    flush_interval: 50ms\n"
                          "    tags: %s\n",
                          statsd.port, tags ? "dogstatsd" : "none");
    th_log_init(log);
    cr_assert_eq(zmqsink_add_callback(zs, "log", ZMQSINK_EVENT_ALL,
                                      th_log_callback, log),
                 0);
    *server = th_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach(zs, *server, "server"), 0);
    cr_assert_eq(zmq_bind(*server, "tcp://127.0.0.1:*"), 0);
    th_last_endpoint(*server, endpoint, cap);
    return zs;
}

#define CLIENTS 8

/* CLIENTS dealers connect to a router and close again, with a statsd
 * sink and a callback log of the same events; statsd's counters, gauges
 * and timers must then be exactly what the log says. */
static void real_sockets_give_exact_metrics(bool tags)
{
    th_log_t log;
    char endpoint[256];
    void *server;
    zmqsink_t *zs = start_with_server(tags, &log, &server, endpoint,
                                      sizeof endpoint);
    void *clients[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        clients[i] = th_socket(ctx, ZMQ_DEALER);
        cr_assert_eq(zmqsink_attach(zs, clients[i], "client"), 0);
        cr_assert_eq(zmq_connect(clients[i], endpoint), 0);
    }
    cr_assert_eq(th_log_wait(&log, ZMQSINK_EVENT_ACCEPTED, CLIENTS, WAIT_MS),
                 CLIENTS);
    cr_assert_eq(th_log_wait(&log, ZMQSINK_EVENT_CONNECTED, CLIENTS, WAIT_MS),
                 CLIENTS);

    /* While they are connected, a later flush shows them all. */
    char key[256];
    sp_socket_key(tags, key, sizeof key, "server", "connections");
    cr_assert_eq(sp_wait_gauge(&statsd, key, CLIENTS), CLIENTS, "%s", key);
    sp_socket_key(tags, key, sizeof key, "client", "connections");
    cr_assert_eq(sp_wait_gauge(&statsd, key, CLIENTS), CLIENTS, "%s", key);

    for (int i = 0; i < CLIENTS; i++)
        th_close(clients[i]);
    cr_assert_eq(wait_socket_events(&log, "server",
                                    ZMQSINK_EVENT_DISCONNECTED, CLIENTS),
                 CLIENTS);
    th_close(server);
    cr_assert_eq(th_log_wait(&log, ZMQSINK_EVENT_MONITOR_STOPPED, CLIENTS + 1,
                             WAIT_MS),
                 CLIENTS + 1);
    TH_STATS(stats);
    zmqsink_destroy_stats(&zs, &stats);
    cr_assert_eq(stats.sinks[0].dropped_full, 0u);
    cr_assert_eq(stats.sinks[0].failed, 0u);
    cr_assert(sp_caught_up(&statsd, "test.done"), "statsd did not catch up");

    char *counters = sp_admin(&statsd, "counters");
    char *gauges = sp_admin(&statsd, "gauges");
    char *timers = sp_admin(&statsd, "timers");
    cr_assert(counters && gauges && timers);
    /* Fixed points first, so that a log that lost events cannot make the
     * comparison below pass. */
    double v;
    sp_counter_key(tags, key, sizeof key, "server", "accepted");
    cr_assert(sp_dump_number(counters, key, &v) && v == CLIENTS, "%s:\n%s", key,
              counters);
    sp_counter_key(tags, key, sizeof key, "server", "disconnected");
    cr_assert(sp_dump_number(counters, key, &v) && v == CLIENTS, "%s", key);
    sp_counter_key(tags, key, sizeof key, "client", "connected");
    cr_assert(sp_dump_number(counters, key, &v) && v == CLIENTS, "%s", key);
    sp_socket_key(tags, key, sizeof key, "server", "connections");
    cr_assert(sp_dump_number(gauges, key, &v) && v == 0, "%s:\n%s", key,
              gauges);
    sp_socket_key(tags, key, sizeof key, "client", "connections");
    cr_assert(sp_dump_number(gauges, key, &v) && v == 0, "%s:\n%s", key,
              gauges);
    sp_socket_key(tags, key, sizeof key, "server", "connection_ms");
    double samples[256];
    cr_assert_eq(sp_dump_array(timers, key, samples, 256), CLIENTS, "%s:\n%s",
                 key, timers);

    check_socket(tags, &log, "server", counters, gauges, timers);
    check_socket(tags, &log, "client", counters, gauges, timers);
    sp_drops_key(tags, key, sizeof key, "metrics");
    cr_assert(sp_dump_number(counters, key, &v) && v == 0, "%s:\n%s", key,
              counters);
    sp_drops_key(tags, key, sizeof key, "log");
    cr_assert(sp_dump_number(counters, key, &v) && v == 0, "%s", key);
    cr_assert(sp_dump_number(counters, "statsd.bad_lines_seen", &v) && v == 0,
              "statsd saw bad lines:\n%s", counters);
    free(counters);
    free(gauges);
    free(timers);
    th_log_free(&log);
}

Test(daemon, plain_names_hold_exact_counts_gauges_and_timers)
{
    real_sockets_give_exact_metrics(false);
}

Test(daemon, dogstatsd_tags_hold_exact_counts_gauges_and_timers)
{
    real_sockets_give_exact_metrics(true);
}

/* With rings of 16 slots and a sink stuck in write(), the core drops
 * events; statsd must end with exactly the core's final drop counts. */
/* Failures of real sockets reach statsd counted by reason: binds on a port
 * in use, a CURVE client against a NULL server; retries have none. */
static void real_failures_are_counted_by_reason(bool tags)
{
    th_log_t log;
    char endpoint[256];
    void *server;
    zmqsink_t *zs = start_with_server(tags, &log, &server, endpoint,
                                      sizeof endpoint);
    void *second = th_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach(zs, second, "second"), 0);
    cr_assert_eq(zmq_bind(second, endpoint), -1);
    cr_assert_eq(zmq_bind(second, endpoint), -1);
    cr_assert_eq(zmq_connect(th_curve_client(ctx), endpoint), 0);
    cr_assert_geq(wait_socket_events(&log, "server",
                                     ZMQSINK_EVENT_HANDSHAKE_FAILED_PROTOCOL,
                                     1),
                  1u);
    th_zap_t zap;
    th_zap_start(&zap, ctx, "400");
    th_plain_refused(ctx, zs, "plain");
    cr_assert_geq(wait_socket_events(&log, "plain",
                                     ZMQSINK_EVENT_HANDSHAKE_FAILED_AUTH, 1),
                  1u);
    void *retrier = th_socket(ctx, ZMQ_DEALER);
    int interval = 50;
    zmq_setsockopt(retrier, ZMQ_RECONNECT_IVL, &interval, sizeof interval);
    cr_assert_eq(zmqsink_attach(zs, retrier, "retrier"), 0);
    char nobody[64];
    snprintf(nobody, sizeof nobody, "tcp://127.0.0.1:%d", th_free_port());
    cr_assert_eq(zmq_connect(retrier, nobody), 0);
    cr_assert_eq(wait_socket_events(&log, "second", ZMQSINK_EVENT_BIND_FAILED,
                                    2),
                 2u);
    cr_assert_geq(wait_socket_events(&log, "retrier",
                                     ZMQSINK_EVENT_CONNECT_RETRIED, 1),
                  1u);
    th_close(retrier);
    TH_STATS(stats);
    zmqsink_destroy_stats(&zs, &stats);
    th_zap_stop(&zap);
    cr_assert_eq(stats.sinks[0].failed, 0u);
    cr_assert(sp_caught_up(&statsd, "test.done"), "statsd did not catch up");
    char *counters = sp_admin(&statsd, "counters");
    cr_assert_not_null(counters);
    char key[256];
    double v;
    sp_reason_key(tags, key, sizeof key, "second", "bind_failed",
                  "EADDRINUSE");
    cr_assert(sp_dump_number(counters, key, &v) && v == 2, "%s:\n%s", key,
              counters);
    sp_counter_key(tags, key, sizeof key, "second", "bind_failed");
    cr_assert(!sp_dump_number(counters, key, &v),
              "%s counted without its reason: %g", key, v);
    sp_reason_key(tags, key, sizeof key, "server",
                  "handshake_failed_protocol", "ZMTP_MECHANISM_MISMATCH");
    cr_assert(sp_dump_number(counters, key, &v) && v >= 1, "%s:\n%s", key,
              counters);
    sp_reason_key(tags, key, sizeof key, "plain", "handshake_failed_auth",
                  "ZAP_400");
    cr_assert(sp_dump_number(counters, key, &v) && v >= 1, "%s:\n%s", key,
              counters);
    sp_counter_key(tags, key, sizeof key, "retrier", "connect_retried");
    cr_assert(sp_dump_number(counters, key, &v) && v >= 1, "%s:\n%s", key,
              counters);
    cr_assert(sp_dump_number(counters, "statsd.bad_lines_seen", &v) && v == 0,
              "statsd saw bad lines:\n%s", counters);
    free(counters);
    th_log_free(&log);
}

Test(daemon, plain_names_count_failures_by_reason)
{
    real_failures_are_counted_by_reason(false);
}

Test(daemon, dogstatsd_tags_count_failures_by_reason)
{
    real_failures_are_counted_by_reason(true);
}

Test(daemon, drop_counters_match_the_core)
{
    zmqsink_t *zs = th_start(ctx, tmpdir, "queue: { capacity: 16 }\n"
                          "shutdown_timeout: 5s\n"
                          "sinks:\n"
                          "  - name: metrics\n"
                          "    type: statsd\n"
                          "    address: 127.0.0.1:%d\n"
                          "    flush_interval: 50ms\n"
                          "  - name: stuck\n"
                          "    type: blocking\n"
                          "    release_file: %s/release\n",
                          statsd.port, tmpdir);
    void *server = th_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach(zs, server, "server"), 0);
    cr_assert_eq(zmq_bind(server, "tcp://127.0.0.1:*"), 0);
    char endpoint[256];
    th_last_endpoint(server, endpoint, sizeof endpoint);
    enum { N = 20 };
    void *clients[N];
    for (int i = 0; i < N; i++) {
        clients[i] = th_socket(ctx, ZMQ_DEALER);
        cr_assert_eq(zmq_connect(clients[i], endpoint), 0);
    }
    TH_STATS(stats);
    for (int waited = 0; waited < WAIT_MS; waited += 10) {
        zmqsink_stats(zs, &stats);
        if (stats.sinks[1].dropped_full > 0)
            break;
        th_sleep_ms(10);
    }
    cr_assert_gt(stats.sinks[1].dropped_full, 0u, "no drops for 'stuck'");
    /* Flushes while the sinks run carry the drops already. */
    double early = 0;
    for (int waited = 0; waited < WAIT_MS && early == 0; waited += 50) {
        char *dump = sp_admin(&statsd, "counters");
        if (!dump || !sp_dump_number(dump, "zmq.zmqsink.stuck.dropped", &early))
            early = 0;
        free(dump);
        th_sleep_ms(50);
    }
    cr_assert_gt(early, 0, "no drops of 'stuck' reached statsd");
    /* The events 'stuck' holds in its ring, as a gauge. */
    double queued = 0;
    for (int waited = 0; waited < WAIT_MS && queued == 0; waited += 50) {
        char *dump = sp_admin(&statsd, "gauges");
        if (!dump ||
            !sp_dump_number(dump, "zmq.zmqsink.stuck.queued", &queued))
            queued = 0;
        free(dump);
        th_sleep_ms(50);
    }
    cr_assert_gt(queued, 0, "no queued gauge of 'stuck' reached statsd");

    free(th_write_file(tmpdir, "release", ""));
    for (int i = 0; i < N; i++)
        th_close(clients[i]);
    th_close(server);
    for (int waited = 0; waited < WAIT_MS; waited += 10) {
        zmqsink_stats(zs, &stats);
        if (stats.sockets_attached == 0 && stats.sinks[1].queue_depth == 0 &&
            stats.sinks[1].pending == 0)
            break;
        th_sleep_ms(10);
    }
    zmqsink_destroy_stats(&zs, &stats);
    cr_assert_eq(stats.nsinks, 2u);
    cr_assert_str_eq(stats.sinks[1].name, "stuck");
    cr_assert_gt(stats.sinks[1].delivered, 0u);
    cr_assert_eq(stats.sinks[0].dropped_shutdown, 0u);
    cr_assert_eq(stats.sinks[1].dropped_shutdown, 0u);
    cr_assert(sp_caught_up(&statsd, "test.done"), "statsd did not catch up");

    double v;
    double stuck = sp_admin_number(&statsd, "counters",
                                   "zmq.zmqsink.stuck.dropped");
    cr_assert_eq(stuck, (double)stats.sinks[1].dropped_full,
                 "statsd has %g drops for 'stuck', the core %llu", stuck,
                 (unsigned long long)stats.sinks[1].dropped_full);
    v = sp_admin_number(&statsd, "counters", "zmq.zmqsink.stuck.delivered");
    cr_assert_eq(v, (double)stats.sinks[1].delivered,
                 "statsd has %g delivered for 'stuck', the core %llu", v,
                 (unsigned long long)stats.sinks[1].delivered);
    cr_assert_eq(sp_admin_number(&statsd, "counters",
                                 "zmq.zmqsink.stuck.failed"),
                 0);
    cr_assert_eq(sp_admin_number(&statsd, "gauges",
                                 "zmq.zmqsink.stuck.pending"),
                 0);
    cr_assert_eq(sp_admin_number(&statsd, "gauges", "zmq.zmqsink.stuck.queued"),
                 0, "all delivered by the last flush");
    v = sp_admin_number(&statsd, "counters", "zmq.zmqsink.metrics.dropped");
    cr_assert_eq(v, (double)stats.sinks[0].dropped_full,
                 "statsd has %g drops for 'metrics', the core %llu", v,
                 (unsigned long long)stats.sinks[0].dropped_full);
    cr_assert_eq(
        sp_admin_number(&statsd, "counters", "statsd.bad_lines_seen"), 0);
}

/* ---- pre-fork servers: one gauge per process ---- */

/* What one process of a pre-fork server does with its own instance of the
 * sink: `connections` live connections on socket "worker", then the flush
 * of its shutdown. No assertions, since it also runs in forked children:
 * returns 0, or -1 with what went wrong in err. */
static int report_connections(th_plugin_host_t *h, int connections,
                              char *err, size_t cap)
{
    char open_err[512] = "";
    void *s = plugin->open(&h->host, open_err, sizeof open_err);
    if (!s) {
        snprintf(err, cap, "pid %ld: open: %s", (long)getpid(), open_err);
        return -1;
    }
    zmqsink_event_t ev = event("worker", ZMQSINK_EVENT_ACCEPTED, -1);
    int result = 0;
    for (int i = 0; i < connections && result == 0; i++)
        if (plugin->write(s, &ev, 1) != ZMQSINK_WRITE_OK) {
            snprintf(err, cap, "pid %ld: write refused", (long)getpid());
            result = -1;
        }
    plugin->flush(s, monotonic_ns() + 1000000000LL);
    plugin->close(s);
    if (result == 0 && h->failed) {
        snprintf(err, cap, "pid %ld: %llu events failed (%s)", (long)getpid(),
                 (unsigned long long)h->failed, h->failed_reason);
        result = -1;
    }
    return result;
}

#define CHILDREN 3
#define PARENT_CONNECTIONS 5

/* Waits (at most WAIT_MS) until the n (at most CHILDREN) children have
 * exited; kills those still running then. Returns how many did not exit
 * with status 0. */
static int wait_children(const pid_t *children, int n)
{
    int failed = 0, left = n;
    bool done[CHILDREN] = { false };
    cr_assert_leq(n, CHILDREN);
    for (int waited = 0; left > 0 && waited < WAIT_MS; waited += 10) {
        for (int i = 0; i < n; i++) {
            int status;
            if (done[i] || waitpid(children[i], &status, WNOHANG) != children[i])
                continue;
            done[i] = true;
            left--;
            failed += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
        }
        if (left > 0)
            th_sleep_ms(10);
    }
    for (int i = 0; i < n; i++)
        if (!done[i]) {
            kill(children[i], SIGKILL);
            waitpid(children[i], NULL, 0);
            failed++;
        }
    return failed;
}

/* A pre-fork server under `zmqsink run`, per_process: auto: the process
 * run started has PARENT_CONNECTIONS live connections on socket "worker",
 * each of CHILDREN forked children (child_process set) 1, 2, 3 on its
 * "worker". statsd must hold each child's gauge under its pid and the
 * parent's under the plain name, each with its own value, and the counter
 * of all their connections. */
static void children_keep_their_own_gauges(bool tags)
{
    plugin = th_plugin_load("statsd", &plugin_handle);
    th_plugin_host_init(&th, plugin, "metrics", tmpdir, NULL);
    snprintf(address, sizeof address, "127.0.0.1:%d", statsd.port);
    th_plugin_set_option(&th, "address", address, 0);
    th_plugin_set_option(&th, "tags", tags ? "dogstatsd" : "none", tags);
    int report[2];
    cr_assert_eq(pipe(report), 0, "pipe: %s", strerror(errno));
    pid_t children[CHILDREN];
    for (int i = 0; i < CHILDREN; i++) {
        children[i] = fork();
        cr_assert_geq(children[i], 0, "fork: %s", strerror(errno));
        if (children[i] == 0) {
            close(report[0]);
            th.host.child_process = 1;
            char err[512];
            if (report_connections(&th, i + 1, err, sizeof err) == 0)
                _exit(0);
            dprintf(report[1], "%s\n", err); /* one write: not interleaved */
            _exit(1);
        }
    }
    close(report[1]);
    char err[512] = "";
    int parent = report_connections(&th, PARENT_CONNECTIONS, err, sizeof err);
    int failed = wait_children(children, CHILDREN);
    char reports[4096];
    ssize_t n = read(report[0], reports, sizeof reports - 1);
    reports[n > 0 ? n : 0] = '\0';
    close(report[0]);
    cr_assert_eq(parent, 0, "%s", err);
    cr_assert_eq(failed, 0, "%d of %d children failed: %s", failed, CHILDREN,
                 reports);
    cr_assert(sp_caught_up(&statsd, "test.done"), "statsd did not catch up");

    char *gauges = sp_admin(&statsd, "gauges");
    char *counters = sp_admin(&statsd, "counters");
    cr_assert(gauges && counters);
    char key[256];
    double v;
    sp_socket_key(tags, key, sizeof key, "worker", "connections");
    cr_assert(sp_dump_number(gauges, key, &v) && v == PARENT_CONNECTIONS,
              "%s:\n%s", key, gauges);
    for (int i = 0; i < CHILDREN; i++) {
        sp_process_gauge_key(tags, key, sizeof key, "worker", children[i]);
        cr_assert(sp_dump_number(gauges, key, &v) && v == i + 1,
                  "%s, want %d:\n%s", key, i + 1, gauges);
    }
    /* Nothing else: no process wrote another's gauge. */
    sp_socket_key(tags, key, sizeof key, "worker", "connections");
    cr_assert_eq(sp_count_keys(gauges, key), CHILDREN + 1, "%s", gauges);
    sp_counter_key(tags, key, sizeof key, "worker", "accepted");
    cr_assert(sp_dump_number(counters, key, &v) &&
                  v == PARENT_CONNECTIONS + CHILDREN * (CHILDREN + 1) / 2,
              "%s:\n%s", key, counters);
    cr_assert(sp_dump_number(counters, "statsd.bad_lines_seen", &v) && v == 0,
              "statsd saw bad lines:\n%s", counters);
    free(gauges);
    free(counters);
}

Test(daemon, forked_children_keep_a_gauge_per_pid)
{
    children_keep_their_own_gauges(false);
}

Test(daemon, forked_children_keep_a_tagged_gauge_per_pid)
{
    children_keep_their_own_gauges(true);
}
