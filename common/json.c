/* JSON string escaping, and reading back one member of a flat object,
 * without allocation, locale or lock. */
#include "json.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Length of the valid UTF-8 sequence of 2 to 4 bytes at s, or 0 when s does
 * not start one (stray continuation, overlong form, surrogate, above
 * U+10FFFF, or cut short by the end of the text). */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
    unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
    size_t need;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        need = 2;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        need = 3;
        lo = s[0] == 0xE0 ? 0xA0 : lo;
        hi = s[0] == 0xED ? 0x9F : hi;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        need = 4;
        lo = s[0] == 0xF0 ? 0x90 : lo;
        hi = s[0] == 0xF4 ? 0x8F : hi;
    } else {
        return 0;
    }
    if (n < need || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return need;
}

/* Whether each of the 8 bytes of w is printable ASCII other than '"' and
 * '\\' (what json carries as it is), tested at once with the "has less",
 * "has more" and "has zero" byte tests of Bit Twiddling Hacks: each says
 * whether any byte is below ' ', above '~', '"' or '\\'. */
static bool plain_ascii8(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101u, highs = ones << 7;
    uint64_t below_space = (w - ones * 0x20) & ~w;
    uint64_t above_tilde = (w + ones) | w; /* 0x7F and 0x80.. */
    uint64_t not_quote = w ^ (ones * '"'), not_backslash = w ^ (ones * '\\');
    uint64_t quote = (not_quote - ones) & ~not_quote;
    uint64_t backslash = (not_backslash - ones) & ~not_backslash;
    return ((below_space | above_tilde | quote | backslash) & highs) == 0;
}

size_t json_plain_prefix(const char *text, size_t n)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    bool tail_tried = false;
    while (i < n) {
        uint64_t w;
        if (n - i >= sizeof w) {
            memcpy(&w, s + i, sizeof w);
            if (plain_ascii8(w)) {
                i += sizeof w;
                continue;
            }
        } else if (!tail_tried) {
            /* The last bytes, padded with plain ones: often plain at once
             * (tried once; then byte by byte). */
            tail_tried = true;
            memset(&w, 'a', sizeof w);
            memcpy(&w, s + i, n - i);
            if (plain_ascii8(w))
                return n;
        }
        unsigned char c = s[i];
        size_t seq;
        if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\')
            i++;
        else if (c >= 0x80 && (seq = utf8_sequence(s + i, n - i)) > 0)
            i += seq;
        else
            break;
    }
    return i;
}

static void escape_byte(unsigned char c, json_put_fn *put, void *ctx)
{
    static const char hex[] = "0123456789abcdef";
    switch (c) {
    case '"': put(ctx, "\\\"", 2); return;
    case '\\': put(ctx, "\\\\", 2); return;
    case '\b': put(ctx, "\\b", 2); return;
    case '\f': put(ctx, "\\f", 2); return;
    case '\n': put(ctx, "\\n", 2); return;
    case '\r': put(ctx, "\\r", 2); return;
    case '\t': put(ctx, "\\t", 2); return;
    }
    if (c >= 0x80) {
        put(ctx, "\\ufffd", 6);
        return;
    }
    char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
    put(ctx, esc, sizeof esc);
}

/* Copies plain runs whole and escapes the bytes between them. */
void json_escape(const char *s, size_t n, json_put_fn *put, void *ctx)
{
    size_t i = 0;
    for (;;) {
        size_t run = json_plain_prefix(s + i, n - i);
        if (run > 0)
            put(ctx, s + i, run);
        i += run;
        if (i == n)
            return;
        escape_byte((unsigned char)s[i++], put, ctx);
    }
}

void json_quote(const char *s, size_t n, json_put_fn *put, void *ctx)
{
    put(ctx, "\"", 1);
    json_escape(s, n, put, ctx);
    put(ctx, "\"", 1);
}

/* ---- reading a member back ---- */

/* The text being read, and where. */
typedef struct scan {
    const char *s;
    size_t n, i;
} scan_t;

/* Where a value is copied: cap bytes, NUL included; cut to fit. */
typedef struct sink_buf {
    char *buf;
    size_t cap, len;
} sink_buf_t;

static void buf_put(sink_buf_t *b, const char *s, size_t n)
{
    for (size_t k = 0; k < n && b->buf && b->len + 1 < b->cap; k++)
        b->buf[b->len++] = s[k];
    if (b->buf && b->cap)
        b->buf[b->len] = '\0';
}

static void scan_space(scan_t *sc)
{
    while (sc->i < sc->n && (sc->s[sc->i] == ' ' || sc->s[sc->i] == '\t' ||
                             sc->s[sc->i] == '\r' || sc->s[sc->i] == '\n'))
        sc->i++;
}

static bool scan_byte(scan_t *sc, char c)
{
    scan_space(sc);
    if (sc->i < sc->n && sc->s[sc->i] == c) {
        sc->i++;
        return true;
    }
    return false;
}

/* Four hex digits after "\u". Returns the unit, or -1. */
static long scan_hex4(scan_t *sc)
{
    if (sc->n - sc->i < 4)
        return -1;
    long v = 0;
    for (int k = 0; k < 4; k++) {
        char c = sc->s[sc->i++];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

static void put_utf8(sink_buf_t *b, unsigned long cp)
{
    char u[4];
    size_t len;
    if (cp < 0x80) {
        u[0] = (char)cp;
        len = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | cp >> 6);
        u[1] = (char)(0x80 | (cp & 0x3F));
        len = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | cp >> 12);
        u[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        len = 3;
    } else {
        u[0] = (char)(0xF0 | cp >> 18);
        u[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        u[2] = (char)(0x80 | (cp >> 6 & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        len = 4;
    }
    buf_put(b, u, len);
}

/* The code point of the escape "\uXXXX" (the backslash and 'u' read),
 * joining a surrogate pair; a lone surrogate is U+FFFD. -1: malformed. */
static long scan_unicode(scan_t *sc)
{
    long unit = scan_hex4(sc);
    if (unit < 0xD800 || unit > 0xDFFF)
        return unit;
    if (unit > 0xDBFF || sc->n - sc->i < 6 || sc->s[sc->i] != '\\' ||
        sc->s[sc->i + 1] != 'u')
        return 0xFFFD;
    size_t mark = sc->i;
    sc->i += 2;
    long low = scan_hex4(sc);
    if (low < 0xDC00 || low > 0xDFFF) {
        sc->i = mark;
        return low < 0 ? -1 : 0xFFFD;
    }
    return 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
}

/* Reads a string (at its opening quote) into b, unescaped. */
static bool scan_string(scan_t *sc, sink_buf_t *b)
{
    static const char plain[] = "\"\\/bfnrt", means[] = "\"\\/\b\f\n\r\t";
    if (!scan_byte(sc, '"'))
        return false;
    while (sc->i < sc->n) {
        char c = sc->s[sc->i++];
        if (c == '"')
            return true;
        if (c != '\\') {
            buf_put(b, &c, 1);
            continue;
        }
        if (sc->i == sc->n)
            return false;
        c = sc->s[sc->i++];
        const char *e = c ? strchr(plain, c) : NULL;
        if (e) {
            buf_put(b, &means[e - plain], 1);
            continue;
        }
        long cp = c == 'u' ? scan_unicode(sc) : -1;
        if (cp < 0)
            return false;
        put_utf8(b, (unsigned long)cp);
    }
    return false;
}

/* Reads a number, true, false or null into b as it is written. */
static bool scan_bare(scan_t *sc, sink_buf_t *b)
{
    scan_space(sc);
    size_t start = sc->i;
    while (sc->i < sc->n && sc->s[sc->i] != ',' && sc->s[sc->i] != '}' &&
           sc->s[sc->i] != ' ' && sc->s[sc->i] != '"' &&
           sc->s[sc->i] != '{' && sc->s[sc->i] != '[')
        sc->i++;
    buf_put(b, sc->s + start, sc->i - start);
    return sc->i > start;
}

int json_read_member(const char *text, size_t n, const char *key, char *out,
                size_t cap)
{
    scan_t sc = {text, n, 0};
    if (cap)
        out[0] = '\0';
    if (!scan_byte(&sc, '{'))
        return -1;
    if (scan_byte(&sc, '}'))
        return 0;
    size_t key_len = strlen(key);
    do {
        char name[64];
        sink_buf_t name_buf = {name, sizeof name, 0};
        if (!scan_string(&sc, &name_buf) || !scan_byte(&sc, ':'))
            return -1;
        bool wanted = name_buf.len == key_len && key_len < sizeof name - 1 &&
                      memcmp(name, key, key_len) == 0;
        sink_buf_t value = {wanted ? out : NULL, cap, 0};
        scan_space(&sc);
        bool quoted = sc.i < sc.n && sc.s[sc.i] == '"';
        if (!(quoted ? scan_string(&sc, &value) : scan_bare(&sc, &value)))
            return -1;
        if (wanted)
            return 1;
    } while (scan_byte(&sc, ','));
    return scan_byte(&sc, '}') ? 0 : -1;
}
