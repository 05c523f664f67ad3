/* Thread stress scenarios, without Criterion so that they run under TSan
 * (Criterion's runner cannot start under it): the ring across two threads,
 * and the whole pipeline while the application attaches, detaches, adds
 * sinks, reads stats and reopens from several threads at once, and while
 * a thread reloads the config over and over; and the application's own
 * monitors started, replaced and stopped from several threads.
 * Prints a line per scenario and ends with "stress: N passed, N failed". */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "helpers.h"
#include "ring.h"

static int check_failures;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "  %s:%d: check failed: %s: ", __FILE__,          \
                    __LINE__, #cond);                                          \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            check_failures++;                                                  \
        }                                                                      \
    } while (0)

/* ---- ring ---- */

enum { RING_RECORDS = 1000000 };

static void *ring_producer(void *arg)
{
    zs__ring_t *ring = arg;
    zmqsink_event_t ev;
    memset(&ev, 0, sizeof ev);
    for (uint64_t seq = 1; seq <= RING_RECORDS; seq++) {
        ev.seq = seq;
        ev.value = (uint32_t)(seq * 2654435761u);
        while (!zs__ring_push(ring, &ev))
            sched_yield();
    }
    return NULL;
}

static void scenario_ring_transfer(void)
{
    zs__ring_t *ring = zs__ring_new(64);
    pthread_t producer;
    pthread_create(&producer, NULL, ring_producer, ring);
    uint64_t expect = 1;
    while (expect <= RING_RECORDS) {
        const zmqsink_event_t *first;
        size_t n = zs__ring_peek(ring, &first);
        if (n == 0) {
            sched_yield();
            continue;
        }
        for (size_t i = 0; i < n; i++, expect++) {
            if (first[i].seq != expect ||
                first[i].value != (uint32_t)(expect * 2654435761u)) {
                CHECK(0, "record %llu out of order or torn",
                      (unsigned long long)expect);
                expect = RING_RECORDS + 1;
                break;
            }
        }
        zs__ring_release(ring, n);
    }
    pthread_join(producer, NULL);
    CHECK(zs__ring_depth(ring) == 0, "ring not empty at the end");
    zs__ring_destroy(&ring);
}

/* ---- pipeline ---- */

typedef struct churn_state {
    zmqsink_t *zs;
    _Atomic int done;
} churn_state_t;

/* Another application thread: reads stats, asks for reopen, adds sinks. */
static void *side_thread(void *arg)
{
    churn_state_t *state = arg;
    th_log_t *logs = calloc(4, sizeof *logs);
    int added = 0;
    while (!atomic_load(&state->done)) {
        TH_STATS(stats);
        zmqsink_stats(state->zs, &stats);
        zmqsink_reopen(state->zs);
        if (added < 4) {
            char name[32];
            snprintf(name, sizeof name, "late-%d", added);
            th_log_init(&logs[added]);
            CHECK(zmqsink_add_callback(state->zs, name, ZMQSINK_EVENT_ALL,
                                       th_log_callback, &logs[added]) == 0,
                  "add_callback %s", name);
            added++;
        }
        usleep(1000);
    }
    return logs;
}

/* zmqsink on ctx with yaml written to dir/cfg.yaml (*config, the caller
 * frees), and a callback sink into *log; NULL after a failed check. */
static zmqsink_t *start_logged(void *ctx, const char *dir, const char *yaml,
                               char **config, th_log_t *log)
{
    char err[1024] = "";
    *config = th_write_file(dir, "cfg.yaml", yaml);
    zmqsink_t *zs = zmqsink_new(ctx, *config, err, sizeof err);
    CHECK(zs != NULL, "zmqsink_new: %s", err);
    th_log_init(log);
    if (zs)
        zmqsink_add_callback(zs, "log", ZMQSINK_EVENT_ALL, th_log_callback,
                             log);
    return zs;
}

static void scenario_pipeline_churn(void)
{
    char *dir = th_tempdir();
    char yaml[4400];
    snprintf(yaml, sizeof yaml,
             "queue: { capacity: 65536 }\n"
             "sinks:\n"
             "  - name: out\n"
             "    type: file\n"
             "    path: %s/out.jsonl\n"
             "  - name: broken\n"
             "    type: fail_write\n",
             dir);
    void *ctx = zmq_ctx_new();
    char *config;
    th_log_t log;
    zmqsink_t *zs = start_logged(ctx, dir, yaml, &config, &log);
    if (!zs)
        return;

    churn_state_t state = {.zs = zs};
    pthread_t side;
    pthread_create(&side, NULL, side_thread, &state);

    void *server = th_socket(ctx, ZMQ_ROUTER);
    zmqsink_attach(zs, server, "server");
    zmq_bind(server, "tcp://127.0.0.1:*");
    char endpoint[256];
    th_last_endpoint(server, endpoint, sizeof endpoint);
    for (int i = 0; i < 300; i++) {
        void *client = th_socket(ctx, ZMQ_DEALER);
        zmqsink_attach(zs, client, NULL);
        zmq_connect(client, endpoint);
        if (i % 3 == 0)
            zmqsink_detach(zs, client);
        th_close(client);
    }
    th_close(server);
    atomic_store(&state.done, 1);
    th_log_t *late;
    pthread_join(side, (void **)&late);

    TH_STATS(stats);
    zmqsink_destroy_stats(&zs, &stats);
    CHECK(zmq_ctx_term(ctx) == 0, "zmq_ctx_term: %s", zmq_strerror(errno));
    CHECK(stats.events > 600, "only %llu events",
          (unsigned long long)stats.events);
    CHECK(th_log_count(&log, 0) == stats.events, "callback got %zu of %llu",
          th_log_count(&log, 0), (unsigned long long)stats.events);
    for (size_t i = 0; i < stats.nsinks; i++) {
        const zmqsink_sink_stats_t *s = &stats.sinks[i];
        CHECK(s->dropped_full == 0 && s->dropped_shutdown == 0,
              "sink %s dropped events", s->name);
        CHECK(s->delivered + s->failed == s->enqueued,
              "sink %s: %llu delivered + %llu failed != %llu enqueued", s->name,
              (unsigned long long)s->delivered,
              (unsigned long long)s->failed,
              (unsigned long long)s->enqueued);
    }
    CHECK(stats.sinks[0].delivered == stats.events, "file sink missed events");
    CHECK(stats.sinks[1].failed == stats.events, "failures not counted");
    for (int i = 0; i < 4; i++)
        th_log_free(&late[i]);
    free(late);
    th_log_free(&log);
    th_remove_tree(dir);
    free(config);
    free(dir);
}

/* Two sinks still in write() when destroy gives up on them: each fails
 * its batch later and counts the loss in the instance, which the last of
 * them to end frees, while the other may be ending too. */
static void scenario_destroy_leaves_stuck_sinks(void)
{
    char *dir = th_tempdir();
    char yaml[4400];
    snprintf(yaml, sizeof yaml,
             "shutdown_timeout: 50ms\n"
             "sinks:\n"
             "  - { name: late1, type: blocking, release_file: %s/never, "
             "max_wait: 10s, fail: true }\n"
             "  - { name: late2, type: blocking, release_file: %s/never, "
             "max_wait: 10s, fail: true }\n",
             dir, dir);
    void *ctx = zmq_ctx_new();
    char *config = th_write_file(dir, "cfg.yaml", yaml), err[1024] = "";
    zmqsink_t *zs = zmqsink_new(ctx, config, err, sizeof err);
    CHECK(zs != NULL, "zmqsink_new: %s", err);
    if (!zs)
        return;
    void *server = th_socket(ctx, ZMQ_ROUTER);
    zmqsink_attach(zs, server, "server");
    zmq_bind(server, "tcp://127.0.0.1:*");
    TH_STATS(now);
    for (int waited = 0; waited < 5000; waited += 10) {
        zmqsink_stats(zs, &now);
        if (now.sinks[0].queue_depth > 0 && now.sinks[1].queue_depth > 0)
            break; /* both in write() */
        th_sleep_ms(10);
    }
    CHECK(now.sinks[0].queue_depth > 0 && now.sinks[1].queue_depth > 0,
          "the sinks never got their events");
    th_close(server);
    TH_STATS(stats);
    zmqsink_destroy_stats(&zs, &stats);
    for (int i = 0; i < 2; i++) /* left running: not failed yet, dropped */
        CHECK(stats.sinks[i].failed == 0 && stats.sinks[i].dropped_shutdown > 0,
              "sink %s was not left running", stats.sinks[i].name);
    /* Both end, the instance with the last. */
    CHECK(th_wait_thread_ended("zs:late1", 20000) &&
              th_wait_thread_ended("zs:late2", 20000),
          "a sink left running never ended");
    CHECK(zmq_ctx_term(ctx) == 0, "zmq_ctx_term: %s", zmq_strerror(errno));
    th_remove_tree(dir);
    free(config);
    free(dir);
}

static void scenario_ctx_term_with_monitors(void)
{
    void *ctx = zmq_ctx_new();
    char err[512] = "";
    char *dir = th_tempdir();
    char *config = th_write_file(dir, "cfg.yaml",
                                 "sinks:\n  - name: broken\n"
                                 "    type: fail_write\n");
    zmqsink_t *zs = zmqsink_new(ctx, config, err, sizeof err);
    CHECK(zs != NULL, "zmqsink_new: %s", err);
    if (!zs)
        return;
    for (int i = 0; i < 20; i++) {
        void *s = th_socket(ctx, i % 2 ? ZMQ_PUB : ZMQ_SUB);
        zmqsink_attach(zs, s, NULL);
        zmq_bind(s, "tcp://127.0.0.1:*");
    }
    th_close_all();
    CHECK(zmq_ctx_term(ctx) == 0, "zmq_ctx_term");
    TH_STATS(stats);
    zmqsink_stats(zs, &stats);
    CHECK(stats.sockets_attached == 0, "%llu readers left open",
          (unsigned long long)stats.sockets_attached);
    zmqsink_destroy(&zs);
    th_remove_tree(dir);
    free(config);
    free(dir);
}

/* ---- the application's own monitors, from several threads ---- */

enum { TAP_THREADS = 4, TAP_ROUNDS = 60 };

typedef struct tap_state {
    zmqsink_t *zs;
    void *ctx;
    char endpoint[256];
    int thread;
    int stops_missed, errnos_wrong;
} tap_state_t;

/* Waits (2 s at most) for monitor_stopped on an application monitor. */
static int monitor_stopped_seen(void *monitor)
{
    zmq_pollitem_t item = {monitor, 0, ZMQ_POLLIN, 0};
    while (zmq_poll(&item, 1, 2000) == 1) {
        uint8_t head[6];
        char rest[256];
        int more = 0;
        size_t size = sizeof more;
        int n = zmq_recv(monitor, head, sizeof head, 0);
        zmq_getsockopt(monitor, ZMQ_RCVMORE, &more, &size);
        if (more)
            zmq_recv(monitor, rest, sizeof rest, 0);
        uint16_t event;
        memcpy(&event, head, sizeof event);
        if (n == 6 && event == ZMQ_EVENT_MONITOR_STOPPED)
            return 1;
    }
    return 0;
}

/* One application thread: its sockets are monitored by itself and by
 * zmqsink, renamed, detached, their monitors replaced and disabled. */
static void *tap_thread(void *arg)
{
    tap_state_t *t = arg;
    for (int i = 0; i < TAP_ROUNDS; i++) {
        char name[64], first[64], second[64];
        snprintf(name, sizeof name, "t%d-%d", t->thread, i);
        snprintf(first, sizeof first, "inproc://tap-%d-%d-a", t->thread, i);
        snprintf(second, sizeof second, "inproc://tap-%d-%d-b", t->thread, i);
        void *s = zmq_socket(t->ctx, ZMQ_DEALER);
        int linger = 0;
        zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
        zmqsink_socket_monitor(t->zs, s, first, ZMQ_EVENT_ALL);
        void *own = zmq_socket(t->ctx, ZMQ_PAIR);
        zmq_connect(own, first);
        zmqsink_attach(t->zs, s, name);
        zmq_connect(s, t->endpoint);
        errno = 0;
        if (zmqsink_bind(t->zs, s, "tcp://nosuchif0:5555") != -ZMQSINK_EZMQ ||
            errno != ENODEV)
            t->errnos_wrong++;
        void *own2 = NULL;
        if (i % 3 == 0) { /* replaced: the first one stops */
            zmqsink_socket_monitor(t->zs, s, second, ZMQ_EVENT_ALL);
            t->stops_missed += !monitor_stopped_seen(own);
            own2 = zmq_socket(t->ctx, ZMQ_PAIR);
            zmq_connect(own2, second);
        }
        if (i % 4 == 0)
            zmqsink_detach(t->zs, s);
        if (i % 5 == 0) { /* disabled: the current one stops */
            zmqsink_socket_monitor(t->zs, s, NULL, 0);
            t->stops_missed += !monitor_stopped_seen(own2 ? own2 : own);
        } else {
            zmq_close(s);
            s = NULL;
            t->stops_missed += !monitor_stopped_seen(own2 ? own2 : own);
        }
        if (s)
            zmq_close(s);
        zmq_close(own);
        if (own2)
            zmq_close(own2);
    }
    return NULL;
}

static void scenario_tap_churn(void)
{
    char *dir = th_tempdir();
    char yaml[4400];
    snprintf(yaml, sizeof yaml, "sinks:\n  - name: out\n    type: file\n"
                                "    path: %s/out.jsonl\n", dir);
    void *ctx = zmq_ctx_new();
    char *config;
    th_log_t log;
    zmqsink_t *zs = start_logged(ctx, dir, yaml, &config, &log);
    if (!zs)
        return;
    void *server = th_socket(ctx, ZMQ_ROUTER);
    zmqsink_attach(zs, server, "server");
    zmq_bind(server, "tcp://127.0.0.1:*");
    tap_state_t states[TAP_THREADS];
    pthread_t threads[TAP_THREADS];
    for (int i = 0; i < TAP_THREADS; i++) {
        states[i] = (tap_state_t){.zs = zs, .ctx = ctx, .thread = i};
        th_last_endpoint(server, states[i].endpoint,
                         sizeof states[i].endpoint);
        pthread_create(&threads[i], NULL, tap_thread, &states[i]);
    }
    for (int i = 0; i < TAP_THREADS; i++) {
        pthread_join(threads[i], NULL);
        CHECK(states[i].stops_missed == 0, "thread %d: %d monitor_stopped "
              "never came", i, states[i].stops_missed);
        CHECK(states[i].errnos_wrong == 0, "thread %d: %d binds without "
              "their ENODEV", i, states[i].errnos_wrong);
    }
    th_close(server);
    zmqsink_settle(zs, ctx, 5000);
    TH_STATS(stats);
    zmqsink_destroy_stats(&zs, &stats);
    CHECK(zmq_ctx_term(ctx) == 0, "zmq_ctx_term: %s", zmq_strerror(errno));
    CHECK(th_log_count(&log, 0) == stats.events, "callback got %zu of %llu",
          th_log_count(&log, 0), (unsigned long long)stats.events);
    /* One monitor_stopped per socket: none from the application's own
     * monitors coming and going. */
    CHECK(th_log_count(&log, ZMQSINK_EVENT_MONITOR_STOPPED) ==
              TAP_THREADS * TAP_ROUNDS + 1,
          "%zu monitor_stopped reported for %d sockets",
          th_log_count(&log, ZMQSINK_EVENT_MONITOR_STOPPED),
          TAP_THREADS * TAP_ROUNDS + 1);
    th_log_free(&log);
    th_remove_tree(dir);
    free(config);
    free(dir);
}

/* ---- reload under traffic ---- */

/* Reloads the side thread makes, while the application churns. */
#define RELOADS 20

typedef struct reload_state {
    zmqsink_t *zs;
    char *configs[2];
    _Atomic int reloads; /* made so far */
} reload_state_t;

static void *reloader(void *arg)
{
    reload_state_t *state = arg;
    for (int i = 0; i < RELOADS; i++) {
        char err[1024];
        CHECK(zmqsink_reload(state->zs, state->configs[(i + 1) % 2], err,
                             sizeof err) == 0,
              "reload: %s", err);
        atomic_store(&state->reloads, i + 1);
        TH_STATS(stats);
        zmqsink_stats(state->zs, &stats);
        usleep(2000);
    }
    return NULL;
}

static size_t lines_in(const char *dir, const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *text = th_read_file(path);
    size_t n = 0;
    for (const char *p = text; p && (p = strchr(p, '\n')); p++)
        n++;
    free(text);
    return n;
}

/* Reloads in a loop, a and b taking turns beside a kept sink, while the
 * application churns sockets: each event reaches a or b exactly once. */
static void scenario_reload_churn(void)
{
    char *dir = th_tempdir();
    reload_state_t state = {0};
    for (int i = 0; i < 2; i++) {
        char yaml[4400], name[32];
        snprintf(yaml, sizeof yaml,
                 "sinks:\n"
                 "  - { name: kept, type: file, path: %s/kept.log }\n"
                 "  - { name: %s, type: file, path: %s/%s.log }\n",
                 dir, i ? "b" : "a", dir, i ? "b" : "a");
        snprintf(name, sizeof name, "cfg%d.yaml", i);
        state.configs[i] = th_write_file(dir, name, yaml);
    }
    void *ctx = zmq_ctx_new();
    char err[1024] = "";
    state.zs = zmqsink_new(ctx, state.configs[0], err, sizeof err);
    CHECK(state.zs != NULL, "zmqsink_new: %s", err);
    if (!state.zs)
        return;
    pthread_t side;
    pthread_create(&side, NULL, reloader, &state);
    void *server = th_socket(ctx, ZMQ_ROUTER);
    zmqsink_attach(state.zs, server, "server");
    zmq_bind(server, "tcp://127.0.0.1:*");
    char endpoint[256];
    th_last_endpoint(server, endpoint, sizeof endpoint);
    /* 200 clients at least, and as many more as it takes for every
     * reload to fall amid the churn, however slow the machine. */
    for (int i = 0; i < 200 || (atomic_load(&state.reloads) < RELOADS &&
                                i < 100000);
         i++) {
        void *client = th_socket(ctx, ZMQ_DEALER);
        zmqsink_attach(state.zs, client, NULL);
        zmq_connect(client, endpoint);
        th_close(client);
        if (i >= 200) /* at the pace libzmq reaps closed sockets */
            usleep(1000);
    }
    th_close(server);
    CHECK(zmqsink_settle(state.zs, ctx, 20000) == 0, "settle");
    pthread_join(side, NULL);
    TH_STATS(stats);
    zmqsink_destroy_stats(&state.zs, &stats);
    CHECK(zmq_ctx_term(ctx) == 0, "zmq_ctx_term: %s", zmq_strerror(errno));
    CHECK(atomic_load(&state.reloads) == RELOADS, "only %d reloads",
          atomic_load(&state.reloads));
    CHECK(stats.events > 400, "only %llu events",
          (unsigned long long)stats.events);
    size_t kept = lines_in(dir, "kept.log");
    size_t a = lines_in(dir, "a.log"), b = lines_in(dir, "b.log");
    CHECK(kept == stats.events, "kept sink wrote %zu of %llu", kept,
          (unsigned long long)stats.events);
    CHECK(a + b == stats.events, "a wrote %zu and b %zu of %llu", a, b,
          (unsigned long long)stats.events);
    th_remove_tree(dir);
    free(state.configs[0]);
    free(state.configs[1]);
    free(dir);
}

static const struct {
    const char *name;
    void (*run)(void);
} scenarios[] = {
    {"ring_transfer", scenario_ring_transfer},
    {"pipeline_churn", scenario_pipeline_churn},
    {"ctx_term_with_monitors", scenario_ctx_term_with_monitors},
    {"destroy_leaves_stuck_sinks", scenario_destroy_leaves_stuck_sinks},
    {"reload_churn", scenario_reload_churn},
    {"tap_churn", scenario_tap_churn},
};

int main(void)
{
    int passed = 0, failed = 0;
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        int before = check_failures;
        scenarios[i].run();
        int ok = check_failures == before;
        printf("[%s] stress::%s\n", ok ? "PASS" : "FAIL", scenarios[i].name);
        fflush(stdout);
        ok ? passed++ : failed++;
    }
    printf("stress: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
