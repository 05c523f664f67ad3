/* Taps: the application's own monitors of its sockets, served by zmqsink
 * from the events of zmqsink's monitor. Checks and errors follow
 * socket_base_t::monitor() of libzmq 4.3 step by step, so that the
 * application sees the same return values and errno as without zmqsink. */
#include "tap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "log.h"

/* ZMQ_RADIO and ZMQ_DISH, which zmq.h declares in draft builds only. */
#define SOCKET_RADIO 14
#define SOCKET_DISH 15

struct zs__tap {
    void *socket;           /* bound at the application's endpoint */
    int fd;
    uint64_t events;        /* the application's mask */
    int version;
    char *endpoint;         /* where it is bound, whole */
    int64_t ended_ns;       /* zs__tap_end(); 0: serving */
    zs__tap_t *next;        /* zs__tap_link() */
    zs__monitor_message_t *backlog; /* a ring of up to ZS__TAP_BACKLOG */
    size_t head, count, cap;
    uint64_t lost;
};

int zs__tap_check(void *socket, const char *endpoint, uint64_t events,
                  int version)
{
    int type;
    size_t size = sizeof type;
    if (zmq_getsockopt(socket, ZMQ_TYPE, &type, &size) != 0)
        return -1; /* ENOTSOCK, or ETERM once its context ended */
    if (version == 1 && events >> 16 != 0) {
        errno = EINVAL;
        return -1;
    }
    if (!endpoint)
        return 0;
    const char *sep = strstr(endpoint, "://");
    if (!sep || sep == endpoint || !sep[3]) {
        errno = EINVAL;
        return -1;
    }
    size_t len = (size_t)(sep - endpoint);
    if (len == 3 && strncmp(endpoint, "udp", 3) == 0 &&
        type != SOCKET_RADIO && type != SOCKET_DISH) {
        errno = ENOCOMPATPROTO;
        return -1;
    }
    if (len != 6 || strncmp(endpoint, "inproc", 6) != 0) {
        errno = EPROTONOSUPPORT;
        return -1;
    }
    return 0;
}

zs__tap_t *zs__tap_open(void *ctx, const char *endpoint, uint64_t events,
                        int version, int type)
{
    if (type != ZMQ_PAIR && type != ZMQ_PUB && type != ZMQ_PUSH) {
        errno = EINVAL;
        return NULL;
    }
    zs__tap_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->events = events;
    t->version = version;
    int linger = 0; /* as libzmq's: never hold up context termination */
    size_t size = sizeof t->fd;
    if (!(t->endpoint = strdup(endpoint)) ||
        !(t->socket = zmq_socket(ctx, type)) ||
        zmq_setsockopt(t->socket, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_bind(t->socket, endpoint) != 0 ||
        zmq_getsockopt(t->socket, ZMQ_FD, &t->fd, &size) != 0) {
        int saved = errno;
        if (t->socket)
            zmq_close(t->socket);
        free(t->endpoint);
        free(t);
        errno = saved;
        return NULL;
    }
    return t;
}

int zs__tap_fd(const zs__tap_t *t)
{
    return t->fd;
}

static bool backlog_push(zs__tap_t *t, const zs__monitor_message_t *m)
{
    if (t->count == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        zs__monitor_message_t *bigger =
            cap <= ZS__TAP_BACKLOG ? malloc(cap * sizeof *bigger) : NULL;
        if (!bigger)
            return false;
        for (size_t i = 0; i < t->count; i++)
            bigger[i] = t->backlog[(t->head + i) % t->cap];
        free(t->backlog);
        t->backlog = bigger;
        t->head = 0;
        t->cap = cap;
    }
    t->backlog[(t->head + t->count++) % t->cap] = *m;
    return true;
}

int zs__tap_flush(zs__tap_t *t)
{
    /* Reading ZMQ_EVENTS lets libzmq take the commands that woke the fd
     * (a peer connected, room made), so that the next change wakes it
     * again: it is edge-triggered. */
    int events = 0;
    size_t size = sizeof events;
    do {
        while (t->count > 0) {
            if (zs__wire_send(t->socket, t->version, &t->backlog[t->head]) != 0) {
                if (errno != EAGAIN)
                    return -1; /* its context ended */
                break;
            }
            t->head = (t->head + 1) % t->cap;
            t->count--;
        }
        if (zmq_getsockopt(t->socket, ZMQ_EVENTS, &events, &size) != 0)
            return -1;
    } while (t->count > 0 && (events & ZMQ_POLLOUT));
    return t->count > 0;
}

void zs__tap_send(zs__tap_t *t, const zs__monitor_message_t *m)
{
    if (!(t->events & m->type))
        return;
    if (t->count == 0 && zs__wire_send(t->socket, t->version, m) == 0)
        return;
    if (!backlog_push(t, m) && t->lost++ == 0)
        zs__log(ZMQSINK_SEV_WARNING,
                "the application's monitor at %s is not read: events for it "
                "are lost beyond %d waiting",
                t->endpoint, ZS__TAP_BACKLOG);
    zs__tap_flush(t); /* room may have come: the fd would not say so */
}

static void tap_stop(zs__tap_t *t)
{
    zs__monitor_message_t stop = {.type = ZMQSINK_EVENT_MONITOR_STOPPED};
    if (!(t->events & stop.type))
        return;
    /* The last message, whatever is lost before it: the oldest waiting
     * makes room. */
    if (t->count > 0 && t->count == t->cap && t->cap >= ZS__TAP_BACKLOG) {
        t->head = (t->head + 1) % t->cap;
        t->count--;
        t->lost++;
    }
    zs__tap_send(t, &stop);
}

void zs__tap_end(zs__tap_t *t, bool stopped, int64_t now_ns)
{
    if (stopped)
        tap_stop(t);
    /* As libzmq's close of its monitor socket: the name is free for the
     * next bind, while a peer connected keeps its pipe and what waits. */
    zmq_unbind(t->socket, t->endpoint);
    t->ended_ns = now_ns;
}

int64_t zs__tap_ended_ns(const zs__tap_t *t)
{
    return t->ended_ns;
}

const char *zs__tap_endpoint(const zs__tap_t *t)
{
    return t->endpoint;
}

void zs__tap_abandon(zs__tap_t *t)
{
    size_t left = t->count;
    if (left > 0 && t->backlog[(t->head + left - 1) % t->cap].type ==
                        ZMQSINK_EVENT_MONITOR_STOPPED)
        left--;
    t->lost += left;
    t->count = 0;
}

zs__tap_t **zs__tap_link(zs__tap_t *t)
{
    return &t->next;
}

void zs__tap_close(zs__tap_t **tp)
{
    zs__tap_t *t = *tp;
    if (!t)
        return;
    *tp = NULL;
    zs__tap_flush(t);
    if (t->lost)
        zs__log(ZMQSINK_SEV_WARNING,
                "the application's monitor at %s was not read: %llu events "
                "were lost for it",
                t->endpoint, (unsigned long long)t->lost);
    zmq_close(t->socket);
    free(t->backlog);
    free(t->endpoint);
    free(t);
}
