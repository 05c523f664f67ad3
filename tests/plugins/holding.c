/* Test plugin that holds what it takes and reports it later, as a network
 * sink does: it fails one batch in three, confirms half of what it holds
 * in write() and at each tick, fails a quarter at each other tick, and at
 * shutdown gives half of what is left to flush() and keeps the rest. */
#include <stdlib.h>

#include <zmqsink/plugin.h>

struct holding {
    const zmqsink_host_t *host;
    uint64_t writes, ticks, held;
};

static void *holding_open(const zmqsink_host_t *host, char *err, size_t len)
{
    struct holding *h = calloc(1, sizeof *h);
    if (h)
        h->host = host;
    return h;
}

static void holding_deliver_half(struct holding *h)
{
    uint64_t n = h->held / 2;
    h->held -= n;
    h->host->count_delivered(h->host, n);
}

static zmqsink_write_result_t holding_write(void *state,
                                            const zmqsink_event_t *events,
                                            size_t n)
{
    struct holding *h = state;
    if (++h->writes % 3 == 0)
        return ZMQSINK_WRITE_FAILED;
    h->held += n;
    holding_deliver_half(h); /* some of this very batch, from write() */
    return ZMQSINK_WRITE_OK;
}

static void holding_tick(void *state, int64_t now_ns)
{
    struct holding *h = state;
    if (++h->ticks % 2 == 0) {
        uint64_t n = h->held / 4;
        h->held -= n;
        h->host->count_failed(h->host, n, "test");
    }
    holding_deliver_half(h);
}

static uint64_t holding_flush(void *state, int64_t deadline_ns)
{
    struct holding *h = state;
    uint64_t lost = h->held / 2;
    h->held -= lost;
    return lost;
}

static void holding_close(void *state)
{
    free(state);
}

static const zmqsink_plugin_t holding_plugin = {
    ZMQSINK_PLUGIN_DESCRIPTOR_INIT,
    .name = "holding",
    .open = holding_open,
    .write = holding_write,
    .tick = holding_tick,
    .flush = holding_flush,
    .close = holding_close,
    .flags = ZMQSINK_PLUGIN_COUNTS_DELIVERED,
};

ZMQSINK_PLUGIN_EXPORT const zmqsink_plugin_t *zmqsink_plugin_entry(void)
{
    return &holding_plugin;
}
