/* Test plugin whose write() always fails for good. */
#include <stdlib.h>

#include <zmqsink/plugin.h>

static void *fail_write_open(const zmqsink_host_t *host, char *err, size_t len)
{
    return (void *)host;
}

static zmqsink_write_result_t fail_write_write(void *state,
                                               const zmqsink_event_t *events,
                                               size_t n)
{
    return ZMQSINK_WRITE_FAILED;
}

static void fail_write_close(void *state)
{
}

static const zmqsink_plugin_t fail_write_plugin = {
    ZMQSINK_PLUGIN_DESCRIPTOR_INIT,
    .name = "fail_write",
    .open = fail_write_open,
    .write = fail_write_write,
    .close = fail_write_close,
};

ZMQSINK_PLUGIN_EXPORT const zmqsink_plugin_t *zmqsink_plugin_entry(void)
{
    return &fail_write_plugin;
}
