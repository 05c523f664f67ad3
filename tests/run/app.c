/* An ordinary ZeroMQ program, linked with libzmq alone, that the tests run
 * under `zmqsink run`: a ROUTER bound on 127.0.0.1:PORT and a DEALER that
 * connects, says hello and gets an answer; both closed, the context
 * terminated; prints "done". Exits with EXIT_CODE, or dies of SIGNAL when
 * given one. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: app PORT EXIT_CODE [SIGNAL]\n");
        return 2;
    }
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%s", argv[1]);
    void *ctx = zmq_ctx_new();
    void *router = zmq_socket(ctx, ZMQ_ROUTER);
    void *dealer = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(dealer, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(router, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(router, endpoint) != 0 || zmq_connect(dealer, endpoint) != 0) {
        fprintf(stderr, "app: %s: %s\n", endpoint, zmq_strerror(zmq_errno()));
        return 1;
    }
    char identity[256], buf[64];
    zmq_send(dealer, "hello", 5, 0);
    int n = zmq_recv(router, identity, sizeof identity, 0);
    zmq_recv(router, buf, sizeof buf, 0);
    zmq_send(router, identity, (size_t)n, ZMQ_SNDMORE);
    zmq_send(router, "world", 5, 0);
    zmq_recv(dealer, buf, sizeof buf, 0);
    zmq_close(dealer);
    zmq_close(router);
    zmq_ctx_term(ctx);
    /* Said before exit, where zmqsink delivers what its sinks hold. */
    printf("done\n");
    fflush(stdout);
    if (argc > 3)
        raise(atoi(argv[3]));
    return atoi(argv[2]);
}
