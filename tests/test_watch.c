/* Tests of `zmqsink watch` as an operator runs it: probes of real servers
 * over tcp and ipc, a CURVE probe refused by a plain server, SIGTERM,
 * SIGHUP reloads (kept, added and removed sinks with a gap-free sequence,
 * an invalid file, reopened files), SIGUSR1 counters and the exit status. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "helpers.h"

enum { WAIT_MS = 20000 };

static char *dir;
static void *ctx;
static pid_t watch_pid = -1;

static void setup(void)
{
    dir = th_tempdir();
    ctx = zmq_ctx_new();
}

static void teardown(void)
{
    th_stop_process(&watch_pid);
    th_close_all();
    zmq_ctx_term(ctx);
    th_remove_tree(dir);
    free(dir);
}

TestSuite(watch, .init = setup, .fini = teardown, .timeout = 120);

static char *path_in_dir(const char *name)
{
    return th_path(dir, name);
}

/* Starts `zmqsink watch -c dir/watch.yaml [endpoint]`, output into
 * dir/watch.out. */
static void watch_start(const char *endpoint)
{
    char *config = path_in_dir("watch.yaml"), *out = path_in_dir("watch.out");
    char *argv[] = {getenv("ZMQSINK_BIN"), "watch", "-c", config,
                    (char *)endpoint, NULL};
    watch_pid = th_spawn(argv, out);
    free(config);
    free(out);
}

/* Sends sig and waits for the exit; returns the wait status. */
static int watch_end(int sig)
{
    int status;
    cr_assert_eq(kill(watch_pid, sig), 0);
    cr_assert_eq(waitpid(watch_pid, &status, 0), watch_pid);
    watch_pid = -1;
    return status;
}

static char *file_text(const char *name)
{
    char *path = path_in_dir(name);
    char *text = th_read_file(path);
    free(path);
    return text;
}

/* Waits until file name holds needle at least n times. On a timeout, logs
 * what the file and zmqsink's output hold, and returns false. */
static bool file_wait(const char *name, const char *needle, size_t n)
{
    for (int waited = 0; waited < WAIT_MS; waited += 20) {
        char *text = file_text(name);
        size_t got = th_count(text, needle);
        free(text);
        if (got >= n)
            return true;
        th_sleep_ms(20);
    }
    char *text = file_text(name), *out = file_text("watch.out");
    cr_log_error("waited for %zu of '%s' in %s, which holds:\n%s\n"
                 "zmqsink's output:\n%s",
                 n, needle, name, text ? text : "(no file)",
                 out ? out : "(none)");
    free(text);
    free(out);
    return false;
}

/* The seq numbers of a json events file, in file order. */
static size_t seqs_of(const char *name, uint64_t *seqs, size_t cap)
{
    char *text = file_text(name);
    cr_assert_not_null(text, "no %s", name);
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, "\"seq\":")) && n < cap; p++)
        seqs[n++] = strtoull(p + 6, NULL, 10);
    free(text);
    return n;
}

static void *server_bind(int type, char *endpoint, size_t cap)
{
    /* A port of its own, not an ephemeral one: the tests bind it again
     * after closing it, when any connect elsewhere could have taken an
     * ephemeral port. */
    void *server = th_socket(ctx, type);
    snprintf(endpoint, cap, "tcp://127.0.0.1:%d", th_free_port());
    cr_assert_eq(zmq_bind(server, endpoint), 0, "%s: %s", endpoint,
                 zmq_strerror(errno));
    return server;
}

#define JSON_SINK(name)                                                        \
    "  - { name: " name ", type: file, path: " name ".jsonl, format: json }\n"

Test(watch, probes_report_connections_and_end_on_sigterm)
{
    char tcp[256], ipc[300], refused[64];
    void *server = server_bind(ZMQ_ROUTER, tcp, sizeof tcp);
    void *local = th_socket(ctx, ZMQ_ROUTER);
    snprintf(ipc, sizeof ipc, "ipc://%s/probe.ipc", dir);
    cr_assert_eq(zmq_bind(local, ipc), 0);
    snprintf(refused, sizeof refused, "tcp://127.0.0.1:%d", th_free_port());
    free(th_write_file(dir, "watch.yaml", ""));
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "watch:\n"
             "  - { name: billing, endpoint: \"%s\" }\n"
             "  - { name: local, endpoint: \"%s\", type: req }\n"
             "  - { endpoint: \"%s\" }\n"
             "sinks:\n" JSON_SINK("events"),
             tcp, ipc, refused);
    free(th_write_file(dir, "watch.yaml", yaml));
    watch_start(NULL);

    cr_assert(file_wait("events.jsonl",
                        "\"event\":\"connected\",\"severity\":\"info\","
                        "\"socket\":\"billing\",\"socket_type\":\"dealer\"",
                        1));
    cr_assert(file_wait("events.jsonl",
                        "\"event\":\"connected\",\"severity\":\"info\","
                        "\"socket\":\"local\",\"socket_type\":\"req\"",
                        1));
    char retried[400];
    snprintf(retried, sizeof retried,
             "\"event\":\"connect_retried\",\"severity\":\"notice\","
             "\"socket\":\"%s\"", refused);
    cr_assert(file_wait("events.jsonl", retried, 1), "no retries reported");

    th_close(server); /* the peer goes away */
    cr_assert(file_wait("events.jsonl",
                        "\"event\":\"disconnected\",\"severity\":\"notice\","
                        "\"socket\":\"billing\"",
                        1));

    int status = watch_end(SIGTERM);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x",
              status);
    char *text = file_text("events.jsonl");
    cr_assert_eq(th_count(text, "\"event\":\"monitor_stopped\""), 3,
                 "every probe's monitor ends before the exit:\n%s", text);
    free(text);
}

Test(watch, endpoint_arguments_replace_the_list_and_sigint_ends)
{
    char tcp[256];
    server_bind(ZMQ_ROUTER, tcp, sizeof tcp);
    free(th_write_file(dir, "watch.yaml",
                       "watch:\n  - { endpoint: \"tcp://127.0.0.1:1\" }\n"
                       "sinks:\n" JSON_SINK("events")));
    watch_start(tcp);
    char connected[400];
    snprintf(connected, sizeof connected,
             "\"event\":\"connected\",\"severity\":\"info\",\"socket\":\"%s\","
             "\"socket_type\":\"dealer\"", tcp);
    cr_assert(file_wait("events.jsonl", connected, 1));
    int status = watch_end(SIGINT);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char *text = file_text("events.jsonl");
    cr_assert_null(strstr(text, "tcp://127.0.0.1:1\""),
                   "the config's list was probed too:\n%s", text);
    free(text);
}

Test(watch, a_curve_probe_of_a_plain_server_fails_its_handshake)
{
    cr_assert(zmq_has("curve"), "this libzmq has no CURVE");
    char tcp[256], public_key[41], secret_key[41];
    server_bind(ZMQ_ROUTER, tcp, sizeof tcp);
    cr_assert_eq(zmq_curve_keypair(public_key, secret_key), 0);
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "watch:\n"
             "  - name: secure\n"
             "    endpoint: \"%s\"\n"
             "    curve: { server_key: \"%s\" }\n"
             "sinks:\n" JSON_SINK("events"),
             tcp, public_key);
    free(th_write_file(dir, "watch.yaml", yaml));
    watch_start(NULL);
    /* Usually handshake_failed_protocol (the mismatch seen in the
     * server's greeting); handshake_failed_no_detail when the server's
     * reset arrives before its greeting is read. */
    cr_assert(file_wait("events.jsonl", "\"event\":\"handshake_failed_", 1),
              "the failed handshake was not reported");
    int status = watch_end(SIGTERM);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char *text = file_text("events.jsonl");
    cr_assert_null(strstr(text, "handshake_succeeded"), "%s", text);
    cr_assert_not_null(strstr(text, "\",\"severity\":\"warning\",\"socket\":"
                                    "\"secure\""),
                       "%s", text);
    free(text);
}

/* The config of the reload tests: a probe of tcp, the sinks given. */
static void config_write(const char *tcp, const char *sinks)
{
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "watch:\n  - { name: probe, endpoint: \"%s\" }\nsinks:\n%s", tcp,
             sinks);
    free(th_write_file(dir, "watch.yaml", yaml));
}

/* A server on tcp, and zmqsink watch probing it with the given sinks,
 * once the first sink has seen the probe connect. Returns the server. */
static void *watch_connected(char *tcp, size_t cap, const char *sinks,
                             const char *first_sink_file)
{
    void *server = server_bind(ZMQ_ROUTER, tcp, cap);
    config_write(tcp, sinks);
    watch_start(NULL);
    cr_assert(file_wait(first_sink_file, "\"event\":\"connected\"", 1));
    return server;
}

/* Sends SIGHUP and waits for the n-th answer containing word. */
static void reload(const char *word, size_t n)
{
    cr_assert_eq(kill(watch_pid, SIGHUP), 0);
    cr_assert(file_wait("watch.out", word, n), "no '%s' after SIGHUP", word);
}

Test(watch, sighup_keeps_adds_and_removes_sinks_without_a_gap)
{
    char tcp[256];
    void *server = watch_connected(
        tcp, sizeof tcp, JSON_SINK("kept") JSON_SINK("old"), "kept.jsonl");

    config_write(tcp, JSON_SINK("kept") JSON_SINK("new"));
    reload("zmqsink watch: reloaded", 1);
    th_close(server); /* events after the reload: disconnect, retries */
    cr_assert(file_wait("new.jsonl", "\"event\":\"disconnected\"", 1));
    cr_assert(file_wait("new.jsonl", "\"event\":\"connect_retried\"", 1));
    int status = watch_end(SIGTERM);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    uint64_t kept[256], old[256], new[256];
    size_t nkept = seqs_of("kept.jsonl", kept, 256);
    size_t nold = seqs_of("old.jsonl", old, 256);
    size_t nnew = seqs_of("new.jsonl", new, 256);
    cr_assert_gt(nold, 0);
    cr_assert_gt(nnew, 0);
    cr_assert_eq(nkept, nold + nnew, "kept %zu, old %zu, new %zu", nkept,
                 nold, nnew);
    for (size_t i = 0; i < nkept; i++)
        cr_assert_eq(kept[i], i + 1, "kept sink: seq %" PRIu64 " at %zu",
                     kept[i], i);
    for (size_t i = 0; i < nold; i++)
        cr_assert_eq(old[i], i + 1, "removed sink: seq %" PRIu64 " at %zu",
                     old[i], i);
    for (size_t i = 0; i < nnew; i++)
        cr_assert_eq(new[i], nold + i + 1, "added sink: seq %" PRIu64 " at %zu",
                     new[i], i);
    char *text = file_text("new.jsonl");
    cr_assert_eq(th_count(text, "\"event\":\"monitor_stopped\""), 1,
                 "the probe's monitor ends before the exit:\n%s", text);
    free(text);
}

/* The fds the watch process has open. */
static size_t watch_fds(void)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)watch_pid);
    DIR *d = opendir(path);
    cr_assert_not_null(d);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* A hundred reloads, every tenth while the probed server goes away and
 * comes back: sinks a and b take turns beside a kept one, every event reaches
 * kept once, and a or b once, without a gap; the process ends well, with
 * as many fds as before. */
Test(watch, a_hundred_sighups_under_churn_lose_and_leak_nothing,
     .timeout = 240)
{
    enum { RELOADS = 100, MAX_EVENTS = 8192 };
    char tcp[256];
    void *server = watch_connected(tcp, sizeof tcp,
                                   JSON_SINK("kept") JSON_SINK("a"),
                                   "kept.jsonl");
    size_t fds_before = watch_fds();
    size_t drops = 0;
    for (int i = 1; i <= RELOADS; i++) {
        config_write(tcp, i % 2 ? JSON_SINK("kept") JSON_SINK("b")
                                : JSON_SINK("kept") JSON_SINK("a"));
        bool drop = i % 10 == 0; /* the probe reconnects in about a second */
        if (drop)
            th_close(server); /* the probe's connection drops */
        cr_assert_eq(kill(watch_pid, SIGHUP), 0);
        if (drop) {
            /* libzmq closes the listener on its own thread: bind once it
             * did. */
            server = th_socket(ctx, ZMQ_ROUTER);
            int bound = -1;
            for (int waited = 0; bound != 0 && waited < WAIT_MS; waited += 10)
                if ((bound = zmq_bind(server, tcp)) != 0)
                    th_sleep_ms(10);
            cr_assert_eq(bound, 0, "%s", zmq_strerror(errno));
            drops++;
        }
        cr_assert(file_wait("watch.out", "zmqsink watch: reloaded", (size_t)i),
                  "reload %d", i);
        if (drop)
            cr_assert(file_wait("kept.jsonl", "\"event\":\"connected\"",
                                drops + 1), "reconnection %zu", drops);
    }
    cr_assert(file_wait("kept.jsonl", "\"event\":\"disconnected\"", drops));
    cr_expect_eq(watch_fds(), fds_before, "fds after %d reloads", RELOADS);
    int status = watch_end(SIGTERM);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x",
              status);

    static uint64_t kept[MAX_EVENTS], a[MAX_EVENTS], b[MAX_EVENTS];
    size_t nkept = seqs_of("kept.jsonl", kept, MAX_EVENTS);
    size_t na = seqs_of("a.jsonl", a, MAX_EVENTS);
    size_t nb = seqs_of("b.jsonl", b, MAX_EVENTS);
    cr_assert_lt(nkept, MAX_EVENTS);
    for (size_t i = 0; i < nkept; i++)
        cr_assert_eq(kept[i], i + 1, "kept: seq %" PRIu64 " at %zu", kept[i],
                     i);
    cr_assert_eq(na + nb, nkept, "a %zu + b %zu, kept %zu", na, nb, nkept);
    /* a and b together hold each seq once: merged in order, 1..nkept. */
    size_t ia = 0, ib = 0;
    for (uint64_t seq = 1; seq <= nkept; seq++) {
        bool in_a = ia < na && a[ia] == seq, in_b = ib < nb && b[ib] == seq;
        cr_assert(in_a != in_b, "seq %" PRIu64 ": in a %d, in b %d", seq,
                  in_a, in_b);
        ia += in_a;
        ib += in_b;
    }
}

Test(watch, sighup_opens_and_closes_probes)
{
    char first[256], second[256];
    watch_connected(first, sizeof first, JSON_SINK("events"), "events.jsonl");
    server_bind(ZMQ_ROUTER, second, sizeof second);
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "watch:\n  - { name: second, endpoint: \"%s\" }\n"
             "sinks:\n" JSON_SINK("events"),
             second);
    free(th_write_file(dir, "watch.yaml", yaml));
    reload("zmqsink watch: reloaded", 1);
    cr_assert(file_wait("events.jsonl",
                        "\"event\":\"monitor_stopped\",\"severity\":"
                        "\"info\",\"socket\":\"probe\"",
                        1),
              "the removed probe was not closed");
    cr_assert(file_wait("events.jsonl",
                        "\"event\":\"connected\",\"severity\":\"info\","
                        "\"socket\":\"second\"",
                        1),
              "the added probe did not connect");
    int status = watch_end(SIGTERM);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char *text = file_text("events.jsonl");
    cr_assert_eq(th_count(text, "\"event\":\"connected\""), 2, "%s", text);
    free(text);
}

Test(watch, an_invalid_reload_keeps_the_running_config)
{
    char tcp[256];
    void *server =
        watch_connected(tcp, sizeof tcp, JSON_SINK("kept"), "kept.jsonl");

    free(th_write_file(dir, "watch.yaml",
                       "watch: []\nsinks:\n  - { name: x, type: file, "
                       "format: yaml }\n"));
    reload("reload failed, the running config stays: ", 1);
    char *out = file_text("watch.out");
    cr_assert_not_null(strstr(out, "/watch.yaml:3:"),
                       "the error names no place:\n%s", out);
    cr_assert_not_null(strstr(out, "format"), "%s", out);
    free(out);

    th_close(server);
    cr_assert(file_wait("kept.jsonl", "\"event\":\"disconnected\"", 1),
              "the running sink and probe stopped");
    int status = watch_end(SIGTERM);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

Test(watch, sighup_reopens_files_and_sigusr1_prints_counters)
{
    char tcp[256];
    void *server =
        watch_connected(tcp, sizeof tcp, JSON_SINK("kept"), "kept.jsonl");

    /* As logrotate does: move the file away, then SIGHUP. */
    char *live = path_in_dir("kept.jsonl"), *rotated = path_in_dir("kept.1");
    cr_assert_eq(rename(live, rotated), 0);
    reload("zmqsink watch: reloaded", 1);
    /* The sink reopens on its own thread: the new file is there once it
     * did, and the events after that go there. */
    for (int waited = 0; access(live, F_OK) != 0 && waited < WAIT_MS;
         waited += 20)
        th_sleep_ms(20);
    cr_assert_eq(access(live, F_OK), 0, "no new file after SIGHUP");
    th_close(server);
    cr_assert(file_wait("kept.jsonl", "\"event\":\"disconnected\"", 1),
              "the event after the reopen is not in the new file");
    char *old = file_text("kept.1");
    cr_assert_null(strstr(old, "\"event\":\"disconnected\""));
    free(old);

    cr_assert_eq(kill(watch_pid, SIGUSR1), 0);
    cr_assert(file_wait("watch.out", "sink 'kept' (file): enqueued ", 1));
    char *out = file_text("watch.out");
    cr_assert_not_null(strstr(out, "dropped_full 0, dropped_shutdown 0, "
                                   "failed 0, queue "),
                       "%s", out);
    free(out);
    int status = watch_end(SIGTERM);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    free(live);
    free(rotated);
}

/* Runs `zmqsink ARGS` to the end; returns the exit status, the output in
 * dir/watch.out. */
static int watch_once(char *const argv[])
{
    char *out = path_in_dir("watch.out");
    pid_t pid = th_spawn(argv, out);
    free(out);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

Test(watch, exit_status_for_nothing_to_watch_bad_files_and_usage)
{
    char *config = th_write_file(dir, "watch.yaml", "sinks:\n" JSON_SINK("e"));
    char *bin = getenv("ZMQSINK_BIN");
    cr_assert_eq(watch_once((char *[]){bin, "watch", "-c", config, NULL}), 1);
    char *out = file_text("watch.out");
    cr_assert_not_null(strstr(out, "nothing to watch"), "%s", out);
    free(out);

    free(th_write_file(dir, "watch.yaml",
                       "watch:\n  - { endpoint: \"nowhere\" }\n"
                       "sinks:\n" JSON_SINK("e")));
    cr_assert_eq(watch_once((char *[]){bin, "watch", "-c", config, NULL}), 1);
    out = file_text("watch.out");
    cr_assert_not_null(strstr(out, "probe 'nowhere': nowhere connect: "),
                       "%s", out);
    free(out);

    free(th_write_file(dir, "watch.yaml", "watch: 3\n"));
    cr_assert_eq(watch_once((char *[]){bin, "watch", "-c", config, NULL}), 1);
    out = file_text("watch.out");
    cr_assert_not_null(strstr(out, "watch.yaml:1:8: watch: expected a list"),
                       "%s", out);
    free(out);

    cr_assert_eq(watch_once((char *[]){bin, "watch", "-x", NULL}), 2);
    cr_assert_eq(watch_once((char *[]){bin, "watch", "--help", NULL}), 0);
    out = file_text("watch.out");
    cr_assert_not_null(strstr(out, "usage: zmqsink watch [-c FILE]"), "%s",
                       out);
    free(out);
    free(config);
}

/* Writes dir/watch.yaml with n probes p0, p1... of one endpoint that
 * refuses connections, and a sink that keeps only connects. */
static void config_of_probes(int n)
{
    size_t cap = 128 + (size_t)n * 80, len = 0;
    char *yaml = malloc(cap);
    cr_assert_not_null(yaml);
    int port = th_free_port();
    len += (size_t)snprintf(yaml + len, cap - len, "watch:\n");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(yaml + len, cap - len,
                                "  - { name: p%d, endpoint: "
                                "\"tcp://127.0.0.1:%d\" }\n",
                                i, port);
    snprintf(yaml + len, cap - len,
             "sinks:\n  - { name: e, type: file, path: e.jsonl, "
             "events: [connected] }\n");
    free(th_write_file(dir, "watch.yaml", yaml));
    free(yaml);
}

/* Each probe is three sockets of libzmq's context, whose default limit
 * (1023 sockets) held about 341 probes. */
Test(watch, opens_the_documented_1024_probes)
{
    config_of_probes(1024);
    watch_start(NULL);
    cr_assert(file_wait("watch.out", "zmqsink watch: watching 1024 endpoints",
                        1));
    int status = watch_end(SIGTERM);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x",
              status);
    char *out = file_text("watch.out");
    cr_assert_null(strstr(out, "zmqsink watch: probe '"), "%s", out);
    free(out);
}

Test(watch, a_list_past_the_cap_is_refused_whole)
{
    config_of_probes(1025);
    char *config = path_in_dir("watch.yaml");
    cr_assert_eq(watch_once((char *[]){getenv("ZMQSINK_BIN"), "watch", "-c",
                                       config, NULL}),
                 1);
    char *out = file_text("watch.out");
    cr_assert_not_null(strstr(out, "watch.yaml:1026:5: watch: at most 1024 "
                                   "probes\n"),
                       "%s", out);
    cr_assert_null(strstr(out, "zmqsink watch: watching"),
                   "a list past the cap is refused whole:\n%s", out);
    free(out);
    free(config);
}

/* ENDPOINT arguments are refused as a `watch:` list refuses its entries:
 * each names its probe, so one that a socket name cannot hold (past 63
 * characters, even past the 255 of an endpoint) is not cut, and two
 * sharing their first 63 characters do not make two probes of one name. */
Test(watch, endpoint_arguments_that_cannot_name_a_probe_are_refused)
{
    char prefix[64], longer[64 + 8], other[64 + 8], huge[301];
    snprintf(prefix, sizeof prefix, "tcp://127.0.0.1:5555/%042d", 0);
    cr_assert_eq(strlen(prefix), 63u);
    snprintf(longer, sizeof longer, "%sA", prefix);
    snprintf(other, sizeof other, "%sB", prefix);
    snprintf(huge, sizeof huge, "tcp://127.0.0.1:5555/%0279d", 0);
    char *bin = getenv("ZMQSINK_BIN"), twice[] = "tcp://127.0.0.1:1";
    static const char too_long[] = "' is longer than 63 characters, the most "
                                   "a probe's name holds";
    const struct {
        char *argv[5];
        const char *said;
    } cases[] = {
        {{bin, "watch", longer, NULL}, too_long},
        {{bin, "watch", longer, other, NULL}, too_long},
        {{bin, "watch", huge, NULL}, too_long},
        {{bin, "watch", twice, twice, NULL},
         "zmqsink watch: endpoint 'tcp://127.0.0.1:1' given twice\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_assert_eq(watch_once(cases[i].argv), 2, "case %zu", i);
        char *out = file_text("watch.out");
        cr_assert_not_null(strstr(out, cases[i].said), "case %zu: %s", i, out);
        free(out);
    }
}
