/* The wire formats of libzmq's socket monitor: starting zmqsink's own
 * monitor, reading its messages, and writing messages in either format,
 * frame for frame as libzmq 4.3 writes them (socket_base_t::monitor_event):
 *   v1: [u16 event, u32 value] [endpoint]
 *   v2: [u64 event] [u64 count] [u64 value]... [local] [remote]
 * in native byte order. */
#include "zmqsink-config.h"

#include "monitor_wire.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef HAVE_ZMQ_SOCKET_MONITOR_VERSIONED
#define ZMQ_BUILD_DRAFT_API 1 /* declares zmq_socket_monitor_versioned() */
#endif
#include <zmq.h>

/* Draft builds of libzmq export the v2 monitor, whose messages carry the
 * remote address: the peer is then known even for connections gone before
 * their events are read. Otherwise v1, and getpeername() on the fd. */
#ifdef HAVE_ZMQ_SOCKET_MONITOR_VERSIONED
#define MONITOR_VERSION 2
#else
#define MONITOR_VERSION 1
#endif

bool zs__wire_event_known(uint64_t type)
{
    return type && !(type & (type - 1)) && type <= ZMQSINK_EVENT_ALL;
}

int zs__wire_version(void)
{
    return MONITOR_VERSION;
}

int zs__wire_monitor(void *socket, const char *endpoint)
{
#if MONITOR_VERSION == 2
    return zmq_socket_monitor_versioned(socket, endpoint, ZMQSINK_EVENT_ALL, 2,
                                        ZMQ_PAIR);
#else
    return zmq_socket_monitor(socket, endpoint, ZMQSINK_EVENT_ALL);
#endif
}

/* ---- reading ---- */

/* Reads one frame of the reader socket (a zs__wire_source_t read()). */
static int socket_frame_read(void *reader, void *buf, size_t cap, int *more)
{
    /* zmq_recv() as it is, with the more flag from the message itself,
     * cheaper than asking the socket for ZMQ_RCVMORE. */
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    int n = zmq_msg_recv(&msg, reader, ZMQ_DONTWAIT);
    *more = 0;
    if (n >= 0) {
        size_t size = zmq_msg_size(&msg) < cap ? zmq_msg_size(&msg) : cap;
        if (size > 0)
            memcpy(buf, zmq_msg_data(&msg), size);
        *more = zmq_msg_more(&msg);
    }
    int err = errno; /* EAGAIN tells the caller the monitor is drained */
    zmq_msg_close(&msg);
    errno = err;
    return n;
}

static int frame_read(const zs__wire_source_t *source, void *buf, size_t cap,
                      int *more)
{
    return source->read(source->from, buf, cap, more);
}

/* Reads a frame of text into buf (cap bytes, NUL included). */
static int text_read(const zs__wire_source_t *source, char *buf, size_t cap,
                     int *more)
{
    int n = frame_read(source, buf, cap - 1, more);
    if (n >= 0)
        buf[(size_t)n < cap - 1 ? (size_t)n : cap - 1] = '\0';
    return n;
}

void zs__wire_skip(void *reader)
{
    int more = 1;
    size_t size = sizeof more;
    while (zmq_getsockopt(reader, ZMQ_RCVMORE, &more, &size) == 0 && more) {
        char ignored[8];
        if (zmq_recv(reader, ignored, sizeof ignored, ZMQ_DONTWAIT) < 0)
            break;
    }
}

static int decode_v1(const zs__wire_source_t *source,
                     zs__monitor_message_t *m)
{
    uint8_t head[6];
    int more;
    int n = frame_read(source, head, sizeof head, &more);
    if (n < 0)
        return errno == EAGAIN ? ZS__WIRE_EMPTY : ZS__WIRE_STOP;
    int len = more ? text_read(source, m->endpoint, sizeof m->endpoint, &more)
                   : -1;
    if (n != sizeof head || len < 0)
        return ZS__WIRE_BAD;
    uint16_t type;
    uint32_t value;
    memcpy(&type, head, sizeof type);
    memcpy(&value, head + 2, sizeof value);
    m->type = type;
    m->value = value;
    m->local[0] = m->remote[0] = m->peer[0] = '\0';
    return more ? ZS__WIRE_BAD : ZS__WIRE_OK;
}

/* The address part of a URI ("tcp://10.0.0.1:5555" -> "10.0.0.1:5555");
 * "" for ipc, whose peers are unnamed (their pid comes from the fd). */
static void peer_of_uri(const char *uri, char *out, size_t cap)
{
    const char *sep = strstr(uri, "://");
    out[0] = '\0';
    if (sep && strncmp(uri, "ipc://", 6) != 0)
        snprintf(out, cap, "%s", sep + 3);
}

static bool uri_named(const char *uri)
{
    return uri[0] && strcmp(uri, "ipc://") != 0;
}

/* Whether local (compared cut to the kept size) is a bind side of the
 * socket. */
static bool sides_have(const zs__wire_sides_t *sides, const char *local)
{
    for (size_t i = 0; i < sides->n; i++)
        if (strncmp(sides->locals[i], local, sizeof sides->locals[i] - 1) == 0)
            return true;
    return false;
}

/* Remembers local as a bind side. Out of memory, it is not: later events
 * of its connections are then named from their remote end. */
static void sides_add(zs__wire_sides_t *sides, const char *local)
{
    if (!uri_named(local) || sides_have(sides, local))
        return;
    if (sides->n == sides->cap) {
        size_t cap = sides->cap ? sides->cap * 2 : 4;
        void *more = realloc(sides->locals, cap * sizeof *sides->locals);
        if (!more)
            return;
        sides->locals = more;
        sides->cap = cap;
    }
    char *kept = sides->locals[sides->n++];
    size_t len = strnlen(local, sizeof sides->locals[0] - 1);
    memcpy(kept, local, len);
    kept[len] = '\0';
}

/* v1 named an event by its bind address on the accepting side and by the
 * connect address on the connecting side; v2 gives both ends, and which
 * side this is follows from the event, or for a connection's later events
 * from the local addresses the socket accepted on. */
static void name_ends(zs__wire_sides_t *sides, zs__monitor_message_t *m)
{
    const char *local = m->local, *remote = m->remote;
    bool bind_side;
    switch (m->type) {
    case ZMQSINK_EVENT_BIND_FAILED:
    case ZMQSINK_EVENT_ACCEPT_FAILED:
        bind_side = true;
        break;
    case ZMQSINK_EVENT_LISTENING:
    case ZMQSINK_EVENT_ACCEPTED:
        sides_add(sides, local);
        bind_side = true;
        break;
    case ZMQSINK_EVENT_CONNECTED:
    case ZMQSINK_EVENT_CONNECT_DELAYED:
    case ZMQSINK_EVENT_CONNECT_RETRIED:
        bind_side = false;
        break;
    default:
        bind_side = !uri_named(remote) || sides_have(sides, local);
    }
    if (!uri_named(bind_side ? local : remote))
        bind_side = !bind_side;
    snprintf(m->endpoint, sizeof m->endpoint, "%s", bind_side ? local : remote);
    if (uri_named(local) && uri_named(remote))
        peer_of_uri(remote, m->peer, sizeof m->peer);
}

static int decode_v2(const zs__wire_source_t *source, zs__wire_sides_t *sides,
                     zs__monitor_message_t *m)
{
    uint64_t event, count, value = 0;
    int more;
    int n = frame_read(source, &event, sizeof event, &more);
    if (n < 0)
        return errno == EAGAIN ? ZS__WIRE_EMPTY : ZS__WIRE_STOP;
    if (n != sizeof event || !more ||
        frame_read(source, &count, sizeof count, &more) != sizeof count ||
        !more)
        return ZS__WIRE_BAD;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t v;
        if (frame_read(source, &v, sizeof v, &more) != sizeof v || !more)
            return ZS__WIRE_BAD;
        if (i == 0)
            value = v;
    }
    if (text_read(source, m->local, sizeof m->local, &more) < 0 || !more ||
        text_read(source, m->remote, sizeof m->remote, &more) < 0 || more)
        return ZS__WIRE_BAD;
    m->type = event;
    m->value = value;
    m->endpoint[0] = m->peer[0] = '\0';
    if (zs__wire_event_known(event))
        name_ends(sides, m);
    return ZS__WIRE_OK;
}

int zs__wire_decode(int version, const zs__wire_source_t *source,
                    zs__wire_sides_t *sides, zs__monitor_message_t *m)
{
    assert(version == 1 || version == 2);
    return version == 2 ? decode_v2(source, sides, m) : decode_v1(source, m);
}

int zs__wire_read(void *reader, zs__wire_sides_t *sides,
                  zs__monitor_message_t *m)
{
    zs__wire_source_t source = {socket_frame_read, reader};
    return zs__wire_decode(MONITOR_VERSION, &source, sides, m);
}

void zs__wire_sides_free(zs__wire_sides_t *sides)
{
    free(sides->locals);
    *sides = (zs__wire_sides_t){0};
}

/* ---- writing ---- */

/* Sends one frame; the first may find no room, the others always do:
 * libzmq checks its high-water mark per message, not per frame. */
static int frame_send(void *socket, const void *data, size_t size, bool more,
                      bool first)
{
    int flags = ZMQ_DONTWAIT | (more ? ZMQ_SNDMORE : 0);
    return zmq_send(socket, data, size, flags) < 0 && first ? -1 : 0;
}

int zs__wire_send(void *socket, int version, const zs__monitor_message_t *m)
{
    if (version == 1) {
        uint8_t head[6];
        uint16_t type = (uint16_t)m->type;
        uint32_t value = (uint32_t)m->value;
        memcpy(head, &type, sizeof type);
        memcpy(head + 2, &value, sizeof value);
        if (frame_send(socket, head, sizeof head, true, true) != 0)
            return -1;
        return frame_send(socket, m->endpoint, strlen(m->endpoint), false,
                          false);
    }
    if (version == 2) {
        uint64_t count = 1;
        if (frame_send(socket, &m->type, sizeof m->type, true, true) != 0)
            return -1;
        frame_send(socket, &count, sizeof count, true, false);
        frame_send(socket, &m->value, sizeof m->value, true, false);
        frame_send(socket, m->local, strlen(m->local), true, false);
        return frame_send(socket, m->remote, strlen(m->remote), false, false);
    }
    return 0;
}
