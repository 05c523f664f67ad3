/* Growable byte strings for sink plugins. */
#include "bytes.h"

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

void bytes_put(bytes_t *b, const char *s, size_t n, bool *failed)
{
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
