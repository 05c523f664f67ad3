/* `zmqsink demo`: a small self-contained ZeroMQ scene, monitored: a ROUTER
 * server, DEALER clients that connect, send and leave, one client that
 * keeps retrying a closed port, and a raw TCP peer that sends garbage. */
#include "demo.h"
#include "clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>
#include <zmqsink.h>

typedef struct tally {
    pthread_mutex_t lock;
    uint64_t by_type[ZMQSINK_EVENT_TYPES];
} tally_t;

static void tally_event(const zmqsink_event_t *event, void *arg)
{
    tally_t *tally = arg;
    pthread_mutex_lock(&tally->lock);
    tally->by_type[__builtin_ctz(event->type)]++;
    pthread_mutex_unlock(&tally->lock);
}

static void *socket_new(void *ctx, int type)
{
    void *s = zmq_socket(ctx, type);
    int linger = 0;
    if (s)
        zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    return s;
}

/* A port nobody listens on: bound by us a moment ago, then released. */
static int closed_port(void)
{
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return 1;
    int port = bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
                       getsockname(fd, (struct sockaddr *)&addr, &len) == 0
                   ? ntohs(addr.sin_port)
                   : 1;
    close(fd);
    return port;
}

/* Speaks ZMTP 3.0 but asks for a security mechanism nobody offers. */
static void garbage_peer(int port)
{
    unsigned char greeting[64] = {0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 3, 0};
    memcpy(greeting + 12, "GARBAGE", 7);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
        write(fd, greeting, sizeof greeting) == (ssize_t)sizeof greeting) {
        char answer[128];
        struct timeval wait = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
        while (read(fd, answer, sizeof answer) > 0)
            ;
    }
    close(fd);
}

/* One client: connect, say hello, get the answer, leave. */
static void client_round(void *ctx, zmqsink_t *zs, void *server,
                         const char *endpoint, int n)
{
    char name[32], buf[256];
    snprintf(name, sizeof name, "client-%d", n);
    void *client = socket_new(ctx, ZMQ_DEALER);
    zmqsink_attach(zs, client, name);
    zmq_connect(client, endpoint);
    zmq_send(client, "hello", 5, 0);
    int size = zmq_recv(server, buf, sizeof buf, 0); /* routing id */
    if (size > 0 && size <= (int)sizeof buf) {
        zmq_send(server, buf, (size_t)size, ZMQ_SNDMORE);
        zmq_recv(server, buf, sizeof buf, 0);
        zmq_send(server, "welcome", 7, 0);
        zmq_recv(client, buf, sizeof buf, 0);
    }
    zmq_close(client);
}

static void summary_print(const tally_t *tally, const zmqsink_stats_t *stats)
{
    printf("\nevents by type:\n");
    for (int i = 0; i < ZMQSINK_EVENT_TYPES; i++)
        if (tally->by_type[i])
            printf("  %-28s %8llu\n", zmqsink_event_name(1u << i),
                   (unsigned long long)tally->by_type[i]);
    printf("sinks:\n  %-16s %-10s %10s %10s %10s %8s\n", "name", "type",
           "delivered", "pending", "dropped", "failed");
    for (size_t i = 0; i < stats->nsinks; i++) {
        const zmqsink_sink_stats_t *s = &stats->sinks[i];
        printf("  %-16s %-10s %10llu %10llu %10llu %8llu\n", s->name, s->type,
               (unsigned long long)s->delivered,
               (unsigned long long)s->pending,
               (unsigned long long)(s->dropped_full + s->dropped_shutdown),
               (unsigned long long)s->failed);
    }
}

int demo_run(const char *config_path, double seconds)
{
    char err[1024];
    void *ctx = zmq_ctx_new();
    zmqsink_t *zs = zmqsink_new(ctx, config_path, err, sizeof err);
    if (!zs) {
        fprintf(stderr, "zmqsink: %s\n", err);
        zmq_ctx_term(ctx);
        return 1;
    }
    tally_t tally = {.lock = PTHREAD_MUTEX_INITIALIZER};
    zmqsink_add_callback(zs, "demo-summary", ZMQSINK_EVENT_ALL, tally_event,
                         &tally);

    void *server = socket_new(ctx, ZMQ_ROUTER);
    int timeout = 1000;
    zmq_setsockopt(server, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmqsink_attach(zs, server, "server");
    char endpoint[256] = "";
    size_t len = sizeof endpoint;
    if (zmq_bind(server, "tcp://127.0.0.1:*") != 0 ||
        zmq_getsockopt(server, ZMQ_LAST_ENDPOINT, endpoint, &len) != 0) {
        fprintf(stderr, "zmqsink: demo: bind: %s\n", zmq_strerror(errno));
        zmq_close(server);
        zmqsink_destroy(&zs);
        zmq_ctx_term(ctx);
        return 1;
    }

    void *retrier = socket_new(ctx, ZMQ_DEALER);
    int interval = 250, interval_max = 1000;
    zmq_setsockopt(retrier, ZMQ_RECONNECT_IVL, &interval, sizeof interval);
    zmq_setsockopt(retrier, ZMQ_RECONNECT_IVL_MAX, &interval_max,
                   sizeof interval_max);
    zmqsink_attach(zs, retrier, "retrier");
    char nowhere[64];
    snprintf(nowhere, sizeof nowhere, "tcp://127.0.0.1:%d", closed_port());
    zmq_connect(retrier, nowhere);

    const char *colon = strrchr(endpoint, ':');
    int port = colon ? atoi(colon + 1) : 0;
    double end = ((double)clock_now_ns() / CLOCK_NS_PER_S) + seconds;
    int n = 0;
    do {
        client_round(ctx, zs, server, endpoint, ++n);
        if (n % 3 == 1)
            garbage_peer(port);
        struct timespec pause = {0, 200 * 1000 * 1000};
        nanosleep(&pause, NULL);
    } while (((double)clock_now_ns() / CLOCK_NS_PER_S) < end);

    zmq_close(retrier);
    zmq_close(server);
    zmqsink_sink_stats_t sinks[ZMQSINK_MAX_SINKS];
    zmqsink_stats_t stats = {.sinks = sinks, .sinks_cap = ZMQSINK_MAX_SINKS};
    zmqsink_destroy_stats(&zs, &stats);
    zmq_ctx_term(ctx);
    fflush(stdout);
    summary_print(&tally, &stats);
    pthread_mutex_destroy(&tally.lock);
    return 0;
}
