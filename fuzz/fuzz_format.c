/* Fuzz target: the json, logfmt and text formatters, and the walk over an
 * event's fields behind them and behind syslog's structured data.
 *
 * Input: an event record, as a plugin receives it, from the first bytes
 * (missing ones zero; its text fields need not end in NUL), then two bytes
 * that choose a size for a cut rendering. Each format must give one line
 * of UTF-8 without control characters, json one that parses, and a cut
 * rendering must be the start of the whole one, as snprintf's is. */
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
    if (!json_eat(r, '"'))
        return false;
    while (r->p < r->end && *r->p != '"') {
        unsigned char c = (unsigned char)*r->p++;
        if (c < 0x20)
            return false;
        if (c != '\\')
            continue;
        if (r->p == r->end)
            return false;
        c = (unsigned char)*r->p++;
        if (c == 'u') {
            for (int i = 0; i < 4; i++)
                if (r->p == r->end || !strchr("0123456789abcdefABCDEF", *r->p++))
                    return false;
        } else if (!strchr("\"\\/bfnrt", c) || !c) {
            return false;
        }
    }
    return json_eat(r, '"');
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

static bool json_object(const char *line, size_t len)
{
    json_reader_t r = {line, line + len};
    if (!json_eat(&r, '{'))
        return false;
    do {
        if (!json_string(&r) || !json_eat(&r, ':') || !json_value(&r))
            return false;
    } while (json_eat(&r, ','));
    return json_eat(&r, '}') && r.p == r.end;
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

static void format_check(zmqsink_format_t format, const zmqsink_event_t *ev,
                         size_t cut)
{
    static char line[LINE_CAP], part[LINE_CAP];
    int n = zmqsink_format_event(format, ev, line, sizeof line);
    FUZZ_CHECK(n > 0 && n < LINE_CAP, "format %d: %d bytes", format, n);
    FUZZ_CHECK(strlen(line) == (size_t)n, "format %d: NUL inside", format);
    FUZZ_CHECK(fuzz_utf8_valid(line, (size_t)n), "format %d: %s", format,
               line);
    FUZZ_CHECK(!fuzz_has_control(line, (size_t)n), "format %d: %s", format,
               line);
    if (format == ZMQSINK_FORMAT_JSON)
        FUZZ_CHECK(json_object(line, (size_t)n), "json: %s", line);
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
