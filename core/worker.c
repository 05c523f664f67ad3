/* Sink workers: one thread per sink that opens it, feeds it batches from
 * its ring, ticks its timers, and flushes and closes it at shutdown. */
#include "worker.h"

#include <errno.h>
#include <stdbool.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "backoff.h"
#include "report.h"
#include "sinkset.h"
#include "clock.h"

#define ZS__WORKER_STOP 1u
#define ZS__WORKER_REOPEN 2u

enum {
    BATCH_MAX = 1024,                 /* events per write() */
    TICK_NS = 100 * 1000 * 1000,      /* tick() period */
    BACKOFF_MIN_NS = 10 * 1000 * 1000,
    BACKOFF_MAX_NS = 2000 * 1000 * 1000,
};

/* What a new thread runs. It names itself first, so that it has its name
 * before it does anything, and its creator names it too, so that it has
 * its name once zs__thread_create() returns. */
typedef struct thread_start {
    void *(*run)(void *);
    void *arg;
    char name[16]; /* the kernel's limit, NUL included */
} thread_start_t;

static void *thread_named(void *arg)
{
    thread_start_t start = *(thread_start_t *)arg;
    free(arg);
    pthread_setname_np(pthread_self(), start.name);
    return start.run(start.arg);
}

int zs__thread_create(pthread_t *thread, const char *name,
                      void *(*run)(void *), void *arg)
{
    thread_start_t *start = malloc(sizeof *start);
    if (!start)
        return ENOMEM;
    *start = (thread_start_t){.run = run, .arg = arg};
    snprintf(start->name, sizeof start->name, "%s", name);
    char cut[sizeof start->name]; /* start is the thread's once it runs */
    strcpy(cut, start->name);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(thread, NULL, thread_named, start);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        free(start);
    else
        pthread_setname_np(*thread, cut);
    return rc;
}

void zs__pause(void)
{
    struct timespec pause = {0, 2 * 1000 * 1000};
    nanosleep(&pause, NULL);
}

void zs__futex_wait(_Atomic uint32_t *word, uint32_t expected,
                    int64_t timeout_ns)
{
    if (timeout_ns <= 0)
        return;
    struct timespec ts = {.tv_sec = timeout_ns / 1000000000,
                          .tv_nsec = timeout_ns % 1000000000};
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, expected,
            timeout_ns == INT64_MAX ? NULL : &ts, NULL, 0);
}

void zs__futex_wake(_Atomic uint32_t *word)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Idles until the collector pushes, a control bit is set, or timeout. The
 * fence pairs with the one in zs__worker_wake(): either the producer sees
 * sleeping == 1 or this side sees the pushed event. */
static void worker_idle(zs__sink_t *sink, int64_t timeout_ns)
{
    atomic_store_explicit(&sink->sleeping, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    if (zs__ring_depth(sink->ring) == 0 &&
        atomic_load_explicit(&sink->control, memory_order_relaxed) == 0)
        zs__futex_wait(&sink->sleeping, 1, timeout_ns);
    atomic_store_explicit(&sink->sleeping, 0, memory_order_relaxed);
}

void zs__worker_wake(zs__sink_t *const *sinks, size_t nsinks, uint64_t mask)
{
    if (!mask)
        return;
    atomic_thread_fence(memory_order_seq_cst);
    for (size_t i = 0; i < nsinks; i++)
        if ((mask >> i & 1) &&
            atomic_load_explicit(&sinks[i]->sleeping, memory_order_relaxed)) {
            atomic_store_explicit(&sinks[i]->sleeping, 0, memory_order_relaxed);
            zs__futex_wake(&sinks[i]->sleeping);
        }
}

static void worker_signal(zs__sink_t *sink, uint32_t bit)
{
    atomic_fetch_or(&sink->control, bit);
    zs__futex_wake(&sink->control);
    atomic_store(&sink->sleeping, 0);
    zs__futex_wake(&sink->sleeping);
}

void zs__worker_reopen(zs__sink_t *sink)
{
    worker_signal(sink, ZS__WORKER_REOPEN);
}

bool zs__sink_counts_delivered(const zs__sink_t *sink)
{
    const zmqsink_plugin_t *desc = sink->plugin.desc;
    return desc && desc->abi_minor >= 4 &&
           (desc->flags & ZMQSINK_PLUGIN_COUNTS_DELIVERED);
}

bool zs__sink_ticks_on_request(const zs__sink_t *sink)
{
    const zmqsink_plugin_t *desc = sink->plugin.desc;
    return desc && desc->abi_minor >= 5 &&
           (desc->flags & ZMQSINK_PLUGIN_TICKS_ON_REQUEST);
}

void zs__sink_request_tick(zs__sink_t *sink, int64_t when_ns)
{
    if (zs__sink_ticks_on_request(sink) && sink->plugin.desc->tick &&
        when_ns < sink->tick_at_ns)
        sink->tick_at_ns = when_ns;
}

/* Events the plugin took and has not yet reported: exact on the sink's
 * thread, the only writer of all but the ring's pushed count. */
static uint64_t sink_held(const zs__sink_t *sink)
{
    return zs__ring_released(sink->ring) -
           (zs__counter_get(&sink->delivered) -
            zs__counter_get(&sink->revoked)) -
           zs__counter_get(&sink->failed) -
           zs__counter_get(&sink->dropped_shutdown);
}

void zs__sink_count_delivered(zs__sink_t *sink, uint64_t n)
{
    if (sink->in_write) {
        sink->write_delivered += n;
        return;
    }
    uint64_t held = sink_held(sink);
    zs__counter_add(&sink->delivered, n < held ? n : held);
}

void zs__sink_count_lost(zs__sink_t *sink, uint64_t n, zs__counter_t *lost)
{
    if (sink->in_write && lost == &sink->failed) {
        sink->write_failed += n;
        return;
    }
    uint64_t held = sink_held(sink);
    uint64_t from_held = n < held ? n : held, from_delivered = 0;
    if (!zs__sink_counts_delivered(sink)) {
        uint64_t counted = zs__counter_get(&sink->delivered) -
                           zs__counter_get(&sink->revoked);
        from_delivered = n - from_held;
        if (from_delivered > counted)
            from_delivered = counted;
        /* Revoked before counted lost: a reader that sees the loss sees
         * the revocation too (zs__sink_stats()). */
        zs__counter_add(&sink->revoked, from_delivered);
    }
    zs__counter_add(lost, from_held + from_delivered);
    if (lost == &sink->failed)
        zs__report_loss(sink->owner->report);
}

/* Offers the oldest events to the plugin. Returns what write() said, or
 * ZMQSINK_WRITE_OK with nothing done when the ring is empty. The batch
 * leaves the ring before anything counts it: see zs__sink_t. */
static zmqsink_write_result_t worker_deliver(zs__sink_t *sink, size_t *count)
{
    const zmqsink_event_t *first;
    size_t n = zs__ring_peek(sink->ring, &first);
    *count = n;
    if (n == 0)
        return ZMQSINK_WRITE_OK;
    if (n > BATCH_MAX)
        *count = n = BATCH_MAX;
    sink->in_write = true;
    zmqsink_write_result_t result =
        sink->plugin.desc->write(sink->state, first, n);
    sink->in_write = false;
    if (result != ZMQSINK_WRITE_RETRY) {
        zs__ring_release(sink->ring, n);
        if (result != ZMQSINK_WRITE_OK) {
            zs__counter_add(&sink->failed, n);
            zs__report_loss(sink->owner->report);
        }
        else if (!zs__sink_counts_delivered(sink))
            zs__counter_add(&sink->delivered, n);
    }
    uint64_t delivered = sink->write_delivered, failed = sink->write_failed;
    sink->write_delivered = sink->write_failed = 0;
    if (delivered)
        zs__sink_count_delivered(sink, delivered);
    if (failed)
        zs__sink_count_lost(sink, failed, &sink->failed);
    return result;
}

/* Ticks the plugin when its time has come: every TICK_NS, or when it
 * asked (the request is consumed first, so that tick() may ask again). */
static void worker_tick(zs__sink_t *sink)
{
    int64_t now = clock_now_ns();
    if (now < sink->tick_at_ns)
        return;
    sink->tick_at_ns = zs__sink_ticks_on_request(sink) ? INT64_MAX
                                                       : now + TICK_NS;
    sink->plugin.desc->tick(sink->state, now);
}

/* How long the worker may sleep before its next tick. */
static int64_t worker_until_tick(const zs__sink_t *sink)
{
    return sink->tick_at_ns == INT64_MAX ? INT64_MAX
                                         : sink->tick_at_ns - clock_now_ns();
}

static void worker_reopen_if_asked(zs__sink_t *sink)
{
    uint32_t control = atomic_load(&sink->control);
    if (!(control & ZS__WORKER_REOPEN))
        return;
    atomic_fetch_and(&sink->control, ~ZS__WORKER_REOPEN);
    if (sink->plugin.desc->reopen)
        sink->plugin.desc->reopen(sink->state);
}

/* Backs off after a retry-later, waking early to stop or reopen; while
 * stopping, sleeps the whole backoff (the stop bit is already set). */
static void worker_backoff(zs__sink_t *sink, backoff_t *backoff,
                           int64_t limit_ns)
{
    int64_t wait = backoff_next(backoff);
    if (wait > limit_ns)
        wait = limit_ns;
    if (atomic_load(&sink->control) & ZS__WORKER_STOP) {
        if (wait > 0) {
            struct timespec pause = {.tv_sec = wait / 1000000000,
                                     .tv_nsec = wait % 1000000000};
            nanosleep(&pause, NULL);
        }
    } else {
        zs__futex_wait(&sink->control, 0, wait);
    }
}

static void worker_run(zs__sink_t *sink)
{
    backoff_t backoff;
    backoff_init(&backoff, BACKOFF_MIN_NS, BACKOFF_MAX_NS);
    while (!(atomic_load(&sink->control) & ZS__WORKER_STOP)) {
        worker_reopen_if_asked(sink);
        size_t n;
        zmqsink_write_result_t result = worker_deliver(sink, &n);
        worker_tick(sink);
        if (result == ZMQSINK_WRITE_RETRY)
            worker_backoff(sink, &backoff, BACKOFF_MAX_NS);
        else if (n == 0)
            worker_idle(sink, worker_until_tick(sink));
        else
            backoff_reset(&backoff);
    }
}

/* At shutdown: delivers what is queued until the deadline, then counts
 * whatever is left, in the ring or in the plugin, as dropped. */
static void worker_drain(zs__sink_t *sink)
{
    int64_t deadline = atomic_load(&sink->deadline_ns);
    if (!zs__sink_ticks_on_request(sink) && sink->tick_at_ns != INT64_MAX)
        sink->tick_at_ns = 0; /* at the first retry */
    backoff_t backoff;
    backoff_init(&backoff, BACKOFF_MIN_NS, BACKOFF_MAX_NS);
    for (;;) {
        /* Past the deadline, or left behind by its join (the caller was
         * told it is over): not one more write(). */
        if (clock_now_ns() >= deadline || atomic_load(&sink->abandoned))
            break;
        size_t n;
        zmqsink_write_result_t result = worker_deliver(sink, &n);
        if (n == 0)
            break;
        if (result == ZMQSINK_WRITE_RETRY) {
            worker_tick(sink);
            worker_backoff(sink, &backoff, deadline - clock_now_ns());
        }
    }
    /* What is left in the ring leaves it as dropped; what the plugin
     * cannot flush is dropped from what it holds. */
    const zmqsink_event_t *first;
    size_t left;
    while ((left = zs__ring_peek(sink->ring, &first)) > 0) {
        zs__ring_release(sink->ring, left);
        zs__counter_add(&sink->dropped_shutdown, left);
    }
    if (sink->plugin.desc->flush && !atomic_load(&sink->abandoned))
        zs__sink_count_lost(sink, sink->plugin.desc->flush(sink->state, deadline),
                            &sink->dropped_shutdown);
}

/* The stand-in for a sink started in the background whose plugin could
 * not be loaded or opened: it fails every event, so that each is counted. */
static void *unopened_open(const zmqsink_host_t *host, char *err, size_t len)
{
    return NULL;
}

static zmqsink_write_result_t unopened_write(void *state,
                                             const zmqsink_event_t *events,
                                             size_t n)
{
    return ZMQSINK_WRITE_FAILED;
}

static void unopened_close(void *state)
{
}

static const zmqsink_plugin_t unopened_plugin = {
    ZMQSINK_PLUGIN_DESCRIPTOR_INIT,
    .name = "unopened",
    .open = unopened_open,
    .write = unopened_write,
    .close = unopened_close,
};

/* Loads (in the background) and opens the plugin. Returns its state, or
 * NULL with the reason in sink->open_error. */
static void *worker_open(zs__sink_t *sink)
{
    sink->open_error[0] = '\0';
    if (sink->prepare &&
        sink->prepare(sink, sink->open_error, sizeof sink->open_error) != 0)
        return NULL;
    void *state = sink->plugin.desc->open(&sink->host, sink->open_error,
                                          sizeof sink->open_error);
    if (!state && !sink->open_error[0])
        snprintf(sink->open_error, sizeof sink->open_error, "open() failed");
    return state;
}

/* Whether the sink's open error already names a place in its config
 * ("FILE:LINE:COL: ..."), as those of loading the plugin and checking its
 * options do, at the key at fault rather than at the sink's name. */
static bool error_is_placed(const zs__sink_t *sink)
{
    const char *path = sink->config ? sink->config->path : NULL;
    size_t len = path ? strlen(path) : 0;
    unsigned line, col;
    int end = 0;
    return len && strncmp(sink->open_error, path, len) == 0 &&
           sscanf(sink->open_error + len, ":%u:%u:%n", &line, &col, &end) ==
               2 &&
           end > 0;
}

_Thread_local const zs__sink_t *zs__worker_self;

static void *worker_main(void *arg)
{
    zs__sink_t *sink = arg;
    zs__worker_self = sink;
    sink->tick_at_ns = INT64_MAX; /* asked for in open(), or set below */
    bool background = atomic_load(&sink->opening);
    sink->state = worker_open(sink);
    if (!sink->state && background) {
        bool placed = error_is_placed(sink);
        zs__log(ZMQSINK_SEV_ERR, "%s%s%s; its events are counted as failed",
                placed ? "" : sink->origin, placed ? "" : ": ",
                sink->open_error);
        sink->plugin.desc = &unopened_plugin;
        sink->state = (void *)&unopened_plugin;
        sink->tick_at_ns = INT64_MAX;
        atomic_store(&sink->unopened, 1);
    }
    void *state = sink->state;
    atomic_store(&sink->opening, 0);
    if (!background)
        sem_post(&sink->opened);
    if (!state)
        return NULL;
    if (sink->plugin.desc->tick && !zs__sink_ticks_on_request(sink))
        sink->tick_at_ns = clock_now_ns() + TICK_NS;
    worker_run(sink);
    worker_drain(sink);
    sink->plugin.desc->close(sink->state);
    sink->state = NULL;
    /* Whatever the plugin still held when it was closed is lost. */
    if (zs__sink_counts_delivered(sink))
        zs__sink_count_lost(sink, sink_held(sink), &sink->dropped_shutdown);
    zs__worker_self = NULL;
    zs__stuck_finished(sink, sink->owner); /* the last touch of sink */
    return NULL;
}

/* "zs:" and the sink's name, cut to what a thread name holds: what top -H
 * and ps -L show. */
static const char *sink_thread_name(zs__sink_t *sink)
{
    snprintf(sink->thread_name, sizeof sink->thread_name, "zs:%.12s", sink->name);
    return sink->thread_name;
}

int zs__worker_start(zs__sink_t *sink, char *err, size_t errlen)
{
    int rc = sem_init(&sink->opened, 0, 0) != 0
                 ? errno
                 : zs__thread_create(&sink->thread, sink_thread_name(sink),
                                     worker_main, sink);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start a thread: %s", strerror(rc));
        return -1;
    }
    while (sem_wait(&sink->opened) != 0 && errno == EINTR)
        ;
    sem_destroy(&sink->opened);
    if (sink->state)
        return 0;
    pthread_join(sink->thread, NULL);
    snprintf(err, errlen, "%s", sink->open_error);
    return -1;
}

int zs__worker_start_background(zs__sink_t *sink, char *err, size_t errlen)
{
    atomic_store(&sink->opening, 1);
    int rc = zs__thread_create(&sink->thread, sink_thread_name(sink),
                               worker_main, sink);
    if (rc != 0) {
        atomic_store(&sink->opening, 0);
        snprintf(err, errlen, "cannot start a thread: %s", strerror(rc));
        return -1;
    }
    return 0;
}

void zs__worker_stop(zs__sink_t *sink, int64_t deadline_ns)
{
    atomic_store(&sink->deadline_ns, deadline_ns);
    worker_signal(sink, ZS__WORKER_STOP);
}

int zs__worker_join(zs__sink_t *sink)
{
    /* A plugin stuck in write() must not hold the application: wait for
     * the thread a little past the deadline (flush may use it all), then
     * leave it behind. */
    int64_t give_up = atomic_load(&sink->deadline_ns) + 1000 * 1000 * 1000LL;
    while (atomic_load(&sink->finished) != 1 && clock_now_ns() < give_up)
        zs__pause();
    if (atomic_load(&sink->finished) != 1) {
        atomic_store(&sink->abandoned, 1);
        pthread_detach(sink->thread);
        return -1;
    }
    pthread_join(sink->thread, NULL);
    return 0;
}
