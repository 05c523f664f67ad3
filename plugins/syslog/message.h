/* Syslog messages of events: RFC 5424 with the event's fields as
 * structured data, or RFC 3164, cut to a size at a UTF-8 boundary. Built
 * into the syslog plugin, and into fuzz/fuzz_syslog. */
#ifndef ZS_SYSLOG_MESSAGE_H
#define ZS_SYSLOG_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>

#include <zmqsink/plugin.h>

#include "bytes.h"

#define SYSLOG_TRUNCATION_MARK "[truncated]"
/* RFC 5424 limits. */
#define SYSLOG_APP_NAME_MAX 48
#define SYSLOG_HOSTNAME_MAX 255
#define SYSLOG_SD_NAME_MAX 32
/* The smallest max_size: room for the longest header (hostname 255,
 * app_name 48) and the truncation mark. */
#define SYSLOG_SIZE_MIN 480

enum syslog_format { SYSLOG_RFC5424, SYSLOG_RFC3164 };

/* How a sink writes its messages, from its options. */
typedef struct syslog_style {
    enum syslog_format format;
    int facility;                      /* 0..23 */
    int severity[ZMQSINK_EVENT_TYPES]; /* per type index; -1: the event's */
    char hostname[SYSLOG_HOSTNAME_MAX + 1]; /* syslog_printable(), or "-" */
    bool hostname_in_3164; /* RFC 3164 names the host: not on /dev/log and
                              unix sockets, as syslog(3) does */
    const char *app_name;  /* syslog_printable(), SYSLOG_APP_NAME_MAX */
    const char *sd_id;     /* syslog_sd_id_valid() */
    size_t max_size;       /* at least SYSLOG_SIZE_MIN */
    unsigned long pid;
} syslog_style_t;

/* Whether s is 1 to max printable ASCII characters, none a space (RFC
 * 5424 PRINTUSASCII). */
bool syslog_printable(const char *s, size_t max);

/* Whether s can be the SD-ID: NAME@NUMBER, printable, at most
 * SYSLOG_SD_NAME_MAX characters, without '=', ']' or '"'. */
bool syslog_sd_id_valid(const char *s);

/* The buffers messages are built in, kept from one to the next so that a
 * message costs no allocation. Zero-initialised is empty. */
typedef struct syslog_buffers {
    bytes_t msg;  /* scratch: the MSG part */
    bytes_t sd;   /* scratch: the structured data */
    bytes_t line; /* the message */
} syslog_buffers_t;

/* Writes ev as one message into b->line (replacing its text), rendered
 * with host->format. Returns 0; or, when the message was cut to max_size,
 * the length it had whole; or -1 when out of memory. */
long syslog_message(const syslog_style_t *style, const zmqsink_host_t *host,
                    const zmqsink_event_t *ev, syslog_buffers_t *b);

/* Frees what b holds and empties it. */
void syslog_buffers_free(syslog_buffers_t *b);

#endif
