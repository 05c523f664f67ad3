/* Failed binds on monitored sockets: libzmq's send of bind_failed to the
 * socket's monitor leaves EAGAIN in errno in place of the cause, which the
 * event's value still holds. The binding thread registers a wait, binds,
 * and on such a failure waits (microseconds) until the collector thread
 * reads the event and answers with its value. */
#ifndef ZS_BINDWAIT_H
#define ZS_BINDWAIT_H

#include <pthread.h>
#include <stdbool.h>

/* One application thread inside zs__bind_waits_bind(). */
typedef struct zs__bind_wait {
    struct zs__bind_wait *next;
    const void *socket;
    const char *address; /* the endpoint without its transport */
    bool done;
    int error;
} zs__bind_wait_t;

typedef struct zs__bind_waits {
    pthread_mutex_t lock;
    pthread_cond_t done; /* on the monotonic clock */
    zs__bind_wait_t *list;
} zs__bind_waits_t;

void zs__bind_waits_init(zs__bind_waits_t *w);
void zs__bind_waits_destroy(zs__bind_waits_t *w);

/* zmq_bind() of a socket whose monitor the collector reads: returns what
 * zmq_bind() returns, with the cause of a failure in errno, waited for at
 * most timeout_ns. */
int zs__bind_waits_bind(zs__bind_waits_t *w, void *socket,
                        const char *endpoint, long long timeout_ns);

/* From the collector thread, for a bind_failed event of socket at address
 * (the event's endpoint, without transport) with value error: answers the
 * threads waiting for it. */
void zs__bind_waits_answer(zs__bind_waits_t *w, const void *socket,
                           const char *address, int error);

#endif
