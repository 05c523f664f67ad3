/* A C program that monitors its own socket the plain libzmq way, run by
 * the tests with and without `zmqsink run`, which must not change what it
 * sees: a monitor with a narrow event mask started before connecting, a
 * second one that replaces it, then none; and monitor calls that libzmq
 * refuses. It prints each frame its monitors got and each refusal, one
 * line each, and exits 0, or 1 when an awaited event never came.
 * Usage: mask_monitor PORT */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

static const char *event_name(unsigned event)
{
    switch (event) {
    case ZMQ_EVENT_CONNECTED: return "connected";
    case ZMQ_EVENT_CONNECT_DELAYED: return "connect_delayed";
    case ZMQ_EVENT_CONNECT_RETRIED: return "connect_retried";
    case ZMQ_EVENT_DISCONNECTED: return "disconnected";
    case ZMQ_EVENT_MONITOR_STOPPED: return "monitor_stopped";
    case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: return "handshake_succeeded";
    default: return "other";
    }
}

static const char *errno_name(int e)
{
    switch (e) {
    case EINVAL: return "EINVAL";
    case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
    case EADDRINUSE: return "EADDRINUSE";
    case ENOTSOCK: return "ENOTSOCK";
    default: return strerror(e);
    }
}

/* Prints the monitor's messages until one of type last (2 s each at
 * most). Returns 0 once it came. */
static int print_until(void *monitor, const char *name, unsigned last)
{
    zmq_pollitem_t item = {monitor, 0, ZMQ_POLLIN, 0};
    while (zmq_poll(&item, 1, 5000) == 1) {
        uint8_t head[16];
        char endpoint[256];
        int more = 0;
        size_t size = sizeof more;
        int n = zmq_recv(monitor, head, sizeof head, 0);
        zmq_getsockopt(monitor, ZMQ_RCVMORE, &more, &size);
        int len = more ? zmq_recv(monitor, endpoint, sizeof endpoint - 1, 0)
                       : -1;
        zmq_getsockopt(monitor, ZMQ_RCVMORE, &more, &size);
        uint16_t event;
        uint32_t value;
        memcpy(&event, head, sizeof event);
        memcpy(&value, head + 2, sizeof value);
        endpoint[len > 0 ? len : 0] = '\0';
        /* An fd's number is the kernel's choice, a retry's interval has
         * random jitter: say only what they are. */
        char shown[16];
        if (event == ZMQ_EVENT_CONNECTED || event == ZMQ_EVENT_DISCONNECTED)
            snprintf(shown, sizeof shown, "fd");
        else if (event == ZMQ_EVENT_CONNECT_RETRIED)
            snprintf(shown, sizeof shown, "%s", value >= 100 ? "ms" : "?");
        else
            snprintf(shown, sizeof shown, "%u", value);
        printf("%s %s frames=%d+%d value=%s endpoint=%s\n", name,
               event_name(event), n, len, shown, endpoint);
        if (more)
            printf("%s: more frames than two\n", name);
        if (event == last)
            return 0;
    }
    printf("%s: no %s\n", name, event_name(last));
    return 1;
}

static void refused(void *socket, const char *endpoint, int events)
{
    int rc = zmq_socket_monitor(socket, endpoint, events);
    printf("monitor %s %#x: %d %s\n", endpoint, (unsigned)events, rc,
           rc ? errno_name(zmq_errno()) : "");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: mask_monitor PORT\n");
        return 2;
    }
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%s", argv[1]);
    int linger = 0, failed = 0;
    void *ctx = zmq_ctx_new();
    void *router = zmq_socket(ctx, ZMQ_ROUTER);
    void *dealer = zmq_socket(ctx, ZMQ_DEALER);
    zmq_setsockopt(router, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(dealer, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(router, endpoint) != 0) {
        fprintf(stderr, "mask_monitor: bind %s: %s\n", endpoint,
                zmq_strerror(zmq_errno()));
        return 2;
    }
    zmq_socket_monitor(dealer, "inproc://first",
                       ZMQ_EVENT_CONNECTED | ZMQ_EVENT_MONITOR_STOPPED);
    void *first = zmq_socket(ctx, ZMQ_PAIR);
    zmq_connect(first, "inproc://first");
    zmq_connect(dealer, endpoint);
    failed |= print_until(first, "first", ZMQ_EVENT_CONNECTED);

    zmq_socket_monitor(dealer, "inproc://second",
                       ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_CONNECT_RETRIED |
                           ZMQ_EVENT_MONITOR_STOPPED);
    failed |= print_until(first, "first", ZMQ_EVENT_MONITOR_STOPPED);
    void *second = zmq_socket(ctx, ZMQ_PAIR);
    zmq_connect(second, "inproc://second");
    zmq_close(router);
    failed |= print_until(second, "second", ZMQ_EVENT_CONNECT_RETRIED);
    refused(dealer, "tcp://127.0.0.1:1", ZMQ_EVENT_ALL);
    refused(dealer, "nowhere", ZMQ_EVENT_ALL);
    refused(dealer, "inproc://third", 0x10000);
    zmq_socket_monitor(dealer, NULL, 0);
    failed |= print_until(second, "second", ZMQ_EVENT_MONITOR_STOPPED);

    zmq_close(first);
    zmq_close(second);
    zmq_close(dealer);
    zmq_ctx_term(ctx);
    return failed;
}
