/* Test plugin ticked only on request (ABI 1.5): it holds what write()
 * takes and delivers it from the tick it asks for TICK_DELAY_NS later;
 * open() asks for one tick too. Every tick appends a line to the file of
 * its `path` option, so that a test can count them. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <zmqsink/plugin.h>

#define TICK_DELAY_NS (30 * 1000 * 1000)

struct ticking {
    const zmqsink_host_t *host;
    FILE *ticks;
    uint64_t held;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *ticking_open(const zmqsink_host_t *host, char *err, size_t len)
{
    struct ticking *t = calloc(1, sizeof *t);
    char path[4096];
    if (!t || host->resolve_path(host, host->option_string(host, "path"),
                                 path, sizeof path) < 0 ||
        !(t->ticks = fopen(path, "ae"))) {
        snprintf(err, len, "cannot open the ticks file");
        free(t);
        return NULL;
    }
    setvbuf(t->ticks, NULL, _IOLBF, 0);
    t->host = host;
    host->tick_at(host, now_ns() + TICK_DELAY_NS);
    return t;
}

static zmqsink_write_result_t ticking_write(void *state,
                                            const zmqsink_event_t *events,
                                            size_t n)
{
    struct ticking *t = state;
    t->held += n;
    t->host->tick_at(t->host, now_ns() + TICK_DELAY_NS);
    return ZMQSINK_WRITE_OK;
}

static void ticking_tick(void *state, int64_t now)
{
    struct ticking *t = state;
    fprintf(t->ticks, "tick %lld\n", (long long)now);
    t->host->count_delivered(t->host, t->held);
    t->held = 0;
}

static void ticking_close(void *state)
{
    struct ticking *t = state;
    fclose(t->ticks);
    free(t);
}

static const zmqsink_option_t ticking_options[] = {
    { .key = "path", .type = ZMQSINK_OPT_STRING, .required = 1,
      .help = "file that gets a line per tick" },
    { 0 }
};

static const zmqsink_plugin_t ticking_plugin = {
    ZMQSINK_PLUGIN_DESCRIPTOR_INIT,
    .name = "ticking",
    .options = ticking_options,
    .open = ticking_open,
    .write = ticking_write,
    .tick = ticking_tick,
    .close = ticking_close,
    .flags = ZMQSINK_PLUGIN_COUNTS_DELIVERED | ZMQSINK_PLUGIN_TICKS_ON_REQUEST,
};

ZMQSINK_PLUGIN_EXPORT const zmqsink_plugin_t *zmqsink_plugin_entry(void)
{
    return &ticking_plugin;
}
