/* A file that a sink's option names (a CA, a credentials file), resolved
 * as the core resolves paths and checked at open, so that a missing or
 * unreadable file stops the sink with the option's name rather than
 * failing later on a connection. Part of common/. */
#ifndef ZS_COMMON_OPTION_FILE_H
#define ZS_COMMON_OPTION_FILE_H

#include <stddef.h>

#include <zmqsink/plugin.h>

/* Resolves the path of option key (a STRING) against the config file's
 * directory into out (cap bytes) and checks that it can be read. Returns 1
 * when it can, 0 when the option is not set (out is then ""), or -1 with
 * "KEY 'PATH': why" in err. */
int option_file_readable(const zmqsink_host_t *host, const char *key,
                         char *out, size_t cap, char *err, size_t errlen);

#endif
