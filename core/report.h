/* What zmqsink says of itself while it runs: losses logged as they happen
 * (a sink's first at once, then at most one line per stats.interval with
 * the counts since the last), a json file of the counters rewritten every
 * stats.interval, and at shutdown one line per sink that lost anything.
 * One thread per instance, apart from the collector so that neither a
 * slow disk nor a full stderr pipe can hold the monitors' reader. It
 * sleeps until something is due: the stats file, a loss not yet said. */
#ifndef ZS_REPORT_H
#define ZS_REPORT_H

#include <stddef.h>

#include "internal.h"

typedef struct zs__report zs__report_t;

/* Starts reporting on zs. Returns NULL with a message in err. */
zs__report_t *zs__report_new(zmqsink_t *zs, char *err, size_t errlen);

/* Has the report thread look at the counters and settings now (after a
 * reload). Never waits. */
void zs__report_poke(zmqsink_t *zs);

/* Tells the report thread, if it sleeps with nothing due, that a sink
 * counted a loss (dropped or failed), so that it is said at once. Any
 * thread; cheap when the thread is awake already. */
void zs__report_loss(zmqsink_t *zs);

/* Has the thread say the last word (the stats file, a line per sink that
 * lost anything) with the counters as they are, and end; waits for it
 * until deadline_ns (monotonic) at most, polling: no lock is taken on the
 * calling thread, which may be in a signal handler. */
void zs__report_last(zs__report_t *r, int64_t deadline_ns);

/* Stops the thread (the instance is being destroyed). Idempotent. */
void zs__report_stop(zs__report_t *r);

/* Stops the thread, then says the last word with the final counters:
 * the stats file once more, and a line per sink that dropped or failed
 * anything. Sets *r to NULL; NULL is a no-op. */
void zs__report_destroy(zs__report_t **r, const zmqsink_stats_t *final);

/* Writes the counters as json to path ("{pid}" stands for the process id;
 * relative to dir unless absolute), whole under a temporary name renamed
 * over it. Returns 0, or -1 with the reason in err. */
int zs__report_write_stats(const zmqsink_stats_t *stats, const char *path,
                           const char *dir, char *err, size_t errlen);

#endif
