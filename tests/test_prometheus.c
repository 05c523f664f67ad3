/* The prometheus sink against a real Prometheus (Debian's prometheus
 * package): the test starts it on free ports with a 1 s scrape interval,
 * makes real libzmq connections come and go, and asks Prometheus's HTTP
 * API what it scraped; promtool checks the exposition; processes forked
 * with one targets_file are all found through file_sd. Waits are bounded;
 * nothing asserts on timing. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "helpers.h"
#include "plugin_host.h"

#define WAIT_MS 30000 /* for what Prometheus must have scraped */

static char *dir;
static void *ctx;
static pid_t prometheus = -1;
static int prometheus_port;

static void setup(void)
{
    dir = th_tempdir();
    ctx = zmq_ctx_new();
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void teardown(void)
{
    th_stop_process(&prometheus);
    th_close_all();
    zmq_ctx_term(ctx);
    th_remove_tree(dir);
    free(dir);
    curl_global_cleanup();
}

/* ---- HTTP ---- */

static size_t append(char *data, size_t size, size_t n, void *out)
{
    fwrite(data, size, n, out);
    return size * n;
}

/* GET url: the body (caller frees) when the answer is 200, else NULL. */
static char *http_get(const char *url)
{
    char *body = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&body, &len);
    CURL *curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
    long status = 0;
    CURLcode rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    fclose(out);
    if (rc != CURLE_OK || status != 200) {
        free(body);
        return NULL;
    }
    return body;
}

/* ---- Prometheus ---- */

/* Starts Prometheus with scrape_configs (YAML, indented under
 * scrape_configs:) and waits until it is ready. */
static void prometheus_start(const char *scrape_configs)
{
    char yaml[4096];
    snprintf(yaml, sizeof yaml,
             "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n"
             "scrape_configs:\n%s", scrape_configs);
    free(th_write_file(dir, "prometheus.yml", yaml));
    prometheus_port = th_free_port();
    char config[4096], listen[64], storage[4096], log[4096];
    snprintf(config, sizeof config, "--config.file=%s/prometheus.yml", dir);
    snprintf(listen, sizeof listen, "--web.listen-address=127.0.0.1:%d",
             prometheus_port);
    snprintf(storage, sizeof storage, "--storage.tsdb.path=%s/data", dir);
    snprintf(log, sizeof log, "%s/prometheus.log", dir);
    char *argv[] = {"prometheus", config, listen, storage,
                    "--log.level=warn", NULL};
    prometheus = th_spawn(argv, log);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/-/ready", prometheus_port);
    for (int waited = 0; waited < WAIT_MS; waited += 100) {
        char *ready = http_get(url);
        free(ready);
        if (ready)
            return;
        th_sleep_ms(100);
    }
    char *text = th_read_file(log);
    cr_assert_fail("Prometheus is not ready after %d ms:\n%s", WAIT_MS,
                   text ? text : "");
}

/* The value of an instant query that gives one sample; false when it
 * gives none. */
static bool query(const char *promql, double *value)
{
    CURL *curl = curl_easy_init();
    char *escaped = curl_easy_escape(curl, promql, 0);
    char url[2048];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/query?query=%s",
             prometheus_port, escaped);
    curl_free(escaped);
    curl_easy_cleanup(curl);
    char *body = http_get(url);
    cr_assert_not_null(body, "query %s failed", promql);
    cr_assert_not_null(strstr(body, "\"status\":\"success\""), "%s", body);
    const char *v = strstr(body, "\"value\":[");
    bool found = v != NULL;
    if (found) {
        v = strchr(v, ',');
        cr_assert_not_null(v, "%s", body);
        *value = strtod(v + 2, NULL); /* ,"12" */
        cr_assert_null(strstr(v, "\"value\":["), "%s gives several: %s",
                       promql, body);
    }
    free(body);
    return found;
}

/* Waits until the query gives expected; fails with the last value. */
static void expect_value(const char *promql, double expected)
{
    double value = -1;
    bool found = false;
    for (int waited = 0; waited < WAIT_MS; waited += 250) {
        found = query(promql, &value);
        if (found && value == expected)
            return;
        th_sleep_ms(250);
    }
    cr_assert_fail("%s: %s, not %g after %d ms", promql,
                   found ? "another value" : "no sample", expected, WAIT_MS);
}

/* ---- the metrics of one process ---- */

static uint64_t sink_delivered(zmqsink_t *zs, const char *name)
{
    TH_STATS(stats);
    cr_assert_eq(zmqsink_stats(zs, &stats), 0);
    for (size_t i = 0; i < stats.nsinks && i < stats.sinks_cap; i++)
        if (strcmp(stats.sinks[i].name, name) == 0)
            return stats.sinks[i].delivered;
    cr_assert_fail("no sink %s", name);
    return 0;
}

/* zmqsink with one prometheus sink "metrics": options is the rest of its
 * entry, with one %d for port. */
static zmqsink_t *start_metrics(const char *options, int port)
{
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "sinks:\n  - name: metrics\n    type: prometheus\n%s", options);
    return th_start(ctx, dir, yaml, port);
}

Test(prometheus, scraped_during_churn_with_the_values_that_happened,
     .init = setup, .fini = teardown, .timeout = 60)
{
    int port = th_free_port();
    zmqsink_t *zs = start_metrics("    listen: 127.0.0.1:%d\n"
                                  "    labels: { service: billing }\n",
                                  port);
    char scrape[512];
    snprintf(scrape, sizeof scrape,
             "  - job_name: zmqsink\n"
             "    static_configs:\n"
             "      - targets: ['127.0.0.1:%d']\n", port);
    prometheus_start(scrape);
    expect_value("up{job=\"zmqsink\"}", 1);
    expect_value("zmqsink_build_info{service=\"billing\",version=\""
                 ZMQSINK_VERSION_STRING "\"}", 1);

    /* Churn, in rounds, so that scrapes fall in the middle of it. */
    void *router = th_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach(zs, router, "server"), 0);
    cr_assert_eq(zmq_bind(router, "tcp://127.0.0.1:*"), 0);
    char endpoint[256];
    th_last_endpoint(router, endpoint, sizeof endpoint);
    enum { ROUNDS = 6, PER_ROUND = 5, HELD = 3 };
    for (int round = 0; round < ROUNDS; round++) {
        th_dealers_visit(ctx, zs, "client", router, endpoint, PER_ROUND);
        th_sleep_ms(300);
    }
    /* A failure with its reason: the endpoint is taken. */
    void *second = th_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach(zs, second, "second"), 0);
    cr_assert_eq(zmq_bind(second, endpoint), -1);

    const int visits = ROUNDS * PER_ROUND;
    expect_value("zmqsink_events_total{socket=\"server\","
                 "event=\"accepted\"}", visits);
    expect_value("zmqsink_events_total{socket=\"server\","
                 "event=\"disconnected\"}", visits);
    expect_value("zmqsink_events_total{socket=\"client\","
                 "event=\"connected\"}", visits);
    expect_value("zmqsink_connection_duration_seconds_count{socket="
                 "\"server\"}", visits);
    expect_value("zmqsink_connection_duration_seconds_bucket{socket="
                 "\"server\",le=\"+Inf\"}", visits);
    expect_value("zmqsink_connections{socket=\"server\"}", 0);
    /* Known series start at 0. */
    expect_value("zmqsink_events_total{socket=\"server\","
                 "event=\"handshake_failed_auth\"}", 0);
    expect_value("zmqsink_event_reasons_total{socket=\"second\","
                 "event=\"bind_failed\",reason=\"EADDRINUSE\"}", 1);
    expect_value("zmqsink_events_total{socket=\"second\","
                 "event=\"bind_failed\"}", 1);
    /* The router and the second one; the clients closed. */
    expect_value("zmqsink_sockets_attached{service=\"billing\"}", 2);
    /* Counters never went back while they were scraped. */
    expect_value("sum(resets(zmqsink_events_total[5m]))", 0);

    /* Live connections, then none. */
    void *held[HELD];
    for (int i = 0; i < HELD; i++) {
        held[i] = th_socket(ctx, ZMQ_DEALER);
        cr_assert_eq(zmq_connect(held[i], endpoint), 0);
    }
    expect_value("zmqsink_connections{socket=\"server\"}", HELD);
    for (int i = 0; i < HELD; i++)
        th_close(held[i]);
    expect_value("zmqsink_connections{socket=\"server\"}", 0);
    expect_value("zmqsink_connection_duration_seconds_count{socket="
                 "\"server\"}", visits + HELD);

    /* The sinks' own counters, as zmqsink_stats() tells them once the
     * events have settled. */
    double delivered = -1, expected = -2;
    for (int waited = 0; waited < WAIT_MS && delivered != expected;
         waited += 250) {
        expected = (double)sink_delivered(zs, "metrics");
        if (!query("zmqsink_sink_events_total{sink=\"metrics\","
                   "outcome=\"delivered\"}", &delivered))
            delivered = -1;
        if (delivered != expected)
            th_sleep_ms(250);
    }
    cr_assert_eq(delivered, expected, "delivered: Prometheus %g, "
                 "zmqsink_stats() %g", delivered, expected);
    expect_value("zmqsink_sink_events_total{sink=\"metrics\","
                 "outcome=\"dropped\"}", 0);
    expect_value("zmqsink_sink_queue_depth{sink=\"metrics\"}", 0);

    /* The exposition passes promtool's lint. */
    char command[512];
    snprintf(command, sizeof command,
             "curl -sf http://127.0.0.1:%d/metrics | promtool check metrics "
             "2>&1", port);
    FILE *check = popen(command, "r");
    cr_assert_not_null(check);
    char *said = th_read_stream(check);
    int status = pclose(check);
    cr_expect_eq(status, 0, "promtool check metrics: %s", said);
    free(said);
    zmqsink_destroy(&zs);
}

/* ---- several processes through file_sd ---- */

/* Counts the entries of a targets file, and copies the first ports. */
static int targets_entries(const char *path, int *ports, int cap)
{
    char *text = th_read_file(path);
    int n = 0;
    for (const char *p = text ? strstr(text, "127.0.0.1:") : NULL; p;
         p = strstr(p + 1, "127.0.0.1:")) {
        if (n < cap)
            ports[n] = atoi(p + strlen("127.0.0.1:"));
        n++;
    }
    free(text);
    return n;
}

/* A forked worker: its own context and zmqsink, a bound socket, until
 * the parent closes its end of the pipe. Exits 0, or 1 on a failure. */
static void worker(const char *config, int release)
{
    void *own = zmq_ctx_new();
    char err[1024];
    zmqsink_t *zs = zmqsink_new(own, config, err, sizeof err);
    if (!zs) {
        fprintf(stderr, "worker %d: %s\n", (int)getpid(), err);
        _exit(1);
    }
    void *pull = zmq_socket(own, ZMQ_PULL);
    int linger = 0;
    zmq_setsockopt(pull, ZMQ_LINGER, &linger, sizeof linger);
    if (zmqsink_attach(zs, pull, "worker") != 0 ||
        zmq_bind(pull, "tcp://127.0.0.1:*") != 0)
        _exit(1);
    char byte;
    while (read(release, &byte, 1) < 0)
        ;
    zmq_close(pull);
    zmqsink_destroy(&zs);
    zmq_ctx_term(own);
    _exit(0);
}

Test(prometheus, forked_processes_all_scraped_through_file_sd,
     .init = setup, .fini = teardown, .timeout = 60)
{
    enum { WORKERS = 3 };
    char *targets = th_path(dir, "targets.json");
    char *config = th_write_file(dir, "workers.yaml",
                                 "sinks:\n"
                                 "  - name: metrics\n"
                                 "    type: prometheus\n"
                                 "    listen: 127.0.0.1:0\n"
                                 "    targets_file: targets.json\n");
    char scrape[4096];
    snprintf(scrape, sizeof scrape,
             "  - job_name: zmqsink\n"
             "    file_sd_configs:\n"
             "      - files: ['%s']\n"
             "        refresh_interval: 1s\n", targets);
    prometheus_start(scrape);

    int pipe_fds[2];
    cr_assert_eq(pipe(pipe_fds), 0);
    pid_t workers[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        workers[i] = fork();
        cr_assert_geq(workers[i], 0);
        if (workers[i] == 0) {
            close(pipe_fds[1]);
            worker(config, pipe_fds[0]);
        }
    }
    close(pipe_fds[0]);

    int ports[WORKERS] = {0};
    for (int waited = 0; targets_entries(targets, ports, WORKERS) < WORKERS;
         waited += 50) {
        cr_assert_lt(waited, WAIT_MS, "the targets file lists %d workers",
                     targets_entries(targets, ports, WORKERS));
        th_sleep_ms(50);
    }
    cr_assert_eq(targets_entries(targets, ports, WORKERS), WORKERS);
    for (int i = 0; i < WORKERS; i++) {
        char q[256];
        snprintf(q, sizeof q, "up{job=\"zmqsink\",instance=\"127.0.0.1:%d\"}",
                 ports[i]);
        expect_value(q, 1);
        snprintf(q, sizeof q, "zmqsink_events_total{instance=\"127.0.0.1:%d\","
                 "socket=\"worker\",event=\"listening\"}", ports[i]);
        expect_value(q, 1);
    }
    expect_value("count(up{job=\"zmqsink\"} == 1)", WORKERS);

    /* At exit each removes its own entry. */
    close(pipe_fds[1]);
    for (int i = 0; i < WORKERS; i++) {
        int status;
        cr_assert_eq(waitpid(workers[i], &status, 0), workers[i]);
        cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "worker %d: status %d", (int)workers[i], status);
    }
    cr_expect_eq(targets_entries(targets, ports, WORKERS), 0);
    char *left = th_read_file(targets);
    cr_expect_str_eq(left, "[\n]\n");
    free(left);
    free(config);
    free(targets);
}

/* ---- bounds, without Prometheus ---- */

/* Waits until /metrics of url does (present) or does not contain text. */
static void wait_metrics(const char *url, const char *text, bool present)
{
    char *body = NULL;
    for (int waited = 0; waited < WAIT_MS; waited += 100) {
        free(body);
        body = http_get(url);
        if (body && (strstr(body, text) != NULL) == present) {
            free(body);
            return;
        }
        th_sleep_ms(100);
    }
    cr_assert_fail("%s %s '%s':\n%s", url, present ? "lacks" : "still has",
                   text, body ? body : "(no answer)");
}

Test(prometheus, dual_stack_max_sockets_and_expiry, .init = setup,
     .fini = teardown, .timeout = 60)
{
    int port = th_free_port();
    zmqsink_t *zs = start_metrics("    listen: '[::]:%d'\n"
                                  "    max_sockets: 2\n"
                                  "    expire_after: 1s\n",
                                  port);
    const char *names[] = {"a", "b", "c"};
    void *sockets[3];
    for (int i = 0; i < 3; i++) {
        sockets[i] = th_socket(ctx, ZMQ_PULL);
        cr_assert_eq(zmqsink_attach(zs, sockets[i], names[i]), 0);
        cr_assert_eq(zmq_bind(sockets[i], "tcp://127.0.0.1:*"), 0);
        th_sleep_ms(50); /* in order: a and b get the two slots */
    }
    char v4[128], v6[128], missing[128];
    snprintf(v4, sizeof v4, "http://127.0.0.1:%d/metrics", port);
    snprintf(v6, sizeof v6, "http://[::1]:%d/metrics", port);
    snprintf(missing, sizeof missing, "http://127.0.0.1:%d/nothing", port);
    wait_metrics(v4, "zmqsink_events_total{socket=\"_other\","
                     "event=\"listening\"} 1\n", true);
    wait_metrics(v6, "zmqsink_events_total{socket=\"a\","
                     "event=\"listening\"} 1\n", true);
    wait_metrics(v4, "zmqsink_events_total{socket=\"b\","
                     "event=\"listening\"} 1\n", true);
    char *body = http_get(v4);
    cr_expect_null(strstr(body, "socket=\"c\""), "%s", body);
    free(body);
    cr_expect_null(http_get(missing));

    /* Closed, and idle past expire_after: the series go. */
    for (int i = 0; i < 3; i++)
        th_close(sockets[i]);
    wait_metrics(v4, "socket=\"a\"", false);
    wait_metrics(v4, "socket=\"b\"", false);
    zmqsink_destroy(&zs);
}

/* The plugin driven directly: more reasons on one socket than it keeps
 * series for. Each (event, reason) past the bound adds to that event's
 * reason="_other"; none is lost or written past the table. */
Test(prometheus, reasons_past_the_bound_are_counted_under_other,
     .init = setup, .fini = teardown, .timeout = 60)
{
    void *handle;
    const zmqsink_plugin_t *plugin = th_plugin_load("prometheus", &handle);
    th_plugin_host_t h;
    th_plugin_host_init(&h, plugin, "metrics", dir, NULL);
    int port = th_free_port();
    char listen[64], url[128];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", port);
    th_plugin_set_option(&h, "listen", listen, 0);
    void *state = th_plugin_open(&h);

    /* 14 errnos of bind_failed, then 6 of accept_failed: 16 series, the
     * last 4 of accept_failed past them; then 3 more of bind_failed. */
    enum { BIND = 14, ACCEPT = 6, KEPT = 16, LATE = 3 };
    zmqsink_event_t events[BIND + ACCEPT + LATE + 1];
    size_t n = 0;
    for (int i = 0; i < BIND + ACCEPT + LATE; i++) {
        zmqsink_event_t ev = {.socket_type = ZMQ_ROUTER, .duration_ms = -1};
        snprintf(ev.socket, sizeof ev.socket, "server");
        ev.type = i >= BIND && i < BIND + ACCEPT ? ZMQSINK_EVENT_ACCEPT_FAILED
                                                 : ZMQSINK_EVENT_BIND_FAILED;
        ev.value = (uint64_t)(i >= BIND + ACCEPT ? 30 + i : 1 + i % BIND);
        events[n++] = ev;
    }
    events[n] = events[0]; /* a reason already kept counts on there */
    n++;
    cr_assert_eq(plugin->write(state, events, n), ZMQSINK_WRITE_OK);
    th_plugin_tick_when_asked(&h, state, 1000); /* renders what it got */

    char kept_first[256], accept_other[256], bind_other[256];
    snprintf(kept_first, sizeof kept_first,
             "zmqsink_event_reasons_total{socket=\"server\",event="
             "\"bind_failed\",reason=\"%s\"} 2\n",
             zmqsink_event_reason(&events[0]));
    snprintf(accept_other, sizeof accept_other,
             "zmqsink_event_reasons_total{socket=\"server\",event="
             "\"accept_failed\",reason=\"_other\"} %d\n", ACCEPT - (KEPT - BIND));
    snprintf(bind_other, sizeof bind_other,
             "zmqsink_event_reasons_total{socket=\"server\",event="
             "\"bind_failed\",reason=\"_other\"} %d\n", LATE);
    wait_metrics(url, kept_first, true);
    char *body = http_get(url);
    cr_assert_not_null(body);
    cr_expect_not_null(strstr(body, accept_other), "%s", body);
    cr_expect_not_null(strstr(body, bind_other), "%s", body);
    size_t series = 0;
    for (const char *p = body; (p = strstr(p, "\nzmqsink_event_reasons_total{"));
         p++)
        series++;
    cr_expect_eq(series, KEPT + 2, "%s", body);
    free(body);
    plugin->close(state);
    dlclose(handle);
}

/* ---- what a forked child inherits ---- */

/* The fds of this process that are TCP sockets bound to port. */
static int fds_bound_to(int port)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++) {
        struct sockaddr_storage a;
        socklen_t len = sizeof a;
        if (getsockname(fd, (struct sockaddr *)&a, &len) == 0 &&
            a.ss_family == AF_INET &&
            ntohs(((struct sockaddr_in *)&a)->sin_port) == port)
            n++;
    }
    return n;
}

/* Whether a listening socket can be bound to 127.0.0.1:port now. */
static bool port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), on = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
              listen(fd, 1) == 0;
    close(fd);
    return ok;
}

Test(prometheus, a_forked_child_does_not_keep_the_port, .init = setup,
     .fini = teardown, .timeout = 60)
{
    int port = th_free_port();
    zmqsink_t *zs = start_metrics("    listen: 127.0.0.1:%d\n", port);
    cr_assert_eq(fds_bound_to(port), 1, "the sink listens on %d", port);
    int report[2], release[2];
    cr_assert_eq(pipe(report), 0);
    cr_assert_eq(pipe(release), 0);
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        /* The program's child, which never starts zmqsink. */
        close(release[1]);
        char n = (char)fds_bound_to(port), byte;
        if (write(report[1], &n, 1) != 1)
            _exit(1);
        while (read(release[0], &byte, 1) < 0)
            ;
        _exit(0);
    }
    close(release[0]);
    char inherited = -1;
    cr_assert_eq(read(report[0], &inherited, 1), 1);
    cr_expect_eq(inherited, 0, "the child holds the sink's port");

    /* The sink gone, the port is free while the child lives. */
    zmqsink_destroy(&zs);
    cr_expect(port_free(port), "port %d still taken", port);
    close(release[1]);
    int status;
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(report[0]);
    close(report[1]);
}

/* A value of n bytes of c, for labels too long; the caller frees. */
static char *repeated(char c, size_t n)
{
    char *text = malloc(n + 1);
    cr_assert_not_null(text);
    memset(text, c, n);
    text[n] = '\0';
    return text;
}

/* What open() would refuse of the labels, the listen address's form and
 * the targets_file is refused by `zmqsink check` already, at the line of
 * the option or of the label; a label value too long for the exposition
 * is refused, not cut. */
Test(prometheus, zmqsink_check_names_the_option_at_fault, .init = setup,
     .fini = teardown)
{
    char *long_value = repeated('v', 257), *longest = repeated('"', 256);
    char *long_path = repeated('d', 5000), *total = NULL;
    char value_case[512], path_case[5100], fits_case[600];
    snprintf(value_case, sizeof value_case,
             "    labels:\n      service: billing\n      team: %s\n",
             long_value);
    snprintf(path_case, sizeof path_case, "    targets_file: %s\n", long_path);
    /* 4 labels of 250 bytes fit in 1023; the fifth does not. */
    cr_assert_geq(asprintf(&total, "    labels:\n      a: %s\n      b: %s\n"
                           "      c: %s\n      d: %s\n      e: %s\n",
                           long_value + 7, long_value + 7, long_value + 7,
                           long_value + 7, long_value + 7), 0);
    /* 256 quotes, each escaped: two bytes apiece, whole. */
    snprintf(fits_case, sizeof fits_case, "    labels: { quotes: '%s' }\n",
             longest);
    const th_refusal_t cases[] = {
        {"    labels:\n"
         "      service: billing\n"
         "      bad-name: x\n",
         "labels: 'bad-name' is not a label name", 6},
        {"    listen: 127.0.0.1:0\n"
         "    labels:\n"
         "      socket: x\n",
         "labels: 'socket' is a label of the sink's own metrics", 6},
        {"    labels: { __meta: x }\n", "labels: '__meta' is not a label", 4},
        {value_case, "labels: the value of 'team' is longer than 256 bytes", 6},
        {total, "labels: at most 1023 bytes in all", 9},
        {"    listen: 127.0.0.1\n", "listen '127.0.0.1': expected", 4},
        {"    labels: { service: billing }\n"
         "    listen: '[::1]:99999'\n",
         "listen '[::1]:99999': expected", 5},
        {"    listen: localhost:http\n", "listen 'localhost:http'", 4},
        {"    listen: ':9465'\n", "listen ':9465'", 4},
        {path_case, "targets_file: path too long", 4},
    };
    th_expect_refused(dir, "metrics", "prometheus", cases,
                      sizeof cases / sizeof *cases, th_check_config);
    th_expect_accepted(dir, "metrics", "prometheus", fits_case);
    th_expect_accepted(dir, "metrics", "prometheus",
                       "    listen: '[::]:0'\n"
                       "    labels: { service: billing, env: \"a\\\"b\" }\n"
                       "    targets_file: targets/zmqsink.json\n");
    free(long_value);
    free(longest);
    free(long_path);
    free(total);
}
