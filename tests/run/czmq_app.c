/* An ordinary CZMQ program that the tests run under `zmqsink run`: a
 * ROUTER bound on 127.0.0.1:PORT and a DEALER that connects, says hello
 * and gets an answer; both destroyed, and CZMQ's own exit handler
 * terminates its context. Exits with EXIT_CODE. */
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: czmq_app PORT EXIT_CODE\n");
        return 2;
    }
    zsys_set_linger(0);
    char *endpoint = zsys_sprintf("tcp://127.0.0.1:%s", argv[1]);
    /* A ROUTER binds and a DEALER connects by default. */
    zsock_t *router = zsock_new_router(endpoint);
    zsock_t *dealer = router ? zsock_new_dealer(endpoint) : NULL;
    if (!dealer) {
        zsys_error("czmq_app: %s: %s", endpoint, zmq_strerror(zmq_errno()));
        return 1;
    }
    zstr_free(&endpoint);
    zstr_send(dealer, "hello");
    zmsg_t *request = zmsg_recv(router);
    zframe_t *identity = zmsg_pop(request);
    zmsg_destroy(&request);
    zframe_send(&identity, router, ZFRAME_MORE);
    zstr_send(router, "world");
    char *answer = zstr_recv(dealer);
    zstr_free(&answer);
    zsock_destroy(&dealer);
    zsock_destroy(&router);
    return atoi(argv[2]);
}
