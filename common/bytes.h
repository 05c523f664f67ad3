/* Growable byte strings: messages, batches and queues built with one
 * allocation check at the end. Part of common/, compiled into each binary
 * that uses it. */
#ifndef ZS_PLUGIN_BYTES_H
#define ZS_PLUGIN_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <zmqsink/plugin.h>

typedef struct bytes {
    char *data; /* owned; NULL while cap is 0 */
    size_t len, cap;
} bytes_t;

/* Makes room for `more` bytes after len. Returns 0, or -1 when out of
 * memory (b is unchanged). */
int bytes_reserve(bytes_t *b, size_t more);

/* bytes_put() where the room is short: grows, or fails. */
void bytes_put_grow(bytes_t *b, const char *s, size_t n, bool *failed);

/* Appends n bytes. On allocation failure, or when *failed is already set,
 * sets *failed and appends nothing, so that a message is built with one
 * check at its end. Inline: messages are built of many small pieces. */
static inline void bytes_put(bytes_t *b, const char *s, size_t n,
                             bool *failed)
{
    if (b->cap - b->len >= n && n > 0 && !*failed) {
        memcpy(b->data + b->len, s, n);
        b->len += n;
        return;
    }
    bytes_put_grow(b, s, n, failed);
}
void bytes_put_str(bytes_t *b, const char *s, bool *failed);

/* Appends v in decimal, as bytes_put() does. */
void bytes_put_u64(bytes_t *b, uint64_t v, bool *failed);

/* Appends what printf() would print, as bytes_put() does (no NUL counted
 * in len, though one follows the text in data). */
void bytes_printf(bytes_t *b, bool *failed, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Appends the event rendered by the host's formatter (without a newline).
 * Returns 0, or -1 when out of memory (b is unchanged). */
int bytes_put_event(bytes_t *b, const zmqsink_host_t *host,
                    zmqsink_format_t format, const zmqsink_event_t *ev);

/* Frees the data and empties b. */
void bytes_free(bytes_t *b);

#endif
