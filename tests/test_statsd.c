/* Tests of the statsd sink: the plugin driven directly through its ABI with
 * a hand-made host and a UDP listener of the test's own, then the whole
 * pipeline against the real statsd daemon (npm, tests/statsd), read back
 * through its admin interface. */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
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

/* Longest a bounded wait in these tests lasts. */
#define WAIT_MS 15000

static char *tmpdir;

static int64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- datagrams ---- */

/* A UDP socket bound to 127.0.0.1 on a port the kernel picks. */
static int udp_bound(int *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
    struct sockaddr_in addr = { .sin_family = AF_INET,
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof addr;
    cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    int size = 4 << 20; /* room for every datagram of a big flush */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    *port = ntohs(addr.sin_port);
    return fd;
}

static int udp_free_port(void)
{
    int port;
    close(udp_bound(&port));
    return port;
}

static void udp_send(int port, const char *text)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    cr_assert_eq(sendto(fd, text, strlen(text), 0, (struct sockaddr *)&addr,
                        sizeof addr),
                 (ssize_t)strlen(text));
    close(fd);
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
    listener = udp_bound(&listener_port);
    snprintf(address, sizeof address, "127.0.0.1:%d", listener_port);
    const th_option_t options[] = {
        { "address", address, 0, true },
        { "prefix", "zmq", 0, false },
        { "flush_interval", "1s", 1000, false },
        { "max_packet", "1432", 1432, false },
        { "tags", "none", 0, false },
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
    udp_send(listener_port, MARKER);
    return receive_until_marker(listener);
}

Test(direct, descriptor)
{
    cr_assert_eq(plugin->abi_major, ZMQSINK_PLUGIN_ABI_MAJOR);
    cr_assert_str_eq(plugin->name, "statsd");
    cr_assert(plugin->open && plugin->write && plugin->tick &&
              plugin->flush && plugin->close);
    const char *keys[] = { "address", "prefix", "flush_interval",
                           "max_packet", "tags" };
    size_t n = 0;
    for (const zmqsink_option_t *o = plugin->options; o->key; o++, n++)
        cr_assert_str_eq(o->key, keys[n]);
    cr_assert_eq(n, sizeof keys / sizeof keys[0]);
    cr_assert_str_eq(plugin->options[0].fallback, "127.0.0.1:8125");
    cr_assert_str_eq(plugin->options[2].fallback, "1s");
    cr_assert_eq(plugin->options[3].min, 64);
    cr_assert_eq(plugin->options[3].max, 65507);
    cr_assert_str_eq(plugin->options[4].choices, "none|dogstatsd");
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
    udp_send(listener_port, MARKER);
    received_t r = receive_until_marker(listener);
    cr_assert_eq(r.npackets, 0u, "sent early: %s",
                 r.npackets ? r.packet[0] : "");
    free_received(&r);

    plugin->tick(s, opened + 1000 * 1000000LL);
    udp_send(listener_port, MARKER);
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

Test(direct, close_counts_what_was_never_sent)
{
    void *s = th_plugin_open(&th);
    write_many(s, event("c", ZMQSINK_EVENT_ACCEPTED, -1), 5);
    plugin->close(s);
    cr_assert_eq(th.failed, 5u);
    cr_assert_str_eq(th.failed_reason, "unsent");
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

/* ---- the statsd daemon ---- */

static pid_t statsd_pid = -1;
static int statsd_port, mgmt_port;
static void *ctx;

/* A command's answer on the admin port: a dump that ends in "END\n\n".
 * Returns NULL when the port does not answer. Caller frees. */
static char *admin(const char *command)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET,
                                .sin_port = htons((uint16_t)mgmt_port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    struct timeval timeout = { 5, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return NULL;
    }
    char line[64];
    snprintf(line, sizeof line, "%s\n", command);
    size_t len = 0, cap = 4096;
    char *text = malloc(cap);
    if (write(fd, line, strlen(line)) != (ssize_t)strlen(line))
        goto fail;
    for (;;) {
        if (cap - len < 2048)
            text = realloc(text, cap *= 2);
        ssize_t n = read(fd, text + len, cap - len - 1);
        if (n <= 0)
            goto fail;
        len += (size_t)n;
        text[len] = '\0';
        if (len >= 5 && strcmp(text + len - 5, "END\n\n") == 0)
            break;
    }
    close(fd);
    return text;
fail:
    close(fd);
    free(text);
    return NULL;
}

/* The number after "'key': " in a dump, or false when the key is absent. */
static bool dump_number(const char *dump, const char *key, double *value)
{
    char pattern[256];
    snprintf(pattern, sizeof pattern, "'%s': ", key);
    const char *at = strstr(dump, pattern);
    if (!at)
        return false;
    char *end;
    *value = strtod(at + strlen(pattern), &end);
    return end != at + strlen(pattern);
}

/* The numbers of the array after "'key': [" in a timers dump; returns how
 * many, or -1 when the key is absent. */
static int dump_array(const char *dump, const char *key, double *values,
                      int cap)
{
    char pattern[256];
    snprintf(pattern, sizeof pattern, "'%s': [", key);
    const char *p = strstr(dump, pattern);
    if (!p)
        return -1;
    p += strlen(pattern);
    int n = 0;
    for (;;) {
        p += strspn(p, " \n,");
        if (*p == ']')
            return n;
        char *end;
        double v = strtod(p, &end);
        cr_assert_neq(end, p, "unexpected timers dump at: %.40s", p);
        cr_assert_lt(n, cap);
        values[n++] = v;
        p = end;
    }
}

/* Sends a marker counter and waits until statsd has counted it: every
 * datagram sent before it to the same port has been read then. */
static bool statsd_caught_up(const char *marker)
{
    char line[128];
    snprintf(line, sizeof line, "%s:1|c", marker);
    for (int waited = 0; waited < WAIT_MS; waited += 50) {
        udp_send(statsd_port, line);
        char *dump = admin("counters");
        double v;
        bool seen = dump && dump_number(dump, marker, &v);
        free(dump);
        if (seen)
            return true;
        th_sleep_ms(50);
    }
    return false;
}

static void statsd_start(void)
{
    const char *srcdir = getenv("ZMQSINK_TEST_SRCDIR");
    cr_assert_not_null(srcdir, "ZMQSINK_TEST_SRCDIR is not set (run it "
                               "through make check)");
    char script[1024];
    snprintf(script, sizeof script,
             "%s/statsd/node_modules/statsd/stats.js", srcdir);
    cr_assert_eq(access(script, R_OK), 0,
                 "%s: %s (run scripts/setup, or npm ci in tests/statsd)",
                 script, strerror(errno));
    statsd_port = udp_free_port();
    mgmt_port = th_free_port();
    char config[512];
    snprintf(config, sizeof config,
             "{ port: %d, address: \"127.0.0.1\", mgmt_port: %d, "
             "mgmt_address: \"127.0.0.1\", backends: [], "
             "flushInterval: 3600000, deleteIdleStats: false, "
             "automaticConfigReload: false }\n",
             statsd_port, mgmt_port);
    char *config_path = th_write_file(tmpdir, "statsd-config.js", config);
    char log_path[512];
    snprintf(log_path, sizeof log_path, "%s/statsd.log", tmpdir);

    char *argv[] = { "node", script, config_path, NULL };
    statsd_pid = th_spawn(argv, log_path);
    free(config_path);
    if (!statsd_caught_up("test.ready")) {
        char *log = th_read_file(log_path);
        cr_assert_fail("statsd did not answer on 127.0.0.1:%d; its log:\n%s",
                       mgmt_port, log ? log : "(none)");
    }
}

static void statsd_stop(void)
{
    th_stop_process(&statsd_pid);
}

static void daemon_setup(void)
{
    tmpdir = th_tempdir();
    ctx = zmq_ctx_new();
    statsd_start();
}

static void daemon_teardown(void)
{
    statsd_stop();
    th_close_all();
    if (ctx)
        zmq_ctx_term(ctx);
    th_remove_tree(tmpdir);
    free(tmpdir);
}

TestSuite(daemon, .init = daemon_setup, .fini = daemon_teardown,
          .timeout = 180);

/* The metric names statsd stores, for plain names or DogStatsD tags
 * (statsd 0.9 folds tags into the name as ";key=value"). */
static void counter_key(bool tags, char *key, size_t cap, const char *socket,
                        const char *event_name)
{
    if (tags)
        snprintf(key, cap, "zmq.events;socket=%s;event=%s", socket,
                 event_name);
    else
        snprintf(key, cap, "zmq.%s.%s", socket, event_name);
}

static void socket_key(bool tags, char *key, size_t cap, const char *socket,
                       const char *metric)
{
    if (tags)
        snprintf(key, cap, "zmq.%s;socket=%s", metric, socket);
    else
        snprintf(key, cap, "zmq.%s.%s", socket, metric);
}

static void drops_key(bool tags, char *key, size_t cap, const char *sink)
{
    if (tags)
        snprintf(key, cap, "zmq.zmqsink.dropped;sink=%s", sink);
    else
        snprintf(key, cap, "zmq.zmqsink.%s.dropped", sink);
}

static double admin_number(const char *command, const char *key)
{
    char *dump = admin(command);
    cr_assert_not_null(dump, "statsd's admin port did not answer");
    double v;
    bool found = dump_number(dump, key, &v);
    cr_assert(found, "'%s' missing from statsd's %s:\n%s", key, command, dump);
    free(dump);
    return v;
}

/* Waits until the statsd gauge equals want; returns the last value. */
static double wait_gauge(const char *key, double want)
{
    double v = -1;
    for (int waited = 0; waited < WAIT_MS; waited += 50) {
        char *dump = admin("gauges");
        bool found = dump && dump_number(dump, key, &v);
        free(dump);
        if (found && v == want)
            break;
        th_sleep_ms(50);
    }
    return v;
}

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
        counter_key(tags, key, sizeof key, socket, name);
        double v = 0;
        bool found = dump_number(counters, key, &v);
        if (e.counts[i]) {
            cr_assert(found, "%s missing:\n%s", key, counters);
            cr_assert_eq(v, (double)e.counts[i], "%s: %g, the log has %llu",
                         key, v, (unsigned long long)e.counts[i]);
        } else {
            cr_assert(!found, "%s is %g, the log has none", key, v);
        }
    }
    socket_key(tags, key, sizeof key, socket, "connections");
    double gauge = -1;
    cr_assert(dump_number(gauges, key, &gauge), "%s missing:\n%s", key,
              gauges);
    cr_assert_eq(gauge, (double)e.gauge, "%s: %g, want %lld", key, gauge,
                 (long long)e.gauge);

    socket_key(tags, key, sizeof key, socket, "connection_ms");
    double samples[256];
    int n = dump_array(timers, key, samples, 256);
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

#define CLIENTS 8

/* CLIENTS dealers connect to a router and close again, with a statsd
 * sink and a callback log of the same events; statsd's counters, gauges
 * and timers must then be exactly what the log says. */
static void real_sockets_give_exact_metrics(bool tags)
{
    zmqsink_t *zs = th_start(ctx, tmpdir, "shutdown_timeout: 5s\n"
                          "sinks:\n"
                          "  - name: metrics\n"
                          "    type: statsd\n"
                          "    address: 127.0.0.1:%d\n"
                          "    flush_interval: 50ms\n"
                          "    tags: %s\n",
                          statsd_port, tags ? "dogstatsd" : "none");
    th_log_t log;
    th_log_init(&log);
    cr_assert_eq(zmqsink_add_callback(zs, "log", ZMQSINK_EVENT_ALL,
                                      th_log_callback, &log),
                 0);
    void *server = th_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach(zs, server, "server"), 0);
    cr_assert_eq(zmq_bind(server, "tcp://127.0.0.1:*"), 0);
    char endpoint[256];
    th_last_endpoint(server, endpoint, sizeof endpoint);
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
    socket_key(tags, key, sizeof key, "server", "connections");
    cr_assert_eq(wait_gauge(key, CLIENTS), CLIENTS, "%s", key);
    socket_key(tags, key, sizeof key, "client", "connections");
    cr_assert_eq(wait_gauge(key, CLIENTS), CLIENTS, "%s", key);

    for (int i = 0; i < CLIENTS; i++)
        th_close(clients[i]);
    cr_assert_eq(wait_socket_events(&log, "server",
                                    ZMQSINK_EVENT_DISCONNECTED, CLIENTS),
                 CLIENTS);
    th_close(server);
    cr_assert_eq(th_log_wait(&log, ZMQSINK_EVENT_MONITOR_STOPPED, CLIENTS + 1,
                             WAIT_MS),
                 CLIENTS + 1);
    zmqsink_stats_t stats;
    zmqsink_destroy_stats(&zs, &stats);
    cr_assert_eq(stats.sinks[0].dropped_full, 0u);
    cr_assert_eq(stats.sinks[0].failed, 0u);
    cr_assert(statsd_caught_up("test.done"), "statsd did not catch up");

    char *counters = admin("counters"), *gauges = admin("gauges"),
         *timers = admin("timers");
    cr_assert(counters && gauges && timers);
    /* Fixed points first, so that a log that lost events cannot make the
     * comparison below pass. */
    double v;
    counter_key(tags, key, sizeof key, "server", "accepted");
    cr_assert(dump_number(counters, key, &v) && v == CLIENTS, "%s:\n%s", key,
              counters);
    counter_key(tags, key, sizeof key, "server", "disconnected");
    cr_assert(dump_number(counters, key, &v) && v == CLIENTS, "%s", key);
    counter_key(tags, key, sizeof key, "client", "connected");
    cr_assert(dump_number(counters, key, &v) && v == CLIENTS, "%s", key);
    socket_key(tags, key, sizeof key, "server", "connections");
    cr_assert(dump_number(gauges, key, &v) && v == 0, "%s:\n%s", key, gauges);
    socket_key(tags, key, sizeof key, "client", "connections");
    cr_assert(dump_number(gauges, key, &v) && v == 0, "%s:\n%s", key, gauges);
    socket_key(tags, key, sizeof key, "server", "connection_ms");
    double samples[256];
    cr_assert_eq(dump_array(timers, key, samples, 256), CLIENTS, "%s:\n%s",
                 key, timers);

    check_socket(tags, &log, "server", counters, gauges, timers);
    check_socket(tags, &log, "client", counters, gauges, timers);
    drops_key(tags, key, sizeof key, "metrics");
    cr_assert(dump_number(counters, key, &v) && v == 0, "%s:\n%s", key,
              counters);
    drops_key(tags, key, sizeof key, "log");
    cr_assert(dump_number(counters, key, &v) && v == 0, "%s", key);
    cr_assert(dump_number(counters, "statsd.bad_lines_seen", &v) && v == 0,
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
                          statsd_port, tmpdir);
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
    zmqsink_stats_t stats;
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
        char *dump = admin("counters");
        if (!dump || !dump_number(dump, "zmq.zmqsink.stuck.dropped", &early))
            early = 0;
        free(dump);
        th_sleep_ms(50);
    }
    cr_assert_gt(early, 0, "no drops of 'stuck' reached statsd");

    free(th_write_file(tmpdir, "release", ""));
    for (int i = 0; i < N; i++)
        th_close(clients[i]);
    th_close(server);
    for (int waited = 0; waited < WAIT_MS; waited += 10) {
        zmqsink_stats(zs, &stats);
        if (stats.sockets_attached == 0)
            break;
        th_sleep_ms(10);
    }
    zmqsink_destroy_stats(&zs, &stats);
    cr_assert_eq(stats.nsinks, 2u);
    cr_assert_str_eq(stats.sinks[1].name, "stuck");
    cr_assert_eq(stats.sinks[0].dropped_shutdown, 0u);
    cr_assert_eq(stats.sinks[1].dropped_shutdown, 0u);
    cr_assert(statsd_caught_up("test.done"), "statsd did not catch up");

    double v;
    double stuck = admin_number("counters", "zmq.zmqsink.stuck.dropped");
    cr_assert_eq(stuck, (double)stats.sinks[1].dropped_full,
                 "statsd has %g drops for 'stuck', the core %llu", stuck,
                 (unsigned long long)stats.sinks[1].dropped_full);
    v = admin_number("counters", "zmq.zmqsink.metrics.dropped");
    cr_assert_eq(v, (double)stats.sinks[0].dropped_full,
                 "statsd has %g drops for 'metrics', the core %llu", v,
                 (unsigned long long)stats.sinks[0].dropped_full);
    cr_assert_eq(admin_number("counters", "statsd.bad_lines_seen"), 0);
}
