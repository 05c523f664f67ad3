/* Tests of the http sink's TLS, its spool under damage and under its size
 * bound, and the whole pipeline from real ZeroMQ sockets through a YAML
 * config to the webhook (tests/http/server.py on loopback).
 *
 * The spool tests damage the files the way a crash or a bad disk would and
 * check exactly which events still arrive and how the rest are counted. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "helpers.h"
#include "http_peer.h"

/* Longest a bounded wait in this file lasts. */
#define WAIT_MS 20000

static char *tmpdir;
static hp_server_t server;
static void *ctx;

static void setup(void)
{
    tmpdir = th_tempdir();
    memset(&server, 0, sizeof server);
}

static void teardown(void)
{
    hp_stop(&server);
    th_remove_tree(tmpdir);
    free(tmpdir);
}

/* ---- files in a directory ---- */

static const char *spool_path(void)
{
    static char path[600];
    snprintf(path, sizeof path, "%s/spool", tmpdir);
    return path;
}

static bool ends_with(const char *name, const char *suffix)
{
    size_t len = strlen(name), slen = strlen(suffix);
    return len > slen && strcmp(name + len - slen, suffix) == 0;
}

/* Bytes of the files in dir whose names end in suffix. */
static long long bytes_of_files_ending(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    long long total = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[1200];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (ends_with(e->d_name, suffix) && stat(path, &st) == 0)
            total += st.st_size;
    }
    if (d)
        closedir(d);
    return total;
}

static int is_batch_file(const struct dirent *e)
{
    return ends_with(e->d_name, ".batch");
}

/* The spool's .batch file names, sorted; caller frees with free_names(). */
static struct dirent **batch_files(size_t *n)
{
    struct dirent **names = NULL;
    int count = scandir(spool_path(), &names, is_batch_file, alphasort);
    cr_assert_geq(count, 0, "scandir %s", spool_path());
    *n = (size_t)count;
    return names;
}

static void free_names(struct dirent **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static char *path_in_spool(const char *name)
{
    char *path;
    cr_assert_geq(asprintf(&path, "%s/%s", spool_path(), name), 0);
    return path;
}

/* ---- TLS against a CA made for the test ---- */

static char ca_file[600], server_cert[600], server_key[600];

static void tls_setup(void)
{
    setup();
    hp_make_certificates(tmpdir);
    snprintf(ca_file, sizeof ca_file, "%s/ca.pem", tmpdir);
    snprintf(server_cert, sizeof server_cert, "%s/server.pem", tmpdir);
    snprintf(server_key, sizeof server_key, "%s/server.key", tmpdir);
    server.cert = server_cert;
    server.key = server_key;
    hp_start(&server, tmpdir, 0);
    cr_assert_eq(strncmp(hp_url(&server), "https://", 8), 0, "%s",
                 hp_url(&server));
}

TestSuite(http_tls, .init = tls_setup, .fini = teardown, .timeout = 60);

Test(http_tls, verified_with_ca_file_delivers_once)
{
    hp_sink_t k;
    hp_sink_init(&k, hp_url(&server));
    hp_sink_set(&k, "tls.ca_file", ca_file, 0);
    hp_sink_open(&k);
    hp_sink_write_many(&k, 0, 200);
    size_t n;
    hp_request_t *r = hp_wait_delivered(&server, 200, hp_sink_tick, &k, &n);
    cr_assert_eq(hp_assert_delivered_once(r, n, 0, 200), 4);
    hp_requests_free(r, n);
    cr_assert_eq(hp_sink_close(&k, 2000), 0);
    cr_assert_eq(k.h.failed, 0);
}

Test(http_tls, unknown_ca_is_refused_and_nothing_is_sent)
{
    hp_sink_t k;
    hp_sink_init(&k, hp_url(&server));
    hp_sink_set(&k, "connect_timeout", "1s", 1000);
    hp_sink_open(&k);
    hp_sink_write(&k, 0, 50);
    hp_sink_run(&k, 1500);
    /* A loaded machine may need longer for the first attempt to end. */
    for (int waited = 0; !strstr(k.h.log_text, "failed"); waited += 10) {
        cr_assert_lt(waited, WAIT_MS, "no attempt failed:\n%s", k.h.log_text);
        hp_sink_tick(&k);
        th_sleep_ms(10);
    }

    size_t n;
    hp_request_t *r = hp_requests(&server, &n);
    cr_assert_eq(n, 0, "a request got through an unverified TLS connection");
    hp_requests_free(r, n);
    cr_assert(strstr(k.h.log_text, "certificate") ||
                  strstr(k.h.log_text, "SSL"),
              "no word of the certificate in:\n%s", k.h.log_text);
    cr_assert_eq(hp_sink_close(&k, 300), 50, "without a spool, lost");
}

Test(http_tls, insecure_delivers_and_says_so)
{
    hp_sink_t k;
    hp_sink_init(&k, hp_url(&server));
    hp_sink_set(&k, "tls.insecure", "true", 1);
    hp_sink_open(&k);
    hp_sink_write_many(&k, 0, 100);
    size_t n;
    hp_request_t *r = hp_wait_delivered(&server, 100, hp_sink_tick, &k, &n);
    cr_assert_eq(hp_assert_delivered_once(r, n, 0, 100), 2);
    hp_requests_free(r, n);
    cr_assert_not_null(strstr(k.h.log_text, "tls.insecure"), "%s",
                       k.h.log_text);
    cr_assert_eq(hp_sink_close(&k, 2000), 0);
}

/* ---- the spool ---- */

static void spool_setup(void)
{
    setup();
    hp_start(&server, tmpdir, 0);
}

TestSuite(http_spool, .init = spool_setup, .fini = teardown, .timeout = 90);

/* Leaves the spool with the 4 batches of events 0..199 (50 each), written
 * by a sink that never reached the (stopped) server. Returns the port the
 * server had. */
static int spool_four_batches(void)
{
    return hp_spool_while_down(&server, spool_path(), 200, 4);
}

static void truncate_by(const char *name, off_t bytes)
{
    char *path = path_in_spool(name);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "%s", path);
    cr_assert_eq(truncate(path, st.st_size - bytes), 0, "%s", path);
    free(path);
}

/* Flips one bit of a body byte: the size stays right, the checksum not. */
static void flip_body_byte(const char *name)
{
    char *path = path_in_spool(name);
    FILE *f = fopen(path, "r+b");
    cr_assert_not_null(f, "%s", path);
    long at = 0;
    int c;
    while ((c = fgetc(f)) != EOF && c != '\n')
        at++;
    cr_assert_eq(c, '\n', "%s has no header line", path);
    at += 1 + 10; /* a few bytes into the first event */
    cr_assert_eq(fseek(f, at, SEEK_SET), 0);
    c = fgetc(f);
    cr_assert_neq(c, EOF, "%s: body too short", path);
    cr_assert_eq(fseek(f, at, SEEK_SET), 0);
    cr_assert_neq(fputc(c ^ 0x01, f), EOF);
    cr_assert_eq(fclose(f), 0);
    free(path);
}

Test(http_spool, corrupt_files_are_set_aside_and_the_rest_delivered)
{
    int port = spool_four_batches();
    size_t nfiles;
    struct dirent **files = batch_files(&nfiles);
    cr_assert_eq(nfiles, 4);
    char torn[300], flipped[300];
    snprintf(torn, sizeof torn, "%s", files[1]->d_name);
    snprintf(flipped, sizeof flipped, "%s", files[2]->d_name);
    free_names(files, nfiles);
    truncate_by(torn, 10);
    flip_body_byte(flipped);
    free(th_write_file(spool_path(), "00000000000000aa.batch", "not a batch\n"));
    free(th_write_file(spool_path(), "0000000000000bbb.tmp",
                       "zmqsink-spool 1 0000000000000bbb"));

    hp_start(&server, tmpdir, port);
    hp_sink_t k;
    hp_sink_init(&k, hp_url(&server));
    hp_sink_set(&k, "spool.dir", spool_path(), 0);
    hp_sink_open(&k);
    size_t n;
    hp_request_t *r = hp_wait_delivered(&server, 100, hp_sink_tick, &k, &n);
    hp_sink_run_until_no_files(&k, spool_path(), ".batch");
    hp_sink_run(&k, 200); /* room for anything that should not come */
    hp_requests_free(r, n);
    r = hp_requests(&server, &n);

    size_t count;
    uint64_t *seqs = hp_delivered_seqs(r, n, &count);
    cr_assert_eq(count, 100, "%zu events delivered, not batches 1 and 4",
                 count);
    for (size_t i = 0; i < count; i++) {
        uint64_t expected = i < 50 ? i : 150 + (i - 50);
        cr_assert_eq(seqs[i], expected, "event %zu: seq %llu, not %llu", i,
                     (unsigned long long)seqs[i],
                     (unsigned long long)expected);
    }
    free(seqs);
    hp_requests_free(r, n);

    cr_assert_eq(hp_files_ending(spool_path(), ".corrupt"), 4);
    cr_assert_eq(hp_files_ending(spool_path(), ".batch"), 0);
    cr_assert_eq(hp_files_ending(spool_path(), ".tmp"), 0);
    cr_assert_eq(th_plugin_failed(&k.h, "corrupt"), 100);
    const char *named[] = {torn, flipped, "00000000000000aa.batch",
                           "0000000000000bbb.tmp"};
    for (size_t i = 0; i < sizeof named / sizeof *named; i++)
        cr_assert_not_null(strstr(k.h.log_text, named[i]),
                           "%s is not named in:\n%s", named[i], k.h.log_text);
    cr_assert_not_null(strstr(k.h.log_text, "corrupt"), "%s", k.h.log_text);
    cr_assert_eq(hp_sink_close(&k, 2000), 0);
}

/* The host's log, and the warnings about a full spool it was given. */
static void (*host_log)(const zmqsink_host_t *host, zmqsink_severity_t severity,
                        const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int spool_full_warnings;

/* Counts warnings that the spool is full, then logs as the host does:
 * its log does not keep severities, and the sink's repeats of the warning
 * are meant to be debug lines. */
__attribute__((format(printf, 3, 4))) static void
log_counting_full_warnings(const zmqsink_host_t *host,
                           zmqsink_severity_t severity, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (severity == ZMQSINK_SEV_WARNING && strstr(line, "is full"))
        spool_full_warnings++;
    host_log(host, severity, "%s", line);
}

Test(http_spool, full_spool_drops_the_oldest_and_keeps_the_newest)
{
    hp_sink_t k;
    hp_sink_init(&k, hp_url(&server));
    hp_sink_set(&k, "spool.dir", spool_path(), 0);
    hp_sink_set(&k, "spool.max_size", "64KiB", 65536);
    host_log = k.h.host.log;
    k.h.host.log = log_counting_full_warnings;
    spool_full_warnings = 0;
    hp_sink_open(&k);
    hp_control(&server, "status 503");
    for (uint64_t first = 0; first < 1000; first += 50) {
        hp_sink_write(&k, first, 50);
        long long spooled = bytes_of_files_ending(spool_path(), ".batch");
        cr_assert_leq(spooled, 65536, "after seq %llu: %lld bytes spooled",
                      (unsigned long long)first + 49, spooled);
    }
    cr_assert_leq(bytes_of_files_ending(spool_path(), ".batch"), 65536);
    uint64_t dropped = th_plugin_failed(&k.h, "spool_full");
    cr_assert_gt(dropped, 0, "the spool never filled:\n%s", k.h.log_text);
    cr_assert_eq(spool_full_warnings, 1, "%d warnings:\n%s",
                 spool_full_warnings, k.h.log_text);

    hp_control(&server, "ok");
    hp_sink_run_until_no_files(&k, spool_path(), ".batch");
    cr_assert_eq(hp_sink_close(&k, 2000), 0);
    size_t n, count;
    hp_request_t *r = hp_requests(&server, &n);
    uint64_t *seqs = hp_delivered_seqs(r, n, &count);
    hp_requests_free(r, n);
    cr_assert_eq(count + th_plugin_failed(&k.h, "spool_full"), 1000,
                 "%zu delivered, %llu dropped", count,
                 (unsigned long long)th_plugin_failed(&k.h, "spool_full"));
    cr_assert_eq(th_plugin_failed(&k.h, "spool_full"), dropped,
                 "dropped after the endpoint came back");
    for (size_t i = 1; i < count; i++)
        cr_assert_gt(seqs[i], seqs[i - 1], "seq %llu after %llu",
                     (unsigned long long)seqs[i],
                     (unsigned long long)seqs[i - 1]);
    cr_assert_geq(count, 50);
    for (size_t i = 0; i < 50; i++)
        cr_assert_eq(seqs[count - 50 + i], 950 + i, "the newest batch");
    free(seqs);
}

/* ---- the whole pipeline ---- */

static void pipeline_setup(void)
{
    spool_setup();
    ctx = zmq_ctx_new();
    cr_assert_not_null(ctx);
}

static void pipeline_teardown(void)
{
    th_close_all();
    zmq_ctx_term(ctx);
    teardown();
}

TestSuite(http_pipeline, .init = pipeline_setup, .fini = pipeline_teardown,
          .timeout = 90);

static void *attached_socket(zmqsink_t *zs, int type, const char *name)
{
    void *socket = th_socket(ctx, type);
    int timeout = 10000;
    zmq_setsockopt(socket, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    cr_assert_eq(zmqsink_attach(zs, socket, name), 0);
    return socket;
}

/* A DEALER and a ROUTER over tcp, a PAIR and a PAIR over ipc: connected,
 * a message each way they allow, and closed. */
static void connect_and_close(zmqsink_t *zs, th_log_t *log)
{
    void *router = attached_socket(zs, ZMQ_ROUTER, "router");
    void *dealer = attached_socket(zs, ZMQ_DEALER, "dealer");
    void *ipc_server = attached_socket(zs, ZMQ_PAIR, "ipc-server");
    void *ipc_client = attached_socket(zs, ZMQ_PAIR, "ipc-client");
    cr_assert_eq(zmq_bind(router, "tcp://127.0.0.1:*"), 0);
    char endpoint[256];
    th_last_endpoint(router, endpoint, sizeof endpoint);
    cr_assert_eq(zmq_connect(dealer, endpoint), 0);
    snprintf(endpoint, sizeof endpoint, "ipc://%s/x.ipc", tmpdir);
    cr_assert_eq(zmq_bind(ipc_server, endpoint), 0);
    cr_assert_eq(zmq_connect(ipc_client, endpoint), 0);

    char buf[64];
    cr_assert_eq(zmq_send(dealer, "x", 1, 0), 1);
    cr_assert_gt(zmq_recv(router, buf, sizeof buf, 0), 0, "identity frame");
    cr_assert_eq(zmq_recv(router, buf, sizeof buf, 0), 1);
    cr_assert_eq(zmq_send(ipc_client, "y", 1, 0), 1);
    cr_assert_eq(zmq_recv(ipc_server, buf, sizeof buf, 0), 1);
    cr_assert_eq(th_log_wait(log, ZMQSINK_EVENT_CONNECTED, 2, WAIT_MS), 2);
    cr_assert_eq(th_log_wait(log, ZMQSINK_EVENT_ACCEPTED, 2, WAIT_MS), 2);

    th_close(dealer);
    th_close(ipc_client);
    th_close(router);
    th_close(ipc_server);
    cr_assert_eq(th_log_wait(log, ZMQSINK_EVENT_MONITOR_STOPPED, 4, WAIT_MS),
                 4);
}

static int seq_compare(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The "seq" of every line of the file, sorted; *connected gets whether
 * one line is a connected event. Caller frees. */
static uint64_t *file_seqs(const char *path, size_t *count, bool *connected)
{
    char *text = th_read_file(path);
    cr_assert_not_null(text, "%s is missing", path);
    uint64_t *seqs = NULL;
    *count = 0;
    *connected = false;
    for (char *save, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        const char *seq = strstr(line, "\"seq\":");
        cr_assert_not_null(seq, "a line without a seq: %s", line);
        char *end;
        seqs = realloc(seqs, (*count + 1) * sizeof *seqs);
        cr_assert_not_null(seqs);
        seqs[(*count)++] = strtoull(seq + 6, &end, 10);
        cr_assert_neq(end, seq + 6, "%s", line);
        *connected |= strstr(line, "\"event\":\"connected\"") != NULL;
    }
    free(text);
    qsort(seqs, *count, sizeof *seqs, seq_compare);
    return seqs;
}

static void assert_check_hides_the_token(const char *config)
{
    char *report = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&report, &len);
    cr_assert_not_null(out);
    char err[1024] = "";
    int rc = zmqsink_check(config, out, err, sizeof err);
    fclose(out);
    cr_assert_eq(rc, 0, "zmqsink_check: %s", err);
    cr_assert_not_null(strstr(report, "sink 'hook': type http"), "%s", report);
    cr_assert_null(strstr(report, "tok-s3cret"), "%s", report);
    free(report);
}

Test(http_pipeline, real_sockets_reach_the_webhook_and_the_file_alike)
{
    setenv("ZS_TEST_TOKEN", "tok-s3cret-42", 1);
    zmqsink_t *zs = th_start(ctx, tmpdir, "shutdown_timeout: 5s\n"
                          "sinks:\n"
                          "  - name: hook\n"
                          "    type: http\n"
                          "    url: %s\n"
                          "    headers: { Authorization: \"Bearer "
                          "${ZS_TEST_TOKEN}\" }\n"
                          "    batch: { max_delay: 100ms }\n"
                          "  - name: out\n"
                          "    type: file\n"
                          "    path: %s/events.jsonl\n"
                          "    format: json\n",
                          hp_url(&server), tmpdir);
    th_log_t log;
    th_log_init(&log);
    cr_assert_eq(zmqsink_add_callback(zs, "log", ZMQSINK_EVENT_ALL,
                                      th_log_callback, &log),
                 0);
    connect_and_close(zs, &log);
    zmqsink_stats_t stats;
    zmqsink_destroy_stats(&zs, &stats);
    th_log_free(&log);
    cr_assert_eq(stats.nsinks, 3u);
    for (size_t i = 0; i < 2; i++) {
        const zmqsink_sink_stats_t *sink = &stats.sinks[i];
        cr_assert_eq(sink->delivered, stats.events, "sink %s", sink->name);
        cr_assert_eq(sink->dropped_full + sink->dropped_shutdown +
                         sink->failed,
                     0u, "sink %s", sink->name);
    }

    char path[700];
    snprintf(path, sizeof path, "%s/events.jsonl", tmpdir);
    size_t nfile;
    bool connected;
    uint64_t *in_file = file_seqs(path, &nfile, &connected);
    cr_assert_gt(nfile, 0);
    cr_assert(connected, "no connected event in %s", path);

    size_t n, nhook;
    hp_request_t *r = hp_requests(&server, &n);
    cr_assert_gt(n, 0);
    uint64_t *at_hook = hp_delivered_seqs(r, n, &nhook);
    qsort(at_hook, nhook, sizeof *at_hook, seq_compare);
    cr_assert_eq(nhook, nfile, "%zu events at the webhook, %zu in the file",
                 nhook, nfile);
    cr_assert_arr_eq(at_hook, in_file, nfile * sizeof *in_file);
    for (size_t i = 1; i < nhook; i++)
        cr_assert_neq(at_hook[i], at_hook[i - 1], "seq %llu twice",
                      (unsigned long long)at_hook[i]);
    char value[128];
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(hp_header(&r[i], "authorization", value,
                                   sizeof value),
                         "Bearer tok-s3cret-42", "request %d", r[i].n);
    hp_requests_free(r, n);
    free(at_hook);
    free(in_file);

    snprintf(path, sizeof path, "%s/zmqsink.yaml", tmpdir);
    assert_check_hides_the_token(path);
}
