/* CZMQ's peer: a zmonitor actor per socket (zactor_new(zmonitor, socket);
 * LISTEN ALL; START), and one thread that reads every actor through a
 * zpoller and writes a json line per event to a file. */
#include "variants_private.h"

#ifdef HAVE_CZMQ
#include "measure.h"

#include <czmq.h>
#include <stdlib.h>

#define POLL_TIMEOUT_MS 200
/* stop waits until no event came for QUIET_MS, at most QUIET_LIMIT_MS:
 * sockets that keep reconnecting never fall quiet. */
#define QUIET_MS 200
#define QUIET_LIMIT_MS 2000

static int zmonitor_attach(variant_t *v, void *socket, int index, char *err,
                           size_t errlen)
{
    zactor_t *actor = zactor_new(zmonitor, socket);
    if (!actor) {
        snprintf(err, errlen, "zmonitor: zactor_new failed for socket %d", index);
        return -1;
    }
    zstr_sendx(actor, "LISTEN", "ALL", NULL);
    zstr_sendx(actor, "START", NULL);
    zsock_wait(actor);
    v->monitors[index] = actor;
    return 0;
}

/* Reads one message of an actor: event name, value, endpoint. */
static void read_actor(variant_t *v, zactor_t *actor)
{
    zmsg_t *msg = zmsg_recv(actor);
    if (!msg)
        return;
    char *name = zmsg_popstr(msg);
    char *value = zmsg_popstr(msg);
    char *endpoint = zmsg_popstr(msg);
    consumer_line(v, name ? name : "", value ? (unsigned)atol(value) : 0,
                  endpoint ? endpoint : "");
    zstr_free(&name);
    zstr_free(&value);
    zstr_free(&endpoint);
    zmsg_destroy(&msg);
}

static void *zmonitor_main(void *arg)
{
    variant_t *v = arg;
    zpoller_t *poller = zpoller_new(NULL);
    for (int i = 0; poller && i < v->nsockets; i++)
        zpoller_add(poller, v->monitors[i]);
    while (poller && !atomic_load(&v->give_up)) {
        void *which = zpoller_wait(poller, POLL_TIMEOUT_MS);
        if (which)
            read_actor(v, which);
        else if (zpoller_terminated(poller))
            break;
    }
    zpoller_destroy(&poller);
    return NULL;
}

static void destroy_actors(variant_t *v)
{
    for (int i = 0; i < v->nsockets; i++) {
        zactor_t *actor = v->monitors[i];
        zactor_destroy(&actor);
        v->monitors[i] = NULL;
    }
}

/* zactor_destroy() has the actor call zmq_socket_monitor(socket, NULL, 0),
 * which must reach a socket still open: so the actors end first, once the
 * events have stopped coming (or QUIET_LIMIT_MS passed), and the sockets
 * are closed after. The events of the close itself (closed,
 * monitor_stopped) are therefore not counted. */
static int zmonitor_stop(variant_t *v, variant_counts_t *out, char *err,
                         size_t errlen)
{
    (void)out;
    (void)err;
    (void)errlen;
    int64_t start = clock_monotonic_ns(), quiet_since = start;
    uint64_t seen = atomic_load(&v->lines);
    while (clock_monotonic_ns() - quiet_since < (int64_t)QUIET_MS * 1000000 &&
           clock_monotonic_ns() - start < (int64_t)QUIET_LIMIT_MS * 1000000) {
        sleep_ms(10);
        uint64_t now_seen = atomic_load(&v->lines);
        if (now_seen != seen) {
            seen = now_seen;
            quiet_since = clock_monotonic_ns();
        }
    }
    consumer_join(v);
    destroy_actors(v);
    variant_close_sockets(v);
    return 0;
}

const consumer_ops_t zmonitor_ops = {
    .attach = zmonitor_attach,
    .main = zmonitor_main,
    .stop = zmonitor_stop,
    .free = destroy_actors,
};
#endif
