/* Taps: the application's own monitors of its sockets, served by zmqsink.
 * libzmq keeps one monitor per socket, so zmqsink keeps that one for
 * itself and re-delivers to the application's endpoint what libzmq would
 * have sent there: the events of its mask, in the format it asked for,
 * and monitor_stopped when the monitor ends. A tap never waits: what finds
 * no room waits in a bounded backlog. */
#ifndef ZS_TAP_H
#define ZS_TAP_H

#include <stdbool.h>
#include <stdint.h>

#include "monitor_wire.h"

typedef struct zs__tap zs__tap_t;

/* Messages a tap holds while its application does not read (beyond the
 * about 2000 that libzmq's own queue holds); the rest are lost, counted. */
#define ZS__TAP_BACKLOG 1024

/* Checks a zmq_socket_monitor_versioned(socket, endpoint, events, version)
 * call as libzmq checks it before it stops the socket's current monitor:
 * the socket (ENOTSOCK, ETERM), the mask of version 1 (EINVAL), and a
 * non-NULL endpoint, which must be inproc (EINVAL, EPROTONOSUPPORT).
 * Returns 0, or -1 with errno as libzmq would set it. */
int zs__tap_check(void *socket, const char *endpoint, uint64_t events,
                  int version);

/* Opens the application's monitor: a socket of type (ZMQ_PAIR, ZMQ_PUB or
 * ZMQ_PUSH, else EINVAL) bound at endpoint in ctx. On the application's
 * thread; the collector thread owns it once handed over. Returns the tap,
 * or NULL with errno as libzmq would set it (bind's errno, ENOMEM). */
zs__tap_t *zs__tap_open(void *ctx, const char *endpoint, uint64_t events,
                        int version, int type);

/* The fd (ZMQ_FD) that wakes the collector when the tap may take more. */
int zs__tap_fd(const zs__tap_t *t);

/* Sends m if the application's mask has its event, or keeps it for later
 * when there is no room or no peer yet. Never waits. Collector thread. */
void zs__tap_send(zs__tap_t *t, const zs__monitor_message_t *m);

/* Sends what waits, as far as there is room. Returns 0 when nothing waits
 * any more, 1 when something does, -1 when the tap is dead (its context
 * ended). Collector thread. */
int zs__tap_flush(zs__tap_t *t);

/* Ends the tap, once the application's monitor stopped (stopped: libzmq
 * stopped it; false: its context ended): sends monitor_stopped when the
 * application's mask has it, the last message, kept even when the backlog
 * is full; and releases the endpoint at once, as libzmq's close of its
 * monitor socket does, so that the application may bind it again, while a
 * peer connected still takes what waits. Collector thread. */
void zs__tap_end(zs__tap_t *t, bool stopped, int64_t now_ns);

/* When zs__tap_end() ended the tap (its now_ns), or 0. */
int64_t zs__tap_ended_ns(const zs__tap_t *t);

/* The endpoint the tap was bound at, whole. */
const char *zs__tap_endpoint(const zs__tap_t *t);

/* Gives up on what the application has not taken from an ended tap:
 * counted lost (and logged by zs__tap_close()), but for a last
 * monitor_stopped, which libzmq drops as well when no reader is there.
 * Collector thread. */
void zs__tap_abandon(zs__tap_t *t);

/* The tap's link in a list its owner keeps of them (the collector's of
 * taps let go, then of ended taps: one at a time), so that keeping one
 * needs no memory. */
zs__tap_t **zs__tap_link(zs__tap_t *t);

/* Sends what waits, as far as there is room, and closes the socket (what
 * still waits is dropped: close a tap once zs__tap_flush() says nothing
 * waits, or that it is dead); logs how many events were lost to a full
 * backlog. Sets *t NULL; NULL is a no-op. */
void zs__tap_close(zs__tap_t **t);

#endif
