/* Paths in a config: relative ones are relative to the config file's
 * directory, for the core and, through the host table, for the plugins. */
#ifndef ZS_PATH_H
#define ZS_PATH_H

#include <stddef.h>

#include <zmqsink/plugin.h>

/* Writes path into out (cap bytes, NUL included): as it is when absolute
 * or when base is NULL or "", else base/path; a leading "./" is dropped. Returns
 * the length written, or -1 when it does not fit (out is then ""). */
int zs__path_resolve(const char *base, const char *path, char *out,
                     size_t cap);

/* zmqsink_host_t.resolve_path (see zmqsink/plugin.h): zs__path_resolve()
 * against host->config_dir. */
int zs__resolve_path(const zmqsink_host_t *host, const char *path, char *out,
                     size_t cap);

#endif
