/* Statsd lines: metric names made safe for statsd and DogStatsD, the lines
 * of counters, gauges, timers and sink metrics in either style, and the
 * datagrams they are packed into. Built into the statsd plugin, and into
 * fuzz/fuzz_statsd. */
#ifndef ZS_STATSD_LINES_H
#define ZS_STATSD_LINES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATSD_PREFIX_MAX 200
/* Room for the longest line: prefix, socket and event names are bounded. */
#define STATSD_LINE_MAX 512

/* How metric names are written, from the sink's options. */
typedef struct statsd_style {
    char prefix[STATSD_PREFIX_MAX + 2]; /* sanitised, with its '.'; or "" */
    bool dogstatsd;   /* socket, event, reason and sink as tags */
    char process[32]; /* added to the gauge to name this process: ".<pid>"
                         to the name, ",pid:<pid>" to the tags; or "" */
} statsd_style_t;

/* Copies src into dst (cap bytes, at least 2), replacing what statsd or
 * DogStatsD would read as syntax with '_': ':', '|', '@', '#', spaces and
 * control characters, and in_tag also the tag separator ','. An empty
 * name becomes "_". */
void statsd_sanitize(char *dst, size_t cap, const char *src, bool in_tag);

/* Sets the style's prefix (NULL or "": none). Returns 0, or -1 when it is
 * longer than STATSD_PREFIX_MAX. */
int statsd_style_prefix(statsd_style_t *style, const char *prefix);

/* Each writes one line into line (STATSD_LINE_MAX bytes) and returns its
 * length, as snprintf does. socket and sink are sanitised names (at most
 * ZMQSINK_SOCKET_NAME_MAX - 1 bytes); type a known ZMQSINK_EVENT_* bit;
 * reason NULL or a symbol of [A-Z0-9_] (zmqsink_event_reason()). */
int statsd_counter_line(const statsd_style_t *style, char *line,
                        const char *socket, uint32_t type, const char *reason,
                        uint64_t n);
int statsd_gauge_line(const statsd_style_t *style, char *line,
                      const char *socket, int64_t connections);
/* rate: "" or "|@0.25" when the samples stand for more connections. */
int statsd_timer_line(const statsd_style_t *style, char *line,
                      const char *socket, int64_t ms, const char *rate);
/* One metric of a sink: zmqsink.<sink>.<word>, or zmqsink.<word> tagged
 * with the sink; type 'c' (a delta) or 'g'. */
int statsd_sink_line(const statsd_style_t *style, char *line,
                     const char *sink, const char *word, uint64_t n,
                     char type);

/* A datagram being filled with lines joined by '\n'. */
typedef struct statsd_packet {
    char *data; /* room for max bytes, and for one line longer than max */
    size_t len, max;
    uint64_t events; /* the events its counter lines stand for */
} statsd_packet_t;

/* Takes a full datagram: len bytes at data, standing for events. */
typedef void statsd_send_fn(void *ctx, const char *data, size_t len,
                            uint64_t events);

/* Makes an empty datagram of at most max bytes. Returns 0, or -1 when out
 * of memory. */
int statsd_packet_init(statsd_packet_t *p, size_t max);
void statsd_packet_free(statsd_packet_t *p);

/* Adds a line of len bytes (a statsd_*_line() result) standing for events:
 * sends the datagram first when the line would not fit in it, and after
 * when it is full; a line longer than max goes alone in a datagram of its
 * own. A len outside 1..STATSD_LINE_MAX - 1 adds nothing. */
void statsd_packet_add(statsd_packet_t *p, const char *line, int len,
                       uint64_t events, statsd_send_fn *send, void *ctx);

/* Sends what the datagram holds, if anything, and empties it. */
void statsd_packet_send(statsd_packet_t *p, statsd_send_fn *send, void *ctx);

#endif
