/* Plugin loader: lookup order, relative paths, and every way a plugin can
 * be refused, each with the exact message a user sees. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <zmqsink/plugin.h>

#include "helpers.h"

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
    zmqsink_stats_t stats;
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
