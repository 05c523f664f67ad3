/* What zmqsink says of itself while it runs: losses logged as they happen
 * (a sink's first at once, then at most one line per stats.interval with
 * the counts since the last), a json file of the counters rewritten every
 * stats.interval, and at shutdown one line per sink that lost anything.
 * One thread per instance, apart from the collector so that neither a
 * slow disk nor a full stderr pipe can hold the monitors' reader. It
 * starts only when it has something to say while the instance runs (a
 * stats file is named, a sink lost an event), and sleeps until something
 * is due: the stats file, a loss not yet said. At exit without it, the
 * collector says the last word itself: the program is ending, and its
 * monitors are read no more anyway. */
#ifndef ZS_REPORT_H
#define ZS_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

typedef struct zs__report zs__report_t;

/* Reporting on zs, without a thread yet. Returns NULL when out of
 * memory. */
zs__report_t *zs__report_new(zmqsink_t *zs);

/* Starts the thread if the settings name a stats file; otherwise the
 * first loss starts it. Call once zs's collector exists. Returns 0, or -1
 * with a message in err. */
int zs__report_start(zs__report_t *r, char *err, size_t errlen);

/* Has the report thread look at the counters and settings now (after a
 * reload), starting it if a stats file is newly named. Never waits. */
void zs__report_poke(zs__report_t *r);

/* Tells the report thread that a sink counted a loss (dropped or failed),
 * so that it is said at once, starting the thread on the first. Any
 * thread; cheap when the thread is awake already. */
void zs__report_loss(zs__report_t *r);

/* The last word (the stats file, a line per sink that lost anything,
 * with the counters as they are), asked once at exit, in three steps, all
 * without a lock on the calling thread, which may be in a signal handler:
 * zs__report_ask_last() asks the report thread, and returns false when
 * none runs (none will start now), or when one is still being started at
 * deadline_ns (monotonic): then another thread that is running is to call
 * zs__report_say_last(). zs__report_wait_last() polls until it is said or
 * deadline_ns has passed. */
bool zs__report_ask_last(zs__report_t *r, int64_t deadline_ns);
void zs__report_say_last(zs__report_t *r);
void zs__report_wait_last(zs__report_t *r, int64_t deadline_ns);

/* Stops the thread, if it runs (the instance is being destroyed), and
 * keeps any from starting. Idempotent. */
void zs__report_stop(zs__report_t *r);

/* Stops the thread, then, if zs__report_start() succeeded, says the last
 * word with the final counters: the stats file once more, and a line per
 * sink that dropped or failed anything. The report stays allocated, for
 * a sink left running (zs__report_loss()), until the instance is freed
 * with free(). NULL is a no-op. */
void zs__report_finish(zs__report_t *r, const zmqsink_stats_t *final);

/* Writes the counters as json to path ("{pid}" stands for the process id;
 * relative to dir unless absolute), whole under a temporary name renamed
 * over it. Returns 0, or -1 with the reason in err. */
int zs__report_write_stats(const zmqsink_stats_t *stats, const char *path,
                           const char *dir, char *err, size_t errlen);

#endif
