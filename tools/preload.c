/* The preload library of `zmqsink run`: attaches zmqsink to every ZeroMQ
 * socket an unmodified program creates.
 *
 * It interposes libzmq's socket creation, bind and connect, close and
 * context termination. A socket is attached at its first bind or connect
 * (so that `listening` is seen), named by the first `sockets:` rule whose
 * match glob fits that endpoint, else "<type>-<n>". Before a context is
 * terminated, the monitors of its closed sockets are drained, since
 * zmq_ctx_term() would discard their last events; the program then exits
 * as it would without zmqsink. zmqsink starts at the first attach, with the
 * config named by $ZMQSINK_CONFIG (none: the compiled-in default), and is
 * destroyed at exit, which delivers what the sinks still hold.
 *
 * zmqsink's own libzmq calls (its monitor readers) come through these same
 * functions; a thread-local flag lets them pass straight through. Nothing
 * here may fail the program: when zmqsink cannot start, that is said once
 * on stderr and the program runs unmonitored. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>
#include <zmqsink.h>

/* How long context termination waits for closed sockets' last events. */
#define SETTLE_MS 2000

typedef struct known {
    void *socket, *ctx;
    bool attached;
} known_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static zmqsink_t *instance;  /* (lock) */
static bool start_failed;    /* (lock) */
static known_t *sockets;     /* (lock) created and not yet closed */
static size_t nsockets, cap;
static __thread bool inside; /* this thread is in a zmqsink call */

/* libzmq's own definitions, found past this library. */
static void *real(const char *name)
{
    void *fn = dlsym(RTLD_NEXT, name);
    if (!fn) {
        fprintf(stderr, "zmqsink: %s not found in libzmq\n", name);
        abort();
    }
    return fn;
}

#define REAL(name, type) ((type)real(#name))

/* The instance, started on first use. With the lock held. */
static zmqsink_t *instance_get(void *ctx)
{
    if (instance || start_failed)
        return instance;
    char err[512];
    const char *config = getenv("ZMQSINK_CONFIG");
    inside = true;
    instance = zmqsink_new(ctx, config && *config ? config : NULL, err,
                           sizeof err);
    inside = false;
    if (!instance) {
        start_failed = true;
        fprintf(stderr, "zmqsink: %s; the program runs unmonitored\n", err);
    }
    return instance;
}

static known_t *known_find(void *socket)
{
    for (size_t i = 0; i < nsockets; i++)
        if (sockets[i].socket == socket)
            return &sockets[i];
    return NULL;
}

void *zmq_socket(void *ctx, int type)
{
    void *socket = REAL(zmq_socket, void *(*)(void *, int))(ctx, type);
    if (!socket || inside)
        return socket;
    pthread_mutex_lock(&lock);
    if (nsockets == cap) {
        size_t more = cap ? cap * 2 : 16;
        known_t *grown = realloc(sockets, more * sizeof *grown);
        if (grown) {
            sockets = grown;
            cap = more;
        }
    }
    if (nsockets < cap)
        sockets[nsockets++] = (known_t){socket, ctx, false};
    pthread_mutex_unlock(&lock);
    return socket;
}

/* Attaches a socket at its first bind or connect. */
static void attach_first(void *socket, const char *endpoint)
{
    if (inside || !endpoint)
        return;
    pthread_mutex_lock(&lock);
    known_t *k = known_find(socket);
    zmqsink_t *zs = k && !k->attached ? instance_get(k->ctx) : NULL;
    if (zs) {
        k->attached = true;
        inside = true;
        int rc = zmqsink_attach_endpoint(zs, k->ctx, socket, endpoint);
        inside = false;
        if (rc != 0)
            fprintf(stderr, "zmqsink: cannot monitor the socket of %s: %s\n",
                    endpoint, zmqsink_strerror(rc));
    }
    pthread_mutex_unlock(&lock);
}

int zmq_bind(void *socket, const char *endpoint)
{
    attach_first(socket, endpoint);
    return REAL(zmq_bind, int (*)(void *, const char *))(socket, endpoint);
}

int zmq_connect(void *socket, const char *endpoint)
{
    attach_first(socket, endpoint);
    return REAL(zmq_connect, int (*)(void *, const char *))(socket, endpoint);
}

int zmq_close(void *socket)
{
    if (!inside) {
        pthread_mutex_lock(&lock);
        known_t *k = known_find(socket);
        if (k)
            *k = sockets[--nsockets];
        pthread_mutex_unlock(&lock);
    }
    return REAL(zmq_close, int (*)(void *))(socket);
}

/* Lets the monitors of the context's closed sockets deliver their last
 * events before the context ends. */
static void settle(void *ctx)
{
    pthread_mutex_lock(&lock);
    zmqsink_t *zs = instance;
    pthread_mutex_unlock(&lock);
    if (zs && !inside)
        zmqsink_settle(zs, ctx, SETTLE_MS);
}

int zmq_ctx_term(void *ctx)
{
    settle(ctx);
    return REAL(zmq_ctx_term, int (*)(void *))(ctx);
}

int zmq_ctx_destroy(void *ctx)
{
    settle(ctx);
    return REAL(zmq_ctx_destroy, int (*)(void *))(ctx);
}

int zmq_term(void *ctx)
{
    settle(ctx);
    return REAL(zmq_term, int (*)(void *))(ctx);
}

__attribute__((destructor)) static void preload_end(void)
{
    pthread_mutex_lock(&lock);
    zmqsink_t *zs = instance;
    instance = NULL;
    start_failed = true; /* no new instance during exit */
    free(sockets);
    sockets = NULL;
    nsockets = cap = 0;
    pthread_mutex_unlock(&lock);
    inside = true;
    zmqsink_destroy(&zs);
}
