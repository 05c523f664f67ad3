/* Tests of `zmqsink run`: an unmodified program, linked with libzmq alone,
 * run through the preload library; its events and socket names reach a
 * file sink, and its exit status and signals are its own. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "helpers.h"

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

/* Runs the test app under `zmqsink run -c config`; returns its wait
 * status. */
static int run_with(const char *config, const char *exit_code,
                    const char *signal_number)
{
    char app[600], port[16], out[600];
    snprintf(app, sizeof app, "%s/run/app", getenv("ZMQSINK_TEST_BUILDDIR"));
    snprintf(port, sizeof port, "%d", th_free_port());
    snprintf(out, sizeof out, "%s/run.out", tmpdir);
    char *argv[] = {getenv("ZMQSINK_BIN"), "run", "-c", (char *)config, "--",
                    app, port, (char *)exit_code, (char *)signal_number, NULL};
    pid_t pid = th_spawn(argv, out);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return status;
}

/* The same with a config naming the bound socket "frontend". */
static int run_app(const char *exit_code, const char *signal_number)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "sockets:\n"
             "  - { match: \"tcp://127.0.0.1:*\", name: frontend }\n"
             "sinks:\n"
             "  - { name: events, type: file, path: %s/events.jsonl, "
             "format: json }\n",
             tmpdir);
    char *config = th_write_file(tmpdir, "run.yaml", yaml);
    int status = run_with(config, exit_code, signal_number);
    free(config);
    return status;
}

static char *events_text(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/events.jsonl", tmpdir);
    char *text = th_read_file(path);
    cr_assert_not_null(text, "no events file");
    return text;
}

Test(run, attaches_to_an_unmodified_program)
{
    int status = run_app("3", NULL);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 3,
              "the program's exit status passes through (status %#x)",
              status);
    char *text = events_text();
    const char *expected[] = {
        "\"event\":\"listening\",\"severity\":\"info\",\"socket\":\"frontend\"",
        "\"event\":\"accepted\",\"severity\":\"info\",\"socket\":\"frontend\"",
        "\"event\":\"connected\",\"severity\":\"info\",\"socket\":\"frontend\"",
        "\"event\":\"monitor_stopped\",\"severity\":\"info\",\"socket\":\"frontend\"",
    };
    /* The dealer connects to an endpoint that the rule matches too. */
    for (size_t i = 0; i < sizeof expected / sizeof *expected; i++)
        cr_assert_not_null(strstr(text, expected[i]), "missing %s in:\n%s",
                           expected[i], text);
    cr_assert_not_null(strstr(text, "\"socket_type\":\"router\""), "%s", text);
    cr_assert_not_null(strstr(text, "\"socket_type\":\"dealer\""), "%s", text);
    free(text);
}

Test(run, unmatched_sockets_are_named_by_type)
{
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "sinks:\n  - { name: events, type: file, path: %s/events.jsonl, "
             "format: json }\n",
             tmpdir);
    char *config = th_write_file(tmpdir, "plain.yaml", yaml);
    int status = run_with(config, "0", NULL);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char *text = events_text();
    cr_assert_not_null(strstr(text, "\"event\":\"listening\",\"severity\":"
                                    "\"info\",\"socket\":\"router-1\""),
                       "%s", text);
    cr_assert_not_null(strstr(text, "\"event\":\"monitor_stopped\",\"severity\":"
                                    "\"info\",\"socket\":\"dealer-1\""),
                       "%s", text);
    free(text);
    free(config);
}

Test(run, a_signal_passes_through)
{
    int status = run_app("0", "15");
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
