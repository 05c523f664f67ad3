/* Fuzz target: syslog messages, RFC 5424 with structured data and RFC
 * 3164, as the syslog sink writes them (plugins/syslog/message.c).
 *
 * Input: [flags][facility][max_size: 2 bytes][15 severity overrides]
 * [hostname][app_name][sd_id] (each one length byte, then its bytes; a
 * value the sink's open would refuse takes the sink's default) and the
 * event record (missing bytes zero). A message must fit max_size, hold no
 * control character and be UTF-8, start with its PRI, carry the MSG a
 * syslog server reads back as the event's text (or its start and the
 * truncation mark), and RFC 5424 structured data must parse as RFC 5424
 * section 6.3 has it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmqsink.h>

#include "target.h"
#include "host.h"
#include "message.h"

#define MARK SYSLOG_TRUNCATION_MARK
#define MARK_LEN (sizeof MARK - 1)

typedef struct input {
    const uint8_t *data;
    size_t size, at;
} input_t;

static unsigned input_byte(input_t *in)
{
    return in->at < in->size ? in->data[in->at++] : 0;
}

/* A string of up to 255 bytes into buf; "" past the end. */
static void input_string(input_t *in, char *buf, size_t cap)
{
    size_t len = input_byte(in);
    if (len > in->size - in->at)
        len = in->size - in->at;
    if (len >= cap)
        len = cap - 1;
    memcpy(buf, in->data + in->at, len);
    buf[len] = '\0';
    in->at += len;
}

static void style_read(input_t *in, syslog_style_t *style, char *app_name,
                       char *sd_id)
{
    unsigned flags = input_byte(in);
    style->format = flags & 1 ? SYSLOG_RFC3164 : SYSLOG_RFC5424;
    style->hostname_in_3164 = flags & 2;
    style->facility = (int)(input_byte(in) % 24);
    unsigned size = input_byte(in) | input_byte(in) << 8;
    style->max_size = SYSLOG_SIZE_MIN + size % (65535 - SYSLOG_SIZE_MIN + 1);
    for (int i = 0; i < ZMQSINK_EVENT_TYPES; i++) {
        unsigned severity = input_byte(in) % 9;
        style->severity[i] = severity == 8 ? -1 : (int)severity;
    }
    input_string(in, style->hostname, sizeof style->hostname);
    if (!syslog_printable(style->hostname, SYSLOG_HOSTNAME_MAX))
        strcpy(style->hostname, "-");
    input_string(in, app_name, SYSLOG_APP_NAME_MAX + 2);
    if (!syslog_printable(app_name, SYSLOG_APP_NAME_MAX))
        strcpy(app_name, "zmqsink");
    input_string(in, sd_id, SYSLOG_SD_NAME_MAX + 2);
    if (!syslog_sd_id_valid(sd_id))
        strcpy(sd_id, "zmqsink@32473");
    style->app_name = app_name;
    style->sd_id = sd_id;
    style->pid = 4242;
}

/* ---- reading a message back ---- */

/* Skips n space-separated header fields; NULL when there are fewer. */
static const char *skip_fields(const char *p, const char *end, int n)
{
    for (; n > 0; n--) {
        p = memchr(p, ' ', (size_t)(end - p));
        if (!p)
            return NULL;
        p++;
    }
    return p;
}

/* The end of an SD-NAME at p (RFC 5424 6.3.2): 1 to 32 printable
 * characters but '=', ' ', ']' and '"'; NULL when there is none. */
static const char *sd_name(const char *p, const char *end)
{
    const char *start = p;
    while (p < end && *p > 32 && *p < 127 && !strchr("= ]\"", *p))
        p++;
    return p > start && p - start <= 32 ? p : NULL;
}

/* One SD-ELEMENT: "[" SD-ID *(SP PARAM-NAME "=" DQUOTE PARAM-VALUE DQUOTE)
 * "]", where the value escapes '"', '\' and ']' with a backslash, and a
 * backslash never stands alone here (the sink doubles every other one).
 * Returns the end of the element, or NULL. */
static const char *sd_element(const char *p, const char *end)
{
    if (p == end || *p++ != '[' || !(p = sd_name(p, end)))
        return NULL;
    while (p < end && *p == ' ') {
        const char *eq = sd_name(p + 1, end);
        if (!eq || end - eq < 2 || eq[0] != '=' || eq[1] != '"')
            return NULL;
        for (p = eq + 2; p < end && *p != '"'; p++) {
            if (*p == ']')
                return NULL;
            if (*p == '\\' && (++p == end || !strchr("\"\\]", *p)))
                return NULL;
        }
        if (p == end)
            return NULL;
        p++; /* the closing quote */
    }
    return p < end && *p == ']' ? p + 1 : NULL;
}

/* The MSG as the sink meant it: the rendering, or its start and the mark
 * when cut. */
static void msg_check(const char *msg, size_t len, const char *whole,
                      size_t whole_len, long cut)
{
    if (!cut) {
        FUZZ_CHECK(len == whole_len && !memcmp(msg, whole, len),
                   "MSG '%.*s' is not '%s'", (int)len, msg, whole);
        return;
    }
    FUZZ_CHECK(len >= MARK_LEN && !memcmp(msg + len - MARK_LEN, MARK, MARK_LEN),
               "cut MSG without the mark: '%.*s'", (int)len, msg);
    FUZZ_CHECK(len - MARK_LEN < whole_len &&
                   !memcmp(msg, whole, len - MARK_LEN),
               "cut MSG '%.*s' is not the start of '%s'", (int)len, msg, whole);
}

static void message_check(const syslog_style_t *style,
                          const zmqsink_event_t *ev, const bytes_t *line,
                          long cut)
{
    const char *p = line->data, *end = line->data + line->len;
    FUZZ_CHECK(line->len <= style->max_size, "%zu bytes over max_size %zu",
               line->len, style->max_size);
    FUZZ_CHECK(!fuzz_has_control(p, line->len), "%.*s", (int)line->len, p);
    FUZZ_CHECK(fuzz_utf8_valid(p, line->len), "%.*s", (int)line->len, p);
    FUZZ_CHECK(cut == 0 || cut > (long)style->max_size, "cut %ld", cut);
    unsigned pri = 0;
    size_t digits = line->len > 1 && p[0] == '<' ? strspn(p + 1, "0123456789")
                                                 : 0;
    for (size_t i = 1; i <= digits && i <= 3; i++)
        pri = pri * 10 + (unsigned)(p[i] - '0');
    FUZZ_CHECK(digits >= 1 && digits <= 3 && p[digits + 1] == '>' && pri < 192,
               "PRI: %.*s", (int)line->len, p);
    bool rfc5424 = style->format == SYSLOG_RFC5424;
    static char whole[16384];
    int whole_len = zmqsink_format_event(
        rfc5424 ? ZMQSINK_FORMAT_TEXT : ZMQSINK_FORMAT_LOGFMT, ev, whole,
        sizeof whole);
    if (rfc5424) {
        /* VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID */
        p = skip_fields(p, end, 6);
        FUZZ_CHECK(p, "header: %.*s", (int)line->len, line->data);
        if (p < end && *p == '-')
            p++; /* NILVALUE: the SD did not fit */
        else
            p = sd_element(p, end);
        FUZZ_CHECK(p && p < end && *p == ' ', "SD: %.*s", (int)line->len,
                   line->data);
        p++;
    } else {
        /* TIMESTAMP ("Mmm dd hh:mm:ss") [HOSTNAME] TAG[PID]: */
        char tag[128];
        int n = snprintf(tag, sizeof tag, "%s[%lu]: ", style->app_name,
                         style->pid);
        p += digits + 2 + 15 + 1;
        if (style->hostname_in_3164)
            p = skip_fields(p, end, 1);
        FUZZ_CHECK(p && end - p >= n && !memcmp(p, tag, (size_t)n),
                   "header: %.*s", (int)line->len, line->data);
        p += n;
    }
    msg_check(p, (size_t)(end - p), whole, (size_t)whole_len, cut);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const zmqsink_host_t *host;
    if (!host)
        host = fuzz_host("/");
    input_t in = {data, size, 0};
    syslog_style_t style;
    char app_name[SYSLOG_APP_NAME_MAX + 2], sd_id[SYSLOG_SD_NAME_MAX + 2];
    style_read(&in, &style, app_name, sd_id);
    zmqsink_event_t ev;
    memset(&ev, 0, sizeof ev);
    memcpy(&ev, data + in.at,
           size - in.at < sizeof ev ? size - in.at : sizeof ev);
    /* Kept from one input to the next, as a sink keeps them. */
    static syslog_buffers_t b;
    long cut = syslog_message(&style, host, &ev, &b);
    FUZZ_CHECK(cut >= 0 && bytes_reserve(&b.line, 1) == 0, "out of memory");
    b.line.data[b.line.len] = '\0'; /* for reading it back */
    message_check(&style, &ev, &b.line, cut);
    return 0;
}
