/* Test plugin whose write() blocks until a file appears: a sink that has
 * stopped answering, to prove it never stalls the application. With
 * `fail`, a write() that returns says the batch failed. */
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <zmqsink/plugin.h>

typedef struct blocking {
    const char *release_file;
    int64_t max_wait_ms;
    bool fail;
} blocking_t;

static void *blocking_open(const zmqsink_host_t *host, char *err, size_t len)
{
    blocking_t *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, len, "out of memory");
        return NULL;
    }
    b->release_file = host->option_string(host, "release_file");
    b->max_wait_ms = host->option_int(host, "max_wait");
    b->fail = host->option_int(host, "fail");
    return b;
}

static zmqsink_write_result_t blocking_write(void *state,
                                             const zmqsink_event_t *events,
                                             size_t n)
{
    const blocking_t *b = state;
    struct timespec pause = {0, 10 * 1000 * 1000};
    for (int64_t waited = 0;
         access(b->release_file, F_OK) != 0 && waited < b->max_wait_ms;
         waited += 10)
        nanosleep(&pause, NULL);
    return b->fail ? ZMQSINK_WRITE_FAILED : ZMQSINK_WRITE_OK;
}

static void blocking_close(void *state)
{
    free(state);
}

static const zmqsink_option_t blocking_options[] = {
    {.key = "release_file", .type = ZMQSINK_OPT_STRING, .required = 1,
     .help = "write() returns once this file exists"},
    {.key = "max_wait", .type = ZMQSINK_OPT_DURATION, .fallback = "60s",
     .help = "upper bound on one write(), so a broken test cannot hang"},
    {.key = "fail", .type = ZMQSINK_OPT_BOOL, .fallback = "false",
     .help = "write() says the batch failed once it returns"},
    {0},
};

static const zmqsink_plugin_t blocking_plugin = {
    ZMQSINK_PLUGIN_DESCRIPTOR_INIT,
    .name = "blocking",
    .description = "blocks in write() until released (tests)",
    .options = blocking_options,
    .open = blocking_open,
    .write = blocking_write,
    .close = blocking_close,
};

ZMQSINK_PLUGIN_EXPORT const zmqsink_plugin_t *zmqsink_plugin_entry(void)
{
    return &blocking_plugin;
}
