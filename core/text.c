/* Growable text for messages and ${VAR} expansion. */
#include "text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void zs__text_add(zs__text_t *t, const char *fmt, ...)
{
    va_list args;
    if (t->oom)
        return;
    va_start(args, fmt);
    int n = vsnprintf(NULL, 0, fmt, args);
    va_end(args);
    if (n < 0) {
        t->oom = true;
        return;
    }
    size_t need = t->len + (size_t)n + 1;
    if (need > t->cap) {
        size_t cap = t->cap ? t->cap : 64;
        while (cap < need)
            cap *= 2;
        char *data = realloc(t->data, cap);
        if (!data) {
            t->oom = true;
            return;
        }
        t->data = data;
        t->cap = cap;
    }
    va_start(args, fmt);
    vsnprintf(t->data + t->len, t->cap - t->len, fmt, args);
    va_end(args);
    t->len += (size_t)n;
}

const char *zs__text_get(const zs__text_t *t)
{
    if (t->oom)
        return "(out of memory)";
    return t->data ? t->data : "";
}

void zs__text_free(zs__text_t *t)
{
    free(t->data);
    *t = (zs__text_t){0};
}
