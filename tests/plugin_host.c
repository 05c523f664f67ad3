/* Host services for tests that drive a plugin directly, without the core's
 * pipeline: the real implementations, reached inside the core. */
#include "plugin_host.h"

#include "address.h"

int th_host_resolve_address(const zmqsink_host_t *host, const char *address,
                            const char *default_port, int socktype,
                            struct sockaddr_storage *addr, socklen_t *addr_len,
                            char *err, size_t errlen)
{
    return zs__resolve_address(host->config_dir, address, default_port,
                               socktype, addr, addr_len, err, errlen);
}
