/* The connections of the attached sockets, by fd: an opening event
 * (connected, accepted) remembers its peer and time, so that the closing
 * one (disconnected, closed) reports the peer and the connection's
 * lifetime. Used by the collector thread only. */
#ifndef ZS_CONNS_H
#define ZS_CONNS_H

#include <stddef.h>
#include <stdint.h>

#include <zmqsink/event.h>

/* A connection seen opening. fds are unique in the process, so one table
 * serves every socket. An entry is keyed by the socket's lineage, not its
 * reader, so that it outlives a rename (a new monitor, a new reader), and
 * not by the socket's address, which libzmq gives the next socket as soon
 * as one is closed. */
typedef struct zs__conn {
    uint64_t lineage; /* 0: free */
    int64_t opened_ns;
    char peer[ZMQSINK_PEER_MAX];
} zs__conn_t;

/* Indexed by fd; zero-initialised is empty. */
typedef struct zs__conns {
    zs__conn_t *by_fd;
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
