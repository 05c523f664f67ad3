/* Files named by a sink's options, checked at open. */
#include "option_file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int option_file_readable(const zmqsink_host_t *host, const char *key,
                         char *out, size_t cap, char *err, size_t errlen)
{
    const char *path = host->option_string(host, key);
    if (cap > 0)
        out[0] = '\0';
    if (!path)
        return 0;
    int n = host->resolve_path(host, path, out, cap);
    if (n < 0 || access(out, R_OK) != 0) {
        snprintf(err, errlen, "%s '%s': %s", key, n < 0 ? path : out,
                 n < 0 ? "path too long" : strerror(errno));
        return -1;
    }
    return 1;
}
