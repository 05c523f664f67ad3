/* Diagnostics of the configuration: messages that read
 * "FILE:LINE:COL: what was expected" (1-based), or "FILE: what went wrong"
 * when there is no position, written into the caller's buffer. */
#ifndef ZS_DIAG_H
#define ZS_DIAG_H

#include <stdarg.h>
#include <stddef.h>

/* Where messages go, and the file they name. err may be NULL. */
typedef struct zs__diag {
    const char *file;
    char *err;
    size_t errlen;
} zs__diag_t;

/* Each writes the message (replacing any earlier one) and returns -1. */
int zs__fail_pos_v(const zs__diag_t *d, unsigned line, unsigned col,
                   const char *fmt, va_list args);
int zs__fail_pos(const zs__diag_t *d, unsigned line, unsigned col,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Failures that have no position in the file. */
int zs__fail_file(const zs__diag_t *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int zs__fail_nomem(const zs__diag_t *d);

#endif
