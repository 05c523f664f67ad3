/* The benchmarks' ZeroMQ traffic: churn clients and server, an echo
 * server, and the socket helpers they share. */
#include "workload.h"

#include "measure.h"
#include "procs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <zmq.h>

#define MAX_INFLIGHT 64
#define LISTEN_BACKLOG 8192
#define POLL_MS 100
/* The echo server lives at most this long, should its parent hang. */
#define ECHO_LIFETIME_S 1800

void *socket_new(void *ctx, int type)
{
    void *s = zmq_socket(ctx, type);
    int linger = 0;
    if (s)
        zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    return s;
}

int socket_bind_loopback(void *s)
{
    char endpoint[256];
    size_t len = sizeof endpoint;
    /* libzmq's default listen backlog (100) overflows in a burst of
     * connects, and the kernel then drops SYNs that come back a second
     * later: latency of TCP, not of anything measured here. */
    int backlog = LISTEN_BACKLOG;
    if (zmq_setsockopt(s, ZMQ_BACKLOG, &backlog, sizeof backlog) != 0 ||
        zmq_bind(s, "tcp://127.0.0.1:*") != 0 ||
        zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, endpoint, &len) != 0)
        return -1;
    const char *colon = strrchr(endpoint, ':');
    return colon ? atoi(colon + 1) : -1;
}

void loopback_endpoint(char *buf, size_t cap, int port)
{
    snprintf(buf, cap, "tcp://127.0.0.1:%d", port);
}

int refused_port(int *fd)
{
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    *fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (*fd < 0)
        return -1;
    if (bind(*fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        getsockname(*fd, (struct sockaddr *)&addr, &len) != 0) {
        close(*fd);
        *fd = -1;
        return -1;
    }
    return ntohs(addr.sin_port);
}

/* Whether the parent closed its end of the pipe, which is how it asks a
 * helper to end: poll says POLLHUP, which zmq_poll() gives as ZMQ_POLLERR.
 * The parent writes nothing after the port, so POLLIN means the same. */
static bool parent_gone(const zmq_pollitem_t *item)
{
    return item->revents & (ZMQ_POLLIN | ZMQ_POLLERR);
}

/* Opens one churn client: connect, then its message (queued until the
 * connection is up). */
static void *client_open(void *ctx, const char *endpoint)
{
    void *client = socket_new(ctx, ZMQ_DEALER);
    if (!client)
        return NULL;
    if (zmq_connect(client, endpoint) != 0 || zmq_send(client, "hi", 2, 0) != 2) {
        zmq_close(client);
        return NULL;
    }
    return client;
}

/* One round of the clients' loop: opens clients into free slots, polls,
 * closes those answered. Returns false when the parent has gone. */
static bool churn_round(void *ctx, const char *endpoint, const churn_plan_t *plan,
                        void **clients, long *started, long *served,
                        int from_parent)
{
    zmq_pollitem_t items[MAX_INFLIGHT + 1];
    int slot_of[MAX_INFLIGHT], n = 0;
    for (int i = 0; i < plan->inflight; i++) {
        if (!clients[i] && (plan->conns < 0 || *started < plan->conns)) {
            clients[i] = client_open(ctx, endpoint);
            if (clients[i])
                (*started)++;
        }
        if (clients[i]) {
            items[n] = (zmq_pollitem_t){.socket = clients[i], .events = ZMQ_POLLIN};
            slot_of[n++] = i;
        }
    }
    items[n] = (zmq_pollitem_t){.fd = from_parent, .events = ZMQ_POLLIN};
    if (zmq_poll(items, n + 1, POLL_MS) < 0 && zmq_errno() != EINTR)
        return false;
    if (parent_gone(&items[n]))
        return false;
    for (int j = 0; j < n; j++) {
        if (!(items[j].revents & ZMQ_POLLIN))
            continue;
        char reply[16];
        void **slot = &clients[slot_of[j]];
        if (zmq_recv(*slot, reply, sizeof reply, ZMQ_DONTWAIT) >= 0) {
            zmq_close(*slot);
            *slot = NULL;
            (*served)++;
        }
    }
    return true;
}

int churn_clients(int from_parent, int to_parent, void *arg)
{
    churn_plan_t plan = *(const churn_plan_t *)arg;
    if (plan.inflight < 1 || plan.inflight > MAX_INFLIGHT)
        plan.inflight = plan.inflight < 1 ? 1 : MAX_INFLIGHT;
    int port;
    if (pipe_read_int(from_parent, &port, 30000) != 0)
        return 2;
    char endpoint[64];
    loopback_endpoint(endpoint, sizeof endpoint, port);
    void *ctx = zmq_ctx_new();
    void *clients[MAX_INFLIGHT] = {0};
    long started = 0, served = 0;
    int64_t deadline = clock_monotonic_ns() + (int64_t)plan.timeout_s * 1000000000;
    while ((plan.conns < 0 || served < plan.conns) &&
           clock_monotonic_ns() < deadline &&
           churn_round(ctx, endpoint, &plan, clients, &started, &served, from_parent))
        ;
    for (int i = 0; i < plan.inflight; i++)
        if (clients[i])
            zmq_close(clients[i]);
    zmq_ctx_term(ctx);
    pipe_write_int(to_parent, (int)served);
    return plan.conns < 0 || served == plan.conns ? 0 : 1;
}

/* Receives one message (all its frames) into msgs; returns the frames, 0
 * when none was waiting, -1 on error or more than cap frames. */
static int recv_frames(void *s, zmq_msg_t *msgs, int cap)
{
    int n = 0;
    for (;;) {
        if (n == cap)
            return -1;
        zmq_msg_init(&msgs[n]);
        if (zmq_msg_recv(&msgs[n], s, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            zmq_msg_close(&msgs[n]);
            for (int i = 0; i < n; i++)
                zmq_msg_close(&msgs[i]);
            return n == 0 && zmq_errno() == EAGAIN ? 0 : -1;
        }
        if (!zmq_msg_more(&msgs[n++]))
            return n;
    }
}

/* Sends the frames of a message back where they came from (the routing id
 * first) and closes them. */
static void send_frames(void *s, zmq_msg_t *msgs, int n)
{
    for (int i = 0; i < n; i++) {
        if (zmq_msg_send(&msgs[i], s, i + 1 < n ? ZMQ_SNDMORE : 0) < 0)
            zmq_msg_close(&msgs[i]);
    }
}

/* Answers every message waiting on router; returns how many. */
static long answer_waiting(void *router)
{
    long answered = 0;
    zmq_msg_t msgs[4];
    int n;
    while ((n = recv_frames(router, msgs, 4)) > 0) {
        send_frames(router, msgs, n);
        answered++;
    }
    return answered;
}

long churn_serve(void *router, long conns, int64_t deadline_ns,
                 void (*tick)(void *arg), void *arg)
{
    long served = 0;
    int64_t next_tick = clock_monotonic_ns() + POLL_MS * 1000000;
    while ((conns < 0 || served < conns) && clock_monotonic_ns() < deadline_ns) {
        zmq_pollitem_t item = {.socket = router, .events = ZMQ_POLLIN};
        if (zmq_poll(&item, 1, POLL_MS) < 0 && zmq_errno() != EINTR)
            break;
        served += answer_waiting(router);
        if (tick && clock_monotonic_ns() >= next_tick) {
            tick(arg);
            next_tick = clock_monotonic_ns() + POLL_MS * 1000000;
        }
    }
    return served;
}

int echo_server(int from_parent, int to_parent, void *unused)
{
    (void)unused;
    raise_fd_limit();
    void *ctx = zmq_ctx_new();
    void *router = socket_new(ctx, ZMQ_ROUTER);
    int port = router ? socket_bind_loopback(router) : -1;
    if (port < 0 || pipe_write_int(to_parent, port) != 0) {
        fprintf(stderr, "bench: echo server: %s\n", zmq_strerror(zmq_errno()));
        return 1;
    }
    int64_t deadline = clock_monotonic_ns() + (int64_t)ECHO_LIFETIME_S * 1000000000;
    while (clock_monotonic_ns() < deadline) {
        zmq_pollitem_t items[2] = {{.socket = router, .events = ZMQ_POLLIN},
                                   {.fd = from_parent, .events = ZMQ_POLLIN}};
        if (zmq_poll(items, 2, 1000) < 0 && zmq_errno() != EINTR)
            break;
        if (parent_gone(&items[1]))
            break;
        answer_waiting(router);
    }
    zmq_close(router);
    zmq_ctx_term(ctx);
    return 0;
}
