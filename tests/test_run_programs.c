/* Tests of `zmqsink run` against real programs, each compared with the
 * same program run without it: what the program itself saw (its output,
 * its exit status) must not change, and the sinks must get its events.
 * The programs are in tests/run/ (see the comment at the top of each):
 * programs that monitor their own sockets, that fail to bind, that open
 * thousands of sockets, that fork workers or execute children. No test
 * fails on a timing: a program shows that something did not wait by
 * finishing while a sink still waits to be released. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "http_peer.h"
#include "run_peer.h"
#include "statsd_peer.h"

/* Longest a program may take before it is deemed hung. */
#define RUN_WAIT_MS 60000

static const rp_program_t own_monitor = RP_PYTHON("run/own_monitor.py");
static const rp_program_t mask_monitor = RP_C("run/mask_monitor");
static const rp_program_t czmq_monitor = RP_C("run/czmq_monitor");
static const rp_program_t bind_errors = RP_C("run/bind_errors");
static const rp_program_t many_sockets = RP_C("run/many_sockets");
static const rp_program_t app = RP_C("run/app");
static const rp_program_t prefork = RP_PYTHON("run/prefork.py");
static const rp_program_t exec_child = RP_PYTHON("run/exec_child.py");
static const rp_program_t exit_paths = RP_C("run/exit_paths");

static char *tmpdir;
/* The peers of a test, stopped by the teardown whatever happened. */
static sp_daemon_t statsd = {.pid = -1};
static hp_server_t server;

static void setup(void)
{
    tmpdir = th_tempdir();
}

static void teardown(void)
{
    sp_stop(&statsd);
    hp_stop(&server);
    th_remove_tree(tmpdir);
    free(tmpdir);
}

TestSuite(programs, .init = setup, .fini = teardown, .timeout = 120);

/* ---- files and configs ---- */

/* tmpdir/name. Caller frees. */
static char *temp_path(const char *name)
{
    return th_path(tmpdir, name);
}

/* Writes the YAML (a printf format) to tmpdir/name; returns its path.
 * Caller frees. */
__attribute__((format(printf, 2, 3))) static char *
config_file(const char *name, const char *yaml_fmt, ...)
{
    va_list args;
    va_start(args, yaml_fmt);
    char *yaml;
    cr_assert_geq(vasprintf(&yaml, yaml_fmt, args), 0);
    va_end(args);
    char *path = th_write_file(tmpdir, name, yaml);
    free(yaml);
    return path;
}

/* A config with one sink: every event as json lines to tmpdir/events.
 * Caller frees. */
static char *file_sink_config(const char *events)
{
    return config_file("run.yaml",
                       "sinks:\n"
                       "  - { name: events, type: file, path: %s/%s, "
                       "format: json }\n",
                       tmpdir, events);
}

static char *port_text(char buf[16])
{
    snprintf(buf, 16, "%d", th_free_port());
    return buf;
}

/* ---- running programs ---- */

/* Waits at most RUN_WAIT_MS for pid; kills it and fails, saying how it
 * ran (`how`) and showing its output, when it is still running then.
 * Returns its wait status. */
static int wait_bounded(pid_t pid, const char *how, const char *out_path)
{
    int status;
    for (int waited = 0; waited < RUN_WAIT_MS; waited += 10) {
        pid_t done = waitpid(pid, &status, WNOHANG);
        cr_assert_neq(done, -1, "waitpid: %s", strerror(errno));
        if (done == pid)
            return status;
        th_sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    char *output = th_read_file(out_path);
    cr_assert_fail("%s: still running after %d ms, killed; its output:\n%s",
                   how, RUN_WAIT_MS, output ? output : "(none)");
    return -1;
}

/* Runs program with args under `zmqsink run -c config options...` (config
 * NULL: without zmqsink), its output into tmpdir/out_name; fails unless it
 * exits with 0 in time. Returns its output; caller frees. */
static char *run_ok(const rp_program_t *program, const char *config,
                    const char *const options[], const char *const args[],
                    const char *out_name)
{
    char *out = temp_path(out_name);
    pid_t pid = rp_start(program, config, options, args, out);
    rp_assert_exited(wait_bounded(pid, config ? "under zmqsink run" : "alone",
                                  out),
                     0, out);
    char *output = th_read_file(out);
    cr_assert_not_null(output, "no output file %s", out);
    free(out);
    return output;
}

/* Runs program with args without zmqsink, then under `zmqsink run -c
 * config`: both must exit 0 and print the same. Returns that output;
 * caller frees. */
static char *run_as_without(const rp_program_t *program, const char *config,
                            const char *const args[])
{
    char *alone = run_ok(program, NULL, NULL, args, "alone.out");
    char *with = run_ok(program, config, NULL, args, "with.out");
    cr_assert_str_eq(with, alone,
                     "under zmqsink run the program printed:\n%s\nwithout "
                     "it:\n%s",
                     with, alone);
    free(alone);
    return with;
}

/* ---- the json lines of the sinks ---- */

/* What a test looks at in one json line of an event. */
typedef struct event_line {
    char event[32];
    char socket[64];
    char socket_type[16];
    long long value, pid, seq;
} event_line_t;

typedef struct event_list {
    event_line_t *at;
    size_t n;
    size_t lines_in_files; /* lines read, for messages */
} event_list_t;

/* Parses the json string at p into out (truncated to cap); returns what
 * follows it, or NULL when p holds no valid json string. */
static const char *json_string(const char *p, char *out, size_t cap)
{
    if (*p++ != '"')
        return NULL;
    size_t n = 0;
    for (; *p != '"'; p++) {
        char c = *p;
        if ((unsigned char)c < 0x20)
            return NULL; /* the line's end, or a raw control character */
        if (c == '\\') {
            c = *++p;
            if (c == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!isxdigit((unsigned char)p[i]))
                        return NULL;
                p += 4;
                c = '?';
            } else if (!c || !strchr("\"\\/bfnrt", c)) {
                return NULL;
            }
        }
        if (n + 1 < cap)
            out[n++] = c;
    }
    out[n] = '\0';
    return p + 1;
}

static const char *json_digits(const char *p)
{
    if (!isdigit((unsigned char)*p))
        return NULL;
    while (isdigit((unsigned char)*p))
        p++;
    return p;
}

/* Parses the json number at p (its integer part into *out); returns what
 * follows it, or NULL. */
static const char *json_number(const char *p, long long *out)
{
    const char *start = p;
    if (*p == '-')
        p++;
    if (!(p = *p == '0' ? p + 1 : json_digits(p)))
        return NULL;
    if (*p == '.' && !(p = json_digits(p + 1)))
        return NULL;
    if (*p == 'e' || *p == 'E') {
        p += p[1] == '+' || p[1] == '-' ? 2 : 1;
        if (!(p = json_digits(p)))
            return NULL;
    }
    *out = strtoll(start, NULL, 10);
    return p;
}

/* Stores a member of the object in e when the test looks at it. */
static void event_member(event_line_t *e, const char *key, const char *text,
                         bool is_number, long long number)
{
    struct {
        const char *key;
        char *text;
        size_t cap;
        long long *number;
    } members[] = {
        {"event", e->event, sizeof e->event, NULL},
        {"socket", e->socket, sizeof e->socket, NULL},
        {"socket_type", e->socket_type, sizeof e->socket_type, NULL},
        {"value", NULL, 0, &e->value},
        {"pid", NULL, 0, &e->pid},
        {"seq", NULL, 0, &e->seq},
    };
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++) {
        if (strcmp(key, members[i].key) != 0)
            continue;
        if (members[i].text && !is_number)
            snprintf(members[i].text, members[i].cap, "%s", text);
        if (members[i].number && is_number)
            *members[i].number = number;
    }
}

/* Parses one line as a flat json object (strings, numbers, null) that has
 * at least event, socket, socket_type, value, pid and seq. */
static bool parse_event_line(const char *line, event_line_t *e)
{
    *e = (event_line_t){.value = -1, .pid = -1, .seq = -1};
    const char *p = line;
    if (*p++ != '{')
        return false;
    for (;;) {
        char key[64], text[512] = "";
        long long number = 0;
        bool is_number = false;
        if (!(p = json_string(p, key, sizeof key)) || *p++ != ':')
            return false;
        if (*p == '"')
            p = json_string(p, text, sizeof text);
        else if (strncmp(p, "null", 4) == 0)
            p += 4;
        else
            is_number = (p = json_number(p, &number)) != NULL;
        if (!p)
            return false;
        event_member(e, key, text, is_number, number);
        if (*p == ',') {
            p++;
            continue;
        }
        return *p == '}' && p[1] == '\0' && e->event[0] && e->socket[0] &&
               e->socket_type[0] && e->value >= 0 && e->pid > 0 && e->seq > 0;
    }
}

/* Appends the events of the json lines file path to list; every line must
 * be one whole event. Returns false when there is no such file. */
static bool read_events_file(event_list_t *list, const char *path)
{
    char *text = th_read_file(path);
    if (!text)
        return false;
    size_t len = strlen(text);
    cr_assert(len == 0 || text[len - 1] == '\n',
              "%s does not end with a whole line:\n%s", path, text);
    size_t number = 0;
    char *save;
    for (char *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        number++;
        list->at = realloc(list->at, (list->n + 1) * sizeof *list->at);
        cr_assert_not_null(list->at);
        cr_assert(parse_event_line(line, &list->at[list->n]),
                  "line %zu of %s is not one json event: %s", number, path,
                  line);
        list->n++;
    }
    list->lines_in_files += number;
    free(text);
    return true;
}

/* The events of tmpdir/name; it must exist. */
static event_list_t read_events(const char *name)
{
    event_list_t list = {0};
    char *path = temp_path(name);
    cr_assert(read_events_file(&list, path), "no events file %s", path);
    free(path);
    return list;
}

/* The events of tmpdir/name and of its rotated files name.1 .. name.keep.
 * Returns how many files there were in *files. */
static event_list_t read_rotated_events(const char *name, int keep,
                                        int *files)
{
    event_list_t list = read_events(name);
    *files = 1;
    for (int i = 1; i <= keep; i++) {
        char rotated[256];
        snprintf(rotated, sizeof rotated, "%s.%d", name, i);
        char *path = temp_path(rotated);
        *files += read_events_file(&list, path);
        free(path);
    }
    return list;
}

/* Which events a count takes: 0, NULL or !has_value match anything. */
typedef struct match {
    long long pid;
    const char *socket;
    const char *socket_type;
    const char *event;
    bool has_value;
    long long value;
} match_t;

static bool matches(const event_line_t *e, const match_t *m)
{
    return (!m->pid || e->pid == m->pid) &&
           (!m->socket || strcmp(e->socket, m->socket) == 0) &&
           (!m->socket_type || strcmp(e->socket_type, m->socket_type) == 0) &&
           (!m->event || strcmp(e->event, m->event) == 0) &&
           (!m->has_value || e->value == m->value);
}

static size_t count_events(const event_list_t *list, match_t m)
{
    size_t n = 0;
    for (size_t i = 0; i < list->n; i++)
        n += matches(&list->at[i], &m);
    return n;
}

/* The events, one short line each (at most 300), for failure messages.
 * Static storage. */
static const char *describe(const event_list_t *list)
{
    static char text[300 * 96];
    size_t len = 0;
    text[0] = '\0';
    for (size_t i = 0; i < list->n && i < 300; i++) {
        const event_line_t *e = &list->at[i];
        len += (size_t)snprintf(text + len, sizeof text - len,
                                "  pid %lld seq %lld %s %s %s %lld\n", e->pid,
                                e->seq, e->socket, e->socket_type, e->event,
                                e->value);
    }
    return text;
}

/* Fails unless the events that m takes number exactly want. */
static void assert_count(const event_list_t *list, match_t m, size_t want)
{
    size_t n = count_events(list, m);
    cr_assert_eq(n, want,
                 "%zu events (pid %lld, socket %s, type %s, event %s), not "
                 "%zu, in:\n%s",
                 n, m.pid, m.socket ? m.socket : "*",
                 m.socket_type ? m.socket_type : "*",
                 m.event ? m.event : "*", want, describe(list));
}

/* Fails unless every socket of the list has exactly one monitor_stopped,
 * and there are `sockets` of them. */
static void assert_one_monitor_stopped_each(const event_list_t *list,
                                            size_t sockets)
{
    size_t distinct = 0;
    for (size_t i = 0; i < list->n; i++) {
        const event_line_t *e = &list->at[i];
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = list->at[j].pid == e->pid &&
                   strcmp(list->at[j].socket, e->socket) == 0;
        if (seen)
            continue;
        distinct++;
        assert_count(list,
                     (match_t){.pid = e->pid, .socket = e->socket,
                               .event = "monitor_stopped"},
                     1);
    }
    cr_assert_eq(distinct, sockets, "%zu sockets reported, not %zu:\n%s",
                 distinct, sockets, describe(list));
}

/* ---- programs that monitor their own sockets ---- */

/* own_monitor.py MODE: it sees what it sees alone; the sink has the
 * DEALER's events (all of them, whenever the program's monitor ran) and
 * one monitor_stopped per socket, whatever the program's monitor did. */
static void check_own_monitor(const char *mode, const char *const events[])
{
    char *config = file_sink_config("events.jsonl"), port[16];
    const char *args[] = {mode, port_text(port), NULL};
    free(run_as_without(&own_monitor, config, args));
    event_list_t list = read_events("events.jsonl");
    for (size_t i = 0; events[i]; i++)
        cr_assert_geq(count_events(&list, (match_t){.socket_type = "dealer",
                                                    .event = events[i]}),
                      1, "no %s of the dealer in:\n%s", events[i],
                      describe(&list));
    /* One connection, however the program's monitor came and went. */
    assert_count(&list,
                 (match_t){.socket_type = "dealer", .event = "connected"}, 1);
    assert_count(&list, (match_t){.socket_type = "pair"}, 0);
    assert_one_monitor_stopped_each(&list, 2);
    free(list.at);
    free(config);
}

Test(programs, own_monitor_started_before_connecting)
{
    static const char *const events[] = {"connected", "handshake_succeeded",
                                         NULL};
    check_own_monitor("before", events);
}

Test(programs, own_monitor_started_after_talking)
{
    static const char *const events[] = {"connected", "handshake_succeeded",
                                         "disconnected", "connect_retried",
                                         NULL};
    check_own_monitor("after", events);
}

Test(programs, own_monitor_started_again_at_the_same_address)
{
    static const char *const events[] = {"connected", "handshake_succeeded",
                                         NULL};
    check_own_monitor("again", events);
}

Test(programs, a_narrow_mask_replaced_then_disabled)
{
    char *config = file_sink_config("events.jsonl"), port[16];
    const char *args[] = {port_text(port), NULL};
    free(run_as_without(&mask_monitor, config, args));
    event_list_t list = read_events("events.jsonl");
    static const char *const dealer[] = {"connected", "disconnected",
                                         "connect_retried"};
    for (size_t i = 0; i < 3; i++)
        cr_assert_geq(count_events(&list, (match_t){.socket_type = "dealer",
                                                    .event = dealer[i]}),
                      1, "no %s of the dealer in:\n%s", dealer[i],
                      describe(&list));
    assert_count(&list, (match_t){.socket_type = "pair"}, 0);
    assert_one_monitor_stopped_each(&list, 2);
    free(list.at);
    free(config);
}

/* A monitor the program let go, its reader closed unread, keeps no name
 * the program binds again: pyzmq's, named after the socket's fd, for the
 * same socket; CZMQ's, named after the socket's address, for the next
 * socket, which often takes that address again. */
Test(programs, own_monitors_of_one_socket_one_after_another)
{
    char *config = file_sink_config("events.jsonl"), port[16];
    const char *args[] = {"reuse", port_text(port), NULL};
    char *output = run_as_without(&own_monitor, config, args);
    cr_assert_str_eq(output, "connected handshake_succeeded connected "
                             "handshake_succeeded connected "
                             "handshake_succeeded\n");
    free(output);
    free(config);
}

Test(programs, czmq_monitor_actors_of_sockets_one_after_another)
{
    char *config = file_sink_config("events.jsonl"), port[16];
    port_text(port);
    enum { CLIENTS = 5 };
    char clients[16], expected[CLIENTS * sizeof "CONNECTED\n"] = "";
    snprintf(clients, sizeof clients, "%d", CLIENTS);
    for (int i = 0; i < CLIENTS; i++)
        strcat(expected, "CONNECTED\n");
    const char *czmq_args[] = {port, "clients", clients, NULL};
    char *output = run_as_without(&czmq_monitor, config, czmq_args);
    cr_assert_str_eq(output, expected);
    free(output);
    free(config);
}

Test(programs, a_czmq_monitor_actor)
{
    char *config = file_sink_config("events.jsonl"), port[16];
    const char *args[] = {port_text(port), NULL};
    char *output = run_as_without(&czmq_monitor, config, args);
    cr_assert(strstr(output, "DISCONNECTED"), "%s", output);
    free(output);
    event_list_t list = read_events("events.jsonl");
    static const char *const router[] = {"listening", "accepted",
                                         "disconnected"};
    for (size_t i = 0; i < 3; i++)
        assert_count(&list,
                     (match_t){.socket_type = "router", .event = router[i]},
                     1);
    /* The actor's pipes and its monitor's reader are inproc PAIRs. */
    assert_count(&list, (match_t){.socket_type = "pair"}, 0);
    free(list.at);
    free(config);
}

/* ---- how programs end ---- */

/* exit_paths MODE under zmqsink run, ROUNDS times: it ends with code, in
 * time, every time. */
static void check_exit_path(const char *mode, int code, int rounds)
{
    char *config = file_sink_config("events.jsonl");
    char *out = temp_path("exit.out");
    const char *args[] = {mode, NULL};
    for (int i = 0; i < rounds; i++) {
        pid_t pid = rp_start(&exit_paths, config, NULL, args, out);
        rp_assert_exited(wait_bounded(pid, "under zmqsink run", out), code,
                         out);
    }
    free(out);
    free(config);
}

/* _exit() is what signal handlers call: zmqsink's last word there takes
 * no lock that the interrupted thread may hold. */
Test(programs, exit_from_a_signal_handler)
{
    check_exit_path("signal", 3, 8);
}

/* Other threads may be inside zmqsink while the process exits. */
Test(programs, exit_while_another_thread_terminates_a_context)
{
    check_exit_path("race", 0, 4);
}

/* However far behind the program's own monitor is, its last message is
 * monitor_stopped, as with libzmq alone. */
Test(programs, a_monitor_far_behind_still_ends_with_monitor_stopped)
{
    char *config = file_sink_config("events.jsonl");
    const char *args[] = {"behind", NULL};
    char *alone = run_ok(&exit_paths, NULL, NULL, args, "alone.out");
    cr_assert_str_eq(alone, "monitor_stopped last\n");
    /* zmqsink also says on stderr that events were lost to the monitor,
     * where libzmq alone would have held the program's networking. */
    char *with = run_ok(&exit_paths, config, NULL, args, "with.out");
    cr_assert(strstr(with, "monitor_stopped last\n"), "%s", with);
    cr_assert_null(strstr(with, "no monitor_stopped"), "%s", with);
    free(with);
    free(alone);
    free(config);
}

/* ---- what libzmq says to the program ---- */

Test(programs, failed_binds_keep_their_errno)
{
    char *config = file_sink_config("events.jsonl"), port[16];
    const char *args[] = {port_text(port), tmpdir, NULL};
    char *output = run_as_without(&bind_errors, config, args);
    static const char *const said[] = {
        "bound: 0 -", "unknown interface: -1 ENODEV",
        "ipc path too long: -1 ENAMETOOLONG", "port in use: -1 EADDRINUSE",
        "no transport: -1 EINVAL"};
    for (size_t i = 0; i < sizeof said / sizeof said[0]; i++)
        cr_assert(strstr(output, said[i]), "no \"%s\" in:\n%s", said[i],
                  output);
    free(output);
    event_list_t list = read_events("events.jsonl");
    static const long long errnos[] = {19, 36, 98}; /* ENODEV ... */
    for (size_t i = 0; i < 3; i++)
        assert_count(&list,
                     (match_t){.event = "bind_failed", .has_value = true,
                               .value = errnos[i]},
                     1);
    assert_count(&list, (match_t){.event = "bind_failed"}, 3);
    free(list.at);
    free(config);
}

static int compare_sockets(const void *a, const void *b)
{
    const event_line_t *x = *(event_line_t *const *)a;
    const event_line_t *y = *(event_line_t *const *)b;
    return x->pid != y->pid ? (x->pid > y->pid) - (x->pid < y->pid)
                            : strcmp(x->socket, y->socket);
}

/* How many sockets (pid and name) have events that m takes. */
static size_t count_sockets(const event_list_t *list, match_t m)
{
    const event_line_t **taken = calloc(list->n + 1, sizeof *taken);
    cr_assert_not_null(taken);
    size_t n = 0, distinct = 0;
    for (size_t i = 0; i < list->n; i++)
        if (matches(&list->at[i], &m))
            taken[n++] = &list->at[i];
    qsort(taken, n, sizeof *taken, compare_sockets);
    for (size_t i = 0; i < n; i++)
        distinct += i == 0 || compare_sockets(&taken[i - 1], &taken[i]) != 0;
    free(taken);
    return distinct;
}

/* 2000 dealers connecting at once overflow the router's listen backlog:
 * the kernel drops some connections, whose dealers report a failed
 * handshake, disconnected, and connect again. Every connection counts. */
Test(programs, two_thousand_sockets_within_the_programs_own_limit)
{
    char *config = file_sink_config("events.jsonl"), port[16];
    const char *args[] = {port_text(port), "2000", NULL};
    char *output = run_ok(&many_sockets, config, NULL, args, "run.out");
    cr_assert_str_eq(output, "2000 sockets ok\n");
    free(output);
    event_list_t list = read_events("events.jsonl");
    match_t connected = {.socket_type = "dealer", .event = "connected"};
    match_t dealer_handshake = {.socket_type = "dealer",
                                .event = "handshake_succeeded"};
    match_t accepted = {.socket_type = "router", .event = "accepted"};
    match_t router_handshake = {.socket_type = "router",
                                .event = "handshake_succeeded"};
    cr_assert_eq(count_sockets(&list, connected), 2000);
    cr_assert_eq(count_sockets(&list, dealer_handshake), 2000);
    assert_count(&list, dealer_handshake, 2000);
    assert_count(&list, router_handshake, 2000);
    size_t dropped = count_events(
        &list, (match_t){.socket_type = "dealer", .event = "disconnected"});
    assert_count(&list, connected, 2000 + dropped);
    size_t failed = count_events(
        &list, (match_t){.socket_type = "router",
                         .event = "handshake_failed_no_detail"});
    assert_count(&list, accepted, 2000 + failed);
    assert_one_monitor_stopped_each(&list, 2001);
    free(list.at);
    free(config);
}

/* ---- sinks that are slow or stuck ---- */

Test(programs, bind_and_connect_do_not_wait_for_a_sink_to_open)
{
    char *release = temp_path("release"), *out = temp_path("run.out");
    char *config = config_file("run.yaml",
                               "shutdown_timeout: 30s\n"
                               "sinks:\n"
                               "  - name: slow\n"
                               "    type: slow_open\n"
                               "    release_file: %s\n"
                               "    path: %s/slow.jsonl\n"
                               "    max_wait: 60s\n",
                               release, tmpdir);
    char port[16];
    const char *args[] = {port_text(port), "0", NULL};
    pid_t pid = rp_start(&app, config, NULL, args, out);
    /* The program binds, connects, talks, closes and says "done" while the
     * sink's open() still waits for the release file. */
    char *output = NULL;
    for (int waited = 0; waited < RUN_WAIT_MS; waited += 20) {
        free(output);
        output = th_read_file(out);
        if (output && strstr(output, "done\n"))
            break;
        cr_assert_eq(waitpid(pid, NULL, WNOHANG), 0,
                     "the program ended before saying done:\n%s",
                     output ? output : "(no output)");
        th_sleep_ms(20);
    }
    cr_assert(output && strstr(output, "done\n"),
              "no \"done\" while the sink's open() waited; output:\n%s",
              output ? output : "(none)");
    cr_assert_neq(access(release, F_OK), 0);
    free(th_write_file(tmpdir, "release", ""));
    rp_assert_exited(wait_bounded(pid, "under zmqsink run", out), 0, out);
    /* Events from before open() waited in the queue. */
    event_list_t list = read_events("slow.jsonl");
    assert_count(&list,
                 (match_t){.socket_type = "router", .event = "listening"}, 1);
    assert_count(&list,
                 (match_t){.socket_type = "router", .event = "accepted"}, 1);
    assert_count(&list,
                 (match_t){.socket_type = "dealer", .event = "connected"}, 1);
    free(list.at);
    free(output);
    free(config);
    free(out);
    free(release);
}

/* The number after "key": in text, or -1. */
static long long json_number_after(const char *text, const char *key)
{
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *at = text ? strstr(text, pattern) : NULL;
    return at ? strtoll(at + strlen(pattern), NULL, 10) : -1;
}

/* Runs many_sockets with nsockets sockets and zmqsink's options, under
 * `extra` top-level YAML and a sink 'stuck' that never returns from its
 * first write; asserts that it exits 0. Returns its output (the caller
 * frees it) and its pid in *pid. */
static char *run_stuck(const char *extra, const char **options,
                       const char *nsockets, pid_t *pid)
{
    char *config = config_file("run.yaml",
                               "%s"
                               "sinks:\n"
                               "  - name: stuck\n"
                               "    type: blocking\n"
                               "    release_file: %s/release\n"
                               "    max_wait: 10s\n",
                               extra, tmpdir);
    char port[16], ok[64];
    const char *args[] = {port_text(port), nsockets, NULL};
    char *out = temp_path("run.out");
    *pid = rp_start(&many_sockets, config, options, args, out);
    rp_assert_exited(wait_bounded(*pid, "under zmqsink run", out), 0, out);
    char *output = th_read_file(out);
    snprintf(ok, sizeof ok, "%s sockets ok\n", nsockets);
    cr_assert(strstr(output, ok), "%s", output);
    free(out);
    free(config);
    return output;
}

Test(programs, losses_are_said_on_stderr_and_in_the_stats_file)
{
    char *stats = temp_path("stats-{pid}.json");
    const char *options[] = {"--stats", stats, NULL};
    pid_t pid;
    char *output = run_stuck("queue: { capacity: 16 }\n"
                             "shutdown_timeout: 1s\n"
                             "stats: { interval: 200ms }\n",
                             options, "50", &pid);
    const char *summary = strstr(output, "zmqsink: warning: sink 'stuck': ");
    while (summary && !strstr(summary, "events delivered, "))
        summary = strstr(summary + 1, "zmqsink: warning: sink 'stuck': ");
    cr_assert(summary && strstr(summary, "dropped (queue full)"),
              "no last word on the sink at exit:\n%s", output);

    char name[64];
    snprintf(name, sizeof name, "stats-%ld.json", (long)pid);
    char *path = temp_path(name);
    char *json = th_read_file(path);
    cr_assert_not_null(json, "no stats file %s", path);
    const char *sink = strstr(json, "{\"name\":\"stuck\"");
    cr_assert_not_null(sink, "%s", json);
    cr_assert_gt(json_number_after(sink, "dropped_full"), 0, "%s", json);
    cr_assert_eq(json_number_after(json, "pid"), (long long)pid, "%s", json);
    /* Said while the program ran, not only in the last word. */
    const char *lost = strstr(output, "zmqsink: warning: sink 'stuck': lost ");
    cr_assert(lost, "no loss said while the program ran:\n%s", output);
    cr_assert(strstr(lost, "dropped (queue of 16 full)"), "%s", output);
    free(json);
    free(path);
    free(output);
    free(stats);
}

/* No stats file and no loss while the program ran: no report thread
 * ever started, and the last word at exit is still said. */
Test(programs, a_stuck_sink_is_said_at_exit_without_a_stats_file)
{
    pid_t pid;
    char *output = run_stuck("shutdown_timeout: 300ms\n", NULL, "5", &pid);
    cr_assert_null(strstr(output, " lost "), "%s", output);
    const char *prefix = "zmqsink: warning: sink 'stuck': 0 events delivered, "
                         "0 dropped (queue full), ";
    const char *summary = strstr(output, prefix);
    cr_assert_not_null(summary, "no last word on the sink at exit:\n%s",
                       output);
    cr_assert_gt(strtoll(summary + strlen(prefix), NULL, 10), 0, "%s", output);
    cr_assert(strstr(summary, " not delivered within shutdown_timeout, 0 "
                              "failed\n"),
              "%s", output);
    free(output);
}

/* ---- processes: pre-fork servers and executed children ---- */

#define WORKERS 3
#define ROTATED_KEEP 100

/* The worker pids that prefork.py printed, and its "done". */
static void parse_workers(const char *output, long long workers[WORKERS])
{
    size_t n = 0;
    for (const char *at = output; (at = strstr(at, "worker ")); at++) {
        cr_assert_lt(n, WORKERS, "more workers than %d:\n%s", WORKERS, output);
        workers[n++] = strtoll(at + 7, NULL, 10);
    }
    cr_assert_eq(n, WORKERS, "%s", output);
    cr_assert(strstr(output, "done\n"), "%s", output);
}

/* Each process's seqs in the file are 1..N once each (none lost, none
 * twice); returns N of pid. */
static long long assert_seqs_whole(const event_list_t *list, long long pid)
{
    long long last = 0;
    for (size_t i = 0; i < list->n; i++)
        if (list->at[i].pid == pid && list->at[i].seq > last)
            last = list->at[i].seq;
    cr_assert_gt(last, 0, "no events of pid %lld:\n%s", pid, describe(list));
    for (long long seq = 1; seq <= last; seq++) {
        size_t n = 0;
        for (size_t i = 0; i < list->n; i++)
            n += list->at[i].pid == pid && list->at[i].seq == seq;
        cr_assert_eq(n, 1, "pid %lld: seq %lld is in the files %zu times",
                     pid, seq, n);
    }
    return last;
}

/* The http server got each process's events exactly once: the seqs it
 * was delivered (one key counted once) are, as a multiset, 1..last[i] for
 * each process i. */
static void assert_http_delivered(const hp_server_t *http,
                                  const long long last[], size_t processes,
                                  const char *output)
{
    size_t n, delivered;
    hp_request_t *r = hp_requests(http, &n);
    for (size_t i = 0; i < n; i++) {
        cr_assert_str_empty(r[i].error, "request %d: %s", r[i].n, r[i].error);
        cr_assert_eq(r[i].answer[0], '2', "request %d answered %s", r[i].n,
                     r[i].answer);
    }
    uint64_t *seqs = hp_delivered_seqs(r, n, &delivered);
    long long most = 0, total = 0;
    for (size_t p = 0; p < processes; p++) {
        most = last[p] > most ? last[p] : most;
        total += last[p];
    }
    cr_assert_eq((long long)delivered, total,
                 "the server got %zu events in %zu requests, the processes "
                 "%lld; the program said:\n%s",
                 delivered, n, total, output);
    for (long long seq = 1; seq <= most; seq++) {
        size_t want = 0, got = 0;
        for (size_t p = 0; p < processes; p++)
            want += last[p] >= seq;
        for (size_t i = 0; i < delivered; i++)
            got += seqs[i] == (uint64_t)seq;
        cr_assert_eq(got, want, "seq %lld delivered %zu times, not %zu", seq,
                     got, want);
    }
    free(seqs);
    hp_requests_free(r, n);
}

/* statsd's counter of event on socket holds what the files have of it,
 * summed over every process (absent when they have none). */
static void assert_statsd_counts(const char *counters,
                                 const event_list_t *list, const char *socket)
{
    static const char *const events[] = {
        "listening", "accepted", "connected", "connect_delayed",
        "connect_retried", "handshake_succeeded", "disconnected", "closed",
        "monitor_stopped"};
    for (size_t i = 0; i < sizeof events / sizeof events[0]; i++) {
        size_t want = count_events(
            list, (match_t){.socket = socket, .event = events[i]});
        char key[256];
        sp_counter_key(false, key, sizeof key, socket, events[i]);
        double v = 0;
        bool found = sp_dump_number(counters, key, &v);
        cr_assert(want ? found && v == (double)want : !found,
                  "statsd has %s %s (%g), the files %zu:\n%s", key,
                  found ? "present" : "absent", v, want, counters);
    }
}

/* The gauge key of statsd holds 0 (the socket was closed at the end). */
static void assert_gauge_zero(const char *gauges, const char *key)
{
    double v = -1;
    cr_assert(sp_dump_number(gauges, key, &v), "no gauge %s:\n%s", key,
              gauges);
    cr_assert_eq(v, 0, "%s is %g:\n%s", key, v, gauges);
}

/* What statsd holds after the pre-fork server: a gauge per worker process
 * for `worker`, the plain gauge of the parent for `front`, and counters
 * that add up over every process. */
static void assert_statsd_prefork(const sp_daemon_t *daemon,
                                  const event_list_t *list, long long parent,
                                  const long long workers[WORKERS])
{
    cr_assert(sp_caught_up(daemon, "test.done"), "statsd did not catch up");
    char *gauges = sp_admin(daemon, "gauges");
    char *counters = sp_admin(daemon, "counters");
    cr_assert(gauges && counters, "statsd's admin port did not answer");
    char key[256];
    for (size_t i = 0; i < WORKERS; i++) {
        sp_process_gauge_key(false, key, sizeof key, "worker",
                             (pid_t)workers[i]);
        assert_gauge_zero(gauges, key);
    }
    sp_socket_key(false, key, sizeof key, "worker", "connections");
    cr_assert_eq(sp_count_keys(gauges, key), WORKERS,
                 "not one worker gauge per worker:\n%s", gauges);
    cr_assert(!strstr(gauges, "'zmq.worker.connections':"),
              "the parent has no worker socket:\n%s", gauges);
    sp_socket_key(false, key, sizeof key, "front", "connections");
    assert_gauge_zero(gauges, key);
    sp_process_gauge_key(false, key, sizeof key, "front", (pid_t)parent);
    cr_assert(!strstr(gauges, key), "the parent's gauge named by pid:\n%s",
              gauges);
    assert_statsd_counts(counters, list, "worker");
    assert_statsd_counts(counters, list, "front");
    double v;
    cr_assert(sp_dump_number(counters, "zmq.front.accepted", &v) &&
                  v == WORKERS,
              "%s", counters);
    cr_assert(sp_dump_number(counters, "statsd.bad_lines_seen", &v) && v == 0,
              "statsd saw bad lines:\n%s", counters);
    free(gauges);
    free(counters);
}

/* prefork.py MODE with WORKERS workers under a config with a rotating
 * file sink, an http sink and a statsd sink: it ends in time, and every
 * process's events reach every sink, once. */
static void check_prefork(const char *mode)
{
    /* The ASan runtime of GCC 12 takes no lock of its allocator around
     * fork(): a child forked while another thread allocates can hang in
     * its first malloc, as any multithreaded program under it can. The
     * plain and v2 suites run these tests. */
    if (rp_asan_runtime())
        cr_skip_test("fork in a multithreaded process under GCC 12's ASan "
                     "runtime can hang the child in malloc");
    char *http_dir = temp_path("http"), *spool = temp_path("spool");
    cr_assert_eq(mkdir(http_dir, 0700), 0);
    hp_start(&server, http_dir, 0);
    sp_start(&statsd, tmpdir);
    char *config = config_file(
        "run.yaml",
        "shutdown_timeout: 10s\n"
        "sockets:\n"
        "  - { match: \"tcp://localhost:*\", name: worker }\n"
        "  - { match: \"tcp://127.0.0.1:*\", name: front }\n"
        "sinks:\n"
        "  - name: events\n"
        "    type: file\n"
        "    path: %s/events.jsonl\n"
        "    format: json\n"
        "    rotate: { max_size: 1KiB, keep: %d }\n"
        "  - name: hook\n"
        "    type: http\n"
        "    url: %s\n"
        "    batch: { max_events: 4, max_delay: 100ms }\n"
        "    spool: { dir: %s }\n"
        "  - name: metrics\n"
        "    type: statsd\n"
        "    address: 127.0.0.1:%d\n"
        "    flush_interval: 100ms\n",
        tmpdir, ROTATED_KEEP, hp_url(&server), spool, statsd.port);
    char port[16], workers_text[16];
    snprintf(workers_text, sizeof workers_text, "%d", WORKERS);
    const char *args[] = {mode, port_text(port), workers_text, NULL};
    char *out = temp_path("run.out");
    pid_t pid = rp_start(&prefork, config, NULL, args, out);
    /* Before this work, a pre-fork program hung here forever. */
    rp_assert_exited(wait_bounded(pid, "under zmqsink run", out), 0, out);
    char *output = th_read_file(out);
    long long workers[WORKERS], parent = pid;
    parse_workers(output, workers);

    int files;
    event_list_t list = read_rotated_events("events.jsonl", ROTATED_KEEP,
                                            &files);
    cr_assert_gt(files, 2, "the file was not rotated: %d files", files);
    long long last[WORKERS + 1];
    for (size_t i = 0; i < WORKERS; i++) {
        match_t worker = {.pid = workers[i], .socket = "worker",
                          .socket_type = "dealer"};
        static const char *const events[] = {"connected",
                                             "handshake_succeeded",
                                             "monitor_stopped"};
        for (size_t k = 0; k < 3; k++) {
            worker.event = events[k];
            assert_count(&list, worker, 1);
        }
        last[i] = assert_seqs_whole(&list, workers[i]);
    }
    assert_count(&list,
                 (match_t){.pid = parent, .socket = "front",
                           .socket_type = "router", .event = "listening"},
                 1);
    assert_count(&list,
                 (match_t){.pid = parent, .socket = "front",
                           .socket_type = "router", .event = "accepted"},
                 WORKERS);
    last[WORKERS] = assert_seqs_whole(&list, parent);
    /* No process other than these reported anything. */
    size_t theirs = 0;
    for (size_t p = 0; p <= WORKERS; p++)
        theirs += (size_t)last[p];
    cr_assert_eq(list.n, theirs, "events of other processes:\n%s",
                 describe(&list));

    assert_http_delivered(&server, last, WORKERS + 1, output);
    assert_statsd_prefork(&statsd, &list, parent, workers);

    free(list.at);
    free(output);
    free(out);
    free(config);
    free(spool);
    free(http_dir);
}

Test(programs, prefork_server_with_os_fork)
{
    check_prefork("fork");
}

Test(programs, prefork_server_with_multiprocessing)
{
    check_prefork("multiprocessing");
}

/* exec_child.py runs app as its child: the pids it printed. */
static void parse_parent_and_child(const char *output, long long *parent,
                                   long long *child)
{
    const char *p = strstr(output, "parent "), *c = strstr(output, "child ");
    cr_assert(p && c && strstr(output, "child exited 0\n") &&
                  strstr(output, "done\n"),
              "%s", output);
    *parent = strtoll(p + 7, NULL, 10);
    *child = strtoll(c + 6, NULL, 10);
    cr_assert(*parent > 0 && *child > 0 && *parent != *child, "%s", output);
}

/* Runs exec_child.py with app as its child, with the given options;
 * returns the events of the run and the two pids. */
static event_list_t run_exec_child(const char *events,
                                   const char *const options[],
                                   long long *parent, long long *child)
{
    char out_name[64];
    snprintf(out_name, sizeof out_name, "%s.out", events);
    char *config = file_sink_config(events), port[16];
    char app_path[1024];
    snprintf(app_path, sizeof app_path, "%s/run/app",
             getenv("ZMQSINK_TEST_BUILDDIR"));
    const char *args[] = {app_path, port_text(port), "0", NULL};
    char *output = run_ok(&exec_child, config, options, args, out_name);
    parse_parent_and_child(output, parent, child);
    free(output);
    free(config);
    return read_events(events);
}

Test(programs, executed_children_are_monitored_unless_no_children)
{
    long long parent, child;
    event_list_t list = run_exec_child("all.jsonl", NULL, &parent, &child);
    match_t parents_own = {.socket_type = "push", .event = "listening"};
    match_t childs[] = {{.socket_type = "router", .event = "listening"},
                        {.socket_type = "router", .event = "accepted"},
                        {.socket_type = "dealer", .event = "connected"}};
    parents_own.pid = parent;
    assert_count(&list, parents_own, 1);
    for (size_t i = 0; i < sizeof childs / sizeof childs[0]; i++) {
        childs[i].pid = child;
        assert_count(&list, childs[i], 1);
    }
    free(list.at);

    const char *options[] = {"--no-children", NULL};
    list = run_exec_child("parent.jsonl", options, &parent, &child);
    parents_own.pid = parent;
    assert_count(&list, parents_own, 1);
    assert_count(&list, (match_t){.pid = child}, 0);
    free(list.at);
}
