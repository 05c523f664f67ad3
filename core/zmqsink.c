/* The zmqsink instance: configuration, sinks, collector, and the public API. */
#include <assert.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "address.h"
#include "collector.h"
#include "internal.h"
#include "log.h"
#include "worker.h"

static const char *const error_texts[] = {
#define ZS_ERROR_TEXT(name, text) text,
    ZMQSINK_ERRORS(ZS_ERROR_TEXT)
#undef ZS_ERROR_TEXT
};

const char *zmqsink_strerror(int err)
{
    if (err < 0)
        err = -err;
    if ((size_t)err >= sizeof error_texts / sizeof error_texts[0])
        return "unknown error";
    return error_texts[err];
}

const char *zmqsink_default_config(void)
{
    return "# Compiled-in default: every event, as text, on stdout.\n"
           "sinks:\n"
           "  - name: console\n"
           "    type: file\n"
           "    path: \"-\"\n"
           "    format: text\n";
}

/* ---- host services handed to plugins ---- */

static const zs__options_t *host_options(const zmqsink_host_t *host)
{
    return zs__sink_of_host(host)->options;
}

static const char *host_option_string(const zmqsink_host_t *host,
                                      const char *key)
{
    return zs__options_string(host_options(host), key);
}

static int64_t host_option_int(const zmqsink_host_t *host, const char *key)
{
    return zs__options_int(host_options(host), key);
}

static size_t host_option_list(const zmqsink_host_t *host, const char *key,
                               const char *const **items)
{
    return zs__options_list(host_options(host), key, items);
}

static size_t host_option_map(const zmqsink_host_t *host, const char *key,
                              const char *const **keys,
                              const char *const **values)
{
    return zs__options_map(host_options(host), key, keys, values);
}

static int host_option_is_set(const zmqsink_host_t *host, const char *key)
{
    return zs__options_is_set(host_options(host), key);
}

static void host_log(const zmqsink_host_t *host, zmqsink_severity_t severity,
                     const char *fmt, ...)
{
    char prefix[96];
    snprintf(prefix, sizeof prefix, "sink '%s'", host->sink_name);
    va_list args;
    va_start(args, fmt);
    zs__logv(severity, prefix, fmt, args);
    va_end(args);
}

static void host_count_failed(const zmqsink_host_t *host, uint64_t n,
                              const char *reason)
{
    zs__counter_add(&zs__sink_of_host(host)->failed, n);
    zs__log(ZMQSINK_SEV_DEBUG, "sink '%s': %llu events failed: %s",
            host->sink_name, (unsigned long long)n, reason);
}

static size_t host_sink_drops(const zmqsink_host_t *host, size_t index,
                              const char **name, uint64_t *dropped)
{
    const zmqsink_t *zs = zs__sink_of_host(host)->owner;
    size_t n = atomic_load_explicit(&zs->nsinks, memory_order_acquire);
    if (index < n) {
        const zs__sink_t *sink = zs->sinks[index];
        *name = sink->name;
        *dropped = zs__counter_get(&sink->dropped_full) +
                   zs__counter_get(&sink->dropped_shutdown);
    }
    return n;
}

/* ---- the callback sink, built in ---- */

typedef struct callback {
    zmqsink_callback_fn *fn;
    void *arg;
} callback_t;

static void *callback_open(const zmqsink_host_t *host, char *err, size_t len)
{
    return zs__sink_of_host(host)->builtin_arg;
}

static zmqsink_write_result_t callback_write(void *state,
                                             const zmqsink_event_t *events,
                                             size_t n)
{
    const callback_t *cb = state;
    for (size_t i = 0; i < n; i++)
        cb->fn(&events[i], cb->arg);
    return ZMQSINK_WRITE_OK;
}

static void callback_close(void *state)
{
    free(state);
}

static const zmqsink_plugin_t callback_plugin = {
    ZMQSINK_PLUGIN_DESCRIPTOR_INIT,
    .name = "callback",
    .description = "calls an application function",
    .open = callback_open,
    .write = callback_write,
    .close = callback_close,
};

/* ---- sinks ---- */

static void sink_free(zs__sink_t *sink)
{
    if (!sink)
        return;
    for (size_t i = 0; i < sink->nsocket_globs; i++)
        free(sink->socket_globs[i]);
    free(sink->socket_globs);
    zs__ring_destroy(&sink->ring);
    zs__options_free(&sink->options);
    zs__plugin_unload(&sink->plugin);
    free(sink);
}

static zs__sink_t *sink_new(const zmqsink_t *zs, const char *name,
                            uint32_t events)
{
    zs__sink_t *sink = calloc(1, sizeof *sink);
    if (!sink)
        return NULL;
    sink->owner = (zmqsink_t *)zs;
    snprintf(sink->name, sizeof sink->name, "%s", name);
    sink->events = events;
    sink->min_severity = ZMQSINK_SEV_DEBUG;
    sink->shutdown_timeout_ms = zs->config->shutdown_timeout_ms;
    snprintf(sink->config_dir, sizeof sink->config_dir, "%s", zs->config->dir);
    sink->ring = zs__ring_new(zs->config->queue_capacity);
    if (!sink->ring) {
        free(sink);
        return NULL;
    }
    sink->host = (zmqsink_host_t){
        .abi_major = ZMQSINK_PLUGIN_ABI_MAJOR,
        .abi_minor = ZMQSINK_PLUGIN_ABI_MINOR,
        .sink_name = sink->name,
        .config_dir = sink->config_dir,
        .option_string = host_option_string,
        .option_int = host_option_int,
        .option_list = host_option_list,
        .option_map = host_option_map,
        .option_is_set = host_option_is_set,
        .format = zmqsink_format_event,
        .log = host_log,
        .count_failed = host_count_failed,
        .sink_drops = host_sink_drops,
        .resolve_address = zs__resolve_address,
    };
    return sink;
}

/* Starts the sink's worker (which opens it) and makes it visible to the
 * collector. */
static int sink_publish(zmqsink_t *zs, zs__sink_t *sink, char *err,
                        size_t errlen)
{
    pthread_mutex_lock(&zs->sinks_lock);
    size_t n = atomic_load(&zs->nsinks);
    int rc = -ZMQSINK_ELIMIT;
    for (size_t i = 0; i < n; i++)
        if (strcmp(zs->sinks[i]->name, sink->name) == 0) {
            snprintf(err, errlen, "a sink named '%s' exists already",
                     sink->name);
            rc = -ZMQSINK_EEXISTS;
            goto out;
        }
    if (n == ZS__MAX_SINKS) {
        snprintf(err, errlen, "at most %d sinks", ZS__MAX_SINKS);
        goto out;
    }
    rc = -ZMQSINK_EOPEN;
    if (zs__worker_start(sink, err, errlen) != 0)
        goto out;
    zs->sinks[n] = sink;
    atomic_store_explicit(&zs->nsinks, n + 1, memory_order_release);
    rc = 0;
out:
    pthread_mutex_unlock(&zs->sinks_lock);
    return rc;
}

static int sink_from_config(zmqsink_t *zs, const zs__sink_config_t *sc,
                            char *err, size_t errlen)
{
    char why[1024];
    zs__sink_t *sink = sink_new(zs, sc->name, sc->events);
    if (!sink) {
        snprintf(err, errlen, "sink '%s': out of memory", sc->name);
        return -ZMQSINK_ENOMEM;
    }
    sink->min_severity = sc->min_severity;
    int rc = -ZMQSINK_EPLUGIN;
    if (zs__plugin_load(zs->config, sc, &sink->plugin, err, errlen) != 0)
        goto err;
    snprintf(sink->type, sizeof sink->type, "%s", sink->plugin.desc->name);
    rc = -ZMQSINK_ECONFIG;
    if (zs__options_parse(zs->config, sc, sink->type,
                          sink->plugin.desc->options, &sink->options, err,
                          errlen) != 0)
        goto err;
    rc = -ZMQSINK_ENOMEM;
    if (sc->nsockets) {
        sink->socket_globs = calloc(sc->nsockets, sizeof *sink->socket_globs);
        if (!sink->socket_globs)
            goto err;
        for (; sink->nsocket_globs < sc->nsockets; sink->nsocket_globs++)
            if (!(sink->socket_globs[sink->nsocket_globs] =
                      strdup(sc->sockets[sink->nsocket_globs])))
                goto err;
    }
    rc = sink_publish(zs, sink, why, sizeof why);
    if (rc != 0) {
        char where[PATH_MAX + 32];
        zs__node_where(zs->config, sc->node, "name", where, sizeof where);
        snprintf(err, errlen, "%s: sink '%s': %s", where, sc->name, why);
        goto err;
    }
    return 0;
err:
    sink_free(sink);
    return rc;
}

int zmqsink_add_callback(zmqsink_t *zs, const char *name, uint32_t events,
                         zmqsink_callback_fn *fn, void *arg)
{
    assert(zs && name && fn);
    char err[256];
    callback_t *cb = malloc(sizeof *cb);
    zs__sink_t *sink = cb ? sink_new(zs, name, events) : NULL;
    if (!sink) {
        free(cb);
        return -ZMQSINK_ENOMEM;
    }
    *cb = (callback_t){fn, arg};
    sink->builtin_arg = cb;
    sink->plugin.desc = &callback_plugin;
    snprintf(sink->type, sizeof sink->type, "callback");
    int rc = sink_publish(zs, sink, err, sizeof err);
    if (rc != 0) {
        free(cb);
        sink_free(sink);
    }
    return rc;
}

/* ---- check ---- */

static void events_describe(uint32_t events, FILE *out)
{
    if (events == ZMQSINK_EVENT_ALL) {
        fputs("all", out);
        return;
    }
    const char *sep = "";
    for (uint32_t bit = 1; bit <= ZMQSINK_EVENT_ALL; bit <<= 1)
        if (events & bit) {
            fprintf(out, "%s%s", sep, zmqsink_event_name(bit));
            sep = ", ";
        }
}

static void sink_describe(const zs__sink_config_t *sc, const zs__plugin_t *p,
                          FILE *out)
{
    fprintf(out, "  sink '%s': type %s (%s)\n    events: ", sc->name,
            p->desc->name, p->path);
    events_describe(sc->events, out);
    fputs("\n    sockets: ", out);
    for (size_t i = 0; i < sc->nsockets; i++)
        fprintf(out, "%s%s", i ? ", " : "", sc->sockets[i]);
    fprintf(out, "%s\n    min_severity: %s\n", sc->nsockets ? "" : "all",
            zmqsink_severity_name(sc->min_severity));
}

int zmqsink_check(const char *config_path, FILE *out, char *err, size_t errlen)
{
    zs__config_t *config = NULL;
    int rc = config_path
                 ? zs__config_load_file(config_path, &config, err, errlen)
                 : zs__config_load_string("<default>", zmqsink_default_config(),
                                          &config, err, errlen);
    if (rc != 0)
        return -ZMQSINK_ECONFIG;
    /* Described into memory first: nothing is printed for a bad file. */
    char *text = NULL;
    size_t len = 0;
    FILE *report = open_memstream(&text, &len);
    if (!report) {
        zs__config_free(&config);
        snprintf(err, errlen, "out of memory");
        return -ZMQSINK_ENOMEM;
    }
    fprintf(report, "%s: ok\n  queue: %u slots per sink\n"
                     "  shutdown_timeout: %lld ms\n",
                config->path, config->queue_capacity,
                (long long)config->shutdown_timeout_ms);
    for (size_t i = 0; i < config->nsinks && rc == 0; i++) {
        const zs__sink_config_t *sc = &config->sinks[i];
        zs__plugin_t plugin;
        zs__options_t *options = NULL;
        if (zs__plugin_load(config, sc, &plugin, err, errlen) != 0) {
            rc = -ZMQSINK_EPLUGIN;
            break;
        }
        if (zs__options_parse(config, sc, plugin.desc->name,
                              plugin.desc->options, &options, err,
                              errlen) != 0)
            rc = -ZMQSINK_ECONFIG;
        else
            sink_describe(sc, &plugin, report);
        zs__options_free(&options);
        zs__plugin_unload(&plugin);
    }
    fclose(report);
    if (rc == 0 && out)
        fputs(text, out);
    free(text);
    zs__config_free(&config);
    return rc;
}

/* ---- instance ---- */

zmqsink_t *zmqsink_new(void *zmq_ctx, const char *config_path, char *err,
                       size_t errlen)
{
    assert(zmq_ctx);
    char scratch[8];
    if (!err) {
        err = scratch;
        errlen = sizeof scratch;
    }
    zmqsink_t *zs = calloc(1, sizeof *zs);
    if (!zs) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    zs->ctx = zmq_ctx;
    pthread_mutex_init(&zs->sinks_lock, NULL);
    int rc = config_path
                 ? zs__config_load_file(config_path, &zs->config, err, errlen)
                 : zs__config_load_string("<default>", zmqsink_default_config(),
                                          &zs->config, err, errlen);
    if (rc != 0)
        goto err;
    for (size_t i = 0; i < zs->config->nsinks; i++)
        if (sink_from_config(zs, &zs->config->sinks[i], err, errlen) != 0)
            goto err;
    zs->collector = zs__collector_new(zs, err, errlen);
    if (!zs->collector)
        goto err;
    return zs;
err:
    zmqsink_destroy(&zs);
    return NULL;
}

int zmqsink_attach_ctx(zmqsink_t *zs, void *zmq_ctx, void *socket,
                       const char *name)
{
    assert(zs && zmq_ctx && socket);
    char fallback[ZMQSINK_SOCKET_NAME_MAX];
    if (!name || !*name) {
        int type = -1;
        size_t size = sizeof type;
        if (zmq_getsockopt(socket, ZMQ_TYPE, &type, &size) != 0)
            return -ZMQSINK_EZMQ;
        unsigned n = type >= 0 && type < 16
                         ? atomic_fetch_add(&zs->type_counts[type], 1) + 1
                         : 0;
        snprintf(fallback, sizeof fallback, "%s-%u",
                 zmqsink_socket_type_name(type), n);
        name = fallback;
    }
    return zs__collector_attach(zs->collector, zmq_ctx, socket, name);
}

int zmqsink_attach(zmqsink_t *zs, void *socket, const char *name)
{
    assert(zs);
    return zmqsink_attach_ctx(zs, zs->ctx, socket, name);
}

int zmqsink_detach(zmqsink_t *zs, void *socket)
{
    assert(zs && socket);
    return zs__collector_detach(zs->collector, socket);
}

int zmqsink_settle(zmqsink_t *zs, void *zmq_ctx, int timeout_ms)
{
    assert(zs && zmq_ctx);
    int64_t deadline = zs__now_ns() + (int64_t)timeout_ms * 1000000;
    while (zs__collector_readers_of(zs->collector, zmq_ctx) > 0) {
        if (zs__now_ns() >= deadline)
            return -ZMQSINK_ELIMIT;
        struct timespec pause = {0, 2 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    return 0;
}

const char *zmqsink_socket_rule(const zmqsink_t *zs, const char *endpoint)
{
    assert(zs && endpoint);
    for (size_t i = 0; i < zs->config->nrules; i++)
        if (fnmatch(zs->config->rules[i].match, endpoint, 0) == 0)
            return zs->config->rules[i].name;
    return NULL;
}

void zmqsink_reopen(zmqsink_t *zs)
{
    assert(zs);
    size_t n = atomic_load_explicit(&zs->nsinks, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        zs__worker_reopen(zs->sinks[i]);
}

static void sink_stats(const zs__sink_t *sink, zmqsink_sink_stats_t *out)
{
    snprintf(out->name, sizeof out->name, "%s", sink->name);
    snprintf(out->type, sizeof out->type, "%s", sink->type);
    out->enqueued = zs__counter_get(&sink->enqueued);
    out->delivered = zs__counter_get(&sink->delivered);
    out->dropped_full = zs__counter_get(&sink->dropped_full);
    out->dropped_shutdown = zs__counter_get(&sink->dropped_shutdown);
    out->failed = zs__counter_get(&sink->failed);
    out->queue_depth = zs__ring_depth(sink->ring);
    out->queue_capacity = zs__ring_capacity(sink->ring);
}

void zmqsink_stats(zmqsink_t *zs, zmqsink_stats_t *out)
{
    assert(zs && out);
    memset(out, 0, sizeof *out);
    out->events = zs__counter_get(&zs->events);
    out->filtered = zs__counter_get(&zs->filtered);
    out->sockets_attached =
        zs->collector ? zs__collector_attached(zs->collector) : 0;
    out->nsinks = atomic_load_explicit(&zs->nsinks, memory_order_acquire);
    for (size_t i = 0; i < out->nsinks; i++)
        sink_stats(zs->sinks[i], &out->sinks[i]);
}

/* Stops every worker against one deadline, so that they drain in
 * parallel, and reports what did not make it. Returns how many were left
 * running, stuck in their plugin. */
static size_t sinks_stop(zmqsink_t *zs, int64_t deadline,
                         zmqsink_stats_t *stats)
{
    size_t stuck = 0;
    size_t n = atomic_load(&zs->nsinks);
    int64_t started = zs__now_ns();
    for (size_t i = 0; i < n; i++)
        zs__worker_stop(zs->sinks[i], deadline);
    for (size_t i = 0; i < n; i++) {
        zs__sink_t *sink = zs->sinks[i];
        int busy = zs__worker_join(sink);
        if (stats)
            sink_stats(sink, &stats->sinks[i]);
        uint64_t lost = zs__counter_get(&sink->dropped_shutdown);
        if (busy) {
            zs__log(ZMQSINK_SEV_ERR,
                    "sink '%s': still busy in its plugin %lld ms after "
                    "shutdown began; left running, %zu events undelivered",
                    sink->name, (long long)((zs__now_ns() - started) / 1000000),
                    zs__ring_depth(sink->ring));
            stuck++;
            continue; /* its thread still uses it: not freed */
        }
        if (lost)
            zs__log(ZMQSINK_SEV_WARNING,
                    "sink '%s': %llu events not delivered within "
                    "shutdown_timeout",
                    sink->name, (unsigned long long)lost);
        sink_free(sink);
    }
    return stuck;
}

void zmqsink_destroy_stats(zmqsink_t **zsp, zmqsink_stats_t *stats)
{
    zmqsink_t *zs = zsp ? *zsp : NULL;
    if (!zs)
        return;
    /* One deadline for the whole shutdown: the collector's settling and
     * the sinks' draining both count against shutdown_timeout. */
    int64_t timeout_ms = zs->config ? zs->config->shutdown_timeout_ms : 0;
    int64_t deadline = zs__now_ns() + timeout_ms * 1000000;
    zs__collector_destroy(&zs->collector, deadline);
    if (stats) {
        zmqsink_stats(zs, stats);
        stats->sockets_attached = 0;
    }
    *zsp = NULL;
    /* A sink left running may still reach the instance through its host
     * table (sink_drops): then the instance is left allocated too. */
    if (sinks_stop(zs, deadline, stats) > 0)
        return;
    zs__config_free(&zs->config);
    pthread_mutex_destroy(&zs->sinks_lock);
    free(zs);
}

void zmqsink_destroy(zmqsink_t **zsp)
{
    zmqsink_destroy_stats(zsp, NULL);
}
