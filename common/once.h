/* Failure streaks logged once: a sink that fails again and again (a full
 * disk, a server away) logs the first failure of a streak and, if it
 * wants, its end, never every attempt. Part of common/. */
#ifndef ZS_COMMON_ONCE_H
#define ZS_COMMON_ONCE_H

#include <stdbool.h>

/* Marks a failure: true at the first of a streak, when it is to be
 * logged; false while the streak goes on. */
static inline bool once_failed(bool *failing)
{
    bool first = !*failing;
    *failing = true;
    return first;
}

/* Marks a success: true when it ends a streak (to log the recovery). */
static inline bool once_recovered(bool *failing)
{
    bool ended = *failing;
    *failing = false;
    return ended;
}

#endif
