/* Connection tracking for the collector: peers and lifetimes by fd. */
#include "conns.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "clock.h"
#include "format.h"

/* The slot of fd, grown to it when grow is set; NULL when out of range or
 * memory. */
static zs__conn_slot_t *conn_slot(zs__conns_t *t, int fd, bool grow)
{
    if (fd < 0)
        return NULL;
    if ((size_t)fd >= t->n) {
        if (!grow)
            return NULL;
        size_t n = t->n ? t->n : 64;
        while (n <= (size_t)fd)
            n *= 2;
        zs__conn_slot_t *bigger = realloc(t->by_fd, n * sizeof *bigger);
        if (!bigger)
            return NULL;
        memset(bigger + t->n, 0, (n - t->n) * sizeof *bigger);
        t->by_fd = bigger;
        t->n = n;
    }
    return &t->by_fd[fd];
}

/* The entry of lineage in slot, or NULL. */
static zs__conn_t *slot_find(zs__conn_slot_t *slot, uint64_t lineage)
{
    for (uint32_t i = 0; slot && i < slot->n; i++)
        if (slot->at[i].lineage == lineage)
            return &slot->at[i];
    return NULL;
}

/* The entry of lineage in slot, made when absent; NULL out of memory. */
static zs__conn_t *slot_take(zs__conn_slot_t *slot, uint64_t lineage)
{
    zs__conn_t *conn = slot_find(slot, lineage);
    if (conn)
        return conn;
    if (slot->n == slot->cap) {
        uint32_t cap = slot->cap ? slot->cap * 2 : 1;
        zs__conn_t *more = realloc(slot->at, cap * sizeof *more);
        if (!more)
            return NULL;
        slot->at = more;
        slot->cap = cap;
    }
    conn = &slot->at[slot->n++];
    conn->lineage = lineage;
    return conn;
}

static void slot_remove(zs__conn_slot_t *slot, zs__conn_t *conn)
{
    *conn = slot->at[--slot->n];
}

/* host:port of an IPv4 address, as inet_ntop() and snprintf() would write
 * it, by hand: those two took 2.7k instructions per accepted connection
 * (bench_events instructions), more than the rest of the event's reading.
 * out has room for the longest. */
_Static_assert(ZMQSINK_PEER_MAX >= sizeof "255.255.255.255:65535",
               "an event's peer holds any IPv4 host:port");
static void ipv4_text(const struct sockaddr_in *in, char *out)
{
    const unsigned char *octet = (const unsigned char *)&in->sin_addr;
    char *p = out;
    for (int i = 0; i < 4; i++) {
        p += zs__format_u64(p, octet[i]);
        *p++ = i < 3 ? '.' : ':';
    }
    p += zs__format_u64(p, ntohs(in->sin_port));
    *p = '\0';
}

/* "host:port" of the connection's other end, at peer; "pid:N" for ipc. */
static void peer_text(int fd, const struct sockaddr_storage *peer, char *out,
                      size_t cap)
{
    char host[INET6_ADDRSTRLEN];
    out[0] = '\0';
    if (peer->ss_family == AF_INET) {
        ipv4_text((const struct sockaddr_in *)peer, out);
    } else if (peer->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)peer;
        if (inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host))
            snprintf(out, cap, "[%s]:%u", host, ntohs(in6->sin6_port));
    } else if (peer->ss_family == AF_UNIX) {
        struct ucred cred;
        socklen_t clen = sizeof cred;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0)
            snprintf(out, cap, "pid:%ld", (long)cred.pid);
    }
}

/* The port of a tcp endpoint ("tcp://host:5555"), or -1. */
static int endpoint_port(const char *endpoint)
{
    const char *colon = strrchr(endpoint, ':');
    return colon && colon[1] >= '0' && colon[1] <= '9' ? atoi(colon + 1) : -1;
}

/* Whether fd, whose remote end is peer (len bytes), is still the
 * connection that ev (an opening event) names. The peer is read from the
 * fd when the event is read, by which time the connection may have closed
 * and its fd gone to another socket's: then the fd's local end (accepted)
 * or remote end (connected) no longer has the event's port or ipc path.
 * Other transports are taken as they are. */
static bool fd_is_of(int fd, const zmqsink_event_t *ev,
                     const struct sockaddr_storage *peer, socklen_t len)
{
    struct sockaddr_storage local;
    const struct sockaddr_storage *ss = peer;
    if (ev->type == ZMQSINK_EVENT_ACCEPTED) {
        len = sizeof local;
        if (getsockname(fd, (struct sockaddr *)&local, &len) != 0)
            return false;
        ss = &local;
    }
    if (strncmp(ev->endpoint, "ipc://", 6) == 0) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)ss;
        const char *path = ev->endpoint + 6;
        if (ss->ss_family != AF_UNIX)
            return false;
        if (path[0] == '@') { /* abstract: a NUL first, no NUL last */
            size_t name = len - offsetof(struct sockaddr_un, sun_path);
            return name > 0 && un->sun_path[0] == '\0' &&
                   strlen(path + 1) == name - 1 &&
                   memcmp(un->sun_path + 1, path + 1, name - 1) == 0;
        }
        return strcmp(un->sun_path, path) == 0;
    }
    if (strncmp(ev->endpoint, "tcp://", 6) != 0)
        return true;
    int port = ss->ss_family == AF_INET
                   ? ntohs(((const struct sockaddr_in *)ss)->sin_port)
               : ss->ss_family == AF_INET6
                   ? ntohs(((const struct sockaddr_in6 *)ss)->sin6_port)
                   : -2;
    return port == endpoint_port(ev->endpoint);
}

/* Fills ev->peer from fd when ev names the connection fd still is. */
static void read_peer(int fd, zmqsink_event_t *ev)
{
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    if (getpeername(fd, (struct sockaddr *)&peer, &len) == 0 &&
        fd_is_of(fd, ev, &peer, len))
        peer_text(fd, &peer, ev->peer, sizeof ev->peer);
}

void zs__conns_track(zs__conns_t *t, uint64_t lineage, zmqsink_event_t *ev)
{
    int64_t now_ns = clock_now_ns(); /* monotonic: durations survive clock steps */
    int fd = (int)ev->value;
    if (ev->type == ZMQSINK_EVENT_CONNECTED ||
        ev->type == ZMQSINK_EVENT_ACCEPTED) {
        zs__conn_slot_t *slot = conn_slot(t, fd, true);
        zs__conn_t *conn = slot ? slot_take(slot, lineage) : NULL;
        if (!ev->peer[0])
            read_peer(fd, ev);
        if (conn) {
            conn->opened_ns = now_ns;
            memcpy(conn->peer, ev->peer, sizeof conn->peer);
        }
    } else if (ev->type == ZMQSINK_EVENT_DISCONNECTED ||
               ev->type == ZMQSINK_EVENT_CLOSED) {
        zs__conn_slot_t *slot = conn_slot(t, fd, false);
        zs__conn_t *conn = slot_find(slot, lineage);
        if (conn) {
            if (!ev->peer[0])
                memcpy(ev->peer, conn->peer, sizeof ev->peer);
            ev->duration_ms = (now_ns - conn->opened_ns) / 1000000;
            slot_remove(slot, conn);
        }
    }
}

void zs__conns_forget(zs__conns_t *t, uint64_t lineage)
{
    for (size_t fd = 0; fd < t->n; fd++) {
        zs__conn_t *conn = slot_find(&t->by_fd[fd], lineage);
        if (conn)
            slot_remove(&t->by_fd[fd], conn);
    }
}

void zs__conns_free(zs__conns_t *t)
{
    for (size_t fd = 0; fd < t->n; fd++)
        free(t->by_fd[fd].at);
    free(t->by_fd);
    *t = (zs__conns_t){0};
}
