/* The public API's contracts: error codes and names, bad arguments that
 * return -ZMQSINK_EINVAL instead of aborting, the version, stats into a
 * caller-sized array, and callbacks: per socket, replaced, removed, slow
 * (their drops counted), and calling back into their own instance. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "helpers.h"
#include "zmqsink-config.h"

#define WAIT_MS 5000

TestSuite(api, .timeout = 60);

static void *ctx;
static zmqsink_t *zs;
static char *dir;

/* An instance with a file sink, and `extra` top-level YAML. */
static void start(const char *extra)
{
    ctx = zmq_ctx_new();
    dir = th_tempdir();
    zs = th_start(ctx, dir,
                  "%s"
                  "sinks:\n"
                  "  - name: jsonl\n"
                  "    type: file\n"
                  "    path: %s/events.jsonl\n",
                  extra, dir);
}

static void setup(void)
{
    start("queue: { capacity: 16 }\n");
}

/* The default queue, roomy enough that no test here drops from it. */
static void setup_roomy(void)
{
    start("");
}

static void setup_short_shutdown(void)
{
    start("shutdown_timeout: 100ms\n");
}

static void teardown(void)
{
    zmqsink_destroy(&zs);
    th_close_all();
    zmq_ctx_term(ctx);
    th_remove_tree(dir);
    free(dir);
}

/* ---- errors, arguments, version ---- */

Test(api, every_error_has_a_name_and_a_sentence)
{
    const struct {
        int code;
        const char *name;
    } known[] = {
        {ZMQSINK_EOK, "OK"},           {ZMQSINK_ECONFIG, "ECONFIG"},
        {ZMQSINK_EPLUGIN, "EPLUGIN"},  {ZMQSINK_EOPEN, "EOPEN"},
        {ZMQSINK_ENOMEM, "ENOMEM"},    {ZMQSINK_EZMQ, "EZMQ"},
        {ZMQSINK_ESYSTEM, "ESYSTEM"},  {ZMQSINK_EEXISTS, "EEXISTS"},
        {ZMQSINK_ENOTFOUND, "ENOTFOUND"}, {ZMQSINK_ELIMIT, "ELIMIT"},
        {ZMQSINK_EINVAL, "EINVAL"},
    };
    for (size_t i = 0; i < sizeof known / sizeof *known; i++) {
        cr_assert_str_eq(zmqsink_err_name(known[i].code), known[i].name);
        cr_assert_str_eq(zmqsink_err_name(-known[i].code), known[i].name);
        cr_assert_str_eq(zmqsink_strerror(-known[i].code),
                         zmqsink_strerror(known[i].code));
        cr_assert_str_neq(zmqsink_strerror(known[i].code), "unknown error");
    }
    cr_assert_str_eq(zmqsink_strerror(-ZMQSINK_ECONFIG),
                     "invalid configuration");
    cr_assert_str_eq(zmqsink_err_name(-1000), "UNKNOWN");
    cr_assert_str_eq(zmqsink_err_name(-2147483647 - 1), "UNKNOWN");
    cr_assert_str_eq(zmqsink_strerror(1000), "unknown error");
}

Test(api, the_library_says_its_version)
{
    cr_assert_eq(zmqsink_version(), (unsigned)ZMQSINK_VERSION);
    cr_assert_str_eq(zmqsink_version_string(), ZMQSINK_VERSION_STRING);
    cr_assert_str_eq(zmqsink_version_string(), PACKAGE_VERSION,
                     "the header's version is the package's");
    char text[32];
    snprintf(text, sizeof text, "%u.%u.%u", zmqsink_version() >> 16,
             zmqsink_version() >> 8 & 0xff, zmqsink_version() & 0xff);
    cr_assert_str_eq(text, zmqsink_version_string());
}

static void never_called(const zmqsink_event_t *event, void *arg)
{
    (void)event;
    (void)arg;
}

static void never_called_socket(void *socket, const zmqsink_event_t *event,
                                void *arg)
{
    (void)socket;
    (void)event;
    (void)arg;
}

Test(api, bad_arguments_return_einval, .init = setup, .fini = teardown)
{
    const int inval = -ZMQSINK_EINVAL;
    char err[256] = "";
    zmqsink_t *out = (zmqsink_t *)&out;
    cr_assert_eq(zmqsink_start(NULL, ctx, NULL, 0, err, sizeof err), inval);
    cr_assert_eq(zmqsink_start(&out, NULL, NULL, 0, err, sizeof err), inval);
    cr_assert_null(out);
    cr_assert_eq(zmqsink_start(&out, ctx, NULL, 0x80, NULL, 0), inval,
                 "an unknown flag, and no room for a message");
    cr_assert_null(zmqsink_new(NULL, NULL, err, sizeof err));
    cr_assert_eq(zmqsink_reload(NULL, NULL, err, sizeof err), inval);
    cr_assert_eq(zmqsink_check("/nonexistent/zmqsink.yaml", NULL, NULL, 0),
                 -ZMQSINK_ECONFIG, "no room for the message: no crash");

    void *s = th_socket(ctx, ZMQ_DEALER);
    cr_assert_eq(zmqsink_attach(NULL, s, "x"), inval);
    cr_assert_eq(zmqsink_attach(zs, NULL, "x"), inval);
    cr_assert_eq(zmqsink_attach_ctx(zs, NULL, s, "x"), inval);
    cr_assert_eq(zmqsink_attach_endpoint(zs, ctx, s, NULL), inval);
    cr_assert_eq(zmqsink_detach(zs, NULL), inval);
    cr_assert_eq(zmqsink_detach(NULL, s), inval);
    cr_assert_eq(zmqsink_socket_monitor(NULL, s, "inproc://m", 0), inval);
    errno = 0;
    cr_assert_eq(zmqsink_bind(zs, s, NULL), inval);
    cr_assert_eq(errno, EINVAL);
    cr_assert_eq(zmqsink_settle(NULL, ctx, 0), inval);
    cr_assert_eq(zmqsink_settle_closed(zs, NULL, 0), inval);
    cr_assert_eq(zmqsink_add_callback(zs, NULL, ZMQSINK_EVENT_ALL,
                                      never_called, NULL),
                 inval);
    cr_assert_eq(zmqsink_add_callback(zs, "cb", ZMQSINK_EVENT_ALL, NULL,
                                      NULL),
                 inval);
    cr_assert_eq(zmqsink_socket_callback(NULL, s, never_called_socket, NULL),
                 inval);
    cr_assert_eq(zmqsink_socket_callback(zs, NULL, never_called_socket, NULL),
                 inval);
    cr_assert_eq(zmqsink_remove_callback(zs, NULL), inval);
    cr_assert_eq(zmqsink_stats(zs, NULL), inval);
    cr_assert_eq(zmqsink_stats(NULL, &(zmqsink_stats_t){0}), inval);
    cr_assert_eq(zmqsink_stats(zs, &(zmqsink_stats_t){.sinks_cap = 4}), inval,
                 "room for four sinks, but no array");
    zmqsink_event_t ev = {.type = ZMQSINK_EVENT_CONNECTED, .duration_ms = -1};
    char line[512] = "x";
    cr_assert_eq(zmqsink_format_event((zmqsink_format_t)99, &ev, line,
                                      sizeof line),
                 inval, "an unknown format");
    cr_assert_eq(zmqsink_format_event(ZMQSINK_FORMAT_JSON, NULL, line,
                                      sizeof line),
                 inval);
    cr_assert_eq(zmqsink_format_event(ZMQSINK_FORMAT_JSON, &ev, NULL, 8),
                 inval, "room said, but no buffer");
    cr_assert_gt(zmqsink_format_event(ZMQSINK_FORMAT_JSON, &ev, NULL, 0), 0,
                 "the length a line needs");
    cr_assert_eq(zmqsink_event_fields(NULL, NULL, NULL), inval);
    const zmqsink_probe_t *probes = NULL;
    cr_assert_eq(zmqsink_probes(NULL, &probes), 0u);
    zmqsink_reopen(NULL);
    zmqsink_socket_closed(NULL, s);
    zmqsink_destroy(NULL);
    zmqsink_destroy_stats(NULL, NULL);
}

Test(api, a_failed_bind_returns_ezmq_with_the_cause_in_errno, .init = setup,
     .fini = teardown)
{
    void *s = th_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach(zs, s, "server"), 0);
    errno = 0;
    cr_assert_eq(zmqsink_bind(zs, s, "tcp://nosuchif0:5555"), -ZMQSINK_EZMQ);
    cr_assert_eq(errno, ENODEV, "%s", strerror(errno));
    cr_assert_eq(zmqsink_bind(zs, s, "tcp://127.0.0.1:*"), 0);
}

/* ---- stats into the caller's array ---- */

static int add_callbacks(int n)
{
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "cb-%d", i);
        int rc = zmqsink_add_callback(zs, name, ZMQSINK_EVENT_ALL,
                                      never_called, NULL);
        if (rc != 0)
            return rc;
    }
    return 0;
}

Test(api, stats_fill_only_the_room_given, .init = setup, .fini = teardown)
{
    cr_assert_eq(add_callbacks(3), 0);
    zmqsink_sink_stats_t two[3];
    memset(two, 0xab, sizeof two);
    zmqsink_stats_t stats = {.sinks = two, .sinks_cap = 2};
    cr_assert_eq(zmqsink_stats(zs, &stats), 0);
    cr_assert_eq(stats.nsinks, 4u, "the file sink and three callbacks");
    cr_assert_str_eq(two[0].name, "jsonl");
    cr_assert_str_eq(two[1].name, "cb-0");
    cr_assert_eq(two[2].enqueued, 0xababababababababull,
                 "nothing written past the room given");

    zmqsink_stats_t counts_only = {0};
    cr_assert_eq(zmqsink_stats(zs, &counts_only), 0);
    cr_assert_eq(counts_only.nsinks, 4u);
}

Test(api, the_sink_limit_is_said_and_kept, .init = setup, .fini = teardown)
{
    cr_assert_eq(add_callbacks(ZMQSINK_MAX_SINKS - 1), 0);
    cr_assert_eq(zmqsink_add_callback(zs, "one-too-many", ZMQSINK_EVENT_ALL,
                                      never_called, NULL),
                 -ZMQSINK_ELIMIT);
    zmqsink_stats_t counts_only = {0};
    zmqsink_stats(zs, &counts_only);
    cr_assert_eq(counts_only.nsinks, (size_t)ZMQSINK_MAX_SINKS);
}

/* ---- callbacks per socket ---- */

/* What a socket callback saw. */
typedef struct seen {
    pthread_mutex_t lock;
    void *socket;         /* the handle it was given, each time the same */
    bool other_socket;    /* it was once given another */
    bool other_name;      /* an event of another socket's name */
    const char *name;     /* the socket's name */
    th_log_t log;
} seen_t;

static void seen_init(seen_t *s, void *socket, const char *name)
{
    pthread_mutex_init(&s->lock, NULL);
    s->socket = socket;
    s->other_socket = s->other_name = false;
    s->name = name;
    th_log_init(&s->log);
}

static void seen_free(seen_t *s)
{
    th_log_free(&s->log);
    pthread_mutex_destroy(&s->lock);
}

static void on_socket_event(void *socket, const zmqsink_event_t *event,
                            void *arg)
{
    seen_t *s = arg;
    pthread_mutex_lock(&s->lock);
    s->other_socket |= socket != s->socket;
    s->other_name |= strcmp(event->socket, s->name) != 0;
    pthread_mutex_unlock(&s->lock);
    th_log_callback(event, &s->log);
}

/* A server bound on tcp, and a client connected to it: events on both. */
static void *client_of(void *server, const char *name)
{
    char endpoint[256];
    th_last_endpoint(server, endpoint, sizeof endpoint);
    void *client = th_socket(ctx, ZMQ_DEALER);
    cr_assert_eq(zmqsink_attach(zs, client, name), 0);
    cr_assert_eq(zmq_connect(client, endpoint), 0);
    return client;
}

Test(api, a_socket_callback_gets_its_socket_only, .init = setup,
     .fini = teardown)
{
    void *server = th_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach(zs, server, "server"), 0);
    cr_assert_eq(zmqsink_socket_callback(zs, server, never_called_socket,
                                         NULL),
                 0);
    seen_t seen;
    seen_init(&seen, server, "server");
    cr_assert_eq(zmqsink_socket_callback(zs, server, on_socket_event, &seen),
                 0, "set again: replaces the first");
    cr_assert_eq(zmq_bind(server, "tcp://127.0.0.1:*"), 0);
    void *client = client_of(server, "client");
    cr_assert_geq(th_log_wait(&seen.log, ZMQSINK_EVENT_ACCEPTED, 1, WAIT_MS),
                  1u);
    th_close(client);
    cr_assert_geq(th_log_wait(&seen.log, ZMQSINK_EVENT_DISCONNECTED, 1,
                              WAIT_MS),
                  1u);
    cr_assert_eq(th_log_count(&seen.log, ZMQSINK_EVENT_LISTENING), 1u);
    cr_assert(!seen.other_socket, "always the server's handle");
    cr_assert(!seen.other_name, "only the server's events");

    TH_STATS(stats);
    for (int waited = 0; waited < WAIT_MS; waited += 10) {
        zmqsink_stats(zs, &stats); /* counted once each call has returned */
        if (stats.sinks[1].delivered == th_log_count(&seen.log, 0))
            break;
        th_sleep_ms(10);
    }
    cr_assert_eq(stats.nsinks, 2u, "the replaced callback's sink is gone");
    cr_assert_str_eq(stats.sinks[1].name, "socket-callback-2");
    cr_assert_str_eq(stats.sinks[1].type, "callback");
    cr_assert_eq(stats.sinks[1].delivered, th_log_count(&seen.log, 0));

    cr_assert_eq(zmqsink_socket_callback(zs, server, NULL, NULL), 0);
    size_t before = th_log_count(&seen.log, 0);
    cr_assert_eq(zmqsink_socket_callback(zs, server, NULL, NULL),
                 -ZMQSINK_ENOTFOUND, "nothing left to clear");
    th_close(client_of(server, "client2"));
    th_sleep_ms(200); /* room for events that should not come */
    cr_assert_eq(th_log_count(&seen.log, 0), before,
                 "cleared: never called again");
    zmqsink_destroy(&zs);
    seen_free(&seen);
}

Test(api, a_closed_socket_ends_its_callback_and_its_address_is_not_taken,
     .init = setup, .fini = teardown)
{
    void *old = zmq_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach(zs, old, "old"), 0);
    seen_t seen;
    seen_init(&seen, old, "old");
    cr_assert_eq(zmqsink_socket_callback(zs, old, on_socket_event, &seen), 0);
    cr_assert_eq(zmq_bind(old, "tcp://127.0.0.1:*"), 0);
    cr_assert_geq(th_log_wait(&seen.log, ZMQSINK_EVENT_LISTENING, 1, WAIT_MS),
                  1u);
    zmqsink_socket_closed(zs, old);
    cr_assert_eq(zmq_close(old), 0);
    cr_assert_eq(zmqsink_settle_closed(zs, ctx, WAIT_MS), 0);
    cr_assert_geq(th_log_wait(&seen.log, ZMQSINK_EVENT_MONITOR_STOPPED, 1,
                              WAIT_MS),
                  1u);
    pthread_mutex_lock(&seen.log.lock);
    size_t n = seen.log.n;
    uint32_t last = seen.log.events[n - 1].type;
    pthread_mutex_unlock(&seen.log.lock);
    cr_assert_eq(last, ZMQSINK_EVENT_MONITOR_STOPPED,
                 "monitor_stopped is the last event");

    /* libzmq is free to give the next socket the same address. */
    void *fresh = th_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach(zs, fresh, "fresh"), 0);
    cr_assert_eq(zmq_bind(fresh, "tcp://127.0.0.1:*"), 0);
    cr_assert_eq(zmqsink_socket_callback(zs, old, NULL, NULL),
                 -ZMQSINK_ENOTFOUND,
                 "the old handle names no socket with a callback now");
    th_sleep_ms(200);
    cr_assert_eq(th_log_count(&seen.log, 0), n, "nothing of the new socket");
    zmqsink_destroy(&zs);
    seen_free(&seen);
}

/* ---- slow callbacks, removal ---- */

static atomic_int gate = 0; /* the slow callback waits while 0 */
static atomic_uint slow_calls;

static void slow(const zmqsink_event_t *event, void *arg)
{
    (void)event;
    (void)arg;
    while (!atomic_load(&gate))
        th_sleep_ms(1);
    atomic_fetch_add(&slow_calls, 1);
}

Test(api, a_slow_callback_drops_and_counts_and_stalls_nothing, .init = setup,
     .fini = teardown)
{
    atomic_store(&gate, 0);
    atomic_store(&slow_calls, 0);
    cr_assert_eq(zmqsink_add_callback(zs, "slow", ZMQSINK_EVENT_ALL, slow,
                                      NULL),
                 0);
    void *server = th_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach(zs, server, "server"), 0);
    cr_assert_eq(zmq_bind(server, "tcp://127.0.0.1:*"), 0);
    for (int i = 0; i < 40; i++) /* 3 events each at least */
        th_close(client_of(server, "client"));
    TH_STATS(stats);
    for (int waited = 0; waited < WAIT_MS; waited += 20) {
        zmqsink_stats(zs, &stats);
        if (stats.sinks[1].dropped_full > 0 && stats.sinks[0].delivered > 0)
            break;
        th_sleep_ms(20);
    }
    atomic_store(&gate, 1);
    cr_assert_gt(stats.sinks[1].dropped_full, 0u,
                 "a queue of 16 overflows while the callback waits");
    cr_assert_gt(stats.sinks[0].delivered, 0u,
                 "the file sink delivers all along");
    /* Once the sockets' last events are read, every event numbered went
     * to the callback's queue or was counted as dropped there. */
    th_close(server);
    cr_assert_eq(zmqsink_settle(zs, ctx, WAIT_MS), 0);
    zmqsink_stats(zs, &stats);
    cr_assert_eq(stats.sinks[1].enqueued + stats.sinks[1].dropped_full,
                 stats.events, "every event queued or counted as dropped");
    server = th_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach(zs, server, "server"), 0);
    cr_assert_eq(zmq_bind(server, "tcp://127.0.0.1:*"), 0);
    zmqsink_stats_t *final = &stats;
    cr_assert_eq(zmqsink_remove_callback(zs, "slow"), 0);
    unsigned calls = atomic_load(&slow_calls);
    zmqsink_stats(zs, final);
    cr_assert_eq(final->nsinks, 1u);
    cr_assert_eq(zmqsink_remove_callback(zs, "slow"), -ZMQSINK_ENOTFOUND);
    cr_assert_eq(zmqsink_remove_callback(zs, "jsonl"), -ZMQSINK_ENOTFOUND,
                 "a sink of the config is not a callback");
    th_close(client_of(server, "client"));
    th_sleep_ms(200);
    cr_assert_eq(atomic_load(&slow_calls), calls,
                 "removed: never called again");
    cr_assert_gt(calls, 0u);
}

/* A callback that tries to change its own instance. */
static atomic_int reentry_add, reentry_remove, reentry_reload, reentry_done;
static zmqsink_t *reentry_zs;

static void reentrant(const zmqsink_event_t *event, void *arg)
{
    (void)event;
    (void)arg;
    if (atomic_load(&reentry_done))
        return;
    atomic_store(&reentry_add,
                 zmqsink_add_callback(reentry_zs, "inner", ZMQSINK_EVENT_ALL,
                                      never_called, NULL));
    atomic_store(&reentry_remove,
                 zmqsink_remove_callback(reentry_zs, "reentrant"));
    atomic_store(&reentry_reload,
                 zmqsink_reload(reentry_zs, NULL, NULL, 0));
    zmqsink_t *self = reentry_zs;
    zmqsink_destroy(&self); /* refused: self stays */
    atomic_store(&reentry_done, self ? 1 : -1);
}

Test(api, a_callback_cannot_change_its_own_instance, .init = setup,
     .fini = teardown)
{
    reentry_zs = zs;
    atomic_store(&reentry_done, 0);
    cr_assert_eq(zmqsink_add_callback(zs, "reentrant", ZMQSINK_EVENT_ALL,
                                      reentrant, NULL),
                 0);
    void *s = th_socket(ctx, ZMQ_DEALER);
    cr_assert_eq(zmqsink_attach(zs, s, "s"), 0);
    cr_assert_eq(zmq_connect(s, "tcp://127.0.0.1:1"), 0);
    for (int waited = 0; !atomic_load(&reentry_done) && waited < WAIT_MS;
         waited += 10)
        th_sleep_ms(10);
    cr_assert_eq(atomic_load(&reentry_done), 1,
                 "zmqsink_destroy() from the callback was refused");
    cr_assert_eq(atomic_load(&reentry_add), -ZMQSINK_EINVAL);
    cr_assert_eq(atomic_load(&reentry_remove), -ZMQSINK_EINVAL);
    cr_assert_eq(atomic_load(&reentry_reload), -ZMQSINK_EINVAL);
    zmqsink_stats_t counts_only = {0};
    zmqsink_stats(zs, &counts_only);
    cr_assert_eq(counts_only.nsinks, 2u, "nothing added, nothing removed");
}

/* ---- a monitor that cannot start ---- */

static void *terminate(void *c)
{
    return (void *)(intptr_t)zmq_ctx_term(c);
}

/* At its socket limit, libzmq cannot make the monitor: the attach fails,
 * and the context still ends well later, even at its limit (libzmq binds
 * every inproc endpoint still awaited when it ends, and aborts when it
 * cannot make the socket to). */
Test(api, a_monitor_that_cannot_start_leaves_the_context_able_to_end,
     .init = setup, .fini = teardown)
{
    void *small = zmq_ctx_new();
    cr_assert_eq(zmq_ctx_set(small, ZMQ_MAX_SOCKETS, 2), 0);
    void *a = zmq_socket(small, ZMQ_DEALER);
    errno = 0;
    cr_assert_eq(zmqsink_attach_ctx(zs, small, a, "a"), -ZMQSINK_EZMQ);
    cr_assert_eq(errno, EMFILE, "%s", zmq_strerror(errno));
    void *b = NULL; /* once libzmq's reaper has freed the closed ones */
    for (int waited = 0; !b && waited < WAIT_MS; waited += 10) {
        if (!(b = zmq_socket(small, ZMQ_DEALER)))
            th_sleep_ms(10);
    }
    cr_assert_not_null(b, "the failed attach gave back its sockets");
    int linger = 0;
    zmq_setsockopt(a, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(b, ZMQ_LINGER, &linger, sizeof linger);
    pthread_t ending;
    pthread_create(&ending, NULL, terminate, small); /* at its limit */
    th_sleep_ms(50);
    zmq_close(a);
    zmq_close(b);
    void *rc;
    pthread_join(ending, &rc);
    cr_assert_eq((intptr_t)rc, 0);
}

/* ---- destroy with sockets left open ---- */

Test(api, events_of_sockets_left_open_at_destroy_are_said_and_counted,
     .init = setup, .fini = teardown)
{
    void *router = th_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach(zs, router, "kept"), 0);
    cr_assert_eq(zmq_bind(router, "tcp://127.0.0.1:*"), 0);
    char endpoint[256];
    th_last_endpoint(router, endpoint, sizeof endpoint);
    char *log = th_path(dir, "stderr.log");
    FILE *captured = fopen(log, "w");
    cr_assert_not_null(captured);
    cr_assert_geq(dup2(fileno(captured), STDERR_FILENO), 0);
    uint64_t before = zmqsink_discarded_events();

    zmqsink_destroy(&zs);
    /* Events after the instance is gone: read, dropped and counted. */
    void *dealer = th_socket(ctx, ZMQ_DEALER);
    cr_assert_eq(zmq_connect(dealer, endpoint), 0);
    cr_assert_eq(zmq_send(dealer, "x", 1, 0), 1);
    char buf[16];
    cr_assert_eq(zmq_recv(router, buf, sizeof buf, 0), 5); /* identity */
    th_close(dealer);
    th_close(router);

    char *text = NULL;
    unsigned long long discarded = 0;
    for (int waited = 0; waited < WAIT_MS; waited += 20) {
        free(text);
        text = th_read_file(log);
        const char *line = text ? strstr(text, "notice: ") : NULL;
        if (line && sscanf(line, "notice: %llu events of sockets left open",
                           &discarded) == 1)
            break;
        th_sleep_ms(20);
    }
    cr_assert_not_null(strstr(text, "zmqsink_destroy(): 1 attached socket is "
                                    "still open"), "%s", text);
    cr_assert_geq(discarded, 2, "accepted and monitor_stopped at least: %s",
                  text);
    /* The same count, process-wide, as the notice comes after the last. */
    uint64_t total = zmqsink_discarded_events();
    cr_assert_eq(total - before, discarded);

    /* And in the stats file of an instance made after. */
    char *stats = th_path(dir, "stats.json");
    zs = th_start(ctx, dir,
                  "stats: { path: %s }\n"
                  "sinks:\n"
                  "  - name: jsonl\n"
                  "    type: file\n"
                  "    path: %s/events.jsonl\n",
                  stats, dir);
    zmqsink_destroy(&zs);
    char *json = th_read_file(stats);
    char expect[64];
    snprintf(expect, sizeof expect, "\"discarded_events\":%llu,",
             (unsigned long long)total);
    cr_assert(json && strstr(json, expect), "no %s in %s", expect, json);
    free(json);
    free(stats);
    free(text);
    free(log);
    fclose(captured);
}

/* ---- callbacks that hold on ---- */

static atomic_int blocked_gate, blocked_calls;

static void blocked(const zmqsink_event_t *event, void *arg)
{
    (void)event;
    (void)arg;
    atomic_fetch_add(&blocked_calls, 1);
    while (!atomic_load(&blocked_gate))
        th_sleep_ms(1);
}

/* A callback stuck past shutdown_timeout is left behind by its removal,
 * which returns; once it comes back it is never called again, though
 * events wait in its queue. */
Test(api, a_callback_left_behind_is_never_called_again,
     .init = setup_short_shutdown, .fini = teardown, .timeout = 30)
{
    atomic_store(&blocked_gate, 0);
    atomic_store(&blocked_calls, 0);
    cr_assert_eq(zmqsink_add_callback(zs, "blocked", ZMQSINK_EVENT_ALL,
                                      blocked, NULL),
                 0);
    void *server = th_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach(zs, server, "server"), 0);
    cr_assert_eq(zmq_bind(server, "tcp://127.0.0.1:*"), 0);
    for (int i = 0; i < 5; i++)
        th_close(client_of(server, "client"));
    for (int waited = 0; !atomic_load(&blocked_calls) && waited < WAIT_MS;
         waited += 5)
        th_sleep_ms(5);
    cr_assert_eq(atomic_load(&blocked_calls), 1, "inside its first call");
    cr_assert_eq(zmqsink_remove_callback(zs, "blocked"), 0);
    atomic_store(&blocked_gate, 1);
    th_sleep_ms(300); /* room for calls that must not come */
    cr_assert_eq(atomic_load(&blocked_calls), 1,
                 "called again after its removal returned");
}

/* A socket that is detached and attached again starts anew: its callback
 * ended with the detach. */
Test(api, a_detached_socket_ends_its_callback, .init = setup,
     .fini = teardown)
{
    void *server = th_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach(zs, server, "server"), 0);
    seen_t seen;
    seen_init(&seen, server, "server");
    cr_assert_eq(zmqsink_socket_callback(zs, server, on_socket_event, &seen),
                 0);
    cr_assert_eq(zmq_bind(server, "tcp://127.0.0.1:*"), 0);
    cr_assert_geq(th_log_wait(&seen.log, ZMQSINK_EVENT_LISTENING, 1, WAIT_MS),
                  1u);
    cr_assert_eq(zmqsink_detach(zs, server), 0);
    cr_assert_geq(th_log_wait(&seen.log, ZMQSINK_EVENT_MONITOR_STOPPED, 1,
                              WAIT_MS),
                  1u);
    cr_assert_eq(zmqsink_attach(zs, server, "server"), 0);
    th_close(client_of(server, "client"));
    TH_STATS(stats);
    for (int waited = 0; waited < WAIT_MS; waited += 10) {
        zmqsink_stats(zs, &stats);
        if (stats.sinks[0].delivered >= 4) /* the file sink saw the client */
            break;
        th_sleep_ms(10);
    }
    th_sleep_ms(100);
    size_t n = th_log_count(&seen.log, 0);
    pthread_mutex_lock(&seen.log.lock);
    uint32_t last = seen.log.events[n - 1].type;
    pthread_mutex_unlock(&seen.log.lock);
    cr_assert_eq(last, ZMQSINK_EVENT_MONITOR_STOPPED,
                 "nothing after the detach's monitor_stopped");
    cr_assert_eq(th_log_count(&seen.log, ZMQSINK_EVENT_ACCEPTED), 0u);
    zmqsink_destroy(&zs);
    seen_free(&seen);
}

/* ---- threads ---- */

/* Each thread says whose it is in top -H; their number does not grow
 * with the sockets: the collector and one per sink. The reporter starts
 * only with something to say (test_monitor, a_first_loss_starts_the_reporter). */
Test(api, threads_are_named_and_do_not_grow_with_sockets, .init = setup_roomy,
     .fini = teardown)
{
    char names[1024];
    cr_assert_eq(th_zs_threads(names, sizeof names), 2u, "%s", names);
    cr_assert(strstr(names, "zs-collector\n") && strstr(names, "zs:jsonl\n"),
              "%s", names);
    for (int i = 0; i < 200; i++) {
        void *s = th_socket(ctx, ZMQ_DEALER);
        cr_assert_eq(zmqsink_attach(zs, s, "many"), 0);
        cr_assert_eq(zmq_bind(s, "tcp://127.0.0.1:*"), 0);
    }
    th_log_t log;
    th_log_init(&log);
    cr_assert_eq(zmqsink_add_callback(zs, "cb", ZMQSINK_EVENT_ALL,
                                      th_log_callback, &log),
                 0);
    cr_assert_eq(th_zs_threads(names, sizeof names), 3u, "%s", names);
    cr_assert(strstr(names, "zs:cb\n") && !strstr(names, "zs-report\n"),
              "%s", names);
    zmqsink_destroy(&zs);
    th_log_free(&log);
}
