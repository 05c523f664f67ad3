/* zmqsink event record: the fixed-size record every sink receives, and the
 * names, severities and formatters that go with it.
 *
 * The record has no pointers out of itself, so it can be copied into ring
 * slots, written to disk and handed across threads as plain bytes. Its
 * layout is part of the plugin ABI (see zmqsink/plugin.h). */
#ifndef ZMQSINK_EVENT_H
#define ZMQSINK_EVENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(ZMQSINK_STATIC)
#define ZMQSINK_EXPORT __attribute__((visibility("default")))
#else
#define ZMQSINK_EXPORT
#endif

/* Text fields are NUL-terminated and truncated to fit. */
#define ZMQSINK_SOCKET_NAME_MAX 64
#define ZMQSINK_ENDPOINT_MAX 256
#define ZMQSINK_PEER_MAX 64

/* The event types: the ZMQ_EVENT_* bits of libzmq, with the same values,
 * so that a mask of them means the same thing to zmqsink and to libzmq. */
#define ZMQSINK_EVENT_CONNECTED 0x0001u
#define ZMQSINK_EVENT_CONNECT_DELAYED 0x0002u
#define ZMQSINK_EVENT_CONNECT_RETRIED 0x0004u
#define ZMQSINK_EVENT_LISTENING 0x0008u
#define ZMQSINK_EVENT_BIND_FAILED 0x0010u
#define ZMQSINK_EVENT_ACCEPTED 0x0020u
#define ZMQSINK_EVENT_ACCEPT_FAILED 0x0040u
#define ZMQSINK_EVENT_CLOSED 0x0080u
#define ZMQSINK_EVENT_CLOSE_FAILED 0x0100u
#define ZMQSINK_EVENT_DISCONNECTED 0x0200u
#define ZMQSINK_EVENT_MONITOR_STOPPED 0x0400u
#define ZMQSINK_EVENT_HANDSHAKE_FAILED_NO_DETAIL 0x0800u
#define ZMQSINK_EVENT_HANDSHAKE_SUCCEEDED 0x1000u
#define ZMQSINK_EVENT_HANDSHAKE_FAILED_PROTOCOL 0x2000u
#define ZMQSINK_EVENT_HANDSHAKE_FAILED_AUTH 0x4000u
#define ZMQSINK_EVENT_ALL 0x7fffu
/* The failures: what `events: errors` selects in a config file. */
#define ZMQSINK_EVENT_ERRORS                                                   \
    (ZMQSINK_EVENT_BIND_FAILED | ZMQSINK_EVENT_ACCEPT_FAILED |                 \
     ZMQSINK_EVENT_CLOSE_FAILED | ZMQSINK_EVENT_HANDSHAKE_FAILED_NO_DETAIL |   \
     ZMQSINK_EVENT_HANDSHAKE_FAILED_PROTOCOL |                                 \
     ZMQSINK_EVENT_HANDSHAKE_FAILED_AUTH)

/* Severities, numbered as syslog numbers them (RFC 5424): lower is worse. */
typedef enum zmqsink_severity {
    ZMQSINK_SEV_EMERG = 0,
    ZMQSINK_SEV_ALERT = 1,
    ZMQSINK_SEV_CRIT = 2,
    ZMQSINK_SEV_ERR = 3,
    ZMQSINK_SEV_WARNING = 4,
    ZMQSINK_SEV_NOTICE = 5,
    ZMQSINK_SEV_INFO = 6,
    ZMQSINK_SEV_DEBUG = 7
} zmqsink_severity_t;

/* One socket monitor event, decoded and enriched. 448 bytes. */
typedef struct zmqsink_event {
    uint64_t seq;        /* per zmqsink instance, from 1, without gaps */
    int64_t time_ns;     /* wall-clock time, ns since the Unix epoch */
    int64_t duration_ms; /* connection lifetime on disconnected/closed of a
                            connection seen opening; otherwise -1 */
    uint32_t type;       /* exactly one ZMQSINK_EVENT_* bit */
    uint32_t value;      /* fd, errno, retry interval (ms), protocol error
                            code or ZAP status: see zmqsink_event_value_doc() */
    int32_t socket_type; /* ZMQ_PAIR .. ZMQ_STREAM, or -1 when unknown */
    uint8_t severity;    /* a zmqsink_severity_t */
    uint8_t reserved[27];
    char socket[ZMQSINK_SOCKET_NAME_MAX]; /* name given at attach */
    char endpoint[ZMQSINK_ENDPOINT_MAX];  /* bind address or connect string */
    char peer[ZMQSINK_PEER_MAX];          /* "host:port" or "" when unknown */
} zmqsink_event_t;

/* Number of event types, and the index (0..14) of a type bit. */
#define ZMQSINK_EVENT_TYPES 15

/* Lower-case name without prefix ("connected"), or NULL for an unknown type.
 * The string is static. */
ZMQSINK_EXPORT const char *zmqsink_event_name(uint32_t type);

/* The type bit for a name ("handshake_failed_auth"), or 0 when unknown. */
ZMQSINK_EXPORT uint32_t zmqsink_event_from_name(const char *name);

/* One sentence on what the event means, and one on what its value holds.
 * Static strings; NULL for an unknown type. */
ZMQSINK_EXPORT const char *zmqsink_event_doc(uint32_t type);
ZMQSINK_EXPORT const char *zmqsink_event_value_doc(uint32_t type);

/* The cause of the event as a stable symbol, when its value is an error:
 * the errno name ("EADDRINUSE") for bind_failed, accept_failed,
 * close_failed, handshake_failed_no_detail and connect_delayed (none for
 * EINPROGRESS, nor for an errno of 0); libzmq's ZMQ_PROTOCOL_ERROR_* name
 * without that prefix ("ZMTP_MECHANISM_MISMATCH") for
 * handshake_failed_protocol; "ZAP_300", "ZAP_400" or "ZAP_500" for
 * handshake_failed_auth. A number the tables do not know gives a symbol
 * naming it: "ERRNO_200", "PROTOCOL_ERROR_0x11000099", "ZAP_600"; past 64
 * such numbers in one process, "ERRNO_UNKNOWN", "PROTOCOL_ERROR_UNKNOWN"
 * or "ZAP_UNKNOWN", so that the symbols stay a bounded set (the number
 * stays in value). NULL for every other event (connect_retried's value is
 * an interval, not an error) and for a NULL event. The string lives as
 * long as the process: it may be kept. Thread-safe. */
ZMQSINK_EXPORT const char *zmqsink_event_reason(const zmqsink_event_t *event);

/* One sentence on the reasons events of a type can carry, or NULL for a
 * type that carries none. Static string. */
ZMQSINK_EXPORT const char *zmqsink_event_reason_doc(uint32_t type);

/* Severity a type has unless the configuration says otherwise: err for the
 * failures except handshakes (warning), notice for connect_delayed,
 * connect_retried and disconnected, info for the rest. */
ZMQSINK_EXPORT zmqsink_severity_t zmqsink_event_default_severity(uint32_t type);

/* "err", "warning", ... (static), or NULL when out of range. */
ZMQSINK_EXPORT const char *zmqsink_severity_name(int severity);

/* The severity for a name ("warning", also "error" and "warn"), or -1. */
ZMQSINK_EXPORT int zmqsink_severity_from_name(const char *name);

/* "router", "dealer", ... (static), or "unknown". */
ZMQSINK_EXPORT const char *zmqsink_socket_type_name(int socket_type);

/* Output formats. The json keys, in this order, are a contract:
 * ts, seq, event, severity, socket, socket_type, endpoint, peer, value,
 * reason (only when the event has one: zmqsink_event_reason()),
 * duration_ms (only when known), host, pid. logfmt carries the same keys in
 * the same order; text is for people and may change (it says the reason
 * in words: "value=98: address already in use (EADDRINUSE)"). */
typedef enum zmqsink_format {
    ZMQSINK_FORMAT_JSON = 0,
    ZMQSINK_FORMAT_LOGFMT = 1,
    ZMQSINK_FORMAT_TEXT = 2
} zmqsink_format_t;

/* Renders one event as one line without the trailing newline. Writes at
 * most cap bytes including a terminating NUL (when cap > 0) and returns the
 * length the whole line needs, as snprintf does: a return >= cap means the
 * output was cut. -ZMQSINK_EINVAL (zmqsink.h) for a NULL event, an unknown
 * format, or a NULL buf with cap > 0. Thread-safe. */
ZMQSINK_EXPORT int zmqsink_format_event(zmqsink_format_t format,
                                        const zmqsink_event_t *event,
                                        char *buf, size_t cap);

/* The format for a name ("json", "logfmt", "text"), or -1. */
ZMQSINK_EXPORT int zmqsink_format_from_name(const char *name);

/* One field of an event, as the formats write it. */
typedef enum zmqsink_field_kind {
    ZMQSINK_FIELD_STRING = 0, /* any bytes (escape them for the output) */
    ZMQSINK_FIELD_NUMBER = 1, /* the decimal digits of an integer >= 0 */
    ZMQSINK_FIELD_NULL = 2    /* unknown (the peer): json writes null,
                                 logfmt and text leave it out */
} zmqsink_field_kind_t;

typedef struct zmqsink_field {
    const char *key;   /* "ts", "seq", ...: static, NUL-terminated */
    size_t key_len;
    zmqsink_field_kind_t kind;
    const char *text;  /* len bytes, not NUL-terminated; NULL when NULL */
    size_t len;
} zmqsink_field_t;

/* Called for each field; a nonzero return stops the walk. */
typedef int zmqsink_field_fn(const zmqsink_field_t *field, void *arg);

/* Walks the fields of event in the order of the json contract (ts, seq,
 * event, severity, socket, socket_type, endpoint, peer, value, reason,
 * duration_ms, host, pid), leaving out those that do not apply (reason
 * when the event has none, duration_ms when unknown), and calls fn on each: the walk that
 * zmqsink_format_event() writes json and logfmt from, for sinks that write
 * events in a format of their own. A field and its text are valid during
 * the call only. Returns the first nonzero return of fn, else 0;
 * -ZMQSINK_EINVAL (zmqsink.h) when event or fn is NULL. Thread-safe, no
 * allocation. */
ZMQSINK_EXPORT int zmqsink_event_fields(const zmqsink_event_t *event,
                                        zmqsink_field_fn *fn, void *arg);

#ifdef __cplusplus
}
#endif
#endif
