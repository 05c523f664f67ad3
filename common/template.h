/* Templates of text with placeholders for an event's fields, {socket},
 * {event}, {host} and {pid}, as a sink's option writes a Kafka message key
 * or a NATS subject: checked once, expanded for each event. Part of
 * common/; it knows no sink's syntax (a sink makes safe what it needs of a
 * value before or after expanding).
 *
 * "{{" and "}}" stand for '{' and '}'; any other '{' must open a known
 * placeholder. A value is the field as the json contract writes it (the
 * event's socket name, the event's name, the host and pid of the process
 * that saw it), unescaped. */
#ifndef ZS_COMMON_TEMPLATE_H
#define ZS_COMMON_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include <zmqsink/event.h>

#include "bytes.h"

typedef enum template_field {
    TEMPLATE_SOCKET,
    TEMPLATE_EVENT,
    TEMPLATE_HOST,
    TEMPLATE_PID,
    TEMPLATE_FIELDS
} template_field_t;

/* Longest value kept, NUL included; longer ones are cut (a host name has
 * at most 255 bytes, a socket name ZMQSINK_SOCKET_NAME_MAX). */
#define TEMPLATE_VALUE_MAX 256

/* What the placeholders of one event stand for. */
typedef struct template_values {
    char text[TEMPLATE_FIELDS][TEMPLATE_VALUE_MAX];
} template_values_t;

/* The placeholder's name without braces, as the json key it comes from:
 * "socket", "event", "host", "pid". */
const char *template_field_name(template_field_t field);

/* Checks text. Returns 0, or -1 with what is wrong in err, such as
 * "unknown placeholder '{sokcet}' (known: {socket} {event} {host} {pid};
 * '{{' for a brace)". */
int template_check(const char *text, char *err, size_t errlen);

/* Whether a checked text uses the placeholder of field. */
bool template_uses(const char *text, template_field_t field);

/* The values of ev, as the formats write them (zmqsink_event_fields()). */
void template_values_of_event(template_values_t *values,
                              const zmqsink_event_t *ev);

/* The values of an event rendered as a json line (n bytes) by the core's
 * formatter, as a spool keeps it. Returns 0, or -1 when a field is
 * missing. */
int template_values_of_json(template_values_t *values, const char *line,
                            size_t n);

/* Appends the checked text to out with each placeholder replaced by its
 * value. Returns 0, or -1 when out of memory (out is then as it was). */
int template_expand(const char *text, const template_values_t *values,
                    bytes_t *out);

#endif
