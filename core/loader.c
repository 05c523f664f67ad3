/* Plugin loader: finds a sink's plugin file, refuses unsafe ones, dlopens
 * it and checks its descriptor before anything of it runs. */
#include "loader.h"

#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fork.h"
#include "path.h"

#ifndef ZMQSINK_PLUGINDIR
#define ZMQSINK_PLUGINDIR "/usr/local/lib/zmqsink"
#endif

void zs__node_where(const zs__config_t *config, const zs__node_t *mapping,
                    const char *key, char *buf, size_t cap)
{
    const zs__node_t *node = zs__map_get(mapping, key);
    if (!node)
        node = mapping;
    snprintf(buf, cap, "%s:%u:%u", config->path, node ? node->line : 1,
             node ? node->col : 1);
}

#ifdef ZMQSINK_BUILDDIR
/* Whether this libzmqsink is the one its build tree made, loaded from
 * ZMQSINK_BUILDDIR/.libs (libtool's wrapper and the uninstalled modules'
 * run path point there), rather than an installed copy. The library is
 * asked, not the executable, because `zmqsink run` loads it into any
 * program. */
static bool library_is_uninstalled(void)
{
    static const char anchor;
    Dl_info info;
    char dir[PATH_MAX];
    struct stat here, build;
    if (!dladdr(&anchor, &info) || !info.dli_fname || !*info.dli_fname ||
        snprintf(dir, sizeof dir, "%s", info.dli_fname) >= (int)sizeof dir)
        return false;
    return stat(dirname(dir), &here) == 0 &&
           stat(ZMQSINK_BUILDDIR "/.libs", &build) == 0 &&
           here.st_dev == build.st_dev && here.st_ino == build.st_ino;
}

/* Adds the .libs directory of each module the build makes (its
 * pkglib_LTLIBRARIES, relative .la paths separated by blanks) to list. */
static void build_dirs_print(FILE *list)
{
    const char *module = ZMQSINK_BUILD_MODULES;
    module += strspn(module, " \t");
    while (*module) {
        size_t len = strcspn(module, " \t"), dir = len;
        while (dir > 0 && module[dir - 1] != '/')
            dir--;
        fprintf(list, "%s/%.*s.libs:", ZMQSINK_BUILDDIR, (int)dir, module);
        module += len;
        module += strspn(module, " \t");
    }
}
#endif

/* One lookup of TYPE.so: the file found, and the directories looked in. */
struct plugin_search {
    const char *file; /* TYPE.so */
    char *path;       /* the file, once found */
    size_t cap;
    char *searched; /* the directories looked in, comma-separated */
    size_t scap;
};

/* Looks for s->file in each directory of list (colon-separated), a
 * relative one resolved against base (NULL: the working directory).
 * Returns 0 when found, 1 when not, -1 when out of memory. */
static int search_dirs(struct plugin_search *s, const char *base,
                       const char *list)
{
    char *dirs = strdup(list), *save = NULL;
    if (!dirs)
        return -1;
    int rc = 1;
    for (char *dir = strtok_r(dirs, ":", &save); dir && rc > 0;
         dir = strtok_r(NULL, ":", &save)) {
        char resolved[PATH_MAX];
        /* A path too long to search is still named in the message. */
        if (zs__path_resolve(base, dir, resolved, sizeof resolved) < 0)
            snprintf(resolved, sizeof resolved, "%s", dir);
        else if (snprintf(s->path, s->cap, "%s/%s", resolved, s->file) <
                     (int)s->cap &&
                 access(s->path, F_OK) == 0)
            rc = 0;
        size_t used = strlen(s->searched);
        snprintf(s->searched + used, s->scap - used, "%s%s", used ? ", " : "",
                 resolved);
    }
    free(dirs);
    return rc;
}

/* Looks for TYPE.so in plugin_dir (relative to the config's directory),
 * $ZMQSINK_PLUGIN_DIR (relative to the working directory, as any
 * environment path), the build tree's plugins for an uninstalled library,
 * then the installed directory. Fills path and returns 0, or returns -1
 * with where it looked in searched. */
static int plugin_find(const zs__config_t *config, const char *type,
                       char *path, size_t cap, char *searched, size_t scap)
{
    char file[300], cwd[PATH_MAX];
    snprintf(file, sizeof file, "%s.so", type);
    searched[0] = '\0';
    struct plugin_search s = {file, path, cap, searched, scap};

    const char *env = getenv("ZMQSINK_PLUGIN_DIR");
    char *fixed = NULL; /* the directories of this build, absolute */
    size_t len = 0;
    FILE *list = open_memstream(&fixed, &len);
    if (!list)
        return -1;
#ifdef ZMQSINK_BUILDDIR
    if (library_is_uninstalled())
        build_dirs_print(list);
#endif
    fputs(ZMQSINK_PLUGINDIR, list);
    if (fclose(list) != 0) {
        free(fixed);
        return -1;
    }

    int rc = config->plugin_dir ? search_dirs(&s, config->dir,
                                              config->plugin_dir)
                                : 1;
    if (rc > 0 && env && *env)
        rc = search_dirs(&s, getcwd(cwd, sizeof cwd), env);
    if (rc > 0)
        rc = search_dirs(&s, NULL, fixed);
    free(fixed);
    return rc == 0 ? 0 : -1;
}

/* Refuses a file, or the directory holding it, that another user could
 * replace: whoever can would run code in every zmqsink process. Symbolic
 * links are resolved first, so the real file and directory are checked. */
static int path_check_owner(char *path, size_t cap, char *why, size_t wcap)
{
    char real[PATH_MAX];
    struct stat st;
    if (!realpath(path, real)) {
        snprintf(why, wcap, "cannot resolve '%s': %s", path, strerror(errno));
        return -1;
    }
    snprintf(path, cap, "%s", real);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", real);
    const char *checks[] = {real, dirname(dir)};
    for (size_t i = 0; i < 2; i++) {
        char subject[PATH_MAX + 32] = "it";
        if (i == 1)
            snprintf(subject, sizeof subject, "its directory '%s'", checks[i]);
        if (stat(checks[i], &st) != 0) {
            snprintf(why, wcap, "cannot stat '%s': %s", checks[i],
                     strerror(errno));
            return -1;
        }
        /* A sticky root-owned directory (/tmp) lets no one replace a file
         * they do not own. */
        bool sticky_root = i == 1 && (st.st_mode & S_ISVTX) && st.st_uid == 0;
        if ((st.st_mode & S_IWOTH) && !sticky_root) {
            snprintf(why, wcap,
                     "refusing plugin '%s': %s is writable by others "
                     "(chmod o-w '%s')",
                     real, subject, checks[i]);
            return -1;
        }
        if (st.st_uid != 0 && st.st_uid != geteuid()) {
            snprintf(why, wcap,
                     "refusing plugin '%s': %s belongs to uid %ld, neither "
                     "root nor this user (chown it)",
                     real, subject, (long)st.st_uid);
            return -1;
        }
    }
    return 0;
}

/* Checks the option table the core parses config files against: a
 * broken entry would otherwise surface as a baffling error to the user.
 * Returns 0, or -1 with "plugin 'P' is broken: ..." in err. */
static int options_check(const zmqsink_option_t *options, const char *path,
                         char *err, size_t errlen)
{
    for (const zmqsink_option_t *opt = options; opt && opt->key; opt++) {
        const char *why =
            !*opt->key ? "an empty key"
            : opt->type < ZMQSINK_OPT_STRING || opt->type > ZMQSINK_OPT_MAP
                ? "an unknown type"
            : opt->type == ZMQSINK_OPT_ENUM && (!opt->choices || !*opt->choices)
                ? "no choices"
            : opt->min > opt->max ? "a min above its max"
                                  : NULL;
        if (why) {
            snprintf(err, errlen,
                     "plugin '%s' is broken: its option '%s' has %s", path,
                     opt->key, why);
            return -1;
        }
    }
    return 0;
}

int zs__plugin_check(const zmqsink_plugin_t *desc, const char *path, char *err,
                     size_t errlen)
{
    if (!desc) {
        snprintf(err, errlen, "plugin '%s' returned no descriptor", path);
        return -1;
    }
    if (desc->abi_major != ZMQSINK_PLUGIN_ABI_MAJOR ||
        desc->abi_minor > ZMQSINK_PLUGIN_ABI_MINOR) {
        snprintf(err, errlen,
                 "plugin '%s' was built for plugin ABI %u.%u, this zmqsink "
                 "provides %u.%u: rebuild it against this zmqsink's headers",
                 path, desc->abi_major, desc->abi_minor,
                 ZMQSINK_PLUGIN_ABI_MAJOR, ZMQSINK_PLUGIN_ABI_MINOR);
        return -1;
    }
    const char *missing = !desc->open    ? "open"
                          : !desc->write ? "write"
                          : !desc->close ? "close"
                          : !desc->name || !*desc->name ? "name"
                                                        : NULL;
    if (missing) {
        snprintf(err, errlen,
                 "plugin '%s' has no %s in its descriptor (mandatory: name, "
                 "open, write, close)",
                 path, missing);
        return -1;
    }
    return options_check(desc->options, path, err, errlen);
}

static int plugin_open_file_locked(zs__plugin_t *out, char *why, size_t cap)
{
    dlerror();
    out->handle = dlopen(out->path, RTLD_NOW | RTLD_LOCAL);
    if (!out->handle) {
        snprintf(why, cap,
                 "cannot load plugin: %s (use ldd(1) to check its "
                 "dependencies)",
                 dlerror());
        return -1;
    }
    zmqsink_plugin_entry_fn entry;
    *(void **)&entry = dlsym(out->handle, ZMQSINK_PLUGIN_ENTRY_SYMBOL);
    if (!entry) {
        snprintf(why, cap,
                 "'%s' is not a zmqsink plugin: it does not export %s()",
                 out->path, ZMQSINK_PLUGIN_ENTRY_SYMBOL);
        return -1;
    }
    out->desc = entry();
    return 0;
}

/* dlopens out->path and calls its entry with fork() held off, then checks
 * the descriptor. Returns 0, or -1 with the reason in why (out->handle may
 * then be set). */
static int plugin_open_file(zs__plugin_t *out, char *why, size_t cap)
{
    zs__fork_hold();
    int rc = plugin_open_file_locked(out, why, cap);
    zs__fork_release();
    return rc != 0 ? rc : zs__plugin_check(out->desc, out->path, why, cap);
}

int zs__plugin_load(const zs__config_t *config, const zs__sink_config_t *sink,
                    zs__plugin_t *out, char *err, size_t errlen)
{
    char where[PATH_MAX + 32], why[PATH_MAX * 2 + 256];
    memset(out, 0, sizeof *out);
    zs__node_where(config, sink->node, sink->plugin ? "plugin" : "type", where,
                   sizeof where);

    if (sink->plugin) {
        zs__path_resolve(config->dir, sink->plugin, out->path, sizeof out->path);
        if (access(out->path, F_OK) != 0) {
            snprintf(why, sizeof why, "plugin file '%s' not found", out->path);
            goto err;
        }
    } else {
        char searched[PATH_MAX];
        if (plugin_find(config, sink->type, out->path, sizeof out->path,
                        searched, sizeof searched) != 0) {
            snprintf(why, sizeof why,
                     "plugin '%s' not found in %s (set plugin_dir or "
                     "ZMQSINK_PLUGIN_DIR, or give its path with `plugin:`)",
                     sink->type, searched);
            goto err;
        }
    }
    if (path_check_owner(out->path, sizeof out->path, why, sizeof why) != 0 ||
        plugin_open_file(out, why, sizeof why) != 0)
        goto err;
    if (sink->type && strcmp(sink->type, out->desc->name) != 0) {
        snprintf(why, sizeof why,
                 "plugin '%s' serves type '%s', not '%s'", out->path,
                 out->desc->name, sink->type);
        goto err;
    }
    return 0;
err:
    snprintf(err, errlen, "%s: sink '%s': %s", where, sink->name, why);
    zs__plugin_unload(out);
    return -1;
}

void zs__plugin_unload(zs__plugin_t *plugin)
{
    if (plugin->handle) {
        zs__fork_hold();
        dlclose(plugin->handle);
        zs__fork_release();
    }
    plugin->handle = NULL;
    plugin->desc = NULL;
}
