/* The zmqsink instance: configuration, sinks, collector, and the public API. */
#include <assert.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "address.h"
#include "collector.h"
#include "internal.h"
#include "log.h"
#include "report.h"
#include "worker.h"
#include "clock.h"

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

static zs__sink_t *sink_new(zmqsink_t *zs, const zs__config_t *config,
                            const char *name, uint32_t events)
{
    zs__sink_t *sink = calloc(1, sizeof *sink);
    if (!sink)
        return NULL;
    sink->owner = zs;
    snprintf(sink->name, sizeof sink->name, "%s", name);
    sink->events = events;
    sink->min_severity = ZMQSINK_SEV_DEBUG;
    snprintf(sink->config_dir, sizeof sink->config_dir, "%s", config->dir);
    sink->ring = zs__ring_new(config->queue_capacity);
    if (!sink->ring) {
        free(sink);
        return NULL;
    }
    zs__host_init(sink);
    return sink;
}

/* Loads the sink's plugin and checks its options, from the config
 * remembered in the sink. Returns 0, or -ZMQSINK_EPLUGIN or
 * -ZMQSINK_ECONFIG with "FILE:LINE:COL: sink 'NAME': ..." in err. On the
 * caller's thread, or on the sink's own when started in the background. */
static int sink_prepare(zs__sink_t *sink, char *err, size_t errlen)
{
    const zs__config_t *config = sink->config;
    const zs__sink_config_t *sc = sink->sink_config;
    if (zs__plugin_load(config, sc, &sink->plugin, err, errlen) != 0)
        return -ZMQSINK_EPLUGIN;
    if (zs__options_parse(config, sc, sink->plugin.desc->name,
                          sink->plugin.desc->options, &sink->options, err,
                          errlen) != 0)
        return -ZMQSINK_ECONFIG;
    return 0;
}

/* The `type:` of a sink before its plugin is loaded: its type, or the
 * name of its plugin file. */
static void sink_type_guess(const zs__sink_config_t *sc, char *out, size_t cap)
{
    const char *base = sc->type ? sc->type : strrchr(sc->plugin, '/');
    base = base && *base == '/' ? base + 1 : base ? base : sc->plugin;
    size_t len = strcspn(base, ".");
    snprintf(out, cap, "%.*s", (int)len, base);
}

/* Makes the sink a config describes and starts it (its worker runs, but
 * nothing routes to it yet): loaded, checked and opened before this
 * returns, or, in the background, by its own thread. Returns it, or NULL
 * with "FILE:LINE:COL: sink 'NAME': ..." in err and *rc set. */
static zs__sink_t *sink_open(zmqsink_t *zs, const zs__config_t *config,
                             const zs__sink_config_t *sc, bool background,
                             int *rc, char *err, size_t errlen)
{
    char why[1024];
    zs__sink_t *sink = sink_new(zs, config, sc->name, sc->events);
    *rc = -ZMQSINK_ENOMEM;
    if (!sink) {
        snprintf(err, errlen, "sink '%s': out of memory", sc->name);
        return NULL;
    }
    sink->node = sc->node;
    sink->min_severity = sc->min_severity;
    sink->config = config;
    sink->sink_config = sc;
    if (sc->nsockets) {
        sink->socket_globs = calloc(sc->nsockets, sizeof *sink->socket_globs);
        if (!sink->socket_globs)
            goto err;
        for (; sink->nsocket_globs < sc->nsockets; sink->nsocket_globs++)
            if (!(sink->socket_globs[sink->nsocket_globs] =
                      strdup(sc->sockets[sink->nsocket_globs])))
                goto err;
    }
    char where[PATH_MAX + 32];
    zs__node_where(config, sc->node, "name", where, sizeof where);
    snprintf(sink->origin, sizeof sink->origin, "%s: sink '%s'", where,
             sc->name);
    if (background) {
        sink_type_guess(sc, sink->type, sizeof sink->type);
        sink->prepare = sink_prepare;
        *rc = -ZMQSINK_EOPEN;
        if (zs__worker_start_background(sink, why, sizeof why) != 0) {
            snprintf(err, errlen, "%s: sink '%s': %s", where, sc->name, why);
            goto err;
        }
        *rc = 0;
        return sink;
    }
    if ((*rc = sink_prepare(sink, err, errlen)) != 0)
        goto err;
    snprintf(sink->type, sizeof sink->type, "%s", sink->plugin.desc->name);
    *rc = -ZMQSINK_EOPEN;
    if (zs__worker_start(sink, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s: sink '%s': %s", where, sc->name, why);
        goto err;
    }
    *rc = 0;
    return sink;
err:
    sink_free(sink);
    return NULL;
}

/* Stops the sinks against one deadline, so that they drain in parallel,
 * frees them and reports what did not make it. A sink still busy in its
 * plugin is left running, in zs->stuck. stats, when not NULL, receives
 * each one's final counters. */
static void sinks_stop(zmqsink_t *zs, zs__sink_t *const *sinks, size_t n,
                       int64_t deadline, zmqsink_sink_stats_t *stats);

/* Stops and frees sinks that nothing routed to: opened by a change that
 * then failed. */
static void sinks_discard(zmqsink_t *zs, zs__sink_t *const *sinks, size_t n)
{
    sinks_stop(zs, sinks, n, clock_now_ns(), NULL);
}

/* ---- sink sets ---- */

static zs__sinkset_t *set_new(const zs__sinkset_t *prev,
                              zs__config_t *config)
{
    zs__sinkset_t *set = calloc(1, sizeof *set);
    if (set) {
        set->generation = prev ? prev->generation + 1 : 1;
        set->config = config;
    }
    return set;
}

static const zs__sink_t *set_find(const zs__sinkset_t *set, const char *name)
{
    for (size_t i = 0; set && i < set->n; i++)
        if (strcmp(set->sinks[i]->name, name) == 0)
            return set->sinks[i];
    return NULL;
}

/* Has the collector route to set from its next event on, then makes set
 * and its config the instance's; frees the set and config they replace. */
static void set_publish(zmqsink_t *zs, zs__sinkset_t *set)
{
    zs__collector_switch(zs->collector, set);
    pthread_mutex_lock(&zs->set_lock);
    zs__sinkset_t *old = zs->set;
    zs__config_t *old_config = zs->config;
    zs->set = set;
    zs->config = set->config;
    pthread_mutex_unlock(&zs->set_lock);
    free(old);
    if (old_config != set->config)
        zs__config_free(&old_config);
}

int zmqsink_add_callback(zmqsink_t *zs, const char *name, uint32_t events,
                         zmqsink_callback_fn *fn, void *arg)
{
    if (!zs || !name || !fn)
        return -ZMQSINK_EINVAL;
    char err[256];
    pthread_mutex_lock(&zs->change_lock);
    const zs__sinkset_t *old = zs->set;
    int rc = set_find(old, name)             ? -ZMQSINK_EEXISTS
             : old->n == ZS__MAX_SINKS       ? -ZMQSINK_ELIMIT
                                             : -ZMQSINK_ENOMEM;
    zs__sink_t *sink =
        rc == -ZMQSINK_ENOMEM ? sink_new(zs, zs->config, name, events) : NULL;
    zs__sinkset_t *set = sink ? set_new(old, zs->config) : NULL;
    if (set && zs__callback_bind(sink, fn, arg) == 0)
        rc = zs__worker_start(sink, err, sizeof err) != 0 ? -ZMQSINK_EOPEN : 0;
    if (rc == 0) {
        memcpy(set->sinks, old->sinks, old->n * sizeof *old->sinks);
        set->n = old->n;
        set->sinks[set->n++] = sink;
        set_publish(zs, set);
    } else { /* the callback's open() cannot fail: no thread took it */
        free(set);
        if (sink)
            free(sink->builtin_arg);
        sink_free(sink);
    }
    pthread_mutex_unlock(&zs->change_lock);
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

static void probes_describe(const zs__config_t *config, FILE *out)
{
    for (size_t i = 0; i < config->nprobes; i++) {
        const zs__probe_t *p = &config->probes[i];
        fprintf(out, "  probe '%s': %s socket to %s%s\n", p->name,
                zmqsink_socket_type_name(p->type), p->endpoint,
                p->server_key ? ", CURVE" : "");
    }
}

/* Reads a config file, or the compiled-in default for NULL. Returns 0 or
 * -ZMQSINK_ECONFIG with the message in err. */
static int config_read(const char *config_path, zs__config_t **config,
                       char *err, size_t errlen)
{
    int rc = config_path
                 ? zs__config_load_file(config_path, config, err, errlen)
                 : zs__config_load_string("<default>", zmqsink_default_config(),
                                          config, err, errlen);
    return rc == 0 ? 0 : -ZMQSINK_ECONFIG;
}

int zmqsink_check(const char *config_path, FILE *out, char *err, size_t errlen)
{
    zs__config_t *config = NULL;
    int rc = config_read(config_path, &config, err, errlen);
    if (rc != 0)
        return rc;
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
    if (config->stats_path)
        fprintf(report, "  stats: %s every %lld ms\n", config->stats_path,
                (long long)config->stats_interval_ms);
    probes_describe(config, report);
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

int zmqsink_start(zmqsink_t **out, void *zmq_ctx, const char *config_path,
                  unsigned flags, char *err, size_t errlen)
{
    char scratch[8];
    if (!err || !errlen) {
        err = scratch;
        errlen = sizeof scratch;
    }
    if (!out || !zmq_ctx || (flags & ~ZMQSINK_START_BACKGROUND)) {
        snprintf(err, errlen, "zmqsink_start: invalid argument");
        return -ZMQSINK_EINVAL;
    }
    *out = NULL;
    zmqsink_t *zs = calloc(1, sizeof *zs);
    if (!zs) {
        snprintf(err, errlen, "out of memory");
        return -ZMQSINK_ENOMEM;
    }
    zs->ctx = zmq_ctx;
    pthread_mutex_init(&zs->change_lock, NULL);
    pthread_mutex_init(&zs->set_lock, NULL);
    /* Read here, on the caller's thread: reading the environment races
     * with a setenv() of the application on another. */
    const char *stats_file = getenv("ZMQSINK_STATS_FILE");
    if (stats_file && *stats_file && !(zs->stats_file = strdup(stats_file))) {
        snprintf(err, errlen, "out of memory");
        zmqsink_destroy(&zs);
        return -ZMQSINK_ENOMEM;
    }
    int rc = config_read(config_path, &zs->config, err, errlen);
    if (rc != 0)
        goto err;
    rc = -ZMQSINK_ENOMEM;
    if (!(zs->set = set_new(NULL, zs->config))) {
        snprintf(err, errlen, "out of memory");
        goto err;
    }
    /* The collector starts after the sinks: nothing routes yet. */
    for (size_t i = 0; i < zs->config->nsinks; i++) {
        zs__sink_t *sink = sink_open(zs, zs->config, &zs->config->sinks[i],
                                     flags & ZMQSINK_START_BACKGROUND, &rc,
                                     err, errlen);
        if (!sink)
            goto err;
        pthread_mutex_lock(&zs->set_lock);
        zs->set->sinks[zs->set->n++] = sink;
        pthread_mutex_unlock(&zs->set_lock);
    }
    rc = -ZMQSINK_ESYSTEM;
    if (!(zs->collector = zs__collector_new(zs, zs->set, err, errlen)) ||
        !(zs->report = zs__report_new(zs, err, errlen)))
        goto err;
    *out = zs;
    return 0;
err:
    zmqsink_destroy(&zs);
    return rc;
}

zmqsink_t *zmqsink_new(void *zmq_ctx, const char *config_path, char *err,
                       size_t errlen)
{
    zmqsink_t *zs = NULL;
    zmqsink_start(&zs, zmq_ctx, config_path, 0, err, errlen);
    return zs;
}

/* The sink of the running set that a new config keeps: same name, same
 * settings, and open (one that could not open is tried anew). Returns its
 * index, or -1. */
static int set_kept(const zs__sinkset_t *set, const zs__sink_config_t *sc)
{
    for (size_t i = 0; i < set->n; i++)
        if (set->sinks[i]->node && strcmp(set->sinks[i]->name, sc->name) == 0 &&
            zs__node_equal(set->sinks[i]->node, sc->node) &&
            !atomic_load(&set->sinks[i]->unopened))
            return (int)i;
    return -1;
}

/* Fills set from config: the sinks of old it keeps, new ones opened, then
 * old's callback sinks. kept[i] tells which of old's stay. Returns 0, or a
 * negated zmqsink_err_t with err (the sinks it opened are then closed). */
static int set_fill(zmqsink_t *zs, zs__sinkset_t *set, const zs__sinkset_t *old,
                    const zs__config_t *config, bool *kept, char *err,
                    size_t errlen)
{
    zs__sink_t *opened[ZS__MAX_SINKS];
    size_t nopened = 0;
    int rc = 0;
    for (size_t i = 0; i < config->nsinks && rc == 0; i++) {
        const zs__sink_config_t *sc = &config->sinks[i];
        int same = set_kept(old, sc);
        if (same >= 0) {
            kept[same] = true;
            set->sinks[set->n++] = old->sinks[same];
        } else if ((set->sinks[set->n] =
                        sink_open(zs, config, sc, false, &rc, err, errlen))) {
            opened[nopened++] = set->sinks[set->n++];
        }
    }
    for (size_t i = 0; i < old->n && rc == 0; i++) {
        if (old->sinks[i]->node)
            continue;
        if (set_find(set, old->sinks[i]->name) || set->n == ZS__MAX_SINKS) {
            snprintf(err, errlen, "%s: sink '%s': %s", config->path,
                     old->sinks[i]->name,
                     set->n == ZS__MAX_SINKS ? "one sink too many (at most 64)"
                                             : "the name of a callback sink");
            rc = -ZMQSINK_ECONFIG;
            break;
        }
        kept[i] = true;
        set->sinks[set->n++] = old->sinks[i];
    }
    if (rc != 0)
        sinks_discard(zs, opened, nopened);
    return rc;
}

/* Waits until the sinks started in the background are open (or failed):
 * until then they read the config that a reload would free. */
static void sinks_wait_opened(const zs__sinkset_t *set)
{
    for (size_t i = 0; i < set->n; i++)
        while (atomic_load(&set->sinks[i]->opening))
            zs__pause();
}

int zmqsink_reload(zmqsink_t *zs, const char *config_path, char *err,
                   size_t errlen)
{
    assert(zs && err);
    zs__config_t *config = NULL;
    int rc = config_read(config_path, &config, err, errlen);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&zs->change_lock);
    const zs__sinkset_t *old = zs->set;
    sinks_wait_opened(old);
    bool kept[ZS__MAX_SINKS] = {false};
    zs__sinkset_t *set = set_new(old, config);
    rc = set ? set_fill(zs, set, old, config, kept, err, errlen)
             : -ZMQSINK_ENOMEM;
    if (rc != 0) {
        if (!set)
            snprintf(err, errlen, "out of memory");
        free(set);
        zs__config_free(&config);
        pthread_mutex_unlock(&zs->change_lock);
        return rc;
    }
    zs__sink_t *removed[ZS__MAX_SINKS];
    size_t nremoved = 0, nkept = 0;
    for (size_t i = 0; i < old->n; i++) {
        if (!kept[i])
            removed[nremoved++] = old->sinks[i];
        nkept += kept[i];
    }
    /* Kept sinks now answer to the new file's mappings. */
    for (size_t i = 0; i < config->nsinks; i++)
        set->sinks[i]->node = config->sinks[i].node;
    size_t nopened = set->n - nkept;
    set_publish(zs, set);
    sinks_stop(zs, removed, nremoved,
               clock_now_ns() + config->shutdown_timeout_ms * 1000000, NULL);
    zs__log(ZMQSINK_SEV_INFO,
            "%s: reloaded: %zu sinks kept, %zu opened, %zu closed",
            config->path, nkept, nopened, nremoved);
    pthread_mutex_unlock(&zs->change_lock);
    return 0;
}

size_t zmqsink_probes(const zmqsink_t *zs, const zmqsink_probe_t **probes)
{
    assert(zs && probes);
    *probes = zs->config->probes;
    return zs->config->nprobes;
}

/* Attaches under name ("" or NULL: "<type>-<n>"), delivering events. */
static int attach(zmqsink_t *zs, void *zmq_ctx, void *socket,
                  const char *name, uint32_t events)
{
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
    return zs__collector_attach(zs->collector, zmq_ctx, socket, name, events);
}

int zmqsink_attach_ctx(zmqsink_t *zs, void *zmq_ctx, void *socket,
                       const char *name)
{
    assert(zs && zmq_ctx && socket);
    return attach(zs, zmq_ctx, socket, name, ZMQSINK_EVENT_ALL);
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

/* Waits until ctx has no reader left (of those ending soon only, with
 * ending_only), at most timeout_ms. */
static int settle(zmqsink_t *zs, void *zmq_ctx, int timeout_ms,
                  bool ending_only)
{
    int64_t deadline = clock_now_ns() + (int64_t)timeout_ms * 1000000;
    while (zs__collector_readers_of(zs->collector, zmq_ctx, ending_only) > 0) {
        if (clock_now_ns() >= deadline)
            return -ZMQSINK_ELIMIT;
        zs__pause();
    }
    return 0;
}

int zmqsink_settle(zmqsink_t *zs, void *zmq_ctx, int timeout_ms)
{
    assert(zs && zmq_ctx);
    return settle(zs, zmq_ctx, timeout_ms, false);
}

int zmqsink_settle_closed(zmqsink_t *zs, void *zmq_ctx, int timeout_ms)
{
    assert(zs && zmq_ctx);
    return settle(zs, zmq_ctx, timeout_ms, true);
}

void zmqsink_socket_closed(zmqsink_t *zs, void *socket)
{
    if (zs && socket)
        zs__collector_closed(zs->collector, socket);
}

int zmqsink_attach_endpoint(zmqsink_t *zs, void *zmq_ctx, void *socket,
                            const char *endpoint)
{
    assert(zs && zmq_ctx && socket && endpoint);
    char name[ZMQSINK_SOCKET_NAME_MAX] = "";
    uint32_t events = ZMQSINK_EVENT_ALL;
    pthread_mutex_lock(&zs->set_lock);
    for (size_t i = 0; i < zs->config->nrules; i++) {
        const zs__socket_rule_t *rule = &zs->config->rules[i];
        if (fnmatch(rule->match, endpoint, 0) == 0) {
            snprintf(name, sizeof name, "%s", rule->name);
            events = rule->events;
            break;
        }
    }
    pthread_mutex_unlock(&zs->set_lock);
    return attach(zs, zmq_ctx, socket, name, events);
}

int zmqsink_socket_monitor_versioned(zmqsink_t *zs, void *zmq_ctx,
                                     void *socket, const char *endpoint,
                                     uint64_t events, int event_version,
                                     int type)
{
    if (!zs || !socket) {
        errno = EINVAL;
        return -ZMQSINK_EINVAL;
    }
    return zs__collector_monitor(zs->collector, zmq_ctx ? zmq_ctx : zs->ctx,
                                 socket, endpoint, events, event_version,
                                 type);
}

int zmqsink_socket_monitor(zmqsink_t *zs, void *socket, const char *endpoint,
                           int events)
{
    return zmqsink_socket_monitor_versioned(zs, NULL, socket, endpoint,
                                            (uint64_t)events, 1,
                                            ZMQ_PAIR);
}

int zmqsink_bind(zmqsink_t *zs, void *socket, const char *endpoint)
{
    if (!zs || !socket || !endpoint) {
        errno = EINVAL;
        return -1;
    }
    return zs__collector_bind(zs->collector, socket, endpoint);
}

void zmqsink_reopen(zmqsink_t *zs)
{
    assert(zs);
    pthread_mutex_lock(&zs->set_lock);
    for (size_t i = 0; i < zs->set->n; i++)
        zs__worker_reopen(zs->set->sinks[i]);
    pthread_mutex_unlock(&zs->set_lock);
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
    pthread_mutex_lock(&zs->set_lock);
    out->nsinks = zs->set ? zs->set->n : 0;
    for (size_t i = 0; i < out->nsinks; i++)
        sink_stats(zs->set->sinks[i], &out->sinks[i]);
    pthread_mutex_unlock(&zs->set_lock);
}

static void sinks_stop(zmqsink_t *zs, zs__sink_t *const *sinks, size_t n,
                       int64_t deadline, zmqsink_sink_stats_t *stats)
{
    int64_t started = clock_now_ns();
    bool busy[ZS__MAX_SINKS];
    for (size_t i = 0; i < n; i++)
        zs__worker_stop(sinks[i], deadline);
    /* All joined before any is freed: a flush may still ask for the
     * others' counters (sink_drops). */
    for (size_t i = 0; i < n; i++)
        busy[i] = zs__worker_join(sinks[i]) != 0;
    if (zs->set && n && zs->set->sinks == sinks) {
        pthread_mutex_lock(&zs->set_lock);
        zs->set->n = 0; /* the instance's own set: nothing to ask now */
        pthread_mutex_unlock(&zs->set_lock);
    }
    for (size_t i = 0; i < n; i++) {
        zs__sink_t *sink = sinks[i];
        if (stats)
            sink_stats(sink, &stats[i]);
        uint64_t lost = zs__counter_get(&sink->dropped_shutdown);
        if (busy[i]) {
            /* What it still holds will not be delivered by this instance. */
            if (stats)
                stats[i].dropped_shutdown += stats[i].queue_depth;
            zs__log(ZMQSINK_SEV_ERR,
                    "sink '%s': still busy in its plugin %lld ms after "
                    "shutdown began; left running, %zu events undelivered",
                    sink->name, (long long)((clock_now_ns() - started) / 1000000),
                    zs__ring_depth(sink->ring));
            zs->stuck[zs->nstuck++ % ZS__MAX_SINKS] = sink;
            continue; /* its thread still uses it: not freed */
        }
        if (lost && !stats) /* at destroy, the report sums up */
            zs__log(ZMQSINK_SEV_WARNING,
                    "sink '%s': %llu events not delivered within "
                    "shutdown_timeout",
                    sink->name, (unsigned long long)lost);
        sink_free(sink);
    }
}

/* Frees the sinks left running that have finished since. Returns how many
 * are still busy. */
static size_t stuck_reap(zmqsink_t *zs)
{
    size_t busy = 0;
    for (size_t i = 0; i < zs->nstuck && i < ZS__MAX_SINKS; i++) {
        if (!atomic_load(&zs->stuck[i]->finished))
            zs->stuck[busy++] = zs->stuck[i];
        else
            sink_free(zs->stuck[i]); /* its thread touches it no more */
    }
    zs->nstuck = busy;
    return busy;
}

void zmqsink_destroy_stats(zmqsink_t **zsp, zmqsink_stats_t *stats)
{
    zmqsink_t *zs = zsp ? *zsp : NULL;
    if (!zs)
        return;
    *zsp = NULL;
    if (zs->report)
        zs__report_stop(zs->report);
    /* One deadline for the whole shutdown: the collector's settling and
     * the sinks' draining both count against shutdown_timeout. */
    int64_t timeout_ms = zs->config ? zs->config->shutdown_timeout_ms : 0;
    int64_t deadline = clock_now_ns() + timeout_ms * 1000000;
    zs__collector_destroy(&zs->collector, deadline);
    zmqsink_stats_t final;
    zmqsink_stats(zs, &final);
    if (zs->set)
        sinks_stop(zs, zs->set->sinks, zs->set->n, deadline, final.sinks);
    zs__report_destroy(&zs->report, &final);
    if (stats)
        *stats = final;
    /* A sink left running may still reach the instance through its host
     * table (sink_drops): then the instance is left allocated too. */
    if (stuck_reap(zs) > 0)
        return;
    free(zs->set);
    free(zs->stats_file);
    zs__config_free(&zs->config);
    pthread_mutex_destroy(&zs->change_lock);
    pthread_mutex_destroy(&zs->set_lock);
    free(zs);
}

void zmqsink_exit_flush(zmqsink_t *zs)
{
    if (!zs || !zs->set)
        return;
    /* Atomics, futex wakes and sleeps only: this may run in a signal
     * handler that interrupted a thread holding any lock. */
    const zs__sinkset_t *set = zs->set;
    int64_t deadline =
        clock_now_ns() + zs->config->shutdown_timeout_ms * 1000000;
    int64_t give_up = deadline + 1000 * 1000 * 1000LL;
    for (size_t i = 0; i < set->n; i++)
        zs__worker_stop(set->sinks[i], deadline);
    for (size_t i = 0; i < set->n; i++)
        while (!atomic_load(&set->sinks[i]->finished) &&
               clock_now_ns() < give_up)
            zs__pause();
    /* The last word even when a sink is stuck: a second more for it. */
    if (zs->report)
        zs__report_last(zs->report, clock_now_ns() + 1000 * 1000 * 1000LL);
}

void zmqsink_destroy(zmqsink_t **zsp)
{
    zmqsink_destroy_stats(zsp, NULL);
}
