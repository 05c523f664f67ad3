/* Renders json event lines as an OTLP/HTTP JSON logs request
 * (ExportLogsServiceRequest), as the OTLP specification encodes protobuf
 * in JSON: lowerCamelCase field names, 64-bit integers as decimal
 * strings, attribute values as AnyValue objects. */
#include "otlp.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "json.h"

/* Room for the longest value of an event line: the endpoint. */
#define VALUE_MAX (ZMQSINK_ENDPOINT_MAX + 64)

/* The request being built, and whether an allocation failed. */
typedef struct otlp_out {
    bytes_t *b;
    bool failed;
} otlp_out_t;

/* One event line, and a value read from it. */
typedef struct event_line {
    const char *text;
    size_t len;
    char value[VALUE_MAX];
} event_line_t;

/* The event fields that become attributes, under names of zmqsink's own
 * zmq.* namespace, and whether each is an integer (intValue). host and
 * pid go to the resource instead; ts and severity have fields of their
 * own in a log record. */
static const struct {
    const char *field, *attribute;
    bool integer;
} attributes[] = {
    {"event", "zmq.event", false},
    {"seq", "zmq.seq", true},
    {"socket", "zmq.socket.name", false},
    {"socket_type", "zmq.socket.type", false},
    {"endpoint", "zmq.endpoint", false},
    {"peer", "zmq.peer", false},
    {"value", "zmq.value", true},
    {"reason", "zmq.reason", false},
    {"duration_ms", "zmq.connection.duration_ms", true},
};

int otlp_severity_number(const char *syslog_name)
{
    /* OpenTelemetry logs data model, appendix B "SeverityNumber example
     * mappings", Syslog column: Emergency FATAL(21), Alert ERROR3(19),
     * Critical ERROR2(18), Error ERROR(17), Warning WARN(13), Notice
     * INFO2(10), Informational INFO(9), Debug DEBUG(5). */
    static const struct {
        const char *name;
        int number;
    } map[] = {
        {"emerg", 21}, {"alert", 19}, {"crit", 18},  {"err", 17},
        {"warning", 13}, {"notice", 10}, {"info", 9}, {"debug", 5},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (strcmp(syslog_name, map[i].name) == 0)
            return map[i].number;
    return 0;
}

static void out_put(void *ctx, const char *s, size_t n)
{
    otlp_out_t *o = ctx;
    bytes_put(o->b, s, n, &o->failed);
}

static void out_str(otlp_out_t *o, const char *s)
{
    bytes_put_str(o->b, s, &o->failed);
}

static void out_quoted(otlp_out_t *o, const char *s)
{
    json_quote(s, strlen(s), out_put, o);
}

/* Reads field of the line into line->value. Returns whether it is there
 * with a value (null is none). */
static bool line_read(event_line_t *line, const char *field)
{
    return json_read_member(line->text, line->len, field, line->value,
                            sizeof line->value) == 1 &&
           strcmp(line->value, "null") != 0;
}

/* Whether text is an integer as json writes one, which intValue carries
 * as a decimal string. */
static bool is_integer(const char *text)
{
    const char *digits = text + (*text == '-');
    return *digits && strspn(digits, "0123456789") == strlen(digits);
}

/* The nanoseconds since the epoch of an RFC 3339 UTC time as the json
 * format writes it ("2024-05-01T12:00:00.123456Z"), or 0 (unknown, as
 * OTLP says) when it is not one, or not between 1970 and 2262 (the
 * nanoseconds of a 64-bit integer). */
static long long time_unix_nano(const char *ts)
{
    struct tm tm = {0};
    char frac[16] = "";
    int used = 0;
    if (sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6)
        return 0;
    if (ts[used] == '.' && sscanf(ts + used + 1, "%9[0-9]", frac) != 1)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t seconds = timegm(&tm);
    if (seconds < 0 || seconds >= LLONG_MAX / 1000000000LL)
        return 0;
    long long nanos = 0, scale = 100000000;
    for (const char *d = frac; *d; d++, scale /= 10)
        nanos += (*d - '0') * scale;
    return (long long)seconds * 1000000000LL + nanos;
}

/* An attribute (KeyValue): {"key":..,"value":{"stringValue"|"intValue":..}},
 * preceded by a comma unless it is the first. */
static void put_attribute(otlp_out_t *o, bool *first, const char *key,
                          const char *value, bool integer)
{
    out_str(o, *first ? "{\"key\":" : ",{\"key\":");
    *first = false;
    out_quoted(o, key);
    out_str(o, integer ? ",\"value\":{\"intValue\":" : ",\"value\":{\"stringValue\":");
    out_quoted(o, value);
    out_str(o, "}}");
}

static void put_resource(otlp_out_t *o, event_line_t *line,
                         const otlp_origin_t *origin)
{
    bool first = true;
    out_str(o, "{\"resource\":{\"attributes\":[");
    if (line && line_read(line, "host"))
        put_attribute(o, &first, "host.name", line->value, false);
    if (line && line_read(line, "pid") && is_integer(line->value))
        put_attribute(o, &first, "process.pid", line->value, true);
    put_attribute(o, &first, "service.name", origin->service_name, false);
    out_str(o, "]},\"scopeLogs\":[{\"scope\":{\"name\":\"zmqsink\",\"version\":");
    out_quoted(o, origin->scope_version);
    out_str(o, "},\"logRecords\":[");
}

/* The body: one line for people, "connected backend tcp://host:port peer
 * 10.0.0.7:41234 (EADDRINUSE)"; the attributes carry each field. */
static void put_body(otlp_out_t *o, event_line_t *line)
{
    static const char *const parts[] = {"event", "socket", "endpoint"};
    bytes_t text = {0};
    otlp_out_t t = {&text, false};
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
        if (line_read(line, parts[i]))
            bytes_printf(&text, &t.failed, "%s%s", text.len ? " " : "",
                         line->value);
    if (line_read(line, "peer"))
        bytes_printf(&text, &t.failed, " peer %s", line->value);
    if (line_read(line, "reason"))
        bytes_printf(&text, &t.failed, " (%s)", line->value);
    out_str(o, ",\"body\":{\"stringValue\":");
    if (t.failed)
        o->failed = true;
    else
        json_quote(text.data ? text.data : "", text.len, out_put, o);
    out_str(o, "}");
    bytes_free(&text);
}

static void put_record(otlp_out_t *o, event_line_t *line, bool first)
{
    char nanos[32];
    snprintf(nanos, sizeof nanos, "%lld",
             line_read(line, "ts") ? time_unix_nano(line->value) : 0LL);
    out_str(o, first ? "{" : ",{");
    /* zmqsink observes the event when libzmq reports it: both times are
     * the event's. */
    bytes_printf(o->b, &o->failed,
                 "\"timeUnixNano\":\"%s\",\"observedTimeUnixNano\":\"%s\"",
                 nanos, nanos);
    if (line_read(line, "severity")) {
        int number = otlp_severity_number(line->value);
        if (number > 0)
            bytes_printf(o->b, &o->failed, ",\"severityNumber\":%d", number);
        out_str(o, ",\"severityText\":");
        out_quoted(o, line->value);
    }
    put_body(o, line);
    out_str(o, ",\"attributes\":[");
    bool first_attribute = true;
    for (size_t i = 0; i < sizeof attributes / sizeof *attributes; i++) {
        if (!line_read(line, attributes[i].field) ||
            (attributes[i].integer && !is_integer(line->value)))
            continue;
        put_attribute(o, &first_attribute, attributes[i].attribute,
                      line->value, attributes[i].integer);
    }
    out_str(o, "]}");
}

/* The next line of the batch into line; false at its end. */
static bool next_line(const char **at, const char *end, event_line_t *line)
{
    if (*at >= end)
        return false;
    const char *nl = memchr(*at, '\n', (size_t)(end - *at));
    line->text = *at;
    line->len = (size_t)((nl ? nl : end) - *at);
    *at = nl ? nl + 1 : end;
    return true;
}

long otlp_render(bytes_t *out, const char *lines, size_t len,
                 const otlp_origin_t *origin)
{
    otlp_out_t o = {out, false};
    event_line_t line;
    const char *at = lines, *end = lines + len;
    bool have_first = false;
    while (!have_first && next_line(&at, end, &line))
        have_first = json_read_member(line.text, line.len, "seq", line.value,
                                      sizeof line.value) >= 0;
    out_str(&o, "{\"resourceLogs\":[");
    put_resource(&o, have_first ? &line : NULL, origin);
    long records = 0;
    at = lines;
    while (next_line(&at, end, &line)) {
        char probe[2];
        if (json_read_member(line.text, line.len, "", probe, sizeof probe) < 0)
            continue;
        put_record(&o, &line, records == 0);
        records++;
    }
    out_str(&o, "]}]}]}");
    return o.failed ? -1 : records;
}
