/* A CZMQ program that watches its own server with a zmonitor actor, run by
 * the tests with and without `zmqsink run`, which must not change what it
 * sees. The server binds on 127.0.0.1:PORT; the actor listens for
 * LISTENING, ACCEPTED and DISCONNECTED; a client connects, talks and
 * leaves. Prints each event the actor reported, one line each, and exits
 * 0, or 1 when an awaited event never came.
 * Usage: czmq_monitor PORT */
#include <czmq.h>
#include <stdio.h>
#include <string.h>

/* Prints the actor's events until one named last; 0 once it came. */
static int print_until(zactor_t *monitor, const char *last)
{
    zsock_set_rcvtimeo(monitor, 5000);
    for (;;) {
        zmsg_t *msg = zmsg_recv(monitor);
        if (!msg) {
            printf("no %s\n", last);
            return 1;
        }
        char *event = zmsg_popstr(msg);
        char *value = zmsg_popstr(msg);
        char *address = zmsg_popstr(msg);
        printf("%s %s\n", event, address ? address : "");
        int done = event && strcmp(event, last) == 0;
        zstr_free(&event);
        zstr_free(&value);
        zstr_free(&address);
        zmsg_destroy(&msg);
        if (done)
            return 0;
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: czmq_monitor PORT\n");
        return 2;
    }
    zsys_set_linger(0);
    char *endpoint = zsys_sprintf("tcp://127.0.0.1:%s", argv[1]);
    zsock_t *server = zsock_new(ZMQ_ROUTER);
    zactor_t *monitor = zactor_new(zmonitor, server);
    zstr_sendx(monitor, "LISTEN", "LISTENING", "ACCEPTED", "DISCONNECTED",
               NULL);
    zstr_sendx(monitor, "START", NULL);
    zsock_wait(monitor);
    if (zsock_bind(server, "%s", endpoint) < 0) {
        fprintf(stderr, "czmq_monitor: bind %s failed\n", endpoint);
        return 2;
    }
    int failed = print_until(monitor, "LISTENING");
    zsock_t *client = zsock_new_dealer(endpoint);
    zstr_send(client, "hello");
    char *hello = zstr_recv(server);
    zstr_free(&hello);
    failed |= print_until(monitor, "ACCEPTED");
    zsock_destroy(&client);
    failed |= print_until(monitor, "DISCONNECTED");
    zactor_destroy(&monitor);
    zsock_destroy(&server);
    zstr_free(&endpoint);
    return failed;
}
