/* The connection table (core/conns.c): a connection's closing event gets
 * the peer and the lifetime of its own opening one, never those of another
 * socket's connection that took the same fd; and a peer read from an fd
 * that has gone to another connection is not lent. Real loopback sockets
 * stand for libzmq's connections. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conns.h"

static zmqsink_event_t event(uint32_t type, int fd, const char *endpoint,
                             const char *peer)
{
    zmqsink_event_t ev = {.type = type, .value = (uint32_t)fd,
                          .duration_ms = -1};
    snprintf(ev.endpoint, sizeof ev.endpoint, "%s", endpoint);
    snprintf(ev.peer, sizeof ev.peer, "%s", peer);
    return ev;
}

Test(conns, another_sockets_connection_on_the_same_fd_lends_nothing)
{
    zs__conns_t t = {0};
    const uint64_t a = 1, b = 2;
    zmqsink_event_t ev =
        event(ZMQSINK_EVENT_ACCEPTED, 40, "tcp://127.0.0.1:5555", "10.0.0.1:1");
    zs__conns_track(&t, a, &ev);
    /* a's connection closed, b accepted on the same fd, and b's event was
     * read before a's disconnected. */
    ev = event(ZMQSINK_EVENT_ACCEPTED, 40, "tcp://127.0.0.1:6666", "10.0.0.2:2");
    zs__conns_track(&t, b, &ev);

    zmqsink_event_t gone = event(ZMQSINK_EVENT_DISCONNECTED, 40,
                                 "tcp://127.0.0.1:5555", "");
    zs__conns_track(&t, a, &gone);
    cr_assert_str_eq(gone.peer, "10.0.0.1:1", "a's own peer, not b's");
    cr_assert_geq(gone.duration_ms, 0);

    gone = event(ZMQSINK_EVENT_DISCONNECTED, 40, "tcp://127.0.0.1:6666", "");
    zs__conns_track(&t, b, &gone);
    cr_assert_str_eq(gone.peer, "10.0.0.2:2", "b's entry survived a's");
    cr_assert_geq(gone.duration_ms, 0);

    gone = event(ZMQSINK_EVENT_CLOSED, 40, "tcp://127.0.0.1:6666", "");
    zs__conns_track(&t, b, &gone);
    cr_assert_str_eq(gone.peer, "", "each connection closes once");
    cr_assert_eq(gone.duration_ms, -1);
    zs__conns_free(&t);
}

Test(conns, a_forgotten_socket_leaves_the_others)
{
    zs__conns_t t = {0};
    for (int fd = 3; fd < 300; fd++) {
        zmqsink_event_t ev =
            event(ZMQSINK_EVENT_CONNECTED, fd, "tcp://127.0.0.1:1", "x:1");
        zs__conns_track(&t, (uint64_t)(fd % 3 + 1), &ev);
    }
    zs__conns_forget(&t, 2);
    size_t kept = 0;
    for (int fd = 3; fd < 300; fd++) {
        uint64_t lineage = (uint64_t)(fd % 3 + 1);
        zmqsink_event_t gone =
            event(ZMQSINK_EVENT_DISCONNECTED, fd, "tcp://127.0.0.1:1", "");
        zs__conns_track(&t, lineage, &gone);
        cr_assert_eq(gone.peer[0] != '\0', lineage != 2, "fd %d", fd);
        kept += gone.peer[0] != '\0';
    }
    cr_assert_eq(kept, 198u);
    zs__conns_free(&t);
}

/* A listening socket on 127.0.0.1 and its port. */
static int listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    cr_assert_eq(listen(fd, 4), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    *port = ntohs(addr.sin_port);
    return fd;
}

/* A client connected to the listener lfd on port, from address `from`
 * (NULL: any); returns the accepted fd and sets *client and *bound (the
 * client's address and port). */
static int connect_from(int lfd, int port, const char *from, int *client,
                        struct sockaddr_in *bound)
{
    *client = socket(AF_INET, SOCK_STREAM, 0);
    if (from) {
        struct sockaddr_in addr = {.sin_family = AF_INET};
        cr_assert_eq(inet_pton(AF_INET, from, &addr.sin_addr), 1);
        cr_assert_eq(bind(*client, (struct sockaddr *)&addr, sizeof addr), 0,
                     "bind %s", from);
    }
    struct sockaddr_in to = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(*client, (struct sockaddr *)&to, sizeof to), 0);
    int accepted = accept(lfd, NULL, NULL);
    cr_assert_geq(accepted, 0);
    socklen_t len = sizeof *bound;
    cr_assert_eq(getsockname(*client, (struct sockaddr *)bound, &len), 0);
    return accepted;
}

Test(conns, a_peer_is_read_only_from_the_connection_the_event_names)
{
    int port, other_port, client;
    int lfd = listener(&port), other = listener(&other_port);
    struct sockaddr_in from;
    int accepted = connect_from(lfd, port, NULL, &client, &from);
    char client_peer[64], here[64], elsewhere[64], server_peer[64];
    snprintf(client_peer, sizeof client_peer, "127.0.0.1:%u",
             ntohs(from.sin_port));
    snprintf(server_peer, sizeof server_peer, "127.0.0.1:%d", port);
    snprintf(here, sizeof here, "tcp://127.0.0.1:%d", port);
    snprintf(elsewhere, sizeof elsewhere, "tcp://127.0.0.1:%d", other_port);

    zs__conns_t t = {0};
    zmqsink_event_t ev = event(ZMQSINK_EVENT_ACCEPTED, accepted, here, "");
    zs__conns_track(&t, 1, &ev);
    cr_assert_str_eq(ev.peer, client_peer, "accepted on this bind");
    ev = event(ZMQSINK_EVENT_ACCEPTED, accepted, elsewhere, "");
    zs__conns_track(&t, 2, &ev);
    cr_assert_str_eq(ev.peer, "",
                     "the fd is another bind's connection now: not lent");
    ev = event(ZMQSINK_EVENT_CONNECTED, client, here, "");
    zs__conns_track(&t, 3, &ev);
    cr_assert_str_eq(ev.peer, server_peer, "connected to this endpoint");
    ev = event(ZMQSINK_EVENT_CONNECTED, client, elsewhere, "");
    zs__conns_track(&t, 4, &ev);
    cr_assert_str_eq(ev.peer, "", "connected elsewhere: not lent");
    zs__conns_free(&t);
    close(client);
    close(accepted);
    close(lfd);
    close(other);
}

/* The peer text of clients bound to addresses of 127.0.0.0/8 whose octets
 * have one, two and three digits and zeros, as inet_ntop() writes them. */
Test(conns, ipv4_peers_are_written_as_inet_ntop_writes_them)
{
    const char *clients[] = {"127.0.0.1", "127.10.0.99", "127.255.100.7",
                             "127.1.20.255"};
    int port;
    int lfd = listener(&port);
    char here[64];
    snprintf(here, sizeof here, "tcp://127.0.0.1:%d", port);
    for (size_t i = 0; i < sizeof clients / sizeof clients[0]; i++) {
        int client;
        struct sockaddr_in from;
        int accepted = connect_from(lfd, port, clients[i], &client, &from);
        char text[INET_ADDRSTRLEN], expect[64];
        inet_ntop(AF_INET, &from.sin_addr, text, sizeof text);
        snprintf(expect, sizeof expect, "%s:%u", text, ntohs(from.sin_port));

        zs__conns_t t = {0};
        zmqsink_event_t ev = event(ZMQSINK_EVENT_ACCEPTED, accepted, here, "");
        zs__conns_track(&t, 1, &ev);
        cr_assert_str_eq(ev.peer, expect);
        zs__conns_free(&t);
        close(client);
        close(accepted);
    }
    close(lfd);
}
