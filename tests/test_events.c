/* Every event type libzmq v1 emits, provoked for real over tcp and ipc, and
 * the decoded and enriched fields zmqsink gives each. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "helpers.h"

#define WAIT_MS 5000

TestSuite(events, .timeout = 60);

static void *ctx;
static zmqsink_t *zs;
static th_log_t events;
static char *dir;
static char *config_path;

static void setup(void)
{
    ctx = zmq_ctx_new();
    dir = th_tempdir();
    char yaml[4400];
    snprintf(yaml, sizeof yaml,
             "sinks:\n"
             "  - name: jsonl\n"
             "    type: file\n"
             "    path: %s/events.jsonl\n",
             dir);
    config_path = th_write_file(dir, "zmqsink.yaml", yaml);
    char err[512] = "";
    zs = zmqsink_new(ctx, config_path, err, sizeof err);
    cr_assert_not_null(zs, "zmqsink_new: %s", err);
    th_log_init(&events);
    cr_assert_eq(zmqsink_add_callback(zs, "log", ZMQSINK_EVENT_ALL,
                                      th_log_callback, &events),
                 0);
}

static th_zap_t zap;

static void teardown(void)
{
    zmqsink_destroy(&zs);
    th_zap_stop(&zap);
    th_close_all();
    zmq_ctx_term(ctx);
    th_log_free(&events);
    th_remove_tree(dir);
    free(dir);
    free(config_path);
}

static void *new_socket(int type, const char *name)
{
    void *s = th_socket(ctx, type);
    cr_assert_eq(zmqsink_attach(zs, s, name), 0);
    return s;
}

static void bind_any(void *s, const char *transport, char *endpoint,
                     size_t cap)
{
    char wanted[4200];
    if (strcmp(transport, "tcp") == 0)
        snprintf(wanted, sizeof wanted, "tcp://127.0.0.1:*");
    else
        snprintf(wanted, sizeof wanted, "ipc://%s/server.ipc", dir);
    cr_assert_eq(zmq_bind(s, wanted), 0, "bind %s: %s", wanted,
                 zmq_strerror(errno));
    th_last_endpoint(s, endpoint, cap);
}

/* Connects client to server's endpoint and has it say hello, read by the
 * server: the connection is up, its handshake done. */
static void greet(void *client, void *server, const char *endpoint)
{
    cr_assert_eq(zmq_connect(client, endpoint), 0);
    cr_assert_eq(zmq_send(client, "hi", 2, 0), 2);
    char buf[16];
    cr_assert_gt(zmq_recv(server, buf, sizeof buf, 0), 0); /* identity */
    cr_assert_eq(zmq_recv(server, buf, sizeof buf, 0), 2);
}

/* Waits for one event of a type on a socket and returns it. */
static zmqsink_event_t expect_event(uint32_t type, const char *socket)
{
    zmqsink_event_t ev;
    for (size_t want = 1;; want++) {
        size_t have = th_log_wait(&events, type, want, WAIT_MS);
        cr_assert_geq(have, want, "no %s event on '%s'",
                      zmqsink_event_name(type), socket);
        int at = -1;
        for (size_t k = 0; k < want; k++)
            at = th_log_find(&events, type, (size_t)(at + 1), &ev);
        if (strcmp(ev.socket, socket) == 0)
            return ev;
    }
}

/* The reason of ev, as the library names it and as the file sink wrote it
 * to events.jsonl right after value (want NULL: no reason key). Flushes
 * the file by destroying zs, so it comes last in a test. */
static void assert_reason(const zmqsink_event_t *ev, const char *want)
{
    const char *reason = zmqsink_event_reason(ev);
    if (want)
        cr_assert_str_eq(reason ? reason : "(none)", want);
    else
        cr_assert_null(reason, "%s has reason %s",
                       zmqsink_event_name(ev->type), reason);
    zmqsink_destroy(&zs);
    char *path = th_path(dir, "events.jsonl");
    char *text = th_read_file(path);
    cr_assert_not_null(text, "%s", path);
    char seq[48], value[96];
    snprintf(seq, sizeof seq, "\"seq\":%llu,", (unsigned long long)ev->seq);
    char *line = strstr(text, seq);
    cr_assert_not_null(line, "no %s in %s", seq, text);
    *strchrnul(line, '\n') = '\0';
    if (want) {
        snprintf(value, sizeof value, "\"value\":%u,\"reason\":\"%s\",",
                 ev->value, want);
        cr_assert_not_null(strstr(line, value), "%s", line);
    } else {
        cr_assert_null(strstr(line, "\"reason\""), "%s", line);
    }
    free(text);
    free(path);
}

static void assert_peer_of(const char *transport, const char *peer)
{
    char expected[64];
    if (strcmp(transport, "tcp") == 0) {
        cr_assert_eq(strncmp(peer, "127.0.0.1:", 10), 0, "peer '%s'", peer);
        cr_assert_gt(atoi(peer + 10), 0, "peer '%s'", peer);
    } else {
        snprintf(expected, sizeof expected, "pid:%ld", (long)getpid());
        cr_assert_str_eq(peer, expected);
    }
}

static void connect_accept_disconnect(const char *transport)
{
    char endpoint[256];
    void *server = new_socket(ZMQ_ROUTER, "frontend");
    bind_any(server, transport, endpoint, sizeof endpoint);
    void *client = new_socket(ZMQ_DEALER, "client");
    greet(client, server, endpoint);

    zmqsink_event_t listening = expect_event(ZMQSINK_EVENT_LISTENING, "frontend");
    cr_assert_str_eq(listening.endpoint, endpoint);
    cr_assert_eq(listening.socket_type, ZMQ_ROUTER);
    cr_assert_eq(listening.severity, ZMQSINK_SEV_INFO);

    zmqsink_event_t accepted = expect_event(ZMQSINK_EVENT_ACCEPTED, "frontend");
    cr_assert_str_eq(accepted.endpoint, endpoint);
    cr_assert_gt(accepted.value, 2u, "accepted carries the connection's fd");
    assert_peer_of(transport, accepted.peer);
    cr_assert_eq(accepted.duration_ms, -1);

    zmqsink_event_t connected = expect_event(ZMQSINK_EVENT_CONNECTED, "client");
    cr_assert_str_eq(connected.endpoint, endpoint);
    cr_assert_eq(connected.socket_type, ZMQ_DEALER);
    if (strcmp(transport, "tcp") == 0) {
        char server_addr[64];
        snprintf(server_addr, sizeof server_addr, "127.0.0.1:%d",
                 th_endpoint_port(endpoint));
        cr_assert_str_eq(connected.peer, server_addr);
    }
    /* Handshake events carry no fd: the endpoint names the side, as in
     * v1, and v2 adds the peer. */
    zmqsink_event_t shook = expect_event(ZMQSINK_EVENT_HANDSHAKE_SUCCEEDED,
                                         "frontend");
    cr_assert_str_eq(shook.endpoint, endpoint);
    zmqsink_event_t client_shook =
        expect_event(ZMQSINK_EVENT_HANDSHAKE_SUCCEEDED, "client");
    cr_assert_str_eq(client_shook.endpoint, endpoint);
    if (zmqsink_monitor_version() == 2 && strcmp(transport, "tcp") == 0) {
        cr_assert_str_eq(shook.peer, accepted.peer);
        cr_assert_str_eq(client_shook.peer, connected.peer);
    }

    th_close(client);
    zmqsink_event_t gone = expect_event(ZMQSINK_EVENT_DISCONNECTED, "frontend");
    cr_assert_eq(gone.value, accepted.value);
    cr_assert_str_eq(gone.peer, accepted.peer);
    cr_assert_geq(gone.duration_ms, 0);
    cr_assert_eq(gone.severity, ZMQSINK_SEV_NOTICE);
    expect_event(ZMQSINK_EVENT_MONITOR_STOPPED, "client");
    th_close(server);
    expect_event(ZMQSINK_EVENT_MONITOR_STOPPED, "frontend");
}

Test(events, connect_accept_disconnect_tcp, .init = setup, .fini = teardown)
{
    connect_accept_disconnect("tcp");
}

Test(events, connect_accept_disconnect_ipc, .init = setup, .fini = teardown)
{
    connect_accept_disconnect("ipc");
}

Test(events, sequence_is_gap_free_and_ordered, .init = setup,
     .fini = teardown)
{
    char endpoint[256];
    void *server = new_socket(ZMQ_ROUTER, "frontend");
    bind_any(server, "tcp", endpoint, sizeof endpoint);
    for (int i = 0; i < 20; i++) {
        void *client = new_socket(ZMQ_DEALER, NULL);
        zmq_connect(client, endpoint);
        th_close(client);
    }
    th_close(server);
    th_log_wait(&events, ZMQSINK_EVENT_MONITOR_STOPPED, 21, WAIT_MS);
    pthread_mutex_lock(&events.lock);
    cr_assert_gt(events.n, 40u);
    for (size_t i = 0; i < events.n; i++) {
        cr_assert_eq(events.events[i].seq, i + 1, "event %zu", i);
        if (i > 0)
            cr_assert_geq(events.events[i].time_ns,
                          events.events[i - 1].time_ns);
    }
    pthread_mutex_unlock(&events.lock);
}

Test(events, unnamed_sockets_get_type_and_number, .init = setup,
     .fini = teardown)
{
    void *a = new_socket(ZMQ_DEALER, NULL);
    void *b = new_socket(ZMQ_DEALER, NULL);
    char endpoint[256];
    bind_any(a, "tcp", endpoint, sizeof endpoint);
    bind_any(b, "tcp", endpoint, sizeof endpoint);
    expect_event(ZMQSINK_EVENT_LISTENING, "dealer-1");
    expect_event(ZMQSINK_EVENT_LISTENING, "dealer-2");
    th_close(a);
    th_close(b);
}

static void connect_retried(const char *transport)
{
    void *client = th_socket(ctx, ZMQ_DEALER);
    int interval = 50;
    zmq_setsockopt(client, ZMQ_RECONNECT_IVL, &interval, sizeof interval);
    cr_assert_eq(zmqsink_attach(zs, client, "retrier"), 0);
    char endpoint[4200];
    if (strcmp(transport, "tcp") == 0)
        snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d",
                 th_free_port());
    else
        snprintf(endpoint, sizeof endpoint, "ipc://%s/nobody.ipc", dir);
    cr_assert_eq(zmq_connect(client, endpoint), 0);
    zmqsink_event_t retried = expect_event(ZMQSINK_EVENT_CONNECT_RETRIED,
                                           "retrier");
    cr_assert_str_eq(retried.endpoint, endpoint);
    /* libzmq adds up to one interval of jitter. */
    cr_assert_geq(retried.value, 50u);
    cr_assert_lt(retried.value, 100u);
    cr_assert_eq(retried.severity, ZMQSINK_SEV_NOTICE);
    /* The value is the retry interval, not an error. */
    cr_assert_null(zmqsink_event_reason(&retried));
    if (strcmp(transport, "tcp") == 0) {
        zmqsink_event_t delayed = expect_event(
            ZMQSINK_EVENT_CONNECT_DELAYED, "retrier");
        cr_assert_str_eq(delayed.endpoint, endpoint);
        cr_assert_lt(delayed.seq, retried.seq);
        zmqsink_event_t closed = expect_event(ZMQSINK_EVENT_CLOSED, "retrier");
        cr_assert_lt(closed.seq, retried.seq);
        if (delayed.value == EINPROGRESS)
            cr_assert_null(zmqsink_event_reason(&delayed));
    }
    assert_reason(&retried, NULL);
    th_close(client);
}

Test(events, connect_delayed_and_retried_tcp, .init = setup, .fini = teardown)
{
    connect_retried("tcp");
}

Test(events, connect_retried_ipc, .init = setup, .fini = teardown)
{
    connect_retried("ipc");
}

Test(events, bind_failed_tcp, .init = setup, .fini = teardown)
{
    char endpoint[256];
    void *first = new_socket(ZMQ_ROUTER, "first");
    bind_any(first, "tcp", endpoint, sizeof endpoint);
    void *second = new_socket(ZMQ_ROUTER, "second");
    cr_assert_eq(zmq_bind(second, endpoint), -1);
    zmqsink_event_t failed = expect_event(ZMQSINK_EVENT_BIND_FAILED, "second");
    cr_assert_eq(failed.value, (uint32_t)EADDRINUSE);
    /* libzmq names the address without its transport here. */
    cr_assert_str_eq(failed.endpoint, endpoint + strlen("tcp://"));
    cr_assert_eq(failed.severity, ZMQSINK_SEV_ERR);
    assert_reason(&failed, "EADDRINUSE");
    th_close(first);
    th_close(second);
}

Test(events, bind_failed_ipc, .init = setup, .fini = teardown)
{
    void *s = new_socket(ZMQ_ROUTER, "nowhere");
    char endpoint[4200];
    snprintf(endpoint, sizeof endpoint, "ipc://%s/missing-dir/s.ipc", dir);
    cr_assert_eq(zmq_bind(s, endpoint), -1);
    zmqsink_event_t failed = expect_event(ZMQSINK_EVENT_BIND_FAILED, "nowhere");
    cr_assert_eq(failed.value, (uint32_t)ENOENT);
    assert_reason(&failed, "ENOENT");
    th_close(s);
}

static void listener_closed(const char *transport)
{
    char endpoint[256];
    void *s = new_socket(ZMQ_ROUTER, "frontend");
    bind_any(s, transport, endpoint, sizeof endpoint);
    zmqsink_event_t listening = expect_event(ZMQSINK_EVENT_LISTENING, "frontend");
    cr_assert_eq(zmq_unbind(s, endpoint), 0);
    zmqsink_event_t closed = expect_event(ZMQSINK_EVENT_CLOSED, "frontend");
    cr_assert_eq(closed.value, listening.value, "closed carries the listener fd");
    cr_assert_str_eq(closed.endpoint, endpoint);
    th_close(s);
}

Test(events, closed_tcp, .init = setup, .fini = teardown)
{
    listener_closed("tcp");
}

Test(events, closed_ipc, .init = setup, .fini = teardown)
{
    listener_closed("ipc");
}

Test(events, handshake_failed_protocol, .init = setup, .fini = teardown)
{
    char endpoint[256];
    void *s = new_socket(ZMQ_ROUTER, "frontend");
    bind_any(s, "tcp", endpoint, sizeof endpoint);
    th_send_bad_greeting(th_endpoint_port(endpoint));
    zmqsink_event_t failed =
        expect_event(ZMQSINK_EVENT_HANDSHAKE_FAILED_PROTOCOL, "frontend");
    cr_assert_eq(failed.value,
                 (uint32_t)ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH);
    cr_assert_eq(failed.severity, ZMQSINK_SEV_WARNING);
    /* The server hangs up at once, often before the collector reads
     * accepted: then getpeername() has nothing left to tell, but the v2
     * monitor names the peer in the event itself. */
    zmqsink_event_t accepted = expect_event(ZMQSINK_EVENT_ACCEPTED, "frontend");
    cr_assert_lt(accepted.seq, failed.seq);
    cr_assert_str_eq(failed.endpoint, endpoint);
    if (zmqsink_monitor_version() == 2) {
        assert_peer_of("tcp", failed.peer);
        cr_assert_str_eq(accepted.peer, failed.peer);
    }
    th_close(s);
}

/* A CURVE client meeting a server without security: both sides see the
 * mechanisms differ. */
Test(events, curve_client_against_null_server, .init = setup,
     .fini = teardown)
{
    char endpoint[256];
    void *server = new_socket(ZMQ_ROUTER, "frontend");
    bind_any(server, "tcp", endpoint, sizeof endpoint);
    void *client = th_curve_client(ctx);
    cr_assert_eq(zmqsink_attach(zs, client, "client"), 0);
    cr_assert_eq(zmq_connect(client, endpoint), 0);
    zmqsink_event_t failed =
        expect_event(ZMQSINK_EVENT_HANDSHAKE_FAILED_PROTOCOL, "frontend");
    cr_assert_eq(failed.value,
                 (uint32_t)ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH);
    zmqsink_event_t client_failed =
        expect_event(ZMQSINK_EVENT_HANDSHAKE_FAILED_PROTOCOL, "client");
    cr_assert_str_eq(zmqsink_event_reason(&client_failed),
                     "ZMTP_MECHANISM_MISMATCH");
    assert_reason(&failed, "ZMTP_MECHANISM_MISMATCH");
    th_close(client);
    th_close(server);
}

Test(events, handshake_failed_no_detail, .init = setup, .fini = teardown)
{
    char endpoint[256];
    void *s = new_socket(ZMQ_ROUTER, "frontend");
    bind_any(s, "tcp", endpoint, sizeof endpoint);
    th_connect_and_drop(th_endpoint_port(endpoint));
    zmqsink_event_t failed =
        expect_event(ZMQSINK_EVENT_HANDSHAKE_FAILED_NO_DETAIL, "frontend");
    cr_assert_eq(failed.severity, ZMQSINK_SEV_WARNING);
    cr_assert_str_eq(failed.endpoint, endpoint);
    if (zmqsink_monitor_version() == 2)
        assert_peer_of("tcp", failed.peer);
    /* The peer may be gone before its accepted event is read, so no peer
     * is asserted; the connection is still tracked by its fd. */
    zmqsink_event_t accepted = expect_event(ZMQSINK_EVENT_ACCEPTED, "frontend");
    zmqsink_event_t gone = expect_event(ZMQSINK_EVENT_DISCONNECTED, "frontend");
    cr_assert_eq(gone.value, accepted.value);
    cr_assert_str_eq(gone.peer, accepted.peer);
    cr_assert_geq(gone.duration_ms, 0);
    th_close(s);
}

Test(events, handshake_failed_auth, .init = setup, .fini = teardown)
{
    th_zap_start(&zap, ctx, "400");
    th_plain_refused(ctx, zs, "frontend");
    zmqsink_event_t denied =
        expect_event(ZMQSINK_EVENT_HANDSHAKE_FAILED_AUTH, "frontend");
    cr_assert_eq(denied.value, 400u, "ZAP status code");
    cr_assert_eq(denied.severity, ZMQSINK_SEV_WARNING);
    assert_reason(&denied, "ZAP_400");
}

Test(events, accept_failed_when_out_of_fds, .init = setup, .fini = teardown)
{
    char endpoint[256];
    void *s = new_socket(ZMQ_ROUTER, "frontend");
    bind_any(s, "tcp", endpoint, sizeof endpoint);
    expect_event(ZMQSINK_EVENT_LISTENING, "frontend");
    /* A client from another process, then no fd left for accept(). */
    int port = th_endpoint_port(endpoint);
    int first_free = dup(0);
    close(first_free);
    struct rlimit old, low;
    getrlimit(RLIMIT_NOFILE, &old);
    low = old;
    low.rlim_cur = (rlim_t)first_free;
    setrlimit(RLIMIT_NOFILE, &low);
    pid_t child = fork();
    if (child == 0) {
        setrlimit(RLIMIT_NOFILE, &old);
        th_connect_and_drop(port);
        _exit(0);
    }
    size_t have = th_log_wait(&events, ZMQSINK_EVENT_ACCEPT_FAILED, 1, WAIT_MS);
    setrlimit(RLIMIT_NOFILE, &old);
    waitpid(child, NULL, 0);
    cr_assert_geq(have, 1u);
    zmqsink_event_t failed = expect_event(ZMQSINK_EVENT_ACCEPT_FAILED, "frontend");
    cr_assert_eq(failed.value, (uint32_t)EMFILE);
    cr_assert_eq(failed.severity, ZMQSINK_SEV_ERR);
    assert_reason(&failed, "EMFILE");
    th_close(s);
}

Test(events, detach_stops_monitoring, .init = setup, .fini = teardown)
{
    void *s = new_socket(ZMQ_ROUTER, "frontend");
    /* Attaching again replaces the monitor: the old one stops. */
    cr_assert_eq(zmqsink_attach(zs, s, "again"), 0);
    expect_event(ZMQSINK_EVENT_MONITOR_STOPPED, "frontend");
    cr_assert_eq(zmqsink_detach(zs, s), 0);
    expect_event(ZMQSINK_EVENT_MONITOR_STOPPED, "again");
    char endpoint[256];
    bind_any(s, "tcp", endpoint, sizeof endpoint);
    /* No listening event: the socket is no longer watched. Attach again
     * and the next bind shows up under the new name. */
    cr_assert_eq(zmqsink_attach(zs, s, "renamed"), 0);
    bind_any(s, "tcp", endpoint, sizeof endpoint);
    expect_event(ZMQSINK_EVENT_LISTENING, "renamed");
    cr_assert_eq(th_log_count(&events, ZMQSINK_EVENT_LISTENING), 1u);
    cr_assert_eq(zmqsink_detach(zs, (void *)&events), -ZMQSINK_ENOTFOUND);
    th_close(s);
}

Test(events, rename_keeps_tracking_open_connections, .init = setup,
     .fini = teardown)
{
    char endpoint[256];
    void *server = new_socket(ZMQ_ROUTER, "frontend");
    bind_any(server, "tcp", endpoint, sizeof endpoint);
    void *client = new_socket(ZMQ_DEALER, "client");
    cr_assert_eq(zmq_connect(client, endpoint), 0);
    zmqsink_event_t accepted = expect_event(ZMQSINK_EVENT_ACCEPTED, "frontend");
    cr_assert_eq(zmqsink_attach(zs, server, "renamed"), 0);
    expect_event(ZMQSINK_EVENT_MONITOR_STOPPED, "frontend");
    th_close(client);
    zmqsink_event_t gone = expect_event(ZMQSINK_EVENT_DISCONNECTED, "renamed");
    cr_assert_eq(gone.value, accepted.value);
    cr_assert_str_eq(gone.peer, accepted.peer);
    cr_assert_geq(gone.duration_ms, 0, "the connection opened under the old "
                                       "name is still tracked");
    th_close(server);
}

Test(events, ctx_term_returns_with_monitors_attached, .init = setup,
     .timeout = 30)
{
    char endpoint[256];
    void *server = new_socket(ZMQ_ROUTER, "frontend");
    bind_any(server, "tcp", endpoint, sizeof endpoint);
    void *client = new_socket(ZMQ_DEALER, "client");
    zmq_connect(client, endpoint);
    expect_event(ZMQSINK_EVENT_ACCEPTED, "frontend");
    th_close(client);
    th_close(server);
    /* Neither detached nor destroyed: the readers close on their own. */
    cr_assert_eq(zmq_ctx_term(ctx), 0);
    TH_STATS(stats);
    zmqsink_stats(zs, &stats);
    cr_assert_eq(stats.sockets_attached, 0u);
    zmqsink_destroy(&zs);
    cr_assert_null(zs);
    th_log_free(&events);
    th_remove_tree(dir);
    free(dir);
    free(config_path);
}

/* A server with more binds than a handful: each of its connections'
 * later events still names the bind it came in on, and the peer. */
Test(events, every_bind_of_a_socket_names_its_connections,
     .init = setup, .fini = teardown)
{
    enum { BINDS = 7 };
    void *server = new_socket(ZMQ_ROUTER, "frontend");
    char endpoints[BINDS][256];
    for (int i = 0; i < BINDS; i++) {
        cr_assert_eq(zmq_bind(server, "tcp://127.0.0.1:*"), 0);
        th_last_endpoint(server, endpoints[i], sizeof endpoints[i]);
    }
    /* Every connection open before any closes: each bind's accepted
     * comes long before its connection's disconnected. */
    void *clients[BINDS];
    for (int i = 0; i < BINDS; i++) {
        clients[i] = th_socket(ctx, ZMQ_DEALER);
        greet(clients[i], server, endpoints[i]);
    }
    cr_assert_geq(th_log_wait(&events, ZMQSINK_EVENT_ACCEPTED, BINDS,
                              WAIT_MS),
                  (size_t)BINDS);
    for (int i = 0; i < BINDS; i++)
        th_close(clients[i]);
    cr_assert_geq(th_log_wait(&events, ZMQSINK_EVENT_DISCONNECTED, BINDS,
                              WAIT_MS),
                  (size_t)BINDS);
    for (int i = 0; i < BINDS; i++) {
        zmqsink_event_t accepted, gone;
        int a = th_log_find(&events, ZMQSINK_EVENT_ACCEPTED, 0, &accepted);
        for (int k = 0; k < i; k++)
            a = th_log_find(&events, ZMQSINK_EVENT_ACCEPTED, (size_t)a + 1,
                            &accepted);
        cr_assert_geq(a, 0);
        cr_assert_str_eq(accepted.endpoint, endpoints[i]);
        int d = a; /* the fd may have served an earlier connection */
        do
            d = th_log_find(&events, ZMQSINK_EVENT_DISCONNECTED,
                            (size_t)(d + 1), &gone);
        while (d >= 0 && gone.value != accepted.value);
        cr_assert_geq(d, 0, "no disconnected for the connection of bind %d",
                      i + 1);
        cr_assert_str_eq(gone.endpoint, endpoints[i],
                         "bind %d: the disconnected names %s, not its bind %s",
                         i + 1, gone.endpoint, endpoints[i]);
        if (zmqsink_monitor_version() == 2)
            assert_peer_of("tcp", gone.peer);
        cr_assert_str_eq(gone.peer, accepted.peer);
    }
    th_close(server);
}

/* A socket renamed while its connections are open: their later events
 * still name the bind they came in on (the v2 monitor learns a socket's
 * bind sides from its events, which libzmq does not send again to the
 * monitor a rename starts). */
Test(events, a_rename_keeps_the_bind_side_of_open_connections,
     .init = setup, .fini = teardown)
{
    char endpoint[256];
    void *server = new_socket(ZMQ_ROUTER, "frontend");
    bind_any(server, "tcp", endpoint, sizeof endpoint);
    void *client = th_socket(ctx, ZMQ_DEALER);
    greet(client, server, endpoint);
    zmqsink_event_t accepted = expect_event(ZMQSINK_EVENT_ACCEPTED, "frontend");
    cr_assert_eq(zmqsink_attach(zs, server, "renamed"), 0);
    th_close(client);
    zmqsink_event_t gone = expect_event(ZMQSINK_EVENT_DISCONNECTED, "renamed");
    cr_assert_str_eq(gone.endpoint, endpoint,
                     "names %s, not the bind %s", gone.endpoint, endpoint);
    cr_assert_str_eq(gone.peer, accepted.peer);
    cr_assert_geq(gone.duration_ms, 0, "the connection outlived the rename");
}
