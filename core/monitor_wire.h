/* The wire formats of libzmq's socket monitor: starting zmqsink's own
 * monitor of a socket, reading its messages (v1, or v2 where libzmq
 * exports zmq_socket_monitor_versioned()), and writing messages in either
 * format, frame for frame as libzmq itself writes them. */
#ifndef ZS_MONITOR_WIRE_H
#define ZS_MONITOR_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zmqsink/event.h>

/* Addresses as libzmq sends them; longer ones are cut. */
#define ZS__WIRE_ADDRESS_MAX 1024

/* One monitor message, from either format. */
typedef struct zs__monitor_message {
    uint64_t type;  /* a ZMQ_EVENT_* bit, possibly one newer than zmqsink */
    uint64_t value; /* the first value */
    char endpoint[ZS__WIRE_ADDRESS_MAX]; /* as v1 names it: the bind address
                                            on the accepting side, the
                                            connect string on the other */
    char local[ZS__WIRE_ADDRESS_MAX];    /* v2: both ends as libzmq gave */
    char remote[ZS__WIRE_ADDRESS_MAX];   /* them; "" from v1 */
    char peer[ZMQSINK_PEER_MAX];         /* from v2; "" when not given */
} zs__monitor_message_t;

/* What a v2 reader remembers to tell a connection's sides apart: the
 * distinct local addresses its socket listens or accepted connections on,
 * as many as it has binds (and, for a wildcard bind, local addresses).
 * Zero-initialised is empty; zs__wire_sides_free() releases it. */
typedef struct zs__wire_sides {
    char (*locals)[ZMQSINK_ENDPOINT_MAX];
    size_t n, cap;
} zs__wire_sides_t;

void zs__wire_sides_free(zs__wire_sides_t *sides);

enum {
    ZS__WIRE_OK = 1,
    ZS__WIRE_EMPTY = 0, /* nothing queued (EAGAIN) */
    ZS__WIRE_STOP = -1, /* the reader failed: errno (ETERM: context ended) */
    ZS__WIRE_BAD = -2   /* a malformed message: skip its rest */
};

/* Whether type is one event zmqsink knows (a single ZMQSINK_EVENT_* bit),
 * not a newer one. */
bool zs__wire_event_known(uint64_t type);

/* The monitor version this build reads: 2 or 1. */
int zs__wire_version(void);

/* Starts zmqsink's monitor of socket, sending every event to endpoint in
 * the version this build reads. Returns zmq_socket_monitor()'s result. */
int zs__wire_monitor(void *socket, const char *endpoint);

/* Where a message's frames come from: zmqsink's monitor reader, or
 * frames held in memory (tests, fuzzing). read() reads the next frame
 * into buf (cap bytes; the rest of a longer frame is cut), sets *more when
 * another frame of the message follows, and returns the frame's whole
 * size, or -1 with errno (EAGAIN: no message waits). */
typedef struct zs__wire_source {
    int (*read)(void *from, void *buf, size_t cap, int *more);
    void *from;
} zs__wire_source_t;

/* Decodes one message of monitor version 1 or 2 from source, whichever
 * libzmq this build has: the v2 decoder is tested without a draft libzmq.
 * Returns a ZS__WIRE_* code; after ZS__WIRE_BAD the rest of the message
 * is still to be read. */
int zs__wire_decode(int version, const zs__wire_source_t *source,
                    zs__wire_sides_t *sides, zs__monitor_message_t *m);

/* Reads one message without waiting: zs__wire_decode() of the version
 * this build reads, from reader. Returns a ZS__WIRE_* code. */
int zs__wire_read(void *reader, zs__wire_sides_t *sides,
                  zs__monitor_message_t *m);

/* Skips the rest of a malformed message. */
void zs__wire_skip(void *reader);

/* Writes m to socket as a monitor of the given version would (1 or 2;
 * other versions, which libzmq accepts and never writes to, write
 * nothing), without waiting. Returns 0, or -1 with errno (EAGAIN: no
 * room or no peer yet; nothing of the message was sent). */
int zs__wire_send(void *socket, int version, const zs__monitor_message_t *m);

#endif
