/* The zmqsink instance: its start, reload, counters and end, and the
 * library's version and error names. Its sinks are core/sinkset.c, the
 * calls about sockets core/sockets.c, callbacks core/callback.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "collector.h"
#include "internal.h"
#include "log.h"
#include "report.h"
#include "sinkset.h"
#include "worker.h"

unsigned zmqsink_version(void)
{
    return ZMQSINK_VERSION;
}

const char *zmqsink_version_string(void)
{
    return ZMQSINK_VERSION_STRING;
}

static const struct {
    const char *name, *text;
} errors[] = {
#define ZS_ERROR(name, text) {"E" #name, text},
    ZMQSINK_ERRORS(ZS_ERROR)
#undef ZS_ERROR
};

/* The row of errors for err (positive or negated), or -1. */
static int error_row(int err)
{
    long long e = err < 0 ? -(long long)err : err; /* INT_MIN included */
    return e < (long long)(sizeof errors / sizeof *errors) ? (int)e : -1;
}

const char *zmqsink_strerror(int err)
{
    int row = error_row(err);
    return row < 0 ? "unknown error" : errors[row].text;
}

const char *zmqsink_err_name(int err)
{
    int row = error_row(err);
    return row < 0 ? "UNKNOWN" : row == 0 ? "OK" : errors[row].name;
}

/* ---- instance ---- */

int zmqsink_start(zmqsink_t **out, void *zmq_ctx, const char *config_path,
                  unsigned flags, char *err, size_t errlen)
{
    char scratch[8];
    err = zs__err_room(err, &errlen, scratch, sizeof scratch);
    if (out)
        *out = NULL;
    if (!out || !zmq_ctx || (flags & ~ZMQSINK_START_BACKGROUND)) {
        snprintf(err, errlen, "zmqsink_start: invalid argument");
        return -ZMQSINK_EINVAL;
    }
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
    int rc = zs__config_read(config_path, &zs->config, err, errlen);
    if (rc != 0)
        goto err;
    rc = -ZMQSINK_ENOMEM;
    if (!(zs->report = zs__report_new(zs)) ||
        !(zs->set = zs__set_new(NULL, zs->config))) {
        snprintf(err, errlen, "out of memory");
        goto err;
    }
    /* The collector starts after the sinks: nothing routes yet. */
    for (size_t i = 0; i < zs->config->nsinks; i++) {
        zs__sink_t *sink = zs__sink_open(zs, zs->config, &zs->config->sinks[i],
                                     flags & ZMQSINK_START_BACKGROUND, &rc,
                                     err, errlen);
        if (!sink)
            goto err;
        pthread_mutex_lock(&zs->set_lock);
        zs->set->sinks[zs->set->n++] = sink;
        pthread_mutex_unlock(&zs->set_lock);
    }
    rc = -ZMQSINK_ESYSTEM;
    zs__collector_t *collector = zs__collector_new(zs, zs->set, err, errlen);
    pthread_mutex_lock(&zs->set_lock); /* sinks' threads read it: host.c */
    zs->collector = collector;
    pthread_mutex_unlock(&zs->set_lock);
    if (!collector || zs__report_start(zs->report, err, errlen) != 0)
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

int zmqsink_reload(zmqsink_t *zs, const char *config_path, char *err,
                   size_t errlen)
{
    char scratch[8];
    err = zs__err_room(err, &errlen, scratch, sizeof scratch);
    if (!zs || zs__on_worker_of(zs)) {
        snprintf(err, errlen, "zmqsink_reload: invalid argument%s",
                 zs ? " (from a callback of the instance)" : "");
        return -ZMQSINK_EINVAL;
    }
    zs__config_t *config = NULL;
    int rc = zs__config_read(config_path, &config, err, errlen);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&zs->change_lock);
    const zs__sinkset_t *old = zs->set;
    const zs__sink_t *opening = zs__sinks_wait_opened(
        old, clock_now_ns() + zs->config->shutdown_timeout_ms * 1000000);
    if (opening) {
        snprintf(err, errlen,
                 "%s: sink '%s' is still opening (started in the background)"
                 " after shutdown_timeout; reload once it is open",
                 config->path, opening->name);
        zs__config_free(&config);
        pthread_mutex_unlock(&zs->change_lock);
        return -ZMQSINK_ELIMIT;
    }
    bool kept[ZS__MAX_SINKS] = {false};
    zs__sinkset_t *set = zs__set_new(old, config);
    rc = set ? zs__set_fill(zs, set, old, config, kept, err, errlen)
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
    zs__set_publish(zs, set);
    zs__report_poke(zs->report); /* its stats file may have changed */
    zs__sinks_stop(zs, removed, nremoved,
                   clock_now_ns() + config->shutdown_timeout_ms * 1000000,
                   NULL);
    zs__log(ZMQSINK_SEV_INFO,
            "%s: reloaded: %zu sinks kept, %zu opened, %zu closed",
            config->path, nkept, nopened, nremoved);
    pthread_mutex_unlock(&zs->change_lock);
    return 0;
}

size_t zmqsink_probes(const zmqsink_t *zs, const zmqsink_probe_t **probes)
{
    if (!zs || !probes)
        return 0;
    *probes = zs->config->probes;
    return zs->config->nprobes;
}

void zmqsink_reopen(zmqsink_t *zs)
{
    if (!zs)
        return;
    pthread_mutex_lock(&zs->set_lock);
    for (size_t i = 0; i < zs->set->n; i++)
        zs__worker_reopen(zs->set->sinks[i]);
    pthread_mutex_unlock(&zs->set_lock);
}

int zmqsink_stats(zmqsink_t *zs, zmqsink_stats_t *out)
{
    if (!zs || !out || (!out->sinks && out->sinks_cap))
        return -ZMQSINK_EINVAL;
    out->events = zs__counter_get(&zs->events);
    out->filtered = zs__counter_get(&zs->filtered);
    pthread_mutex_lock(&zs->set_lock);
    out->sockets_attached = zs__sockets_attached(zs);
    out->nsinks = zs->set ? zs->set->n : 0;
    for (size_t i = 0; i < out->nsinks && i < out->sinks_cap; i++)
        zs__sink_stats(zs->set->sinks[i], &out->sinks[i]);
    pthread_mutex_unlock(&zs->set_lock);
    return 0;
}

uint64_t zs__sockets_attached(zmqsink_t *zs)
{
    return zs->collector ? zs__collector_attached(zs->collector) : 0;
}

void zmqsink_destroy_stats(zmqsink_t **zsp, zmqsink_stats_t *stats)
{
    zmqsink_t *zs = zsp ? *zsp : NULL;
    if (!zs)
        return;
    if (zs__on_worker_of(zs)) {
        zs__log(ZMQSINK_SEV_ERR, "zmqsink_destroy() called from a callback "
                                 "of the instance: refused, it would wait "
                                 "for its own thread");
        return;
    }
    *zsp = NULL;
    if (zs->report)
        zs__report_stop(zs->report);
    /* One deadline for the whole shutdown: the collector's settling and
     * the sinks' draining both count against shutdown_timeout. */
    int64_t timeout_ms = zs->config ? zs->config->shutdown_timeout_ms : 0;
    int64_t deadline = clock_now_ns() + timeout_ms * 1000000;
    pthread_mutex_lock(&zs->set_lock); /* see zs__sockets_attached() */
    zs__collector_t *collector = zs->collector;
    zs->collector = NULL;
    pthread_mutex_unlock(&zs->set_lock);
    zs__collector_destroy(&collector, deadline);
    zs__stats_t all;
    zmqsink_stats_t *final = zs__stats_init(&all);
    zmqsink_stats(zs, final);
    if (zs->set)
        zs__sinks_stop(zs, zs->set->sinks, zs->set->n, deadline, final->sinks);
    zs__report_finish(zs->report, final);
    if (stats) {
        zmqsink_sink_stats_t *sinks = stats->sinks;
        size_t cap = sinks ? stats->sinks_cap : 0;
        *stats = *final;
        stats->sinks = sinks;
        stats->sinks_cap = cap;
        if (cap)
            memcpy(sinks, final->sinks,
                   (final->nsinks < cap ? final->nsinks : cap) * sizeof *sinks);
    }
    /* A sink left running may still reach the instance through its host
     * table (sink_drops): then the last such sink to finish frees it. */
    size_t busy = zs__stuck_reap(zs);
    if (zs->stuck_lost)
        return; /* sinks out of the list may run on: never freed */
    if (busy > 0)
        zs__stuck_orphan(zs);
    else
        zs__instance_free(zs);
}

void zs__instance_free(zmqsink_t *zs)
{
    for (size_t i = 0; i < zs->nstuck; i++)
        zs__sink_free(zs->stuck[i]);
    free(zs->report);
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
    /* The last word even when a sink is stuck: a second more for it. Said
     * by the report thread, or by the collector if none runs. */
    int64_t now = clock_now_ns(), said_by = now + 1000 * 1000 * 1000LL;
    if (!zs__report_ask_last(zs->report, now + 100 * 1000 * 1000LL))
        zs__collector_say_last(zs->collector);
    zs__report_wait_last(zs->report, said_by);
}

void zmqsink_destroy(zmqsink_t **zsp)
{
    zmqsink_destroy_stats(zsp, NULL);
}
