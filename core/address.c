/* Sink addresses: "host:port", "[ipv6]:port" or a unix socket path,
 * resolved for the plugins that talk to a server: at open, and again at
 * their reconnects. */
#include "address.h"

#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "path.h"

static int unix_path(const char *config_dir, const char *path,
                     struct sockaddr_storage *addr, socklen_t *addr_len,
                     char *err, size_t errlen)
{
    struct sockaddr_un *un = (struct sockaddr_un *)addr;
    memset(un, 0, sizeof *un);
    if (zs__path_resolve(config_dir, path, un->sun_path,
                         sizeof un->sun_path) < 0) {
        snprintf(err, errlen,
                 "address '%s': a unix socket path must be shorter than %zu "
                 "bytes",
                 path, sizeof un->sun_path);
        return -1;
    }
    un->sun_family = AF_UNIX;
    *addr_len = sizeof *un;
    return 0;
}

/* Splits "host:port", "[v6]:port", or "host" when a default port is
 * given, into host and port, copying into buf. */
static int host_port_split(const char *address, const char *default_port,
                           char *buf, size_t cap, const char **host,
                           const char **port)
{
    if (strlen(address) >= cap)
        return -1;
    strcpy(buf, address);
    char *rest;
    if (buf[0] == '[') {
        char *close = strchr(buf, ']');
        if (!close || (close[1] && close[1] != ':'))
            return -1;
        *close = '\0';
        *host = buf + 1;
        rest = close + 1;
    } else {
        *host = buf;
        rest = strchr(buf, ':');
        if (rest && strchr(rest + 1, ':'))
            return -1; /* an IPv6 address needs brackets */
    }
    if (rest && *rest == ':') {
        *rest = '\0';
        *port = rest + 1;
    } else {
        *port = default_port;
    }
    if (!**host || !*port)
        return -1;
    char *end;
    long number = strtol(*port, &end, 10);
    return (*port)[0] >= '0' && (*port)[0] <= '9' && !*end && number >= 1 &&
                   number <= 65535
               ? 0
               : -1;
}

/* Whether a failed getaddrinfo() of a well-formed name may succeed later
 * (DNS not up yet, a service not yet registered), rather than never. */
static bool lookup_may_work_later(int rc)
{
    switch (rc) {
    case EAI_AGAIN:
    case EAI_NONAME:
    case EAI_FAIL:
    case EAI_MEMORY:
    case EAI_SYSTEM:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY:
#endif
        return true;
    default:
        return false;
    }
}

int zs__resolve_address(const zmqsink_host_t *host, const char *address,
                        const char *default_port, int socktype,
                        struct sockaddr_storage *addr, socklen_t *addr_len,
                        char *err, size_t errlen)
{
    if (strchr(address, '/'))
        return unix_path(host->config_dir, address, addr, addr_len, err,
                         errlen);
    char buf[512];
    const char *name, *port;
    if (host_port_split(address, default_port, buf, sizeof buf, &name,
                        &port) != 0) {
        snprintf(err, errlen,
                 "address '%s': expected HOST:PORT or [IPV6]:PORT (port "
                 "1-65535)%s%s%s, or a unix socket path containing '/'",
                 address, default_port ? ", or HOST (port " : "",
                 default_port ? default_port : "", default_port ? ")" : "");
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = socktype,
                             .ai_flags = AI_NUMERICSERV},
                    *found;
    int rc = getaddrinfo(name, port, &hints, &found);
    if (rc != 0) {
        if (lookup_may_work_later(rc)) { /* the plugin names the address */
            snprintf(err, errlen, "cannot resolve '%s': %s", name,
                     gai_strerror(rc));
            return ZMQSINK_ADDRESS_UNRESOLVED;
        }
        snprintf(err, errlen, "address '%s': cannot resolve '%s': %s",
                 address, name, gai_strerror(rc));
        return -1;
    }
    memcpy(addr, found->ai_addr, found->ai_addrlen);
    *addr_len = found->ai_addrlen;
    freeaddrinfo(found);
    return 0;
}
