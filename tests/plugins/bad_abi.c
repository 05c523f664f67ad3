/* Test plugin built for another ABI major: the loader must refuse it. */
#include <zmqsink/plugin.h>

static void *bad_abi_open(const zmqsink_host_t *host, char *err, size_t len)
{
    return (void *)host;
}

static zmqsink_write_result_t bad_abi_write(void *state,
                                            const zmqsink_event_t *events,
                                            size_t n)
{
    return ZMQSINK_WRITE_OK;
}

static void bad_abi_close(void *state)
{
}

static const zmqsink_plugin_t bad_abi_plugin = {
    .abi_major = ZMQSINK_PLUGIN_ABI_MAJOR + 1,
    .abi_minor = 0,
    .name = "bad_abi",
    .open = bad_abi_open,
    .write = bad_abi_write,
    .close = bad_abi_close,
};

ZMQSINK_PLUGIN_EXPORT const zmqsink_plugin_t *zmqsink_plugin_entry(void)
{
    return &bad_abi_plugin;
}
