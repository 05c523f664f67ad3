/* A C program with many sockets, run by the tests under `zmqsink run`: a
 * ROUTER bound on 127.0.0.1:PORT and COUNT DEALERs that each connect, say
 * hello and get an answer, all open at once. Like any program this large it
 * sets ZMQ_MAX_SOCKETS and its open-file limit for what it needs itself,
 * no more. Prints "COUNT sockets ok" and exits 0, or says what failed and
 * exits 1. Usage: many_sockets PORT COUNT */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <zmq.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: many_sockets PORT COUNT\n");
        return 2;
    }
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%s", argv[1]);
    int count = atoi(argv[2]), linger = 0;
    /* A socket's mailbox, and a connection's two ends, take an fd each. */
    struct rlimit files;
    getrlimit(RLIMIT_NOFILE, &files);
    rlim_t need = (rlim_t)count * 4 + 64;
    if (files.rlim_cur < need) {
        files.rlim_cur = need < files.rlim_max ? need : files.rlim_max;
        setrlimit(RLIMIT_NOFILE, &files);
    }
    void *ctx = zmq_ctx_new();
    zmq_ctx_set(ctx, ZMQ_MAX_SOCKETS, count + 16);
    if (zmq_ctx_get(ctx, ZMQ_MAX_SOCKETS) != count + 16) {
        printf("ZMQ_MAX_SOCKETS reads %d, not %d\n",
               zmq_ctx_get(ctx, ZMQ_MAX_SOCKETS), count + 16);
        return 1;
    }
    void *router = zmq_socket(ctx, ZMQ_ROUTER);
    zmq_setsockopt(router, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(router, endpoint) != 0) {
        printf("bind %s: %s\n", endpoint, zmq_strerror(zmq_errno()));
        return 1;
    }
    void **dealers = calloc((size_t)count, sizeof *dealers);
    for (int i = 0; i < count; i++) {
        dealers[i] = zmq_socket(ctx, ZMQ_DEALER);
        if (!dealers[i]) {
            printf("socket %d: %s\n", i, zmq_strerror(zmq_errno()));
            return 1;
        }
        zmq_setsockopt(dealers[i], ZMQ_LINGER, &linger, sizeof linger);
        if (zmq_connect(dealers[i], endpoint) != 0 ||
            zmq_send(dealers[i], "hello", 5, 0) != 5) {
            printf("dealer %d: %s\n", i, zmq_strerror(zmq_errno()));
            return 1;
        }
    }
    int rcvtimeo = 30000;
    zmq_setsockopt(router, ZMQ_RCVTIMEO, &rcvtimeo, sizeof rcvtimeo);
    for (int i = 0; i < count; i++) {
        char identity[256], body[16];
        int n = zmq_recv(router, identity, sizeof identity, 0);
        if (n < 0 || zmq_recv(router, body, sizeof body, 0) < 0) {
            printf("hello %d of %d never came\n", i + 1, count);
            return 1;
        }
        zmq_send(router, identity, (size_t)n, ZMQ_SNDMORE);
        zmq_send(router, "world", 5, 0);
    }
    for (int i = 0; i < count; i++) {
        char body[16];
        zmq_setsockopt(dealers[i], ZMQ_RCVTIMEO, &rcvtimeo, sizeof rcvtimeo);
        if (zmq_recv(dealers[i], body, sizeof body, 0) < 0) {
            printf("answer %d never came\n", i);
            return 1;
        }
        zmq_close(dealers[i]);
    }
    free(dealers);
    zmq_close(router);
    zmq_ctx_term(ctx);
    printf("%d sockets ok\n", count);
    return 0;
}
