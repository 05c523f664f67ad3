/* The words for an event's reason (zmqsink_event_reason()), for the text
 * format and anything else written for people. */
#ifndef ZS_REASON_H
#define ZS_REASON_H

#include <stddef.h>

#include <zmqsink/event.h>

/* Longest cause zs__event_cause() writes, NUL included. */
#define ZS__CAUSE_MAX 128

/* Writes "address already in use (EADDRINUSE)" into buf (cap bytes, NUL
 * included) and returns the length the whole text needs, as snprintf
 * does; 0 and "" when the event has no reason. Thread-safe. */
size_t zs__event_cause(const zmqsink_event_t *ev, char *buf, size_t cap);

#endif
