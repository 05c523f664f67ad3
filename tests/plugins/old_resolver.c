/* Test plugin built for plugin ABI 1.7, before resolve_address told an
 * unresolved name apart: open() passes on what it returns for `address`,
 * so that a test sees the contract such a plugin was built for (0, or -1
 * with the address named in the message). */
#include <stdio.h>

#include <zmqsink/plugin.h>

static void *old_resolver_open(const zmqsink_host_t *host, char *err,
                               size_t len)
{
    struct sockaddr_storage addr;
    socklen_t addr_len;
    const char *address = host->option_string(host, "address");
    int rc = host->resolve_address(host, address, NULL, SOCK_DGRAM, &addr,
                                   &addr_len, err, len);
    if (rc == 0)
        return (void *)host;
    if (rc != -1)
        snprintf(err, len, "resolve_address returned %d", rc);
    return NULL;
}

static zmqsink_write_result_t old_resolver_write(void *state,
                                                 const zmqsink_event_t *events,
                                                 size_t n)
{
    (void)state;
    (void)events;
    (void)n;
    return ZMQSINK_WRITE_OK;
}

static void old_resolver_close(void *state)
{
    (void)state;
}

static const zmqsink_option_t old_resolver_options[] = {
    {.key = "address", .type = ZMQSINK_OPT_STRING, .fallback = "",
     .help = "HOST:PORT to resolve at open"},
    {0},
};

static const zmqsink_plugin_t old_resolver_plugin = {
    .abi_major = ZMQSINK_PLUGIN_ABI_MAJOR,
    .abi_minor = 7,
    .name = "old_resolver",
    .options = old_resolver_options,
    .open = old_resolver_open,
    .write = old_resolver_write,
    .close = old_resolver_close,
};

ZMQSINK_PLUGIN_EXPORT const zmqsink_plugin_t *zmqsink_plugin_entry(void)
{
    return &old_resolver_plugin;
}
