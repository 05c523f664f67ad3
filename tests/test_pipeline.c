/* The pipeline end to end: a dead sink never stalls the application nor the
 * other sinks, drops and failures are counted, and shutdown delivers what
 * was queued. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "helpers.h"

TestSuite(pipeline, .timeout = 300);

static void *ctx;
static char *dir;

static void setup(void)
{
    ctx = zmq_ctx_new();
    dir = th_tempdir();
}

static void teardown(void)
{
    th_close_all();
    zmq_ctx_term(ctx);
    th_remove_tree(dir);
    free(dir);
}

static void *socket_new(int type)
{
    return th_socket(ctx, type);
}

/* Lines in dir/name; 0 when there is no such file yet. */
static size_t count_lines(const char *name)
{
    char *path = th_path(dir, name), *text = th_read_file(path);
    size_t lines = 0;
    for (const char *p = text; p && (p = strchr(p, '\n')); p++)
        lines++;
    free(text);
    free(path);
    return lines;
}

/* cycles connect/send/disconnect rounds of a DEALER against server. */
static void churn(zmqsink_t *zs, void *server, const char *endpoint,
                  int cycles)
{
    for (int i = 0; i < cycles; i++) {
        void *client = socket_new(ZMQ_DEALER);
        cr_assert_eq(zmqsink_attach(zs, client, "client"), 0);
        cr_assert_eq(zmq_connect(client, endpoint), 0);
        cr_assert_eq(zmq_send(client, "x", 1, 0), 1);
        char buf[64];
        cr_assert_gt(zmq_recv(server, buf, sizeof buf, 0), 0);
        cr_assert_eq(zmq_recv(server, buf, sizeof buf, 0), 1);
        th_close(client);
    }
}

Test(pipeline, dead_sink_never_stalls_the_application, .init = setup,
     .fini = teardown, .timeout = 300)
{
    zmqsink_t *zs = th_start(ctx, dir, "queue: { capacity: 4096 }\n"
                          "shutdown_timeout: 2s\n"
                          "sinks:\n"
                          "  - name: stuck\n"
                          "    type: blocking\n"
                          "    release_file: %s/release\n",
                          dir);
    th_log_t log;
    th_log_init(&log);
    cr_assert_eq(zmqsink_add_callback(zs, "healthy", ZMQSINK_EVENT_ALL,
                                      th_log_callback, &log),
                 0);
    void *server = socket_new(ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach(zs, server, "server"), 0);
    cr_assert_eq(zmq_bind(server, "tcp://127.0.0.1:*"), 0);
    char endpoint[256];
    th_last_endpoint(server, endpoint, sizeof endpoint);

    /* Application traffic on monitored sockets keeps flowing. */
    void *pull = socket_new(ZMQ_PULL), *push = socket_new(ZMQ_PUSH);
    zmqsink_attach(zs, pull, "pull");
    zmqsink_attach(zs, push, "push");
    zmq_bind(pull, "tcp://127.0.0.1:*");
    char pull_endpoint[256];
    th_last_endpoint(pull, pull_endpoint, sizeof pull_endpoint);
    zmq_connect(push, pull_endpoint);
    int timeout = 10000;
    zmq_setsockopt(pull, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(server, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    for (int i = 0; i < 10000; i++) {
        cr_assert_eq(zmq_send(push, &i, sizeof i, 0), (int)sizeof i);
        int got = -1;
        cr_assert_eq(zmq_recv(pull, &got, sizeof got, 0), (int)sizeof got,
                     "message %d did not arrive", i);
        cr_assert_eq(got, i);
    }
    churn(zs, server, endpoint, 1000);
    th_close(push);
    th_close(pull);
    th_close(server);
    th_log_wait(&log, ZMQSINK_EVENT_MONITOR_STOPPED, 1003, 30000);

    TH_STATS(stats);
    zmqsink_stats(zs, &stats);
    cr_assert_eq(stats.nsinks, 2u);
    const zmqsink_sink_stats_t *stuck = &stats.sinks[0], *healthy = &stats.sinks[1];
    cr_assert_str_eq(stuck->name, "stuck");
    cr_assert_gt(stats.events, 4096u, "enough events to fill the stuck ring");
    cr_assert_gt(stuck->dropped_full, 0u);
    cr_assert_eq(stuck->enqueued + stuck->dropped_full, stats.events);
    cr_assert_eq(healthy->dropped_full, 0u);
    cr_assert_eq(healthy->enqueued, stats.events);
    cr_assert_eq(th_log_count(&log, 0), stats.events,
                 "the healthy sink got every event");

    /* Released, the stuck sink drains its ring at shutdown. */
    free(th_write_file(dir, "release", ""));
    zmqsink_destroy_stats(&zs, &stats);
    cr_assert_eq(stats.sinks[0].delivered, stats.sinks[0].enqueued);
    cr_assert_eq(stats.sinks[0].dropped_shutdown, 0u);
    th_log_free(&log);
}

Test(pipeline, destroy_delivers_everything_queued, .init = setup,
     .fini = teardown, .timeout = 120)
{
    zmqsink_t *zs = th_start(ctx, dir, "sinks:\n"
                          "  - name: out\n"
                          "    type: file\n"
                          "    path: %s/events.jsonl\n"
                          "    format: json\n",
                          dir);
    void *server = socket_new(ZMQ_ROUTER);
    zmqsink_attach(zs, server, "server");
    zmq_bind(server, "tcp://127.0.0.1:*");
    char endpoint[256];
    th_last_endpoint(server, endpoint, sizeof endpoint);
    churn(zs, server, endpoint, 200);
    th_close(server);
    /* No waiting: destroy itself must deliver what is in flight. */
    TH_STATS(stats);
    zmqsink_destroy_stats(&zs, &stats);
    cr_assert_gt(stats.events, 1000u);
    cr_assert_eq(stats.sinks[0].delivered, stats.events);
    cr_assert_eq(stats.sinks[0].dropped_full + stats.sinks[0].dropped_shutdown +
                     stats.sinks[0].failed,
                 0u);

    th_assert_json_seqs(dir, "events.jsonl", stats.events);
}

Test(pipeline, failing_sink_is_counted_and_others_go_on, .init = setup,
     .fini = teardown)
{
    zmqsink_t *zs = th_start(ctx, dir, "sinks:\n"
                          "  - name: broken\n"
                          "    type: fail_write\n");
    th_log_t log;
    th_log_init(&log);
    zmqsink_add_callback(zs, "log", ZMQSINK_EVENT_ALL, th_log_callback, &log);
    void *server = socket_new(ZMQ_ROUTER);
    zmqsink_attach(zs, server, "server");
    zmq_bind(server, "tcp://127.0.0.1:*");
    th_close(server);
    th_log_wait(&log, ZMQSINK_EVENT_MONITOR_STOPPED, 1, 5000);
    TH_STATS(stats);
    zmqsink_destroy_stats(&zs, &stats);
    cr_assert_geq(stats.events, 3u); /* listening, closed, monitor_stopped */
    cr_assert_eq(stats.sinks[0].failed, stats.events);
    cr_assert_eq(stats.sinks[0].delivered, 0u);
    cr_assert_eq(stats.sinks[1].delivered, stats.events);
    cr_assert_eq(th_log_count(&log, 0), stats.events);
    th_log_free(&log);
}

Test(pipeline, filters_by_event_socket_and_severity, .init = setup,
     .fini = teardown)
{
    zmqsink_t *zs = th_start(ctx, dir, "sinks:\n"
                          "  - name: a\n"
                          "    type: file\n"
                          "    path: %s/a.log\n"
                          "    events: [listening, closed]\n"
                          "  - name: b\n"
                          "    type: file\n"
                          "    path: %s/b.log\n"
                          "    sockets: \"front*\"\n"
                          "  - name: c\n"
                          "    type: file\n"
                          "    path: %s/c.log\n"
                          "    min_severity: err\n",
                          dir, dir, dir);
    void *front = socket_new(ZMQ_ROUTER), *back = socket_new(ZMQ_ROUTER);
    zmqsink_attach(zs, front, "frontend");
    zmqsink_attach(zs, back, "backend");
    zmq_bind(front, "tcp://127.0.0.1:*");
    char endpoint[256];
    th_last_endpoint(front, endpoint, sizeof endpoint);
    cr_assert_eq(zmq_bind(back, endpoint), -1); /* bind_failed: err */
    th_close(front);
    th_close(back);
    cr_assert_eq(zmqsink_settle(zs, ctx, 10000), 0);
    TH_STATS(stats);
    /* Destroy delivers everything. */
    zmqsink_destroy_stats(&zs, &stats);
    /* a: frontend listening and closed, and backend's closed of the fd its
     * failed bind made. b: frontend's three events. c: the one bind_failed
     * of backend. */
    cr_assert_eq(stats.sinks[0].delivered, 3u);
    cr_assert_eq(stats.sinks[1].delivered, 3u);
    cr_assert_eq(stats.sinks[2].delivered, 1u);
    cr_assert_eq(stats.filtered, 1u, "backend's monitor_stopped went nowhere");
}

static pthread_t callback_thread;

static void remember_thread(const zmqsink_event_t *event, void *arg)
{
    callback_thread = pthread_self();
    th_log_callback(event, arg);
}

Test(pipeline, callback_runs_on_its_own_thread, .init = setup,
     .fini = teardown)
{
    zmqsink_t *zs = th_start(ctx, dir, "sinks:\n"
                          "  - name: out\n"
                          "    type: file\n"
                          "    path: /dev/null\n");
    th_log_t log;
    th_log_init(&log);
    cr_assert_eq(zmqsink_add_callback(zs, "cb", ZMQSINK_EVENT_LISTENING,
                                      remember_thread, &log),
                 0);
    cr_assert_eq(zmqsink_add_callback(zs, "cb", ZMQSINK_EVENT_ALL,
                                      remember_thread, &log),
                 -ZMQSINK_EEXISTS);
    void *s = socket_new(ZMQ_ROUTER);
    zmqsink_attach(zs, s, "server");
    zmq_bind(s, "tcp://127.0.0.1:*");
    cr_assert_eq(th_log_wait(&log, ZMQSINK_EVENT_LISTENING, 1, 5000), 1u);
    cr_assert(!pthread_equal(callback_thread, pthread_self()));
    th_close(s);
    zmqsink_destroy(&zs);
    cr_assert_eq(th_log_count(&log, 0), 1u, "only the events asked for");
    th_log_free(&log);
}

/* A PUSH/PULL round trip in ctx: proves libzmq's I/O thread is not stuck
 * on a monitor nobody reads. */
static void assert_traffic_flows(void)
{
    void *pull = socket_new(ZMQ_PULL), *push = socket_new(ZMQ_PUSH);
    int timeout = 5000;
    zmq_setsockopt(pull, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    cr_assert_eq(zmq_bind(pull, "tcp://127.0.0.1:*"), 0);
    char endpoint[256];
    th_last_endpoint(pull, endpoint, sizeof endpoint);
    cr_assert_eq(zmq_connect(push, endpoint), 0);
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(zmq_send(push, &i, sizeof i, 0), (int)sizeof i);
        int got = -1;
        cr_assert_eq(zmq_recv(pull, &got, sizeof got, 0), (int)sizeof got,
                     "message %d: the context's networking is stalled", i);
        cr_assert_eq(got, i);
    }
    th_close(push);
    th_close(pull);
}

Test(pipeline, destroy_leaves_open_and_lingering_sockets_working,
     .init = setup, .fini = teardown)
{
    zmqsink_t *zs = th_start(ctx, dir, "shutdown_timeout: 500ms\n"
                          "sinks:\n"
                          "  - name: out\n"
                          "    type: file\n"
                          "    path: /dev/null\n");
    /* Closed but lingering: its monitor goes on reporting retries. */
    void *lingering = zmq_socket(ctx, ZMQ_PUSH);
    int linger = 1500, interval = 20;
    zmq_setsockopt(lingering, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(lingering, ZMQ_RECONNECT_IVL, &interval, sizeof interval);
    zmqsink_attach(zs, lingering, "lingering");
    char nowhere[64];
    snprintf(nowhere, sizeof nowhere, "tcp://127.0.0.1:%d", th_free_port());
    zmq_connect(lingering, nowhere);
    zmq_send(lingering, "queued", 6, 0);
    zmq_close(lingering);
    /* Open and busy: connections keep coming after destroy. */
    void *server = socket_new(ZMQ_ROUTER);
    zmqsink_attach(zs, server, "server");
    zmq_bind(server, "tcp://127.0.0.1:*");
    char endpoint[256];
    th_last_endpoint(server, endpoint, sizeof endpoint);

    zmqsink_destroy(&zs);
    cr_assert_null(zs);
    for (int i = 0; i < 50; i++) {
        void *client = socket_new(ZMQ_DEALER);
        zmq_connect(client, endpoint);
        th_close(client);
    }
    assert_traffic_flows();
    /* teardown's zmq_ctx_term returning is the last check. */
}

Test(pipeline, retry_later_is_backed_off_during_shutdown, .init = setup,
     .fini = teardown)
{
    zmqsink_t *zs = th_start(ctx, dir, "shutdown_timeout: 1s\n"
                          "sinks:\n"
                          "  - name: down\n"
                          "    type: always_retry\n"
                          "    count_file: %s/writes\n",
                          dir);
    void *s = socket_new(ZMQ_ROUTER);
    zmqsink_attach(zs, s, "server");
    zmq_bind(s, "tcp://127.0.0.1:*");
    th_close(s);
    TH_STATS(stats);
    zmqsink_destroy_stats(&zs, &stats);
    cr_assert_geq(stats.events, 1u);
    cr_assert_eq(stats.sinks[0].delivered, 0u);
    cr_assert_eq(stats.sinks[0].dropped_shutdown, stats.sinks[0].enqueued,
                 "what could not be delivered is counted");
    char path[4200];
    snprintf(path, sizeof path, "%s/writes", dir);
    char *count = th_read_file(path);
    cr_assert_not_null(count);
    /* Backoff doubles from 10 ms: a handful of tries within the second,
     * never a busy loop of millions. */
    cr_assert_lt(atol(count), 100, "%s write() calls", count);
    cr_assert_gt(atol(count), 0);
    free(count);
}

/* Where every event routed to a sink is, in one snapshot: nowhere twice,
 * never lost. zmqsink_stats() derives pending and queue_depth, so the sum
 * holds by construction; what a snapshot can get wrong is a count taken
 * twice (a plugin reporting more than it holds, a counter read out of
 * order), which shows as a derived count below zero, a huge unsigned
 * number. Returns NULL, or what is wrong (a static buffer). */
static const char *identity_broken(const zmqsink_sink_stats_t *s)
{
    static _Thread_local char why[256];
    uint64_t routed = s->enqueued + s->dropped_full;
    uint64_t placed = s->delivered + s->pending + s->queue_depth + s->failed +
                      s->dropped_full + s->dropped_shutdown;
    if (routed == placed && s->pending < (1ull << 62) &&
        s->queue_depth < (1ull << 62))
        return NULL;
    snprintf(why, sizeof why,
             "sink %s: enqueued %llu + dropped_full %llu != delivered %llu + "
             "pending %llu + queue_depth %llu + failed %llu + dropped_full "
             "%llu + dropped_shutdown %llu",
             s->name, (unsigned long long)s->enqueued,
             (unsigned long long)s->dropped_full,
             (unsigned long long)s->delivered, (unsigned long long)s->pending,
             (unsigned long long)s->queue_depth, (unsigned long long)s->failed,
             (unsigned long long)s->dropped_full,
             (unsigned long long)s->dropped_shutdown);
    return why;
}

typedef struct sampler {
    zmqsink_t *zs;
    _Atomic int done;
    uint64_t samples;
    char broken[512]; /* the first snapshot that broke the identity */
} sampler_t;

/* Another application thread: snapshots while the sockets churn. */
static void *sample_stats(void *arg)
{
    sampler_t *s = arg;
    while (!atomic_load(&s->done) || s->samples < 100) {
        TH_STATS(stats);
        zmqsink_stats(s->zs, &stats);
        for (size_t i = 0; i < stats.nsinks; i++) {
            const char *why = identity_broken(&stats.sinks[i]);
            if (why && !s->broken[0])
                snprintf(s->broken, sizeof s->broken, "sample %llu: %s",
                         (unsigned long long)s->samples, why);
        }
        s->samples++;
    }
    return NULL;
}

Test(pipeline, every_event_is_in_one_place_in_every_snapshot, .init = setup,
     .fini = teardown, .timeout = 300)
{
    zmqsink_t *zs = th_start(ctx, dir, "queue: { capacity: 64 }\n"
                          "sinks:\n"
                          "  - name: holding\n"
                          "    type: holding\n"
                          "  - name: file\n"
                          "    type: file\n"
                          "    path: events.jsonl\n"
                          "  - name: broken\n"
                          "    type: fail_write\n");
    sampler_t sampler = {.zs = zs};
    pthread_t thread;
    cr_assert_eq(pthread_create(&thread, NULL, sample_stats, &sampler), 0);
    void *server = socket_new(ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach(zs, server, "server"), 0);
    cr_assert_eq(zmq_bind(server, "tcp://127.0.0.1:*"), 0);
    char endpoint[256];
    th_last_endpoint(server, endpoint, sizeof endpoint);
    churn(zs, server, endpoint, 400);
    th_close(server);
    atomic_store(&sampler.done, 1);
    pthread_join(thread, NULL);
    cr_assert_eq(sampler.broken[0], '\0', "%s", sampler.broken);

    TH_STATS(stats);
    zmqsink_destroy_stats(&zs, &stats);
    cr_assert_eq(stats.nsinks, 3u);
    for (size_t i = 0; i < stats.nsinks; i++) {
        const zmqsink_sink_stats_t *s = &stats.sinks[i];
        const char *why = identity_broken(s);
        cr_assert_null(why, "at the end: %s", why);
        cr_assert_eq(s->pending + s->queue_depth, 0u,
                     "sink %s still holds events after destroy", s->name);
        cr_assert_gt(s->enqueued, 0u, "sink %s got nothing", s->name);
    }
    /* Counted apart from the counters: the lines the file sink wrote. */
    size_t lines = count_lines("events.jsonl");
    cr_assert_eq(lines, stats.sinks[1].delivered,
                 "the file has %zu lines, the file sink %llu delivered", lines,
                 (unsigned long long)stats.sinks[1].delivered);
    const zmqsink_sink_stats_t *holding = &stats.sinks[0];
    cr_assert_gt(holding->delivered, 0u);
    cr_assert_gt(holding->failed, 0u, "one batch in three fails");
    cr_assert_eq(stats.sinks[2].delivered, 0u);
}

/* A plugin ticked on request (tick_at()) gets the ticks it asked for and
 * no other: its events are delivered only from those ticks, and an idle
 * sink's thread is not woken for it. */
Test(pipeline, ticks_come_when_asked_and_only_then, .init = setup,
     .fini = teardown)
{
    zmqsink_t *zs = th_start(ctx, dir, "sinks:\n"
                                       "  - name: ticking\n"
                                       "    type: ticking\n"
                                       "    path: ticks.log\n");
    void *server = socket_new(ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach(zs, server, "server"), 0);
    cr_assert_eq(zmq_bind(server, "tcp://127.0.0.1:*"), 0);
    char endpoint[256];
    th_last_endpoint(server, endpoint, sizeof endpoint);
    churn(zs, server, endpoint, 5);
    th_close(server);
    cr_assert_eq(zmqsink_settle(zs, ctx, 5000), 0, "every event read");
    TH_STATS(stats);
    for (int i = 0; i < 500; i++) { /* bounded: 5 s */
        cr_assert_eq(zmqsink_stats(zs, &stats), 0);
        if (stats.sinks[0].delivered == stats.sinks[0].enqueued)
            break;
        th_sleep_ms(10);
    }
    cr_assert_gt(stats.sinks[0].enqueued, 0u);
    cr_assert_eq(stats.sinks[0].delivered, stats.sinks[0].enqueued,
                 "the events wait for a tick that did not come");
    size_t ticks = count_lines("ticks.log");
    cr_assert_geq(ticks, 1u);
    th_sleep_ms(400); /* four periods of a plugin ticked unasked */
    cr_assert_eq(count_lines("ticks.log"), ticks,
                 "ticked while it asked for nothing");
    zmqsink_destroy(&zs);
}

/* Whether the file at path comes to contain text within timeout_ms. */
static bool file_gets(const char *path, const char *text, int timeout_ms)
{
    for (int waited = 0;; waited += 10) {
        char *content = th_read_file(path);
        bool found = content && strstr(content, text);
        free(content);
        if (found || waited >= timeout_ms)
            return found;
        th_sleep_ms(10);
    }
}

/* The report thread sleeps while nothing is due (no stats file, every
 * loss said): a sink's losses, the first and those after a quiet spell
 * longer than stats.interval, still reach the log without waiting. */
Test(pipeline, losses_are_said_though_the_reporter_sleeps, .init = setup,
     .fini = teardown)
{
    char *log_path = th_path(dir, "stderr.log");
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    close(fd);
    zmqsink_t *zs = th_start(ctx, dir, "stats: { interval: 100ms }\n"
                                       "sinks:\n"
                                       "  - name: broken\n"
                                       "    type: fail_write\n");
    th_sleep_ms(300); /* the reporter has long gone to sleep */
    void *server = socket_new(ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach(zs, server, "server"), 0);
    cr_assert_eq(zmq_bind(server, "tcp://127.0.0.1:*"), 0);
    cr_assert(file_gets(log_path, "sink 'broken': lost ", 5000),
              "the first loss was not said");
    th_sleep_ms(300); /* three intervals without a loss */
    cr_assert_eq(zmq_bind(server, "tcp://127.0.0.1:*"), 0);
    cr_assert(file_gets(log_path, "sink 'broken': lost 1 more events", 5000),
              "a loss after a quiet spell was not said");
    zmqsink_destroy(&zs);
    free(log_path);
}
