/* Sink addresses: "host:port", "[ipv6]:port" or a unix socket path,
 * resolved once for the plugins that talk to a server. */
#ifndef ZS_ADDRESS_H
#define ZS_ADDRESS_H

#include <stddef.h>
#include <sys/socket.h>

#include <zmqsink/plugin.h>

/* zmqsink_host_t.resolve_address (see zmqsink/plugin.h): relative unix
 * paths are anchored at host->config_dir (NULL: the current directory). */
int zs__resolve_address(const zmqsink_host_t *host, const char *address,
                        const char *default_port, int socktype,
                        struct sockaddr_storage *addr, socklen_t *addr_len,
                        char *err, size_t errlen);

#endif
