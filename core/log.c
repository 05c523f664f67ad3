/* The core's diagnostics: one line per message on stderr, "zmqsink: LEVEL: ...". */
#include "log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static int threshold = ZMQSINK_SEV_NOTICE;
static pthread_once_t threshold_once = PTHREAD_ONCE_INIT;

static void threshold_read(void)
{
    const char *name = getenv("ZMQSINK_LOG_LEVEL");
    int severity = name ? zmqsink_severity_from_name(name) : -1;
    if (severity >= 0)
        threshold = severity;
}

void zs__logv(zmqsink_severity_t severity, const char *prefix, const char *fmt,
              va_list args)
{
    pthread_once(&threshold_once, threshold_read);
    if ((int)severity > threshold)
        return;
    /* One buffer and one fputs, so lines from several threads stay whole. */
    char line[1024];
    int n = snprintf(line, sizeof line, "zmqsink: %s: %s%s",
                     zmqsink_severity_name(severity), prefix ? prefix : "",
                     prefix ? ": " : "");
    if (n < 0 || (size_t)n >= sizeof line)
        n = 0;
    vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, args);
    fprintf(stderr, "%s\n", line);
}

void zs__log(zmqsink_severity_t severity, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    zs__logv(severity, NULL, fmt, args);
    va_end(args);
}
