/* The sinks of an instance and the sets they form: making a sink from its
 * config (loaded, checked and opened, or started in the background),
 * stopping sinks against one deadline, and publishing a new set to the
 * collector. */
#include "clock.h"
#include "sinkset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "log.h"
#include "worker.h"

/* ---- sinks ---- */

void zs__sink_free(zs__sink_t *sink)
{
    if (!sink)
        return;
    for (size_t i = 0; i < sink->nsocket_globs; i++)
        free(sink->socket_globs[i]);
    free(sink->socket_globs);
    zs__ring_destroy(&sink->ring);
    zs__options_free(&sink->options);
    /* A thread left running was detached: it may still be ending, and a
     * destructor its plugin left for it runs as it ends. Its plugin stays
     * loaded (a reference to the library, not its memory, is kept). */
    if (!atomic_load(&sink->abandoned))
        zs__plugin_unload(&sink->plugin);
    free(sink);
}

zs__sink_t *zs__sink_new(zmqsink_t *zs, const zs__config_t *config,
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

/* The node of entry item of the LIST or MAP option whose value is node
 * (a mapping's key, so that the line names the entry), or node itself. */
static const zs__node_t *option_entry(const zs__node_t *node, long item)
{
    if (!node || item < 0)
        return node;
    if (node->kind == ZS__NODE_MAPPING && (size_t)item < node->nitems / 2)
        return node->items[2 * (size_t)item];
    if (node->kind == ZS__NODE_SEQUENCE && (size_t)item < node->nitems)
        return node->items[item];
    return node;
}

int zs__sink_check(const zs__config_t *config, const zs__sink_config_t *sc,
                   const zs__plugin_t *plugin, zs__options_t *options,
                   char *err, size_t errlen)
{
    const zmqsink_plugin_t *desc = plugin->desc;
    if (desc->abi_minor < 7 || !desc->check)
        return 0;
    /* A sink that exists only for the call: its host table serves the
     * options and the services that need no running sink. */
    zs__sink_t *probe = calloc(1, sizeof *probe);
    if (!probe) {
        snprintf(err, errlen, "sink '%s': out of memory", sc->name);
        return -ZMQSINK_ENOMEM;
    }
    snprintf(probe->name, sizeof probe->name, "%s", sc->name);
    snprintf(probe->config_dir, sizeof probe->config_dir, "%s", config->dir);
    probe->options = options;
    probe->plugin.desc = desc;
    zs__host_init(probe);
    const char *key = NULL;
    long item = -1;
    char why[1024] = "";
    int rc = desc->check(&probe->host, &key, &item, why, sizeof why);
    const zs__node_t *node =
        rc == 0 || !key ? NULL
                        : option_entry(zs__options_node(options, key), item);
    free(probe);
    if (rc == 0)
        return 0;
    char where[PATH_MAX + 32];
    if (node)
        snprintf(where, sizeof where, "%s:%u:%u", config->path, node->line,
                 node->col);
    else
        zs__node_where(config, sc->node, "name", where, sizeof where);
    snprintf(err, errlen, "%s: sink '%s': %s", where, sc->name,
             why[0] ? why : "check() failed");
    return -ZMQSINK_ECONFIG;
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
    return zs__sink_check(config, sc, &sink->plugin, sink->options, err,
                          errlen);
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

zs__sink_t *zs__sink_open(zmqsink_t *zs, const zs__config_t *config,
                          const zs__sink_config_t *sc, bool background,
                          int *rc, char *err, size_t errlen)
{
    char why[1024];
    zs__sink_t *sink = zs__sink_new(zs, config, sc->name, sc->events);
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
    zs__sink_free(sink);
    return NULL;
}

/* Stops and frees sinks that nothing routed to: opened by a change that
 * then failed. */
static void sinks_discard(zmqsink_t *zs, zs__sink_t *const *sinks, size_t n)
{
    zs__sinks_stop(zs, sinks, n, clock_now_ns(), NULL);
}

/* ---- sink sets ---- */

zs__sinkset_t *zs__set_new(const zs__sinkset_t *prev,
                           zs__config_t *config)
{
    zs__sinkset_t *set = calloc(1, sizeof *set);
    if (set) {
        set->generation = prev ? prev->generation + 1 : 1;
        set->config = config;
    }
    return set;
}

zs__sink_t *zs__set_find(const zs__sinkset_t *set, const char *name)
{
    for (size_t i = 0; set && i < set->n; i++)
        if (strcmp(set->sinks[i]->name, name) == 0)
            return set->sinks[i];
    return NULL;
}

void zs__set_publish(zmqsink_t *zs, zs__sinkset_t *set)
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

void zs__sinks_stop(zmqsink_t *zs, zs__sink_t *const *sinks, size_t n,
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
        zmqsink_sink_stats_t last;
        zs__sink_stats(sink, &last);
        /* What it still holds will not be delivered by this instance (one
         * stuck in its plugin): dropped, and the identity stays. */
        uint64_t held = last.queue_depth + last.pending;
        last.dropped_shutdown += held;
        last.queue_depth = last.pending = 0;
        if (stats)
            stats[i] = last;
        uint64_t lost = zs__counter_get(&sink->dropped_shutdown);
        if (busy[i]) {
            zs__log(ZMQSINK_SEV_ERR,
                    "sink '%s': still busy in its plugin %lld ms after "
                    "shutdown began; left running, %llu events undelivered",
                    sink->name, (long long)((clock_now_ns() - started) / 1000000),
                    (unsigned long long)held);
            if (zs->nstuck == ZS__MAX_SINKS)
                zs__stuck_reap(zs);
            if (zs->nstuck < ZS__MAX_SINKS)
                zs->stuck[zs->nstuck++] = sink;
            else /* never freed: its thread may still use the instance */
                zs->stuck_lost = true;
            continue; /* its thread still uses it: not freed */
        }
        if (lost && !stats) /* at destroy, the report sums up */
            zs__log(ZMQSINK_SEV_WARNING,
                    "sink '%s': %llu events not delivered within "
                    "shutdown_timeout",
                    sink->name, (unsigned long long)lost);
        zs__sink_free(sink);
    }
}

size_t zs__stuck_reap(zmqsink_t *zs)
{
    size_t busy = 0;
    for (size_t i = 0; i < zs->nstuck; i++) {
        if (atomic_load(&zs->stuck[i]->finished) != 1)
            zs->stuck[busy++] = zs->stuck[i];
        else
            zs__sink_free(zs->stuck[i]); /* its thread touches it no more */
    }
    zs->nstuck = busy;
    return busy;
}

/* Drops one count of an orphaned instance; the last frees it. */
static void orphan_unref(zmqsink_t *zs)
{
    if (atomic_fetch_sub(&zs->orphan_refs, 1) == 1)
        zs__instance_free(zs);
}

void zs__stuck_orphan(zmqsink_t *zs)
{
    atomic_store(&zs->orphan_refs, zs->nstuck + 1);
    /* Each sink's end is decided once, by whichever of its thread and
     * this loop changes its `finished` first. */
    for (size_t i = 0; i < zs->nstuck; i++) {
        _Atomic int *finished = &zs->stuck[i]->finished;
        int running = 0;
        if (!atomic_compare_exchange_strong(finished, &running, 2))
            atomic_fetch_sub(&zs->orphan_refs, 1); /* finished meanwhile */
    }
    orphan_unref(zs);
}

void zs__stuck_finished(zs__sink_t *sink, zmqsink_t *owner)
{
    if (atomic_exchange(&sink->finished, 1) == 2)
        orphan_unref(owner);
}

void zs__sink_stats(const zs__sink_t *sink, zmqsink_sink_stats_t *out)
{
    snprintf(out->name, sizeof out->name, "%s", sink->name);
    snprintf(out->type, sizeof out->type, "%s", sink->type);
    /* Downstream first: each counter is written after the one read after
     * it (the worker counts an event once it left the ring, the ring
     * releases only what was pushed, a revocation precedes its loss), so
     * that pending and queue_depth, derived, are never negative and
     * enqueued + dropped_full = delivered + pending + queue_depth + failed
     * + dropped_full + dropped_shutdown holds in every snapshot. */
    out->failed = zs__counter_get(&sink->failed);
    out->dropped_shutdown = zs__counter_get(&sink->dropped_shutdown);
    uint64_t revoked = zs__counter_get(&sink->revoked);
    out->delivered = zs__counter_get(&sink->delivered) - revoked;
    uint64_t taken = zs__ring_released(sink->ring);
    out->enqueued = zs__ring_pushed(sink->ring);
    out->dropped_full = zs__counter_get(&sink->dropped_full);
    out->pending =
        taken - out->delivered - out->failed - out->dropped_shutdown;
    out->queue_depth = out->enqueued - taken;
    out->queue_capacity = zs__ring_capacity(sink->ring);
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

int zs__set_fill(zmqsink_t *zs, zs__sinkset_t *set, const zs__sinkset_t *old,
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
                        zs__sink_open(zs, config, sc, false, &rc, err, errlen))) {
            opened[nopened++] = set->sinks[set->n++];
        }
    }
    for (size_t i = 0; i < old->n && rc == 0; i++) {
        if (old->sinks[i]->node)
            continue;
        if (zs__set_find(set, old->sinks[i]->name) || set->n == ZS__MAX_SINKS) {
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

const zs__sink_t *zs__sinks_wait_opened(const zs__sinkset_t *set,
                                        int64_t deadline_ns)
{
    for (size_t i = 0; i < set->n; i++)
        while (atomic_load(&set->sinks[i]->opening)) {
            if (clock_now_ns() >= deadline_ns)
                return set->sinks[i];
            zs__pause();
        }
    return NULL;
}
