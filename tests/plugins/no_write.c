/* Test plugin without a write callback: the loader must refuse it. */
#include <zmqsink/plugin.h>

static void *no_write_open(const zmqsink_host_t *host, char *err, size_t len)
{
    return (void *)host;
}

static void no_write_close(void *state)
{
}

static const zmqsink_plugin_t no_write_plugin = {
    ZMQSINK_PLUGIN_DESCRIPTOR_INIT,
    .name = "no_write",
    .open = no_write_open,
    .close = no_write_close,
};

ZMQSINK_PLUGIN_EXPORT const zmqsink_plugin_t *zmqsink_plugin_entry(void)
{
    return &no_write_plugin;
}
