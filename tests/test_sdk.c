/* The plugin SDK from outside: plugins built with pkg-config alone against
 * this build installed with `make install DESTDIR=tests/sdk-root` (done by
 * `make check` before the tests run), loaded by that tree's own `zmqsink
 * demo`: the Prometheus example with its Makefile and example.yaml, and
 * the minimal plugin printed in zmqsink/plugin.h. */
#include <criterion/criterion.h>
#include <limits.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

TestSuite(sdk, .timeout = 300);

static char *dir;       /* scratch, per test */
static char root[PATH_MAX];      /* the DESTDIR tree */
static char plugindir[PATH_MAX]; /* in the tree, as pkg-config says */
static char bin[PATH_MAX];       /* the tree's zmqsink */

/* Runs a shell command (a printf format) in cwd with its output in
 * dir/log, readable with run_output(); fails the test with that output
 * unless it exits with 0. */
static void run(const char *cwd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The output of the last run(). Caller frees. */
static char *run_output(void)
{
    char log[PATH_MAX];
    snprintf(log, sizeof log, "%s/log", dir);
    char *text = th_read_file(log);
    return text ? text : strdup("");
}

static void run(const char *cwd, const char *fmt, ...)
{
    char command[8192], shell[8192 + 2 * PATH_MAX + 32], log[PATH_MAX];
    va_list args;
    va_start(args, fmt);
    vsnprintf(command, sizeof command, fmt, args);
    va_end(args);
    snprintf(log, sizeof log, "%s/log", dir);
    snprintf(shell, sizeof shell, "cd '%s' && { %s; } >'%s' 2>&1", cwd,
             command, log);
    int status = system(shell);
    cr_assert(WIFEXITED(status), "%s: killed", command);
    if (WEXITSTATUS(status) != 0) {
        char *output = run_output();
        cr_assert_fail("`%s` in %s exited with %d:\n%s", command, cwd,
                       WEXITSTATUS(status), output);
        free(output);
    }
}

/* The first line of the last run()'s output into buf. */
static void first_line(char *buf, size_t cap)
{
    char *text = run_output();
    text[strcspn(text, "\n")] = '\0';
    snprintf(buf, cap, "%s", text);
    free(text);
}

/* Prepends value to the colon-separated list in the variable name. */
static void env_prepend(const char *name, const char *value)
{
    const char *old = getenv(name);
    char joined[8192];
    snprintf(joined, sizeof joined, "%s%s%s", value, old && *old ? ":" : "",
             old && *old ? old : "");
    setenv(name, joined, 1);
}

/* Points pkg-config, the dynamic linker and the plugin search at the tree
 * that `make check` installed, and finds its zmqsink. */
static void setup(void)
{
    dir = th_tempdir();
    const char *builddir = getenv("ZMQSINK_TEST_BUILDDIR");
    cr_assert_not_null(builddir, "run through make check");
    snprintf(root, sizeof root, "%s/sdk-root", builddir);
    char stamp[PATH_MAX + 16];
    snprintf(stamp, sizeof stamp, "%s/installed", root);
    cr_assert_eq(access(stamp, F_OK), 0,
                 "%s is missing: `make check` installs it", stamp);
    /* The example's make must not join the jobserver of make check. */
    unsetenv("MAKEFLAGS");
    unsetenv("MFLAGS");
    unsetenv("MAKELEVEL");
    setenv("PKG_CONFIG_SYSROOT_DIR", root, 1);
    run(root, "find \"$PWD\" -name zmqsink.pc | head -n 1");
    char pc[PATH_MAX];
    first_line(pc, sizeof pc);
    cr_assert_not_null(strrchr(pc, '/'), "no zmqsink.pc in %s", root);
    *strrchr(pc, '/') = '\0';
    env_prepend("PKG_CONFIG_PATH", pc);
    run(root, "pkg-config --variable=plugindir zmqsink");
    first_line(plugindir, sizeof plugindir);
    run(root, "pkg-config --variable=libdir zmqsink");
    char libdir[PATH_MAX];
    first_line(libdir, sizeof libdir);
    env_prepend("LD_LIBRARY_PATH", libdir);
    setenv("ZMQSINK_PLUGIN_DIR", plugindir, 1);
    run(root, "find \"$PWD\" -path '*/bin/zmqsink' | head -n 1");
    first_line(bin, sizeof bin);
    cr_assert_eq(access(bin, X_OK), 0, "no bin/zmqsink in %s", root);
}

static void teardown(void)
{
    th_remove_tree(dir);
    free(dir);
}

/* ---- the demo's own account of what happened ---- */

typedef struct tally {
    uint64_t by_type[ZMQSINK_EVENT_TYPES];
    uint64_t delivered; /* by the sink asked for */
} tally_t;

/* Reads the summary `zmqsink demo` ends with: the counts under "events by
 * type:" and the delivered column of the sink called sink. */
static tally_t demo_summary(const char *output, const char *sink)
{
    tally_t tally = {{0}, 0};
    const char *types = strstr(output, "\nevents by type:\n");
    const char *sinks = types ? strstr(types, "\nsinks:\n") : NULL;
    cr_assert(types && sinks, "no summary in:\n%s", output);
    char name[64];
    unsigned long long count;
    for (const char *line = strchr(types + 1, '\n') + 1; line < sinks;
         line = strchr(line, '\n') + 1) {
        cr_assert_eq(sscanf(line, " %63s %llu", name, &count), 2, "%s", line);
        uint32_t type = zmqsink_event_from_name(name);
        cr_assert_neq(type, 0u, "unknown event '%s'", name);
        tally.by_type[__builtin_ctz(type)] = count;
    }
    char row[128];
    snprintf(row, sizeof row, "\n  %s ", sink);
    const char *at = strstr(sinks, row);
    cr_assert_not_null(at, "no sink '%s' in:\n%s", sink, sinks);
    char type_name[64];
    cr_assert_eq(sscanf(at, " %*s %63s %llu", type_name, &count), 2);
    tally.delivered = count;
    return tally;
}

/* ---- the Prometheus example ---- */

/* Checks every sample line of a .prom file against the text format and
 * adds up zmqsink_events_total per event. Returns that tally. */
static tally_t prom_parse(char *text)
{
    regex_t sample, counter;
    cr_assert_eq(regcomp(&sample,
                         "^[a-zA-Z_:][a-zA-Z0-9_:]*"
                         "\\{([a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\.)*\",?)*"
                         "\\} [0-9][0-9.e+]*$",
                         REG_EXTENDED | REG_NOSUB),
                 0);
    cr_assert_eq(regcomp(&counter,
                         "^zmqsink_events_total\\{service=\"demo\","
                         "socket=\"[^\"]+\",event=\"([a-z_]+)\"\\} ([0-9]+)$",
                         REG_EXTENDED),
                 0);
    tally_t tally = {{0}, 0};
    size_t samples = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#') {
            cr_assert(!strncmp(line, "# HELP ", 7) ||
                          !strncmp(line, "# TYPE ", 7),
                      "%s", line);
            continue;
        }
        samples++;
        cr_assert_eq(regexec(&sample, line, 0, NULL, 0), 0,
                     "not the text format: %s", line);
        cr_assert_not_null(strstr(line, "{service=\"demo\","),
                           "the example's constant label: %s", line);
        regmatch_t m[3];
        if (regexec(&counter, line, 3, m, 0) != 0)
            continue;
        line[m[1].rm_eo] = '\0';
        uint32_t type = zmqsink_event_from_name(line + m[1].rm_so);
        cr_assert_neq(type, 0u, "unknown event '%s'", line + m[1].rm_so);
        uint64_t n = strtoull(line + m[2].rm_so, NULL, 10);
        tally.by_type[__builtin_ctz(type)] += n;
        tally.delivered += n;
    }
    cr_assert_gt(samples, 0u);
    regfree(&sample);
    regfree(&counter);
    return tally;
}

Test(sdk, prometheus_example_builds_out_of_tree_and_counts_the_demo,
     .init = setup, .fini = teardown)
{
    const char *srcdir = getenv("ZMQSINK_TEST_SRCDIR");
    cr_assert_not_null(srcdir);
    run(dir, "cp -R '%s/../examples/prometheus' . && chmod -R u+w .",
           srcdir);
    char example[PATH_MAX];
    snprintf(example, sizeof example, "%s/prometheus", dir);
    /* Its Makefile, with pkg-config as the only source of paths. */
    run(example, "make && make install");
    char installed[PATH_MAX + 32];
    snprintf(installed, sizeof installed, "%s/prometheus_textfile.so", plugindir);
    cr_assert_eq(access(installed, F_OK), 0, "make install put nothing in %s",
                 plugindir);

    /* example.yaml as shipped: `plugin: ./prometheus_textfile.so`. */
    run(example, "'%s' demo -c example.yaml -d 1", bin);
    char *output = run_output();
    tally_t demo = demo_summary(output, "metrics");
    char prom_path[PATH_MAX + 16];
    snprintf(prom_path, sizeof prom_path, "%s/zmqsink.prom", example);
    char *prom = th_read_file(prom_path);
    cr_assert_not_null(prom, "no %s; demo said:\n%s", prom_path, output);
    tally_t counted = prom_parse(prom);
    cr_assert_gt(demo.delivered, 20u, "the demo makes events:\n%s", output);
    cr_assert_eq(counted.delivered, demo.delivered,
                 "the file counts every event the sink got");
    for (int i = 0; i < ZMQSINK_EVENT_TYPES; i++)
        cr_expect_eq(counted.by_type[i], demo.by_type[i], "%s: %llu, not %llu",
                     zmqsink_event_name(1u << i),
                     (unsigned long long)counted.by_type[i],
                     (unsigned long long)demo.by_type[i]);
    cr_assert_gt(demo.by_type[__builtin_ctz(ZMQSINK_EVENT_ACCEPTED)], 0u);
    run(example, "! ls | grep '\\.tmp$'"); /* no temporary file left */
    free(prom);
    free(output);

    /* Installed, it is found by `type:` along ZMQSINK_PLUGIN_DIR. */
    free(th_write_file(dir, "by-type.yaml",
                       "sinks:\n"
                       "  - { name: m, type: prometheus_textfile, path: m.prom }\n"));
    run(dir, "'%s' check by-type.yaml", bin);
    output = run_output();
    char *real = realpath(installed, NULL);
    cr_assert_not_null(real);
    char described[PATH_MAX + 64];
    snprintf(described, sizeof described, "type prometheus_textfile (%s)", real);
    cr_assert_not_null(strstr(output, described), "%s", output);
    free(real);
    free(output);
}

/* ---- the plugin printed in plugin.h ---- */

Test(sdk, plugin_h_example_compiles_and_runs, .init = setup, .fini = teardown)
{
    /* Cut from the installed header, as a reader would copy it; the
     * installed man page prints the same. */
    run(dir, "awk '/---- end of count.c ----/ { on = 0 }"
             " on { sub(/^ \\*(   |$)/, \"\"); print }"
             " /---- count.c ----/ { on = 1 }'"
             " \"$(pkg-config --variable=includedir zmqsink)/zmqsink/plugin.h\""
             " >count.c && grep -q zmqsink_plugin_entry count.c");
    run(dir, "awk '/^The smallest useful plugin/ { on = 1 }"
             " on && /^\\.fi/ { exit } on && code { print }"
             " on && /^\\.nf/ { code = 1 }'"
             " \"$(find '%s' -name zmqsink-plugin.7)\" | sed 's/\\\\-/-/g'"
             " >man.c && diff -u count.c man.c",
        root);
    run(dir, "cc -Wall -Wextra -Werror -shared -fPIC -o count.so count.c "
                "$(pkg-config --cflags --libs zmqsink)");
    free(th_write_file(dir, "count.yaml",
                       "sinks:\n"
                       "  - { name: counter, plugin: ./count.so, every: 10 }\n"));
    run(dir, "'%s' demo -c count.yaml -d 1", bin);
    char *output = run_output();
    tally_t demo = demo_summary(output, "counter");
    cr_assert_gt(demo.delivered, 20u, "%s", output);
    const char *prefix = "zmqsink: notice: sink 'counter': ";
    size_t lines = 0;
    for (const char *at = output; (at = strstr(at, prefix)); at++) {
        char expected[64];
        snprintf(expected, sizeof expected, "%zu events, the last ",
                 ++lines * 10);
        cr_assert_eq(strncmp(at + strlen(prefix), expected, strlen(expected)),
                     0, "line %zu: %.80s", lines, at);
    }
    cr_assert_eq(lines, demo.delivered / 10, "one line per 10 events:\n%s",
                 output);
    free(output);
}
