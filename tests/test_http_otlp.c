/* Tests of the http sink's format: otlp against the test server
 * (tests/http/server.py), which checks every request to /v1/logs against
 * the OTLP/HTTP JSON rules and answers 400 to one that breaks them: the
 * records and their severities, the resource, OTLP's retry rules, the
 * replay of a spool as OTLP, and real ZeroMQ sockets through the whole
 * pipeline. */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "helpers.h"
#include "http_peer.h"

/* The index of otlp among the choices of `format`, and of gzip. */
#define FORMAT_OTLP 2
#define COMPRESS_GZIP 1

static char *tmpdir;
static hp_server_t server;
static void *ctx;

#define WAIT_MS 20000

static void setup(void)
{
    tmpdir = hp_fixture_start(&server, true);
}

static void teardown(void)
{
    hp_fixture_end(&server, tmpdir);
}

TestSuite(http_otlp, .init = setup, .fini = teardown, .timeout = 60);

static const char *logs_url(void)
{
    static char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/logs", server.port);
    return url;
}

static const char *spool_path(void)
{
    static char path[600];
    snprintf(path, sizeof path, "%s/spool", tmpdir);
    return path;
}

/* A sink with format: otlp towards the server's /v1/logs. */
static void otlp_sink_init(hp_sink_t *k)
{
    hp_sink_init(k, logs_url());
    hp_sink_set(k, "format", "otlp", FORMAT_OTLP);
}

/* Asserts that every request was valid OTLP, answered as answer. */
static void assert_all_otlp(const hp_request_t *r, size_t n, const char *answer)
{
    for (size_t i = 0; i < n; i++) {
        cr_assert_str_empty(r[i].error, "request %d: error %s", r[i].n,
                            r[i].error);
        cr_assert_not_null(r[i].otlp, "request %d is not OTLP", r[i].n);
        cr_assert_str_eq(r[i].type, "application/json");
        if (answer)
            cr_assert_str_eq(r[i].answer, answer, "request %d", r[i].n);
    }
}

Test(http_otlp, batches_arrive_as_valid_otlp_with_their_resource)
{
    hp_sink_t k;
    otlp_sink_init(&k);
    hp_sink_set(&k, "service_name", "orders", 0);
    hp_sink_set(&k, "compress", "gzip", COMPRESS_GZIP);
    hp_sink_open(&k);
    hp_sink_write_many(&k, 1, 120);
    size_t n;
    hp_request_t *r = hp_wait_delivered(&server, 120, hp_sink_tick, &k, &n);
    cr_assert_eq(hp_assert_delivered_once(r, n, 1, 120), 3, "50, 50 and 20");
    assert_all_otlp(r, n, "200");
    char host[256], want[512];
    gethostname(host, sizeof host);
    snprintf(want, sizeof want,
             "host.name=%s;process.pid=%d;service.name=orders|1:9:info,2:9:info",
             host, (int)getpid());
    cr_assert_eq(strncmp(r[0].otlp, want, strlen(want)), 0, "%s\nnot\n%s",
                 r[0].otlp, want);
    cr_assert_str_eq(r[0].encoding, "gzip");
    hp_requests_free(r, n);
    cr_assert_eq(hp_sink_close(&k, 2000), 0);
    cr_assert_eq(k.h.delivered, 120);
}

Test(http_otlp, severities_map_to_severity_numbers)
{
    static const struct {
        zmqsink_severity_t severity;
        const char *want;
    } cases[] = {
        {ZMQSINK_SEV_EMERG, "1:21:emerg"},   {ZMQSINK_SEV_ALERT, "2:19:alert"},
        {ZMQSINK_SEV_CRIT, "3:18:crit"},     {ZMQSINK_SEV_ERR, "4:17:err"},
        {ZMQSINK_SEV_WARNING, "5:13:warning"}, {ZMQSINK_SEV_NOTICE, "6:10:notice"},
        {ZMQSINK_SEV_INFO, "7:9:info"},      {ZMQSINK_SEV_DEBUG, "8:5:debug"},
    };
    hp_sink_t k;
    otlp_sink_init(&k);
    hp_sink_open(&k);
    zmqsink_event_t events[8];
    for (size_t i = 0; i < 8; i++) {
        events[i] = (zmqsink_event_t){.seq = i + 1, .time_ns = 1,
                                      .duration_ms = -1,
                                      .type = ZMQSINK_EVENT_BIND_FAILED,
                                      .value = 98, .socket_type = 1,
                                      .severity = cases[i].severity};
        snprintf(events[i].socket, sizeof events[i].socket, "pub");
        snprintf(events[i].endpoint, sizeof events[i].endpoint, "tcp://*:1");
    }
    cr_assert_eq(k.h.plugin->write(k.state, events, 8), ZMQSINK_WRITE_OK);
    size_t n;
    hp_request_t *r = hp_wait_delivered(&server, 8, hp_sink_tick, &k, &n);
    assert_all_otlp(r, n, "200");
    cr_assert_eq(n, 1);
    for (size_t i = 0; i < 8; i++)
        cr_expect_not_null(strstr(r[0].otlp, cases[i].want), "%s not in %s",
                           cases[i].want, r[0].otlp);
    hp_requests_free(r, n);
    cr_assert_eq(hp_sink_close(&k, 2000), 0);
}

Test(http_otlp, only_429_502_503_504_are_retried)
{
    static const hp_retry_case_t cases[] = {
        {"429", true},  {"502", true},  {"503", true},  {"504", true},
        {"400", false}, {"408", false}, {"500", false}, {"501", false},
    };
    hp_sink_t k;
    otlp_sink_init(&k);
    hp_sink_set(&k, "spool.dir", spool_path(), 0);
    hp_sink_open(&k);
    hp_check_retries(&k, &server, cases, sizeof cases / sizeof *cases, 10);
    cr_assert_eq(hp_sink_close(&k, 2000), 0);
    cr_assert_eq(k.h.delivered, 40);
    size_t n;
    hp_request_t *r = hp_requests(&server, &n);
    cr_assert_eq(n, 12, "4 sent twice, 4 once");
    assert_all_otlp(r, n, NULL);
    hp_requests_free(r, n);
}

Test(http_otlp, retry_after_is_honoured)
{
    hp_sink_t k;
    otlp_sink_init(&k);
    hp_sink_open(&k);
    hp_control(&server, "status 503 1 retry-after 2");
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    hp_sink_write(&k, 0, 5);
    size_t n;
    hp_request_t *r = hp_wait_delivered(&server, 5, hp_sink_tick, &k, &n);
    clock_gettime(CLOCK_MONOTONIC, &end);
    cr_assert_eq(n, 2);
    assert_all_otlp(r, n, NULL);
    hp_requests_free(r, n);
    cr_assert_geq(end.tv_sec - start.tv_sec, 2, "retried before Retry-After");
    cr_assert_eq(hp_sink_close(&k, 2000), 0);
}

Test(http_otlp, a_spool_of_an_earlier_run_replays_as_otlp)
{
    int port = hp_spool_while_down(&server, spool_path(), 120, 3);
    hp_start(&server, tmpdir, port);
    hp_sink_t k;
    otlp_sink_init(&k);
    hp_sink_set(&k, "spool.dir", spool_path(), 0);
    hp_sink_open(&k);
    size_t n;
    hp_request_t *r = hp_wait_delivered(&server, 120, hp_sink_tick, &k, &n);
    cr_assert_eq(hp_assert_delivered_once(r, n, 0, 120), 3);
    assert_all_otlp(r, n, "200");
    hp_requests_free(r, n);
    hp_sink_run_until_no_files(&k, spool_path(), ".batch");
    cr_assert_eq(hp_sink_close(&k, 2000), 0);
}

Test(http_otlp, the_test_server_refuses_what_is_not_otlp)
{
    hp_sink_t k;
    hp_sink_init(&k, logs_url()); /* format: json, an array */
    hp_sink_open(&k);
    hp_sink_write(&k, 0, 5);
    hp_sink_run_until_answered(&k, &server, "400", 1);
    hp_sink_run_until_failed(&k, "rejected", 5);
    cr_assert_eq(th_plugin_failed(&k.h, "rejected"), 5);
    cr_assert_eq(hp_sink_close(&k, 2000), 0);
    size_t n;
    hp_request_t *r = hp_requests(&server, &n);
    cr_assert_eq(n, 1, "the refused batch is not sent again");
    cr_assert_str_eq(r[0].error, "otlp");
    hp_requests_free(r, n);
}

Test(http_otlp, a_url_without_the_logs_path_is_used_but_warned_of)
{
    hp_sink_t k;
    hp_sink_init(&k, hp_url(&server));
    hp_sink_set(&k, "format", "otlp", FORMAT_OTLP);
    hp_sink_open(&k);
    cr_assert_not_null(strstr(k.h.log_text, "format otlp: the url's path "
                                            "does not end in /v1/logs"),
                       "%s", k.h.log_text);
    cr_assert_null(strstr(k.h.log_text, "/hook"), "the path is not said: %s",
                   k.h.log_text);
    hp_sink_write(&k, 0, 5);
    size_t n;
    hp_request_t *r = hp_wait_delivered(&server, 5, hp_sink_tick, &k, &n);
    cr_assert_eq(n, 1);
    cr_assert_null(r[0].otlp, "sent to /hook as given, not checked as OTLP");
    hp_requests_free(r, n);
    cr_assert_eq(hp_sink_close(&k, 2000), 0);
}

/* ---- the whole pipeline ---- */

static void pipeline_setup(void)
{
    setup();
    ctx = hp_pipeline_ctx();
}

static void pipeline_teardown(void)
{
    hp_pipeline_end(ctx);
    teardown();
}

TestSuite(http_otlp_pipeline, .init = pipeline_setup,
          .fini = pipeline_teardown, .timeout = 90);

Test(http_otlp_pipeline, real_sockets_reach_the_collector_as_otlp)
{
    zmqsink_t *zs = th_start(ctx, tmpdir, "shutdown_timeout: 5s\n"
                             "sinks:\n"
                             "  - name: collector\n"
                             "    type: http\n"
                             "    url: %s\n"
                             "    format: otlp\n"
                             "    service_name: pipeline-test\n"
                             "    batch: { max_delay: 100ms }\n",
                             logs_url());
    th_log_t log;
    th_log_init(&log);
    cr_assert_eq(zmqsink_add_callback(zs, "log", ZMQSINK_EVENT_ALL,
                                      th_log_callback, &log),
                 0);
    void *router = th_socket(ctx, ZMQ_ROUTER);
    void *dealer = th_socket(ctx, ZMQ_DEALER);
    cr_assert_eq(zmqsink_attach(zs, router, "router"), 0);
    cr_assert_eq(zmqsink_attach(zs, dealer, "dealer"), 0);
    cr_assert_eq(zmq_bind(router, "tcp://127.0.0.1:*"), 0);
    char endpoint[256];
    th_last_endpoint(router, endpoint, sizeof endpoint);
    cr_assert_eq(zmq_connect(dealer, endpoint), 0);
    cr_assert_eq(th_log_wait(&log, ZMQSINK_EVENT_CONNECTED, 1, WAIT_MS), 1);
    cr_assert_eq(th_log_wait(&log, ZMQSINK_EVENT_ACCEPTED, 1, WAIT_MS), 1);
    th_close(dealer);
    th_close(router);
    cr_assert_eq(th_log_wait(&log, ZMQSINK_EVENT_MONITOR_STOPPED, 2, WAIT_MS),
                 2);
    TH_STATS(stats);
    zmqsink_destroy_stats(&zs, &stats);
    th_log_free(&log);
    cr_assert_gt(stats.events, 0u);
    cr_assert_eq(stats.sinks[0].delivered, stats.events);
    cr_assert_eq(stats.sinks[0].failed, 0u);

    size_t n, delivered;
    hp_request_t *r = hp_requests(&server, &n);
    cr_assert_gt(n, 0);
    assert_all_otlp(r, n, "200");
    cr_assert_not_null(strstr(r[0].otlp, "service.name=pipeline-test|"),
                       "%s", r[0].otlp);
    uint64_t *seqs = hp_delivered_seqs(r, n, &delivered);
    cr_assert_eq(delivered, stats.events);
    bool connected = false;
    for (size_t i = 0; i < n; i++)
        connected |= strstr(r[i].otlp, ":9:info") != NULL;
    cr_assert(connected, "no info record");
    free(seqs);
    hp_requests_free(r, n);
}
