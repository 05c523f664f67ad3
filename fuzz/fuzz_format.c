/* Fuzz target: the json, logfmt and text formatters, and the walk over an
 * event's fields behind them and behind syslog's structured data.
 *
 * Input: an event record, as a plugin receives it, from the first bytes
 * (missing ones zero; its text fields need not end in NUL), then two bytes
 * that choose a size for a cut rendering. Each format must give one line
 * of UTF-8 without control characters, json one that parses, logfmt one
 * that parses with json's keys in json's order (null ones left out), and a
 * cut rendering must be the start of the whole one, as snprintf's is. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <zmqsink.h>
#include <zmqsink/event.h>

#include "target.h"

#define LINE_CAP 8192

/* ---- a json reader for one flat object of strings, numbers and null ---- */

typedef struct json_reader {
    const char *p, *end;
} json_reader_t;

static bool json_eat(json_reader_t *r, char c)
{
    if (r->p < r->end && *r->p == c) {
        r->p++;
        return true;
    }
    return false;
}

static bool json_string(json_reader_t *r)
{
    return fuzz_json_string(&r->p, r->end);
}

static bool json_value(json_reader_t *r)
{
    if (r->p < r->end && *r->p == '"')
        return json_string(r);
    if ((size_t)(r->end - r->p) >= 4 && !memcmp(r->p, "null", 4)) {
        r->p += 4;
        return true;
    }
    const char *start = r->p;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
        r->p++;
    /* Unsigned integers without leading zeros, as the formatter writes. */
    return r->p > start && (*start != '0' || r->p == start + 1);
}

/* Appends a key to keys ("ts seq ..."). */
static void key_add(char *keys, size_t cap, const char *key, size_t len)
{
    size_t at = strlen(keys);
    FUZZ_CHECK(at + len + 2 <= cap, "too many keys");
    if (at)
        keys[at++] = ' ';
    memcpy(keys + at, key, len);
    keys[at + len] = '\0';
}

/* Whether the line is one json object; its keys whose value is not null
 * go to keys. */
static bool json_object(const char *line, size_t len, char *keys, size_t cap)
{
    json_reader_t r = {line, line + len};
    keys[0] = '\0';
    if (!json_eat(&r, '{'))
        return false;
    do {
        const char *key = r.p;
        if (!json_string(&r) || !json_eat(&r, ':'))
            return false;
        size_t key_len = (size_t)(r.p - key) - 3; /* less '"', '"', ':' */
        if ((size_t)(r.end - r.p) < 4 || memcmp(r.p, "null", 4))
            key_add(keys, cap, key + 1, key_len);
        if (!json_value(&r))
            return false;
    } while (json_eat(&r, ','));
    return json_eat(&r, '}') && r.p == r.end;
}

/* ---- a logfmt reader: key=value, separated by one space ---- */

/* Whether the line is logfmt: each value a json string, or a run of bytes
 * without space, '=' or '"'. Its keys go to keys. */
static bool logfmt_line(const char *line, size_t len, char *keys, size_t cap)
{
    json_reader_t r = {line, line + len};
    keys[0] = '\0';
    do {
        const char *key = r.p;
        while (r.p < r.end && ((*r.p >= 'a' && *r.p <= 'z') || *r.p == '_'))
            r.p++;
        if (r.p == key)
            return false;
        key_add(keys, cap, key, (size_t)(r.p - key));
        if (!json_eat(&r, '='))
            return false;
        if (r.p < r.end && *r.p == '"') {
            if (!json_string(&r))
                return false;
            continue;
        }
        const char *value = r.p;
        while (r.p < r.end && !strchr(" =\"", *r.p))
            r.p++;
        if (r.p == value)
            return false;
    } while (json_eat(&r, ' '));
    return r.p == r.end;
}

/* ---- the walk ---- */

static int field_check(const zmqsink_field_t *field, void *arg)
{
    int *count = arg;
    FUZZ_CHECK(field->key && field->key_len == strlen(field->key), "key");
    FUZZ_CHECK(field->kind == ZMQSINK_FIELD_NULL ||
                   (field->text && !memchr(field->text, '\0', field->len)),
               "field %s", field->key);
    (*count)++;
    return 0;
}

/* ---- the formats ---- */

/* The keys of the json line, which the logfmt line must carry in the same
 * order (null ones left out). */
static char json_keys[512];

static void format_check(zmqsink_format_t format, const zmqsink_event_t *ev,
                         size_t cut)
{
    static char line[LINE_CAP], part[LINE_CAP];
    char keys[sizeof json_keys];
    int n = zmqsink_format_event(format, ev, line, sizeof line);
    FUZZ_CHECK(n > 0 && n < LINE_CAP, "format %d: %d bytes", format, n);
    FUZZ_CHECK(strlen(line) == (size_t)n, "format %d: NUL inside", format);
    FUZZ_CHECK(fuzz_utf8_valid(line, (size_t)n), "format %d: %s", format,
               line);
    FUZZ_CHECK(!fuzz_has_control(line, (size_t)n), "format %d: %s", format,
               line);
    if (format == ZMQSINK_FORMAT_JSON)
        FUZZ_CHECK(json_object(line, (size_t)n, json_keys, sizeof json_keys),
                   "json: %s", line);
    if (format == ZMQSINK_FORMAT_LOGFMT)
        FUZZ_CHECK(logfmt_line(line, (size_t)n, keys, sizeof keys) &&
                       !strcmp(keys, json_keys),
                   "logfmt: %s\nkeys: %s\njson keys: %s", line, keys,
                   json_keys);
    cut %= (size_t)n + 2;
    FUZZ_CHECK(zmqsink_format_event(format, ev, part, cut) == n,
               "format %d: cut at %zu", format, cut);
    if (cut > 0)
        FUZZ_CHECK(strlen(part) == (cut > (size_t)n ? (size_t)n : cut - 1) &&
                       !memcmp(part, line, strlen(part)),
                   "format %d: cut at %zu: %s", format, cut, part);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    zmqsink_event_t ev;
    size_t taken = size < sizeof ev ? size : sizeof ev;
    memset(&ev, 0, sizeof ev);
    memcpy(&ev, data, taken);
    size_t cut = 0;
    if (size >= taken + 2)
        cut = data[taken] | (size_t)data[taken + 1] << 8;
    format_check(ZMQSINK_FORMAT_JSON, &ev, cut);
    format_check(ZMQSINK_FORMAT_LOGFMT, &ev, cut);
    format_check(ZMQSINK_FORMAT_TEXT, &ev, cut);
    int fields = 0;
    FUZZ_CHECK(zmqsink_event_fields(&ev, field_check, &fields) == 0 &&
                   fields >= 11,
               "%d fields", fields);
    return 0;
}
