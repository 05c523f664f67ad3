/* JSON string escaping: the one rule by which every json zmqsink writes
 * (event lines, the stats file, the spool's dead letters) and syslog's
 * structured data escape text. Part of common/.
 *
 * \" \\ \b \f \n \r \t, other bytes below 0x20 and DEL as \u00XX; valid
 * UTF-8 passes through and each byte of an invalid sequence becomes
 * \ufffd, so the output is valid UTF-8 (and json parses). */
#ifndef ZS_COMMON_JSON_H
#define ZS_COMMON_JSON_H

#include <stddef.h>

/* Receives the escaped text piece by piece, in order: runs that needed no
 * escaping, and each escape sequence alone (starting with '\\'). */
typedef void json_put_fn(void *ctx, const char *s, size_t n);

/* Escapes the n bytes at s (NUL or not) for inside a json string, without
 * the quotes. */
void json_escape(const char *s, size_t n, json_put_fn *put, void *ctx);

/* The same between double quotes. */
void json_quote(const char *s, size_t n, json_put_fn *put, void *ctx);

/* Length of the prefix of the n bytes at s that json carries as it is. */
size_t json_plain_prefix(const char *s, size_t n);

#endif
