/* Tests of the syslog sink: the plugin driven through its ABI against
 * sockets the test reads itself (exact bytes), then through the whole
 * pipeline into a real rsyslogd that writes what it parsed to a file. */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
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

#define RSYSLOGD "/usr/sbin/rsyslogd"
#define MARK "[truncated]"
/* Bounded waits. */
#define WAIT_MS 15000
#define STEP_MS 20

static char *tmpdir;

static int64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* tmpdir/name in a static buffer. */
static const char *in_tmp(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return path;
}

/* A growable string for expected values. */
typedef struct str {
    char *s;
    size_t len;
} str_t;

static void str_add(str_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *piece;
    cr_assert_geq(vasprintf(&piece, fmt, ap), 0);
    va_end(ap);
    size_t n = strlen(piece);
    b->s = realloc(b->s, b->len + n + 1);
    memcpy(b->s + b->len, piece, n + 1);
    b->len += n;
    free(piece);
}

/* An SD PARAM-VALUE as RFC 5424 6.3.3 wants it (test values are plain
 * printable ASCII). */
static void str_add_sd_value(str_t *b, const char *v)
{
    for (; *v; v++)
        str_add(b, strchr("\"\\]", *v) ? "\\%c" : "%c", *v);
}

/* What the sink must write as structured data for ev, built here from the
 * json contract: keys in its order, peer and duration_ms only when known. */
static char *expected_sd(const zmqsink_event_t *ev)
{
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    time_t sec = (time_t)(ev->time_ns / 1000000000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    char ts[64];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    str_t b = { 0 };
    str_add(&b, "[zmqsink@32473 ts=\"%s.%06dZ\" seq=\"%llu\" event=\"%s\" "
                "severity=\"%s\" socket=\"",
            ts, (int)(ev->time_ns % 1000000000 / 1000),
            (unsigned long long)ev->seq, zmqsink_event_name(ev->type),
            zmqsink_severity_name(ev->severity));
    str_add_sd_value(&b, ev->socket);
    str_add(&b, "\" socket_type=\"%s\" endpoint=\"",
            zmqsink_socket_type_name(ev->socket_type));
    str_add_sd_value(&b, ev->endpoint);
    str_add(&b, "\"");
    if (ev->peer[0]) {
        str_add(&b, " peer=\"");
        str_add_sd_value(&b, ev->peer);
        str_add(&b, "\"");
    }
    str_add(&b, " value=\"%u\"", ev->value);
    if (zmqsink_event_reason(ev))
        str_add(&b, " reason=\"%s\"", zmqsink_event_reason(ev));
    if (ev->duration_ms >= 0)
        str_add(&b, " duration_ms=\"%lld\"", (long long)ev->duration_ms);
    str_add(&b, " host=\"%s\" pid=\"%d\"]", host, (int)getpid());
    return b.s;
}

static char *rendered(zmqsink_format_t format, const zmqsink_event_t *ev)
{
    size_t n = zmqsink_format_event(format, ev, NULL, 0);
    char *s = malloc(n + 1);
    zmqsink_format_event(format, ev, s, n + 1);
    return s;
}

/* ---- the plugin, loaded by hand, with a host the test controls ---- */

static void *plugin_handle;
static const zmqsink_plugin_t *plugin;
static th_plugin_host_t th;

static void direct_setup(void)
{
    tmpdir = th_tempdir();
    plugin = th_plugin_load("syslog", &plugin_handle);
    /* Values as the core would give them: fallbacks, unset. */
    static const th_option_t options[] = {
        { "transport", "unix", 1, true },
        { "address", "log.sock", 0, true },
        { "format", "rfc5424", 0, true },
        { "facility", "daemon", 3, false },
        { "app_name", "zmqsink", 0, false },
        { "hostname", "testhost", 0, true },
        { "severity", NULL, 0, false },
        { "max_size", "2048", 2048, false },
        { "framing", "octet-counting", 0, false },
        { "buffer", "1MiB", 1 << 20, false },
        { "reconnect.min", "100ms", 100, false },
        { "reconnect.max", "30s", 30000, false },
        { "sd_id", "zmqsink@32473", 0, false },
        { 0 },
    };
    th_plugin_host_init(&th, plugin, "test", tmpdir, options);
    /* Every option the plugin declares is in the table above. */
    size_t n = 0;
    for (const zmqsink_option_t *o = plugin->options; o->key; o++, n++)
        th_plugin_option(&th, o->key);
    cr_assert_eq(n, sizeof options / sizeof options[0] - 1);
    setenv("TZ", "UTC", 1); /* rfc3164 writes local time */
    tzset();
}

static void direct_teardown(void)
{
    if (plugin_handle)
        dlclose(plugin_handle);
    th_remove_tree(tmpdir);
    free(tmpdir);
}

TestSuite(direct, .init = direct_setup, .fini = direct_teardown);


/* A datagram socket bound at tmpdir/log.sock, as a syslog server's. */
static int unix_server(void)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    int n = snprintf(un.sun_path, sizeof un.sun_path, "%s", in_tmp("log.sock"));
    cr_assert_lt((size_t)n, sizeof un.sun_path);
    cr_assert_eq(bind(fd, (struct sockaddr *)&un, sizeof un), 0, "%s",
                 strerror(errno));
    return fd;
}

/* The next datagram, NUL-terminated, waiting a bounded time. */
static char *receive(int fd)
{
    static char buf[70000];
    struct pollfd p = { .fd = fd, .events = POLLIN };
    cr_assert_eq(poll(&p, 1, WAIT_MS), 1, "no datagram came");
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    cr_assert_geq(n, 0);
    buf[n] = '\0';
    return buf;
}


Test(direct, rfc5424_message_is_exact)
{
    int server = unix_server();
    void *s = th_plugin_open(&th);
    zmqsink_event_t ev = th_sample_event(7);
    cr_assert_eq(plugin->write(s, &ev, 1), ZMQSINK_WRITE_OK);
    char *sd = expected_sd(&ev), *text = rendered(ZMQSINK_FORMAT_TEXT, &ev),
         want[4096];
    /* daemon (3) * 8 + notice (5) = 29 */
    snprintf(want, sizeof want,
             "<29>1 2023-11-14T22:13:20.123456Z testhost zmqsink %d "
             "disconnected %s %s",
             (int)getpid(), sd, text);
    cr_assert_str_eq(receive(server), want);
    cr_assert(strstr(want, "socket=\"a\\\"b\\\\c\\]d\""), "%s", want);
    cr_assert_eq(plugin->flush(s, 0), 0);
    plugin->close(s);
    free(sd);
    free(text);
    close(server);
    cr_assert_eq(th.logs, 0, "logged: %s", th.last_log);
}

Test(direct, rfc3164_message_is_exact_and_has_no_hostname_locally)
{
    int server = unix_server();
    th_plugin_set_option(&th, "format", "rfc3164", 1);
    th_plugin_set_option(&th, "facility", "local7", 23);
    th_plugin_set_option(&th, "app_name", "myapp", 0);
    void *s = th_plugin_open(&th);
    zmqsink_event_t ev = th_sample_event(8);
    cr_assert_eq(plugin->write(s, &ev, 1), ZMQSINK_WRITE_OK);
    char *logfmt = rendered(ZMQSINK_FORMAT_LOGFMT, &ev), want[4096];
    snprintf(want, sizeof want, "<189>Nov 14 22:13:20 myapp[%d]: %s",
             (int)getpid(), logfmt);
    cr_assert_str_eq(receive(server), want);
    plugin->close(s);
    free(logfmt);
    close(server);
}

Test(direct, severity_override_sets_the_pri_only)
{
    int server = unix_server();
    th.map_keys[0] = "disconnected";
    th.map_values[0] = "crit";
    th.map_keys[1] = "connected";
    th.map_values[1] = "debug";
    th.map_n = 2;
    void *s = th_plugin_open(&th);
    zmqsink_event_t ev[2] = { th_sample_event(1), th_sample_event(2) };
    ev[1].type = ZMQSINK_EVENT_ACCEPTED;
    ev[1].severity = ZMQSINK_SEV_INFO;
    cr_assert_eq(plugin->write(s, ev, 2), ZMQSINK_WRITE_OK);
    const char *got = receive(server);
    cr_assert_eq(strncmp(got, "<26>1 ", 6), 0, "%s", got); /* 3*8 + 2 */
    cr_assert(strstr(got, " severity=\"notice\" "), "the event's: %s", got);
    got = receive(server);
    cr_assert_eq(strncmp(got, "<30>1 ", 6), 0, "not overridden: %s", got);
    plugin->close(s);
    close(server);
}

/* max_size cuts the MSG, then leaves out an SD that cannot fit. */
Test(direct, truncation_keeps_the_header_and_marks_the_cut)
{
    int server = unix_server();
    th_plugin_set_option(&th, "max_size", "480", 480);
    void *s = th_plugin_open(&th);
    zmqsink_event_t ev[2] = { th_sample_event(1), th_sample_event(2) };
    for (int i = 0; i < 2; i++) {
        memset(ev[i].socket, 's', 60); /* long, but the SD fits */
        ev[i].socket[60] = '\0';
    }
    memset(ev[1].endpoint, ']', 250); /* 500 bytes escaped: it does not */
    ev[1].endpoint[250] = '\0';
    cr_assert_eq(plugin->write(s, ev, 2), ZMQSINK_WRITE_OK);
    for (int i = 0; i < 2; i++) {
        const char *got = receive(server);
        char *sd = expected_sd(&ev[i]), *text = rendered(ZMQSINK_FORMAT_TEXT,
                                                          &ev[i]),
             head[512];
        snprintf(head, sizeof head,
                 "<29>1 2023-11-14T22:13:20.123456Z testhost zmqsink %d "
                 "disconnected %s ",
                 (int)getpid(), i == 0 ? sd : "-");
        size_t keep = 480 - strlen(head) - strlen(MARK);
        cr_assert_eq(strlen(got), 480, "%zu: %s", strlen(got), got);
        cr_assert_eq(strncmp(got, head, strlen(head)), 0, "%s", got);
        cr_assert_eq(strncmp(got + strlen(head), text, keep), 0, "%s", got);
        cr_assert_str_eq(got + 480 - strlen(MARK), MARK);
        free(sd);
        free(text);
    }
    cr_assert_eq(th.logs, 1, "the first cut is logged once");
    cr_assert(strstr(th.last_log, "max_size 480"), "%s", th.last_log);
    plugin->close(s);
    close(server);
}

/* While the server is away messages wait, up to `buffer` bytes; past that
 * the core keeps the events (RETRY); once it is back they all go, in
 * order, once. */
Test(direct, bounded_buffer_while_the_server_is_away)
{
    th_plugin_set_option(&th, "buffer", "", 1200);
    th_plugin_set_option(&th, "reconnect.min", "", 1);
    th_plugin_set_option(&th, "reconnect.max", "", 1);
    void *s = th_plugin_open(&th);
    zmqsink_event_t ev[4] = { th_sample_event(1), th_sample_event(2),
                              th_sample_event(3), th_sample_event(4) };
    cr_assert_eq(plugin->write(s, &ev[0], 1), ZMQSINK_WRITE_OK);
    cr_assert_eq(plugin->write(s, &ev[1], 1), ZMQSINK_WRITE_OK);
    cr_assert_eq(plugin->write(s, &ev[2], 1), ZMQSINK_WRITE_RETRY,
                 "two ~520-byte messages fill 1200 bytes");
    cr_assert_eq(th.logs, 1, "the outage is logged once");
    cr_assert(strstr(th.last_log, in_tmp("log.sock")), "%s", th.last_log);
    int server = unix_server();
    th_sleep_ms(5); /* past reconnect.max */
    plugin->tick(s, monotonic_ns());
    cr_assert_eq(plugin->write(s, &ev[2], 2), ZMQSINK_WRITE_OK);
    for (int i = 0; i < 4; i++) {
        char want[32];
        snprintf(want, sizeof want, " seq=\"%d\" ", i + 1);
        cr_assert(strstr(receive(server), want), "message %d", i + 1);
    }
    struct pollfd p = { .fd = server, .events = POLLIN };
    cr_assert_eq(poll(&p, 1, 100), 0, "nothing more");
    cr_assert_eq(plugin->flush(s, 0), 0);
    plugin->close(s);
    cr_assert_eq(th.failed, 0);
    close(server);
}

/* Ticks only while messages wait: an idle sink, connected or not, asks for
 * none; a message waiting for the server asks for the next connect
 * attempt, which sends it, and then for nothing more. */
Test(direct, asks_for_ticks_only_while_messages_wait)
{
    th_plugin_set_option(&th, "reconnect.min", "", 1);
    th_plugin_set_option(&th, "reconnect.max", "", 1);
    cr_assert(plugin->flags & ZMQSINK_PLUGIN_TICKS_ON_REQUEST);
    void *s = th_plugin_open(&th); /* no server: the connect failed */
    cr_assert_eq(th.tick_at_ns, INT64_MAX, "nothing waits, no tick asked");
    zmqsink_event_t ev = th_sample_event(1);
    cr_assert_eq(plugin->write(s, &ev, 1), ZMQSINK_WRITE_OK);
    cr_assert_neq(th.tick_at_ns, INT64_MAX, "a waiting message asks");
    int server = unix_server();
    th_plugin_tick_when_asked(&th, s, WAIT_MS);
    cr_assert(strstr(receive(server), " seq=\"1\" "));
    cr_assert_eq(th.delivered, 1);
    cr_assert_eq(th.tick_at_ns, INT64_MAX, "sent: no more ticks");
    ev.seq = 2;
    cr_assert_eq(plugin->write(s, &ev, 1), ZMQSINK_WRITE_OK);
    cr_assert(strstr(receive(server), " seq=\"2\" "));
    cr_assert_eq(th.tick_at_ns, INT64_MAX, "sent at once: no tick asked");
    plugin->close(s);
    close(server);
}

/* A server that reads slowly fills the socket: the sink asks for ticks
 * until the socket took every message, each once and in order. */
Test(direct, a_full_socket_is_ticked_until_it_took_everything)
{
    enum { COUNT = 200 };
    int server = unix_server();
    void *s = th_plugin_open(&th);
    static zmqsink_event_t ev[COUNT];
    for (int i = 0; i < COUNT; i++)
        ev[i] = th_sample_event((uint64_t)i + 1);
    cr_assert_eq(plugin->write(s, ev, COUNT), ZMQSINK_WRITE_OK);
    cr_assert_lt(th.delivered, COUNT, "the socket took everything at once");
    int got = 0;
    while (th.tick_at_ns != INT64_MAX) {
        struct pollfd p = { .fd = server, .events = POLLIN };
        while (poll(&p, 1, 0) == 1) {
            char want[32];
            snprintf(want, sizeof want, " seq=\"%d\" ", ++got);
            cr_assert(strstr(receive(server), want), "message %d", got);
        }
        th_plugin_tick_when_asked(&th, s, WAIT_MS);
    }
    while (got < COUNT) {
        char want[32];
        snprintf(want, sizeof want, " seq=\"%d\" ", ++got);
        cr_assert(strstr(receive(server), want), "message %d", got);
    }
    cr_assert_eq(th.delivered, COUNT);
    plugin->close(s);
    close(server);
}

Test(direct, unsent_messages_are_reported_once)
{
    th_plugin_set_option(&th, "reconnect.min", "", 3600000);
    th_plugin_set_option(&th, "reconnect.max", "", 3600000);
    void *s = th_plugin_open(&th);
    zmqsink_event_t ev[3] = { th_sample_event(1), th_sample_event(2),
                              th_sample_event(3) };
    cr_assert_eq(plugin->write(s, ev, 3), ZMQSINK_WRITE_OK);
    cr_assert_eq(plugin->flush(s, monotonic_ns() + 50000000), 3);
    plugin->close(s);
    cr_assert_eq(th.failed, 0, "flush reported them: close must not");
    s = th_plugin_open(&th);
    cr_assert_eq(plugin->write(s, ev, 2), ZMQSINK_WRITE_OK);
    plugin->close(s);
    cr_assert_eq(th.failed, 2);
}

/* Reads until want bytes came or the peer closed. */
static size_t read_exactly(int fd, char *buf, size_t want)
{
    size_t got = 0;
    struct pollfd p = { .fd = fd, .events = POLLIN };
    while (got < want && poll(&p, 1, WAIT_MS) == 1) {
        ssize_t n = read(fd, buf + got, want - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    return got;
}

/* A unix socket that turns out to be a stream (syslog-ng's /dev/log): the
 * sink switches to a stream and ends each message with a newline. */
Test(direct, unix_stream_server_gets_lf_terminated_messages)
{
    int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    int n = snprintf(un.sun_path, sizeof un.sun_path, "%s", in_tmp("log.sock"));
    cr_assert_lt((size_t)n, sizeof un.sun_path);
    cr_assert_eq(bind(listener, (struct sockaddr *)&un, sizeof un), 0);
    cr_assert_eq(listen(listener, 1), 0);
    void *s = th_plugin_open(&th);
    zmqsink_event_t ev[2] = { th_sample_event(1), th_sample_event(2) };
    cr_assert_eq(plugin->write(s, ev, 2), ZMQSINK_WRITE_OK);
    int conn = accept(listener, NULL, NULL);
    cr_assert_geq(conn, 0);
    char got[4096], *first;
    read_exactly(conn, got, 2 * 100); /* at least the start of both */
    cr_assert_eq(strncmp(got, "<29>1 2023-11-14T22:13:20.123456Z ", 34), 0,
                 "%s", got);
    cr_assert_eq(plugin->flush(s, monotonic_ns() + 1000000000), 0);
    plugin->close(s); /* EOF for read_exactly */
    size_t len = strlen(got);
    len += read_exactly(conn, got + len, sizeof got - 1 - len);
    first = strchr(got, '\n');
    cr_assert_not_null(first, "%s", got);
    cr_assert(strstr(first + 1, "<29>1 ") == first + 1, "%s", got);
    cr_assert_eq(got[len - 1], '\n');
    cr_assert_eq(strchr(first + 1, '\n'), got + len - 1, "two lines: %s", got);
    close(conn);
    close(listener);
}

/* A TCP server of the test's: accepts, then reads what comes. */
static int tcp_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(fd, 4), 0);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    return fd;
}

static int accept_within(int listener, void *s)
{
    struct pollfd p = { .fd = listener, .events = POLLIN };
    int ready = 0;
    for (int i = 0; i < WAIT_MS / STEP_MS && !ready; i++) {
        ready = poll(&p, 1, STEP_MS);
        plugin->tick(s, monotonic_ns());
    }
    int fd = ready ? accept(listener, NULL, NULL) : -1;
    cr_assert_geq(fd, 0, "the sink did not connect");
    return fd;
}

/* Framing on tcp: "LEN SP MSG" by default, MSG LF with `framing: lf`. After
 * the server closes the connection, the next message goes, once, on a new
 * one. */
Test(direct, tcp_framing_and_reconnect)
{
    static const struct {
        const char *framing;
        int64_t index;
    } cases[] = { { "octet-counting", 0 }, { "lf", 1 } };
    for (size_t c = 0; c < 2; c++) {
        int port, listener = tcp_listener(&port);
        char address[64];
        snprintf(address, sizeof address, "127.0.0.1:%d", port);
        th_plugin_set_option(&th, "transport", "tcp", 3);
        th_plugin_set_option(&th, "address", address, 0);
        th_plugin_set_option(&th, "framing", cases[c].framing, cases[c].index);
        th_plugin_set_option(&th, "reconnect.min", "", 1);
        th_plugin_set_option(&th, "reconnect.max", "", 1);
        void *s = th_plugin_open(&th);
        for (uint64_t seq = 1; seq <= 2; seq++) {
            zmqsink_event_t ev = th_sample_event(seq);
            cr_assert_eq(plugin->write(s, &ev, 1), ZMQSINK_WRITE_OK);
            int conn = accept_within(listener, s);
            char *sd = expected_sd(&ev), *text = rendered(ZMQSINK_FORMAT_TEXT,
                                                          &ev),
                 msg[4096], frame[4200], got[4200];
            snprintf(msg, sizeof msg,
                     "<29>1 2023-11-14T22:13:20.123456Z testhost zmqsink %d "
                     "disconnected %s %s",
                     (int)getpid(), sd, text);
            if (c == 0)
                snprintf(frame, sizeof frame, "%zu %s", strlen(msg), msg);
            else
                snprintf(frame, sizeof frame, "%s\n", msg);
            read_exactly(conn, got, strlen(frame));
            cr_assert_str_eq(got, frame, "case %s", cases[c].framing);
            close(conn); /* the server goes away: FIN */
            free(sd);
            free(text);
        }
        plugin->close(s);
        close(listener);
    }
    cr_assert_eq(th.failed, 0);
}

/* A name that does not resolve when the sink opens (DNS not up yet at
 * boot; the resolver's failures are the test host's, the server is real):
 * the sink opens, says so once, keeps its messages and looks the name up
 * again at each connect attempt; once it resolves they go, none failed. */
Test(direct, a_name_that_resolves_late_is_an_outage_not_a_failure)
{
    int port, listener = tcp_listener(&port);
    char address[64];
    snprintf(address, sizeof address, "127.0.0.1:%d", port);
    th_plugin_set_option(&th, "transport", "tcp", 3);
    th_plugin_set_option(&th, "address", address, 0);
    th_plugin_set_option(&th, "reconnect.min", "", 1);
    th_plugin_set_option(&th, "reconnect.max", "", 1);
    char said[256];
    snprintf(said, sizeof said,
             "cannot connect to tcp %s: cannot resolve '%s': %s; messages "
             "wait (up to 1048576 bytes) while it reconnects",
             address, address, gai_strerror(EAI_AGAIN));
    void *s = th_plugin_open_unresolved(&th, 3, said);

    zmqsink_event_t ev = th_sample_event(1);
    cr_assert_eq(plugin->write(s, &ev, 1), ZMQSINK_WRITE_OK);
    int conn = accept_within(listener, s);
    cr_assert_eq(th.lookups, 4, "looked up until it resolved");
    char got[64];
    cr_assert_eq(read_exactly(conn, got, sizeof got - 1), sizeof got - 1);
    cr_assert(strstr(got, " <29>1 2023-11-14T22:13:20.123456Z testhost "),
              "the event's frame: %s", got);
    cr_assert_eq(th.delivered, 1);
    cr_assert_eq(th.failed, 0);
    cr_assert_eq(th.logs, 2, "%s", th.log_text);
    snprintf(said, sizeof said, "connected to tcp %s again", address);
    cr_assert_str_eq(th.last_log, said);
    close(conn);
    plugin->close(s);
    close(listener);
}

/* The core's resolver itself, on a name that never resolves: the sink
 * opens all the same and keeps what it is given; what it still holds at
 * close is counted as failed. */
Test(direct, a_name_that_never_resolves_keeps_its_messages_until_close)
{
    th_resolver_quick();
    th_plugin_set_option(&th, "transport", "tcp", 3);
    th_plugin_set_option(&th, "address", TH_NO_SUCH_HOST ":514", 0);
    void *s = th_plugin_open(&th);
    cr_assert(strstr(th.last_log, "cannot connect to tcp "
                                  TH_NO_SUCH_HOST ":514: cannot resolve "
                                  "'" TH_NO_SUCH_HOST "': "),
              "%s", th.last_log);
    zmqsink_event_t ev = th_sample_event(1);
    cr_assert_eq(plugin->write(s, &ev, 1), ZMQSINK_WRITE_OK);
    cr_assert_eq(th.delivered, 0);
    cr_assert_eq(th.failed, 0);
    plugin->close(s);
    cr_assert_eq(th_plugin_failed(&th, "unwritten"), 1);
}

Test(direct, open_errors_say_what_is_wrong)
{
    static const struct {
        const char *key, *text;
        int64_t number;
        const char *message;
    } cases[] = {
        { "address", NULL, 0,
          "transport unix needs `address:`, the path of the server's "
          "socket" },
        { "app_name", "my app", 0,
          "app_name 'my app' must be 1 to 48 printable ASCII characters "
          "without spaces" },
        { "hostname", "", 0,
          "hostname '' must be 1 to 255 printable ASCII characters without "
          "spaces" },
        { "sd_id", "zmqsink", 0,
          "sd_id 'zmqsink' must be NAME@NUMBER (a private enterprise "
          "number), at most 32 printable characters without '=', ']', '\"' "
          "or spaces" },
        { "severity", "bogus", 0,
          "severity: 'bogus' is not an event name (connected, "
          "disconnected, handshake_failed_auth, ...)" },
        { "severity", "loud", 1,
          "severity: 'loud' for 'connected' is not a severity (emerg, "
          "alert, crit, err, warning, notice, info, debug)" },
        { "address",
          "a/very/long/path/that/does/not/fit/into/sun_path/of/a/unix/socket/"
          "address/a/very/long/path/that/does/not/fit", 0,
          "address 'a/very/long/path/that/does/not/fit/into/sun_path/of/a/"
          "unix/socket/address/a/very/long/path/that/does/not/fit': a unix "
          "socket path must be shorter than 108 bytes" },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        th_plugin_host_t saved = th;
        if (strcmp(cases[c].key, "severity") == 0) {
            th.map_keys[0] = cases[c].number ? "connected" : cases[c].text;
            th.map_values[0] = cases[c].number ? cases[c].text : "err";
            th.map_n = 1;
        } else {
            th_plugin_set_option(&th, cases[c].key, cases[c].text, cases[c].number);
        }
        char err[512] = "";
        cr_assert_null(plugin->open(&th.host, err, sizeof err), "case %zu", c);
        cr_assert_str_eq(err, cases[c].message);
        th = saved;
    }
    static const struct {
        const char *transport, *address, *message;
    } inet[] = {
        { "tcp", "127.0.0.1:", "address '127.0.0.1:': expected HOST:PORT or "
                               "[IPV6]:PORT (port 1-65535), or HOST (port "
                               "514), or a unix socket path containing '/'" },
        { "udp", "[::1:514", "address '[::1:514': expected HOST:PORT or "
                             "[IPV6]:PORT (port 1-65535), or HOST (port "
                             "514), or a unix socket path containing '/'" },
        { "udp", "/run/syslog.sock",
          "address '/run/syslog.sock': transport udp needs HOST:PORT, not "
          "a path" },
    };
    for (size_t c = 0; c < sizeof inet / sizeof inet[0]; c++) {
        th_plugin_set_option(&th, "transport", inet[c].transport,
                   strcmp(inet[c].transport, "tcp") == 0 ? 3 : 2);
        th_plugin_set_option(&th, "address", inet[c].address, 0);
        char err[512] = "";
        cr_assert_null(plugin->open(&th.host, err, sizeof err));
        cr_assert_str_eq(err, inet[c].message);
    }
}

/* What open() refuses of the options alone, `zmqsink check` (and so
 * `zmqsink run`, before the program starts) refuses at the option's line,
 * or the line of the entry of `severity`. */
Test(check, zmqsink_check_names_the_option_at_fault)
{
    static const th_refusal_t cases[] = {
        { "    transport: udp\n    app_name: \"my app\"\n", "app_name", 5 },
        { "    sd_id: zmqsink\n", "sd_id 'zmqsink'", 4 },
        { "    app_name: app\n    hostname: \"a b\"\n", "hostname 'a b'", 5 },
        { "    severity:\n      connected: err\n      bogus: warning\n",
          "severity: 'bogus'", 6 },
        { "    severity:\n      connected: loud\n", "severity: 'loud'", 5 },
        { "    app_name: app\n    transport: unix\n",
          "transport unix needs `address:`", 5 },
        { "    transport: unix\n    address: 127.0.0.1:514\n",
          "address '127.0.0.1:514': transport unix needs a socket path", 5 },
        { "    address: \"[::1]:514\"\n",
          "address '[::1]:514': transport local needs a socket path", 4 },
        { "    transport: unix\n    address: localhost:514\n",
          "address 'localhost:514': transport unix needs a socket path", 5 },
        { "    transport: udp\n    address: /run/syslog.sock\n",
          "address '/run/syslog.sock': transport udp needs HOST:PORT, not a "
          "path", 5 },
        { "    transport: tcp\n    format: rfc3164\n    address: ./sock\n",
          "address './sock': transport tcp needs HOST:PORT, not a path", 6 },
    };
    char *dir = th_tempdir();
    th_expect_refused(dir, "bus", "syslog", cases,
                      sizeof cases / sizeof cases[0], th_check_config);
    /* Well formed, they pass: no socket is opened, no name resolved. */
    th_expect_accepted(dir, "bus", "syslog", "");
    th_expect_accepted(dir, "bus", "syslog",
                       "    transport: unix\n"
                       "    address: syslog.sock\n"
                       "    app_name: app\n"
                       "    hostname: web1\n"
                       "    sd_id: app@32473\n"
                       "    severity: { connected: warning }\n");
    th_expect_accepted(dir, "bus", "syslog",
                       "    transport: tcp\n"
                       "    address: localhost:514\n");
    th_remove_tree(dir);
    free(dir);
}

/* ---- a real rsyslogd ---- */

static pid_t rsyslogd = -1;
static int rsyslog_port;

/* What rsyslog parsed, one line per message, tab-separated. */
#define TEMPLATE                                                               \
    "%inputname%\\t%syslogseverity%\\t%syslogfacility%\\t%app-name%\\t"        \
    "%procid%\\t%msgid%\\t%hostname%\\t%timereported:::date-unixtimestamp%"    \
    "\\t%structured-data%\\t%msg%\\n"

static void write_rsyslog_conf(void)
{
    char text[2048];
    snprintf(text, sizeof text,
             "global(workDirectory=\"%s\" maxMessageSize=\"64k\")\n"
             "module(load=\"imudp\")\n"
             "module(load=\"imtcp\")\n"
             "input(type=\"imudp\" address=\"127.0.0.1\" port=\"%d\")\n"
             "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"%d\")\n"
             "template(name=\"fields\" type=\"string\" string=\"%s\")\n"
             /* Only what came from the network: not rsyslogd's own. */
             "if $inputname == \"imudp\" or $inputname == \"imtcp\" then\n"
             "  action(type=\"omfile\" file=\"%s/out.log\" "
             "template=\"fields\")\n",
             tmpdir, rsyslog_port, rsyslog_port, TEMPLATE, tmpdir);
    free(th_write_file(tmpdir, "rsyslog.conf", text));
}

static bool tcp_port_accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static void send_udp_probe(int port)
{
    static const char probe[] = "<14>1 - - probe - - - ready";
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    sendto(fd, probe, sizeof probe - 1, 0, (struct sockaddr *)&a, sizeof a);
    close(fd);
}

static bool out_log_has(const char *needle)
{
    char *text = th_read_file(in_tmp("out.log"));
    bool found = text && strstr(text, needle);
    free(text);
    return found;
}

/* Starts rsyslogd in the foreground and waits until both of its inputs
 * and its output work (the udp probe shows in out.log). */
static void start_rsyslog(void)
{
    cr_assert(access(RSYSLOGD, X_OK) == 0,
              RSYSLOGD " is missing (apt-get install rsyslog)");
    char pidfile[512];
    snprintf(pidfile, sizeof pidfile, "%s/rsyslogd.pid", tmpdir);
    rsyslogd = fork();
    cr_assert_geq(rsyslogd, 0);
    if (rsyslogd == 0) {
        int log = open(in_tmp("rsyslogd.log"),
                       O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(log, STDOUT_FILENO);
        dup2(log, STDERR_FILENO);
        execl(RSYSLOGD, RSYSLOGD, "-n", "-f", in_tmp("rsyslog.conf"), "-i",
              pidfile, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < WAIT_MS / STEP_MS; i++) {
        if (tcp_port_accepts(rsyslog_port)) {
            send_udp_probe(rsyslog_port);
            if (out_log_has("\tprobe\t"))
                return;
        }
        cr_assert_eq(waitpid(rsyslogd, NULL, WNOHANG), 0,
                     "rsyslogd exited; see %s", in_tmp("rsyslogd.log"));
        th_sleep_ms(STEP_MS);
    }
    cr_assert_fail("rsyslogd did not become ready");
}

static void stop_rsyslog(void)
{
    if (rsyslogd <= 0)
        return;
    kill(rsyslogd, SIGTERM);
    for (int i = 0; i < WAIT_MS / STEP_MS; i++) {
        if (waitpid(rsyslogd, NULL, WNOHANG) == rsyslogd) {
            rsyslogd = -1;
            return;
        }
        th_sleep_ms(STEP_MS);
    }
    kill(rsyslogd, SIGKILL);
    waitpid(rsyslogd, NULL, 0);
    rsyslogd = -1;
}

/* ---- the pipeline ---- */

static void *ctx, *router;
static zmqsink_t *zs;
static th_log_t events;

static void pipeline_setup(void)
{
    tmpdir = th_tempdir();
    ctx = zmq_ctx_new();
    cr_assert_not_null(ctx);
    th_log_init(&events);
    rsyslog_port = th_free_port();
    write_rsyslog_conf();
    setenv("TZ", "UTC", 1);
    tzset();
}

static void pipeline_teardown(void)
{
    zmqsink_destroy(&zs);
    th_close_all();
    zmq_ctx_term(ctx);
    stop_rsyslog();
    th_log_free(&events);
    th_remove_tree(tmpdir);
    free(tmpdir);
}

TestSuite(pipeline, .init = pipeline_setup, .fini = pipeline_teardown);

/* Starts zmqsink on the config text, with a callback sink that records
 * every event. */
static void start_config(const char *text)
{
    char err[1024] = "", *config = th_write_file(tmpdir, "app.yaml", text);
    zs = zmqsink_new(ctx, config, err, sizeof err);
    free(config);
    cr_assert_not_null(zs, "zmqsink_new: %s", err);
    cr_assert_eq(zmqsink_add_callback(zs, "record", ZMQSINK_EVENT_ALL,
                                      th_log_callback, &events),
                 0);
}

/* Starts zmqsink with one syslog sink to the test's rsyslogd (the given
 * options, YAML lines indented by four, come after the defaults) and a
 * callback sink that records every event. */
static void start(const char *transport, const char *options)
{
    char text[2048];
    snprintf(text, sizeof text,
             "queue: { capacity: 4096 }\n"
             "shutdown_timeout: 10s\n"
             "sinks:\n"
             "  - name: sys\n"
             "    type: syslog\n"
             "    transport: %s\n"
             "    address: 127.0.0.1:%d\n"
             "    facility: local3\n"
             "    app_name: zmqtest\n"
             "    hostname: testhost\n"
             "%s",
             transport, rsyslog_port, options);
    start_config(text);
}

/* A router, monitored from before its bind, accepts ndealers connections
 * one after the other, each proven by a message. */
static void traffic(const char *name, int ndealers)
{
    static char endpoint[256];
    if (!router) {
        router = th_socket(ctx, ZMQ_ROUTER);
        cr_assert_eq(zmqsink_attach(zs, router, name), 0);
        cr_assert_eq(zmq_bind(router, "tcp://127.0.0.1:*"), 0);
        th_last_endpoint(router, endpoint, sizeof endpoint);
        int timeout_ms = WAIT_MS;
        zmq_setsockopt(router, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    }
    th_dealers_visit(ctx, zs, NULL, router, endpoint, ndealers);
}

/* Closes the router (its last events: closed, monitor_stopped) and shuts
 * down, which delivers everything. */
static void finish(void)
{
    th_close(router);
    router = NULL;
    TH_STATS(stats);
    zmqsink_destroy_stats(&zs, &stats);
    cr_assert_eq(stats.nsinks, 2);
    cr_assert_str_eq(stats.sinks[0].name, "sys");
    cr_assert_eq(stats.sinks[0].failed, 0);
    cr_assert_eq(stats.sinks[0].dropped_full, 0);
    cr_assert_eq(stats.sinks[0].dropped_shutdown, 0);
    cr_assert_eq(stats.sinks[0].delivered, events.n);
    cr_assert_gt(events.n, 0);
}

/* One line of out.log, split in place. */
typedef struct parsed {
    char *input, *severity, *facility, *app, *procid, *msgid, *hostname,
        *unixtime, *sd, *msg;
} parsed_t;

static bool split_line(char *line, parsed_t *p)
{
    char **field[] = { &p->input,  &p->severity, &p->facility, &p->app,
                       &p->procid, &p->msgid,    &p->hostname, &p->unixtime,
                       &p->sd,     &p->msg };
    for (size_t i = 0; i < sizeof field / sizeof field[0]; i++) {
        *field[i] = line;
        char *tab = i + 1 < sizeof field / sizeof field[0]
                        ? strchr(line, '\t')
                        : NULL;
        if (tab) {
            *tab = '\0';
            line = tab + 1;
        } else if (i + 1 < sizeof field / sizeof field[0]) {
            return false;
        }
    }
    return true;
}

/* The lines of out.log from our app, split in place. */
typedef struct messages {
    char *text;
    char **line;
    size_t n;
} messages_t;

static size_t count_messages(const char *text)
{
    size_t n = 0;
    for (const char *p = text; p && (p = strstr(p, "\tzmqtest\t")); p++)
        n++;
    return n;
}

/* Waits (bounded) until at least want messages are in out.log. */
static messages_t read_messages(size_t want)
{
    messages_t m = { 0 };
    for (int i = 0; i < WAIT_MS / STEP_MS; i++) {
        free(m.text);
        m.text = th_read_file(in_tmp("out.log"));
        if (count_messages(m.text) >= want)
            break;
        th_sleep_ms(STEP_MS);
    }
    cr_assert_not_null(m.text, "rsyslogd wrote nothing");
    m.line = calloc(count_messages(m.text) + 1, sizeof *m.line);
    for (char *line = strtok(m.text, "\n"); line; line = strtok(NULL, "\n"))
        if (strstr(line, "\tzmqtest\t"))
            m.line[m.n++] = line;
    return m;
}

static void free_messages(messages_t *m)
{
    free(m->text);
    free(m->line);
    *m = (messages_t){ 0 };
}

/* The seq a message carries: in the SD (rfc5424) or in the logfmt MSG. */
static uint64_t message_seq(const parsed_t *p)
{
    const char *at = strstr(p->sd, " seq=\"");
    if (at)
        return strtoull(at + 6, NULL, 10);
    at = strstr(p->msg, " seq=");
    return at ? strtoull(at + 5, NULL, 10) : 0;
}

typedef struct check {
    const char *input;     /* imudp or imtcp */
    bool rfc3164;
    int severity_override; /* for `connected`, or -1 */
    size_t max_size;       /* 0: nothing is cut */
} check_t;

/* Every event the callback sink saw arrived exactly once, every field as
 * rsyslog parsed it right. */
static void check_messages(const check_t *c)
{
    messages_t m = read_messages(events.n);
    cr_assert_eq(m.n, events.n, "%zu messages for %zu events", m.n, events.n);
    bool *seen = calloc(events.n + 2, 1);
    size_t cuts = 0;
    for (size_t i = 0; i < m.n; i++) {
        char *raw = strdup(m.line[i]);
        parsed_t p;
        cr_assert(split_line(m.line[i], &p), "%s", raw);
        uint64_t seq = message_seq(&p);
        cr_assert(seq >= 1 && seq <= events.n, "seq %llu: %s",
                  (unsigned long long)seq, raw);
        cr_assert(!seen[seq], "seq %llu twice", (unsigned long long)seq);
        seen[seq] = true;
        const zmqsink_event_t *ev = &events.events[seq - 1];
        cr_assert_eq(ev->seq, seq);
        int severity = ev->severity;
        if (c->severity_override >= 0 && ev->type == ZMQSINK_EVENT_CONNECTED)
            severity = c->severity_override;
        char want[64];
        cr_assert_str_eq(p.input, c->input, "%s", raw);
        snprintf(want, sizeof want, "%d", severity);
        cr_assert_str_eq(p.severity, want, "%s", raw);
        cr_assert_str_eq(p.facility, "19", "local3: %s", raw);
        cr_assert_str_eq(p.app, "zmqtest", "%s", raw);
        snprintf(want, sizeof want, "%d", (int)getpid());
        cr_assert_str_eq(p.procid, want, "%s", raw);
        cr_assert_str_eq(p.hostname, "testhost", "%s", raw);
        if (c->rfc3164) {
            /* rsyslog keeps the space after "TAG[PID]:" in %msg%. */
            char *logfmt = rendered(ZMQSINK_FORMAT_LOGFMT, ev);
            cr_assert_str_eq(p.msgid, "-", "%s", raw);
            cr_assert_str_eq(p.sd, "-", "%s", raw);
            cr_assert_eq(p.msg[0], ' ', "%s", raw);
            cr_assert_str_eq(p.msg + 1, logfmt, "%s", raw);
            free(logfmt);
        } else {
            char *sd = expected_sd(ev), *text = rendered(ZMQSINK_FORMAT_TEXT,
                                                          ev);
            cr_assert_str_eq(p.msgid, zmqsink_event_name(ev->type), "%s", raw);
            snprintf(want, sizeof want, "%lld",
                     (long long)(ev->time_ns / 1000000000));
            cr_assert_str_eq(p.unixtime, want, "%s", raw);
            cr_assert_str_eq(p.sd, sd, "%s", raw);
            size_t head = strlen("<155>1 2023-11-14T22:13:20.123456Z "
                                 "testhost zmqtest  ") +
                          strlen(p.procid) + strlen(p.msgid) + 1;
            if (c->max_size &&
                head + strlen(sd) + 1 + strlen(text) > c->max_size) {
                size_t keep = c->max_size - head - strlen(sd) - 1 -
                              strlen(MARK);
                cuts++;
                cr_assert_eq(strlen(p.msg), keep + strlen(MARK), "%s", raw);
                cr_assert_eq(strncmp(p.msg, text, keep), 0, "%s", raw);
                cr_assert_str_eq(p.msg + keep, MARK, "%s", raw);
            } else {
                cr_assert_str_eq(p.msg, text, "%s", raw);
            }
            free(sd);
            free(text);
        }
        free(raw);
    }
    free(seen);
    free_messages(&m);
    if (c->max_size)
        cr_assert_gt(cuts, 0, "no message was cut");
}

static void run_and_check(const char *transport, const char *options,
                          const char *name, const check_t *c)
{
    start_rsyslog();
    start(transport, options);
    traffic(name, 3);
    finish();
    check_messages(c);
}

Test(pipeline, rfc5424_over_udp)
{
    check_t c = { "imudp", false, -1, 0 };
    run_and_check("udp", "", "frontend", &c);
}

Test(pipeline, rfc5424_over_tcp)
{
    check_t c = { "imtcp", false, -1, 0 };
    run_and_check("tcp", "", "frontend", &c);
}

Test(pipeline, rfc3164_over_udp)
{
    check_t c = { "imudp", true, -1, 0 };
    run_and_check("udp", "    format: rfc3164\n", "frontend", &c);
}

Test(pipeline, rfc3164_over_tcp)
{
    check_t c = { "imtcp", true, -1, 0 };
    run_and_check("tcp", "    format: rfc3164\n", "frontend", &c);
}

Test(pipeline, lf_framing_over_tcp)
{
    check_t c = { "imtcp", false, -1, 0 };
    run_and_check("tcp", "    framing: lf\n", "frontend", &c);
}

Test(pipeline, severity_override)
{
    check_t c = { "imudp", false, ZMQSINK_SEV_CRIT, 0 };
    run_and_check("udp", "    severity: { connected: crit }\n", "frontend",
                  &c);
}

/* The socket name holds every character SD escapes; rsyslog keeps the SD
 * as it was sent, escapes included. */
Test(pipeline, structured_data_escaping)
{
    check_t c = { "imtcp", false, -1, 0 };
    run_and_check("tcp", "", "q\"b\\s]e", &c);
}

Test(pipeline, max_size_cuts_the_msg_with_a_mark)
{
    check_t c = { "imtcp", false, -1, 480 };
    char name[64];
    memset(name, 'n', 63); /* a long SD: the MSG must be cut */
    name[63] = '\0';
    run_and_check("tcp", "    max_size: 480\n", name, &c);
}

/* Failures beside the router's traffic: a second bind on its port, a
 * CURVE client against it (a NULL server), a PLAIN client refused by a ZAP
 * handler with 400, a connect to a closed port retried. */
static void failures(void)
{
    th_zap_t zap;
    th_zap_start(&zap, ctx, "400");
    void *plain = th_plain_refused(ctx, zs, "plain");
    void *retrier = th_socket(ctx, ZMQ_DEALER);
    cr_assert_eq(zmqsink_attach(zs, retrier, "retrier"), 0);
    char nobody[64];
    snprintf(nobody, sizeof nobody, "tcp://127.0.0.1:%d", th_free_port());
    cr_assert_eq(zmq_connect(retrier, nobody), 0);
    th_bind_and_curve_failures(ctx, zs, router, &events);
    cr_assert_geq(th_log_wait(&events, ZMQSINK_EVENT_CONNECT_RETRIED, 1,
                              WAIT_MS),
                  1u);
    cr_assert_geq(th_log_wait(&events, ZMQSINK_EVENT_HANDSHAKE_FAILED_AUTH, 1,
                              WAIT_MS),
                  1u);
    th_close(retrier);
    th_close(plain);
    th_zap_stop(&zap);
}

/* The message rsyslog stored for the first event of type on socket. */
static void assert_reason_arrived(const char *socket, uint32_t type,
                                  const char *reason, const char *words)
{
    int at = -1;
    zmqsink_event_t ev;
    do
        at = th_log_find(&events, type, (size_t)(at + 1), &ev);
    while (at >= 0 && strcmp(ev.socket, socket) != 0);
    cr_assert_geq(at, 0, "no %s on %s", zmqsink_event_name(type), socket);
    messages_t m = read_messages(events.n);
    char seq[48], sd[96];
    snprintf(seq, sizeof seq, " seq=\"%llu\" ", (unsigned long long)ev.seq);
    snprintf(sd, sizeof sd, " value=\"%u\" reason=\"%s\" ", ev.value, reason);
    bool found = false;
    for (size_t i = 0; i < m.n && !found; i++) {
        parsed_t p;
        cr_assert(split_line(m.line[i], &p));
        if (!strstr(p.sd, seq))
            continue;
        found = true;
        cr_assert(strstr(p.sd, sd), "no %s in %s", sd, p.sd);
        cr_assert(strstr(p.msg, words), "no '%s' in %s", words, p.msg);
    }
    cr_assert(found, "no message with%s", seq);
    free_messages(&m);
}

/* rsyslog stores the reason in the structured data and says it in words
 * in the message. */
Test(pipeline, reasons_in_structured_data_and_message)
{
    start_rsyslog();
    start("tcp", "");
    traffic("frontend", 1);
    failures();
    finish();
    check_t c = { "imtcp", false, -1, 0 };
    check_messages(&c);
    assert_reason_arrived("second", ZMQSINK_EVENT_BIND_FAILED, "EADDRINUSE",
                          ": address already in use (EADDRINUSE)");
    assert_reason_arrived("frontend", ZMQSINK_EVENT_HANDSHAKE_FAILED_PROTOCOL,
                          "ZMTP_MECHANISM_MISMATCH",
                          ": the peers use different security mechanisms "
                          "(ZMTP_MECHANISM_MISMATCH)");
    assert_reason_arrived("curvy", ZMQSINK_EVENT_HANDSHAKE_FAILED_PROTOCOL,
                          "ZMTP_MECHANISM_MISMATCH", "(ZMTP_MECHANISM_MISMATCH)");
    assert_reason_arrived("plain", ZMQSINK_EVENT_HANDSHAKE_FAILED_AUTH,
                          "ZAP_400", ": authentication refused (ZAP_400)");
}

/* Waits (bounded) until the syslog sink took n events with write():
 * delivered, or pending in its buffer while the server is away. */
static void wait_taken_by_syslog(size_t n)
{
    TH_STATS(stats);
    for (int i = 0; i < WAIT_MS / STEP_MS; i++) {
        zmqsink_stats(zs, &stats);
        if (stats.sinks[0].delivered + stats.sinks[0].pending >= n)
            return;
        th_sleep_ms(STEP_MS);
    }
    cr_assert_fail("the syslog sink took %llu of %zu events",
                   (unsigned long long)(stats.sinks[0].delivered +
                                        stats.sinks[0].pending),
                   n);
}

/* rsyslogd restarts mid-stream: what was sent before arrived, what came
 * while it was away waited in the buffer, and after the restart every event
 * arrives exactly once. */
Test(pipeline, tcp_server_restart_loses_and_duplicates_nothing)
{
    start_rsyslog();
    start("tcp", "    reconnect: { min: 20ms, max: 200ms }\n");
    traffic("frontend", 2);
    size_t before = th_log_wait(&events, 0, 7, WAIT_MS);
    messages_t m = read_messages(before);
    cr_assert_geq(m.n, before, "sent before the stop");
    free_messages(&m);

    stop_rsyslog();
    traffic("frontend", 2); /* buffered while the server is away */
    wait_taken_by_syslog(th_log_wait(&events, 0, before + 6, WAIT_MS));
    start_rsyslog();
    traffic("frontend", 2);
    finish();
    check_t c = { "imtcp", false, -1, 0 };
    check_messages(&c);
}

/* rsyslogd stopped (SIGSTOP) before it read anything: the kernel's
 * buffers fill, then the sink's bounded buffer, then its queue, whose
 * overflow is dropped and counted; the program's traffic goes on at its
 * pace all along. Once rsyslogd goes on, what the sink held arrives,
 * each message once, and every event is delivered or counted. */
Test(pipeline, a_tcp_server_that_stops_reading_stalls_nothing)
{
    start_rsyslog();
    cr_assert_eq(kill(rsyslogd, SIGSTOP), 0);
    char text[1024];
    snprintf(text, sizeof text,
             "queue: { capacity: 256 }\n"
             "shutdown_timeout: 10s\n"
             "sinks:\n"
             "  - name: sys\n"
             "    type: syslog\n"
             "    transport: tcp\n"
             "    address: 127.0.0.1:%d\n"
             "    app_name: zmqtest\n"
             "    buffer: 64KiB\n",
             rsyslog_port);
    start_config(text);
    /* Connections, in rounds, until the kernel's buffers (megabytes: they
     * grow with what is sent), the sink's and its queue are full and the
     * queue drops; then one round more, at the same pace. A queue can
     * also drop early, from a burst while the sink's thread waits for a
     * CPU: the rounds go on until the sink holds what it cannot send. */
    TH_STATS(held);
    for (int round = 0; round < 100; round++) {
        traffic("frontend", 500);
        zmqsink_stats(zs, &held);
        if (held.sinks[0].dropped_full > 0 && held.sinks[0].pending > 0)
            break;
    }
    cr_assert(held.sinks[0].dropped_full > 0 && held.sinks[0].pending > 0,
              "the queue overflowed while the sink held a full buffer: "
              "%zu events, %llu delivered, %llu pending, %llu queued, "
              "%llu dropped", events.n,
              (unsigned long long)held.sinks[0].delivered,
              (unsigned long long)held.sinks[0].pending,
              (unsigned long long)held.sinks[0].queue_depth,
              (unsigned long long)held.sinks[0].dropped_full);
    /* One round more goes at the same pace. What the sink holds then is
     * not asserted: the receiving kernel compacts its queue now and then
     * (tcp_prune_queue), which reopens the window for a moment. */
    traffic("frontend", 500);

    cr_assert_eq(kill(rsyslogd, SIGCONT), 0);
    th_close(router);
    router = NULL;
    cr_assert_eq(zmqsink_settle(zs, ctx, WAIT_MS), 0);
    TH_STATS(stats);
    zmqsink_destroy_stats(&zs, &stats);
    /* Every event went to both sinks; the recording callback's ring is as
     * small, so it may have dropped some too: the instance's count is the
     * one to meet. */
    const zmqsink_sink_stats_t *sys = &stats.sinks[0];
    cr_assert_eq(stats.filtered, 0);
    cr_assert_eq(sys->failed + sys->dropped_shutdown, 0);
    cr_assert_eq(sys->delivered + sys->dropped_full, stats.events,
                 "delivered %llu + dropped %llu of %llu",
                 (unsigned long long)sys->delivered,
                 (unsigned long long)sys->dropped_full,
                 (unsigned long long)stats.events);
    messages_t m = read_messages(sys->delivered);
    cr_assert_eq(m.n, sys->delivered, "each message once");
    free_messages(&m);
}

/* A tcp server that never answers: nothing counts as delivered; what the
 * sink took is pending while it tries, and dropped when shutdown ends. */
Test(pipeline, tcp_without_a_server_delivers_nothing)
{
    char text[1024];
    snprintf(text, sizeof text,
             "shutdown_timeout: 300ms\n"
             "sinks:\n"
             "  - name: sys\n"
             "    type: syslog\n"
             "    transport: tcp\n"
             "    address: 127.0.0.1:%d\n",
             rsyslog_port); /* no rsyslogd started: nobody listens */
    start_config(text);
    traffic("frontend", 2);
    size_t n = th_log_wait(&events, 0, 7, WAIT_MS);
    wait_taken_by_syslog(n);
    TH_STATS(stats);
    zmqsink_stats(zs, &stats);
    cr_assert_eq(stats.sinks[0].delivered, 0);
    cr_assert_geq(stats.sinks[0].pending, n);

    th_close(router);
    router = NULL;
    zmqsink_destroy_stats(&zs, &stats);
    const zmqsink_sink_stats_t *sys = &stats.sinks[0];
    cr_assert_eq(sys->delivered, 0);
    cr_assert_eq(sys->pending + sys->queue_depth, 0);
    cr_assert_eq(sys->enqueued, stats.sinks[1].delivered,
                 "it was routed every event");
    cr_assert_eq(sys->dropped_shutdown + sys->failed, sys->enqueued,
                 "dropped %llu, failed %llu of %llu",
                 (unsigned long long)sys->dropped_shutdown,
                 (unsigned long long)sys->failed,
                 (unsigned long long)sys->enqueued);
}
