/* Tests of `zmqsink run`: unmodified programs run through the preload
 * library (one linked with libzmq alone, one written with CZMQ, one in
 * Python with pyzmq); their events and socket names reach a file sink, and
 * their exit status and signals are their own. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "run_peer.h"

/* The programs the tests run as PROGRAM PORT EXIT_CODE [SIGNAL]. */
static const rp_program_t c_app = RP_C("run/app");
static const rp_program_t czmq_app = RP_C("run/czmq_app");
static const rp_program_t python_app = RP_PYTHON("run/app.py");

static char *tmpdir;

static void setup(void)
{
    tmpdir = th_tempdir();
}

static void teardown(void)
{
    th_remove_tree(tmpdir);
    free(tmpdir);
}

TestSuite(run, .init = setup, .fini = teardown, .timeout = 60);

/* Where the program's output goes. Static storage. */
static const char *output_path(void)
{
    static char path[600];
    snprintf(path, sizeof path, "%s/run.out", tmpdir);
    return path;
}

/* Runs app under `zmqsink run -c config` with a free port, exit_code and
 * signal_number (NULL: none); returns its wait status. */
static int run_with(const rp_program_t *app, const char *config,
                    const char *exit_code, const char *signal_number)
{
    char port[16];
    snprintf(port, sizeof port, "%d", th_free_port());
    const char *args[] = {port, exit_code, signal_number, NULL};
    return rp_run(app, config, NULL, args, output_path());
}

/* The same with a config naming every socket on 127.0.0.1 "frontend", or
 * with no `sockets:` rule at all. */
static int run_app(const rp_program_t *app, bool named, const char *exit_code,
                   const char *signal_number)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "%s"
             "sinks:\n"
             "  - { name: events, type: file, path: %s/events.jsonl, "
             "format: json }\n",
             named ? "sockets:\n"
                     "  - { match: \"tcp://127.0.0.1:*\", name: frontend }\n"
                   : "",
             tmpdir);
    char *config = th_write_file(tmpdir, "run.yaml", yaml);
    int status = run_with(app, config, exit_code, signal_number);
    free(config);
    return status;
}

/* The events file of the sink. Caller frees. */
static char *events_text(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/events.jsonl", tmpdir);
    char *text = th_read_file(path);
    cr_assert_not_null(text, "no events file");
    return text;
}

/* Where the sink's JSON has event of socket in text from from, or NULL. */
static const char *find_event(const char *from, const char *socket,
                              const char *event)
{
    char expected[256];
    snprintf(expected, sizeof expected,
             "\"event\":\"%s\",\"severity\":\"info\",\"socket\":\"%s\"",
             event, socket);
    return strstr(from, expected);
}

/* Fails unless text has the n events of socket, in this order. */
static void assert_events(const char *text, const char *socket,
                          const char *const events[], size_t n)
{
    const char *from = text;
    for (size_t i = 0; i < n; i++) {
        const char *found = find_event(from, socket, events[i]);
        cr_assert_not_null(found, "missing %s of %s after offset %td in:\n%s",
                           events[i], socket, from - text, text);
        from = found + 1;
    }
}

/* How many times text has event of socket. */
static size_t count_events(const char *text, const char *socket,
                           const char *event)
{
    size_t n = 0;
    for (const char *at = text; (at = find_event(at, socket, event)); at++)
        n++;
    return n;
}

/* Runs app with a rule naming its sockets "frontend": its router and
 * dealer are both seen under that name, through to the end of both
 * monitors when the context terminates, and its exit status passes
 * through. */
static void check_named_sockets(const rp_program_t *app)
{
    rp_assert_exited(run_app(app, true, "3", NULL), 3, output_path());
    char *text = events_text();
    /* The dealer connects to an endpoint that the rule matches too. */
    static const char *const router[] = {"listening", "accepted",
                                         "monitor_stopped"};
    static const char *const dealer[] = {"connected", "monitor_stopped"};
    assert_events(text, "frontend", router, 3);
    assert_events(text, "frontend", dealer, 2);
    cr_assert_eq(count_events(text, "frontend", "monitor_stopped"), 2, "%s",
                 text);
    cr_assert_not_null(strstr(text, "\"socket_type\":\"router\""), "%s", text);
    cr_assert_not_null(strstr(text, "\"socket_type\":\"dealer\""), "%s", text);
    free(text);
}

/* Runs app without rules: its sockets are named "<type>-<n>". */
static void check_sockets_named_by_type(const rp_program_t *app)
{
    rp_assert_exited(run_app(app, false, "0", NULL), 0, output_path());
    char *text = events_text();
    static const char *const router[] = {"listening", "accepted",
                                         "monitor_stopped"};
    static const char *const dealer[] = {"connected", "monitor_stopped"};
    assert_events(text, "router-1", router, 3);
    assert_events(text, "dealer-1", dealer, 2);
    free(text);
}

Test(run, attaches_to_an_unmodified_program)
{
    check_named_sockets(&c_app);
}

Test(run, unmatched_sockets_are_named_by_type)
{
    check_sockets_named_by_type(&c_app);
}

Test(run, attaches_to_a_czmq_program)
{
    check_named_sockets(&czmq_app);
}

Test(run, names_czmq_sockets_by_type)
{
    check_sockets_named_by_type(&czmq_app);
}

Test(run, attaches_to_a_python_program)
{
    check_named_sockets(&python_app);
}

Test(run, names_python_sockets_by_type)
{
    check_sockets_named_by_type(&python_app);
}

Test(run, a_signal_passes_through)
{
    int status = run_app(&c_app, true, "0", "15");
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM,
              "status %#x", status);
}

Test(run, a_bad_config_stops_before_the_program)
{
    char *config = th_write_file(tmpdir, "bad.yaml", "sinks: 3\n");
    char out[600];
    snprintf(out, sizeof out, "%s/run.out", tmpdir);
    char *argv[] = {getenv("ZMQSINK_BIN"), "run", "-c", config, "--", "true",
                    NULL};
    pid_t pid = th_spawn(argv, out);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    char *text = th_read_file(out);
    cr_assert_not_null(strstr(text, "bad.yaml:1:"), "%s", text);
    free(text);
    free(config);
}

/* A UDP socket on 127.0.0.1, at a port the kernel picks: *port. */
static int udp_bound(int *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&addr, len) == 0 &&
              getsockname(fd, (struct sockaddr *)&addr, &len) == 0);
    *port = ntohs(addr.sin_port);
    return fd;
}

/* From its build tree, with neither ZMQSINK_PRELOAD nor ZMQSINK_PLUGIN_DIR
 * set, `zmqsink run` uses the preload library built with it, and inside
 * the program zmqsink finds the build's plugins: the events reach the
 * file sink and the statsd sink's lines reach its UDP port. */
Test(run, finds_its_build_without_the_environment)
{
    cr_assert_eq(unsetenv("ZMQSINK_PRELOAD"), 0);
    cr_assert_eq(unsetenv("ZMQSINK_PLUGIN_DIR"), 0);
    int port, fd = udp_bound(&port);
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "sinks:\n"
             "  - { name: events, type: file, path: %s/events.jsonl, "
             "format: json }\n"
             "  - { name: metrics, type: statsd, address: \"127.0.0.1:%d\" "
             "}\n",
             tmpdir, port);
    char *config = th_write_file(tmpdir, "run.yaml", yaml);
    rp_assert_exited(run_with(&c_app, config, "0", NULL), 0, output_path());
    char *text = events_text();
    static const char *const router[] = {"listening", "accepted"};
    assert_events(text, "router-1", router, 2);
    struct pollfd ready = {.fd = fd, .events = POLLIN};
    char line[2048];
    cr_assert_eq(poll(&ready, 1, 5000), 1, "no statsd line on port %d", port);
    ssize_t n = recv(fd, line, sizeof line - 1, 0);
    cr_assert_gt(n, 0);
    line[n] = '\0';
    cr_assert_not_null(strstr(line, "zmq."), "%s", line);
    close(fd);
    free(text);
    free(config);
}

/* dir/x.so, a link to the file sink's plugin; returns the config of a sink
 * 's' loading it by that relative path, writing dir/events.jsonl: yaml
 * for dir/NAME (caller frees). */
static char *config_with_local_plugin(const char *dir)
{
    char *plugin = th_plugin_path("file"), *link = th_path(dir, "x.so");
    cr_assert_eq(symlink(plugin, link), 0, "%s", link);
    free(plugin);
    free(link);
    return strdup("sinks:\n"
                  "  - name: s\n"
                  "    plugin: x.so\n"
                  "    path: events.jsonl\n"
                  "    format: json\n");
}

/* A/app.yaml is a link to ../B/app.yaml, and the plugin it names by a
 * relative path is in A: `check` resolves that path in A, and the program
 * run with -c A/app.yaml gets the same config, not B's. */
Test(run, runs_the_config_that_was_checked_through_a_link)
{
    char *a = th_path(tmpdir, "A"), *b = th_path(tmpdir, "B");
    cr_assert_eq(mkdir(a, 0755), 0);
    cr_assert_eq(mkdir(b, 0755), 0);
    char *yaml = config_with_local_plugin(a);
    free(th_write_file(b, "app.yaml", yaml));
    char *config = th_path(a, "app.yaml");
    cr_assert_eq(symlink("../B/app.yaml", config), 0);
    rp_assert_exited(run_with(&c_app, config, "0", NULL), 0, output_path());
    char *out = th_read_file(output_path());
    cr_assert_null(strstr(out, "not found"), "%s", out);
    char *events = th_path(a, "events.jsonl");
    char *text = th_read_file(events);
    cr_assert_not_null(text, "no events in A/:\n%s", out);
    free(out);
    cr_assert_not_null(strstr(text, "\"event\":\"listening\""), "%s", text);
    free(text);
    free(events);
    free(config);
    free(yaml);
    free(a);
    free(b);
}

/* The plugin goes away between the check and the program: the sink, which
 * opens inside the program, says why at the place of its `plugin:`, once,
 * and the program runs on. */
Test(run, a_sink_failing_inside_the_program_names_one_place)
{
    char *yaml = config_with_local_plugin(tmpdir);
    char *config = th_write_file(tmpdir, "run.yaml", yaml);
    char *plugin = th_path(tmpdir, "x.so"), *app, script[2048];
    cr_assert(asprintf(&app, "%s/run/app", getenv("ZMQSINK_TEST_BUILDDIR")) >
              0);
    snprintf(script, sizeof script, "rm %s && exec %s %d 0", plugin, app,
             th_free_port());
    char *argv[] = {getenv("ZMQSINK_BIN"), "run", "-c", config, "--",
                    "/bin/sh", "-c", script, NULL};
    pid_t pid = th_spawn(argv, output_path());
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    rp_assert_exited(status, 0, output_path());
    char *out = th_read_file(output_path()), expected[1024];
    snprintf(expected, sizeof expected, "err: %s:3:13: sink 's': plugin file '",
             config);
    cr_assert_not_null(strstr(out, expected), "no '%s' in:\n%s", expected,
                       out);
    free(out);
    free(app);
    free(plugin);
    free(config);
    free(yaml);
}
