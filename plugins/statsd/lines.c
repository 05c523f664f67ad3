/* Statsd lines and the datagrams they are packed into. */
#include "lines.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmqsink/event.h>

#include "names.h"

void statsd_sanitize(char *dst, size_t cap, const char *src, bool in_tag)
{
    names_sanitize(dst, cap, src, in_tag ? ":|@#," : ":|@#");
}

int statsd_style_prefix(statsd_style_t *style, const char *prefix)
{
    style->prefix[0] = '\0';
    if (!prefix || !prefix[0])
        return 0; /* metric names start with the socket */
    if (strlen(prefix) > STATSD_PREFIX_MAX)
        return -1;
    statsd_sanitize(style->prefix, sizeof style->prefix - 1, prefix, false);
    strcat(style->prefix, ".");
    return 0;
}

int statsd_counter_line(const statsd_style_t *style, char *line,
                        const char *socket, uint32_t type, const char *reason,
                        uint64_t n)
{
    const char *event = zmqsink_event_name(type);
    const char *tag = reason ? ",reason:" : "", *segment = reason ? "." : "";
    if (!reason)
        reason = "";
    return style->dogstatsd
               ? snprintf(line, STATSD_LINE_MAX,
                          "%sevents:%llu|c|#socket:%s,event:%s%s%s",
                          style->prefix, (unsigned long long)n, socket, event,
                          tag, reason)
               : snprintf(line, STATSD_LINE_MAX, "%s%s.%s%s%s:%llu|c",
                          style->prefix, socket, event, segment, reason,
                          (unsigned long long)n);
}

int statsd_gauge_line(const statsd_style_t *style, char *line,
                      const char *socket, int64_t connections)
{
    return style->dogstatsd
               ? snprintf(line, STATSD_LINE_MAX,
                          "%sconnections:%lld|g|#socket:%s%s", style->prefix,
                          (long long)connections, socket, style->process)
               : snprintf(line, STATSD_LINE_MAX, "%s%s.connections%s:%lld|g",
                          style->prefix, socket, style->process,
                          (long long)connections);
}

int statsd_timer_line(const statsd_style_t *style, char *line,
                      const char *socket, int64_t ms, const char *rate)
{
    return style->dogstatsd
               ? snprintf(line, STATSD_LINE_MAX,
                          "%sconnection_ms:%lld|ms%s|#socket:%s",
                          style->prefix, (long long)ms, rate, socket)
               : snprintf(line, STATSD_LINE_MAX,
                          "%s%s.connection_ms:%lld|ms%s", style->prefix,
                          socket, (long long)ms, rate);
}

int statsd_sink_line(const statsd_style_t *style, char *line,
                     const char *sink, const char *word, uint64_t n,
                     char type)
{
    return style->dogstatsd
               ? snprintf(line, STATSD_LINE_MAX,
                          "%szmqsink.%s:%llu|%c|#sink:%s", style->prefix,
                          word, (unsigned long long)n, type, sink)
               : snprintf(line, STATSD_LINE_MAX, "%szmqsink.%s.%s:%llu|%c",
                          style->prefix, sink, word, (unsigned long long)n,
                          type);
}

/* ---- datagrams ---- */

int statsd_packet_init(statsd_packet_t *p, size_t max)
{
    *p = (statsd_packet_t){.max = max};
    /* One line longer than max is sent alone: room for it too. */
    p->data = malloc(max > STATSD_LINE_MAX ? max : STATSD_LINE_MAX);
    return p->data ? 0 : -1;
}

void statsd_packet_free(statsd_packet_t *p)
{
    free(p->data);
    *p = (statsd_packet_t){0};
}

void statsd_packet_send(statsd_packet_t *p, statsd_send_fn *send, void *ctx)
{
    if (!p->len)
        return;
    send(ctx, p->data, p->len, p->events);
    p->len = 0;
    p->events = 0;
}

void statsd_packet_add(statsd_packet_t *p, const char *line, int len,
                       uint64_t events, statsd_send_fn *send, void *ctx)
{
    if (len <= 0 || len >= STATSD_LINE_MAX)
        return; /* cannot happen: names and prefix are bounded */
    if (p->len && p->len + 1 + (size_t)len > p->max)
        statsd_packet_send(p, send, ctx);
    if (p->len)
        p->data[p->len++] = '\n';
    memcpy(p->data + p->len, line, (size_t)len);
    p->len += (size_t)len;
    p->events += events;
    if (p->len >= p->max)
        statsd_packet_send(p, send, ctx); /* full, or one line too long */
}
