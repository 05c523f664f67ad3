/* Renders an event as one line of json, logfmt or text, from one walk over
 * its fields.
 *
 * Rules shared by the formats:
 * - Keys and order are those of zs__event_fields(): ts, seq, event,
 *   severity, socket, socket_type, endpoint, peer, value, reason,
 *   duration_ms, host, pid. ts is RFC 3339 UTC with microseconds (truncated; times before the
 *   epoch are written as the epoch).
 * - An unknown peer is null in json and left out of logfmt and text; an
 *   unknown duration is left out of all three, and so is the reason of an
 *   event without one. text says the reason in words after the value. An unknown event type,
 *   severity or socket type is written "unknown".
 * - Strings are escaped as json escapes them (common/json.h), so every
 *   line is valid UTF-8 (and json parses).
 * - logfmt and text quote a string value when it is empty or holds a space,
 *   '=' or any byte the escaping above would change; inside the quotes it
 *   is escaped as in json. Other values are written as they are.
 *
 * No allocation, no locale, no lock: the date and the numbers are written
 * by hand. */
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include <zmqsink.h>
#include <zmqsink/event.h>

#include "format.h"
#include "json.h"
#include "reason.h"

/* "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" */
#define TS_LEN 27
/* Digits of the largest uint64_t and uint32_t (a pid fits the latter). */
#define U64_DIGITS 20
#define U32_DIGITS 10

_Static_assert(sizeof(((zs__event_fields_t *)0)->scratch) >=
                   TS_LEN + U64_DIGITS + U32_DIGITS + U64_DIGITS + U32_DIGITS,
               "scratch too small for ts, seq, value, duration_ms and pid");

/* The json member opening of each field: ,"key": */
static const struct {
    const char *text;
    size_t len;
} json_openings[ZS__FIELD_COUNT] = {
#define JSON_OPENING(id, key) {",\"" key "\":", sizeof key + 3},
    ZS__EVENT_FIELDS(JSON_OPENING)
#undef JSON_OPENING
};

/* Whether logfmt and text quote s: when empty or holding a space, '=' or
 * a byte that json escapes. */
static bool needs_quotes(const char *s, size_t n)
{
    return n == 0 || json_plain_prefix(s, n) < n || memchr(s, ' ', n) ||
           memchr(s, '=', n);
}

/* ---- the walk ---- */

/* Process facts read once, when the library loads: the host name rarely
 * changes, and getpid() is a system call on glibc. The pid is read again
 * in the child of a fork; its handler is registered at load, before any
 * thread of zmqsink runs, so that no fork can come between the two. */
static char host_name_buf[256];
static bool host_name_plain; /* needs_quotes() is false */
static pid_t process_id;

static void read_process_id(void)
{
    process_id = getpid();
}

__attribute__((constructor)) static void read_process_facts(void)
{
    if (gethostname(host_name_buf, sizeof host_name_buf - 1) != 0)
        host_name_buf[0] = '\0';
    host_name_plain = !needs_quotes(host_name_buf, strlen(host_name_buf));
    read_process_id();
    pthread_atfork(NULL, NULL, read_process_id);
}

const char *zs__host_name(void)
{
    return host_name_buf;
}

static pid_t current_pid(void)
{
    return process_id;
}

/* "00" to "99": numbers are written two digits a step. */
static const char digit_pairs[] =
    "0001020304050607080910111213141516171819202122232425262728293031323334353637383940414243444546474849"
    "5051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899";

/* Writes v as exactly width digits (an even count), most significant
 * first. */
static char *put_digits(char *p, unsigned v, int width)
{
    for (int i = width - 2; i >= 0; i -= 2) {
        memcpy(p + i, &digit_pairs[2 * (v % 100)], 2);
        v /= 100;
    }
    return p + width;
}

size_t zs__format_u64(char *dst, uint64_t v)
{
    size_t n = 1;
    for (uint64_t bound = 10; n < U64_DIGITS && v >= bound; bound *= 10)
        n++;
    char *p = dst + n;
    for (; v >= 100; v /= 100) {
        p -= 2;
        memcpy(p, &digit_pairs[2 * (v % 100)], 2);
    }
    if (v >= 10)
        memcpy(p - 2, &digit_pairs[2 * v], 2);
    else
        p[-1] = (char)('0' + v);
    return n;
}

/* Proleptic Gregorian date of a day count since 1970-01-01 (>= 0), after
 * Howard Hinnant's civil_from_days. Done by hand because glibc's gmtime_r
 * takes a process-wide lock, which every sink thread would contend on. */
static void civil_from_days(int64_t days, unsigned *year, unsigned *month,
                            unsigned *day)
{
    int64_t z = days + 719468; /* days since 0000-03-01 */
    int64_t era = z / 146097;
    unsigned doe = (unsigned)(z - era * 146097);                 /* 0..146096 */
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);      /* 0..365 */
    unsigned mp = (5 * doy + 2) / 153; /* month from March: 0..11 */
    *day = doy - (153 * mp + 2) / 5 + 1;
    *month = mp < 10 ? mp + 3 : mp - 9;
    *year = (unsigned)(era * 400) + yoe + (*month <= 2);
}

static size_t format_ts(char *dst, int64_t time_ns)
{
    if (time_ns < 0)
        time_ns = 0;
    int64_t sec = time_ns / 1000000000;
    unsigned usec = (unsigned)(time_ns % 1000000000 / 1000);
    unsigned sec_of_day = (unsigned)(sec % 86400), year, month, day;
    civil_from_days(sec / 86400, &year, &month, &day);
    char *p = dst;
    p = put_digits(p, year, 4);
    *p++ = '-';
    p = put_digits(p, month, 2);
    *p++ = '-';
    p = put_digits(p, day, 2);
    *p++ = 'T';
    p = put_digits(p, sec_of_day / 3600, 2);
    *p++ = ':';
    p = put_digits(p, sec_of_day / 60 % 60, 2);
    *p++ = ':';
    p = put_digits(p, sec_of_day % 60, 2);
    *p++ = '.';
    p = put_digits(p, usec, 6);
    *p++ = 'Z';
    return (size_t)(p - dst);
}

static void set_string(zs__event_fields_t *out, zs__field_id_t id,
                       const char *text, size_t len)
{
    out->field[id].kind = ZS__KIND_STRING;
    out->field[id].text = text;
    out->field[id].len = len;
}

/* A name of zmqsink's tables: never quoted, never escaped. */
static void set_name(zs__event_fields_t *out, zs__field_id_t id,
                     const char *name)
{
    if (!name)
        name = "unknown";
    set_string(out, id, name, strlen(name));
    out->plain |= 1u << id;
}

/* Writes the digits into scratch; returns where the next field may go. */
static char *set_number(zs__event_fields_t *out, zs__field_id_t id,
                        char *scratch, uint64_t v)
{
    out->field[id].kind = ZS__KIND_NUMBER;
    out->field[id].text = scratch;
    out->field[id].len = zs__format_u64(scratch, v);
    return scratch + out->field[id].len;
}

/* Every field with its key, none applying yet. */
static const zs__field_t blank_fields[ZS__FIELD_COUNT] = {
#define BLANK_FIELD(id, name)                                                  \
    {.key = name, .key_len = sizeof name - 1, .kind = ZS__KIND_ABSENT},
    ZS__EVENT_FIELDS(BLANK_FIELD)
#undef BLANK_FIELD
};

void zs__event_fields(const zmqsink_event_t *ev, zs__event_fields_t *out)
{
    memcpy(out->field, blank_fields, sizeof blank_fields);
    out->plain = 1u << ZS__FIELD_TS;
    char *p = out->scratch;
    set_string(out, ZS__FIELD_TS, p, format_ts(p, ev->time_ns));
    p += TS_LEN;
    p = set_number(out, ZS__FIELD_SEQ, p, ev->seq);
    set_name(out, ZS__FIELD_EVENT, zmqsink_event_name(ev->type));
    set_name(out, ZS__FIELD_SEVERITY, zmqsink_severity_name(ev->severity));
    set_string(out, ZS__FIELD_SOCKET, ev->socket,
               strnlen(ev->socket, sizeof ev->socket));
    set_name(out, ZS__FIELD_SOCKET_TYPE,
             zmqsink_socket_type_name(ev->socket_type));
    set_string(out, ZS__FIELD_ENDPOINT, ev->endpoint,
               strnlen(ev->endpoint, sizeof ev->endpoint));
    size_t peer_len = strnlen(ev->peer, sizeof ev->peer);
    if (peer_len > 0)
        set_string(out, ZS__FIELD_PEER, ev->peer, peer_len);
    else
        out->field[ZS__FIELD_PEER].kind = ZS__KIND_NULL;
    p = set_number(out, ZS__FIELD_VALUE, p, ev->value);
    const char *reason = zmqsink_event_reason(ev);
    if (reason)
        set_name(out, ZS__FIELD_REASON, reason);
    if (ev->duration_ms >= 0)
        p = set_number(out, ZS__FIELD_DURATION_MS, p,
                       (uint64_t)ev->duration_ms);
    set_string(out, ZS__FIELD_HOST, host_name_buf, strlen(host_name_buf));
    if (host_name_plain)
        out->plain |= 1u << ZS__FIELD_HOST;
    set_number(out, ZS__FIELD_PID, p, (uint64_t)current_pid());
}

/* ---- output with snprintf semantics ---- */

typedef struct out {
    char *buf;
    size_t cap;
    size_t len; /* what the whole line needs, written or not */
} out_t;

static void out_put(out_t *o, const char *s, size_t n)
{
    if (o->cap > 0 && o->len < o->cap - 1) {
        size_t room = o->cap - 1 - o->len;
        memcpy(o->buf + o->len, s, n < room ? n : room);
    }
    o->len += n;
}

/* Where n bytes more can be written whole, or NULL (out_put then cuts). */
static char *out_room(out_t *o, size_t n)
{
    return o->len < o->cap && o->cap - o->len > n ? o->buf + o->len : NULL;
}

static size_t out_finish(out_t *o)
{
    if (o->cap > 0)
        o->buf[o->len < o->cap ? o->len : o->cap - 1] = '\0';
    return o->len;
}

/* ---- escaping: the one json rule of common/json.c ---- */

static void out_put_piece(void *o, const char *s, size_t n)
{
    out_put(o, s, n);
}

/* s as a json string; plain: known to need no escape. */
static void out_quoted(out_t *o, const char *s, size_t n, bool plain)
{
    char *p;
    if ((plain || json_plain_prefix(s, n) == n) && (p = out_room(o, n + 2))) {
        /* Nothing to escape (most text): written in one piece. */
        p[0] = '"';
        memcpy(p + 1, s, n);
        p[n + 1] = '"';
        o->len += n + 2;
        return;
    }
    json_quote(s, n, out_put_piece, o);
}

/* ---- renderers ---- */

/* Calls fn on each field that applies, in order: the one walk behind
 * zmqsink_event_fields() and the json and logfmt renderers. */
static int fields_walk(const zs__event_fields_t *f, zmqsink_field_fn *fn,
                       void *arg)
{
    for (size_t i = 0; i < ZS__FIELD_COUNT; i++) {
        if (f->field[i].kind == ZS__KIND_ABSENT)
            continue;
        int rc = fn(&f->field[i], arg);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* A line being rendered from the walk. */
typedef struct render {
    out_t *out;
    const zs__event_fields_t *fields;
    size_t written; /* fields written so far */
} render_t;

static int json_member(const zmqsink_field_t *field, void *arg)
{
    render_t *r = arg;
    /* The walk passes the fields of r->fields, in place. */
    size_t id = (size_t)(field - r->fields->field);
    size_t first = r->written == 0;
    r->written++;
    /* ,"key": after a member; "key": after the opening brace. */
    out_put(r->out, json_openings[id].text + first,
            json_openings[id].len - first);
    if (field->kind == ZS__KIND_STRING)
        out_quoted(r->out, field->text, field->len,
                   r->fields->plain >> id & 1);
    else if (field->kind == ZS__KIND_NUMBER)
        out_put(r->out, field->text, field->len);
    else
        out_put(r->out, "null", 4);
    return 0;
}

static void render_json(out_t *o, const zs__event_fields_t *f,
                        const zmqsink_event_t *ev)
{
    (void)ev;
    render_t r = {.out = o, .fields = f};
    out_put(o, "{", 1);
    fields_walk(f, json_member, &r);
    out_put(o, "}", 1);
}

/* A logfmt or text value: quoted only when it has to be. */
static void out_value(out_t *o, const zs__event_fields_t *f, size_t id)
{
    const zs__field_t *field = &f->field[id];
    if (field->kind == ZS__KIND_STRING && !(f->plain >> id & 1) &&
        needs_quotes(field->text, field->len))
        out_quoted(o, field->text, field->len, false);
    else
        out_put(o, field->text, field->len);
}

static int logfmt_pair(const zmqsink_field_t *field, void *arg)
{
    render_t *r = arg;
    if (field->kind == ZS__KIND_NULL)
        return 0;
    size_t id = (size_t)(field - r->fields->field);
    if (r->written++)
        out_put(r->out, " ", 1);
    out_put(r->out, field->key, field->key_len);
    out_put(r->out, "=", 1);
    out_value(r->out, r->fields, id);
    return 0;
}

static void render_logfmt(out_t *o, const zs__event_fields_t *f,
                          const zmqsink_event_t *ev)
{
    (void)ev;
    render_t r = {.out = o, .fields = f};
    fields_walk(f, logfmt_pair, &r);
}

/* TS SEVERITY SOCKET(TYPE) EVENT ENDPOINT [peer=P] value=V [duration=Dms]
 * [: CAUSE (REASON)] */
static void render_text(out_t *o, const zs__event_fields_t *f,
                        const zmqsink_event_t *ev)
{
    enum { SEVERITY_WIDTH = 8 };
    const zs__field_t *field = f->field;
    const zs__field_t *severity = &field[ZS__FIELD_SEVERITY];
    out_value(o, f, ZS__FIELD_TS);
    out_put(o, " ", 1);
    out_value(o, f, ZS__FIELD_SEVERITY);
    if (severity->len < SEVERITY_WIDTH)
        out_put(o, "        ", SEVERITY_WIDTH - severity->len);
    out_put(o, " ", 1);
    out_value(o, f, ZS__FIELD_SOCKET);
    out_put(o, "(", 1);
    out_value(o, f, ZS__FIELD_SOCKET_TYPE);
    out_put(o, ") ", 2);
    out_value(o, f, ZS__FIELD_EVENT);
    out_put(o, " ", 1);
    out_value(o, f, ZS__FIELD_ENDPOINT);
    if (field[ZS__FIELD_PEER].kind == ZS__KIND_STRING) {
        out_put(o, " peer=", 6);
        out_value(o, f, ZS__FIELD_PEER);
    }
    out_put(o, " value=", 7);
    out_value(o, f, ZS__FIELD_VALUE);
    if (field[ZS__FIELD_DURATION_MS].kind == ZS__KIND_NUMBER) {
        out_put(o, " duration=", 10);
        out_value(o, f, ZS__FIELD_DURATION_MS);
        out_put(o, "ms", 2);
    }
    char cause[ZS__CAUSE_MAX];
    size_t cause_len = zs__event_cause(ev, cause, sizeof cause);
    if (cause_len >= sizeof cause)
        cause_len = sizeof cause - 1; /* cannot happen: see reason.c */
    if (cause_len > 0) {
        out_put(o, ": ", 2);
        out_put(o, cause, cause_len);
    }
}

/* ---- public ---- */

static const char *const format_names[] = {
    [ZMQSINK_FORMAT_JSON] = "json",
    [ZMQSINK_FORMAT_LOGFMT] = "logfmt",
    [ZMQSINK_FORMAT_TEXT] = "text",
};

int zmqsink_format_event(zmqsink_format_t format, const zmqsink_event_t *event,
                         char *buf, size_t cap)
{
    static void (*const renderers[])(out_t *, const zs__event_fields_t *,
                                     const zmqsink_event_t *) = {
        [ZMQSINK_FORMAT_JSON] = render_json,
        [ZMQSINK_FORMAT_LOGFMT] = render_logfmt,
        [ZMQSINK_FORMAT_TEXT] = render_text,
    };
    if (!event || (!buf && cap) ||
        (unsigned)format >= sizeof renderers / sizeof renderers[0])
        return -ZMQSINK_EINVAL;
    zs__event_fields_t fields;
    zs__event_fields(event, &fields);
    out_t o = {.buf = buf, .cap = cap, .len = 0};
    renderers[format](&o, &fields, event);
    return (int)out_finish(&o); /* a line is a few KiB at most */
}

size_t zs__format_service(zmqsink_format_t format,
                          const zmqsink_event_t *event, char *buf, size_t cap)
{
    int n = zmqsink_format_event(format, event, buf, cap);
    if (n < 0 && buf && cap)
        buf[0] = '\0';
    return n < 0 ? 0 : (size_t)n;
}

int zmqsink_event_fields(const zmqsink_event_t *event, zmqsink_field_fn *fn,
                         void *arg)
{
    if (!event || !fn)
        return -ZMQSINK_EINVAL;
    zs__event_fields_t fields;
    zs__event_fields(event, &fields);
    return fields_walk(&fields, fn, arg);
}

size_t zs__json_quote(const char *text, char *buf, size_t cap)
{
    out_t o = {.buf = buf, .cap = cap, .len = 0};
    out_quoted(&o, text, strlen(text), false);
    return out_finish(&o);
}

int zmqsink_format_from_name(const char *name)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < sizeof format_names / sizeof format_names[0]; i++)
        if (strcmp(format_names[i], name) == 0)
            return (int)i;
    return -1;
}
