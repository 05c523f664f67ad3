/* The zmqsink command as a user runs it: check, demo, events, and the exit
 * status contract (0 ok, 1 runtime or config error, 2 usage). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "helpers.h"

TestSuite(cli, .timeout = 120);

static char *dir;

static void setup(void)
{
    dir = th_tempdir();
}

static void teardown(void)
{
    th_remove_tree(dir);
    free(dir);
}

/* Runs `zmqsink ARGS`, capturing stdout and stderr; returns the exit
 * status. */
static int run(const char *args, char **out, char **err)
{
    const char *bin = getenv("ZMQSINK_BIN");
    cr_assert_not_null(bin, "ZMQSINK_BIN is not set (run through make check)");
    char command[8192];
    snprintf(command, sizeof command, "%s %s >%s/out 2>%s/err", bin, args, dir,
             dir);
    int status = system(command);
    char path[4200];
    snprintf(path, sizeof path, "%s/out", dir);
    *out = th_read_file(path);
    snprintf(path, sizeof path, "%s/err", dir);
    *err = th_read_file(path);
    cr_assert(WIFEXITED(status), "%s did not exit normally", command);
    return WEXITSTATUS(status);
}

/* Runs `zmqsink ARGS`: it must exit 0 with each of the n strings of
 * expected in its stdout. */
static void assert_run_says(const char *args, const char *const expected[],
                            size_t n)
{
    char *out, *err;
    cr_assert_eq(run(args, &out, &err), 0, "stderr: %s", err);
    for (size_t i = 0; i < n; i++)
        cr_assert_not_null(strstr(out, expected[i]), "no '%s' in:\n%s",
                           expected[i], out);
    free(out);
    free(err);
}

Test(cli, check_good_file_describes_what_would_run, .init = setup,
     .fini = teardown)
{
    char *config = th_write_file(dir, "good.yaml",
                                 "sinks:\n"
                                 "  - name: events\n"
                                 "    type: file\n"
                                 "    path: /nonexistent/dir/events.jsonl\n"
                                 "    events: errors\n");
    char args[4200], *out, *err;
    snprintf(args, sizeof args, "check %s", config);
    /* Opens nothing: the missing directory is not noticed. */
    cr_assert_eq(run(args, &out, &err), 0, "stderr: %s", err);
    cr_assert_not_null(strstr(out, ": ok\n"), "%s", out);
    cr_assert_not_null(strstr(out, "sink 'events': type file ("), "%s", out);
    cr_assert_not_null(strstr(out, "events: bind_failed, accept_failed"),
                       "%s", out);
    cr_assert_str_empty(err);
    free(out);
    free(err);
    free(config);
}

Test(cli, check_bad_file_names_line_and_column, .init = setup,
     .fini = teardown)
{
    char *config = th_write_file(dir, "bad.yaml",
                                 "sinks:\n"
                                 "  - name: events\n"
                                 "    type: file\n"
                                 "    path: \"-\"\n"
                                 "    format: yaml\n");
    char args[4200], expected[4200], *out, *err;
    snprintf(args, sizeof args, "check %s", config);
    cr_assert_eq(run(args, &out, &err), 1);
    snprintf(expected, sizeof expected, "%s:5:13: ", config);
    cr_assert_eq(strncmp(err, expected, strlen(expected)), 0, "%s", err);
    cr_assert_not_null(strstr(err, "json"), "lists the choices: %s", err);
    cr_assert_str_empty(out, "nothing described for a bad file");
    free(out);
    free(err);
    free(config);
}

Test(cli, usage_errors_exit_2, .init = setup, .fini = teardown)
{
    static const char *const cases[] = {"", "frobnicate", "check",
                                        "check a b", "demo -d -1",
                                        "demo -d soon", "events extra"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out, *err;
        cr_assert_eq(run(cases[i], &out, &err), 2, "zmqsink %s", cases[i]);
        cr_assert_not_null(strstr(err, "zmqsink"), "%s: %s", cases[i], err);
        free(out);
        free(err);
    }
}

/* Usage errors found while the options are read, each said with what to
 * fix and one pointer to the usage that applies. */
Test(cli, option_errors_say_what_to_fix_and_where_the_usage_is,
     .init = setup, .fini = teardown)
{
    static const struct {
        const char *args, *said;
    } cases[] = {
        {"run --stats= -- true",
         "zmqsink: run: -s/--stats takes a FILE, not an empty string\n"
         "(see zmqsink run --help)\n"},
        {"run -c a.yaml -c b.yaml -- true",
         "zmqsink: run: -c/--config given twice\n"},
        {"run -c a.yaml --config=b.yaml -- true",
         "zmqsink: run: -c/--config given twice\n"},
        {"watch -c '' tcp://127.0.0.1:1",
         "zmqsink: watch: -c/--config takes a FILE, not an empty string\n"},
        {"demo -c a.yaml -c b.yaml", "zmqsink: demo: -c/--config given twice\n"},
        {"demo -d 0", "-d takes seconds, more than 0 and at most 3600, "
                      "not '0'\n(see zmqsink demo --help)\n"},
        {"run -x -- true", "(see zmqsink run --help)\n"},
        {"watch --frobnicate", "(see zmqsink watch --help)\n"},
        {"demo -x", "(see zmqsink demo --help)\n"},
        {"frobnicate", "(see zmqsink --help)\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out, *err;
        cr_assert_eq(run(cases[i].args, &out, &err), 2, "zmqsink %s: %s",
                     cases[i].args, err);
        cr_assert_not_null(strstr(err, cases[i].said), "zmqsink %s: %s",
                           cases[i].args, err);
        cr_assert_eq(th_count(err, "see zmqsink"), 1, "zmqsink %s: %s",
                     cases[i].args, err);
        free(out);
        free(err);
    }
}

Test(cli, help_and_version, .init = setup, .fini = teardown)
{
    static const char *const cases[] = {"--help", "--version", "demo --help",
                                        "check --help", "events --help"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out, *err;
        cr_assert_eq(run(cases[i], &out, &err), 0, "zmqsink %s", cases[i]);
        cr_assert_gt(strlen(out), 10u, "zmqsink %s printed nothing", cases[i]);
        free(out);
        free(err);
    }
}

Test(cli, events_lists_every_event, .init = setup, .fini = teardown)
{
    char *out, *err;
    cr_assert_eq(run("events", &out, &err), 0);
    for (uint32_t bit = 1; bit <= ZMQSINK_EVENT_ALL; bit <<= 1)
        cr_assert_not_null(strstr(out, zmqsink_event_name(bit)), "%s missing",
                           zmqsink_event_name(bit));
    /* The reasons each type can carry, and none for a retry interval. */
    static const char *const reasons[] = {
        "ZMTP_MECHANISM_MISMATCH", "ZAP_INVALID_STATUS_CODE", "ZAP_300",
        "ZAP_400", "ZAP_500", "EADDRINUSE", "PROTOCOL_ERROR_0x<code>",
    };
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        cr_assert_not_null(strstr(out, reasons[i]), "%s missing:\n%s",
                           reasons[i], out);
    const char *retried = strstr(out, "connect_retried");
    cr_assert_not_null(retried);
    const char *retried_reason = strstr(retried, "reason: ");
    cr_assert_not_null(retried_reason);
    cr_assert_eq(strncmp(retried_reason, "reason: none.", 13), 0, "%.40s",
                 retried_reason);
    free(out);
    free(err);
}

Test(cli, demo_shows_the_scene_and_a_summary, .init = setup,
     .fini = teardown)
{
    static const char *const expected[] = {
        "server(router) listening",  "server(router) accepted",
        "(dealer) connected",        "server(router) disconnected",
        "retrier(dealer) connect_retried",
        "server(router) handshake_failed_protocol",
        "events by type:",           "console",
    };
    assert_run_says("demo -d 1", expected,
                    sizeof expected / sizeof expected[0]);
}

Test(cli, demo_with_config_writes_the_sink_and_counts_it, .init = setup,
     .fini = teardown)
{
    char yaml[4400];
    snprintf(yaml, sizeof yaml,
             "sinks:\n  - name: jsonl\n    type: file\n"
             "    path: events.jsonl\n    format: json\n");
    char *config = th_write_file(dir, "demo.yaml", yaml);
    char args[4200], *out, *err;
    snprintf(args, sizeof args, "demo -c %s -d 1", config);
    cr_assert_eq(run(args, &out, &err), 0, "stderr: %s", err);
    char path[4200];
    snprintf(path, sizeof path, "%s/events.jsonl", dir);
    char *lines = th_read_file(path);
    cr_assert_not_null(lines, "relative path resolved against the config");
    size_t n = 0;
    for (char *p = lines; (p = strchr(p, '\n')); p++)
        n++;
    char row[128];
    snprintf(row, sizeof row, "jsonl            file       %10zu", n);
    cr_assert_not_null(strstr(out, row), "summary '%s' missing in:\n%s", row,
                       out);
    cr_assert_not_null(strstr(lines, "\"event\":\"accepted\""));
    free(lines);
    free(out);
    free(err);
    free(config);
}

/* Run from its build tree with neither ZMQSINK_PLUGIN_DIR nor
 * ZMQSINK_PRELOAD set, as scripts/demo runs it, the command finds the
 * plugin of every built-in sink in that build, and the demo opens them all
 * (statsd, syslog over udp and http send to free loopback ports). */
/* A tcp syslog server that never answers: the summary shows nothing
 * delivered, and every event the sink was routed dropped or failed. */
Test(cli, demo_summary_counts_nothing_delivered_without_a_server,
     .init = setup, .fini = teardown)
{
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "shutdown_timeout: 300ms\n"
             "sinks:\n  - name: sys\n    type: syslog\n"
             "    transport: tcp\n    address: 127.0.0.1:%d\n",
             th_free_port());
    char *config = th_write_file(dir, "demo.yaml", yaml);
    char args[4200], *out, *err;
    snprintf(args, sizeof args, "demo -c %s -d 1", config);
    cr_assert_eq(run(args, &out, &err), 0, "stderr: %s", err);
    char *row = strstr(out, "  sys ");
    cr_assert_not_null(row, "no summary row in:\n%s", out);
    char name[64], type[32];
    unsigned long long delivered, pending, dropped, failed;
    cr_assert_eq(sscanf(row, "%63s %31s %llu %llu %llu %llu", name, type,
                        &delivered, &pending, &dropped, &failed),
                 6, "%s", row);
    cr_assert_str_eq(type, "syslog");
    cr_assert_eq(delivered, 0, "%s", out);
    cr_assert_eq(pending, 0, "after shutdown nothing is held: %s", out);
    cr_assert_gt(dropped + failed, 0, "%s", out);
    free(config);
    free(out);
    free(err);
}

Test(cli, uninstalled_command_finds_every_built_in_plugin, .init = setup,
     .fini = teardown)
{
    cr_assert_eq(unsetenv("ZMQSINK_PLUGIN_DIR"), 0);
    cr_assert_eq(unsetenv("ZMQSINK_PRELOAD"), 0);
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "shutdown_timeout: 1s\n"
             "sinks:\n"
             "  - { name: f, type: file, path: events.jsonl }\n"
             "  - { name: sl, type: syslog, transport: udp, "
             "address: \"127.0.0.1:%d\" }\n"
             "  - { name: sd, type: statsd, address: \"127.0.0.1:%d\" }\n"
             "  - { name: web, type: http, url: \"http://127.0.0.1:%d/\" }\n",
             th_free_port(), th_free_port(), th_free_port());
    char *config = th_write_file(dir, "sinks.yaml", yaml);
    char args[4200];
    snprintf(args, sizeof args, "check %s", config);
    static const char *const found[] = {
        "sink 'f': type file (", "/plugins/file/.libs/file.so)",
        "sink 'sl': type syslog (", "/plugins/syslog/.libs/syslog.so)",
        "sink 'sd': type statsd (", "/plugins/statsd/.libs/statsd.so)",
        "sink 'web': type http (", "/plugins/http/.libs/http.so)",
    };
    assert_run_says(args, found, sizeof found / sizeof found[0]);
    snprintf(args, sizeof args, "demo -c %s -d 1", config);
    static const char *const rows[] = {"f                file",
                                       "sl               syslog",
                                       "sd               statsd",
                                       "web              http"};
    assert_run_says(args, rows, sizeof rows / sizeof rows[0]);
    free(config);
}
