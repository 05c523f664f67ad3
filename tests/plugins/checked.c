/* Test plugin with a check(): it refuses a `mode` of "bad", a `settings`
 * entry whose value is "wrong" (naming the entry), and `whole: true`
 * (naming no option); open() succeeds, and counts its opens in `opened`
 * when set, so that a test can tell that a refused file opened nothing. */
#include <stdio.h>
#include <string.h>

#include <zmqsink/plugin.h>

static int checked_check(const zmqsink_host_t *host, const char **key,
                         long *item, char *err, size_t len)
{
    const char *mode = host->option_string(host, "mode");
    if (strcmp(mode, "bad") == 0) {
        *key = "mode";
        snprintf(err, len, "mode: 'bad' is refused");
        return -1;
    }
    const char *const *names, *const *values;
    size_t n = host->option_map(host, "settings", &names, &values);
    for (size_t i = 0; i < n; i++)
        if (strcmp(values[i], "wrong") == 0) {
            *key = "settings";
            *item = (long)i;
            snprintf(err, len, "settings: '%s' cannot be 'wrong'", names[i]);
            return -1;
        }
    if (host->option_int(host, "whole")) {
        snprintf(err, len, "the sink as a whole is refused");
        return -1;
    }
    return 0;
}

static void *checked_open(const zmqsink_host_t *host, char *err, size_t len)
{
    const char *opened = host->option_string(host, "opened");
    if (opened) {
        FILE *f = fopen(opened, "a");
        if (f) {
            fputs("opened\n", f);
            fclose(f);
        }
    }
    return (void *)host;
}

static zmqsink_write_result_t checked_write(void *state,
                                            const zmqsink_event_t *events,
                                            size_t n)
{
    return ZMQSINK_WRITE_OK;
}

static void checked_close(void *state)
{
}

static const zmqsink_option_t checked_options[] = {
    {.key = "mode", .type = ZMQSINK_OPT_STRING, .fallback = "good"},
    {.key = "settings", .type = ZMQSINK_OPT_MAP},
    {.key = "whole", .type = ZMQSINK_OPT_BOOL, .fallback = "false"},
    {.key = "opened", .type = ZMQSINK_OPT_STRING},
    {0},
};

static const zmqsink_plugin_t checked_plugin = {
    ZMQSINK_PLUGIN_DESCRIPTOR_INIT,
    .name = "checked",
    .options = checked_options,
    .open = checked_open,
    .write = checked_write,
    .close = checked_close,
    .check = checked_check,
};

ZMQSINK_PLUGIN_EXPORT const zmqsink_plugin_t *zmqsink_plugin_entry(void)
{
    return &checked_plugin;
}
