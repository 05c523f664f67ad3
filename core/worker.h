/* Sink workers: one thread per sink that opens it, feeds it batches from
 * its ring, ticks its timers, and flushes and closes it at shutdown. */
#ifndef ZS_WORKER_H
#define ZS_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* Starts the sink's thread and waits until the plugin's open() returned.
 * Returns 0, or -1 with open()'s message in err (the thread has ended). */
int zs__worker_start(zs__sink_t *sink, char *err, size_t errlen);

/* Starts the sink's thread and returns at once: the thread runs
 * sink->prepare (when set) and open(), while the collector already
 * queues events in the ring. A sink that cannot open says why in the log
 * and counts every event routed to it as failed. Returns 0, or -1 with
 * the reason in err (no thread). */
int zs__worker_start_background(zs__sink_t *sink, char *err, size_t errlen);

/* Producer side, after a round of pushes: wakes the workers of the sinks
 * whose bit is set in mask if they sleep. One fence for the whole round. */
void zs__worker_wake(zs__sink_t *const *sinks, size_t nsinks, uint64_t mask);

/* Asks the worker to call the plugin's reopen(). Any thread. */
void zs__worker_reopen(zs__sink_t *sink);

/* Tells the worker to deliver what is left in its ring until deadline_ns
 * (monotonic), then flush and close the plugin. Returns at once. */
void zs__worker_stop(zs__sink_t *sink, int64_t deadline_ns);

/* Waits for a stopped worker to end. Returns 0, or -1 if the plugin was
 * still busy a second past the deadline: the thread is then left running
 * and the sink must not be freed. */
int zs__worker_join(zs__sink_t *sink);

/* Whether the sink's plugin reports its deliveries (count_delivered())
 * rather than having write() returning OK count them. */
bool zs__sink_counts_delivered(const zs__sink_t *sink);

/* The plugin's count_delivered(): up to n of the events it holds count as
 * delivered. Sink's thread; inside write(), once its batch is taken. */
void zs__sink_count_delivered(zs__sink_t *sink, uint64_t n);

/* The plugin's count_failed(), and flush()'s undelivered: up to n of the
 * events it holds (or, for a plugin that does not report deliveries, of
 * those counted delivered) count in lost (failed or dropped_shutdown).
 * Sink's thread; inside write(), once its batch is taken. */
void zs__sink_count_lost(zs__sink_t *sink, uint64_t n, zs__counter_t *lost);

/* Whether the sink's plugin is ticked only when it asks (tick_at()). */
bool zs__sink_ticks_on_request(const zs__sink_t *sink);

/* The plugin's tick_at(): the next tick() at when_ns or soon after, unless
 * an earlier one is asked already. Sink's thread. */
void zs__sink_request_tick(zs__sink_t *sink, int64_t when_ns);

/* The sink whose worker thread this is, or NULL on any other thread. */
extern _Thread_local const zs__sink_t *zs__worker_self;

/* Whether the calling thread is a sink worker of zs: changes to zs's
 * sinks and its destroy, which wait for those threads, refuse there. */
static inline bool zs__on_worker_of(const zmqsink_t *zs)
{
    return zs__worker_self && zs__worker_self->owner == zs;
}

/* pthread_create() with every signal blocked in the new thread: the
 * application's handlers run on its own threads, and a plugin writing to a
 * closed pipe gets EPIPE instead of a SIGPIPE that ends the process.
 * The thread is named name, cut to 15 bytes (top -H and ps -L show it).
 * Returns 0 or an errno value. */
int zs__thread_create(pthread_t *thread, const char *name,
                      void *(*run)(void *), void *arg);

/* Sleeps a moment (2 ms) between two looks at a condition that another
 * thread changes. Async-signal-safe. */
void zs__pause(void);

/* Sleeps while *word == expected, at most timeout_ns (<= 0: no wait;
 * INT64_MAX: no limit). */
void zs__futex_wait(_Atomic uint32_t *word, uint32_t expected,
                    int64_t timeout_ns);

/* Wakes one thread sleeping on word. */
void zs__futex_wake(_Atomic uint32_t *word);

#endif
