/* Test plugin whose open() fails with a message. */
#include <zmqsink/plugin.h>

static void *open_fails_open(const zmqsink_host_t *host, char *err, size_t len)
{
    snprintf(err, len, "cannot reach %s", host->option_string(host, "target"));
    return NULL;
}

static zmqsink_write_result_t open_fails_write(void *state,
                                               const zmqsink_event_t *events,
                                               size_t n)
{
    return ZMQSINK_WRITE_FAILED;
}

static void open_fails_close(void *state)
{
}

static const zmqsink_option_t open_fails_options[] = {
    {.key = "target", .type = ZMQSINK_OPT_STRING, .fallback = "the moon"},
    {0},
};

static const zmqsink_plugin_t open_fails_plugin = {
    ZMQSINK_PLUGIN_DESCRIPTOR_INIT,
    .name = "open_fails",
    .options = open_fails_options,
    .open = open_fails_open,
    .write = open_fails_write,
    .close = open_fails_close,
};

ZMQSINK_PLUGIN_EXPORT const zmqsink_plugin_t *zmqsink_plugin_entry(void)
{
    return &open_fails_plugin;
}
