/* Syslog messages of events.
 *
 * RFC 5424: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG, where
 * TIMESTAMP is the event's `ts` (RFC 3339 UTC, microseconds), PROCID the pid,
 * MSGID the event name, MSG the text rendering of the event, and SD one
 * element `[zmqsink@32473 ts="..." seq="..." ...]` carrying the json keys in
 * the json order (an unknown peer and duration are left out, as in logfmt).
 * 32473 is the private enterprise number RFC 5612 reserves for
 * documentation: zmqsink has none of its own, so `sd_id` can change it. The
 * SD is made from the event's fields as the core walks them for json
 * (zmqsink_event_fields()), so it can never drift from the json contract:
 * values are escaped as json escapes them, then for SD ('"', '\' and ']'
 * get a backslash); a control character keeps its json escape (\n,
 * \u001b), with the backslash doubled, so no message ever holds a newline.
 * Its `severity` is the event's, as in json; the PRI may differ when the
 * `severity` option overrides it for this sink.
 *
 * RFC 3164: <PRI>Mmm dd hh:mm:ss HOSTNAME APP-NAME[PID]: MSG with local
 * time, as syslog(3) writes it, and the logfmt rendering as MSG so that the
 * fields survive; the HOSTNAME is left out where syslog(3) leaves it out.
 *
 * A message longer than max_size is cut at a UTF-8 boundary and ends with
 * SYSLOG_TRUNCATION_MARK. The MSG part is cut first; if the SD alone does
 * not fit, it becomes "-" (the MSG carries the same facts). */
#include "message.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"

#define MARK_LEN (sizeof SYSLOG_TRUNCATION_MARK - 1)

bool syslog_printable(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 33 || s[i] > 126)
            return false;
    return true;
}

bool syslog_sd_id_valid(const char *s)
{
    return syslog_printable(s, SYSLOG_SD_NAME_MAX) && !strpbrk(s, "=]\"") &&
           strchr(s, '@');
}

/* Renders the event with a host formatter into b (replacing its text). */
static int render(const zmqsink_host_t *host, zmqsink_format_t format,
                  const zmqsink_event_t *ev, bytes_t *b)
{
    b->len = 0;
    return bytes_put_event(b, host, format, ev);
}

/* ---- structured data from the event's fields ---- */

/* SD params being built from zmqsink_event_fields(). */
typedef struct sd_params {
    bytes_t *sd;
    bool *failed;
    char ts[64]; /* the `ts` field, for the header: copied, since a field
                    lives only during its call */
    size_t ts_len;
} sd_params_t;

/* Turns the json escaping of a value into an SD PARAM-VALUE (RFC 5424
 * 6.3.3): \" and \\ are the same in both; ']' gets a backslash; U+FFFD
 * goes as itself; any other escape (\n, \u001b) is kept with its
 * backslash doubled, so no message holds a control character. */
static void sd_put(void *ctx, const char *text, size_t n)
{
    sd_params_t *p = ctx;
    if (text[0] == '\\') {
        bool same = n == 2 && (text[1] == '"' || text[1] == '\\');
        if (n == 6 && memcmp(text, "\\ufffd", 6) == 0) {
            bytes_put(p->sd, "\xef\xbf\xbd", 3, p->failed);
            return;
        }
        if (!same)
            bytes_put(p->sd, "\\", 1, p->failed); /* \n goes as \\n */
        bytes_put(p->sd, text, n, p->failed);
        return;
    }
    for (const char *end = text + n, *bracket; text < end; text = bracket + 1) {
        bracket = memchr(text, ']', (size_t)(end - text));
        if (!bracket) {
            bytes_put(p->sd, text, (size_t)(end - text), p->failed);
            return;
        }
        bytes_put(p->sd, text, (size_t)(bracket - text), p->failed);
        bytes_put(p->sd, "\\]", 2, p->failed);
    }
}

/* ` key="value"` for each known field. */
static int sd_param(const zmqsink_field_t *field, void *arg)
{
    sd_params_t *p = arg;
    if (field->kind == ZMQSINK_FIELD_NULL)
        return 0;
    if (field->key_len == 2 && memcmp(field->key, "ts", 2) == 0 &&
        field->len <= sizeof p->ts) {
        memcpy(p->ts, field->text, field->len);
        p->ts_len = field->len;
    }
    bytes_put(p->sd, " ", 1, p->failed);
    bytes_put(p->sd, field->key, field->key_len, p->failed);
    bytes_put(p->sd, "=\"", 2, p->failed);
    /* Most values need no escape for json, nor a ']' escaped for SD:
     * what json_escape() and sd_put() would give is the value itself. */
    bool plain = field->kind != ZMQSINK_FIELD_STRING ||
                 (json_plain_prefix(field->text, field->len) == field->len &&
                  !memchr(field->text, ']', field->len));
    if (plain)
        bytes_put(p->sd, field->text, field->len, p->failed);
    else
        json_escape(field->text, field->len, sd_put, p);
    bytes_put(p->sd, "\"", 1, p->failed);
    return 0;
}

/* ---- messages ---- */

static int priority(const syslog_style_t *style, const zmqsink_event_t *ev)
{
    int severity = ev->severity > ZMQSINK_SEV_DEBUG ? ZMQSINK_SEV_DEBUG
                                                    : ev->severity;
    if (ev->type && (ev->type & (ev->type - 1)) == 0) {
        int index = __builtin_ctz(ev->type);
        if (index < ZMQSINK_EVENT_TYPES && style->severity[index] >= 0)
            severity = style->severity[index];
    }
    return style->facility * 8 + severity;
}

static const char *event_name(const zmqsink_event_t *ev)
{
    const char *name = zmqsink_event_name(ev->type);
    return name ? name : "-";
}

/* Length of the longest prefix of s[0..n) no longer than max that ends at
 * a UTF-8 character boundary. */
static size_t utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    return max;
}

/* line (which holds the head) + sd-or-nothing + " " + msg, cut to
 * max_size. The head ends just before the SD (5424) or the MSG (3164); sd
 * is NULL for 3164. Returns 0, or the whole length when cut. */
static long assemble(const syslog_style_t *style, const bytes_t *sd,
                     const bytes_t *msg, bytes_t *line, bool *failed)
{
    size_t head_len = line->len;
    size_t sd_len = sd ? sd->len + 1 : 0; /* with the space before MSG */
    size_t whole = head_len + sd_len + msg->len;
    if (sd && whole > style->max_size &&
        head_len + sd_len + MARK_LEN > style->max_size) {
        bytes_put(line, "- ", 2, failed); /* the SD cannot fit: leave it out */
    } else if (sd) {
        bytes_put(line, sd->data, sd->len, failed);
        bytes_put(line, " ", 1, failed);
    }
    if (line->len + msg->len <= style->max_size) {
        bytes_put(line, msg->data, msg->len, failed);
        return 0;
    }
    /* The head fits: SYSLOG_SIZE_MIN leaves room for it and the mark. */
    size_t room = style->max_size - line->len - MARK_LEN;
    bytes_put(line, msg->data, utf8_cut(msg->data, msg->len, room), failed);
    bytes_put(line, SYSLOG_TRUNCATION_MARK, MARK_LEN, failed);
    return (long)whole;
}

/* <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG */
static long format_rfc5424(const syslog_style_t *style,
                           const zmqsink_host_t *host,
                           const zmqsink_event_t *ev, syslog_buffers_t *b)
{
    if (render(host, ZMQSINK_FORMAT_TEXT, ev, &b->msg) < 0)
        return -1;
    bool failed = false;
    sd_params_t params = {&b->sd, &failed, "-", 1};
    b->sd.len = 0;
    bytes_put(&b->sd, "[", 1, &failed);
    bytes_put_str(&b->sd, style->sd_id, &failed);
    zmqsink_event_fields(ev, sd_param, &params);
    bytes_put(&b->sd, "]", 1, &failed);
    bytes_t *line = &b->line;
    line->len = 0;
    bytes_put(line, "<", 1, &failed);
    bytes_put_u64(line, (uint64_t)priority(style, ev), &failed);
    bytes_put(line, ">1 ", 3, &failed);
    bytes_put(line, params.ts, params.ts_len, &failed);
    bytes_put(line, " ", 1, &failed);
    bytes_put_str(line, style->hostname, &failed);
    bytes_put(line, " ", 1, &failed);
    bytes_put_str(line, style->app_name, &failed);
    bytes_put(line, " ", 1, &failed);
    bytes_put_u64(line, style->pid, &failed);
    bytes_put(line, " ", 1, &failed);
    bytes_put_str(line, event_name(ev), &failed);
    bytes_put(line, " ", 1, &failed);
    long cut = failed ? 0 : assemble(style, &b->sd, &b->msg, line, &failed);
    return failed ? -1 : cut;
}

/* <PRI>Mmm dd hh:mm:ss [HOSTNAME ]APP-NAME[PID]: MSG */
static long format_rfc3164(const syslog_style_t *style,
                           const zmqsink_host_t *host,
                           const zmqsink_event_t *ev, syslog_buffers_t *b)
{
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr",
                                       "May", "Jun", "Jul", "Aug",
                                       "Sep", "Oct", "Nov", "Dec"};
    if (render(host, ZMQSINK_FORMAT_LOGFMT, ev, &b->msg) < 0)
        return -1;
    time_t sec = (time_t)(ev->time_ns / 1000000000);
    struct tm tm;
    if (!localtime_r(&sec, &tm))
        memset(&tm, 0, sizeof tm);
    bool named = style->hostname_in_3164;
    char head_text[64 + SYSLOG_HOSTNAME_MAX + SYSLOG_APP_NAME_MAX];
    int n = snprintf(head_text, sizeof head_text,
                     "<%d>%s %2d %02d:%02d:%02d %s%s%s[%lu]: ",
                     priority(style, ev), months[tm.tm_mon % 12], tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec,
                     named ? style->hostname : "", named ? " " : "",
                     style->app_name, style->pid);
    bool failed = false;
    b->line.len = 0;
    bytes_put(&b->line, head_text, (size_t)n, &failed);
    long cut = failed ? 0 : assemble(style, NULL, &b->msg, &b->line, &failed);
    return failed ? -1 : cut;
}

long syslog_message(const syslog_style_t *style, const zmqsink_host_t *host,
                    const zmqsink_event_t *ev, syslog_buffers_t *b)
{
    return style->format == SYSLOG_RFC5424
               ? format_rfc5424(style, host, ev, b)
               : format_rfc3164(style, host, ev, b);
}

void syslog_buffers_free(syslog_buffers_t *b)
{
    bytes_free(&b->msg);
    bytes_free(&b->sd);
    bytes_free(&b->line);
}
