/* The connections of the attached sockets, by fd: an opening event
 * (connected, accepted) remembers its peer and time, so that the closing
 * one (disconnected, closed) reports the peer and the connection's
 * lifetime. Used by the collector thread only. */
#ifndef ZS_CONNS_H
#define ZS_CONNS_H

#include <stddef.h>
#include <stdint.h>

#include <zmqsink/event.h>

/* A connection seen opening. An fd names one connection at a time, but a
 * socket's events are read in their order only among themselves: another
 * socket may accept on an fd before this one's disconnected for it is
 * read. So an entry is keyed by the fd and the socket's lineage: another
 * socket's connection on the same fd can never lend its peer or its start
 * time, nor take this one's. The lineage, not the reader, so that it
 * outlives a rename (a new monitor, a new reader); not the socket's
 * address, which libzmq gives the next socket as soon as one is closed. */
typedef struct zs__conn {
    uint64_t lineage;
    int64_t opened_ns;
    char peer[ZMQSINK_PEER_MAX];
} zs__conn_t;

/* The connections on one fd, of different sockets: one, nearly always. */
typedef struct zs__conn_slot {
    zs__conn_t *at;
    uint32_t n, cap;
} zs__conn_slot_t;

/* Indexed by fd; zero-initialised is empty. */
typedef struct zs__conns {
    zs__conn_slot_t *by_fd;
    size_t n;
} zs__conns_t;

/* Tracks one event of the socket of lineage: an opening one is
 * remembered (its peer read with getpeername() when the event has none);
 * a closing one gets the peer, when it has none, and duration_ms, and is
 * forgotten. Other types are left as they are. */
void zs__conns_track(zs__conns_t *t, uint64_t lineage, zmqsink_event_t *ev);

/* Forgets the open connections of a socket that is gone. */
void zs__conns_forget(zs__conns_t *t, uint64_t lineage);

void zs__conns_free(zs__conns_t *t);

#endif
