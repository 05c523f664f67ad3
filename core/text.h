/* Growable text for messages and ${VAR} expansion: an allocation failure is
 * remembered and checked once at the end, so that composing stays short. */
#ifndef ZS_TEXT_H
#define ZS_TEXT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct zs__text {
    char *data; /* NUL-terminated once anything was added; caller frees */
    size_t len, cap;
    bool oom;
} zs__text_t;

/* Appends printf-style; does nothing once an allocation has failed. */
void zs__text_add(zs__text_t *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The text so far ("" when empty, "(out of memory)" after a failure);
 * belongs to t. */
const char *zs__text_get(const zs__text_t *t);

/* Frees the data and empties t. */
void zs__text_free(zs__text_t *t);

#endif
