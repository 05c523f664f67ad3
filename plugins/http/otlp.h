/* OTLP/HTTP JSON rendering of a batch for the http sink's `format: otlp`:
 * the json event lines a batch keeps (in memory or in the spool) become
 * one ExportLogsServiceRequest, so that a spooled batch replays as OTLP
 * too. */
#ifndef ZS_HTTP_OTLP_H
#define ZS_HTTP_OTLP_H

#include <stddef.h>

#include "bytes.h"

/* What a request says of its origin besides the events. */
typedef struct otlp_origin {
    const char *service_name;  /* resource attribute service.name */
    const char *scope_version; /* the instrumentation scope's version */
} otlp_origin_t;

/* The OpenTelemetry SeverityNumber of a syslog severity name ("err"), as
 * the log data model's appendix B maps syslog; 0 (UNSPECIFIED) for a name
 * it does not know. */
int otlp_severity_number(const char *syslog_name);

/* Appends to out the OTLP/HTTP JSON logs request for the len bytes of
 * newline-terminated json event lines at lines: one resourceLogs whose
 * resource is host.name and process.pid of the first line and
 * origin->service_name, one scopeLogs, a logRecord per line. A line that
 * is not a json object is left out. Returns the number of records, or -1
 * when out of memory (out then holds a partial request). */
long otlp_render(bytes_t *out, const char *lines, size_t len,
                 const otlp_origin_t *origin);

#endif
