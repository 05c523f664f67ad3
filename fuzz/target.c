/* The checks of the fuzz targets. */
#include "target.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fuzz_fail(const char *file, int line, const char *cond, const char *fmt,
               ...)
{
    va_list args;
    fprintf(stderr, "%s:%d: check failed: %s: ", file, line, cond);
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fputc('\n', stderr);
    abort();
}

/* Decodes each character to its code point, then asks whether that code
 * point is allowed and needed as many bytes as it took. */
bool fuzz_utf8_valid(const char *text, size_t n)
{
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t len = c < 0x80 ? 1 : c >> 5 == 6 ? 2 : c >> 4 == 14 ? 3
                                 : c >> 3 == 30 ? 4 : 0;
        if (len == 0 || i + len > n)
            return false;
        uint32_t cp = len == 1 ? c : c & (0x7f >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < least[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

bool fuzz_has_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return true;
    return false;
}

bool fuzz_json_string(const char **p, const char *end)
{
    const char *s = *p;
    if (s == end || *s++ != '"')
        return false;
    while (s < end && *s != '"') {
        unsigned char c = (unsigned char)*s++;
        if (c < 0x20)
            return false;
        if (c != '\\')
            continue;
        if (s == end)
            return false;
        c = (unsigned char)*s++;
        if (c == 'u') {
            for (int i = 0; i < 4; i++)
                if (s == end || !strchr("0123456789abcdefABCDEF", *s++))
                    return false;
        } else if (!c || !strchr("\"\\/bfnrt", c)) {
            return false;
        }
    }
    if (s == end)
        return false;
    *p = s + 1;
    return true;
}
