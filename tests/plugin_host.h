/* Host services for tests that drive a plugin directly, without the core's
 * pipeline: the real implementations, reached inside the core. */
#ifndef ZS_TEST_PLUGIN_HOST_H
#define ZS_TEST_PLUGIN_HOST_H

#include <zmqsink/plugin.h>

/* zmqsink_host_t.resolve_address, as the core provides it. */
int th_host_resolve_address(const zmqsink_host_t *host, const char *address,
                            const char *default_port, int socktype,
                            struct sockaddr_storage *addr, socklen_t *addr_len,
                            char *err, size_t errlen);

#endif
