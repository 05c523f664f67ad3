/* The core's diagnostics: one line per message on stderr, "zmqsink: LEVEL: ...". */
#ifndef ZS_LOG_H
#define ZS_LOG_H

#include <stdarg.h>

#include <zmqsink/event.h>

/* Messages less severe than ZMQSINK_LOG_LEVEL (a severity name; default
 * "notice") are dropped. Any thread. */
void zs__log(zmqsink_severity_t severity, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void zs__logv(zmqsink_severity_t severity, const char *prefix, const char *fmt,
              va_list args);

#endif
