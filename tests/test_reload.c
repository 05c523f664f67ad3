/* Changing a running instance: zmqsink_reload() under traffic (each event
 * reaches the sinks before or after, never both nor neither, and the
 * sequence has no gap), reloads that fail and change nothing, replaced
 * sinks and callback sinks, and the `sockets:` rules of
 * zmqsink_attach_endpoint(). */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "helpers.h"

TestSuite(reload, .timeout = 120);

enum { WAIT_MS = 20000, SEQS_MAX = 4096 };

static void *ctx;
static char *dir;
static char *config;

static void setup(void)
{
    ctx = zmq_ctx_new();
    dir = th_tempdir();
    cr_assert_geq(asprintf(&config, "%s/zmqsink.yaml", dir), 0);
}

static void teardown(void)
{
    th_close_all();
    zmq_ctx_term(ctx);
    th_remove_tree(dir);
    free(dir);
    free(config);
}

/* Rewrites the config file (a printf format: every %s is dir). */
static void config_write(const char *yaml_fmt)
{
    char yaml[4096];
    snprintf(yaml, sizeof yaml, yaml_fmt, dir, dir, dir);
    free(th_write_file(dir, "zmqsink.yaml", yaml));
}

/* The seq numbers of a json events file, appended to seqs[*n]. */
static void seqs_read(const char *name, uint64_t *seqs, size_t *n)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *text = th_read_file(path);
    for (const char *p = text; p && (p = strstr(p, "\"seq\":")); p++) {
        cr_assert_lt(*n, (size_t)SEQS_MAX);
        seqs[(*n)++] = strtoull(p + 6, NULL, 10);
    }
    free(text);
}

static int seq_order(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Asserts that seqs, sorted, are exactly 1..n. */
static void assert_one_to_n(uint64_t *seqs, size_t n, const char *what)
{
    qsort(seqs, n, sizeof *seqs, seq_order);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(seqs[i], i + 1, "%s: seq %" PRIu64 " where %zu belongs",
                     what, seqs[i], i + 1);
}

/* Starts zmqsink on the config file with a callback sink "name" filling
 * log. */
static zmqsink_t *start_logged(const char *name, th_log_t *log)
{
    char err[2048];
    zmqsink_t *zs = zmqsink_new(ctx, config, err, sizeof err);
    cr_assert_not_null(zs, "%s", err);
    th_log_init(log);
    cr_assert_eq(zmqsink_add_callback(zs, name, ZMQSINK_EVENT_ALL,
                                      th_log_callback, log), 0);
    return zs;
}

/* A ROUTER "server", attached and bound to a tcp port. */
static void *server_start(zmqsink_t *zs)
{
    void *server = th_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach(zs, server, "server"), 0);
    cr_assert_eq(zmq_bind(server, "tcp://127.0.0.1:*"), 0);
    return server;
}

#define JSON_SINK(name)                                                        \
    "  - { name: " name ", type: file, path: %s/" name ".jsonl, "             \
    "format: json }\n"

Test(reload, under_traffic_no_event_is_lost_or_repeated, .init = setup,
     .fini = teardown)
{
    /* kept is in every config; a and b take turns. */
    const char *configs[2] = {"sinks:\n" JSON_SINK("kept") JSON_SINK("a"),
                              "sinks:\n" JSON_SINK("kept") JSON_SINK("b")};
    config_write(configs[0]);
    char err[2048];
    th_log_t log;
    zmqsink_t *zs = start_logged("log", &log);
    void *server = server_start(zs);
    char endpoint[256];
    th_last_endpoint(server, endpoint, sizeof endpoint);

    enum { ROUNDS = 8, CLIENTS = 10 };
    for (int round = 1; round <= ROUNDS; round++) {
        void *clients[CLIENTS];
        for (int i = 0; i < CLIENTS; i++) {
            clients[i] = th_socket(ctx, ZMQ_DEALER);
            cr_assert_eq(zmqsink_attach(zs, clients[i], NULL), 0);
            cr_assert_eq(zmq_connect(clients[i], endpoint), 0);
        }
        /* Reloaded while the clients' events are being read. */
        config_write(configs[round % 2]);
        cr_assert_eq(zmqsink_reload(zs, config, err, sizeof err), 0, "%s",
                     err);
        for (int i = 0; i < CLIENTS; i++)
            th_close(clients[i]);
    }
    th_close(server);
    cr_assert_eq(zmqsink_settle(zs, ctx, WAIT_MS), 0);
    TH_STATS(stats);
    zmqsink_destroy_stats(&zs, &stats);
    cr_assert_eq(stats.nsinks, 3u, "kept, the callback and a");
    cr_assert_str_eq(stats.sinks[0].name, "kept");
    cr_assert_str_eq(stats.sinks[1].name, "a");
    cr_assert_str_eq(stats.sinks[2].name, "log");

    /* Every client connected, was accepted and closed: many events. */
    size_t n = th_log_count(&log, 0);
    cr_assert_geq(n, (size_t)(ROUNDS * CLIENTS * 3));
    cr_assert_eq(n, stats.events, "the callback stayed through every reload");
    static uint64_t seqs[SEQS_MAX];
    for (size_t i = 0; i < n; i++)
        seqs[i] = log.events[i].seq;
    assert_one_to_n(seqs, n, "callback");
    size_t got = 0;
    seqs_read("kept.jsonl", seqs, &got);
    cr_assert_eq(got, n, "kept sink: %zu events of %zu", got, n);
    assert_one_to_n(seqs, got, "kept sink");
    /* a and b together: each event exactly once. */
    got = 0;
    seqs_read("a.jsonl", seqs, &got);
    size_t in_a = got;
    seqs_read("b.jsonl", seqs, &got);
    cr_assert(in_a > 0 && got > in_a, "a has %zu, b %zu", in_a, got - in_a);
    cr_assert_eq(got, n, "a and b: %zu events of %zu", got, n);
    assert_one_to_n(seqs, got, "a and b");
    th_log_free(&log);
}

Test(reload, a_failed_reload_changes_nothing, .init = setup, .fini = teardown)
{
    config_write("sinks:\n" JSON_SINK("kept"));
    char err[2048];
    zmqsink_t *zs = zmqsink_new(ctx, config, err, sizeof err);
    cr_assert_not_null(zs, "%s", err);

    /* A sink that cannot open: the one opened before it is closed again. */
    config_write("sinks:\n" JSON_SINK("fresh")
                 "  - { name: bad, type: file, path: %s/no/such/dir/x }\n");
    cr_assert_eq(zmqsink_reload(zs, config, err, sizeof err), -ZMQSINK_EOPEN);
    cr_assert_not_null(strstr(err, "zmqsink.yaml:3:"), "%s", err);
    cr_assert_not_null(strstr(err, "sink 'bad': "), "%s", err);
    /* An invalid file. */
    config_write("sinks:\n  - { name: kept, type: file, format: yaml }\n");
    cr_assert_eq(zmqsink_reload(zs, config, err, sizeof err),
                 -ZMQSINK_ECONFIG);
    cr_assert_not_null(strstr(err, "zmqsink.yaml:2:"), "%s", err);
    /* A missing file. */
    char missing[4200];
    snprintf(missing, sizeof missing, "%s/missing.yaml", dir);
    cr_assert_eq(zmqsink_reload(zs, missing, err, sizeof err),
                 -ZMQSINK_ECONFIG);
    cr_assert_not_null(strstr(err, "missing.yaml"), "%s", err);

    TH_STATS(stats);
    zmqsink_stats(zs, &stats);
    cr_assert_eq(stats.nsinks, 1u);
    cr_assert_str_eq(stats.sinks[0].name, "kept");
    th_close(server_start(zs));
    cr_assert_eq(zmqsink_settle(zs, ctx, WAIT_MS), 0);
    zmqsink_destroy_stats(&zs, &stats);
    cr_assert_eq(stats.sinks[0].delivered, 3u, "listening, closed, stopped");
    char path[4200];
    snprintf(path, sizeof path, "%s/fresh.jsonl", dir);
    char *fresh = th_read_file(path);
    cr_assert(!fresh || !*fresh, "the discarded sink got events: %s", fresh);
    free(fresh);
}

Test(reload, a_changed_sink_is_replaced_and_callbacks_stay, .init = setup,
     .fini = teardown)
{
    config_write("sinks:\n  - { name: x, type: file, path: %s/x.jsonl, "
                 "format: json }\n");
    char err[2048];
    th_log_t log;
    zmqsink_t *zs = start_logged("cb", &log);
    void *server = server_start(zs);
    cr_assert_eq(th_log_wait(&log, ZMQSINK_EVENT_LISTENING, 1, WAIT_MS), 1u);

    config_write("sinks:\n  - { name: x, type: file, path: %s/x.txt, "
                 "format: text }\n");
    cr_assert_eq(zmqsink_reload(zs, config, err, sizeof err), 0, "%s", err);
    th_close(server);
    cr_assert_eq(zmqsink_settle(zs, ctx, WAIT_MS), 0);

    config_write("sinks:\n  - { name: cb, type: file, path: %s/cb }\n");
    cr_assert_eq(zmqsink_reload(zs, config, err, sizeof err),
                 -ZMQSINK_ECONFIG);
    cr_assert_not_null(strstr(err, "sink 'cb': the name of a callback sink"),
                       "%s", err);

    TH_STATS(stats);
    zmqsink_destroy_stats(&zs, &stats);
    cr_assert_eq(stats.nsinks, 2u);
    cr_assert_str_eq(stats.sinks[0].name, "x");
    cr_assert_str_eq(stats.sinks[1].name, "cb");
    cr_assert_eq(stats.sinks[1].delivered, 3u);
    char path[4200];
    snprintf(path, sizeof path, "%s/x.jsonl", dir);
    char *before = th_read_file(path);
    snprintf(path, sizeof path, "%s/x.txt", dir);
    char *after = th_read_file(path);
    cr_assert_not_null(strstr(before, "\"event\":\"listening\""), "%s", before);
    cr_assert_null(strstr(before, "closed"), "%s", before);
    cr_assert_not_null(strstr(after, " closed "), "%s", after);
    cr_assert_not_null(strstr(after, " monitor_stopped "), "%s", after);
    free(before);
    free(after);
    th_log_free(&log);
}

/* A stats file that a reload names is written from then on, while the
 * instance runs: the thread that writes it starts with the reload. */
Test(reload, a_stats_file_named_by_a_reload_is_written, .init = setup,
     .fini = teardown)
{
    config_write("sinks:\n" JSON_SINK("a"));
    char err[2048], names[1024], path[4200];
    zmqsink_t *zs = zmqsink_new(ctx, config, err, sizeof err);
    cr_assert_not_null(zs, "%s", err);
    cr_assert_eq(th_zs_threads(names, sizeof names), 2u, "%s", names);
    config_write("stats: { path: %s/stats.json, interval: 100ms }\n"
                 "sinks:\n" JSON_SINK("a"));
    cr_assert_eq(zmqsink_reload(zs, config, err, sizeof err), 0, "%s", err);
    snprintf(path, sizeof path, "%s/stats.json", dir);
    char *json = NULL;
    for (int waited = 0; !json && waited < WAIT_MS; waited += 10) {
        th_sleep_ms(10);
        json = th_read_file(path);
    }
    cr_assert_not_null(json, "no %s while the instance runs", path);
    cr_assert_not_null(strstr(json, "{\"name\":\"a\""), "%s", json);
    cr_assert_eq(th_zs_threads(names, sizeof names), 3u, "%s", names);
    cr_assert_not_null(strstr(names, "zs-report\n"), "%s", names);
    free(json);
    zmqsink_destroy(&zs);
}

Test(reload, endpoint_rules_name_sockets_and_mask_their_events,
     .init = setup, .fini = teardown)
{
    config_write("sockets:\n"
                 "  - { match: \"tcp://127.0.0.1:*\", name: front, "
                 "events: [listening, accepted] }\n"
                 "sinks:\n" JSON_SINK("all"));
    th_log_t log;
    zmqsink_t *zs = start_logged("log", &log);
    void *front = th_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach_endpoint(zs, ctx, front, "tcp://127.0.0.1:*"),
                 0);
    cr_assert_eq(zmq_bind(front, "tcp://127.0.0.1:*"), 0);
    char endpoint[256];
    th_last_endpoint(front, endpoint, sizeof endpoint);
    void *client = th_socket(ctx, ZMQ_DEALER);
    cr_assert_eq(zmqsink_attach_endpoint(zs, ctx, client, "inproc://none"),
                 0);
    cr_assert_eq(zmq_connect(client, endpoint), 0);
    cr_assert_eq(th_log_wait(&log, ZMQSINK_EVENT_ACCEPTED, 1, WAIT_MS), 1u);
    th_close(client);
    th_close(front);
    cr_assert_eq(zmqsink_settle(zs, ctx, WAIT_MS), 0);
    zmqsink_destroy(&zs);

    /* front: listening and accepted only; the client, unmatched, is
     * dealer-1 with every event; seqs have no gap. */
    size_t n = th_log_count(&log, 0);
    for (size_t i = 0; i < n; i++) {
        const zmqsink_event_t *ev = &log.events[i];
        cr_assert_eq(ev->seq, i + 1);
        if (strcmp(ev->socket, "front") == 0)
            cr_assert(ev->type == ZMQSINK_EVENT_LISTENING ||
                          ev->type == ZMQSINK_EVENT_ACCEPTED,
                      "front delivered %s", zmqsink_event_name(ev->type));
        else
            cr_assert_str_eq(ev->socket, "dealer-1");
    }
    cr_assert_eq(th_log_count(&log, ZMQSINK_EVENT_LISTENING), 1u);
    cr_assert_eq(th_log_count(&log, ZMQSINK_EVENT_MONITOR_STOPPED), 1u,
                 "only the client's");
    cr_assert_eq(th_log_count(&log, ZMQSINK_EVENT_CONNECTED), 1u);
    th_log_free(&log);
}

/* A sink started in the background whose open() hangs holds a reload
 * back at most shutdown_timeout: then the reload fails, says which sink,
 * and changes nothing; once it is open, reloading works. */
Test(reload, a_sink_still_opening_fails_the_reload_in_time, .init = setup,
     .fini = teardown)
{
    config_write("shutdown_timeout: 200ms\n"
                 "sinks:\n"
                 "  - name: slow\n"
                 "    type: slow_open\n"
                 "    release_file: %s/release\n"
                 "    path: %s/slow.jsonl\n"
                 "    max_wait: 60s\n");
    zmqsink_t *zs = NULL;
    char err[1024] = "";
    cr_assert_eq(zmqsink_start(&zs, ctx, config, ZMQSINK_START_BACKGROUND,
                               err, sizeof err),
                 0, "%s", err);
    cr_assert_eq(zmqsink_reload(zs, config, err, sizeof err), -ZMQSINK_ELIMIT);
    cr_assert_not_null(strstr(err, "sink 'slow' is still opening"), "%s", err);
    free(th_write_file(dir, "release", ""));
    int rc = -1;
    for (int waited = 0; rc != 0 && waited < WAIT_MS; waited += 50) {
        rc = zmqsink_reload(zs, config, err, sizeof err);
        if (rc != 0)
            th_sleep_ms(50);
    }
    cr_assert_eq(rc, 0, "%s", err);
    zmqsink_destroy(&zs);
}
