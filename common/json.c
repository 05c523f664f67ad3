/* JSON string escaping, without allocation, locale or lock. */
#include "json.h"

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

size_t json_plain_prefix(const char *text, size_t n)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < n) {
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
