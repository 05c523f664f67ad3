/* Diagnostics of the configuration: "FILE:LINE:COL: message" into the
 * caller's buffer. */
#include "diag.h"

#include <stdio.h>

int zs__fail_pos_v(const zs__diag_t *d, unsigned line, unsigned col,
                   const char *fmt, va_list args)
{
    if (!d->err || !d->errlen)
        return -1;
    int n = snprintf(d->err, d->errlen, "%s:%u:%u: ", d->file, line, col);
    if (n >= 0 && (size_t)n < d->errlen)
        vsnprintf(d->err + n, d->errlen - (size_t)n, fmt, args);
    return -1;
}

int zs__fail_pos(const zs__diag_t *d, unsigned line, unsigned col,
                 const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    zs__fail_pos_v(d, line, col, fmt, args);
    va_end(args);
    return -1;
}

int zs__fail_file(const zs__diag_t *d, const char *fmt, ...)
{
    if (!d->err || !d->errlen)
        return -1;
    int n = snprintf(d->err, d->errlen, "%s: ", d->file);
    if (n >= 0 && (size_t)n < d->errlen) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(d->err + n, d->errlen - (size_t)n, fmt, args);
        va_end(args);
    }
    return -1;
}

int zs__fail_nomem(const zs__diag_t *d)
{
    return zs__fail_file(d, "out of memory");
}
