/* Fuzz target: statsd lines and their datagrams, as the statsd sink writes
 * them (plugins/statsd/lines.c).
 *
 * Input: [flags: dogstatsd, per process][max_packet: 2 bytes][prefix: a
 * length byte and its bytes], then metrics, each a kind byte and its
 * fields: a socket or sink name (a length byte and raw bytes, made safe as
 * the sink makes them), an event (type byte, value: 4 bytes, whose reason
 * the core gives), numbers of 8 bytes. Every line must be one statsd (or
 * DogStatsD) line whose name holds no syntax, shorter than the sink's
 * line buffer; the datagrams must carry every line once, whole and in
 * order, none longer than max_packet unless it is one line alone. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmqsink/event.h>

#include "target.h"
#include "lines.h"

typedef struct input {
    const uint8_t *data;
    size_t size, at;
} input_t;

static uint64_t input_number(input_t *in, size_t bytes)
{
    uint64_t n = 0;
    for (size_t i = 0; i < bytes; i++)
        n |= (uint64_t)(in->at < in->size ? in->data[in->at++] : 0) << 8 * i;
    return n;
}

/* Raw bytes of a name as an event carries them: ZMQSINK_SOCKET_NAME_MAX
 * bytes, NUL-terminated or not, made safe as the sink makes them. */
static void input_name(input_t *in, bool in_tag,
                       char name[ZMQSINK_SOCKET_NAME_MAX])
{
    char raw[ZMQSINK_SOCKET_NAME_MAX] = {0};
    size_t len = (size_t)input_number(in, 1) % (sizeof raw + 1);
    if (len > in->size - in->at)
        len = in->size - in->at;
    memcpy(raw, in->data + in->at, len);
    in->at += len;
    statsd_sanitize(name, ZMQSINK_SOCKET_NAME_MAX, raw, in_tag);
}

/* ---- the lines ---- */

/* What a name may not hold: statsd's syntax, spaces and controls. */
static bool name_clean(const char *s, size_t n, const char *also)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == 0x7f || strchr(":|@#", c) || strchr(also, c))
            return false;
    }
    return n > 0;
}

/* NAME:VALUE|TYPE[|@RATE][|#TAG:VALUE,...] */
static void line_check(const statsd_style_t *style, const char *line, int len)
{
    FUZZ_CHECK(len > 0 && len < STATSD_LINE_MAX, "%d bytes", len);
    FUZZ_CHECK(strlen(line) == (size_t)len, "NUL inside: %s", line);
    const char *colon = strchr(line, ':'), *bar = strchr(line, '|');
    FUZZ_CHECK(colon && bar && colon < bar &&
                   name_clean(line, (size_t)(colon - line), ""),
               "name: %s", line);
    const char *value = colon + 1 + (colon[1] == '-');
    FUZZ_CHECK(bar > value && strspn(value, "0123456789") ==
                                  (size_t)(bar - value),
               "value: %s", line);
    const char *type = bar + 1, *rest = strchr(type, '|');
    size_t type_len = rest ? (size_t)(rest - type) : strlen(type);
    FUZZ_CHECK((type_len == 1 && strchr("cg", *type)) ||
                   (type_len == 2 && !memcmp(type, "ms", 2)),
               "type: %s", line);
    if (rest && rest[1] == '@') {
        double rate;
        int n = 0;
        FUZZ_CHECK(sscanf(rest, "|@%lf%n", &rate, &n) == 1 && rate > 0 &&
                       rate <= 1,
                   "rate: %s", line);
        rest += n;
        rest = *rest ? rest : NULL;
    }
    if (!rest)
        return;
    FUZZ_CHECK(style->dogstatsd && rest[0] == '|' && rest[1] == '#',
               "tags: %s", line);
    for (const char *tag = rest + 2; tag;) {
        const char *comma = strchr(tag, ',');
        size_t n = comma ? (size_t)(comma - tag) : strlen(tag);
        const char *sep = memchr(tag, ':', n);
        FUZZ_CHECK(sep && name_clean(tag, (size_t)(sep - tag), ",") &&
                       name_clean(sep + 1, n - (size_t)(sep - tag) - 1, ","),
                   "tag: %s", line);
        tag = comma ? comma + 1 : NULL;
    }
}

/* ---- the datagrams ---- */

typedef struct sent {
    char joined[1 << 20]; /* every datagram, joined by '\n' */
    size_t len;
    uint64_t events;
    size_t max;
} sent_t;

static void record(void *ctx, const char *data, size_t len, uint64_t events)
{
    sent_t *sent = ctx;
    FUZZ_CHECK(len > 0 && (len <= sent->max || !memchr(data, '\n', len)),
               "a datagram of %zu bytes, max_packet %zu", len, sent->max);
    FUZZ_CHECK(sent->len + len + 1 <= sizeof sent->joined, "too much");
    if (sent->len)
        sent->joined[sent->len++] = '\n';
    memcpy(sent->joined + sent->len, data, len);
    sent->len += len;
    sent->events += events;
}

/* ---- metrics ---- */

static const char *const words[] = {"delivered", "failed", "dropped",
                                    "pending", "queued"};

/* Writes the next metric of the input into line; returns its length and
 * the events it stands for in *events. */
static int metric_line(input_t *in, const statsd_style_t *style, char *line,
                       uint64_t *events)
{
    char name[ZMQSINK_SOCKET_NAME_MAX];
    unsigned kind = (unsigned)input_number(in, 1);
    input_name(in, style->dogstatsd, name);
    *events = 0;
    switch (kind % 4) {
    case 0: {
        zmqsink_event_t ev = {.type = 1u << input_number(in, 1) % 15};
        ev.value = (uint32_t)input_number(in, 4);
        const char *reason = kind & 4 ? zmqsink_event_reason(&ev) : NULL;
        *events = input_number(in, 8);
        return statsd_counter_line(style, line, name, ev.type, reason,
                                   *events);
    }
    case 1:
        return statsd_gauge_line(style, line, name,
                                 (int64_t)input_number(in, 8));
    case 2: {
        char rate[32] = "";
        uint64_t kept = input_number(in, 2), timed = input_number(in, 2);
        if (timed > kept && kept > 0)
            snprintf(rate, sizeof rate, "|@%g", (double)kept / (double)timed);
        return statsd_timer_line(style, line, name,
                                 (int64_t)input_number(in, 8), rate);
    }
    default: {
        const char *word = words[input_number(in, 1) % 5];
        char type = kind & 4 ? 'g' : 'c';
        return statsd_sink_line(style, line, name, word, input_number(in, 8),
                                type);
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sent_t sent;
    static char lines[1 << 20];
    input_t in = {data, size, 0};
    statsd_style_t style = {.dogstatsd = false};
    unsigned flags = (unsigned)input_number(&in, 1);
    style.dogstatsd = flags & 1;
    if (flags & 2)
        snprintf(style.process, sizeof style.process,
                 style.dogstatsd ? ",pid:%ld" : ".%ld", 4194304L);
    size_t max = 64 + (size_t)input_number(&in, 2) % (65507 - 64 + 1);
    char prefix[256];
    size_t prefix_len = (size_t)input_number(&in, 1);
    if (prefix_len > size - in.at)
        prefix_len = size - in.at;
    memcpy(prefix, data + in.at, prefix_len);
    prefix[prefix_len] = '\0';
    in.at += prefix_len;
    if (statsd_style_prefix(&style, prefix) != 0)
        FUZZ_CHECK(strlen(prefix) > STATSD_PREFIX_MAX, "prefix refused");

    statsd_packet_t packet;
    FUZZ_CHECK(statsd_packet_init(&packet, max) == 0, "out of memory");
    sent.len = 0;
    sent.events = 0;
    sent.max = max;
    size_t lines_len = 0;
    uint64_t events = 0;
    while (in.at < in.size && lines_len + STATSD_LINE_MAX < sizeof lines) {
        char line[STATSD_LINE_MAX];
        uint64_t n;
        int len = metric_line(&in, &style, line, &n);
        line_check(&style, line, len);
        if (lines_len)
            lines[lines_len++] = '\n';
        memcpy(lines + lines_len, line, (size_t)len);
        lines_len += (size_t)len;
        events += n;
        statsd_packet_add(&packet, line, len, n, record, &sent);
    }
    statsd_packet_send(&packet, record, &sent);
    FUZZ_CHECK(packet.len == 0 && packet.events == 0, "left in the packet");
    FUZZ_CHECK(sent.len == lines_len && !memcmp(sent.joined, lines, lines_len),
               "the datagrams do not carry the lines");
    FUZZ_CHECK(sent.events == events, "events %llu, sent %llu",
               (unsigned long long)events, (unsigned long long)sent.events);
    statsd_packet_free(&packet);
    return 0;
}
