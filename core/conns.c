/* Connection tracking for the collector: peers and lifetimes by fd. */
#include "conns.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "clock.h"

static zs__conn_t *conn_slot(zs__conns_t *t, int fd, bool grow)
{
    if (fd < 0)
        return NULL;
    if ((size_t)fd >= t->n) {
        if (!grow)
            return NULL;
        size_t n = t->n ? t->n : 64;
        while (n <= (size_t)fd)
            n *= 2;
        zs__conn_t *bigger = realloc(t->by_fd, n * sizeof *bigger);
        if (!bigger)
            return NULL;
        memset(bigger + t->n, 0, (n - t->n) * sizeof *bigger);
        t->by_fd = bigger;
        t->n = n;
    }
    return &t->by_fd[fd];
}

/* "host:port" of the connection's other end; "pid:N" for ipc. */
static void peer_of_fd(int fd, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[INET6_ADDRSTRLEN];
    out[0] = '\0';
    if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
        if (inet_ntop(AF_INET, &in->sin_addr, host, sizeof host))
            snprintf(out, cap, "%s:%u", host, ntohs(in->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
        if (inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host))
            snprintf(out, cap, "[%s]:%u", host, ntohs(in6->sin6_port));
    } else if (ss.ss_family == AF_UNIX) {
        struct ucred cred;
        socklen_t clen = sizeof cred;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0)
            snprintf(out, cap, "pid:%ld", (long)cred.pid);
    }
}

void zs__conns_track(zs__conns_t *t, uint64_t lineage, zmqsink_event_t *ev)
{
    int64_t now_ns = clock_now_ns(); /* monotonic: durations survive clock steps */
    int fd = (int)ev->value;
    if (ev->type == ZMQSINK_EVENT_CONNECTED ||
        ev->type == ZMQSINK_EVENT_ACCEPTED) {
        zs__conn_t *conn = conn_slot(t, fd, true);
        if (!ev->peer[0])
            peer_of_fd(fd, ev->peer, sizeof ev->peer);
        if (conn) {
            conn->lineage = lineage;
            conn->opened_ns = now_ns;
            memcpy(conn->peer, ev->peer, sizeof conn->peer);
        }
    } else if (ev->type == ZMQSINK_EVENT_DISCONNECTED ||
               ev->type == ZMQSINK_EVENT_CLOSED) {
        zs__conn_t *conn = conn_slot(t, fd, false);
        if (conn && conn->lineage == lineage) {
            if (!ev->peer[0])
                memcpy(ev->peer, conn->peer, sizeof ev->peer);
            ev->duration_ms = (now_ns - conn->opened_ns) / 1000000;
            conn->lineage = 0;
        }
    }
}

void zs__conns_forget(zs__conns_t *t, uint64_t lineage)
{
    for (size_t fd = 0; fd < t->n; fd++)
        if (t->by_fd[fd].lineage == lineage)
            t->by_fd[fd].lineage = 0;
}

void zs__conns_free(zs__conns_t *t)
{
    free(t->by_fd);
    t->by_fd = NULL;
    t->n = 0;
}
