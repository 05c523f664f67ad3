/* Sink addresses: "host:port", "[ipv6]:port" or a unix socket path,
 * resolved once for the plugins that talk to a server. */
#ifndef ZS_ADDRESS_H
#define ZS_ADDRESS_H

#include <stddef.h>
#include <sys/socket.h>

/* See zmqsink_host_t.resolve_address in zmqsink/plugin.h; config_dir
 * anchors relative unix paths (NULL: the current directory). */
int zs__resolve_address(const char *config_dir, const char *address,
                        const char *default_port, int socktype,
                        struct sockaddr_storage *addr, socklen_t *addr_len,
                        char *err, size_t errlen);

#endif
