/* A C program whose binds fail, and which reports and branches on errno as
 * programs do, run by the tests with and without `zmqsink run`, which must
 * not change what it sees: an interface that does not exist, an ipc path
 * longer than a unix socket address holds, and a port in use. Prints
 * "CASE: rc ERRNO" for each, and exits 0.
 * Usage: bind_errors PORT DIR (PORT free on 127.0.0.1, DIR writable) */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

static const char *errno_name(int e)
{
    switch (e) {
    case 0: return "-";
    case ENODEV: return "ENODEV";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EADDRINUSE: return "EADDRINUSE";
    case EAGAIN: return "EAGAIN";
    case EINVAL: return "EINVAL";
    default: return strerror(e);
    }
}

static void try_bind(void *socket, const char *name, const char *endpoint)
{
    errno = 0;
    int rc = zmq_bind(socket, endpoint);
    printf("%s: %d %s\n", name, rc, errno_name(rc ? zmq_errno() : 0));
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bind_errors PORT DIR\n");
        return 2;
    }
    char endpoint[64], ipc[512];
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%s", argv[1]);
    snprintf(ipc, sizeof ipc, "ipc://%s/%0120d", argv[2], 7);
    int linger = 0;
    void *ctx = zmq_ctx_new();
    void *first = zmq_socket(ctx, ZMQ_ROUTER);
    void *second = zmq_socket(ctx, ZMQ_ROUTER);
    zmq_setsockopt(first, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(second, ZMQ_LINGER, &linger, sizeof linger);
    try_bind(first, "bound", endpoint);
    try_bind(second, "unknown interface", "tcp://nosuchif0:5555");
    try_bind(second, "ipc path too long", ipc);
    try_bind(second, "port in use", endpoint);
    try_bind(second, "no transport", "127.0.0.1:5555");
    zmq_close(first);
    zmq_close(second);
    zmq_ctx_term(ctx);
    return 0;
}
