/* Plugin loader: finds a sink's plugin file, refuses unsafe ones, dlopens
 * it and checks its descriptor before anything of it runs. */
#ifndef ZS_LOADER_H
#define ZS_LOADER_H

#include <limits.h>
#include <stddef.h>

#include <zmqsink/plugin.h>

#include "config.h"

typedef struct zs__plugin {
    void *handle;                 /* dlopen handle; NULL for built-ins */
    const zmqsink_plugin_t *desc;
    char path[PATH_MAX];
} zs__plugin_t;

/* Resolves the sink's `plugin:` path (relative to the config file's
 * directory) or its `type:` in plugin_dir (relative to that directory too),
 * each directory of $ZMQSINK_PLUGIN_DIR (':'-separated, relative to the
 * working directory), then the installed plugin directory;
 * refuses a file or directory writable by others; dlopens it and checks the
 * ABI version and mandatory callbacks. Returns 0, or -1 with
 * "FILE:LINE:COL: sink 'NAME': ..." in err. Opens nothing. */
int zs__plugin_load(const zs__config_t *config, const zs__sink_config_t *sink,
                    zs__plugin_t *out, char *err, size_t errlen);

/* Checks a descriptor as the loader does (path names it in messages): the
 * ABI (same major, minor no newer than the host's), the mandatory name,
 * open, write and close, and the option table. Returns 0 or -1 with the
 * reason in err. */
int zs__plugin_check(const zmqsink_plugin_t *desc, const char *path, char *err,
                     size_t errlen);

/* dlcloses the plugin; NULL handle is a no-op. */
void zs__plugin_unload(zs__plugin_t *plugin);

/* Position of a key's value in a mapping ("FILE:LINE:COL" prefix), or of
 * the mapping itself when the key is absent. */
void zs__node_where(const zs__config_t *config, const zs__node_t *mapping,
                    const char *key, char *buf, size_t cap);

#endif
