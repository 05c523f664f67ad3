/* Tests of the http sink against a real HTTP server on loopback
 * (tests/http/server.py) that records every request and answers as told:
 * batching, keep-alive, retries and backoff, Retry-After, dead letters,
 * the spool across an outage and a restart, and secrets kept out of logs.
 * The plugin is driven directly through a test host, with events whose
 * seqs the test chooses, so that delivery can be checked exactly. */
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

static char *tmpdir;
static hp_server_t server;

static void setup(void)
{
    tmpdir = hp_fixture_start(&server, true);
}

static void teardown(void)
{
    hp_fixture_end(&server, tmpdir);
}

TestSuite(http, .init = setup, .fini = teardown, .timeout = 60);

static char *spool_path(void)
{
    static char path[600];
    snprintf(path, sizeof path, "%s/spool", tmpdir);
    return path;
}

/* Failures of real sockets reach the server with their reason in the json:
 * a bind on a port in use, a CURVE client against a NULL server, a PLAIN
 * client refused by a ZAP handler with 400; a retry carries none. */
Test(http, reasons_arrive_in_the_json)
{
    void *ctx = zmq_ctx_new();
    zmqsink_t *zs = th_start(ctx, tmpdir, "sinks:\n"
                          "  - name: hook\n"
                          "    type: http\n"
                          "    url: %s\n"
                          "    batch: { max_delay: 50ms }\n",
                          hp_url(&server));
    th_log_t log;
    th_log_init(&log);
    cr_assert_eq(zmqsink_add_callback(zs, "log", ZMQSINK_EVENT_ALL,
                                      th_log_callback, &log),
                 0);
    void *first = th_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach(zs, first, "first"), 0);
    cr_assert_eq(zmq_bind(first, "tcp://127.0.0.1:*"), 0);
    char endpoint[256];
    th_last_endpoint(first, endpoint, sizeof endpoint);
    void *second = th_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach(zs, second, "second"), 0);
    cr_assert_eq(zmq_bind(second, endpoint), -1);
    cr_assert_eq(zmq_connect(th_curve_client(ctx), endpoint), 0);
    th_zap_t zap;
    th_zap_start(&zap, ctx, "400");
    th_plain_refused(ctx, zs, "plain");
    cr_assert_geq(th_log_wait(&log, ZMQSINK_EVENT_HANDSHAKE_FAILED_PROTOCOL,
                              1, 5000),
                  1u);
    cr_assert_geq(th_log_wait(&log, ZMQSINK_EVENT_BIND_FAILED, 1, 5000), 1u);
    cr_assert_geq(th_log_wait(&log, ZMQSINK_EVENT_HANDSHAKE_FAILED_AUTH, 1,
                              5000),
                  1u);
    zmqsink_destroy(&zs);
    th_zap_stop(&zap);
    th_close_all();
    zmq_ctx_term(ctx);

    zmqsink_event_t bind_failed, handshake, listening, refused;
    cr_assert_geq(th_log_find(&log, ZMQSINK_EVENT_HANDSHAKE_FAILED_AUTH, 0,
                              &refused),
                  0);
    cr_assert_geq(th_log_find(&log, ZMQSINK_EVENT_BIND_FAILED, 0,
                              &bind_failed), 0);
    cr_assert_geq(th_log_find(&log, ZMQSINK_EVENT_HANDSHAKE_FAILED_PROTOCOL,
                              0, &handshake), 0);
    cr_assert_geq(th_log_find(&log, ZMQSINK_EVENT_LISTENING, 0, &listening),
                  0);
    size_t n;
    hp_request_t *r = hp_wait_delivered(&server, log.n, NULL, NULL, &n);
    char *all = NULL;
    size_t len = 0;
    FILE *text = open_memstream(&all, &len);
    for (size_t i = 0; i < n; i++)
        fprintf(text, ",%s,", r[i].reasons ? r[i].reasons : "(none)");
    fclose(text);
    char want[64];
    snprintf(want, sizeof want, ",%llu:EADDRINUSE,",
             (unsigned long long)bind_failed.seq);
    cr_assert(strstr(all, want), "no %s in %s", want, all);
    snprintf(want, sizeof want, ",%llu:ZMTP_MECHANISM_MISMATCH,",
             (unsigned long long)handshake.seq);
    cr_assert(strstr(all, want), "no %s in %s", want, all);
    snprintf(want, sizeof want, ",%llu:ZAP_400,",
             (unsigned long long)refused.seq);
    cr_assert(strstr(all, want), "no %s in %s", want, all);
    snprintf(want, sizeof want, ",%llu:", (unsigned long long)listening.seq);
    cr_assert(!strstr(all, want), "listening has a reason: %s", all);
    free(all);
    hp_requests_free(r, n);
    th_log_free(&log);
}

Test(http, delivers_batches_in_order_over_one_connection)
{
    hp_sink_t k;
    hp_sink_init(&k, hp_url(&server));
    hp_sink_set(&k, "batch.max_events", "100", 100);
    hp_sink_open(&k);
    hp_sink_write_many(&k, 0, 1000);
    size_t n;
    hp_request_t *r = hp_wait_delivered(&server, 1000, hp_sink_tick, &k, &n);
    cr_assert_eq(hp_sink_close(&k, 2000), 0);

    cr_assert_eq(hp_assert_delivered_once(r, n, 0, 1000), 10);
    cr_assert_eq(n, 10, "one request per batch, no retries");
    char agent[64];
    for (size_t i = 0; i < n; i++) {
        cr_assert_str_eq(r[i].method, "POST");
        cr_assert_str_eq(r[i].type, "application/json");
        cr_assert_str_empty(r[i].encoding);
        cr_assert_eq(r[i].conn, r[0].conn, "request %d on a new connection",
                     r[i].n);
        cr_assert_eq(strncmp(hp_header(&r[i], "user-agent", agent,
                                       sizeof agent), "zmqsink/", 8), 0);
        for (size_t j = 0; j < i; j++)
            cr_assert_str_neq(r[i].key, r[j].key);
    }
    hp_requests_free(r, n);
}

Test(http, ndjson_gzip_put)
{
    hp_sink_t k;
    hp_sink_init(&k, hp_url(&server));
    hp_sink_set(&k, "method", "PUT", 1);
    hp_sink_set(&k, "format", "ndjson", 1);
    hp_sink_set(&k, "compress", "gzip", 1);
    hp_sink_set(&k, "batch.max_events", "300", 300);
    hp_sink_open(&k);
    hp_sink_write_many(&k, 0, 300);
    cr_assert_eq(hp_sink_close(&k, 5000), 0, "flush delivers what is left");

    size_t n;
    hp_request_t *r = hp_requests(&server, &n);
    cr_assert_eq(hp_assert_delivered_once(r, n, 0, 300), 1);
    cr_assert_str_eq(r[0].method, "PUT");
    cr_assert_str_eq(r[0].type, "application/x-ndjson");
    cr_assert_str_eq(r[0].encoding, "gzip");
    cr_assert_lt(r[0].raw * 4, r[0].body, "gzip: %ld bytes for %ld", r[0].raw,
                 r[0].body);
    hp_requests_free(r, n);
}

Test(http, batch_closes_at_max_bytes)
{
    hp_sink_t k;
    hp_sink_init(&k, hp_url(&server));
    hp_sink_set(&k, "batch.max_events", "1000", 1000);
    hp_sink_set(&k, "batch.max_bytes", "4KiB", 4096);
    hp_sink_open(&k);
    hp_sink_write_many(&k, 0, 200);
    cr_assert_eq(hp_sink_close(&k, 5000), 0);

    size_t n;
    hp_request_t *r = hp_requests(&server, &n);
    cr_assert_gt(hp_assert_delivered_once(r, n, 0, 200), 5);
    for (size_t i = 0; i < n; i++)
        cr_assert_leq(r[i].body, 4096, "request %d: %ld bytes", r[i].n,
                      r[i].body);
    hp_requests_free(r, n);
}

Test(http, batch_closes_at_max_delay)
{
    hp_sink_t k;
    hp_sink_init(&k, hp_url(&server));
    hp_sink_set(&k, "batch.max_events", "1000", 1000);
    hp_sink_set(&k, "batch.max_delay", "500ms", 500);
    hp_sink_open(&k);
    hp_sink_write(&k, 0, 5);
    hp_sink_run(&k, 200);
    cr_assert_eq(hp_answered(&server, "200"), 0, "sent before max_delay");
    size_t n;
    hp_request_t *r = hp_wait_delivered(&server, 5, hp_sink_tick, &k, &n);
    cr_assert_eq(hp_assert_delivered_once(r, n, 0, 5), 1);
    hp_requests_free(r, n);
    cr_assert_eq(hp_sink_close(&k, 2000), 0);
}

Test(http, outage_spools_then_replays_once_in_order)
{
    hp_sink_t k;
    hp_sink_init(&k, hp_url(&server));
    hp_sink_set(&k, "spool.dir", spool_path(), 0);
    hp_sink_open(&k);

    /* The endpoint fails: batches go to the spool, retried with one key. */
    hp_control(&server, "status 500");
    hp_sink_write_many(&k, 0, 500);
    hp_sink_run_until_answered(&k, &server, "500", 3);
    cr_assert_gt(hp_files_ending(spool_path(), ".batch"), 5);

    /* Then it goes away altogether. */
    int port = server.port;
    hp_stop(&server);
    hp_sink_write_many(&k, 500, 500);
    hp_sink_run(&k, 300);
    cr_assert_eq(hp_files_ending(spool_path(), ".batch"), 20);

    hp_start(&server, tmpdir, port);
    size_t n;
    hp_request_t *r = hp_wait_delivered(&server, 1000, hp_sink_tick, &k, &n);
    cr_assert_eq(hp_assert_delivered_once(r, n, 0, 1000), 20);
    hp_requests_free(r, n);
    /* The server records a request before it answers. */
    hp_sink_run_until_no_files(&k, spool_path(), ".batch");
    cr_assert_not_null(strstr(k.h.log_text, "answers again"), "%s",
                       k.h.log_text);
    cr_assert_eq(k.h.failed, 0);
    cr_assert_eq(hp_sink_close(&k, 2000), 0);
}

Test(http, without_spool_memory_fills_then_write_says_retry)
{
    hp_sink_t k;
    hp_sink_init(&k, hp_url(&server));
    hp_sink_open(&k);
    hp_control(&server, "status 503");
    hp_sink_write_many(&k, 0, 450); /* 9 batches: one in flight, 8 in memory */
    zmqsink_event_t ev = {.seq = 450, .type = ZMQSINK_EVENT_CONNECTED};
    cr_assert_eq(k.h.plugin->write(k.state, &ev, 1), ZMQSINK_WRITE_RETRY);

    hp_control(&server, "ok");
    size_t n;
    hp_request_t *r = hp_wait_delivered(&server, 450, hp_sink_tick, &k, &n);
    cr_assert_eq(hp_assert_delivered_once(r, n, 0, 450), 9);
    hp_requests_free(r, n);
    cr_assert_eq(k.h.plugin->write(k.state, &ev, 1), ZMQSINK_WRITE_OK);
    cr_assert_eq(hp_sink_close(&k, 2000), 0);
}

/* Writes events first .. first + n - 1 without ticking; returns what
 * write() said. */
static zmqsink_write_result_t write_unticked(hp_sink_t *k, uint64_t first,
                                             size_t n)
{
    zmqsink_event_t ev[50];
    cr_assert_leq(n, 50);
    for (size_t i = 0; i < n; i++)
        ev[i] = (zmqsink_event_t){.seq = first + i,
                                  .type = ZMQSINK_EVENT_CONNECTED};
    return k->h.plugin->write(k->state, ev, n);
}

/* Ticks the sink only when and as it asks, as the core does, until cond
 * holds; fails when it holds events and asks for no tick. */
#define TICK_AS_ASKED_UNTIL(k, cond)                                           \
    for (int ticks_ = 0; !(cond); ticks_++) {                                  \
        cr_assert_lt(ticks_, 10000, "never: %s", #cond);                       \
        th_plugin_tick_when_asked(&(k)->h, (k)->state, 2000);                  \
    }

/* Asserts that the sink, its events delivered, asks for no more ticks and
 * that the endpoint got seqs 0 .. count - 1 once, in `batches` requests;
 * then closes it. */
static void assert_idle_when_delivered(hp_sink_t *k, uint64_t count,
                                       size_t batches)
{
    cr_assert_eq(k->h.tick_at_ns, INT64_MAX, "delivered: no more ticks");
    size_t n;
    hp_request_t *r = hp_requests(&server, &n);
    cr_assert_eq(hp_assert_delivered_once(r, n, 0, count), batches);
    hp_requests_free(r, n);
    cr_assert_eq(hp_sink_close(k, 2000), 0);
}

Test(http, asks_for_ticks_only_while_it_holds_events)
{
    hp_sink_t k;
    hp_sink_init(&k, hp_url(&server));
    hp_sink_set(&k, "batch.max_delay", "50ms", 50);
    hp_sink_open(&k);
    cr_assert(k.h.plugin->flags & ZMQSINK_PLUGIN_TICKS_ON_REQUEST);
    cr_assert_eq(k.h.tick_at_ns, INT64_MAX, "idle: no tick asked");
    cr_assert_eq(write_unticked(&k, 0, 5), ZMQSINK_WRITE_OK);
    cr_assert_neq(k.h.tick_at_ns, INT64_MAX, "the open batch asks");
    TICK_AS_ASKED_UNTIL(&k, k.h.delivered == 5);
    assert_idle_when_delivered(&k, 5, 1);
}

/* Only the ticks it asks for carry it through refusals: retries, and a
 * memory full of batches that makes write() say RETRY. */
Test(http, retries_and_a_full_memory_ask_for_their_ticks)
{
    hp_sink_t k;
    hp_sink_init(&k, hp_url(&server));
    hp_sink_open(&k);
    hp_control(&server, "status 503");
    for (uint64_t first = 0; first < 450; first += 50) /* 9 batches */
        cr_assert_eq(write_unticked(&k, first, 50), ZMQSINK_WRITE_OK);
    k.h.tick_at_ns = INT64_MAX; /* only what the next write asks */
    cr_assert_eq(write_unticked(&k, 450, 1), ZMQSINK_WRITE_RETRY);
    cr_assert_neq(k.h.tick_at_ns, INT64_MAX, "held batches ask");
    TICK_AS_ASKED_UNTIL(&k, hp_answered(&server, "503") >= 3);
    hp_control(&server, "ok");
    TICK_AS_ASKED_UNTIL(&k, k.h.delivered == 450);
    cr_assert_eq(write_unticked(&k, 450, 1), ZMQSINK_WRITE_OK);
    TICK_AS_ASKED_UNTIL(&k, k.h.delivered == 451);
    assert_idle_when_delivered(&k, 451, 10);
}

/* Batches an earlier run left in the spool ask for a tick at open, and go
 * out on the ticks the sink asks for; then it asks for nothing. */
Test(http, a_spool_left_by_an_earlier_run_asks_for_ticks_at_open)
{
    int port = hp_spool_while_down(&server, spool_path(), 100, 2);
    hp_start(&server, tmpdir, port);
    hp_sink_t k;
    hp_sink_init(&k, hp_url(&server));
    hp_sink_set(&k, "spool.dir", spool_path(), 0);
    hp_sink_open(&k);
    cr_assert_neq(k.h.tick_at_ns, INT64_MAX, "the spool asks at open");
    TICK_AS_ASKED_UNTIL(&k, hp_files_ending(spool_path(), ".batch") == 0);
    assert_idle_when_delivered(&k, 100, 2);
}

/* Nanoseconds of the wall clock, against which an HTTP date is read. */
static int64_t wall_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Asserts that one 429 with this Retry-After holds the retry back until
 * `earliest` (wall clock, ns), although the backoff alone would retry at
 * once, and that the batch then goes again once, under its key. The retry
 * can only be seen after it was sent: a machine however slow cannot see it
 * early, while a sink that ignored the header would be seen to retry in
 * milliseconds. */
static void check_retry_after(const char *value, int64_t earliest)
{
    hp_sink_t k;
    hp_sink_init(&k, hp_url(&server));
    hp_sink_set(&k, "retry.base", "1ms", 1);
    hp_sink_set(&k, "retry.cap", "5ms", 5);
    hp_sink_open(&k);
    char command[128];
    snprintf(command, sizeof command, "status 429 1 retry-after %s", value);
    hp_control(&server, command);
    hp_sink_write(&k, 0, 50);
    size_t n;
    hp_request_t *r = hp_wait_delivered(&server, 50, hp_sink_tick, &k, &n);
    int64_t seen = wall_clock_ns();
    cr_assert_geq(seen, earliest, "retried %lld ms before Retry-After: %s",
                  (long long)((earliest - seen) / 1000000), value);
    cr_assert_eq(hp_assert_delivered_once(r, n, 0, 50), 1);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(r[0].answer, "429");
    cr_assert_str_eq(r[0].key, r[1].key);
    hp_requests_free(r, n);
    cr_assert_eq(hp_sink_close(&k, 2000), 0);
}

Test(http, retry_after_seconds_is_honoured)
{
    /* The 2 s count from the answer, which comes after this. */
    check_retry_after("2", wall_clock_ns() + 2000000000);
}

/* The date is far enough ahead that it is still ahead when the 429 is
 * answered on a slow machine, so that the sink has a wait to honour. */
Test(http, retry_after_http_date_is_honoured)
{
    time_t when = time(NULL) + 5;
    struct tm tm;
    gmtime_r(&when, &tm);
    char date[64];
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    check_retry_after(date, (int64_t)when * 1000000000);
}

Test(http, storm_of_429_delivers_everything_once)
{
    hp_sink_t k;
    hp_sink_init(&k, hp_url(&server));
    hp_sink_set(&k, "spool.dir", spool_path(), 0);
    hp_control(&server, "status 429 25");
    hp_sink_open(&k);
    hp_sink_write_many(&k, 0, 500);
    size_t n;
    hp_request_t *r = hp_wait_delivered(&server, 500, hp_sink_tick, &k, &n);
    cr_assert_eq(hp_assert_delivered_once(r, n, 0, 500), 10);
    cr_assert_eq(n, 35, "25 refusals and 10 deliveries");
    hp_requests_free(r, n);
    cr_assert_eq(hp_sink_close(&k, 2000), 0);
}

/* The hanging request stays in flight past the ticks that serve it, each
 * of which asks for the next, until it times out and is retried. The
 * retry, on a new connection, runs under the same timeout: one long
 * enough for a loaded machine to answer it. */
Test(http, hanging_endpoint_times_out_and_is_retried)
{
    hp_sink_t k;
    hp_sink_init(&k, hp_url(&server));
    hp_sink_set(&k, "timeout", "2s", 2000);
    hp_control(&server, "hang 1");
    hp_sink_open(&k);
    cr_assert_eq(write_unticked(&k, 0, 50), ZMQSINK_WRITE_OK);
    cr_assert_neq(k.h.tick_at_ns, INT64_MAX, "the request in flight asks");
    TICK_AS_ASKED_UNTIL(&k, k.h.delivered == 50);
    size_t n;
    hp_request_t *r = hp_requests(&server, &n);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(r[0].answer, "hang");
    cr_assert_str_eq(r[0].key, r[1].key);
    hp_requests_free(r, n);
    cr_assert_not_null(strstr(k.h.log_text, "timed out"), "%s", k.h.log_text);
    assert_idle_when_delivered(&k, 50, 1);
}

/* Lines of the dead-letter file and the seqs it holds. */
static size_t dead_letters(size_t *events, char **text)
{
    char path[700];
    snprintf(path, sizeof path, "%s/dead-letter.ndjson", spool_path());
    *text = th_read_file(path);
    size_t lines = 0;
    *events = 0;
    for (const char *p = *text; p && (p = strchr(p, '\n')); p++)
        lines++;
    for (const char *p = *text; p && (p = strstr(p, "\"seq\":")); p++)
        (*events)++;
    return lines;
}

Test(http, rejected_batch_goes_to_the_dead_letter_file)
{
    hp_sink_t k;
    hp_sink_init(&k, hp_url(&server));
    hp_sink_set(&k, "spool.dir", spool_path(), 0);
    hp_control(&server, "status 400 1");
    hp_sink_open(&k);
    hp_sink_write_many(&k, 0, 100);
    cr_assert_eq(hp_sink_close(&k, 5000), 0);

    size_t n, events;
    hp_request_t *r = hp_requests(&server, &n);
    cr_assert_eq(n, 2, "the rejected batch is not retried");
    cr_assert_str_eq(r[0].answer, "400");
    cr_assert_eq(hp_assert_delivered_once(r, n, 50, 50), 1);
    char *text;
    cr_assert_eq(dead_letters(&events, &text), 1);
    cr_assert_eq(events, 50);
    cr_assert_not_null(strstr(text, r[0].key));
    cr_assert_not_null(strstr(text, "\"reason\":\"HTTP 400\""), "%s", text);
    cr_assert_not_null(strstr(text, "\"seq\":0,"));
    cr_assert_eq(th_plugin_failed(&k.h, "rejected"), 50);
    cr_assert_eq(k.h.failed, 50);
    free(text);
    hp_requests_free(r, n);
}

/* Opens k with a spool and one more option, the server answering as
 * control says. */
static void open_spooled(hp_sink_t *k, const char *key, const char *text,
                         int64_t number, const char *control)
{
    hp_sink_init(k, hp_url(&server));
    hp_sink_set(k, "spool.dir", spool_path(), 0);
    hp_sink_set(k, key, text, number);
    hp_control(&server, control);
    hp_sink_open(k);
}

Test(http, dead_letters_count_against_spool_max_size)
{
    hp_sink_t k;
    open_spooled(&k, "spool.max_size", "16KiB", 16384, "status 400");
    hp_sink_write_many(&k, 0, 500); /* 10 batches of 50, each rejected */
    cr_assert_eq(hp_sink_close(&k, 5000), 0);

    size_t events;
    char *text;
    size_t kept = dead_letters(&events, &text);
    cr_assert_gt(kept, 0, "the first rejected batches are kept");
    cr_assert_lt(kept, 10, "the file stopped short of max_size");
    cr_assert_leq(strlen(text), 16384);
    cr_assert_eq(events, kept * 50);
    cr_assert_eq(th_plugin_failed(&k.h, "rejected"), 500, "all counted");
    cr_assert_not_null(strstr(k.h.log_text, "would take the spool past "
                                            "max_size"), "%s", k.h.log_text);
    free(text);
}

Test(http, which_answers_are_retried)
{
    static const hp_retry_case_t cases[] = {
        {"408", true},  {"429", true},  {"500", true},  {"502", true},
        {"599", true},  {"501", false}, {"404", false}, {"409", false},
        {"302", false}, {"422", false},
    };
    hp_sink_t k;
    hp_sink_init(&k, hp_url(&server));
    hp_sink_set(&k, "spool.dir", spool_path(), 0);
    hp_sink_open(&k);
    hp_check_retries(&k, &server, cases, sizeof cases / sizeof *cases, 50);
    cr_assert_eq(hp_sink_close(&k, 2000), 0);
    size_t n, events;
    hp_request_t *r = hp_requests(&server, &n);
    cr_assert_eq(n, 15, "5 retried twice, 5 sent once");
    hp_requests_free(r, n);
    char *text;
    cr_assert_eq(dead_letters(&events, &text), 5);
    cr_assert_eq(events, 250);
    free(text);
}

Test(http, max_attempts_then_dead_letter)
{
    hp_sink_t k;
    open_spooled(&k, "retry.max_attempts", "3", 3, "status 503 3");
    hp_sink_write(&k, 0, 50);
    hp_sink_run_until_answered(&k, &server, "503", 3);
    hp_sink_run(&k, 200);
    cr_assert_eq(hp_sink_close(&k, 2000), 0);

    size_t n, events;
    hp_request_t *r = hp_requests(&server, &n);
    cr_assert_eq(n, 3, "3 attempts, then no more");
    cr_assert_str_eq(r[0].key, r[2].key);
    hp_requests_free(r, n);
    char *text;
    cr_assert_eq(dead_letters(&events, &text), 1);
    cr_assert_eq(events, 50);
    cr_assert_not_null(strstr(text, "gave up after 3 attempts: HTTP 503"),
                       "%s", text);
    cr_assert_eq(th_plugin_failed(&k.h, "gave_up"), 50);
    free(text);
}

Test(http, undelivered_batches_survive_a_restart_and_go_first)
{
    int port = hp_spool_while_down(&server, spool_path(), 230, 5);
    hp_sink_t k;

    hp_start(&server, tmpdir, port);
    hp_sink_init(&k, hp_url(&server));
    hp_sink_set(&k, "spool.dir", spool_path(), 0);
    hp_sink_open(&k);
    cr_assert_not_null(strstr(k.h.log_text, "5 batches from an earlier run"),
                       "%s", k.h.log_text);
    hp_sink_write_many(&k, 230, 70);
    size_t n;
    hp_request_t *r = hp_wait_delivered(&server, 300, hp_sink_tick, &k, &n);
    cr_assert_eq(hp_assert_delivered_once(r, n, 0, 300), 7);
    hp_requests_free(r, n);
    cr_assert_eq(hp_sink_close(&k, 2000), 0);
    cr_assert_eq(hp_files_ending(spool_path(), ".batch"), 0);
    cr_assert_eq(k.h.delivered, 70,
                 "this run's events; the earlier run's 230 were counted "
                 "by it, as not delivered");
}

/* Through a real instance: nothing counts as delivered before the endpoint
 * answered it with a 2xx, and everything does once it has. */
Test(http, delivered_is_what_the_endpoint_answered)
{
    int port = server.port;
    hp_stop(&server);
    void *ctx = zmq_ctx_new();
    zmqsink_t *zs = th_start(ctx, tmpdir, "sinks:\n"
                          "  - name: hook\n"
                          "    type: http\n"
                          "    url: %s\n"
                          "    batch: { max_delay: 20ms }\n"
                          "    retry: { base: 20ms, cap: 100ms }\n",
                          hp_url(&server));
    void *s = th_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach(zs, s, "server"), 0);
    cr_assert_eq(zmq_bind(s, "tcp://127.0.0.1:*"), 0);
    TH_STATS(stats);
    for (int waited = 0; waited < 5000; waited += 10) {
        zmqsink_stats(zs, &stats);
        if (stats.sinks[0].pending >= 1)
            break;
        th_sleep_ms(10);
    }
    cr_assert_geq(stats.sinks[0].pending, 1, "listening, taken by the sink");
    th_sleep_ms(200); /* retries against a closed port */
    zmqsink_stats(zs, &stats);
    cr_assert_eq(stats.sinks[0].delivered, 0, "nobody answered");
    hp_start(&server, tmpdir, port);
    for (int waited = 0; waited < 10000; waited += 10) {
        zmqsink_stats(zs, &stats);
        if (stats.sinks[0].delivered == stats.events)
            break;
        th_sleep_ms(10);
    }
    cr_assert_eq(stats.sinks[0].delivered, stats.events,
                 "%llu of %llu delivered once the endpoint answers",
                 (unsigned long long)stats.sinks[0].delivered,
                 (unsigned long long)stats.events);
    cr_assert_eq(stats.sinks[0].pending, 0);
    zmqsink_destroy(&zs);
    th_close_all();
    zmq_ctx_term(ctx);
}

Test(http, secrets_stay_out_of_logs)
{
    char url[256];
    snprintf(url, sizeof url,
             "http://alice:pw-s3cret@127.0.0.1:%d/hook/T0/p-s3cret"
             "?token=tk-s3cret",
             server.port);
    hp_sink_t k;
    hp_sink_init(&k, url);
    k.h.map_keys[0] = "Authorization";
    k.h.map_values[0] = "Bearer hdr-s3cret";
    k.h.map_n = 1;
    hp_sink_set(&k, "headers", NULL, 0);
    hp_sink_set(&k, "spool.dir", spool_path(), 0);
    hp_sink_open(&k);

    hp_control(&server, "status 500 2");
    hp_sink_write(&k, 0, 50);
    hp_sink_run_until_answered(&k, &server, "500", 2);
    hp_control(&server, "status 400 1");
    hp_sink_write(&k, 50, 50);
    hp_sink_run_until_answered(&k, &server, "400", 1);
    /* Read the answer before the server goes: it logs the request first. */
    hp_sink_run_until_failed(&k, "rejected", 50);
    int port = server.port;
    hp_stop(&server);
    hp_sink_write(&k, 100, 50);
    hp_sink_run(&k, 300);
    hp_start(&server, tmpdir, port);
    size_t n;
    hp_request_t *r = hp_wait_delivered(&server, 100, hp_sink_tick, &k, &n);
    cr_assert_eq(hp_sink_close(&k, 2000), 0);

    char value[128];
    cr_assert_str_eq(hp_header(&r[0], "authorization", value, sizeof value),
                     "Bearer hdr-s3cret", "the header reaches the server");
    hp_requests_free(r, n);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "POST http://127.0.0.1:%d/...", port);
    cr_assert_not_null(strstr(k.h.log_text, endpoint), "%s", k.h.log_text);
    cr_assert_not_null(strstr(k.h.log_text, "HTTP 400"), "%s", k.h.log_text);
    cr_assert_null(strstr(k.h.log_text, "s3cret"), "%s", k.h.log_text);
    cr_assert_null(strstr(k.h.log_text, "alice"), "%s", k.h.log_text);
}

Test(http, bad_options_are_refused_with_a_reason)
{
    struct {
        const char *url, *header, *value, *ca_file, *expected;
    } cases[] = {
        {"ftp://127.0.0.1/x", NULL, NULL, NULL,
         "url: scheme 'ftp' is not supported: use http:// or https://"},
        {"http://[::1/x", NULL, NULL, NULL, "url: not a valid URL"},
        {"http://127.0.0.1/x", "X-Token", "a\r\nInjected: s3cret", NULL,
         "headers: the value of 'X-Token' contains a line break"},
        {"http://127.0.0.1/x", "Bad Name", "v", NULL,
         "headers: 'Bad Name' is not a valid header name"},
        {"http://127.0.0.1/x", "content-type", "text/plain", NULL,
         "headers: 'content-type' is set by the sink itself"},
        {"https://127.0.0.1/x", NULL, NULL, "/nonexistent/ca.pem",
         "tls.ca_file '/nonexistent/ca.pem': No such file or directory"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        hp_sink_t k;
        hp_sink_init(&k, cases[i].url);
        if (cases[i].header) {
            k.h.map_keys[0] = cases[i].header;
            k.h.map_values[0] = cases[i].value;
            k.h.map_n = 1;
        }
        if (cases[i].ca_file)
            hp_sink_set(&k, "tls.ca_file", cases[i].ca_file, 0);
        const char *err = hp_sink_open_fails(&k);
        cr_assert_not_null(strstr(err, cases[i].expected), "case %zu: %s", i,
                           err);
        cr_assert_null(strstr(err, "s3cret"), "case %zu: %s", i, err);
    }
}

Test(http, a_spool_dir_serves_one_sink)
{
    hp_sink_t first, second;
    hp_sink_init(&first, hp_url(&server));
    hp_sink_set(&first, "spool.dir", spool_path(), 0);
    hp_sink_open(&first);
    hp_sink_init(&second, hp_url(&server));
    hp_sink_set(&second, "spool.dir", spool_path(), 0);
    const char *err = hp_sink_open_fails(&second);
    cr_assert_not_null(strstr(err, "is in use by another sink or process"),
                       "%s", err);
    cr_assert_eq(hp_sink_close(&first, 1000), 0);
}

/* What open() would refuse of the url and the headers is refused by
 * `zmqsink check` already (and so before `zmqsink run` starts a program),
 * at the line of the option or of the header, and without its secrets. */
Test(http, zmqsink_check_names_the_option_at_fault)
{
#define URL "    url: http://127.0.0.1:1/hook\n"
    static const th_refusal_t cases[] = {
        {"    url: ftp://alice:s3cret@127.0.0.1/x\n",
         "url: scheme 'ftp' is not supported", 4},
        {"    method: PUT\n"
         "    url: \"http://[::1/x\"\n",
         "url: not a valid URL", 5},
        {URL "    headers:\n"
             "      X-Team: zmq\n"
             "      Bad Name: v\n",
         "headers: 'Bad Name' is not a valid header name", 7},
        {URL "    headers:\n"
             "      content-type: text/plain\n",
         "headers: 'content-type' is set by the sink itself", 6},
        {URL "    headers:\n"
             "      X-Team: zmq\n"
             "      X-Token: \"a\\r\\nInjected: s3cret\"\n",
         "headers: the value of 'X-Token' contains a line break", 7},
    };
    th_expect_refused(tmpdir, "hook", "http", cases,
                      sizeof cases / sizeof *cases, th_check_config);
    char err[1024] = "";
    char *path = th_sink_config(tmpdir, "hook", "http",
                                "    url: ftp://alice:s3cret@127.0.0.1/x\n");
    cr_assert_neq(zmqsink_check(path, NULL, err, sizeof err), 0);
    cr_assert_null(strstr(err, "s3cret"), "%s", err);
    free(path);
    /* The files are the start's to check. */
    th_expect_accepted(tmpdir, "hook", "http",
                       "    url: https://alice:pw@127.0.0.1:1/v1/logs?t=1\n"
                       "    format: otlp\n"
                       "    headers:\n"
                       "      Authorization: Bearer x\n"
                       "      X-Empty: \"\"\n"
                       "    tls: { ca_file: missing.pem }\n");
#undef URL
}
