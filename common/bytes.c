/* Growable byte strings for sink plugins. */
#include "bytes.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int bytes_reserve(bytes_t *b, size_t more)
{
    if (b->cap - b->len >= more)
        return 0;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap - b->len < more)
        cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data)
        return -1;
    b->data = data;
    b->cap = cap;
    return 0;
}

void bytes_put_grow(bytes_t *b, const char *s, size_t n, bool *failed)
{
    if (n == 0 && !*failed)
        return; /* s may be NULL: the data of an empty bytes_t */
    if (*failed || bytes_reserve(b, n) < 0) {
        *failed = true;
        return;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

void bytes_put_str(bytes_t *b, const char *s, bool *failed)
{
    bytes_put(b, s, strlen(s), failed);
}

void bytes_put_u64(bytes_t *b, uint64_t v, bool *failed)
{
    char digits[20], *p = digits + sizeof digits;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    bytes_put(b, p, (size_t)(digits + sizeof digits - p), failed);
}

void bytes_printf(bytes_t *b, bool *failed, const char *fmt, ...)
{
    va_list args, again;
    va_start(args, fmt);
    va_copy(again, args);
    int n = *failed ? -1 : vsnprintf(NULL, 0, fmt, args);
    if (n < 0 || bytes_reserve(b, (size_t)n + 1) < 0) {
        *failed = true;
    } else {
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
        b->len += (size_t)n;
    }
    va_end(again);
    va_end(args);
}

int bytes_put_event(bytes_t *b, const zmqsink_host_t *host,
                    zmqsink_format_t format, const zmqsink_event_t *ev)
{
    /* A guess that fits most events, so that data is never NULL here. */
    if (bytes_reserve(b, 256) < 0)
        return -1;
    for (;;) {
        size_t room = b->cap - b->len;
        size_t need = host->format(format, ev, b->data + b->len, room);
        if (need < room) {
            b->len += need;
            return 0;
        }
        if (bytes_reserve(b, need + 1) < 0)
            return -1;
    }
}

void bytes_free(bytes_t *b)
{
    free(b->data);
    *b = (bytes_t){0};
}
