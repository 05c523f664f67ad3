/* The HTTP server the http sink's tests talk to: started, controlled with
 * libcurl, and its request log parsed. */
#include "http_peer.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "helpers.h"

/* Longest a bounded wait here lasts. */
#define WAIT_MS 20000

static char *path_in(const hp_server_t *s, const char *name)
{
    return th_path(s->dir, name);
}

void hp_start(hp_server_t *s, const char *dir, int port)
{
    const char *srcdir = getenv("ZMQSINK_TEST_SRCDIR");
    cr_assert_not_null(srcdir, "ZMQSINK_TEST_SRCDIR is not set (run it "
                               "through make check)");
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    if (port == 0)
        port = th_free_port(); /* one that stays refused while it is down */
    char *script, *log = path_in(s, "requests.log"),
                  *ready = path_in(s, "ready"), *out = path_in(s, "server.out");
    cr_assert_geq(asprintf(&script, "%s/http/server.py", srcdir), 0);
    char port_text[16];
    snprintf(port_text, sizeof port_text, "%d", port);
    unlink(ready);
    char *argv[] = {"python3", script, "--port", port_text, "--log", log,
                    "--ready", ready, s->cert ? "--tls-cert" : NULL,
                    (char *)s->cert, "--tls-key", (char *)s->key, NULL};
    s->pid = th_spawn(argv, out);
    char *text = NULL;
    for (int waited = 0; !(text = th_read_file(ready)) && waited < WAIT_MS;
         waited += 20)
        th_sleep_ms(20);
    if (!text) {
        char *output = th_read_file(out);
        cr_assert_fail("the HTTP server did not start; its output:\n%s",
                       output ? output : "(none)");
    }
    s->port = atoi(text);
    cr_assert_gt(s->port, 0);
    free(text);
    free(script);
    free(log);
    free(ready);
    free(out);
}

void hp_stop(hp_server_t *s)
{
    th_stop_process(&s->pid);
}

const char *hp_url(const hp_server_t *s)
{
    static char url[128];
    snprintf(url, sizeof url, "%s://127.0.0.1:%d/hook",
             s->cert ? "https" : "http", s->port);
    return url;
}

static size_t discard(char *data, size_t size, size_t n, void *unused)
{
    (void)data;
    (void)unused;
    return size * n;
}

void hp_control(const hp_server_t *s, const char *command)
{
    char url[128];
    snprintf(url, sizeof url, "%s://127.0.0.1:%d/_control",
             s->cert ? "https" : "http", s->port);
    CURL *curl = curl_easy_init();
    cr_assert_not_null(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, command);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    /* The test's own channel to the server; the sink's TLS is what is
     * under test. */
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    cr_assert_eq(rc, CURLE_OK, "control '%s': %s", command,
                 curl_easy_strerror(rc));
    cr_assert_eq(status, 200, "control '%s' answered %ld", command, status);
}

/* Decodes %XX escapes in place. */
static void percent_decode(char *s)
{
    char *out = s;
    for (; *s; s++) {
        unsigned c;
        if (*s == '%' && sscanf(s + 1, "%2x", &c) == 1) {
            *out++ = (char)c;
            s += 2;
        } else {
            *out++ = *s;
        }
    }
    *out = '\0';
}

static void copy_field(char *dst, size_t cap, const char *value)
{
    snprintf(dst, cap, "%s", strcmp(value, "-") == 0 ? "" : value);
}

static void seqs_parse(hp_request_t *r, const char *value)
{
    if (strcmp(value, "-") == 0)
        return;
    for (const char *p = value; *p; p += *p == ',') {
        r->seqs = realloc(r->seqs, (r->nseqs + 1) * sizeof *r->seqs);
        cr_assert_not_null(r->seqs);
        char *end;
        r->seqs[r->nseqs++] = strtoull(p, &end, 10);
        cr_assert_neq(end, p, "bad seqs '%s'", value);
        p = end;
    }
}

/* Fills r from one "name=value ..." line. */
static void request_parse(hp_request_t *r, char *line)
{
    memset(r, 0, sizeof *r);
    for (char *save, *tok = strtok_r(line, " \n", &save); tok;
         tok = strtok_r(NULL, " \n", &save)) {
        char *eq = strchr(tok, '=');
        cr_assert_not_null(eq, "bad token '%s' in the request log", tok);
        *eq = '\0';
        char *value = eq + 1;
        percent_decode(value);
        if (strcmp(tok, "n") == 0)
            r->n = atoi(value);
        else if (strcmp(tok, "method") == 0)
            copy_field(r->method, sizeof r->method, value);
        else if (strcmp(tok, "answer") == 0)
            copy_field(r->answer, sizeof r->answer, value);
        else if (strcmp(tok, "conn") == 0)
            r->conn = atoi(value);
        else if (strcmp(tok, "key") == 0)
            copy_field(r->key, sizeof r->key, value);
        else if (strcmp(tok, "type") == 0)
            copy_field(r->type, sizeof r->type, value);
        else if (strcmp(tok, "encoding") == 0)
            copy_field(r->encoding, sizeof r->encoding, value);
        else if (strcmp(tok, "raw") == 0)
            r->raw = atol(value);
        else if (strcmp(tok, "body") == 0)
            r->body = strcmp(value, "-") == 0 ? -1 : atol(value);
        else if (strcmp(tok, "seqs") == 0)
            seqs_parse(r, value);
        else if (strcmp(tok, "error") == 0)
            copy_field(r->error, sizeof r->error, value);
        else if (strcmp(tok, "headers") == 0)
            r->headers = strdup(value);
        else if (strcmp(tok, "reasons") == 0)
            r->reasons = strdup(value);
        else if (strcmp(tok, "otlp") == 0 && strcmp(value, "-") != 0)
            r->otlp = strdup(value);
    }
}

hp_request_t *hp_requests(const hp_server_t *s, size_t *n)
{
    char *path = path_in(s, "requests.log");
    FILE *f = fopen(path, "r");
    free(path);
    hp_request_t *r = NULL;
    *n = 0;
    if (!f)
        return NULL;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        if (!strchr(line, '\n'))
            break; /* being written */
        r = realloc(r, (*n + 1) * sizeof *r);
        cr_assert_not_null(r);
        request_parse(&r[(*n)++], line);
    }
    free(line);
    fclose(f);
    return r;
}

void hp_requests_free(hp_request_t *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(r[i].seqs);
        free(r[i].headers);
        free(r[i].reasons);
        free(r[i].otlp);
    }
    free(r);
}


static bool answered_ok(const hp_request_t *r)
{
    return r->answer[0] == '2';
}

uint64_t *hp_delivered_seqs(const hp_request_t *r, size_t n, size_t *count)
{
    uint64_t *seqs = NULL;
    *count = 0;
    for (size_t i = 0; i < n; i++) {
        bool repeated = false;
        for (size_t j = 0; j < i && !repeated; j++)
            repeated = answered_ok(&r[j]) && strcmp(r[j].key, r[i].key) == 0;
        if (!answered_ok(&r[i]) || repeated)
            continue;
        seqs = realloc(seqs, (*count + r[i].nseqs + 1) * sizeof *seqs);
        cr_assert_not_null(seqs);
        if (r[i].nseqs > 0)
            memcpy(seqs + *count, r[i].seqs, r[i].nseqs * sizeof *seqs);
        *count += r[i].nseqs;
    }
    return seqs;
}

size_t hp_files_ending(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    size_t n = 0, slen = strlen(suffix);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        n += len > slen && strcmp(e->d_name + len - slen, suffix) == 0;
    }
    if (d)
        closedir(d);
    return n;
}

hp_request_t *hp_wait_delivered(const hp_server_t *s, size_t count,
                                void (*drive)(void *), void *arg, size_t *n)
{
    hp_request_t *r = NULL;
    *n = 0;
    for (int waited = 0; waited <= WAIT_MS; waited += 20) {
        hp_requests_free(r, *n);
        r = hp_requests(s, n);
        size_t delivered;
        free(hp_delivered_seqs(r, *n, &delivered));
        if (delivered >= count)
            return r;
        if (drive)
            drive(arg);
        th_sleep_ms(20);
    }
    return r;
}

size_t hp_assert_delivered_once(const hp_request_t *r, size_t n,
                                uint64_t first, uint64_t count)
{
    size_t keys = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert_str_empty(r[i].error, "request %d: body error %s", r[i].n,
                            r[i].error);
        cr_assert_eq(strlen(r[i].key), 32, "request %d: key '%s'", r[i].n,
                     r[i].key);
        const hp_request_t *earlier = NULL;
        for (size_t j = 0; j < i && !earlier; j++)
            if (strcmp(r[j].key, r[i].key) == 0)
                earlier = &r[j];
        if (earlier) {
            /* A retry: the same events under the same key. */
            cr_assert_eq(earlier->nseqs, r[i].nseqs, "key %s changed", r[i].key);
            cr_assert_arr_eq(earlier->seqs, r[i].seqs,
                             r[i].nseqs * sizeof *r[i].seqs, "key %s changed",
                             r[i].key);
        }
        bool delivered_before = false;
        for (size_t j = 0; j < i; j++)
            delivered_before |= answered_ok(&r[j]) &&
                                strcmp(r[j].key, r[i].key) == 0;
        keys += answered_ok(&r[i]) && !delivered_before;
    }
    size_t delivered;
    uint64_t *seqs = hp_delivered_seqs(r, n, &delivered);
    for (size_t i = 0; i < delivered && i < count; i++)
        cr_assert_eq(seqs[i], first + i, "delivered event %zu: seq %llu, not "
                     "%llu", i, (unsigned long long)seqs[i],
                     (unsigned long long)(first + i));
    cr_assert_eq(delivered, count, "%zu events delivered, not %llu",
                 delivered, (unsigned long long)count);
    free(seqs);
    return keys;
}

const char *hp_header(const hp_request_t *r, const char *name, char *out,
                      size_t cap)
{
    out[0] = '\0';
    size_t len = strlen(name);
    for (const char *p = r->headers; p && *p;) {
        const char *end = strchr(p, '\n');
        size_t line = end ? (size_t)(end - p) : strlen(p);
        if (line > len && strncasecmp(p, name, len) == 0 && p[len] == ':') {
            snprintf(out, cap, "%.*s", (int)(line - len - 1), p + len + 1);
            break;
        }
        p += line + (end != NULL);
    }
    return out;
}

static int64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void hp_sink_init(hp_sink_t *k, const char *url)
{
    memset(k, 0, sizeof *k);
    const zmqsink_plugin_t *plugin = th_plugin_load("http", &k->handle);
    th_plugin_host_init(&k->h, plugin, "hook", NULL, NULL);
    hp_sink_set(k, "url", url, 0);
    hp_sink_set(k, "retry.base", "10ms", 10);
    hp_sink_set(k, "retry.cap", "50ms", 50);
    hp_sink_set(k, "batch.max_events", "50", 50);
}

void hp_sink_set(hp_sink_t *k, const char *key, const char *text,
                 int64_t number)
{
    th_plugin_set_option(&k->h, key, text, number);
}

void hp_sink_open(hp_sink_t *k)
{
    k->state = th_plugin_open(&k->h);
}

const char *hp_sink_open_fails(hp_sink_t *k)
{
    static char err[512];
    err[0] = '\0';
    k->state = k->h.plugin->open(&k->h.host, err, sizeof err);
    cr_assert_null(k->state, "open succeeded");
    cr_assert_str_not_empty(err);
    dlclose(k->handle);
    return err;
}

void hp_sink_write(hp_sink_t *k, uint64_t first, size_t n)
{
    zmqsink_event_t *events = calloc(n, sizeof *events);
    cr_assert_not_null(events);
    for (size_t i = 0; i < n; i++) {
        events[i] = (zmqsink_event_t){
            .seq = first + i,
            .time_ns = INT64_C(1700000000123456789),
            .duration_ms = -1,
            .type = ZMQSINK_EVENT_CONNECTED,
            .value = 9,
            .socket_type = 5, /* ZMQ_DEALER */
            .severity = ZMQSINK_SEV_INFO,
        };
        snprintf(events[i].socket, sizeof events[i].socket, "backend");
        snprintf(events[i].endpoint, sizeof events[i].endpoint,
                 "tcp://127.0.0.1:5555");
        snprintf(events[i].peer, sizeof events[i].peer, "127.0.0.1:40000");
    }
    zmqsink_write_result_t rc = k->h.plugin->write(k->state, events, n);
    free(events);
    cr_assert_eq(rc, ZMQSINK_WRITE_OK, "write() said %d", rc);
    hp_sink_tick(k);
}

void hp_sink_write_many(hp_sink_t *k, uint64_t first, size_t count)
{
    for (size_t done = 0; done < count; done += 50)
        hp_sink_write(k, first + done, count - done < 50 ? count - done : 50);
}

void hp_sink_run_until_no_files(hp_sink_t *k, const char *dir,
                                const char *suffix)
{
    for (int waited = 0; hp_files_ending(dir, suffix) > 0; waited += 10) {
        cr_assert_lt(waited, WAIT_MS, "%zu %s files stay in %s",
                     hp_files_ending(dir, suffix), suffix, dir);
        hp_sink_tick(k);
        th_sleep_ms(10);
    }
}

size_t hp_answered(const hp_server_t *s, const char *answer)
{
    size_t n, count = 0;
    hp_request_t *r = hp_requests(s, &n);
    for (size_t i = 0; i < n; i++)
        count += strcmp(r[i].answer, answer) == 0;
    hp_requests_free(r, n);
    return count;
}

void hp_sink_run_until_answered(hp_sink_t *k, const hp_server_t *s,
                                const char *answer, size_t count)
{
    for (int waited = 0; hp_answered(s, answer) < count; waited += 10) {
        cr_assert_lt(waited, WAIT_MS, "no %zu requests answered %s", count,
                     answer);
        hp_sink_tick(k);
        th_sleep_ms(10);
    }
}

void hp_sink_run_until_failed(hp_sink_t *k, const char *reason,
                              uint64_t count)
{
    for (int waited = 0; th_plugin_failed(&k->h, reason) < count;
         waited += 10) {
        cr_assert_lt(waited, WAIT_MS, "%llu events counted failed as %s, not "
                     "%llu:\n%s",
                     (unsigned long long)th_plugin_failed(&k->h, reason),
                     reason, (unsigned long long)count, k->h.log_text);
        hp_sink_tick(k);
        th_sleep_ms(10);
    }
}

void hp_sink_run_until_logged(hp_sink_t *k, const char *text)
{
    for (int waited = 0; !strstr(k->h.log_text, text); waited += 10) {
        cr_assert_lt(waited, WAIT_MS, "'%s' never logged:\n%s", text,
                     k->h.log_text);
        hp_sink_tick(k);
        th_sleep_ms(10);
    }
}

void hp_check_retries(hp_sink_t *k, hp_server_t *server,
                      const hp_retry_case_t *cases, size_t n, size_t events)
{
    uint64_t rejected = 0;
    for (size_t i = 0; i < n; i++) {
        char command[64];
        snprintf(command, sizeof command, "status %s 1", cases[i].status);
        hp_control(server, command);
        size_t before = hp_answered(server, "200");
        hp_sink_write(k, events * i, events);
        hp_sink_run_until_answered(k, server, cases[i].status, 1);
        if (cases[i].retried)
            hp_sink_run_until_answered(k, server, "200", before + 1);
        rejected += cases[i].retried ? 0 : events;
        /* A refusal is counted once the sink has read the answer; a
         * refused batch sent again shows in the caller's request count. */
        hp_sink_run_until_failed(k, "rejected", rejected);
        cr_assert_eq(th_plugin_failed(&k->h, "rejected"), rejected,
                     "HTTP %s", cases[i].status);
        hp_control(server, "ok"); /* the mode may still wait for its one */
    }
}

void hp_sink_tick(void *arg)
{
    hp_sink_t *k = arg;
    k->h.plugin->tick(k->state, monotonic_ns());
}

void hp_sink_run(hp_sink_t *k, int ms)
{
    int64_t until = monotonic_ns() + (int64_t)ms * 1000000;
    while (monotonic_ns() < until) {
        hp_sink_tick(k);
        th_sleep_ms(10);
    }
}

uint64_t hp_sink_close(hp_sink_t *k, int ms)
{
    uint64_t lost =
        k->h.plugin->flush(k->state, monotonic_ns() + (int64_t)ms * 1000000);
    k->h.plugin->close(k->state);
    k->state = NULL;
    dlclose(k->handle);
    return lost;
}

int hp_spool_while_down(hp_server_t *server, const char *spool, size_t count,
                        size_t batches)
{
    int port = server->port;
    hp_stop(server);
    hp_sink_t k;
    hp_sink_init(&k, hp_url(server));
    hp_sink_set(&k, "spool.dir", spool, 0);
    hp_sink_open(&k);
    hp_sink_write_many(&k, 0, count);
    hp_sink_run(&k, 200);
    cr_assert_eq(hp_sink_close(&k, 300), 0, "spooled, not lost");
    cr_assert_eq(hp_files_ending(spool, ".batch"), batches);
    cr_assert_eq(k.h.failed, 0);
    cr_assert_eq(k.h.delivered, 0, "spooled: pending, not delivered");
    return port;
}

char *hp_fixture_start(hp_server_t *server, bool start_server)
{
    char *tmpdir = th_tempdir();
    memset(server, 0, sizeof *server);
    if (start_server)
        hp_start(server, tmpdir, 0);
    return tmpdir;
}

void hp_fixture_end(hp_server_t *server, char *tmpdir)
{
    hp_stop(server);
    th_remove_tree(tmpdir);
    free(tmpdir);
}

void *hp_pipeline_ctx(void)
{
    void *ctx = zmq_ctx_new();
    cr_assert_not_null(ctx);
    return ctx;
}

void hp_pipeline_end(void *ctx)
{
    th_close_all();
    zmq_ctx_term(ctx);
}
