/* Plugin loader: lookup order, relative paths, every way a plugin can be
 * refused, each with the exact message a user sees, and what a broken
 * plugin does to the healthy sinks beside it. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <zmqsink/plugin.h>

#include "helpers.h"
#include "loader.h"

TestSuite(loader, .timeout = 60);

static void *ctx;
static char *dir;

static void setup(void)
{
    ctx = zmq_ctx_new();
    dir = th_tempdir();
    chmod(dir, 0755);
}

static void teardown(void)
{
    th_close_all();
    zmq_ctx_term(ctx);
    th_remove_tree(dir);
    free(dir);
}

/* Copies a built test plugin into dir/sub/NAME.so with the given mode. */
static char *install_plugin(const char *name, const char *sub, mode_t mode)
{
    char *from = th_plugin_path(name), *to, *command;
    if (asprintf(&to, "%s/%s/%s.so", dir, sub, name) < 0 ||
        asprintf(&command, "mkdir -p '%s/%s' && cp '%s' '%s'", dir, sub, from,
                 to) < 0 ||
        system(command) != 0)
        abort();
    chmod(to, mode);
    free(from);
    free(command);
    return to;
}

/* Loads a config whose only sink is given by the lines in sink; returns the
 * zmqsink_new() message, or "" when it worked. */
static char *load(const char *sink)
{
    char yaml[2048];
    snprintf(yaml, sizeof yaml, "sinks:\n  - name: s\n%s", sink);
    char *path = th_write_file(dir, "cfg.yaml", yaml);
    static char err[2048];
    err[0] = '\0';
    zmqsink_t *zs = zmqsink_new(ctx, path, err, sizeof err);
    if (zs)
        cr_assert_str_empty(err);
    zmqsink_destroy(&zs);
    free(path);
    return err;
}

static void assert_message(const char *got, const char *fmt, ...)
{
    char expected[4096];
    va_list args;
    va_start(args, fmt);
    vsnprintf(expected, sizeof expected, fmt, args);
    va_end(args);
    cr_assert_str_eq(got, expected);
}

Test(loader, missing_file, .init = setup, .fini = teardown)
{
    assert_message(load("    plugin: ./nope.so\n"),
                   "%s/cfg.yaml:3:13: sink 's': plugin file '%s/nope.so' not "
                   "found",
                   dir, dir);
}

Test(loader, unknown_type_names_where_it_looked, .init = setup,
     .fini = teardown)
{
    setenv("ZMQSINK_PLUGIN_DIR", "/nonexistent/a:/nonexistent/b", 1);
    assert_message(load("    type: nosuch\n"),
                   "%s/cfg.yaml:3:11: sink 's': plugin 'nosuch' not found in "
                   "/nonexistent/a, /nonexistent/b, %s (set plugin_dir or "
                   "ZMQSINK_PLUGIN_DIR, or give its path with `plugin:`)",
                   dir, ZMQSINK_PLUGINDIR);
}

Test(loader, missing_entry_symbol, .init = setup, .fini = teardown)
{
    char *path = install_plugin("no_entry", "p", 0755);
    assert_message(load("    plugin: p/no_entry.so\n"),
                   "%s/cfg.yaml:3:13: sink 's': '%s' is not a zmqsink plugin: "
                   "it does not export zmqsink_plugin_entry()",
                   dir, path);
    free(path);
}

Test(loader, wrong_abi_major, .init = setup, .fini = teardown)
{
    char *path = install_plugin("bad_abi", "p", 0755);
    assert_message(load("    plugin: p/bad_abi.so\n"),
                   "%s/cfg.yaml:3:13: sink 's': plugin '%s' was built for "
                   "plugin ABI %d.0, this zmqsink provides %d.%d: rebuild it "
                   "against this zmqsink's headers",
                   dir, path, ZMQSINK_PLUGIN_ABI_MAJOR + 1,
                   ZMQSINK_PLUGIN_ABI_MAJOR, ZMQSINK_PLUGIN_ABI_MINOR);
    free(path);
}

/* A name the lookup cannot resolve: a plugin of ABI 1.8 is told so
 * (ZMQSINK_ADDRESS_UNRESOLVED: the syslog sink opens and waits for it),
 * one built for 1.7 is given -1 and the message it was built for. */
Test(loader, an_unresolved_name_is_told_as_each_plugin_abi_expects,
     .init = setup, .fini = teardown)
{
    th_resolver_quick();
    char *path = install_plugin("old_resolver", "p", 0755);
    const char *got = load("    plugin: p/old_resolver.so\n"
                           "    address: " TH_NO_SUCH_HOST ":9\n");
    cr_assert(strstr(got, "sink 's': address '" TH_NO_SUCH_HOST ":9': cannot "
                          "resolve '" TH_NO_SUCH_HOST "': "),
              "%s", got);
    free(path);
    cr_assert_str_empty(load("    type: syslog\n"
                             "    transport: tcp\n"
                             "    address: " TH_NO_SUCH_HOST ":514\n"));
    cr_assert_str_empty(load("    plugin: p/old_resolver.so\n"
                             "    address: 127.0.0.1:9\n"));
    cr_assert(strstr(load("    type: syslog\n"
                          "    transport: tcp\n"
                          "    address: '[::1:514'\n"),
                     "address '[::1:514': expected HOST:PORT"),
              "a malformed address still fails open");
}

Test(loader, missing_callback, .init = setup, .fini = teardown)
{
    char *path = install_plugin("no_write", "p", 0755);
    assert_message(load("    plugin: p/no_write.so\n"),
                   "%s/cfg.yaml:3:13: sink 's': plugin '%s' has no write in "
                   "its descriptor (mandatory: name, open, write, close)",
                   dir, path);
    free(path);
}

Test(loader, file_writable_by_others, .init = setup, .fini = teardown)
{
    char *path = install_plugin("fail_write", "p", 0757);
    assert_message(load("    plugin: p/fail_write.so\n"),
                   "%s/cfg.yaml:3:13: sink 's': refusing plugin '%s': it is "
                   "writable by others (chmod o-w '%s')",
                   dir, path, path);
    free(path);
}

Test(loader, directory_writable_by_others, .init = setup, .fini = teardown)
{
    char *path = install_plugin("fail_write", "p", 0755), *sub;
    cr_assert(asprintf(&sub, "%s/p", dir) > 0);
    chmod(sub, 0777);
    assert_message(load("    plugin: p/fail_write.so\n"),
                   "%s/cfg.yaml:3:13: sink 's': refusing plugin '%s': its "
                   "directory '%s' is writable by others (chmod o-w '%s')",
                   dir, path, sub, sub);
    free(sub);
    free(path);
}

Test(loader, file_of_another_user, .init = setup, .fini = teardown)
{
    char *path = install_plugin("fail_write", "p", 0755);
    cr_assert_eq(chown(path, 65534, 65534), 0);
    assert_message(load("    plugin: p/fail_write.so\n"),
                   "%s/cfg.yaml:3:13: sink 's': refusing plugin '%s': it "
                   "belongs to uid 65534, neither root nor this user (chown "
                   "it)",
                   dir, path);
    free(path);
}

Test(loader, symlink_into_an_unsafe_directory, .init = setup,
     .fini = teardown)
{
    /* The link stands in a safe directory; the file it names does not. */
    char *real = install_plugin("fail_write", "unsafe", 0755), *unsafe, *link;
    cr_assert(asprintf(&unsafe, "%s/unsafe", dir) > 0);
    cr_assert(asprintf(&link, "%s/fail_write.so", dir) > 0);
    chmod(unsafe, 0777);
    cr_assert_eq(symlink(real, link), 0);
    assert_message(load("    plugin: fail_write.so\n"),
                   "%s/cfg.yaml:3:13: sink 's': refusing plugin '%s': its "
                   "directory '%s' is writable by others (chmod o-w '%s')",
                   dir, real, unsafe, unsafe);
    free(link);
    free(unsafe);
    free(real);
}

Test(loader, type_and_plugin_disagree, .init = setup, .fini = teardown)
{
    char *path = install_plugin("fail_write", "p", 0755);
    assert_message(load("    type: file\n    plugin: p/fail_write.so\n"),
                   "%s/cfg.yaml:4:13: sink 's': plugin '%s' serves type "
                   "'fail_write', not 'file'",
                   dir, path);
    free(path);
}

Test(loader, open_failure_is_reported, .init = setup, .fini = teardown)
{
    free(install_plugin("open_fails", "p", 0755));
    assert_message(load("    plugin: p/open_fails.so\n    target: Mars\n"),
                   "%s/cfg.yaml:2:11: sink 's': cannot reach Mars", dir);
}

Test(loader, unknown_option_lists_valid_ones, .init = setup, .fini = teardown)
{
    const char *err = load("    type: file\n    pth: /tmp/x\n");
    char prefix[4200];
    snprintf(prefix, sizeof prefix,
             "%s/cfg.yaml:4:5: sink 's': unknown option 'pth' for type "
             "'file'; valid options: path, ",
             dir);
    cr_assert_eq(strncmp(err, prefix, strlen(prefix)), 0, "got: %s", err);
}

Test(loader, relative_plugin_path_is_relative_to_the_config, .init = setup,
     .fini = teardown)
{
    free(install_plugin("fail_write", "plugins", 0755));
    cr_assert_eq(chdir("/"), 0);
    cr_assert_str_empty(load("    plugin: plugins/fail_write.so\n"));
}

Test(loader, plugin_dir_is_searched_first, .init = setup, .fini = teardown)
{
    free(install_plugin("fail_write", "mine", 0755));
    setenv("ZMQSINK_PLUGIN_DIR", "/nonexistent", 1);
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "plugin_dir: mine\nsinks:\n  - name: s\n    type: fail_write\n");
    char *path = th_write_file(dir, "cfg.yaml", yaml);
    char err[1024] = "";
    zmqsink_t *zs = zmqsink_new(ctx, path, err, sizeof err);
    cr_assert_not_null(zs, "%s", err);
    TH_STATS(stats);
    zmqsink_stats(zs, &stats);
    cr_assert_str_eq(stats.sinks[0].type, "fail_write");
    zmqsink_destroy(&zs);
    free(path);
}

Test(loader, env_plugin_dir_list, .init = setup, .fini = teardown)
{
    free(install_plugin("fail_write", "b", 0755));
    char *dirs;
    cr_assert(asprintf(&dirs, "/nonexistent:%s/b", dir) > 0);
    setenv("ZMQSINK_PLUGIN_DIR", dirs, 1);
    cr_assert_str_empty(load("    type: fail_write\n"));
    free(dirs);
}

/* An environment path is relative to the working directory, as in any
 * program; only the file's own paths are relative to the file. */
Test(loader, env_relative_dir_is_relative_to_the_working_directory,
     .init = setup, .fini = teardown)
{
    free(install_plugin("fail_write", "work/pl", 0755));
    char *work;
    cr_assert(asprintf(&work, "%s/work", dir) > 0);
    cr_assert_eq(chdir(work), 0);
    setenv("ZMQSINK_PLUGIN_DIR", "pl", 1);
    cr_assert_str_empty(load("    type: fail_write\n"));
    free(work);
}

Test(loader, not_found_names_the_directories_searched, .init = setup,
     .fini = teardown)
{
    char *work;
    cr_assert(asprintf(&work, "%s/work", dir) > 0);
    cr_assert_eq(mkdir(work, 0755), 0);
    cr_assert_eq(chdir(work), 0);
    setenv("ZMQSINK_PLUGIN_DIR", "./rel:/nonexistent/b", 1);
    char *path = th_write_file(dir, "cfg.yaml",
                               "plugin_dir: mine\n"
                               "sinks:\n  - name: s\n    type: nosuch\n");
    char err[2048] = "";
    zmqsink_t *zs = zmqsink_new(ctx, path, err, sizeof err);
    cr_assert_null(zs);
    assert_message(err,
                   "%s/cfg.yaml:4:11: sink 's': plugin 'nosuch' not found in "
                   "%s/mine, %s/rel, /nonexistent/b, %s (set plugin_dir or "
                   "ZMQSINK_PLUGIN_DIR, or give its path with `plugin:`)",
                   dir, dir, work, ZMQSINK_PLUGINDIR);
    free(path);
    free(work);
}

/* ---- the descriptor checks, one case per rule of plugin.h ---- */

static void *any_open(const zmqsink_host_t *host, char *err, size_t len)
{
    return (void *)host;
}

static zmqsink_write_result_t any_write(void *state,
                                        const zmqsink_event_t *events,
                                        size_t n)
{
    return ZMQSINK_WRITE_OK;
}

static void any_close(void *state)
{
}

static const zmqsink_option_t no_choices[] = {
    {.key = "mode", .type = ZMQSINK_OPT_ENUM}, {0}};
static const zmqsink_option_t bad_type[] = {
    {.key = "a", .type = ZMQSINK_OPT_STRING}, {.key = "b", .type = 42}, {0}};
static const zmqsink_option_t bad_range[] = {
    {.key = "n", .type = ZMQSINK_OPT_INT, .min = 10, .max = 5}, {0}};
static const zmqsink_option_t empty_key[] = {
    {.key = "", .type = ZMQSINK_OPT_STRING}, {0}};
static const zmqsink_option_t good_options[] = {
    {.key = "mode", .type = ZMQSINK_OPT_ENUM, .choices = "a|b"},
    {.key = "n", .type = ZMQSINK_OPT_INT, .min = 5, .max = 5},
    {.key = "tags", .type = ZMQSINK_OPT_MAP},
    {0}};

#define ABI_MAJOR ZMQSINK_PLUGIN_ABI_MAJOR
#define ABI_MINOR ZMQSINK_PLUGIN_ABI_MINOR
#define MANDATORY "in its descriptor (mandatory: name, open, write, close)"

enum { NO_OPEN = 1, NO_WRITE = 2, NO_CLOSE = 4 };

static const struct descriptor_case {
    const char *what;
    int major, minor;
    const char *name;
    unsigned missing; /* NO_* callbacks left NULL */
    const zmqsink_option_t *options;
    const char *expected; /* "" when accepted; else after "plugin 'P' " */
} descriptor_cases[] = {
    {"this version", ABI_MAJOR, ABI_MINOR, "x", 0, NULL, ""},
    {"an older minor", ABI_MAJOR, 0, "x", 0, NULL, ""},
    {"a newer minor", ABI_MAJOR, ABI_MINOR + 1, "x", 0, NULL, "abi"},
    {"an older major", ABI_MAJOR - 1, 9, "x", 0, NULL, "abi"},
    {"a newer major", ABI_MAJOR + 1, 0, "x", 0, NULL, "abi"},
    {"no open", ABI_MAJOR, ABI_MINOR, "x", NO_OPEN, NULL,
     "has no open " MANDATORY},
    {"no write", ABI_MAJOR, ABI_MINOR, "x", NO_WRITE, NULL,
     "has no write " MANDATORY},
    {"no close", ABI_MAJOR, ABI_MINOR, "x", NO_CLOSE, NULL,
     "has no close " MANDATORY},
    {"no name", ABI_MAJOR, ABI_MINOR, NULL, 0, NULL, "has no name " MANDATORY},
    {"an empty name", ABI_MAJOR, ABI_MINOR, "", 0, NULL,
     "has no name " MANDATORY},
    {"good options", ABI_MAJOR, ABI_MINOR, "x", 0, good_options, ""},
    {"an enum without choices", ABI_MAJOR, ABI_MINOR, "x", 0, no_choices,
     "is broken: its option 'mode' has no choices"},
    {"an unknown option type", ABI_MAJOR, ABI_MINOR, "x", 0, bad_type,
     "is broken: its option 'b' has an unknown type"},
    {"min above max", ABI_MAJOR, ABI_MINOR, "x", 0, bad_range,
     "is broken: its option 'n' has a min above its max"},
    {"an empty key", ABI_MAJOR, ABI_MINOR, "x", 0, empty_key,
     "is broken: its option '' has an empty key"},
};

/* The descriptor a case describes. */
static zmqsink_plugin_t descriptor_of(const struct descriptor_case *c)
{
    return (zmqsink_plugin_t){
        .abi_major = (uint16_t)c->major,
        .abi_minor = (uint16_t)c->minor,
        .name = c->name,
        .options = c->options,
        .open = c->missing & NO_OPEN ? NULL : any_open,
        .write = c->missing & NO_WRITE ? NULL : any_write,
        .close = c->missing & NO_CLOSE ? NULL : any_close,
    };
}

Test(loader, descriptor_checks_follow_the_documented_policy)
{
    for (size_t i = 0; i < sizeof descriptor_cases / sizeof *descriptor_cases;
         i++) {
        const struct descriptor_case *c = &descriptor_cases[i];
        char err[512] = "", expected[512];
        zmqsink_plugin_t desc = descriptor_of(c);
        int rc = zs__plugin_check(&desc, "/p/x.so", err, sizeof err);
        if (!*c->expected) {
            cr_expect_eq(rc, 0, "%s: refused: %s", c->what, err);
            continue;
        }
        if (!strcmp(c->expected, "abi"))
            snprintf(expected, sizeof expected,
                     "plugin '/p/x.so' was built for plugin ABI %u.%u, this "
                     "zmqsink provides %u.%u: rebuild it against this "
                     "zmqsink's headers",
                     c->major, c->minor, ABI_MAJOR, ABI_MINOR);
        else
            snprintf(expected, sizeof expected, "plugin '/p/x.so' %s",
                     c->expected);
        cr_expect_eq(rc, -1, "%s: accepted", c->what);
        cr_expect_str_eq(err, expected, "%s", c->what);
    }
    char err[256];
    cr_assert_eq(zs__plugin_check(NULL, "/p/x.so", err, sizeof err), -1);
    cr_assert_str_eq(err, "plugin '/p/x.so' returned no descriptor");
}

/* ---- a broken plugin beside a healthy file sink ---- */

/* Writes a config of top-level lines top, then a file sink "events" into
 * dir/events.jsonl followed by the sink "broken" whose lines are given
 * (none when NULL). Returns the config's path (caller frees). */
static char *config_with_healthy_sink(const char *top, const char *broken)
{
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "%s"
             "sinks:\n"
             "  - name: events\n"
             "    type: file\n"
             "    path: events.jsonl\n"
             "    format: json\n"
             "%s%s",
             top, broken ? "  - name: broken\n" : "", broken ? broken : "");
    return th_write_file(dir, "cfg.yaml", yaml);
}

/* zmqsink_new() on the config must fail with expected, and zmqsink_check()
 * with check_expected ("" when it passes: check opens nothing). */
static void assert_refused(const char *path, const char *expected,
                           const char *check_expected)
{
    char err[2048] = "", check_err[2048] = "";
    zmqsink_t *zs = zmqsink_new(ctx, path, err, sizeof err);
    cr_assert_null(zs, "started despite the broken sink");
    cr_assert_str_eq(err, expected);
    int rc = zmqsink_check(path, NULL, check_err, sizeof check_err);
    cr_assert_eq(rc != 0, *check_expected != 0, "zmqsink_check: %d %s", rc,
                 check_err);
    cr_assert_str_eq(check_err, check_expected);
}

/* The test plugin NAME, beside a healthy sink, stops the config, in
 * zmqsink_new() and zmqsink_check() alike, with "plugin 'PATH' WHY". */
static void assert_plugin_refused(const char *name, const char *why)
{
    char *plugin = install_plugin(name, "p", 0755);
    char line[256], expected[4096];
    snprintf(line, sizeof line, "    plugin: p/%s.so\n", name);
    char *path = config_with_healthy_sink("", line);
    snprintf(expected, sizeof expected,
             "%s/cfg.yaml:7:13: sink 'broken': plugin '%s' %s", dir, plugin,
             why);
    assert_refused(path, expected, expected);
    free(path);
    free(plugin);
}

Test(loader, other_abi_major_stops_the_config_naming_sink_and_file,
     .init = setup, .fini = teardown)
{
    char why[256];
    snprintf(why, sizeof why,
             "was built for plugin ABI %d.0, this zmqsink provides %d.%d: "
             "rebuild it against this zmqsink's headers",
             ABI_MAJOR + 1, ABI_MAJOR, ABI_MINOR);
    assert_plugin_refused("bad_abi", why);
}

Test(loader, missing_callback_stops_the_config_naming_sink_and_file,
     .init = setup, .fini = teardown)
{
    assert_plugin_refused("no_write", "has no write " MANDATORY);
}

Test(loader, failed_open_stops_the_config_and_closes_the_sinks_opened,
     .init = setup, .fini = teardown)
{
    char *path = config_with_healthy_sink("", "    type: open_fails\n"
                                          "    target: the server\n");
    char expected[4096];
    snprintf(expected, sizeof expected,
             "%s/cfg.yaml:6:11: sink 'broken': cannot reach the server", dir);
    /* `zmqsink check` opens nothing, so it cannot know. */
    assert_refused(path, expected, "");
    /* The file sink had opened its file before: it was closed again, and
     * the same config without the broken sink starts. */
    char *events;
    cr_assert(asprintf(&events, "%s/events.jsonl", dir) > 0);
    cr_assert_eq(access(events, F_OK), 0, "the file sink opened first");
    free(path);
    path = config_with_healthy_sink("", "    type: file\n"
                                    "    path: /dev/null\n");
    char err[1024] = "";
    zmqsink_t *zs = zmqsink_new(ctx, path, err, sizeof err);
    cr_assert_not_null(zs, "%s", err);
    zmqsink_destroy(&zs);
    free(events);
    free(path);
}

/* A plugin's check() refuses the file in zmqsink_new() and zmqsink_check()
 * alike, at the line of the option, or of the entry of a mapping, that it
 * names, or at the sink's name when it names none. */
Test(loader, check_refuses_the_config_at_the_option_it_names,
     .init = setup, .fini = teardown)
{
    static const struct {
        const char *lines, *where, *why;
    } cases[] = {
        {"    type: checked\n    mode: bad\n", "8:11", "mode: 'bad' is refused"},
        {"    type: checked\n    settings:\n      a: fine\n      b: wrong\n",
         "10:7", "settings: 'b' cannot be 'wrong'"},
        {"    type: checked\n    settings: { a: fine, b: wrong }\n", "8:26",
         "settings: 'b' cannot be 'wrong'"},
        {"    type: checked\n    whole: true\n", "6:11",
         "the sink as a whole is refused"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *path = config_with_healthy_sink("", cases[i].lines);
        char expected[4096];
        snprintf(expected, sizeof expected, "%s/cfg.yaml:%s: sink 'broken': %s",
                 dir, cases[i].where, cases[i].why);
        assert_refused(path, expected, expected);
        free(path);
    }
}

Test(loader, a_sink_that_check_refuses_is_never_opened,
     .init = setup, .fini = teardown)
{
    char yaml[1024], err[1024] = "";
    snprintf(yaml, sizeof yaml,
             "sinks:\n  - { name: c, type: checked, mode: bad, opened: "
             "%s/opened }\n",
             dir);
    char *path = th_write_file(dir, "cfg.yaml", yaml);
    cr_assert_null(zmqsink_new(ctx, path, err, sizeof err));
    cr_expect_neq(zmqsink_check(path, NULL, err, sizeof err), 0);
    char *opened = th_path(dir, "opened");
    cr_expect_neq(access(opened, F_OK), 0, "open() ran after a failed check");
    free(opened);
    free(path);
    /* Accepted, it is checked and then opened. */
    snprintf(yaml, sizeof yaml,
             "sinks:\n  - { name: c, type: checked, settings: { a: fine }, "
             "opened: %s/opened }\n",
             dir);
    path = th_write_file(dir, "cfg.yaml", yaml);
    cr_assert_eq(zmqsink_check(path, NULL, err, sizeof err), 0, "%s", err);
    zmqsink_t *zs = zmqsink_new(ctx, path, err, sizeof err);
    cr_assert_not_null(zs, "%s", err);
    zmqsink_destroy(&zs);
    opened = th_path(dir, "opened");
    cr_expect_eq(access(opened, F_OK), 0, "open() did not run");
    free(opened);
    free(path);
}

/* Runs a ROUTER through `clients` connect/send/close rounds, all attached
 * to zs, then closes it: events for every sink. */
static void make_events(zmqsink_t *zs, int clients)
{
    void *server = th_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach(zs, server, "server"), 0);
    cr_assert_eq(zmq_bind(server, "tcp://127.0.0.1:*"), 0);
    char endpoint[256], buf[64];
    th_last_endpoint(server, endpoint, sizeof endpoint);
    for (int i = 0; i < clients; i++) {
        void *client = th_socket(ctx, ZMQ_DEALER);
        cr_assert_eq(zmqsink_attach(zs, client, "client"), 0);
        cr_assert_eq(zmq_connect(client, endpoint), 0);
        cr_assert_eq(zmq_send(client, "x", 1, 0), 1);
        cr_assert_gt(zmq_recv(server, buf, sizeof buf, 0), 0);
        cr_assert_eq(zmq_recv(server, buf, sizeof buf, 0), 1);
        th_close(client);
    }
    th_close(server);
}

/* Starts the config, makes events, stops it, and checks that the healthy
 * sink, first, delivered every event to its file. Fills the final stats
 * (room for two sinks at least), for the broken sink's counters. */
static void run_beside_healthy_sink(const char *path, zmqsink_stats_t *stats)
{
    char err[1024] = "";
    zmqsink_t *zs = zmqsink_new(ctx, path, err, sizeof err);
    cr_assert_not_null(zs, "%s", err);
    make_events(zs, 20);
    zmqsink_destroy_stats(&zs, stats);
    const zmqsink_sink_stats_t *events = &stats->sinks[0];
    cr_assert_gt(stats->events, 40u, "20 clients: 2 events each at least");
    cr_assert_eq(events->delivered, stats->events);
    cr_assert_eq(events->failed + events->dropped_full +
                     events->dropped_shutdown,
                 0u);
    th_assert_json_seqs(dir, "events.jsonl", stats->events);
    cr_assert_str_eq(stats->sinks[1].name, "broken");
}

Test(loader, failing_writes_are_counted_and_the_file_sink_gets_everything,
     .init = setup, .fini = teardown)
{
    char *path = config_with_healthy_sink("", "    type: fail_write\n");
    TH_STATS(stats);
    run_beside_healthy_sink(path, &stats);
    const zmqsink_sink_stats_t *broken = &stats.sinks[1];
    cr_assert_eq(broken->failed, stats.events, "every write failed, counted");
    cr_assert_eq(broken->delivered + broken->dropped_full +
                     broken->dropped_shutdown,
                 0u);
    free(path);
}

Test(loader, writes_retried_forever_are_dropped_and_the_file_sink_goes_on,
     .init = setup, .fini = teardown)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "    type: always_retry\n    count_file: %s/writes\n", dir);
    char *path = config_with_healthy_sink("shutdown_timeout: 2s\n", yaml);
    TH_STATS(stats);
    run_beside_healthy_sink(path, &stats);
    const zmqsink_sink_stats_t *broken = &stats.sinks[1];
    cr_assert_eq(broken->delivered + broken->failed, 0u);
    cr_assert_eq(broken->enqueued, stats.events);
    cr_assert_eq(broken->dropped_shutdown, stats.events,
                 "what never went out is counted at shutdown");
    free(path);
}

Test(loader, broken_plugins_in_a_reload_leave_the_running_sinks_running,
     .init = setup, .fini = teardown)
{
    free(install_plugin("bad_abi", "p", 0755));
    free(install_plugin("no_write", "p", 0755));
    char *path = config_with_healthy_sink("", NULL);
    char err[2048] = "";
    zmqsink_t *zs = zmqsink_new(ctx, path, err, sizeof err);
    cr_assert_not_null(zs, "%s", err);
    static const struct {
        const char *lines, *message;
    } broken[] = {
        {"    plugin: p/bad_abi.so\n", "7:13: sink 'broken': plugin '"},
        {"    plugin: p/no_write.so\n", "7:13: sink 'broken': plugin '"},
        {"    type: open_fails\n", "6:11: sink 'broken': cannot reach the "
                                   "moon"},
    };
    for (size_t i = 0; i < sizeof broken / sizeof *broken; i++) {
        make_events(zs, 5);
        free(config_with_healthy_sink("", broken[i].lines));
        char expected[4200];
        snprintf(expected, sizeof expected, "%s:%s", path, broken[i].message);
        cr_assert_neq(zmqsink_reload(zs, path, err, sizeof err), 0);
        cr_assert_eq(strncmp(err, expected, strlen(expected)), 0, "%s", err);
    }
    make_events(zs, 5);
    TH_STATS(stats);
    zmqsink_destroy_stats(&zs, &stats);
    cr_assert_eq(stats.nsinks, 1u, "no broken sink joined");
    cr_assert_gt(stats.events, 40u);
    cr_assert_eq(stats.sinks[0].delivered, stats.events);
    th_assert_json_seqs(dir, "events.jsonl", stats.events);
    free(path);
}
