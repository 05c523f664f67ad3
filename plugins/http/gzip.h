/* Compression of request bodies: gzip (RFC 1952) around DEFLATE (RFC 1951)
 * with LZ77 matches and fixed Huffman codes; and the CRC-32 that gzip and
 * the spool use.
 *
 * Written from the RFCs so that the sink needs no zlib. One compressor per
 * thread: it holds the match table, reused from call to call. */
#ifndef ZS_HTTP_GZIP_H
#define ZS_HTTP_GZIP_H

#include <stddef.h>
#include <stdint.h>

typedef struct gzip gzip_t;

/* A compressor, or NULL when out of memory. Caller owns it. */
gzip_t *gzip_new(void);

/* Frees the compressor and sets *gz to NULL; NULL is a no-op. */
void gzip_destroy(gzip_t **gz);

/* The most bytes gzip_compress() can write for n input bytes, or SIZE_MAX
 * when that does not fit in a size_t: n + 24 + 6 * (n / 65278), since
 * incompressible data goes out in stored blocks. */
size_t gzip_bound(size_t n);

/* Writes one whole gzip member holding the n bytes at in (which may be NULL
 * when n is 0) into out, which must have room for gzip_bound(n) bytes and
 * must not overlap in. Returns the member's length. Never fails. */
size_t gzip_compress(gzip_t *gz, const void *in, size_t n, void *out);

/* The standard CRC-32 (IEEE 802.3, reflected, as gzip and zip use) of n
 * bytes, continued from crc: start from 0, and feed the result back in to
 * extend it. crc32_update(0, "123456789", 9) == 0xCBF43926. */
uint32_t crc32_update(uint32_t crc, const void *data, size_t n);

#endif
