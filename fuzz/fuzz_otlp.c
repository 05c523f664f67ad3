/* Fuzz target: the OTLP/HTTP JSON rendering of the http sink's batches
 * (plugins/http/otlp.c).
 *
 * Input: the bytes of a batch's event lines (a newline is added at the
 * end when they lack one), as a spool file may hold them after any damage.
 * The request must be one JSON value (objects, arrays, strings without
 * control characters, numbers, true, false, null) of valid UTF-8, and
 * hold no more records than the batch has lines. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "otlp.h"
#include "target.h"

/* ---- a JSON reader that accepts exactly RFC 8259 values ---- */

typedef struct reader {
    const char *p, *end;
    int depth;
} reader_t;

static void skip_space(reader_t *r)
{
    while (r->p < r->end && strchr(" \t\r\n", *r->p) && *r->p)
        r->p++;
}

static bool eat(reader_t *r, char c)
{
    skip_space(r);
    if (r->p < r->end && *r->p == c) {
        r->p++;
        return true;
    }
    return false;
}

static bool string(reader_t *r)
{
    skip_space(r);
    return fuzz_json_string(&r->p, r->end);
}

static bool number(reader_t *r)
{
    const char *start = r->p;
    if (r->p < r->end && *r->p == '-')
        r->p++;
    const char *digits = r->p;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
        r->p++;
    if (r->p == digits || (*digits == '0' && r->p > digits + 1))
        return false;
    if (r->p < r->end && *r->p == '.') {
        const char *fraction = ++r->p;
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
            r->p++;
        if (r->p == fraction)
            return false;
    }
    return r->p > start;
}

static bool literal(reader_t *r, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return false;
    r->p += n;
    return true;
}

static bool value(reader_t *r);

static bool members(reader_t *r, char close, bool keyed)
{
    if (eat(r, close))
        return true;
    do {
        if (keyed && (!(skip_space(r), string(r)) || !eat(r, ':')))
            return false;
        if (!value(r))
            return false;
    } while (eat(r, ','));
    return eat(r, close);
}

static bool value(reader_t *r)
{
    skip_space(r);
    if (r->p == r->end || ++r->depth > 64)
        return false;
    bool ok;
    switch (*r->p) {
    case '{':
        r->p++;
        ok = members(r, '}', true);
        break;
    case '[':
        r->p++;
        ok = members(r, ']', false);
        break;
    case '"':
        ok = string(r);
        break;
    case 't':
        ok = literal(r, "true");
        break;
    case 'f':
        ok = literal(r, "false");
        break;
    case 'n':
        ok = literal(r, "null");
        break;
    default:
        ok = number(r);
    }
    r->depth--;
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *lines = malloc(size + 1);
    FUZZ_CHECK(lines, "out of memory");
    memcpy(lines, data, size);
    size_t len = size;
    if (len == 0 || lines[len - 1] != '\n')
        lines[len++] = '\n';
    size_t nlines = 0;
    for (size_t i = 0; i < len; i++)
        nlines += lines[i] == '\n';

    bytes_t out = {0};
    otlp_origin_t origin = {.service_name = "fuzz", .scope_version = "0"};
    long records = otlp_render(&out, lines, len, &origin);
    FUZZ_CHECK(records >= 0, "out of memory");
    FUZZ_CHECK((size_t)records <= nlines, "%ld records of %zu lines", records,
               nlines);
    reader_t r = {out.data, out.data + out.len, 0};
    FUZZ_CHECK(value(&r) && (skip_space(&r), r.p == r.end),
               "not one JSON value: %.*s", (int)out.len, out.data);
    FUZZ_CHECK(fuzz_utf8_valid(out.data, out.len), "not UTF-8");
    bytes_free(&out);
    free(lines);
    return 0;
}
