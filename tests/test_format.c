/* Tests of the event, severity and socket type names and of the json,
 * logfmt and text formatters. */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>
#include <zmqsink/event.h>

#include "format.h"
#include "json.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define LINE_MAX_LEN 8192

/* 2026-11-24T21:00:00.123456789Z */
#define T0_NS INT64_C(1795554000123456789)
#define T0_TS "2026-11-24T21:00:00.123456Z"

/* ---- helpers ---- */

static zmqsink_event_t accepted_event(void)
{
    zmqsink_event_t ev = {
        .seq = 42, .time_ns = T0_NS, .duration_ms = -1,
        .type = ZMQSINK_EVENT_ACCEPTED, .value = 12,
        .socket_type = ZMQ_ROUTER, .severity = ZMQSINK_SEV_INFO,
    };
    strcpy(ev.socket, "frontend");
    strcpy(ev.endpoint, "tcp://127.0.0.1:5555");
    strcpy(ev.peer, "127.0.0.1:40312");
    return ev;
}

static zmqsink_event_t disconnected_event(void)
{
    zmqsink_event_t ev = {
        .seq = 43, .time_ns = T0_NS, .duration_ms = 1234,
        .type = ZMQSINK_EVENT_DISCONNECTED, .value = 12,
        .socket_type = ZMQ_DEALER, .severity = ZMQSINK_SEV_NOTICE,
    };
    strcpy(ev.socket, "backend");
    strcpy(ev.endpoint, "tcp://10.0.0.1:6000");
    return ev;
}

/* The host name as the formatter writes it; the exact-line tests assume it
 * needs no escaping or quoting, which holds for any RFC 1123 name. */
static const char *plain_host_name(void)
{
    static char host[256];
    cr_assert_eq(gethostname(host, sizeof host - 1), 0);
    cr_assert_eq(strspn(host, "abcdefghijklmnopqrstuvwxyz"
                              "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_"),
                 strlen(host), "host name '%s' is not plain", host);
    return host;
}

/* Formats into buf (LINE_MAX_LEN), checking the line fitted. */
static void format_line(zmqsink_format_t format, const zmqsink_event_t *ev,
                        char *buf)
{
    size_t n = zmqsink_format_event(format, ev, buf, LINE_MAX_LEN);
    cr_assert_lt(n, LINE_MAX_LEN);
    cr_assert_eq(strlen(buf), n);
}

static void fill(char *field, size_t size, const char *bytes, size_t len)
{
    cr_assert_leq(len, size);
    memset(field, 0, size);
    memcpy(field, bytes, len);
}

/* A UTF-8 sequence decoded by code point (an approach independent of the
 * formatter's): its length, or 0 when invalid. */
static size_t utf8_length(const unsigned char *s, size_t n)
{
    static const uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
    size_t len;
    uint32_t cp;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xE0) == 0xC0)
        len = 2, cp = s[0] & 0x1F;
    else if ((s[0] & 0xF0) == 0xE0)
        len = 3, cp = s[0] & 0x0F;
    else if ((s[0] & 0xF8) == 0xF0)
        len = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < smallest[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

static bool valid_utf8(const char *text, size_t n)
{
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0, k; i < n; i += k)
        if ((k = utf8_length(s + i, n - i)) == 0)
            return false;
    return true;
}

/* ---- a strict JSON validator (RFC 8259, strings checked as UTF-8) ---- */

typedef struct cursor {
    const unsigned char *p, *end;
} cursor_t;

static bool json_value(cursor_t *c, int depth);

static void json_space(cursor_t *c)
{
    while (c->p < c->end && strchr(" \t\r\n", *c->p) && *c->p)
        c->p++;
}

static bool json_eat(cursor_t *c, char ch)
{
    json_space(c);
    if (c->p < c->end && *c->p == (unsigned char)ch) {
        c->p++;
        return true;
    }
    return false;
}

static bool json_string(cursor_t *c)
{
    if (!json_eat(c, '"'))
        return false;
    while (c->p < c->end) {
        unsigned char ch = *c->p;
        if (ch == '"') {
            c->p++;
            return true;
        }
        if (ch < 0x20)
            return false;
        if (ch != '\\') {
            size_t k = utf8_length(c->p, (size_t)(c->end - c->p));
            if (k == 0)
                return false;
            c->p += k;
            continue;
        }
        if (++c->p >= c->end)
            return false;
        if (*c->p == 'u') {
            for (int i = 1; i <= 4; i++)
                if (c->p + i >= c->end || !strchr("0123456789abcdefABCDEF",
                                                  c->p[i]) || !c->p[i])
                    return false;
            c->p += 5;
        } else if (*c->p && strchr("\"\\/bfnrt", *c->p)) {
            c->p++;
        } else {
            return false;
        }
    }
    return false;
}

static size_t json_digits(cursor_t *c)
{
    size_t n = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
        c->p++, n++;
    return n;
}

static bool json_number(cursor_t *c)
{
    json_space(c);
    if (c->p < c->end && *c->p == '-')
        c->p++;
    if (c->p < c->end && *c->p == '0')
        c->p++;
    else if (json_digits(c) == 0)
        return false;
    if (c->p < c->end && *c->p == '.' && (c->p++, json_digits(c) == 0))
        return false;
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
            c->p++;
        if (json_digits(c) == 0)
            return false;
    }
    return true;
}

static bool json_literal(cursor_t *c, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
        return false;
    c->p += n;
    return true;
}

/* Object members or array items up to the closing bracket. */
static bool json_members(cursor_t *c, char close, bool keyed, int depth)
{
    if (json_eat(c, close))
        return true;
    do {
        if (keyed && !(json_string(c) && json_eat(c, ':')))
            return false;
        if (!json_value(c, depth + 1))
            return false;
    } while (json_eat(c, ','));
    return json_eat(c, close);
}

static bool json_value(cursor_t *c, int depth)
{
    if (depth > 32)
        return false;
    json_space(c);
    if (c->p >= c->end)
        return false;
    switch (*c->p) {
    case '{': c->p++; return json_members(c, '}', true, depth);
    case '[': c->p++; return json_members(c, ']', false, depth);
    case '"': return json_string(c);
    case 't': return json_literal(c, "true");
    case 'f': return json_literal(c, "false");
    case 'n': return json_literal(c, "null");
    default: return json_number(c);
    }
}

static bool json_valid(const char *text)
{
    cursor_t c = {(const unsigned char *)text,
                  (const unsigned char *)text + strlen(text)};
    if (!json_value(&c, 0))
        return false;
    json_space(&c);
    return c.p == c.end;
}

Test(json_validator, accepts_and_rejects)
{
    static const struct {
        const char *text;
        bool valid;
    } cases[] = {
        {"{}", true},
        {"{\"a\":[1,-2.5e+3,true,false,null,\"\\u00e9\\n\"]}", true},
        {"{\"a\":\"\xc3\xa9\"}", true},
        {"{\"a\":1,}", false},
        {"{\"a\":01}", false},
        {"{\"a\":\"\n\"}", false},
        {"{\"a\":\"\\x\"}", false},
        {"{\"a\":\"\\u12\"}", false},
        {"{\"a\":\"\xff\"}", false},
        {"{\"a\":\"\xc3\"}", false},
        {"{\"a\":1} x", false},
        {"{\"a\":\"unterminated}", false},
    };
    for (size_t i = 0; i < COUNT(cases); i++)
        cr_expect_eq(json_valid(cases[i].text), cases[i].valid, "case %zu: %s",
                     i, cases[i].text);
}

/* ---- exact lines ---- */

typedef zmqsink_event_t (*event_maker_t)(void);

Test(format, exact_lines)
{
    static const struct {
        zmqsink_format_t format;
        event_maker_t make;
        const char *expected; /* printf template over host, pid */
    } cases[] = {
        {ZMQSINK_FORMAT_JSON, accepted_event,
         "{\"ts\":\"" T0_TS "\",\"seq\":42,\"event\":\"accepted\","
         "\"severity\":\"info\",\"socket\":\"frontend\","
         "\"socket_type\":\"router\",\"endpoint\":\"tcp://127.0.0.1:5555\","
         "\"peer\":\"127.0.0.1:40312\",\"value\":12,\"host\":\"%s\","
         "\"pid\":%d}"},
        {ZMQSINK_FORMAT_JSON, disconnected_event,
         "{\"ts\":\"" T0_TS "\",\"seq\":43,\"event\":\"disconnected\","
         "\"severity\":\"notice\",\"socket\":\"backend\","
         "\"socket_type\":\"dealer\",\"endpoint\":\"tcp://10.0.0.1:6000\","
         "\"peer\":null,\"value\":12,\"duration_ms\":1234,\"host\":\"%s\","
         "\"pid\":%d}"},
        {ZMQSINK_FORMAT_LOGFMT, accepted_event,
         "ts=" T0_TS " seq=42 event=accepted severity=info socket=frontend "
         "socket_type=router endpoint=tcp://127.0.0.1:5555 "
         "peer=127.0.0.1:40312 value=12 host=%s pid=%d"},
        {ZMQSINK_FORMAT_LOGFMT, disconnected_event,
         "ts=" T0_TS " seq=43 event=disconnected severity=notice "
         "socket=backend socket_type=dealer endpoint=tcp://10.0.0.1:6000 "
         "value=12 duration_ms=1234 host=%s pid=%d"},
        {ZMQSINK_FORMAT_TEXT, accepted_event,
         T0_TS " info     frontend(router) accepted tcp://127.0.0.1:5555 "
               "peer=127.0.0.1:40312 value=12"},
        {ZMQSINK_FORMAT_TEXT, disconnected_event,
         T0_TS " notice   backend(dealer) disconnected tcp://10.0.0.1:6000 "
               "value=12 duration=1234ms"},
    };
    const char *host = plain_host_name();
    for (size_t i = 0; i < COUNT(cases); i++) {
        char expected[LINE_MAX_LEN], line[LINE_MAX_LEN];
        snprintf(expected, sizeof expected, cases[i].expected, host,
                 (int)getpid());
        zmqsink_event_t ev = cases[i].make();
        format_line(cases[i].format, &ev, line);
        cr_expect_str_eq(line, expected, "case %zu", i);
    }
}

Test(format, walk_order_and_kinds)
{
    static const char *const keys[] = {
        "ts", "seq", "event", "severity", "socket", "socket_type",
        "endpoint", "peer", "value", "reason", "duration_ms", "host", "pid",
    };
    cr_assert_eq(COUNT(keys), ZS__FIELD_COUNT);
    zmqsink_event_t accepted = accepted_event();
    zmqsink_event_t disconnected = disconnected_event();
    zs__event_fields_t a, d;
    zs__event_fields(&accepted, &a);
    zs__event_fields(&disconnected, &d);
    for (size_t i = 0; i < COUNT(keys); i++) {
        cr_expect_str_eq(a.field[i].key, keys[i]);
        cr_expect_str_eq(d.field[i].key, keys[i]);
    }
    cr_expect_eq(a.field[ZS__FIELD_PEER].kind, ZS__KIND_STRING);
    cr_expect_eq(d.field[ZS__FIELD_PEER].kind, ZS__KIND_NULL);
    cr_expect_eq(a.field[ZS__FIELD_DURATION_MS].kind, ZS__KIND_ABSENT);
    cr_expect_eq(d.field[ZS__FIELD_DURATION_MS].kind, ZS__KIND_NUMBER);
    cr_expect_eq(a.field[ZS__FIELD_SEQ].kind, ZS__KIND_NUMBER);
    cr_expect_eq(a.field[ZS__FIELD_PID].kind, ZS__KIND_NUMBER);
    cr_expect_eq(a.field[ZS__FIELD_TS].kind, ZS__KIND_STRING);
    const zs__field_t *seq = &a.field[ZS__FIELD_SEQ];
    cr_expect_eq(seq->len, 2);
    cr_expect_eq(memcmp(seq->text, "42", 2), 0);
}

Test(format, timestamps)
{
    static const struct {
        int64_t time_ns;
        const char *ts;
    } cases[] = {
        {0, "1970-01-01T00:00:00.000000Z"},
        {-1, "1970-01-01T00:00:00.000000Z"},
        {INT64_MIN, "1970-01-01T00:00:00.000000Z"},
        {999, "1970-01-01T00:00:00.000000Z"},
        {1000, "1970-01-01T00:00:00.000001Z"},
        {INT64_C(951782400000000000), "2000-02-29T00:00:00.000000Z"},
        {INT64_C(1709251199999999999), "2024-02-29T23:59:59.999999Z"},
        {INT64_C(94694399000000000), "1972-12-31T23:59:59.000000Z"},
        {INT64_C(978307199000000000), "2000-12-31T23:59:59.000000Z"},
        {INT64_C(978307200000000000), "2001-01-01T00:00:00.000000Z"},
        {INT64_C(4107542399000000000), "2100-02-28T23:59:59.000000Z"},
        {INT64_C(4107542400000000000), "2100-03-01T00:00:00.000000Z"},
        {T0_NS, T0_TS},
        {INT64_MAX, "2262-04-11T23:47:16.854775Z"},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        zmqsink_event_t ev = accepted_event();
        ev.time_ns = cases[i].time_ns;
        zs__event_fields_t f;
        zs__event_fields(&ev, &f);
        const zs__field_t *ts = &f.field[ZS__FIELD_TS];
        cr_expect_eq(ts->len, strlen(cases[i].ts), "case %zu", i);
        cr_expect_eq(memcmp(ts->text, cases[i].ts, strlen(cases[i].ts)), 0,
                     "case %zu: %.*s", i, (int)ts->len, ts->text);
    }
}

/* The formatter computes dates by hand; libc's gmtime_r is the reference. */
Test(format, timestamps_match_gmtime)
{
    uint64_t rng = 0x853C49E6748FEA9Bu;
    for (int i = 0; i < 20000; i++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        /* Half anywhere up to 2262, half within a second of midnight. */
        int64_t ns = (int64_t)(rng >> 1);
        if (i % 2)
            ns = (int64_t)(rng % 100000) * INT64_C(86400000000000) +
                 ((int64_t)(rng >> 40) % 3 - 1) * 1000000000;
        if (ns < 0)
            ns = 0;
        time_t sec = (time_t)(ns / 1000000000);
        struct tm tm;
        cr_assert_not_null(gmtime_r(&sec, &tm));
        char want[64];
        size_t n = strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(want + n, sizeof want - n, ".%06dZ",
                 (int)(ns % 1000000000 / 1000));
        zmqsink_event_t ev = accepted_event();
        ev.time_ns = ns;
        zs__event_fields_t f;
        zs__event_fields(&ev, &f);
        const zs__field_t *ts = &f.field[ZS__FIELD_TS];
        cr_assert(ts->len == strlen(want) && !memcmp(ts->text, want, ts->len),
                  "%" PRId64 ": %.*s, want %s", ns, (int)ts->len, ts->text,
                  want);
    }
}

/* The pid is cached, and must be read again in the child of a fork. The
 * child answers through a pipe: a memory checker may change its exit code. */
static bool fields_have_own_pid(const zmqsink_event_t *ev)
{
    zs__event_fields_t f;
    zs__event_fields(ev, &f);
    char want[32];
    snprintf(want, sizeof want, "%d", (int)getpid());
    const zs__field_t *pid = &f.field[ZS__FIELD_PID];
    return pid->len == strlen(want) && memcmp(pid->text, want, pid->len) == 0;
}

Test(format, pid_follows_fork)
{
    zmqsink_event_t ev = accepted_event();
    cr_assert(fields_have_own_pid(&ev));
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        char answer = fields_have_own_pid(&ev) ? 'y' : 'n';
        _exit(write(fds[1], &answer, 1) == 1 ? 0 : 1);
    }
    close(fds[1]);
    char answer = 0;
    cr_expect_eq(read(fds[0], &answer, 1), 1);
    close(fds[0]);
    cr_assert_eq(waitpid(child, NULL, 0), child);
    cr_expect_eq(answer, 'y', "the child formatted its parent's pid");
}

Test(format, numbers_and_unknown_names)
{
    static const struct {
        uint64_t seq;
        uint32_t type, value;
        int severity, socket_type;
        const char *expected; /* from "seq" to "peer" */
    } cases[] = {
        {0, ZMQSINK_EVENT_LISTENING, 0, ZMQSINK_SEV_DEBUG, ZMQ_PAIR,
         "\"seq\":0,\"event\":\"listening\",\"severity\":\"debug\","
         "\"socket\":\"frontend\",\"socket_type\":\"pair\""},
        {UINT64_MAX, ZMQSINK_EVENT_HANDSHAKE_FAILED_AUTH, UINT32_MAX,
         ZMQSINK_SEV_EMERG, ZMQ_STREAM,
         "\"seq\":18446744073709551615,\"event\":\"handshake_failed_auth\","
         "\"severity\":\"emerg\",\"socket\":\"frontend\","
         "\"socket_type\":\"stream\""},
        {7, 0, 1, 8, -1,
         "\"seq\":7,\"event\":\"unknown\",\"severity\":\"unknown\","
         "\"socket\":\"frontend\",\"socket_type\":\"unknown\""},
        {7, 3, 1, 255, 12,
         "\"seq\":7,\"event\":\"unknown\",\"severity\":\"unknown\","
         "\"socket\":\"frontend\",\"socket_type\":\"unknown\""},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        zmqsink_event_t ev = accepted_event();
        ev.seq = cases[i].seq;
        ev.type = cases[i].type;
        ev.value = cases[i].value;
        ev.severity = (uint8_t)cases[i].severity;
        ev.socket_type = cases[i].socket_type;
        char line[LINE_MAX_LEN], value[32];
        format_line(ZMQSINK_FORMAT_JSON, &ev, line);
        cr_expect(strstr(line, cases[i].expected), "case %zu: %s", i, line);
        snprintf(value, sizeof value, ",\"value\":%" PRIu32 ",",
                 cases[i].value);
        cr_expect(strstr(line, value), "case %zu: %s", i, line);
        cr_expect(json_valid(line), "case %zu: %s", i, line);
    }
}

Test(format, duration_only_when_known)
{
    static const struct {
        int64_t duration_ms;
        const char *json, *logfmt, *text; /* NULL: key must be absent */
    } cases[] = {
        {-1, NULL, NULL, NULL},
        {-2, NULL, NULL, NULL},
        {INT64_MIN, NULL, NULL, NULL},
        {0, ",\"duration_ms\":0,", " duration_ms=0 ", " duration=0ms"},
        {1, ",\"duration_ms\":1,", " duration_ms=1 ", " duration=1ms"},
        {INT64_MAX, ",\"duration_ms\":9223372036854775807,",
         " duration_ms=9223372036854775807 ",
         " duration=9223372036854775807ms"},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        zmqsink_event_t ev = accepted_event();
        ev.duration_ms = cases[i].duration_ms;
        const struct {
            zmqsink_format_t format;
            const char *key, *expected;
        } formats[] = {
            {ZMQSINK_FORMAT_JSON, "duration_ms", cases[i].json},
            {ZMQSINK_FORMAT_LOGFMT, "duration_ms", cases[i].logfmt},
            {ZMQSINK_FORMAT_TEXT, "duration", cases[i].text},
        };
        for (size_t k = 0; k < COUNT(formats); k++) {
            char line[LINE_MAX_LEN];
            format_line(formats[k].format, &ev, line);
            if (formats[k].expected)
                cr_expect(strstr(line, formats[k].expected), "case %zu: %s",
                          i, line);
            else
                cr_expect_null(strstr(line, formats[k].key), "case %zu: %s",
                               i, line);
        }
    }
}

Test(format, peer_null_or_string)
{
    zmqsink_event_t with = accepted_event(), without = accepted_event();
    without.peer[0] = '\0';
    char line[LINE_MAX_LEN];
    format_line(ZMQSINK_FORMAT_JSON, &with, line);
    cr_expect(strstr(line, ",\"peer\":\"127.0.0.1:40312\",\"value\":"), "%s",
              line);
    format_line(ZMQSINK_FORMAT_JSON, &without, line);
    cr_expect(strstr(line, ",\"endpoint\":\"tcp://127.0.0.1:5555\","
                           "\"peer\":null,\"value\":"), "%s", line);
    format_line(ZMQSINK_FORMAT_LOGFMT, &with, line);
    cr_expect(strstr(line, " peer=127.0.0.1:40312 value="), "%s", line);
    format_line(ZMQSINK_FORMAT_LOGFMT, &without, line);
    cr_expect(strstr(line, " endpoint=tcp://127.0.0.1:5555 value="), "%s",
              line);
    format_line(ZMQSINK_FORMAT_TEXT, &with, line);
    cr_expect(strstr(line, " peer=127.0.0.1:40312 value="), "%s", line);
    format_line(ZMQSINK_FORMAT_TEXT, &without, line);
    cr_expect(strstr(line, "tcp://127.0.0.1:5555 value="), "%s", line);
}

/* ---- escaping ---- */

#define BYTES(s) s, sizeof(s) - 1

Test(format, json_escaping)
{
    static const struct {
        const char *in;
        size_t len;
        const char *out;
    } cases[] = {
        {BYTES("plain"), "plain"},
        {BYTES(""), ""},
        {BYTES("a\"b"), "a\\\"b"},
        {BYTES("a\\b"), "a\\\\b"},
        {BYTES("\b\f\n\r\t"), "\\b\\f\\n\\r\\t"},
        {BYTES("\x01\x1f"), "\\u0001\\u001f"},
        {BYTES("\x7f"), "\\u007f"},
        {BYTES("/ ~=<>&'"), "/ ~=<>&'"},
        {BYTES("\xc3\xa9"), "\xc3\xa9"},                 /* U+00E9 */
        {BYTES("\xe2\x82\xac"), "\xe2\x82\xac"},         /* U+20AC */
        {BYTES("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80"}, /* U+1F600 */
        {BYTES("\xef\xbf\xbf"), "\xef\xbf\xbf"},         /* U+FFFF */
        {BYTES("\xf4\x8f\xbf\xbf"), "\xf4\x8f\xbf\xbf"}, /* U+10FFFF */
        {BYTES("\xe2\x80\xa8"), "\xe2\x80\xa8"},         /* U+2028 */
        {BYTES("\x80"), "\\ufffd"},
        {BYTES("\xbf"), "\\ufffd"},
        {BYTES("\xc0\xaf"), "\\ufffd\\ufffd"},                  /* overlong */
        {BYTES("\xc1\xbf"), "\\ufffd\\ufffd"},                  /* overlong */
        {BYTES("\xe0\x80\xaf"), "\\ufffd\\ufffd\\ufffd"},       /* overlong */
        {BYTES("\xed\xa0\x80"), "\\ufffd\\ufffd\\ufffd"},       /* surrogate */
        {BYTES("\xf0\x80\x80\xaf"), "\\ufffd\\ufffd\\ufffd\\ufffd"},
        {BYTES("\xf4\x90\x80\x80"), "\\ufffd\\ufffd\\ufffd\\ufffd"},
        {BYTES("\xf5\x80\x80\x80"), "\\ufffd\\ufffd\\ufffd\\ufffd"},
        {BYTES("\xfe\xff"), "\\ufffd\\ufffd"},
        {BYTES("\xe2\x82x"), "\\ufffd\\ufffdx"}, /* cut by another byte */
        {BYTES("x\xc3"), "x\\ufffd"},            /* cut by the end */
        {BYTES("\xf0\x9f\x98"), "\\ufffd\\ufffd\\ufffd"},
        {BYTES("a\xc3\xa9\x80" "b\""), "a\xc3\xa9\\ufffdb\\\""},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        zmqsink_event_t ev = accepted_event();
        fill(ev.socket, sizeof ev.socket, cases[i].in, cases[i].len);
        char line[LINE_MAX_LEN], expected[LINE_MAX_LEN];
        format_line(ZMQSINK_FORMAT_JSON, &ev, line);
        snprintf(expected, sizeof expected,
                 ",\"socket\":\"%s\",\"socket_type\":", cases[i].out);
        cr_expect(strstr(line, expected), "case %zu: %s", i, line);
        cr_expect(json_valid(line), "case %zu: %s", i, line);
    }
}

Test(format, json_escapes_every_control_byte)
{
    for (int c = 1; c < 0x20; c++) {
        const char *shorthand = NULL;
        switch (c) {
        case '\b': shorthand = "\\b"; break;
        case '\t': shorthand = "\\t"; break;
        case '\n': shorthand = "\\n"; break;
        case '\f': shorthand = "\\f"; break;
        case '\r': shorthand = "\\r"; break;
        }
        char expected[64], line[LINE_MAX_LEN];
        if (shorthand)
            snprintf(expected, sizeof expected, "\"socket\":\"<%s>\"",
                     shorthand);
        else
            snprintf(expected, sizeof expected, "\"socket\":\"<\\u%04x>\"", c);
        zmqsink_event_t ev = accepted_event();
        snprintf(ev.socket, sizeof ev.socket, "<%c>", c);
        format_line(ZMQSINK_FORMAT_JSON, &ev, line);
        cr_expect(strstr(line, expected), "byte %#x: %s", c, line);
        cr_expect(json_valid(line), "byte %#x: %s", c, line);
    }
}

static bool plain_ascii(unsigned char c)
{
    return c >= 0x20 && c < 0x7F && c != '"' && c != '\\';
}

/* json_plain_prefix() looks at 8 bytes at once: any byte, after any
 * neighbour (carries between bytes), at any place of a run of plain ones,
 * ends the prefix where a byte at a time would. No valid UTF-8 forms here
 * (a lead byte is followed by 'a' or the end), so that is the first byte
 * that is not plain ASCII. */
Test(format, plain_prefix_stops_at_every_byte_to_escape)
{
    enum { LEN = 24 };
    const unsigned char neighbours[] = {'a', ' ', '~', 0x1F, 0x7F, 0xFF};
    for (int b = 0; b < 256; b++)
        for (size_t nb = 0; nb < sizeof neighbours; nb++)
            for (size_t at = 0; at + 1 < LEN; at++) {
                char s[LEN];
                memset(s, 'a', sizeof s);
                s[at] = (char)neighbours[nb];
                s[at + 1] = (char)b;
                size_t expect = 0;
                while (expect < LEN && plain_ascii((unsigned char)s[expect]))
                    expect++;
                cr_assert_eq(json_plain_prefix(s, LEN), expect,
                             "byte %#x after %#x at %zu: %zu", b,
                             neighbours[nb], at, json_plain_prefix(s, LEN));
            }
}

/* The longest prefix of s[0..n) that json carries as it is, a byte or a
 * character at a time, with the UTF-8 ranges of RFC 3629's table: the
 * reference json_plain_prefix() is checked against. */
static size_t plain_prefix_reference(const unsigned char *s, size_t n)
{
    static const struct {
        unsigned char lead_lo, lead_hi, second_lo, second_hi;
        size_t len;
    } ranges[] = {
        {0xC2, 0xDF, 0x80, 0xBF, 2}, {0xE0, 0xE0, 0xA0, 0xBF, 3},
        {0xE1, 0xEC, 0x80, 0xBF, 3}, {0xED, 0xED, 0x80, 0x9F, 3},
        {0xEE, 0xEF, 0x80, 0xBF, 3}, {0xF0, 0xF0, 0x90, 0xBF, 4},
        {0xF1, 0xF3, 0x80, 0xBF, 4}, {0xF4, 0xF4, 0x80, 0x8F, 4},
    };
    size_t i = 0;
    while (i < n) {
        if (plain_ascii(s[i])) {
            i++;
            continue;
        }
        size_t len = 0;
        for (size_t r = 0; r < COUNT(ranges) && !len; r++)
            if (s[i] >= ranges[r].lead_lo && s[i] <= ranges[r].lead_hi &&
                n - i >= ranges[r].len && s[i + 1] >= ranges[r].second_lo &&
                s[i + 1] <= ranges[r].second_hi)
                len = ranges[r].len;
        for (size_t k = 2; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                len = 0;
        if (!len)
            break;
        i += len;
    }
    return i;
}

/* Random strings of 0 to 40 bytes from bytes that matter (plain ones,
 * those to escape, leads and continuations of valid and invalid UTF-8),
 * so that every length of tail and every place of a character crossing
 * 8 bytes comes up. */
Test(format, plain_prefix_agrees_with_a_byte_at_a_time_reading)
{
    static const unsigned char alphabet[] = {
        'a', ' ', '~', '"', '\\', 0x1F, 0x7F, 0xC3, 0xA9, 0xE2, 0x82,
        0xAC, 0xF0, 0x9F, 0x98, 0x80, 0xED, 0xA0, 0xC0, 0xF5, 0xFF, 0x00};
    unsigned seed = 14;
    for (int round = 0; round < 50000; round++) {
        unsigned char s[40];
        size_t n = (size_t)(rand_r(&seed) % (int)(sizeof s + 1));
        for (size_t i = 0; i < n; i++)
            s[i] = rand_r(&seed) % 3 ? 'a'
                                     : alphabet[rand_r(&seed) % sizeof alphabet];
        cr_assert_eq(json_plain_prefix((const char *)s, n),
                     plain_prefix_reference(s, n), "round %d, %zu bytes",
                     round, n);
    }
}

static zmqsink_event_t failure_event(uint32_t type, uint32_t value);

/* The fields marked plain skip the escape scan and the quotes: each name
 * that can fill them must need neither. */
static void assert_plain_name(const char *name, const char *what, long v)
{
    if (!name)
        return; /* written "unknown" */
    size_t n = strlen(name);
    cr_assert(n > 0 && json_plain_prefix(name, n) == n &&
                  !strpbrk(name, " ="),
              "%s %ld: '%s' would need escaping or quotes", what, v, name);
}

Test(format, names_of_the_tables_need_no_escape_nor_quotes)
{
    assert_plain_name("unknown", "fallback", 0);
    for (int bit = 0; bit < 32; bit++) {
        uint32_t type = 1u << bit;
        assert_plain_name(zmqsink_event_name(type), "event type", bit);
        for (uint32_t value = 0; value < 600; value++) {
            zmqsink_event_t ev = failure_event(type, value);
            assert_plain_name(zmqsink_event_reason(&ev), "reason of type",
                              bit);
        }
        const uint32_t big[] = {0x10000000u, 0x20000000u, 0x30000000u,
                                0x40000000u, 0x7FFFFFFFu, 0xFFFFFFFFu};
        for (size_t i = 0; i < COUNT(big); i++) {
            zmqsink_event_t ev = failure_event(type, big[i]);
            assert_plain_name(zmqsink_event_reason(&ev), "reason of type",
                              bit);
        }
    }
    for (int severity = -1; severity < 256; severity++)
        assert_plain_name(zmqsink_severity_name(severity), "severity",
                          severity);
    for (int type = -2; type < 64; type++)
        assert_plain_name(zmqsink_socket_type_name(type), "socket type",
                          type);
}

/* Decimal numbers at every count of digits, as printf writes them. */
Test(format, numbers_at_every_count_of_digits)
{
    uint64_t power = 1;
    for (int digits = 1; digits <= 20; digits++) {
        const uint64_t values[] = {power, power - 1, power + 1, power * 5};
        for (size_t i = 0; i < COUNT(values); i++) {
            char got[24], want[24];
            size_t n = zs__format_u64(got, values[i]);
            snprintf(want, sizeof want, "%" PRIu64, values[i]);
            cr_assert_eq(n, strlen(want), "%s", want);
            cr_assert(memcmp(got, want, n) == 0, "%.*s for %s", (int)n, got,
                      want);
        }
        if (digits < 20)
            power *= 10;
    }
    char max[24];
    cr_assert_eq(zs__format_u64(max, UINT64_MAX), 20);
    cr_assert(memcmp(max, "18446744073709551615", 20) == 0);
}

/* Fills socket, endpoint and peer to their size without a NUL. Each starts
 * with a stray continuation byte and ends with the start of a sequence, so
 * that reading past the end of a field would glue valid UTF-8. */
static void fill_full_fields(zmqsink_event_t *ev)
{
    memset(ev->socket, 'x', sizeof ev->socket);
    ev->socket[sizeof ev->socket - 1] = '\xc3';
    memset(ev->endpoint, 'a', sizeof ev->endpoint);
    ev->endpoint[0] = '\xa9';
    memcpy(ev->endpoint + sizeof ev->endpoint - 2, "\xe2\x82", 2);
    memset(ev->peer, '9', sizeof ev->peer);
    ev->peer[0] = '\xac';
    ev->peer[sizeof ev->peer - 1] = '\xc3';
}

static void check_full_fields(const zmqsink_event_t *ev)
{
    char line[LINE_MAX_LEN], expected[LINE_MAX_LEN];
    format_line(ZMQSINK_FORMAT_JSON, ev, line);
    snprintf(expected, sizeof expected,
             "\"socket\":\"%.*s\\ufffd\",\"socket_type\":\"router\","
             "\"endpoint\":\"\\ufffd%.*s\\ufffd\\ufffd\","
             "\"peer\":\"\\ufffd%.*s\\ufffd\",\"value\":",
             (int)sizeof ev->socket - 1, ev->socket,
             (int)sizeof ev->endpoint - 3, ev->endpoint + 1,
             (int)sizeof ev->peer - 2, ev->peer + 1);
    cr_expect(strstr(line, expected), "%s", line);
    cr_expect(json_valid(line), "%s", line);
    snprintf(expected, sizeof expected, " peer=\"\\ufffd%.*s\\ufffd\" value=",
             (int)sizeof ev->peer - 2, ev->peer + 1);
    format_line(ZMQSINK_FORMAT_LOGFMT, ev, line);
    cr_expect(strstr(line, expected), "%s", line);
    format_line(ZMQSINK_FORMAT_TEXT, ev, line);
    cr_expect(strstr(line, expected), "%s", line);
}

/* On the heap at its exact size, so that ASan and valgrind see a read past
 * the last field. */
Test(format, full_fields_without_nul)
{
    zmqsink_event_t *ev = malloc(sizeof *ev);
    cr_assert_not_null(ev);
    *ev = accepted_event();
    fill_full_fields(ev);
    check_full_fields(ev);
    free(ev);
}

/* Followed by continuation bytes, so that a read past the last field shows
 * in the output even without a memory checker. */
Test(format, full_fields_followed_by_bytes)
{
    struct {
        zmqsink_event_t ev;
        char after[64];
    } guarded;
    memset(&guarded, 0xa9, sizeof guarded);
    guarded.ev = accepted_event();
    fill_full_fields(&guarded.ev);
    check_full_fields(&guarded.ev);
}

Test(format, logfmt_quoting)
{
    static const struct {
        const char *in;
        size_t len;
        const char *out;
    } cases[] = {
        {BYTES("frontend"), "frontend"},
        {BYTES("-"), "-"},
        {BYTES(""), "\"\""},
        {BYTES("a b"), "\"a b\""},
        {BYTES("a=b"), "\"a=b\""},
        {BYTES("a\"b"), "\"a\\\"b\""},
        {BYTES("a\\b"), "\"a\\\\b\""},
        {BYTES("a\nb"), "\"a\\nb\""},
        {BYTES("a\tb"), "\"a\\tb\""},
        {BYTES("\x01"), "\"\\u0001\""},
        {BYTES("\x7f"), "\"\\u007f\""},
        {BYTES("\xc3\xa9t\xc3\xa9"), "\xc3\xa9t\xc3\xa9"},
        {BYTES("\xff"), "\"\\ufffd\""},
        {BYTES("tcp://[::1]:5555"), "tcp://[::1]:5555"},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        zmqsink_event_t ev = accepted_event();
        fill(ev.socket, sizeof ev.socket, cases[i].in, cases[i].len);
        char line[LINE_MAX_LEN], expected[LINE_MAX_LEN];
        format_line(ZMQSINK_FORMAT_LOGFMT, &ev, line);
        snprintf(expected, sizeof expected, " socket=%s socket_type=",
                 cases[i].out);
        cr_expect(strstr(line, expected), "case %zu: %s", i, line);
        format_line(ZMQSINK_FORMAT_TEXT, &ev, line);
        snprintf(expected, sizeof expected, " %s(router) accepted ",
                 cases[i].out);
        cr_expect(strstr(line, expected), "case %zu: %s", i, line);
    }
}

/* ---- snprintf semantics ---- */

Test(format, snprintf_semantics)
{
    static const zmqsink_format_t formats[] = {
        ZMQSINK_FORMAT_JSON, ZMQSINK_FORMAT_LOGFMT, ZMQSINK_FORMAT_TEXT};
    static const event_maker_t makers[] = {accepted_event,
                                           disconnected_event};
    for (size_t fi = 0; fi < COUNT(formats); fi++) {
        for (size_t mi = 0; mi < COUNT(makers); mi++) {
            zmqsink_event_t ev = makers[mi]();
            char full[LINE_MAX_LEN], buf[LINE_MAX_LEN];
            size_t need = zmqsink_format_event(formats[fi], &ev, NULL, 0);
            cr_assert_gt(need, 0);
            cr_assert_eq(zmqsink_format_event(formats[fi], &ev, full,
                                              sizeof full), need);
            cr_assert_eq(strlen(full), need);
            memset(buf, 'Z', sizeof buf);
            cr_expect_eq(zmqsink_format_event(formats[fi], &ev, buf, 0), need);
            cr_expect_eq(buf[0], 'Z', "cap 0 wrote");
            for (size_t cap = 1; cap <= need + 2; cap++) {
                memset(buf, 'Z', sizeof buf);
                size_t n = zmqsink_format_event(formats[fi], &ev, buf, cap);
                size_t kept = cap - 1 < need ? cap - 1 : need;
                cr_assert_eq(n, need, "format %zu cap %zu", fi, cap);
                cr_assert_eq(memcmp(buf, full, kept), 0, "cap %zu", cap);
                cr_assert_eq(buf[kept], '\0', "cap %zu", cap);
                cr_assert_eq(buf[kept + 1], 'Z', "cap %zu wrote past", cap);
            }
        }
    }
}

/* ---- random events: json and logfmt read back ---- */

static uint64_t next_random(uint64_t *state)
{
    uint64_t x = *state; /* xorshift64 */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

/* Fills a field with a random mix of hard bytes, up to its full size
 * (then without NUL); returns the length the formatter will read. */
static size_t random_field(uint64_t *rng, char *field, size_t size)
{
    static const char *const pieces[] = {
        "\"", "\\", "\n", "\x01", "\x1f", "\x7f", "\xc3\xa9", "\xe2\x82\xac",
        "\xf0\x9f\x98\x80", "\xe2\x80\xa8", "\xc2\x85", "\x80", "\xff",
        "\xc0\xaf", "\xed\xa0\x80", "\xe2\x82", " ", "=", "a", "Z", "0", ":",
    };
    size_t len = next_random(rng) % (size + 1), i = 0;
    memset(field, 0, size);
    while (i < len) {
        uint64_t r = next_random(rng);
        if (r % 4 == 0) {
            field[i++] = (char)(1 + (r >> 8) % 255);
            continue;
        }
        const char *piece = pieces[(r >> 8) % COUNT(pieces)];
        size_t n = strlen(piece) < len - i ? strlen(piece) : len - i;
        memcpy(field + i, piece, n);
        i += n;
    }
    return len;
}

#define RANDOM_EVENTS 400

static zmqsink_event_t random_event(uint64_t *rng)
{
    zmqsink_event_t ev = accepted_event();
    random_field(rng, ev.socket, sizeof ev.socket);
    random_field(rng, ev.endpoint, sizeof ev.endpoint);
    random_field(rng, ev.peer, sizeof ev.peer);
    ev.duration_ms = (int64_t)(next_random(rng) % 3) - 1;
    ev.seq = next_random(rng);
    ev.time_ns = (int64_t)(next_random(rng) >> 1);
    return ev;
}

/* Checks in python's json module that each line parses, that the keys come
 * in the contract order and that the socket reads back as written whenever
 * it was valid UTF-8. Input lines: hex of the socket, tab, json. */
static const char python_check[] =
    "import json, sys\n"
    "order = ['ts', 'seq', 'event', 'severity', 'socket', 'socket_type',\n"
    "         'endpoint', 'peer', 'value', 'reason', 'duration_ms', 'host',\n"
    "         'pid']\n"
    "n = 0\n"
    "for line in sys.stdin.buffer.read().decode('utf-8').split('\\n'):\n"
    "    if not line: continue\n"
    "    raw, text = line.split('\\t', 1)\n"
    "    o = json.loads(text)\n"
    "    assert list(o) == [k for k in order if k in o], list(o)\n"
    "    try: want = bytes.fromhex(raw).decode('utf-8')\n"
    "    except UnicodeDecodeError: want = None\n"
    "    assert want is None or o['socket'] == want, (o['socket'], want)\n"
    "    n += 1\n"
    "sys.exit(0 if n == int(sys.argv[1]) else 3)\n";

Test(format, random_json_parses_in_python)
{
    if (system("python3 -c '' >/dev/null 2>&1") != 0)
        cr_skip_test("python3 not available");
    cr_assert_eq(setenv("ZS_TEST_PY", python_check, 1), 0);
    char command[64];
    snprintf(command, sizeof command, "python3 -c \"$ZS_TEST_PY\" %d",
             RANDOM_EVENTS);
    FILE *py = popen(command, "w");
    cr_assert_not_null(py);
    uint64_t rng = 0x9E3779B97F4A7C15u;
    for (int i = 0; i < RANDOM_EVENTS; i++) {
        zmqsink_event_t ev = random_event(&rng);
        char line[LINE_MAX_LEN];
        format_line(ZMQSINK_FORMAT_JSON, &ev, line);
        cr_expect(json_valid(line), "event %d: %s", i, line);
        for (size_t k = 0; k < strnlen(ev.socket, sizeof ev.socket); k++)
            fprintf(py, "%02x", (unsigned char)ev.socket[k]);
        fprintf(py, "\t%s\n", line);
    }
    cr_expect_eq(pclose(py), 0, "python3 rejected a line (see stderr)");
}

/* Reads one logfmt value (quoted or bare) into out, undoing the escapes
 * the formatter uses. Returns the position after it, or NULL. */
static const char *logfmt_value(const char *p, char *out, size_t *len)
{
    *len = 0;
    if (*p != '"') {
        while (*p && *p != ' ')
            out[(*len)++] = *p++;
        return p;
    }
    for (p++; *p != '"'; p++) {
        if (!*p || (unsigned char)*p < 0x20)
            return NULL;
        if (*p != '\\') {
            out[(*len)++] = *p;
            continue;
        }
        p++;
        const char *plain = strchr("\"\\bfnrt", *p);
        if (*p && plain) {
            out[(*len)++] = "\"\\\b\f\n\r\t"[plain - "\"\\bfnrt"];
        } else if (*p == 'u') {
            unsigned cp;
            if (sscanf(p + 1, "%4x", &cp) != 1)
                return NULL;
            if (cp < 0x80) {
                out[(*len)++] = (char)cp;
            } else { /* only U+FFFD is escaped above 0x7f */
                if (cp != 0xFFFD)
                    return NULL;
                memcpy(out + *len, "\xef\xbf\xbd", 3);
                *len += 3;
            }
            p += 4;
        } else {
            return NULL;
        }
    }
    return p + 1;
}

/* Parses a logfmt line, checks its keys against the contract order, and
 * returns the value of key (into out) or false when the key is absent. */
static bool logfmt_get(const char *line, const char *key, char *out,
                       size_t *len)
{
    static const char *const order[] = {
        "ts", "seq", "event", "severity", "socket", "socket_type",
        "endpoint", "peer", "value", "reason", "duration_ms", "host", "pid",
    };
    size_t next_key = 0;
    bool found = false;
    const char *p = line;
    while (*p) {
        const char *eq = strchr(p, '=');
        cr_assert_not_null(eq, "no '=' in %s", p);
        while (next_key < COUNT(order) &&
               (strlen(order[next_key]) != (size_t)(eq - p) ||
                memcmp(order[next_key], p, (size_t)(eq - p)) != 0))
            next_key++;
        cr_assert_lt(next_key, COUNT(order), "key out of order: %s", p);
        char value[LINE_MAX_LEN];
        size_t n;
        p = logfmt_value(eq + 1, value, &n);
        cr_assert_not_null(p, "bad value after %.*s", (int)(eq - line), line);
        if (strcmp(order[next_key], key) == 0) {
            memcpy(out, value, n);
            *len = n;
            found = true;
        }
        cr_assert(*p == '\0' || *p == ' ', "junk after value: %s", p);
        if (*p)
            p++;
        next_key++;
    }
    return found;
}

Test(format, random_logfmt_reads_back)
{
    uint64_t rng = 0x2545F4914F6CDD1Du;
    for (int i = 0; i < RANDOM_EVENTS; i++) {
        zmqsink_event_t ev = random_event(&rng);
        char line[LINE_MAX_LEN], value[LINE_MAX_LEN];
        size_t len;
        format_line(ZMQSINK_FORMAT_LOGFMT, &ev, line);
        cr_assert(valid_utf8(line, strlen(line)), "event %d: %s", i, line);
        const struct {
            const char *key;
            const char *field;
            size_t size;
        } fields[] = {
            {"socket", ev.socket, sizeof ev.socket},
            {"endpoint", ev.endpoint, sizeof ev.endpoint},
            {"peer", ev.peer, sizeof ev.peer},
        };
        for (size_t k = 0; k < COUNT(fields); k++) {
            size_t want = strnlen(fields[k].field, fields[k].size);
            bool found = logfmt_get(line, fields[k].key, value, &len);
            cr_expect_eq(found, want > 0 || k != 2, "event %d key %s", i,
                         fields[k].key);
            if (found && valid_utf8(fields[k].field, want)) {
                cr_expect_eq(len, want, "event %d key %s", i, fields[k].key);
                cr_expect_eq(memcmp(value, fields[k].field, want), 0,
                             "event %d key %s: %s", i, fields[k].key, line);
            }
        }
        format_line(ZMQSINK_FORMAT_TEXT, &ev, line);
        cr_expect(valid_utf8(line, strlen(line)), "event %d: %s", i, line);
        for (const char *p = line; *p; p++)
            cr_assert((unsigned char)*p >= 0x20 && *p != 0x7f,
                      "event %d: control byte in text", i);
    }
}

/* ---- names ---- */

Test(event, names_docs_and_severities)
{
    static const char *const names[ZMQSINK_EVENT_TYPES] = {
        "connected", "connect_delayed", "connect_retried", "listening",
        "bind_failed", "accepted", "accept_failed", "closed", "close_failed",
        "disconnected", "monitor_stopped", "handshake_failed_no_detail",
        "handshake_succeeded", "handshake_failed_protocol",
        "handshake_failed_auth",
    };
    uint32_t seen = 0;
    for (int i = 0; i < ZMQSINK_EVENT_TYPES; i++) {
        uint32_t bit = 1u << i;
        const char *name = zmqsink_event_name(bit);
        cr_assert_not_null(name, "bit %#x", bit);
        cr_expect_str_eq(name, names[i]);
        cr_expect_eq(zmqsink_event_from_name(name), bit, "%s", name);
        seen |= zmqsink_event_from_name(name);
        const char *doc = zmqsink_event_doc(bit);
        const char *value_doc = zmqsink_event_value_doc(bit);
        cr_assert_not_null(doc, "%s", name);
        cr_assert_not_null(value_doc, "%s", name);
        cr_expect(strlen(doc) > 10 && doc[strlen(doc) - 1] == '.', "%s", doc);
        cr_expect(strlen(value_doc) > 3 &&
                      value_doc[strlen(value_doc) - 1] == '.', "%s",
                  value_doc);
        zmqsink_severity_t want = ZMQSINK_SEV_INFO;
        if (strstr(name, "_failed"))
            want = strncmp(name, "handshake_", 10) == 0 ? ZMQSINK_SEV_WARNING
                                                        : ZMQSINK_SEV_ERR;
        else if (!strcmp(name, "connect_delayed") ||
                 !strcmp(name, "connect_retried") ||
                 !strcmp(name, "disconnected"))
            want = ZMQSINK_SEV_NOTICE;
        cr_expect_eq(zmqsink_event_default_severity(bit), want, "%s", name);
        cr_expect_eq((want == ZMQSINK_SEV_ERR || want == ZMQSINK_SEV_WARNING),
                     (bit & ZMQSINK_EVENT_ERRORS) != 0, "%s", name);
    }
    cr_expect_eq(seen, ZMQSINK_EVENT_ALL);
}

Test(event, unknown_types_and_names)
{
    static const uint32_t types[] = {0, 3, 0x8000, 0x10000, 0x80000000u,
                                     ZMQSINK_EVENT_ALL};
    for (size_t i = 0; i < COUNT(types); i++) {
        cr_expect_null(zmqsink_event_name(types[i]), "%#x", types[i]);
        cr_expect_null(zmqsink_event_doc(types[i]), "%#x", types[i]);
        cr_expect_null(zmqsink_event_value_doc(types[i]), "%#x", types[i]);
        cr_expect_eq(zmqsink_event_default_severity(types[i]),
                     ZMQSINK_SEV_INFO);
    }
    static const char *const names[] = {"", "Connected", "connected ",
                                        "handshake_failed", "all", "errors"};
    for (size_t i = 0; i < COUNT(names); i++)
        cr_expect_eq(zmqsink_event_from_name(names[i]), 0, "'%s'", names[i]);
    cr_expect_eq(zmqsink_event_from_name(NULL), 0);
}

Test(event, severity_names)
{
    static const char *const names[] = {"emerg", "alert",  "crit", "err",
                                        "warning", "notice", "info", "debug"};
    for (int i = 0; i < (int)COUNT(names); i++) {
        cr_assert_not_null(zmqsink_severity_name(i));
        cr_expect_str_eq(zmqsink_severity_name(i), names[i]);
        cr_expect_eq(zmqsink_severity_from_name(names[i]), i);
    }
    cr_expect_null(zmqsink_severity_name(-1));
    cr_expect_null(zmqsink_severity_name(8));
    static const struct {
        const char *name;
        int severity;
    } inputs[] = {
        {"error", ZMQSINK_SEV_ERR}, {"warn", ZMQSINK_SEV_WARNING},
        {"ERR", -1},  {"Warning", -1}, {"", -1}, {"information", -1},
        {"errors", -1},
    };
    for (size_t i = 0; i < COUNT(inputs); i++)
        cr_expect_eq(zmqsink_severity_from_name(inputs[i].name),
                     inputs[i].severity, "'%s'", inputs[i].name);
    cr_expect_eq(zmqsink_severity_from_name(NULL), -1);
}

Test(event, socket_type_names)
{
    static const struct {
        int type;
        const char *name;
    } cases[] = {
        {ZMQ_PAIR, "pair"},     {ZMQ_PUB, "pub"},       {ZMQ_SUB, "sub"},
        {ZMQ_REQ, "req"},       {ZMQ_REP, "rep"},       {ZMQ_DEALER, "dealer"},
        {ZMQ_ROUTER, "router"}, {ZMQ_PULL, "pull"},     {ZMQ_PUSH, "push"},
        {ZMQ_XPUB, "xpub"},     {ZMQ_XSUB, "xsub"},     {ZMQ_STREAM, "stream"},
        {-1, "unknown"},        {12, "unknown"},        {1000, "unknown"},
    };
    for (size_t i = 0; i < COUNT(cases); i++)
        cr_expect_str_eq(zmqsink_socket_type_name(cases[i].type),
                         cases[i].name, "type %d", cases[i].type);
}

Test(format, format_names)
{
    static const struct {
        const char *name;
        int format;
    } cases[] = {
        {"json", ZMQSINK_FORMAT_JSON}, {"logfmt", ZMQSINK_FORMAT_LOGFMT},
        {"text", ZMQSINK_FORMAT_TEXT}, {"JSON", -1}, {"", -1},
        {"rfc5424", -1},               {"jsonl", -1},
    };
    for (size_t i = 0; i < COUNT(cases); i++)
        cr_expect_eq(zmqsink_format_from_name(cases[i].name), cases[i].format,
                     "'%s'", cases[i].name);
    cr_expect_eq(zmqsink_format_from_name(NULL), -1);
}

/* ---- reasons ---- */

static zmqsink_event_t failure_event(uint32_t type, uint32_t value)
{
    zmqsink_event_t ev = accepted_event();
    ev.type = type;
    ev.value = value;
    ev.severity = ZMQSINK_SEV_ERR;
    ev.peer[0] = '\0';
    return ev;
}

Test(format, reason_after_value_in_every_format)
{
    static const struct {
        uint32_t type, value;
        const char *reason; /* NULL: none */
        const char *words;  /* what text says after "value=V: " */
    } cases[] = {
        {ZMQSINK_EVENT_BIND_FAILED, EADDRINUSE, "EADDRINUSE",
         "address already in use (EADDRINUSE)"},
        {ZMQSINK_EVENT_ACCEPT_FAILED, EMFILE, "EMFILE",
         "too many open files (EMFILE)"},
        {ZMQSINK_EVENT_CONNECT_DELAYED, ECONNREFUSED, "ECONNREFUSED",
         "connection refused (ECONNREFUSED)"},
        {ZMQSINK_EVENT_CONNECT_DELAYED, EINPROGRESS, NULL, NULL},
        {ZMQSINK_EVENT_HANDSHAKE_FAILED_NO_DETAIL, 0, NULL, NULL},
        {ZMQSINK_EVENT_HANDSHAKE_FAILED_PROTOCOL, 0x11000002,
         "ZMTP_MECHANISM_MISMATCH",
         "the peers use different security mechanisms "
         "(ZMTP_MECHANISM_MISMATCH)"},
        {ZMQSINK_EVENT_HANDSHAKE_FAILED_PROTOCOL, 0x11000099,
         "PROTOCOL_ERROR_0x11000099",
         "unknown protocol error 0x11000099 (PROTOCOL_ERROR_0x11000099)"},
        {ZMQSINK_EVENT_HANDSHAKE_FAILED_AUTH, 300, "ZAP_300",
         "temporary authentication failure (ZAP_300)"},
        {ZMQSINK_EVENT_HANDSHAKE_FAILED_AUTH, 400, "ZAP_400",
         "authentication refused (ZAP_400)"},
        {ZMQSINK_EVENT_HANDSHAKE_FAILED_AUTH, 500, "ZAP_500",
         "authentication server error (ZAP_500)"},
        {ZMQSINK_EVENT_HANDSHAKE_FAILED_AUTH, 401, "ZAP_401",
         "ZAP status 401 (ZAP_401)"},
        {ZMQSINK_EVENT_CONNECT_RETRIED, EADDRINUSE, NULL, NULL},
        {ZMQSINK_EVENT_ACCEPTED, EADDRINUSE, NULL, NULL},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        zmqsink_event_t ev = failure_event(cases[i].type, cases[i].value);
        const char *reason = zmqsink_event_reason(&ev);
        char json[LINE_MAX_LEN], logfmt[LINE_MAX_LEN], text[LINE_MAX_LEN];
        char want_json[256], want_logfmt[256], want_text[256];
        format_line(ZMQSINK_FORMAT_JSON, &ev, json);
        format_line(ZMQSINK_FORMAT_LOGFMT, &ev, logfmt);
        format_line(ZMQSINK_FORMAT_TEXT, &ev, text);
        cr_expect(json_valid(json), "case %zu: %s", i, json);
        if (!cases[i].reason) {
            cr_expect_null(reason, "case %zu: %s", i, reason);
            snprintf(want_json, sizeof want_json, "\"value\":%u,\"host\":",
                     cases[i].value);
            snprintf(want_logfmt, sizeof want_logfmt, " value=%u host=",
                     cases[i].value);
            snprintf(want_text, sizeof want_text, " value=%u",
                     cases[i].value);
        } else {
            cr_assert_not_null(reason, "case %zu", i);
            cr_expect_str_eq(reason, cases[i].reason, "case %zu", i);
            snprintf(want_json, sizeof want_json,
                     "\"value\":%u,\"reason\":\"%s\",\"host\":",
                     cases[i].value, cases[i].reason);
            snprintf(want_logfmt, sizeof want_logfmt,
                     " value=%u reason=%s host=", cases[i].value,
                     cases[i].reason);
            snprintf(want_text, sizeof want_text, " value=%u: %s",
                     cases[i].value, cases[i].words);
        }
        cr_expect(strstr(json, want_json), "case %zu: %s", i, json);
        cr_expect(strstr(logfmt, want_logfmt), "case %zu: %s", i, logfmt);
        size_t text_len = strlen(text), want_len = strlen(want_text);
        cr_expect(text_len >= want_len &&
                      strcmp(text + text_len - want_len, want_text) == 0,
                  "case %zu: '%s' does not end with '%s'", i, text, want_text);
    }
}

Test(format, reason_in_the_field_walk)
{
    zmqsink_event_t ev = failure_event(ZMQSINK_EVENT_BIND_FAILED, EADDRINUSE);
    zs__event_fields_t f;
    zs__event_fields(&ev, &f);
    const zs__field_t *reason = &f.field[ZS__FIELD_REASON];
    cr_expect_eq(reason->kind, ZS__KIND_STRING);
    cr_expect_eq(reason->len, strlen("EADDRINUSE"));
    cr_expect_eq(memcmp(reason->text, "EADDRINUSE", reason->len), 0);
    zmqsink_event_t accepted = accepted_event();
    zs__event_fields(&accepted, &f);
    cr_expect_eq(f.field[ZS__FIELD_REASON].kind, ZS__KIND_ABSENT);
}

/* Every ZMQ_PROTOCOL_ERROR_* of the zmq.h built against, named as libzmq
 * names it without the prefix. */
Test(event, reason_names_every_protocol_error_of_zmq_h)
{
#define ZMQ_CODE(name) {ZMQ_PROTOCOL_ERROR_##name, #name}
    static const struct {
        uint32_t code;
        const char *name;
    } codes[] = {
        ZMQ_CODE(ZMTP_UNSPECIFIED),
        ZMQ_CODE(ZMTP_UNEXPECTED_COMMAND),
        ZMQ_CODE(ZMTP_INVALID_SEQUENCE),
        ZMQ_CODE(ZMTP_KEY_EXCHANGE),
        ZMQ_CODE(ZMTP_MALFORMED_COMMAND_UNSPECIFIED),
        ZMQ_CODE(ZMTP_MALFORMED_COMMAND_MESSAGE),
        ZMQ_CODE(ZMTP_MALFORMED_COMMAND_HELLO),
        ZMQ_CODE(ZMTP_MALFORMED_COMMAND_INITIATE),
        ZMQ_CODE(ZMTP_MALFORMED_COMMAND_ERROR),
        ZMQ_CODE(ZMTP_MALFORMED_COMMAND_READY),
        ZMQ_CODE(ZMTP_MALFORMED_COMMAND_WELCOME),
        ZMQ_CODE(ZMTP_INVALID_METADATA),
        ZMQ_CODE(ZMTP_CRYPTOGRAPHIC),
        ZMQ_CODE(ZMTP_MECHANISM_MISMATCH),
        ZMQ_CODE(ZAP_UNSPECIFIED),
        ZMQ_CODE(ZAP_MALFORMED_REPLY),
        ZMQ_CODE(ZAP_BAD_REQUEST_ID),
        ZMQ_CODE(ZAP_BAD_VERSION),
        ZMQ_CODE(ZAP_INVALID_STATUS_CODE),
        ZMQ_CODE(ZAP_INVALID_METADATA),
        ZMQ_CODE(WS_UNSPECIFIED),
    };
#undef ZMQ_CODE
    const char *doc =
        zmqsink_event_reason_doc(ZMQSINK_EVENT_HANDSHAKE_FAILED_PROTOCOL);
    cr_assert_not_null(doc);
    for (size_t i = 0; i < COUNT(codes); i++) {
        zmqsink_event_t ev = failure_event(
            ZMQSINK_EVENT_HANDSHAKE_FAILED_PROTOCOL, codes[i].code);
        const char *reason = zmqsink_event_reason(&ev);
        cr_assert_not_null(reason, "%s", codes[i].name);
        cr_expect_str_eq(reason, codes[i].name);
        cr_expect(strstr(doc, codes[i].name), "%s not in '%s'",
                  codes[i].name, doc);
        char text[LINE_MAX_LEN];
        format_line(ZMQSINK_FORMAT_TEXT, &ev, text);
        cr_expect(!strstr(text, "unknown"), "%s", text);
    }
}

Test(event, reason_docs_for_the_types_with_reasons)
{
    const uint32_t with_reasons =
        ZMQSINK_EVENT_ERRORS | ZMQSINK_EVENT_CONNECT_DELAYED;
    for (uint32_t bit = 1; bit <= ZMQSINK_EVENT_ALL; bit <<= 1) {
        const char *doc = zmqsink_event_reason_doc(bit);
        if (bit & with_reasons)
            cr_expect(doc && doc[strlen(doc) - 1] == '.', "%s",
                      zmqsink_event_name(bit));
        else
            cr_expect_null(doc, "%s: %s", zmqsink_event_name(bit), doc);
    }
    cr_expect(strstr(zmqsink_event_reason_doc(ZMQSINK_EVENT_HANDSHAKE_FAILED_AUTH),
                     "ZAP_400"));
    cr_expect_null(zmqsink_event_reason(NULL));
}

/* Codes no table knows get symbols naming them, made once and kept: the
 * same pointer each time, and past 64 of them the fallback, so that a
 * peer making up codes cannot grow the set of symbols without end. */
Test(format, unknown_codes_are_named_and_the_names_bounded)
{
    zmqsink_event_t ev =
        failure_event(ZMQSINK_EVENT_HANDSHAKE_FAILED_AUTH, 600);
    const char *first = zmqsink_event_reason(&ev);
    cr_assert_str_eq(first, "ZAP_600");
    cr_assert_eq(zmqsink_event_reason(&ev), first, "made once");
    for (uint32_t code = 601; code < 601 + 63; code++) {
        ev = failure_event(ZMQSINK_EVENT_HANDSHAKE_FAILED_AUTH, code);
        char want[32];
        snprintf(want, sizeof want, "ZAP_%u", code);
        cr_assert_str_eq(zmqsink_event_reason(&ev), want);
    }
    ev = failure_event(ZMQSINK_EVENT_HANDSHAKE_FAILED_PROTOCOL, 0x11000099);
    cr_assert_str_eq(zmqsink_event_reason(&ev), "PROTOCOL_ERROR_UNKNOWN",
                     "the 65th unknown code");
    ev = failure_event(ZMQSINK_EVENT_HANDSHAKE_FAILED_AUTH, 600);
    cr_assert_eq(zmqsink_event_reason(&ev), first, "the first ones stay");
}
