/* The preload library of `zmqsink run`: attaches zmqsink to every ZeroMQ
 * socket an unmodified program creates, without changing what the program
 * sees of libzmq.
 *
 * - A socket is attached at its first bind or connect to an endpoint that
 *   is not inproc (inproc has no connections to report), named by the
 *   first `sockets:` rule whose match fits that endpoint, else
 *   "<type>-<n>". zmqsink starts there, with the config of
 *   $ZMQSINK_CONFIG (none: the compiled-in default), its sinks opening on
 *   their own threads: the bind or connect does not wait for them.
 * - The program's own monitors (zmq_socket_monitor[_versioned]) are served
 *   by zmqsink, which keeps the socket's one libzmq monitor; a failed
 *   bind reports its real errno, not the EAGAIN that libzmq's monitor
 *   leaves behind.
 * - Each monitored socket costs libzmq two more sockets: the program's
 *   ZMQ_MAX_SOCKETS is kept as its own limit, and the context's real one
 *   raised to leave room.
 * - Before a context is terminated, the monitors of its closed sockets are
 *   drained, since zmq_ctx_term() would discard their last events; at exit
 *   (exit() or _exit()) the sinks deliver what they hold.
 * - A forked child leaves its parent's zmqsink alone (its threads did not
 *   survive the fork) and starts its own at its first attach.
 *
 * Nothing here waits on a sink, and the lock is never held across a call
 * that can block. zmqsink's own libzmq calls come through these same
 * functions; a thread-local flag lets them pass straight through. Nothing
 * here may fail the program: when zmqsink cannot start, that is said once
 * on stderr and the program runs unmonitored. */
#include "zmqsink-config.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef HAVE_ZMQ_SOCKET_MONITOR_VERSIONED
#define ZMQ_BUILD_DRAFT_API 1 /* declares zmq_socket_monitor_versioned() */
#endif
#include <zmq.h>
#include <zmqsink.h>

#include "ptrmap.h"

/* How long context termination waits for closed sockets' last events
 * while none arrives; and at most, in rounds of that. A loaded machine
 * reading a long backlog (thousands of sockets closed at once) goes on
 * as long as events keep coming. */
#define SETTLE_MS 2000
#define SETTLE_ROUNDS 15
/* Sockets libzmq needs per socket of the program: its own, the monitor
 * zmqsink keeps, the reader, and the program's monitor, if any. */
#define SOCKETS_PER_SOCKET 4
/* Attach failures said on stderr; the rest are counted. */
#define FAILURES_SAID 3

/* A socket of the program. */
typedef struct known {
    void *ctx;
    bool attached; /* zmqsink reports it (or tried to) */
} known_t;

/* A context of the program: the socket limit it asked for, and how many
 * sockets it has, to fail the one past the limit as libzmq would. */
typedef struct context {
    int max_sockets; /* ZMQ_MAX_SOCKETS as the program set it */
    int limit;       /* max_sockets when its first socket was made */
    int sockets;
} context_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static zs__ptrmap_t sockets;  /* (lock) void * -> known_t */
static zs__ptrmap_t contexts; /* (lock) void * -> context_t */
static unsigned failures;     /* (lock) attach failures */

/* The instance is started once per process, under start_lock, which only
 * threads that need it wait for. */
static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;
static zmqsink_t *_Atomic instance;
static _Atomic pid_t instance_pid; /* the process that started it */
static bool start_failed;     /* (start_lock) */
static _Atomic bool ending;   /* the process exits: no new instance */
/* Instances of the parents of a forked child: never touched again (their
 * threads are gone), but kept reachable. */
static zmqsink_t *abandoned[8];
static unsigned nabandoned;
/* The instance at exit, flushed but never freed: kept reachable. */
static zmqsink_t *spent;

static __thread bool inside; /* this thread is in a zmqsink call */

/* libzmq's (or libc's) own definitions, found past this library. */
static void *real(const char *name)
{
    void *fn = dlsym(RTLD_NEXT, name);
    if (!fn) {
        fprintf(stderr, "zmqsink: %s not found past the preload library\n",
                name);
        abort();
    }
    return fn;
}

/* The definition past this library, looked up once per call site. */
#define REAL(name, type)                                                       \
    ({                                                                         \
        static _Atomic(void *) found;                                          \
        void *fn = atomic_load_explicit(&found, memory_order_relaxed);         \
        if (!fn) {                                                             \
            fn = real(#name);                                                  \
            atomic_store_explicit(&found, fn, memory_order_relaxed);           \
        }                                                                      \
        (type)fn;                                                              \
    })

/* ---- the instance ---- */

static zmqsink_t *instance_get(void *ctx)
{
    zmqsink_t *zs = atomic_load(&instance);
    if (zs)
        return zs;
    pthread_mutex_lock(&start_lock);
    zs = atomic_load(&instance);
    if (!zs && !start_failed && !atomic_load(&ending)) {
        char err[1024];
        const char *config = getenv("ZMQSINK_CONFIG");
        inside = true;
        int rc = zmqsink_start(&zs, ctx, config && *config ? config : NULL,
                               ZMQSINK_START_BACKGROUND, err, sizeof err);
        inside = false;
        if (rc == 0) {
            instance_pid = getpid();
            atomic_store(&instance, zs);
        } else {
            start_failed = true;
            fprintf(stderr, "zmqsink: %s; the program runs unmonitored\n", err);
        }
    }
    pthread_mutex_unlock(&start_lock);
    return zs;
}

/* Delivers what the sinks hold, in the process that started them, once.
 * Anywhere else (a vfork child sharing this memory until it execs or
 * exits) it touches nothing. It takes no lock: _exit() may come from a
 * signal handler. The instance is never freed: other threads of the
 * program may still be inside zmqsink while the process ends. */
static void instance_end(void)
{
    if (instance_pid != getpid())
        return;
    atomic_store(&ending, true);
    zmqsink_t *zs = atomic_load(&instance);
    if (!zs || !atomic_compare_exchange_strong(&instance, &zs, NULL))
        return;
    spent = zs;
    inside = true;
    zmqsink_exit_flush(zs);
}

/* ---- fork ---- */

/* Frees a map and the values it holds. */
static void map_free(zs__ptrmap_t *map)
{
    for (size_t i = 0; i < map->cap; i++)
        free(map->values[i]);
    zs__ptrmap_clear(map);
}

static void fork_prepare(void)
{
    pthread_mutex_lock(&start_lock);
    pthread_mutex_lock(&lock);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&lock);
    pthread_mutex_unlock(&start_lock);
}

/* The child has the parent's memory but none of its threads: zmqsink's
 * collector and sinks stayed behind, and the parent's sockets and
 * contexts are not the child's to use. It starts afresh. */
static void fork_child(void)
{
    pthread_mutex_init(&lock, NULL);
    pthread_mutex_init(&start_lock, NULL);
    zmqsink_t *zs = atomic_exchange(&instance, NULL);
    if (zs)
        abandoned[nabandoned++ % 8] = zs;
    instance_pid = 0;
    start_failed = false;
    atomic_store(&ending, false);
    failures = 0;
    map_free(&sockets);
    map_free(&contexts);
}

/* Leaves the children that PROGRAM executes unmonitored when `zmqsink run
 * --no-children` asked for it: this library leaves LD_PRELOAD. */
static void leave_environment(void)
{
    const char *no_children = getenv("ZMQSINK_NO_CHILDREN");
    const char *preload = getenv("LD_PRELOAD");
    Dl_info self;
    if (!no_children || !*no_children || !preload ||
        !dladdr((void *)leave_environment, &self) || !self.dli_fname)
        return;
    char kept[PATH_MAX * 4] = "";
    size_t len = 0;
    for (const char *p = preload; *p;) {
        size_t n = strcspn(p, ": ");
        if (n && (strncmp(p, self.dli_fname, n) != 0 ||
                  self.dli_fname[n] != '\0') &&
            len + n + 2 < sizeof kept)
            len += (size_t)snprintf(kept + len, sizeof kept - len, "%s%.*s",
                                    len ? ":" : "", (int)n, p);
        p += n + (p[n] != '\0');
    }
    if (len)
        setenv("LD_PRELOAD", kept, 1);
    else
        unsetenv("LD_PRELOAD");
}

__attribute__((constructor)) static void preload_begin(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    leave_environment();
}

__attribute__((destructor)) static void preload_end(void)
{
    instance_end();
}

void _exit(int status)
{
    if (!inside)
        instance_end();
    REAL(_exit, void (*)(int))(status);
    __builtin_unreachable();
}

void _Exit(int status)
{
    if (!inside)
        instance_end();
    REAL(_Exit, void (*)(int))(status);
    __builtin_unreachable();
}

/* ---- contexts and their socket limit ---- */

static context_t *context_of(void *ctx)
{
    context_t *c = zs__ptrmap_get(&contexts, ctx);
    if (!c && (c = calloc(1, sizeof *c))) {
        c->max_sockets = ZMQ_MAX_SOCKETS_DFLT;
        if (zs__ptrmap_put(&contexts, ctx, c) != 0) {
            free(c);
            c = NULL;
        }
    }
    return c;
}

/* Gives the context room for zmqsink's sockets beside max_sockets of the
 * program's (libzmq reads the limit when the first socket is made). */
static void context_make_room(void *ctx, int max_sockets)
{
    int room = REAL(zmq_ctx_get, int (*)(void *, int))(ctx, ZMQ_SOCKET_LIMIT);
    int want = max_sockets <= (room - 8) / SOCKETS_PER_SOCKET
                   ? max_sockets * SOCKETS_PER_SOCKET + 8
                   : room;
    if (want > max_sockets)
        REAL(zmq_ctx_set, int (*)(void *, int, int))(ctx, ZMQ_MAX_SOCKETS, want);
}

static void context_new(void *ctx)
{
    if (!ctx || inside)
        return;
    pthread_mutex_lock(&lock);
    context_of(ctx);
    pthread_mutex_unlock(&lock);
    context_make_room(ctx, ZMQ_MAX_SOCKETS_DFLT);
}

void *zmq_ctx_new(void)
{
    void *ctx = REAL(zmq_ctx_new, void *(*)(void))();
    context_new(ctx);
    return ctx;
}

void *zmq_init(int io_threads)
{
    void *ctx = REAL(zmq_init, void *(*)(int))(io_threads);
    context_new(ctx);
    return ctx;
}

int zmq_ctx_set(void *ctx, int option, int value)
{
    int (*set)(void *, int, int) = REAL(zmq_ctx_set, int (*)(void *, int, int));
    int rc = set(ctx, option, value);
    if (rc != 0 || option != ZMQ_MAX_SOCKETS || inside)
        return rc;
    int saved = errno;
    pthread_mutex_lock(&lock);
    context_t *c = context_of(ctx);
    if (c)
        c->max_sockets = value;
    pthread_mutex_unlock(&lock);
    context_make_room(ctx, value);
    errno = saved;
    return rc;
}

int zmq_ctx_get(void *ctx, int option)
{
    int rc = REAL(zmq_ctx_get, int (*)(void *, int))(ctx, option);
    if (rc < 0 || option != ZMQ_MAX_SOCKETS || inside)
        return rc;
    pthread_mutex_lock(&lock);
    const context_t *c = zs__ptrmap_get(&contexts, ctx);
    if (c)
        rc = c->max_sockets;
    pthread_mutex_unlock(&lock);
    return rc;
}

/* ---- sockets ---- */

void *zmq_socket(void *ctx, int type)
{
    void *(*make)(void *, int) = REAL(zmq_socket, void *(*)(void *, int));
    if (inside)
        return make(ctx, type);
    /* The slot is taken before the socket is made, so that two threads
     * at the limit cannot both pass it. */
    pthread_mutex_lock(&lock);
    context_t *c = zs__ptrmap_get(&contexts, ctx);
    if (c && c->sockets == 0 && c->limit == 0)
        c->limit = c->max_sockets;
    bool full = c && c->sockets >= c->limit;
    if (c && !full)
        c->sockets++;
    pthread_mutex_unlock(&lock);
    if (full) {
        errno = EMFILE; /* as libzmq says when its slots are taken */
        return NULL;
    }
    void *socket = make(ctx, type);
    int saved = errno;
    known_t *k = socket ? malloc(sizeof *k) : NULL;
    pthread_mutex_lock(&lock);
    if (k) {
        *k = (known_t){ctx, false};
        if (zs__ptrmap_put(&sockets, socket, k) != 0) {
            free(k);
            k = NULL;
        }
    }
    if (!socket && (c = zs__ptrmap_get(&contexts, ctx)) && c->sockets > 0)
        c->sockets--; /* the slot it took back */
    pthread_mutex_unlock(&lock);
    errno = saved;
    return socket;
}

/* Says why a socket cannot be monitored, the first few times. */
static void attach_failed(const char *endpoint, int rc)
{
    pthread_mutex_lock(&lock);
    unsigned n = ++failures;
    pthread_mutex_unlock(&lock);
    if (n <= FAILURES_SAID)
        fprintf(stderr, "zmqsink: cannot monitor the socket of %s: %s%s%s\n",
                endpoint, zmqsink_strerror(rc),
                rc == -ZMQSINK_EZMQ ? ": " : "",
                rc == -ZMQSINK_EZMQ ? zmq_strerror(errno) : "");
    if (n == FAILURES_SAID)
        fprintf(stderr, "zmqsink: further sockets that cannot be monitored "
                        "are not said\n");
}

/* Attaches a socket at its first endpoint that is not inproc. Returns the
 * instance when zmqsink monitors the socket, else NULL. */
static zmqsink_t *attach_first(void *socket, const char *endpoint)
{
    if (inside || !endpoint)
        return NULL;
    bool network = strncmp(endpoint, "inproc://", 9) != 0;
    pthread_mutex_lock(&lock);
    known_t *k = zs__ptrmap_get(&sockets, socket);
    void *ctx = k ? k->ctx : NULL;
    bool first = k && network && !k->attached;
    if (first)
        k->attached = true;
    bool attached = k && k->attached;
    pthread_mutex_unlock(&lock);
    if (!attached)
        return NULL;
    zmqsink_t *zs = instance_get(ctx);
    if (zs && first) {
        inside = true;
        int rc = zmqsink_attach_endpoint(zs, ctx, socket, endpoint);
        inside = false;
        if (rc != 0)
            attach_failed(endpoint, rc);
    }
    return zs;
}

int zmq_bind(void *socket, const char *endpoint)
{
    int (*bind)(void *, const char *) =
        REAL(zmq_bind, int (*)(void *, const char *));
    if (inside)
        return bind(socket, endpoint);
    int saved = errno;
    zmqsink_t *zs = attach_first(socket, endpoint);
    if (!zs) { /* not attached, but zmqsink may serve its own monitor */
        pthread_mutex_lock(&lock);
        bool known = zs__ptrmap_get(&sockets, socket) != NULL;
        pthread_mutex_unlock(&lock);
        zs = known ? atomic_load(&instance) : NULL;
    }
    errno = saved;
    if (!zs)
        return bind(socket, endpoint);
    inside = true;
    int rc = zmqsink_bind(zs, socket, endpoint); /* errno as zmq_bind() */
    inside = false;
    return rc == 0 ? 0 : -1;
}

int zmq_connect(void *socket, const char *endpoint)
{
    int saved = errno;
    attach_first(socket, endpoint);
    errno = saved;
    return REAL(zmq_connect, int (*)(void *, const char *))(socket, endpoint);
}

int zmq_close(void *socket)
{
    if (!inside) {
        int saved = errno;
        pthread_mutex_lock(&lock);
        known_t *k = zs__ptrmap_remove(&sockets, socket);
        context_t *c = k ? zs__ptrmap_get(&contexts, k->ctx) : NULL;
        if (c && c->sockets > 0)
            c->sockets--;
        pthread_mutex_unlock(&lock);
        zmqsink_t *zs = k ? atomic_load(&instance) : NULL;
        if (zs) {
            inside = true;
            zmqsink_socket_closed(zs, socket);
            inside = false;
        }
        free(k);
        errno = saved;
    }
    return REAL(zmq_close, int (*)(void *))(socket);
}

/* ---- the program's own monitors ---- */

static int monitor(void *socket, const char *endpoint, uint64_t events,
                   int version, int type)
{
    pthread_mutex_lock(&lock);
    const known_t *k = zs__ptrmap_get(&sockets, socket);
    void *ctx = k ? k->ctx : NULL;
    pthread_mutex_unlock(&lock);
    zmqsink_t *zs = ctx ? instance_get(ctx) : NULL;
    if (!zs)
        return -2; /* zmqsink has no part in it: libzmq's own */
    inside = true;
    int rc = zmqsink_socket_monitor_versioned(zs, ctx, socket, endpoint,
                                              events, version, type);
    inside = false;
    return rc == 0 ? 0 : -1;
}

int zmq_socket_monitor(void *socket, const char *endpoint, int events)
{
    int rc = inside ? -2 : monitor(socket, endpoint, (uint64_t)events, 1,
                                   ZMQ_PAIR);
    if (rc != -2)
        return rc;
    return REAL(zmq_socket_monitor, int (*)(void *, const char *, int))(
        socket, endpoint, events);
}

#ifdef HAVE_ZMQ_SOCKET_MONITOR_VERSIONED
int zmq_socket_monitor_versioned(void *socket, const char *endpoint,
                                 uint64_t events, int event_version, int type)
{
    int rc = inside ? -2 : monitor(socket, endpoint, events, event_version,
                                   type);
    if (rc != -2)
        return rc;
    return REAL(zmq_socket_monitor_versioned,
                int (*)(void *, const char *, uint64_t, int, int))(
        socket, endpoint, events, event_version, type);
}
#endif

/* ---- context termination ---- */

/* Lets the monitors of the context's closed sockets deliver their last
 * events before the context ends; sockets still open (other threads' to
 * be woken by the termination) are not waited for. */
static void settle(void *ctx)
{
    zmqsink_t *zs = atomic_load(&instance);
    if (!zs || inside)
        return;
    int saved = errno;
    zmqsink_stats_t before = {0}, after = {0}; /* the counters, no sink's */
    zmqsink_stats(zs, &before);
    for (int round = 0; round < SETTLE_ROUNDS; round++) {
        if (zmqsink_settle_closed(zs, ctx, SETTLE_MS) == 0)
            break;
        zmqsink_stats(zs, &after);
        if (after.events == before.events)
            break; /* nothing read for SETTLE_MS: give up */
        before = after;
    }
    errno = saved;
}

static int terminated(void *ctx, int rc)
{
    if (rc == 0) {
        int saved = errno;
        pthread_mutex_lock(&lock);
        free(zs__ptrmap_remove(&contexts, ctx));
        pthread_mutex_unlock(&lock);
        errno = saved;
    }
    return rc;
}

int zmq_ctx_term(void *ctx)
{
    if (inside) /* zmqsink's own, or zmq_ctx_destroy()'s */
        return REAL(zmq_ctx_term, int (*)(void *))(ctx);
    settle(ctx);
    return terminated(ctx, REAL(zmq_ctx_term, int (*)(void *))(ctx));
}

/* libzmq's zmq_ctx_destroy() and zmq_term() call zmq_ctx_term(), which
 * comes back here: the settling is done once, outside. */
static int terminate_once(void *ctx, int (*term)(void *))
{
    settle(ctx);
    bool was_inside = inside;
    inside = true;
    int rc = term(ctx);
    inside = was_inside;
    return terminated(ctx, rc);
}

int zmq_ctx_destroy(void *ctx)
{
    return terminate_once(ctx, REAL(zmq_ctx_destroy, int (*)(void *)));
}

int zmq_term(void *ctx)
{
    return terminate_once(ctx, REAL(zmq_term, int (*)(void *)));
}
