/* The sinks of an instance and the sets they form (core/sinkset.c). */
#ifndef ZS_SINKSET_H
#define ZS_SINKSET_H

#include <stdbool.h>

#include "internal.h"

/* A sink named name, taking events (a mask of types), with its ring and
 * host table but no plugin yet. Returns NULL when out of memory. */
zs__sink_t *zs__sink_new(zmqsink_t *zs, const zs__config_t *config,
                         const char *name, uint32_t events);

/* Frees a sink whose thread has ended, or never started. NULL: no-op. */
void zs__sink_free(zs__sink_t *sink);

/* Runs the plugin's check() (ABI 1.7), when it has one, on options, the
 * sink's options as validated against the plugin's table. Opens nothing.
 * Returns 0, or -ZMQSINK_ECONFIG with "FILE:LINE:COL: sink 'NAME': ..."
 * in err, at the option (or entry of one) that check() named. */
int zs__sink_check(const zs__config_t *config, const zs__sink_config_t *sc,
                   const zs__plugin_t *plugin, zs__options_t *options,
                   char *err, size_t errlen);

/* Makes the sink a config describes and starts it (its worker runs, but
 * nothing routes to it yet): loaded, checked and opened before this
 * returns, or, in the background, by its own thread. Returns it, or NULL
 * with "FILE:LINE:COL: sink 'NAME': ..." in err and *rc set. */
zs__sink_t *zs__sink_open(zmqsink_t *zs, const zs__config_t *config,
                          const zs__sink_config_t *sc, bool background,
                          int *rc, char *err, size_t errlen);

/* Stops the sinks against one deadline, so that they drain in parallel,
 * frees them and reports what did not make it. A sink still busy in its
 * plugin is left running, in zs->stuck. stats, when not NULL, receives
 * each one's final counters. */
void zs__sinks_stop(zmqsink_t *zs, zs__sink_t *const *sinks, size_t n,
                    int64_t deadline, zmqsink_sink_stats_t *stats);

/* Frees the sinks left running that have finished since. Returns how many
 * are still busy. */
size_t zs__stuck_reap(zmqsink_t *zs);

/* At the end of zmqsink_destroy(), with sinks in zs->stuck still busy in
 * their plugins: they may reach the instance until they finish, so the
 * last of them to finish frees it (zs__stuck_finished()). */
void zs__stuck_orphan(zmqsink_t *zs);

/* A sink's thread, as its very last step: marks the sink finished and,
 * if its instance was destroyed while it ran, takes it off the instance's
 * count, freeing the instance (this sink with it) when it was the last.
 * owner is sink->owner, read before: sink may be freed as soon as it is
 * marked. */
void zs__stuck_finished(zs__sink_t *sink, zmqsink_t *owner);

/* The counters of one sink, now. Any thread. */
void zs__sink_stats(const zs__sink_t *sink, zmqsink_sink_stats_t *out);

/* An empty set following prev (NULL for the first), with config. */
zs__sinkset_t *zs__set_new(const zs__sinkset_t *prev, zs__config_t *config);

/* The sink of set named name, or NULL. */
zs__sink_t *zs__set_find(const zs__sinkset_t *set, const char *name);

/* Has the collector route to set from its next event on, then makes set
 * and its config the instance's; frees the set and config they replace.
 * Under zs->change_lock. */
void zs__set_publish(zmqsink_t *zs, zs__sinkset_t *set);

/* Fills set from config: the sinks of old it keeps, new ones opened, then
 * old's callback sinks. kept[i] tells which of old's stay. Returns 0, or a
 * negated zmqsink_err_t with err (the sinks it opened are then closed). */
int zs__set_fill(zmqsink_t *zs, zs__sinkset_t *set, const zs__sinkset_t *old,
                 const zs__config_t *config, bool *kept, char *err,
                 size_t errlen);

/* Waits until the sinks started in the background are open (or failed):
 * until then they read the config that a reload would free. Returns NULL,
 * or the first sink still opening at deadline_ns (monotonic). */
const zs__sink_t *zs__sinks_wait_opened(const zs__sinkset_t *set,
                                        int64_t deadline_ns);

#endif
