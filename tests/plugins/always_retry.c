/* Test plugin whose write() always asks to be retried later, counting the
 * calls into a file at close: a sink whose endpoint is down. */
#include <stdio.h>
#include <stdlib.h>

#include <zmqsink/plugin.h>

typedef struct always_retry {
    const char *count_file;
    unsigned long writes;
} always_retry_t;

static void *always_retry_open(const zmqsink_host_t *host, char *err,
                               size_t len)
{
    always_retry_t *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, len, "out of memory");
        return NULL;
    }
    a->count_file = host->option_string(host, "count_file");
    return a;
}

static zmqsink_write_result_t always_retry_write(void *state,
                                                 const zmqsink_event_t *events,
                                                 size_t n)
{
    ((always_retry_t *)state)->writes++;
    return ZMQSINK_WRITE_RETRY;
}

static void always_retry_close(void *state)
{
    always_retry_t *a = state;
    FILE *f = fopen(a->count_file, "w");
    if (f) {
        fprintf(f, "%lu\n", a->writes);
        fclose(f);
    }
    free(a);
}

static const zmqsink_option_t always_retry_options[] = {
    {.key = "count_file", .type = ZMQSINK_OPT_STRING, .required = 1,
     .help = "where close() writes how often write() was called"},
    {0},
};

static const zmqsink_plugin_t always_retry_plugin = {
    ZMQSINK_PLUGIN_DESCRIPTOR_INIT,
    .name = "always_retry",
    .description = "asks for every write to be retried (tests)",
    .options = always_retry_options,
    .open = always_retry_open,
    .write = always_retry_write,
    .close = always_retry_close,
};

ZMQSINK_PLUGIN_EXPORT const zmqsink_plugin_t *zmqsink_plugin_entry(void)
{
    return &always_retry_plugin;
}
