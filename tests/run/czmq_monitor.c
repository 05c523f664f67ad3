/* A CZMQ program that watches its own server with a zmonitor actor, run by
 * the tests with and without `zmqsink run`, which must not change what it
 * sees. The server binds on 127.0.0.1:PORT; the actor listens for
 * LISTENING, ACCEPTED and DISCONNECTED; a client connects, talks and
 * leaves. Prints each event the actor reported, one line each, and exits
 * 0, or 1 when an awaited event never came.
 *
 * With `clients N`: then N clients one after the other, each watched by an
 * actor of its own while it connects, the actor destroyed before the
 * client. zmonitor binds its monitor at inproc://zmonitor-ADDRESS, after
 * the socket's address, which the next client often takes again. Prints
 * CONNECTED once per client. (A zmonitor that cannot bind aborts.)
 * Usage: czmq_monitor PORT [clients N] */
#include <czmq.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads the actor's events until one named last, printing each (all) or
 * that one alone, without its address (which others come first is up to
 * the kernel); 0 once it came. */
static int read_until(zactor_t *monitor, const char *last, bool all)
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
        int done = event && strcmp(event, last) == 0;
        if (all)
            printf("%s %s\n", event, address ? address : "");
        else if (done)
            printf("%s\n", event);
        zstr_free(&event);
        zstr_free(&value);
        zstr_free(&address);
        zmsg_destroy(&msg);
        if (done)
            return 0;
    }
}

static int print_until(zactor_t *monitor, const char *last)
{
    return read_until(monitor, last, true);
}

/* Clients one after the other, each with its own monitor actor of every
 * event, monitor_stopped included. */
static int watched_clients(zsock_t *server, const char *endpoint, int n)
{
    int failed = 0;
    for (int i = 0; i < n; i++) {
        zsock_t *client = zsock_new(ZMQ_DEALER);
        zactor_t *monitor = zactor_new(zmonitor, client);
        zstr_sendx(monitor, "LISTEN", "ALL", NULL);
        zstr_sendx(monitor, "START", NULL);
        zsock_wait(monitor);
        zsock_connect(client, "%s", endpoint);
        failed |= read_until(monitor, "CONNECTED", false);
        zstr_send(client, "hello");
        char *hello = zstr_recv(server);
        zstr_free(&hello);
        zactor_destroy(&monitor);
        zsock_destroy(&client);
        zclock_sleep(20); /* libzmq frees a closed socket in the background */
    }
    return failed;
}

int main(int argc, char **argv)
{
    if (argc != 2 && !(argc == 4 && strcmp(argv[2], "clients") == 0)) {
        fprintf(stderr, "usage: czmq_monitor PORT [clients N]\n");
        return 2;
    }
    zsys_set_linger(0);
    char *endpoint = zsys_sprintf("tcp://127.0.0.1:%s", argv[1]);
    if (argc == 4) {
        zsock_t *server = zsock_new(ZMQ_ROUTER);
        int failed = zsock_bind(server, "%s", endpoint) < 0 ||
                     watched_clients(server, endpoint, atoi(argv[3]));
        zsock_destroy(&server);
        zstr_free(&endpoint);
        return failed;
    }
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
