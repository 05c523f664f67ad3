/* The monotonic clock in nanoseconds: the one time base of timers,
 * deadlines, backoffs and tick(). Part of common/, the sources shared by
 * the core, the plugins and the tools. */
#ifndef ZS_COMMON_CLOCK_H
#define ZS_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

#define CLOCK_NS_PER_MS INT64_C(1000000)
#define CLOCK_NS_PER_S INT64_C(1000000000)

/* Nanoseconds of CLOCK_MONOTONIC: never jumps, counts from an arbitrary
 * start. Any thread. */
static inline int64_t clock_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * CLOCK_NS_PER_S + ts.tv_nsec;
}

#endif
