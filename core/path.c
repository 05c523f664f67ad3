/* Paths in a config, resolved against the config file's directory. */
#include "path.h"

#include <stdbool.h>
#include <stdio.h>

int zs__path_resolve(const char *base, const char *path, char *out,
                     size_t cap)
{
    while (path[0] == '.' && path[1] == '/')
        path += 2;
    bool as_is = path[0] == '/' || !base || !base[0];
    int n = as_is ? snprintf(out, cap, "%s", path)
                  : snprintf(out, cap, "%s/%s", base, path);
    if (n < 0 || (size_t)n >= cap) {
        if (cap > 0)
            out[0] = '\0';
        return -1;
    }
    return n;
}

int zs__resolve_path(const zmqsink_host_t *host, const char *path, char *out,
                     size_t cap)
{
    return zs__path_resolve(host->config_dir, path, out, cap);
}
