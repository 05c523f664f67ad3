/* The application's own monitors beside zmqsink's (zmqsink_socket_monitor),
 * the errno of failed binds (zmqsink_bind), sinks started in the
 * background (zmqsink_start), and losses said (the log, the stats file).
 * Wherever libzmq itself can answer, the test asks it and compares. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "helpers.h"

#define WAIT_MS 5000

static void *ctx;
static zmqsink_t *zs;
static th_log_t events;
static char *dir;

TestSuite(monitor, .timeout = 60);

/* zmqsink with a json file sink and a callback sink into `events`. */
static void setup(void)
{
    ctx = zmq_ctx_new();
    dir = th_tempdir();
    zs = th_start(ctx, dir,
                  "sinks:\n  - { name: jsonl, type: file, path: %s/all.jsonl }\n",
                  dir);
    th_log_init(&events);
    cr_assert_eq(zmqsink_add_callback(zs, "log", ZMQSINK_EVENT_ALL,
                                      th_log_callback, &events),
                 0);
}

static void teardown(void)
{
    zmqsink_destroy(&zs);
    th_close_all();
    zmq_ctx_term(ctx);
    th_log_free(&events);
    th_remove_tree(dir);
    free(dir);
}

/* One v1 monitor message as the application reads it. */
typedef struct frames {
    uint16_t event;
    uint32_t value;
    char endpoint[256];
    int nframes;
} frames_t;

/* Reads one message of an application monitor, waiting at most
 * timeout_ms. Returns 0, or -1 when none came. */
static int frames_read(void *monitor, frames_t *f, int timeout_ms)
{
    zmq_pollitem_t item = {monitor, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, timeout_ms) != 1)
        return -1;
    uint8_t head[16];
    int more = 1;
    size_t size = sizeof more;
    memset(f, 0, sizeof *f);
    int n = zmq_recv(monitor, head, sizeof head, 0);
    cr_assert_eq(n, 6, "a v1 first frame has 6 bytes, not %d", n);
    memcpy(&f->event, head, sizeof f->event);
    memcpy(&f->value, head + 2, sizeof f->value);
    f->nframes = 1;
    while (zmq_getsockopt(monitor, ZMQ_RCVMORE, &more, &size) == 0 && more) {
        int len = zmq_recv(monitor, f->endpoint, sizeof f->endpoint - 1, 0);
        cr_assert_geq(len, 0);
        f->endpoint[len] = '\0';
        f->nframes++;
    }
    cr_assert_eq(f->nframes, 2, "a v1 message has 2 frames");
    return 0;
}

/* Reads messages until one of type want; fails if it never comes. The
 * types read on the way are or-ed into *seen (may be NULL). */
static frames_t frames_until(void *monitor, uint16_t want, uint32_t *seen)
{
    frames_t f;
    for (;;) {
        cr_assert_eq(frames_read(monitor, &f, WAIT_MS), 0, "no %s on the monitor",
                     zmqsink_event_name(want));
        if (seen)
            *seen |= f.event;
        if (f.event == want)
            return f;
    }
}

/* Fails if the monitor gets a message within a short while. */
static void assert_quiet(void *monitor)
{
    frames_t f;
    cr_assert_eq(frames_read(monitor, &f, 100), -1,
                 "unexpected %s on the monitor", zmqsink_event_name(f.event));
}

/* A PAIR connected to the application monitor at endpoint. */
static void *monitor_reader(const char *endpoint)
{
    void *pair = th_socket(ctx, ZMQ_PAIR);
    cr_assert_eq(zmq_connect(pair, endpoint), 0);
    return pair;
}

/* A bound ROUTER; its endpoint into out. */
static void *server(char *out, size_t cap)
{
    void *router = th_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmq_bind(router, "tcp://127.0.0.1:*"), 0);
    th_last_endpoint(router, out, cap);
    return router;
}

/* How many events of type the sinks got for socket. */
static size_t reported(const char *socket, uint32_t type)
{
    size_t n = 0;
    pthread_mutex_lock(&events.lock);
    for (size_t i = 0; i < events.n; i++)
        n += events.events[i].type == type &&
             strcmp(events.events[i].socket, socket) == 0;
    pthread_mutex_unlock(&events.lock);
    return n;
}

/* Waits until the sinks got count events of type for socket. */
static void wait_reported(const char *socket, uint32_t type, size_t count)
{
    for (int waited = 0; reported(socket, type) < count && waited < WAIT_MS;
         waited += 5)
        th_sleep_ms(5);
    cr_assert_geq(reported(socket, type), count, "%zu %s of %s reported",
                  reported(socket, type), zmqsink_event_name(type), socket);
}

/* A DEALER attached as name, whose application monitor (every event) is
 * read by *own, connected to a fresh ROUTER (*router, at endpoint), once
 * its handshake is done. */
static void *talking_client(const char *name, const char *monitor,
                            void **own, void **router, char *endpoint,
                            size_t cap)
{
    *router = server(endpoint, cap);
    void *client = th_socket(ctx, ZMQ_DEALER);
    cr_assert_eq(zmqsink_attach(zs, client, name), 0);
    cr_assert_eq(zmqsink_socket_monitor(zs, client, monitor, ZMQ_EVENT_ALL),
                 0);
    *own = monitor_reader(monitor);
    cr_assert_eq(zmq_connect(client, endpoint), 0);
    frames_until(*own, ZMQ_EVENT_HANDSHAKE_SUCCEEDED, NULL);
    return client;
}

Test(monitor, started_before_the_attach_sees_its_mask_only,
     .init = setup, .fini = teardown)
{
    char endpoint[256];
    server(endpoint, sizeof endpoint);
    void *client = th_socket(ctx, ZMQ_DEALER);
    uint32_t mask = ZMQ_EVENT_CONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
                    ZMQ_EVENT_MONITOR_STOPPED;
    cr_assert_eq(zmqsink_socket_monitor(zs, client, "inproc://own", (int)mask),
                 0);
    void *own = monitor_reader("inproc://own");
    cr_assert_eq(zmqsink_attach(zs, client, "client"), 0);
    cr_assert_eq(zmq_connect(client, endpoint), 0);

    uint32_t seen = 0;
    frames_t f = frames_until(own, ZMQ_EVENT_CONNECTED, &seen);
    cr_expect_str_eq(f.endpoint, endpoint);
    frames_until(own, ZMQ_EVENT_HANDSHAKE_SUCCEEDED, &seen);
    cr_expect_eq(seen & ~mask, 0, "events outside the mask: %#x", seen);
    cr_assert_eq(zmqsink_socket_monitor(zs, client, NULL, 0), 0);
    f = frames_until(own, ZMQ_EVENT_MONITOR_STOPPED, NULL);
    cr_expect_eq(f.value, 0);
    cr_expect_str_eq(f.endpoint, "");
    assert_quiet(own);

    /* zmqsink saw everything, its own monitor never stopped by those. */
    wait_reported("client", ZMQSINK_EVENT_HANDSHAKE_SUCCEEDED, 1);
    cr_expect_eq(reported("client", ZMQSINK_EVENT_CONNECTED), 1);
    th_close(client);
    wait_reported("client", ZMQSINK_EVENT_MONITOR_STOPPED, 1);
    th_sleep_ms(50);
    cr_expect_eq(reported("client", ZMQSINK_EVENT_MONITOR_STOPPED), 1);
}

Test(monitor, a_socket_only_its_application_monitors_is_not_reported,
     .init = setup, .fini = teardown)
{
    char endpoint[256];
    server(endpoint, sizeof endpoint);
    void *client = th_socket(ctx, ZMQ_DEALER);
    cr_assert_eq(zmqsink_socket_monitor(zs, client, "inproc://own",
                                        ZMQ_EVENT_ALL),
                 0);
    void *own = monitor_reader("inproc://own");
    cr_assert_eq(zmq_connect(client, endpoint), 0);
    frames_until(own, ZMQ_EVENT_HANDSHAKE_SUCCEEDED, NULL);
    th_close(client);
    frames_until(own, ZMQ_EVENT_MONITOR_STOPPED, NULL);
    TH_STATS(stats);
    zmqsink_stats(zs, &stats);
    cr_expect_eq(stats.sockets_attached, 0);
    cr_expect_eq(stats.events, 0, "%llu events reported",
                 (unsigned long long)stats.events);
}

Test(monitor, a_new_monitor_stops_the_old_one_in_order, .init = setup,
     .fini = teardown)
{
    char endpoint[256];
    void *router, *m1;
    void *client = talking_client("client", "inproc://m1", &m1, &router,
                                  endpoint, sizeof endpoint);
    cr_assert_eq(zmqsink_socket_monitor(zs, client, "inproc://m2",
                                        ZMQ_EVENT_ALL),
                 0);
    frames_until(m1, ZMQ_EVENT_MONITOR_STOPPED, NULL);
    assert_quiet(m1);
    void *m2 = monitor_reader("inproc://m2");
    th_close(router);
    /* The connection opened before m2 started: m2 sees it end only. */
    frames_t f;
    cr_assert_eq(frames_read(m2, &f, WAIT_MS), 0);
    cr_expect_eq(f.event, ZMQ_EVENT_DISCONNECTED, "first on m2: %s",
                 zmqsink_event_name(f.event));
    cr_expect_str_eq(f.endpoint, endpoint);
    wait_reported("client", ZMQSINK_EVENT_DISCONNECTED, 1);
    cr_expect_eq(reported("client", ZMQSINK_EVENT_MONITOR_STOPPED), 0);
}

Test(monitor, rename_and_detach_keep_the_applications_monitor,
     .init = setup, .fini = teardown)
{
    char endpoint[256];
    void *router, *own;
    void *client = talking_client("a", "inproc://own", &own, &router,
                                  endpoint, sizeof endpoint);
    cr_assert_eq(zmqsink_attach(zs, client, "b"), 0);
    wait_reported("a", ZMQSINK_EVENT_MONITOR_STOPPED, 1);
    cr_assert_eq(zmqsink_detach(zs, client), 0);
    wait_reported("b", ZMQSINK_EVENT_MONITOR_STOPPED, 1);
    assert_quiet(own); /* neither reached the application's monitor */
    th_close(router);
    frames_until(own, ZMQ_EVENT_DISCONNECTED, NULL);
    th_close(client);
    frames_until(own, ZMQ_EVENT_MONITOR_STOPPED, NULL);
    cr_expect_eq(reported("b", ZMQSINK_EVENT_DISCONNECTED), 0,
                 "reported after the detach");
}

/* libzmq gives a new socket the address of the one just closed: once
 * announced closed, the old one's monitor ends as it should, and the new
 * one starts with nothing of it, whenever the collector reads the old
 * one's last events. */
Test(monitor, a_new_socket_where_a_closed_one_was_starts_afresh,
     .init = setup, .fini = teardown)
{
    for (int i = 0; i < 20; i++) {
        char first[64], second[64];
        snprintf(first, sizeof first, "inproc://old-%d", i);
        snprintf(second, sizeof second, "inproc://new-%d", i);
        void *old = zmq_socket(ctx, ZMQ_ROUTER);
        cr_assert_eq(zmqsink_attach(zs, old, "old"), 0);
        cr_assert_eq(zmqsink_socket_monitor(zs, old, first, ZMQ_EVENT_ALL), 0);
        void *own_old = monitor_reader(first);
        zmqsink_socket_closed(zs, old);
        cr_assert_eq(zmq_close(old), 0);
        void *fresh = zmq_socket(ctx, ZMQ_ROUTER);
        cr_assert_eq(zmqsink_socket_monitor(zs, fresh, second,
                                            ZMQ_EVENT_ALL), 0);
        void *own_new = monitor_reader(second);
        cr_assert_eq(zmq_bind(fresh, "tcp://127.0.0.1:*"), 0);
        frames_until(own_new, ZMQ_EVENT_LISTENING, NULL);
        frames_until(own_old, ZMQ_EVENT_MONITOR_STOPPED, NULL);
        assert_quiet(own_old); /* nothing of the new socket */
        zmqsink_socket_closed(zs, fresh);
        zmq_close(fresh);
        frames_until(own_new, ZMQ_EVENT_MONITOR_STOPPED, NULL);
        th_close(own_old);
        th_close(own_new);
    }
    /* The new sockets were never attached: only the old ones reported. */
    wait_reported("old", ZMQSINK_EVENT_MONITOR_STOPPED, 20);
    cr_expect_eq(reported("old", ZMQSINK_EVENT_LISTENING), 0);
}

/* A context terminated while a socket is open (to wake its thread with
 * ETERM) does not wait for that socket: only for those announced closed. */
Test(monitor, settling_waits_for_closed_sockets_only, .init = setup,
     .fini = teardown)
{
    void *open_one = th_socket(ctx, ZMQ_PULL);
    void *closed_one = th_socket(ctx, ZMQ_PULL);
    cr_assert_eq(zmqsink_attach(zs, open_one, "open"), 0);
    cr_assert_eq(zmqsink_attach(zs, closed_one, "closed"), 0);
    zmqsink_socket_closed(zs, closed_one);
    th_close(closed_one);
    cr_expect_eq(zmqsink_settle_closed(zs, ctx, WAIT_MS), 0);
    /* Read by then, so numbered: the sinks may take it a moment later. */
    zmqsink_stats_t read = {0};
    zmqsink_stats(zs, &read);
    wait_reported("closed", ZMQSINK_EVENT_MONITOR_STOPPED, 1);
    zmqsink_event_t last;
    pthread_mutex_lock(&events.lock);
    for (size_t i = 0; i < events.n; i++)
        if (events.events[i].type == ZMQSINK_EVENT_MONITOR_STOPPED &&
            strcmp(events.events[i].socket, "closed") == 0)
            last = events.events[i];
    pthread_mutex_unlock(&events.lock);
    cr_expect_leq(last.seq, read.events,
                  "returned before the closed socket's last event");
    cr_expect_eq(zmqsink_settle(zs, ctx, 100), -ZMQSINK_ELIMIT,
                 "zmqsink_settle() waits for every socket");
}

/* zmq_socket_monitor()'s answer on a socket zmqsink does not know, and
 * zmqsink_socket_monitor()'s on one it monitors, for the same call. */
static void compare_refusal(const char *endpoint, int mask)
{
    void *plain = th_socket(ctx, ZMQ_DEALER);
    void *watched = th_socket(ctx, ZMQ_DEALER);
    cr_assert_eq(zmqsink_attach(zs, watched, "watched"), 0);
    errno = 0;
    int want = zmq_socket_monitor(plain, endpoint, mask);
    int want_errno = errno;
    errno = 0;
    int got = zmqsink_socket_monitor(zs, watched, endpoint, mask);
    cr_expect_eq(got != 0, want != 0, "%s %#x: libzmq %d, zmqsink %d",
                 endpoint, (unsigned)mask, want, got);
    if (want != 0)
        cr_expect_eq(errno, want_errno, "%s %#x: libzmq says %s, zmqsink %s",
                     endpoint, (unsigned)mask, strerror(want_errno),
                     strerror(errno));
    th_close(plain);
    th_close(watched);
}

Test(monitor, refusals_are_libzmqs, .init = setup, .fini = teardown)
{
    void *taken = th_socket(ctx, ZMQ_PAIR);
    cr_assert_eq(zmq_bind(taken, "inproc://taken"), 0);
    compare_refusal("tcp://127.0.0.1:1", ZMQ_EVENT_ALL);
    compare_refusal("nowhere", ZMQ_EVENT_ALL);
    compare_refusal("inproc://", ZMQ_EVENT_ALL);
    compare_refusal("bogus://x", ZMQ_EVENT_ALL);
    compare_refusal("inproc://wide", 0x10000);
    compare_refusal("inproc://taken", ZMQ_EVENT_ALL);
    void *watched = th_socket(ctx, ZMQ_DEALER);
    errno = 0;
    cr_expect_neq(zmqsink_socket_monitor_versioned(zs, NULL, watched,
                                                   "inproc://req",
                                                   ZMQ_EVENT_ALL, 1, ZMQ_REQ),
                  0);
    cr_expect_eq(errno, EINVAL, "a REQ monitor: %s", strerror(errno));
    if (zmqsink_monitor_version() == 1) {
        errno = 0;
        cr_expect_neq(zmqsink_socket_monitor_versioned(
                          zs, NULL, watched, "inproc://v2", ZMQ_EVENT_ALL, 2,
                          ZMQ_PAIR),
                      0);
        cr_expect_eq(errno, EINVAL, "v2 from a v1 build: %s", strerror(errno));
    }
}

/* Binds that fail at once, with the bind_failed event libzmq sends. */
static void fail_binds(void *socket, const char *dir_path)
{
    char ipc[512];
    snprintf(ipc, sizeof ipc, "ipc://%s/%0120d", dir_path, 7);
    zmq_bind(socket, "tcp://nosuchif0:5555");
    zmq_bind(socket, ipc);
}

Test(monitor, frames_are_libzmqs_frames, .init = setup, .fini = teardown)
{
    void *plain = th_socket(ctx, ZMQ_ROUTER);
    void *watched = th_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmq_socket_monitor(plain, "inproc://plain", ZMQ_EVENT_ALL), 0);
    cr_assert_eq(zmqsink_attach(zs, watched, "watched"), 0);
    cr_assert_eq(zmqsink_socket_monitor(zs, watched, "inproc://served",
                                        ZMQ_EVENT_ALL),
                 0);
    void *from_libzmq = monitor_reader("inproc://plain");
    void *from_zmqsink = monitor_reader("inproc://served");
    fail_binds(plain, dir);
    fail_binds(watched, dir);
    zmq_socket_monitor(plain, NULL, 0);
    cr_assert_eq(zmqsink_socket_monitor(zs, watched, NULL, 0), 0);
    for (int i = 0; i < 3; i++) {
        frames_t want, got;
        cr_assert_eq(frames_read(from_libzmq, &want, WAIT_MS), 0);
        cr_assert_eq(frames_read(from_zmqsink, &got, WAIT_MS), 0,
                     "message %d missing", i);
        cr_expect_eq(got.event, want.event, "message %d: %s, not %s", i,
                     zmqsink_event_name(got.event),
                     zmqsink_event_name(want.event));
        cr_expect_eq(got.value, want.value, "message %d", i);
        cr_expect_str_eq(got.endpoint, want.endpoint, "message %d", i);
    }
    assert_quiet(from_zmqsink);
}

/* The errno libzmq gives for a bind of endpoint on a socket nobody
 * monitors. */
static int unmonitored_bind_errno(const char *endpoint)
{
    void *plain = th_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmq_bind(plain, endpoint), -1, "%s bound", endpoint);
    int e = errno;
    th_close(plain);
    return e;
}

Test(monitor, failed_binds_report_their_cause, .init = setup,
     .fini = teardown)
{
    char in_use[256], ipc[512];
    server(in_use, sizeof in_use);
    snprintf(ipc, sizeof ipc, "ipc://%s/%0120d", dir, 7);
    const char *const cases[] = {"tcp://nosuchif0:5555", ipc, in_use,
                                 "127.0.0.1:5555"};
    void *watched = th_socket(ctx, ZMQ_ROUTER);
    void *other = th_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach(zs, watched, "watched"), 0);
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            int want = unmonitored_bind_errno(cases[i]);
            errno = 0;
            cr_expect_eq(zmqsink_bind(zs, watched, cases[i]), -ZMQSINK_EZMQ);
            cr_expect_eq(errno, want, "%s: %s, not %s", cases[i],
                         strerror(errno), strerror(want));
            errno = 0;
            cr_expect_eq(zmqsink_bind(zs, other, cases[i]), -ZMQSINK_EZMQ);
            cr_expect_eq(errno, want, "unmonitored %s: %s, not %s", cases[i],
                         strerror(errno), strerror(want));
        }
    cr_expect_eq(zmqsink_bind(zs, watched, "tcp://127.0.0.1:*"), 0);
    wait_reported("watched", ZMQSINK_EVENT_BIND_FAILED, 9);
}

Test(monitor, an_unread_monitor_never_stalls, .init = setup, .fini = teardown)
{
    void *watched = th_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach(zs, watched, "watched"), 0);
    cr_assert_eq(zmqsink_socket_monitor(zs, watched, "inproc://unread",
                                        ZMQ_EVENT_ALL),
                 0);
    void *own = monitor_reader("inproc://unread");
    /* Each failed bind sends bind_failed at once: libzmq's own monitor
     * would stop this loop near 2000, its queue full. */
    const int binds = 5000;
    for (int i = 0; i < binds; i++)
        zmq_bind(watched, "tcp://nosuchif0:5555");
    wait_reported("watched", ZMQSINK_EVENT_BIND_FAILED, (size_t)binds);
    int read = 0;
    frames_t f;
    while (frames_read(own, &f, 200) == 0) {
        cr_assert_eq(f.event, ZMQ_EVENT_BIND_FAILED);
        read++;
    }
    cr_expect_geq(read, 2000, "the application read %d", read);
    cr_expect_lt(read, binds, "all %d waited: nothing was bounded", read);
}

/* ---- sinks started in the background, losses said ---- */

/* Sends this process's stderr, where zmqsink logs, to dir/stderr.log. */
static void capture_stderr(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/stderr.log", dir);
    fflush(stderr);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_geq(dup2(fd, STDERR_FILENO), 0);
    close(fd);
}

/* What zmqsink logged since capture_stderr(). Caller frees. */
static char *captured(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/stderr.log", dir);
    char *text = th_read_file(path);
    return text ? text : strdup("");
}

/* Waits until the log has needle; returns where (in *text, which the
 * caller frees). */
static const char *wait_logged(const char *needle, char **text)
{
    for (int waited = 0;; waited += 10) {
        *text = captured();
        const char *at = strstr(*text, needle);
        if (at || waited >= WAIT_MS)
            return at;
        free(*text);
        th_sleep_ms(10);
    }
}

/* A context and directory without an instance: the test starts its own. */
static void setup_bare(void)
{
    ctx = zmq_ctx_new();
    dir = th_tempdir();
    th_log_init(&events);
}

/* Starts zmqsink in the background with yaml (a format taking dir for
 * every %s). */
static void start_background(const char *yaml_fmt)
{
    char yaml[4096], err[1024] = "";
    snprintf(yaml, sizeof yaml, yaml_fmt, dir, dir, dir);
    char *path = th_write_file(dir, "zmqsink.yaml", yaml);
    cr_assert_eq(zmqsink_start(&zs, ctx, path, ZMQSINK_START_BACKGROUND, err,
                               sizeof err),
                 0, "zmqsink_start: %s", err);
    free(path);
}

static zmqsink_sink_stats_t sink_stats(size_t index)
{
    TH_STATS(stats);
    zmqsink_stats(zs, &stats);
    cr_assert_gt(stats.nsinks, index);
    return stats.sinks[index];
}

Test(monitor, a_sink_opening_in_the_background_gets_every_event,
     .init = setup_bare, .fini = teardown)
{
    start_background("sinks:\n"
                     "  - name: slow\n"
                     "    type: slow_open\n"
                     "    release_file: %s/release\n"
                     "    path: %s/events.jsonl\n");
    /* zmqsink_start() returned while open() waits: events queue. */
    zmqsink_sink_stats_t s = sink_stats(0);
    cr_expect_str_eq(s.type, "slow_open");
    void *router = th_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach(zs, router, "server"), 0);
    cr_assert_eq(zmq_bind(router, "tcp://127.0.0.1:*"), 0);
    for (int waited = 0; sink_stats(0).enqueued < 1 && waited < WAIT_MS;
         waited += 5)
        th_sleep_ms(5);
    s = sink_stats(0);
    cr_expect_eq(s.enqueued, 1);
    cr_expect_eq(s.delivered, 0, "delivered before open() returned");
    char *release = th_write_file(dir, "release", "");
    free(release);
    for (int waited = 0; sink_stats(0).delivered < 1 && waited < WAIT_MS;
         waited += 5)
        th_sleep_ms(5);
    cr_expect_eq(sink_stats(0).delivered, 1);
    th_close(router);
    cr_assert_eq(zmqsink_settle(zs, ctx, WAIT_MS), 0);
    zmqsink_destroy(&zs);
    /* listening, then closed and monitor_stopped */
    th_assert_json_seqs(dir, "events.jsonl", 3);
}

Test(monitor, a_sink_that_cannot_open_in_the_background_fails_its_events,
     .init = setup_bare, .fini = teardown)
{
    capture_stderr();
    start_background("sinks:\n"
                     "  - name: lost\n"
                     "    type: open_fails\n"
                     "  - name: kept\n"
                     "    type: file\n"
                     "    path: %s/events.jsonl\n");
    char *text;
    const char *line = wait_logged("sink 'lost': cannot reach the moon", &text);
    cr_expect_not_null(line, "not said: %s", text);
    cr_expect_not_null(strstr(text, "zmqsink.yaml:2:11: sink 'lost'"),
                       "the place is not said: %s", text);
    cr_expect_not_null(strstr(text, "counted as failed"), "%s", text);
    free(text);
    void *router = th_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach(zs, router, "server"), 0);
    cr_assert_eq(zmq_bind(router, "tcp://127.0.0.1:*"), 0);
    for (int waited = 0; sink_stats(0).failed < 1 && waited < WAIT_MS;
         waited += 5)
        th_sleep_ms(5);
    cr_expect_eq(sink_stats(0).failed, 1);
    cr_expect_eq(sink_stats(0).delivered, 0);
    th_close(router);
    cr_assert_eq(zmqsink_settle(zs, ctx, WAIT_MS), 0);
    zmqsink_destroy(&zs);
    th_assert_json_seqs(dir, "events.jsonl", 3); /* the other sink got all */
}

/* The number after key in the json text, or -1. */
static long long json_number(const char *text, const char *key)
{
    char needle[64];
    snprintf(needle, sizeof needle, "\"%s\":", key);
    const char *at = strstr(text, needle);
    return at ? atoll(at + strlen(needle)) : -1;
}

/* Starts zs with a sink 'slow' whose every write() takes 20 ms (its
 * release file never appears) behind a queue of 16, and `extra`
 * top-level YAML. */
static void start_slow(const char *extra)
{
    zs = th_start(ctx, dir,
                  "queue: { capacity: 16 }\n"
                  "shutdown_timeout: 300ms\n"
                  "%s"
                  "sinks:\n"
                  "  - name: slow\n"
                  "    type: blocking\n"
                  "    release_file: %s/never\n"
                  "    max_wait: 20ms\n",
                  extra, dir);
}

/* Makes 200 events for the sink 'slow', which drops most. */
static void *make_losses(void)
{
    void *watched = th_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach(zs, watched, "watched"), 0);
    for (int i = 0; i < 200; i++)
        zmq_bind(watched, "tcp://nosuchif0:5555");
    return watched;
}

/* The line destroy says of the sink 'slow' with final counts is logged. */
static void assert_summary_said(const zmqsink_stats_t *final)
{
    char summary[256];
    snprintf(summary, sizeof summary, "sink 'slow': %llu events delivered, "
             "%llu dropped (queue full)",
             (unsigned long long)final->sinks[0].delivered,
             (unsigned long long)final->sinks[0].dropped_full);
    char *text = captured();
    cr_expect_not_null(strstr(text, summary), "no '%s' in:\n%s", summary, text);
    free(text);
}

/* Without a stats file an instance runs no report thread until a sink
 * loses an event; the first loss starts one, which says it at once. */
Test(monitor, a_first_loss_starts_the_reporter, .init = setup_bare,
     .fini = teardown)
{
    capture_stderr();
    char names[1024];
    start_slow("");
    cr_assert_eq(th_zs_threads(names, sizeof names), 2u, "%s", names);
    cr_assert_null(strstr(names, "zs-report\n"), "%s", names);
    void *watched = make_losses();
    char *text;
    const char *first = wait_logged("sink 'slow': lost ", &text);
    cr_assert_not_null(first, "the first loss is not said: %s", text);
    cr_expect(strstr(first, "dropped (queue of 16 full)") != NULL, "%s", first);
    free(text);
    cr_assert_eq(th_zs_threads(names, sizeof names), 3u, "%s", names);
    cr_assert_not_null(strstr(names, "zs-report\n"), "%s", names);
    th_close(watched);
    TH_STATS(final);
    zmqsink_destroy_stats(&zs, &final);
    assert_summary_said(&final);
}

/* With a stats file written only every hour, the report thread sleeps
 * until then: a sink's first loss wakes it, and is said at once. */
Test(monitor, a_first_loss_is_said_at_once_with_a_stats_file_due_later,
     .init = setup_bare, .fini = teardown)
{
    capture_stderr();
    start_slow("stats: { path: stats.json, interval: 1h }\n");
    void *watched = make_losses();
    char *text;
    const char *first = wait_logged("sink 'slow': lost ", &text);
    cr_assert_not_null(first, "the first loss is not said: %s", text);
    free(text);
    th_close(watched);
    TH_STATS(final);
    zmqsink_destroy_stats(&zs, &final);
    assert_summary_said(&final);
}

/* A sink still in write() when destroy gave up on it may fail its batch
 * afterwards, and count the loss: what it reports to stays allocated
 * until it ends, and is freed then (the leak check of the sanitizer
 * build sees whether it is). */
Test(monitor, a_sink_that_fails_after_destroy_gave_up_on_it,
     .init = setup_bare, .fini = teardown)
{
    zs = th_start(ctx, dir,
                  "shutdown_timeout: 100ms\n"
                  "sinks:\n"
                  "  - { name: late, type: blocking, release_file: %s/never, "
                  "max_wait: 10s, fail: true }\n",
                  dir);
    void *watched = th_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach(zs, watched, "watched"), 0);
    cr_assert_eq(zmq_bind(watched, "tcp://127.0.0.1:*"), 0);
    TH_STATS(now);
    for (int waited = 0; waited < WAIT_MS; waited += 10) {
        zmqsink_stats(zs, &now);
        if (now.sinks[0].queue_depth > 0) /* in its write() */
            break;
        th_sleep_ms(10);
    }
    cr_assert_gt(now.sinks[0].queue_depth, 0u, "the sink never got its event");
    th_close(watched);
    TH_STATS(final);
    zmqsink_destroy_stats(&zs, &final);
    /* Left running: its batch is not failed yet, only dropped. */
    cr_assert_eq(final.sinks[0].failed, 0u, "the sink was not left running");
    cr_assert_gt(final.sinks[0].dropped_shutdown, 0u);
    /* Its write() fails, it counts the loss and ends: then the leak
     * check sees whether the instance was freed. */
    cr_assert(th_wait_thread_ended("zs:late", 20000),
              "the sink left running never ended");
}

Test(monitor, losses_are_said, .init = setup_bare, .fini = teardown)
{
    capture_stderr();
    start_slow("stats: { path: \"stats-{pid}.json\", interval: 200ms }\n");
    void *watched = make_losses();
    char *text;
    const char *first =
        wait_logged("sink 'slow': lost ", &text);
    cr_assert_not_null(first, "the first loss is not said: %s", text);
    cr_expect(strstr(first, "dropped (queue of 16 full), 0 failed; further "
                            "losses are logged at most every 200 ms") != NULL,
              "%s", first);
    free(text);
    for (int i = 0; i < 200; i++)
        zmq_bind(watched, "tcp://nosuchif0:5555");
    const char *more = wait_logged("sink 'slow': lost ", &text);
    cr_assert_not_null(more);
    cr_expect_not_null(wait_logged("more events", &text),
                       "later losses are not said: %s", text);
    free(text);

    char stats_path[4200];
    snprintf(stats_path, sizeof stats_path, "%s/stats-%ld.json", dir,
             (long)getpid());
    TH_STATS(final);
    th_close(watched);
    zmqsink_destroy_stats(&zs, &final);
    cr_assert_eq(final.nsinks, 1);
    cr_assert_gt(final.sinks[0].dropped_full, 0);
    assert_summary_said(&final);
    text = th_read_file(stats_path);
    cr_assert_not_null(text, "no %s", stats_path);
    cr_expect_eq(json_number(text, "dropped_full"),
                 (long long)final.sinks[0].dropped_full, "%s", text);
    cr_expect_eq(json_number(text, "pid"), (long long)getpid(), "%s", text);
    cr_expect_eq(json_number(text, "events"), (long long)final.events, "%s",
                 text);
    free(text);
}
