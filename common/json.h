/* JSON string escaping: the one rule by which every json zmqsink writes
 * (event lines, the stats file, the spool's dead letters) and syslog's
 * structured data escape text; and the reading back of a member of such a
 * line. Part of common/.
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

/* Reads back one member of a flat json object as zmqsink writes them (an
 * event line, a stats file): finds key among the members of the object in
 * the n bytes at text, whose values are strings, numbers, true, false or
 * null, and copies its value into out (cap bytes, NUL-terminated, cut to
 * fit): a string unescaped (\uXXXX as UTF-8), any other value as it is
 * written. Returns 1 when found, 0 when absent, -1 when the text is not
 * such an object. */
int json_read_member(const char *text, size_t n, const char *key, char *out,
                size_t cap);

#endif
