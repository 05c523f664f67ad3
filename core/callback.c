/* Callback sinks: the built-in sink that calls an application function,
 * for every socket (zmqsink_add_callback()) or for one
 * (zmqsink_socket_callback()), and their removal. Each is a sink like the
 * others, with its thread and ring; adding or removing one is a change of
 * the instance's sink set, as a reload is. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "collector.h"
#include "sinkset.h"
#include "worker.h"

typedef struct callback {
    zmqsink_callback_fn *fn;               /* or */
    zmqsink_socket_callback_fn *socket_fn; /* with socket */
    void *socket;
    void *arg;
    _Atomic int held; /* 1 while the callback it replaces still delivers:
                         the two are never called at once */
    const _Atomic int *abandoned; /* its sink's: left behind by a removal
                                     that returned, it calls no more */
} callback_t;

static void *callback_open(const zmqsink_host_t *host, char *err, size_t len)
{
    return zs__sink_of_host(host)->builtin_arg;
}

static zmqsink_write_result_t callback_write(void *state,
                                             const zmqsink_event_t *events,
                                             size_t n)
{
    callback_t *cb = state;
    while (atomic_load(&cb->held))
        zs__pause();
    for (size_t i = 0; i < n && !atomic_load(cb->abandoned); i++) {
        if (cb->socket_fn)
            cb->socket_fn(cb->socket, &events[i], cb->arg);
        else
            cb->fn(&events[i], cb->arg);
    }
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

/* Whether sink is a callback sink (not one of the config): marked before
 * its thread starts, read by any thread. */
static bool is_callback(const zs__sink_t *sink)
{
    return sink && sink->callback;
}

/* A callback sink named name calling cb, for the socket of lineage (0:
 * every socket), started: its worker runs, nothing routes to it yet.
 * Returns it, or NULL with *rc set. */
static zs__sink_t *callback_start(zmqsink_t *zs, const char *name,
                                  uint32_t events, const callback_t *cb,
                                  uint64_t lineage, int *rc)
{
    char err[256];
    zs__sink_t *sink = zs__sink_new(zs, zs->config, name, events);
    callback_t *state = sink ? malloc(sizeof *state) : NULL;
    *rc = -ZMQSINK_ENOMEM;
    if (!state) {
        zs__sink_free(sink);
        return NULL;
    }
    *state = (callback_t){.fn = cb->fn, .socket_fn = cb->socket_fn,
                          .socket = cb->socket, .arg = cb->arg,
                          .held = atomic_load(&cb->held)};
    state->abandoned = &sink->abandoned;
    sink->lineage = lineage;
    sink->callback = true;
    sink->builtin_arg = state;
    sink->plugin.desc = &callback_plugin;
    snprintf(sink->type, sizeof sink->type, "callback");
    if (zs__worker_start(sink, err, sizeof err) != 0) {
        *rc = -ZMQSINK_EOPEN; /* no thread: its open() cannot fail */
        free(state);
        zs__sink_free(sink);
        return NULL;
    }
    *rc = 0;
    return sink;
}

/* Changes the running set, under change_lock: without `removed` (when not
 * NULL), with `added` (when not NULL) appended. The removed sink delivers
 * what it holds and is gone when this returns. Returns 0 or
 * -ZMQSINK_ENOMEM (nothing changed). */
static int set_change(zmqsink_t *zs, zs__sink_t *removed, zs__sink_t *added)
{
    const zs__sinkset_t *old = zs->set;
    zs__sinkset_t *set = zs__set_new(old, zs->config);
    if (!set)
        return -ZMQSINK_ENOMEM;
    for (size_t i = 0; i < old->n; i++)
        if (old->sinks[i] != removed)
            set->sinks[set->n++] = old->sinks[i];
    if (added)
        set->sinks[set->n++] = added;
    zs__set_publish(zs, set);
    if (removed)
        zs__sinks_stop(zs, &removed, 1,
                       clock_now_ns() + zs->config->shutdown_timeout_ms * 1000000,
                       NULL);
    return 0;
}

/* Replaces the callback sink `removed` (NULL: none) by a new one named
 * name calling cb (NULL: none) for the socket of lineage (0: all), under
 * change_lock. Returns 0 or a negated zmqsink_err_t (nothing changed). */
static int callback_change(zmqsink_t *zs, zs__sink_t *removed,
                           const char *name, uint32_t events,
                           const callback_t *cb, uint64_t lineage)
{
    int rc = 0;
    zs__sink_t *added = NULL;
    if (cb && !(added = callback_start(zs, name, events, cb, lineage, &rc)))
        return rc;
    callback_t *state = added ? added->builtin_arg : NULL;
    if ((rc = set_change(zs, removed, added)) != 0 && added)
        zs__sinks_stop(zs, &added, 1, clock_now_ns(), NULL);
    else if (state)
        atomic_store(&state->held, 0); /* the one it replaces is done */
    return rc;
}

int zmqsink_add_callback(zmqsink_t *zs, const char *name, uint32_t events,
                         zmqsink_callback_fn *fn, void *arg)
{
    if (!zs || !name || !*name || !fn || zs__on_worker_of(zs))
        return -ZMQSINK_EINVAL;
    pthread_mutex_lock(&zs->change_lock);
    const zs__sinkset_t *set = zs->set;
    int rc = zs__set_find(set, name)        ? -ZMQSINK_EEXISTS
             : set->n == ZS__MAX_SINKS      ? -ZMQSINK_ELIMIT
             : callback_change(zs, NULL, name, events,
                               &(callback_t){.fn = fn, .arg = arg}, 0);
    pthread_mutex_unlock(&zs->change_lock);
    return rc;
}

/* The callback sink of the socket of lineage, or NULL. */
static zs__sink_t *socket_callback_find(const zs__sinkset_t *set,
                                        uint64_t lineage)
{
    for (size_t i = 0; i < set->n; i++)
        if (is_callback(set->sinks[i]) && set->sinks[i]->lineage == lineage)
            return set->sinks[i];
    return NULL;
}

int zmqsink_socket_callback(zmqsink_t *zs, void *socket,
                            zmqsink_socket_callback_fn *fn, void *arg)
{
    if (!zs || !socket || zs__on_worker_of(zs))
        return -ZMQSINK_EINVAL;
    pthread_mutex_lock(&zs->change_lock);
    /* Under change_lock: the lineage stays that of a sink's filter. */
    uint64_t lineage = zs__collector_lineage(zs->collector, socket);
    const zs__sinkset_t *set = zs->set;
    zs__sink_t *old = lineage ? socket_callback_find(set, lineage) : NULL;
    char name[ZMQSINK_SOCKET_NAME_MAX];
    snprintf(name, sizeof name, "socket-callback-%llu",
             (unsigned long long)(zs->socket_callbacks + 1));
    int rc = !lineage || (!fn && !old)           ? -ZMQSINK_ENOTFOUND
             : fn && !old && set->n == ZS__MAX_SINKS ? -ZMQSINK_ELIMIT
             : zs__set_find(set, name)            ? -ZMQSINK_EEXISTS
             : callback_change(zs, old, name, ZMQSINK_EVENT_ALL,
                               fn ? &(callback_t){.socket_fn = fn,
                                                  .socket = socket,
                                                  .arg = arg,
                                                  .held = old != NULL}
                                  : NULL,
                               lineage);
    zs->socket_callbacks += rc == 0 && fn;
    pthread_mutex_unlock(&zs->change_lock);
    return rc;
}

int zmqsink_remove_callback(zmqsink_t *zs, const char *name)
{
    if (!zs || !name || zs__on_worker_of(zs))
        return -ZMQSINK_EINVAL;
    pthread_mutex_lock(&zs->change_lock);
    zs__sink_t *sink = zs__set_find(zs->set, name);
    int rc = is_callback(sink) ? set_change(zs, sink, NULL)
                               : -ZMQSINK_ENOTFOUND;
    pthread_mutex_unlock(&zs->change_lock);
    return rc;
}
