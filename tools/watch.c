/* `zmqsink watch`: one probe socket per watched endpoint, attached to a
 * zmqsink instance, so that connects, retries, failed handshakes and
 * disconnects reach the sinks. Signals are taken synchronously on the main
 * thread, which owns the probes: SIGTERM/SIGINT end, SIGHUP reloads and
 * reopens, SIGUSR1 prints the counters. */
#include "watch.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>
#include <zmqsink.h>

enum {
    RECONNECT_MS = 1000,      /* first retry of a refused connection */
    RECONNECT_MAX_MS = 10000, /* retries back off up to this */
    HEARTBEAT_MS = 5000,      /* ZMTP PING period */
    HEARTBEAT_TIMEOUT_MS = 15000,
    SETTLE_MS = 2000,         /* for the closed probes' last events */
    /* A probe is three sockets of the context: its own, and the two of
     * its monitor (zmqsink_attach()); zmqsink makes a few more there. */
    SOCKETS_PER_PROBE = 3,
    SOCKETS_SPARE = 32,
};

/* An open probe, with its own copy of what it was opened from. */
typedef struct probe {
    char name[ZMQSINK_SOCKET_NAME_MAX];
    char endpoint[ZMQSINK_ENDPOINT_MAX];
    int type;
    char keys[3][41]; /* server, public, secret; "" when not given */
    void *socket;
} probe_t;

typedef struct watch {
    void *ctx;
    zmqsink_t *zs;
    const char *config_path;
    char *const *endpoints; /* from the command line: they replace `watch:` */
    int nendpoints;
    probe_t *probes[ZMQSINK_MAX_PROBES];
    size_t nprobes;
} watch_t;

static void probe_spec_copy(probe_t *p, const zmqsink_probe_t *spec)
{
    const char *keys[3] = {spec->server_key, spec->public_key,
                           spec->secret_key};
    snprintf(p->name, sizeof p->name, "%s", spec->name);
    snprintf(p->endpoint, sizeof p->endpoint, "%s", spec->endpoint);
    p->type = spec->type;
    for (int i = 0; i < 3; i++)
        snprintf(p->keys[i], sizeof p->keys[i], "%s", keys[i] ? keys[i] : "");
}

/* Whether an open probe is the one spec describes. */
static bool probe_is(const probe_t *p, const zmqsink_probe_t *spec)
{
    probe_t other;
    probe_spec_copy(&other, spec);
    bool same = strcmp(p->name, other.name) == 0 &&
                strcmp(p->endpoint, other.endpoint) == 0 &&
                p->type == other.type;
    for (int i = 0; i < 3 && same; i++)
        same = strcmp(p->keys[i], other.keys[i]) == 0;
    return same;
}

static int option_int(void *socket, int option, int value)
{
    return zmq_setsockopt(socket, option, &value, sizeof value);
}

/* CURVE client keys: the given pair, or a fresh one. */
static int probe_curve(const probe_t *p)
{
    char public_key[41], secret_key[41];
    if (p->keys[1][0]) {
        memcpy(public_key, p->keys[1], sizeof public_key);
        memcpy(secret_key, p->keys[2], sizeof secret_key);
    } else if (zmq_curve_keypair(public_key, secret_key) != 0) {
        return -1;
    }
    return zmq_setsockopt(p->socket, ZMQ_CURVE_SERVERKEY, p->keys[0], 40) ||
                   zmq_setsockopt(p->socket, ZMQ_CURVE_PUBLICKEY, public_key,
                                  40) ||
                   zmq_setsockopt(p->socket, ZMQ_CURVE_SECRETKEY, secret_key, 40)
               ? -1
               : 0;
}

/* Creates, attaches and connects a probe socket. Returns 0, or -1 after
 * saying why on stderr. */
static int probe_open(watch_t *w, probe_t *p)
{
    const char *what = "socket";
    if (!(p->socket = zmq_socket(w->ctx, p->type)))
        goto err;
    what = "options";
    if (option_int(p->socket, ZMQ_LINGER, 0) ||
        option_int(p->socket, ZMQ_RECONNECT_IVL, RECONNECT_MS) ||
        option_int(p->socket, ZMQ_RECONNECT_IVL_MAX, RECONNECT_MAX_MS) ||
        option_int(p->socket, ZMQ_HEARTBEAT_IVL, HEARTBEAT_MS) ||
        option_int(p->socket, ZMQ_HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS))
        goto err;
    what = "CURVE keys";
    if (p->keys[0][0] && (!zmq_has("curve") || probe_curve(p) != 0))
        goto err;
    int rc = zmqsink_attach(w->zs, p->socket, p->name);
    if (rc != 0) {
        fprintf(stderr, "zmqsink watch: probe '%s': cannot monitor it: %s\n",
                p->name, rc == -ZMQSINK_EZMQ ? zmq_strerror(zmq_errno())
                                             : zmqsink_strerror(rc));
        zmq_close(p->socket);
        return -1;
    }
    what = "connect";
    if (zmq_connect(p->socket, p->endpoint) != 0)
        goto err;
    return 0;
err:
    fprintf(stderr, "zmqsink watch: probe '%s': %s %s: %s\n", p->name,
            p->endpoint, what,
            strcmp(what, "CURVE keys") == 0 && !zmq_has("curve")
                ? "this libzmq has no CURVE"
                : zmq_strerror(zmq_errno()));
    if (p->socket)
        zmq_close(p->socket);
    return -1;
}

/* The probes wanted now: the command line's endpoints, else the config's
 * list. Returns how many, with *specs pointing at them (or into scratch). */
static size_t wanted(const watch_t *w, zmqsink_probe_t *scratch,
                     const zmqsink_probe_t **specs)
{
    if (w->nendpoints == 0)
        return zmqsink_probes(w->zs, specs);
    for (int i = 0; i < w->nendpoints; i++)
        scratch[i] = (zmqsink_probe_t){.name = w->endpoints[i],
                                       .endpoint = w->endpoints[i],
                                       .type = ZMQ_DEALER};
    *specs = scratch;
    return (size_t)w->nendpoints;
}

/* Closes the probes no longer wanted and opens the new ones (at most
 * ZMQSINK_MAX_PROBES: the config and the arguments hold no more). Returns
 * how many failed to open. */
static int probes_apply(watch_t *w, const zmqsink_probe_t *specs, size_t n)
{
    size_t kept = 0;
    for (size_t i = 0; i < w->nprobes; i++) {
        probe_t *p = w->probes[i];
        bool still = false;
        for (size_t j = 0; j < n && !still; j++)
            still = probe_is(p, &specs[j]);
        if (still) {
            w->probes[kept++] = p;
        } else {
            zmq_close(p->socket);
            free(p);
        }
    }
    w->nprobes = kept;
    int failed = 0;
    for (size_t j = 0; j < n; j++) {
        bool open = false;
        for (size_t i = 0; i < kept && !open; i++)
            open = probe_is(w->probes[i], &specs[j]);
        if (open)
            continue;
        probe_t *p = calloc(1, sizeof *p);
        if (p)
            probe_spec_copy(p, &specs[j]);
        if (!p || w->nprobes == ZMQSINK_MAX_PROBES || probe_open(w, p) != 0) {
            if (!p)
                fprintf(stderr, "zmqsink watch: probe '%s': out of memory\n",
                        specs[j].name);
            free(p);
            failed++;
            continue;
        }
        w->probes[w->nprobes++] = p;
    }
    return failed;
}

static void probes_close(watch_t *w)
{
    for (size_t i = 0; i < w->nprobes; i++) {
        zmq_close(w->probes[i]->socket);
        free(w->probes[i]);
    }
    w->nprobes = 0;
}

static void stats_print(zmqsink_t *zs)
{
    zmqsink_sink_stats_t sinks[ZMQSINK_MAX_SINKS];
    zmqsink_stats_t st = {.sinks = sinks, .sinks_cap = ZMQSINK_MAX_SINKS};
    zmqsink_stats(zs, &st);
    fprintf(stderr, "zmqsink watch: %llu events, %llu filtered, %llu sockets\n",
            (unsigned long long)st.events, (unsigned long long)st.filtered,
            (unsigned long long)st.sockets_attached);
    for (size_t i = 0; i < st.nsinks; i++) {
        const zmqsink_sink_stats_t *s = &st.sinks[i];
        fprintf(stderr,
                "  sink '%s' (%s): enqueued %llu, delivered %llu, "
                "dropped_full %llu, dropped_shutdown %llu, failed %llu, "
                "queue %llu/%llu, pending %llu\n",
                s->name, s->type, (unsigned long long)s->enqueued,
                (unsigned long long)s->delivered,
                (unsigned long long)s->dropped_full,
                (unsigned long long)s->dropped_shutdown,
                (unsigned long long)s->failed,
                (unsigned long long)s->queue_depth,
                (unsigned long long)s->queue_capacity,
                (unsigned long long)s->pending);
    }
}

/* SIGHUP: the config again (an invalid one changes nothing), the probes it
 * lists, and every sink's files reopened. */
static void watch_reload(watch_t *w, zmqsink_probe_t *scratch)
{
    char err[2048];
    if (zmqsink_reload(w->zs, w->config_path, err, sizeof err) != 0) {
        fprintf(stderr, "zmqsink watch: reload failed, the running config "
                        "stays: %s\n", err);
        zmqsink_reopen(w->zs);
        return;
    }
    const zmqsink_probe_t *specs;
    size_t n = wanted(w, scratch, &specs);
    int failed = probes_apply(w, specs, n);
    zmqsink_reopen(w->zs);
    /* Said after the sinks were asked to reopen their files (each does
     * on its own thread, at once). */
    fprintf(stderr, "zmqsink watch: reloaded %s: %zu probes%s\n",
            w->config_path ? w->config_path : "the default config",
            w->nprobes, failed ? " (some failed to open, see above)" : "");
}

/* Waits for signals until SIGTERM or SIGINT. */
static void watch_loop(watch_t *w, const sigset_t *signals,
                       zmqsink_probe_t *scratch)
{
    for (;;) {
        int sig = sigwaitinfo(signals, NULL);
        if (sig == SIGTERM || sig == SIGINT)
            return;
        if (sig == SIGHUP)
            watch_reload(w, scratch);
        else if (sig == SIGUSR1)
            stats_print(w->zs);
    }
}

/* Refuses ENDPOINT arguments as a `watch:` list refuses its entries
 * (core/schema.c): each names its probe, so it must fit a socket name
 * (and so an endpoint), and no two may be the same. Returns 0, or -1
 * after saying why. */
static int endpoints_check(char *const *endpoints, int n)
{
    for (int i = 0; i < n; i++) {
        if (strlen(endpoints[i]) >= ZMQSINK_SOCKET_NAME_MAX) {
            fprintf(stderr, "zmqsink watch: endpoint '%.*s...' is longer than "
                    "%d characters, the most a probe's name holds (an "
                    "ENDPOINT argument names its probe): list it in a "
                    "config's `watch:` with a `name:`\n",
                    ZMQSINK_SOCKET_NAME_MAX - 1, endpoints[i],
                    ZMQSINK_SOCKET_NAME_MAX - 1);
            return -1;
        }
        for (int j = 0; j < i; j++)
            if (strcmp(endpoints[i], endpoints[j]) == 0) {
                fprintf(stderr, "zmqsink watch: endpoint '%s' given twice\n",
                        endpoints[i]);
                return -1;
            }
    }
    return 0;
}

/* A context with room for ZMQSINK_MAX_PROBES probes, or NULL with errno set. */
static void *context_new(void)
{
    void *ctx = zmq_ctx_new();
    /* Before its first socket, which fixes the limit: libzmq's default
     * (1023) holds a third of the probes. */
    if (ctx &&
        zmq_ctx_set(ctx, ZMQ_MAX_SOCKETS,
                    ZMQSINK_MAX_PROBES * SOCKETS_PER_PROBE + SOCKETS_SPARE)) {
        int error = errno;
        zmq_ctx_term(ctx);
        errno = error;
        return NULL;
    }
    return ctx;
}

int watch_run(const char *config_path, char *const *endpoints, int n)
{
    if (n > ZMQSINK_MAX_PROBES) {
        fprintf(stderr, "zmqsink watch: at most %d endpoints\n",
                ZMQSINK_MAX_PROBES);
        return 2;
    }
    if (endpoints_check(endpoints, n) != 0)
        return 2;
    /* Blocked before any thread starts, so that every thread inherits the
     * mask and the signals wait for sigwaitinfo(). */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    sigaddset(&signals, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);

    char err[2048];
    zmqsink_probe_t *scratch = calloc(n ? (size_t)n : 1, sizeof *scratch);
    watch_t w = {.config_path = config_path, .endpoints = endpoints,
                 .nendpoints = n, .ctx = context_new()};
    w.zs = scratch && w.ctx ? zmqsink_new(w.ctx, config_path, err, sizeof err)
                            : NULL;
    if (!w.zs) {
        fprintf(stderr, "zmqsink: %s\n",
                scratch && w.ctx ? err : strerror(errno));
        free(scratch);
        if (w.ctx)
            zmq_ctx_term(w.ctx);
        return 1;
    }
    const zmqsink_probe_t *specs;
    size_t nspecs = wanted(&w, scratch, &specs);
    int status = 1;
    if (nspecs == 0)
        fprintf(stderr, "zmqsink watch: nothing to watch: give ENDPOINTs, or "
                        "a `watch:` list in %s\n",
                config_path ? config_path : "the config (-c FILE)");
    else if (probes_apply(&w, specs, nspecs) == 0)
        status = 0;
    if (status == 0) {
        fprintf(stderr, "zmqsink watch: watching %zu endpoints\n", w.nprobes);
        watch_loop(&w, &signals, scratch);
    }
    probes_close(&w);
    zmqsink_settle(w.zs, w.ctx, SETTLE_MS);
    zmqsink_destroy(&w.zs);
    zmq_ctx_term(w.ctx);
    free(scratch);
    return status;
}
