/* The ZeroMQ traffic the event-path benchmarks make, the same for every
 * variant: a churn of short DEALER connections against a ROUTER, an echo
 * server, and the small socket helpers they share. All on 127.0.0.1. */
#ifndef BENCH_WORKLOAD_H
#define BENCH_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>

/* A socket of type in ctx with ZMQ_LINGER 0, or NULL. */
void *socket_new(void *ctx, int type);

/* Binds s to tcp://127.0.0.1:* with a backlog that holds a burst of
 * connects, and returns the port, or -1. */
int socket_bind_loopback(void *s);

/* Writes "tcp://127.0.0.1:PORT" to buf. */
void loopback_endpoint(char *buf, size_t cap, int port);

/* A port of 127.0.0.1 where nothing listens, held by a bound, never
 * listening TCP socket (so no one else takes it): connects to it are
 * refused. Returns the port and the socket's fd in *fd, or -1. */
int refused_port(int *fd);

/* The plan of churn_clients(): conns connections, inflight at a time,
 * each connecting, sending one message, waiting for the reply and closing.
 * conns < 0: until the parent closes the helper's pipe. */
typedef struct churn_plan {
    long conns;
    int inflight;
    int timeout_s; /* the helper gives up after this */
} churn_plan_t;

/* Helper body (see helper_fn in procs.h): reads the server's port from the
 * parent, runs the plan, then writes the number of connections served and
 * exits 0 when all were. */
int churn_clients(int from_parent, int to_parent, void *plan);

/* The churn's server side: answers each message on router until conns
 * were served (conns < 0: no limit) or deadline_ns (CLOCK_MONOTONIC)
 * passes, calling tick(arg) (may be NULL) about every 100 ms. Returns the
 * number served. */
long churn_serve(void *router, long conns, int64_t deadline_ns,
                 void (*tick)(void *arg), void *arg);

/* Helper body: a ROUTER on 127.0.0.1 that sends every message back to its
 * sender; writes its port to the parent, and ends when the parent closes
 * the pipe. */
int echo_server(int from_parent, int to_parent, void *unused);

#endif
