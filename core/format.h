/* The walk over an event's output fields in the contract order, shared by
 * every renderer: json, logfmt and text in format.c, and, through
 * zmqsink_event_fields(), syslog structured data and any plugin. */
#ifndef ZS_FORMAT_H
#define ZS_FORMAT_H

#include <stddef.h>

#include <zmqsink/event.h>

/* The fields in the order of the json contract (see zmqsink/event.h). */
#define ZS__EVENT_FIELDS(X)                                                    \
    X(TS, "ts")                                                                \
    X(SEQ, "seq")                                                              \
    X(EVENT, "event")                                                          \
    X(SEVERITY, "severity")                                                    \
    X(SOCKET, "socket")                                                        \
    X(SOCKET_TYPE, "socket_type")                                              \
    X(ENDPOINT, "endpoint")                                                    \
    X(PEER, "peer")                                                            \
    X(VALUE, "value")                                                          \
    X(REASON, "reason")                                                        \
    X(DURATION_MS, "duration_ms")                                              \
    X(HOST, "host")                                                            \
    X(PID, "pid")

typedef enum zs__field_id {
#define ZS__FIELD_ID(id, key) ZS__FIELD_##id,
    ZS__EVENT_FIELDS(ZS__FIELD_ID)
#undef ZS__FIELD_ID
    ZS__FIELD_COUNT
} zs__field_id_t;

/* The public field (zmqsink/event.h), and one kind more that never
 * leaves the core: a field that does not apply to this event. */
typedef zmqsink_field_t zs__field_t;
#define ZS__KIND_STRING ZMQSINK_FIELD_STRING
#define ZS__KIND_NUMBER ZMQSINK_FIELD_NUMBER
#define ZS__KIND_NULL ZMQSINK_FIELD_NULL
/* Does not apply (reason, duration_ms): left out everywhere. */
#define ZS__KIND_ABSENT ((zmqsink_field_kind_t)3)

typedef struct zs__event_fields {
    zs__field_t field[ZS__FIELD_COUNT]; /* indexed by zs__field_id_t */
    char scratch[128]; /* the timestamp and the digits of the numbers */
    unsigned plain; /* bit 1 << id: a string known to need neither escape
                       nor quotes (names of tables, ts, a plain host) */
} zs__event_fields_t;

_Static_assert(ZS__FIELD_COUNT <= sizeof(unsigned) * 8,
               "a bit of `plain` per field");

/* Fills out with the fields of ev. Text fields of ev are read up to their
 * size, NUL or not. The fields point into ev, into out->scratch and to
 * static strings: they live as long as ev and out both do. No allocation;
 * thread-safe. */
void zs__event_fields(const zmqsink_event_t *ev, zs__event_fields_t *out);

/* Writes v in decimal at dst (20 bytes at most, no NUL); returns the
 * length. */
size_t zs__format_u64(char *dst, uint64_t v);

/* The host name that events carry, read once when the library loads; ""
 * when unknown. */
const char *zs__host_name(void);

/* zmqsink_format_event() for the host service `format` (whose type a
 * plugin ABI of 1.x keeps): bad arguments give 0 and an empty buf. */
size_t zs__format_service(zmqsink_format_t format,
                          const zmqsink_event_t *event, char *buf, size_t cap);

/* Writes text as a quoted json string into buf (cap bytes, NUL included),
 * escaped as the json format escapes strings; returns the length the
 * whole string needs, as snprintf does. */
size_t zs__json_quote(const char *text, char *buf, size_t cap);

#endif
