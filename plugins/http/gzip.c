/* gzip members (RFC 1952) of DEFLATE blocks (RFC 1951): lazy LZ77 matching
 * over hash chains, coded with the fixed Huffman codes, or stored when that
 * comes out smaller; and the CRC-32 the gzip trailer carries.
 *
 * The input is cut into blocks of at most 65535 bytes so that any block can
 * fall back to one stored block; matches still reach back into earlier
 * blocks, since the 32 KiB window spans the whole member. */
#include "gzip.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum {
    WINDOW_SIZE = 32768, /* RFC 1951: the farthest a match may reach */
    MIN_MATCH = 3,
    MAX_MATCH = 258,
    MIN_HASH_BITS = 10,
    MAX_HASH_BITS = 16,
    /* Candidates tried per position: bounds the time per byte on inputs
     * full of repeats, at a small cost in ratio. */
    MAX_CHAIN = 32,
    /* A match this long ends the search: looking on for a longer one
     * costs more time than it saves bytes (on JSON lines, an eighth of the
     * speed for under 1% of the output). */
    NICE_MATCH = 32,
    /* A match this long is taken without a second search one position
     * on for a longer one. */
    LAZY_LIMIT = 16,
    STORED_MAX = 65535, /* the most a stored block holds */
    /* A block stops taking new tokens here; its last match may run
     * MAX_MATCH - 1 bytes beyond and the block still fits one stored
     * block. */
    BLOCK_TARGET = STORED_MAX - (MAX_MATCH - 1),
    GZIP_HEADER_SIZE = 10,
    GZIP_TRAILER_SIZE = 8,
    /* Worst case of one block beyond its data: 3 header bits and up to 7
     * bits of padding, then LEN and NLEN. */
    BLOCK_OVERHEAD = 6,
};

/* RFC 1951 3.2.5: the first length of each length symbol 257..285, and
 * its extra bits. */
static const uint16_t length_base[29] = {
    3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
    31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t length_extra_bits[29] = {
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
    2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};

/* The CRC-32 of each byte value: the reflected polynomial 0xEDB88320
 * applied eight times (generated, and checked whole by the tests). */
static const uint32_t crc_table[256] = {
    0x00000000, 0x77073096, 0xee0e612c, 0x990951ba, 0x076dc419, 0x706af48f,
    0xe963a535, 0x9e6495a3, 0x0edb8832, 0x79dcb8a4, 0xe0d5e91e, 0x97d2d988,
    0x09b64c2b, 0x7eb17cbd, 0xe7b82d07, 0x90bf1d91, 0x1db71064, 0x6ab020f2,
    0xf3b97148, 0x84be41de, 0x1adad47d, 0x6ddde4eb, 0xf4d4b551, 0x83d385c7,
    0x136c9856, 0x646ba8c0, 0xfd62f97a, 0x8a65c9ec, 0x14015c4f, 0x63066cd9,
    0xfa0f3d63, 0x8d080df5, 0x3b6e20c8, 0x4c69105e, 0xd56041e4, 0xa2677172,
    0x3c03e4d1, 0x4b04d447, 0xd20d85fd, 0xa50ab56b, 0x35b5a8fa, 0x42b2986c,
    0xdbbbc9d6, 0xacbcf940, 0x32d86ce3, 0x45df5c75, 0xdcd60dcf, 0xabd13d59,
    0x26d930ac, 0x51de003a, 0xc8d75180, 0xbfd06116, 0x21b4f4b5, 0x56b3c423,
    0xcfba9599, 0xb8bda50f, 0x2802b89e, 0x5f058808, 0xc60cd9b2, 0xb10be924,
    0x2f6f7c87, 0x58684c11, 0xc1611dab, 0xb6662d3d, 0x76dc4190, 0x01db7106,
    0x98d220bc, 0xefd5102a, 0x71b18589, 0x06b6b51f, 0x9fbfe4a5, 0xe8b8d433,
    0x7807c9a2, 0x0f00f934, 0x9609a88e, 0xe10e9818, 0x7f6a0dbb, 0x086d3d2d,
    0x91646c97, 0xe6635c01, 0x6b6b51f4, 0x1c6c6162, 0x856530d8, 0xf262004e,
    0x6c0695ed, 0x1b01a57b, 0x8208f4c1, 0xf50fc457, 0x65b0d9c6, 0x12b7e950,
    0x8bbeb8ea, 0xfcb9887c, 0x62dd1ddf, 0x15da2d49, 0x8cd37cf3, 0xfbd44c65,
    0x4db26158, 0x3ab551ce, 0xa3bc0074, 0xd4bb30e2, 0x4adfa541, 0x3dd895d7,
    0xa4d1c46d, 0xd3d6f4fb, 0x4369e96a, 0x346ed9fc, 0xad678846, 0xda60b8d0,
    0x44042d73, 0x33031de5, 0xaa0a4c5f, 0xdd0d7cc9, 0x5005713c, 0x270241aa,
    0xbe0b1010, 0xc90c2086, 0x5768b525, 0x206f85b3, 0xb966d409, 0xce61e49f,
    0x5edef90e, 0x29d9c998, 0xb0d09822, 0xc7d7a8b4, 0x59b33d17, 0x2eb40d81,
    0xb7bd5c3b, 0xc0ba6cad, 0xedb88320, 0x9abfb3b6, 0x03b6e20c, 0x74b1d29a,
    0xead54739, 0x9dd277af, 0x04db2615, 0x73dc1683, 0xe3630b12, 0x94643b84,
    0x0d6d6a3e, 0x7a6a5aa8, 0xe40ecf0b, 0x9309ff9d, 0x0a00ae27, 0x7d079eb1,
    0xf00f9344, 0x8708a3d2, 0x1e01f268, 0x6906c2fe, 0xf762575d, 0x806567cb,
    0x196c3671, 0x6e6b06e7, 0xfed41b76, 0x89d32be0, 0x10da7a5a, 0x67dd4acc,
    0xf9b9df6f, 0x8ebeeff9, 0x17b7be43, 0x60b08ed5, 0xd6d6a3e8, 0xa1d1937e,
    0x38d8c2c4, 0x4fdff252, 0xd1bb67f1, 0xa6bc5767, 0x3fb506dd, 0x48b2364b,
    0xd80d2bda, 0xaf0a1b4c, 0x36034af6, 0x41047a60, 0xdf60efc3, 0xa867df55,
    0x316e8eef, 0x4669be79, 0xcb61b38c, 0xbc66831a, 0x256fd2a0, 0x5268e236,
    0xcc0c7795, 0xbb0b4703, 0x220216b9, 0x5505262f, 0xc5ba3bbe, 0xb2bd0b28,
    0x2bb45a92, 0x5cb36a04, 0xc2d7ffa7, 0xb5d0cf31, 0x2cd99e8b, 0x5bdeae1d,
    0x9b64c2b0, 0xec63f226, 0x756aa39c, 0x026d930a, 0x9c0906a9, 0xeb0e363f,
    0x72076785, 0x05005713, 0x95bf4a82, 0xe2b87a14, 0x7bb12bae, 0x0cb61b38,
    0x92d28e9b, 0xe5d5be0d, 0x7cdcefb7, 0x0bdbdf21, 0x86d3d2d4, 0xf1d4e242,
    0x68ddb3f8, 0x1fda836e, 0x81be16cd, 0xf6b9265b, 0x6fb077e1, 0x18b74777,
    0x88085ae6, 0xff0f6a70, 0x66063bca, 0x11010b5c, 0x8f659eff, 0xf862ae69,
    0x616bffd3, 0x166ccf45, 0xa00ae278, 0xd70dd2ee, 0x4e048354, 0x3903b3c2,
    0xa7672661, 0xd06016f7, 0x4969474d, 0x3e6e77db, 0xaed16a4a, 0xd9d65adc,
    0x40df0b66, 0x37d83bf0, 0xa9bcae53, 0xdebb9ec5, 0x47b2cf7f, 0x30b5ffe9,
    0xbdbdf21c, 0xcabac28a, 0x53b39330, 0x24b4a3a6, 0xbad03605, 0xcdd70693,
    0x54de5729, 0x23d967bf, 0xb3667a2e, 0xc4614ab8, 0x5d681b02, 0x2a6f2b94,
    0xb40bbe37, 0xc30c8ea1, 0x5a05df1b, 0x2d02ef8d,
};

/* A Huffman code with any extra bits after it, ready for the bit stream. */
struct code {
    uint32_t bits;
    uint8_t length;
};

struct gzip {
    uint32_t head[1u << MAX_HASH_BITS]; /* hash -> newest position */
    uint32_t prev[WINDOW_SIZE]; /* position -> older one, same hash */
    unsigned hash_shift; /* 32 - the hash bits in use for this input */
    size_t next_insert; /* positions below it are in the chains */
    uint32_t tokens[BLOCK_TARGET]; /* the block being built */
    size_t token_count;
    struct code literal[257]; /* 0..255 and the end of block */
    struct code length[MAX_MATCH + 1]; /* symbol and extra bits */
    uint8_t distance_symbol[30]; /* 5-bit codes, reversed */
};

/* Tables hold positions modulo 2^32. Every candidate is checked against
 * the data before use, so a stale or wrapped entry costs a comparison,
 * never a wrong match: any input size is safe. */

/* ---- bit output: LSB first, as RFC 1951 3.1.1 packs bytes ---- */

struct bit_writer {
    uint8_t *out;
    size_t pos;
    uint64_t pending; /* bits not yet written, the oldest lowest */
    unsigned count;   /* how many; below 32 between calls */
};

/* Appends n bits (n <= 32) of value, least significant first. */
static inline void put_bits(struct bit_writer *w, uint32_t value, unsigned n)
{
    w->pending |= (uint64_t)value << w->count;
    w->count += n;
    if (w->count >= 32) {
        w->out[w->pos] = (uint8_t)w->pending;
        w->out[w->pos + 1] = (uint8_t)(w->pending >> 8);
        w->out[w->pos + 2] = (uint8_t)(w->pending >> 16);
        w->out[w->pos + 3] = (uint8_t)(w->pending >> 24);
        w->pos += 4;
        w->pending >>= 32;
        w->count -= 32;
    }
}

/* Pads with zero bits to a byte boundary and writes out what is pending. */
static void align_to_byte(struct bit_writer *w)
{
    while (w->count > 0) {
        w->out[w->pos++] = (uint8_t)w->pending;
        w->pending >>= 8;
        w->count = w->count > 8 ? w->count - 8 : 0;
    }
    w->pending = 0;
}

static void put_u16_le(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32_le(uint8_t *p, uint32_t v)
{
    put_u16_le(p, v & 0xffffu);
    put_u16_le(p + 2, v >> 16);
}

/* ---- the fixed Huffman codes (RFC 1951 3.2.6) ---- */

/* Huffman codes go out most significant bit first (RFC 1951 3.1.1), so
 * they are stored reversed for the LSB-first writer. */
static uint32_t reverse_bits(uint32_t code, unsigned length)
{
    uint32_t reversed = 0;
    for (unsigned i = 0; i < length; i++) {
        reversed = (reversed << 1) | (code & 1);
        code >>= 1;
    }
    return reversed;
}

static struct code reversed_code(uint32_t code, unsigned length)
{
    return (struct code){reverse_bits(code, length), (uint8_t)length};
}

/* The fixed code of literal/length symbol 0..287. */
static struct code fixed_literal_code(unsigned symbol)
{
    if (symbol < 144)
        return reversed_code(0x30 + symbol, 8);
    if (symbol < 256)
        return reversed_code(0x190 + (symbol - 144), 9);
    if (symbol < 280)
        return reversed_code(symbol - 256, 7);
    return reversed_code(0xc0 + (symbol - 280), 8);
}

/* The length symbol's code followed by its extra bits, for 3..258. */
static struct code fixed_length_code(unsigned match_length)
{
    unsigned index = 28;
    while (length_base[index] > match_length)
        index--;
    struct code code = fixed_literal_code(257 + index);
    code.bits |= (uint32_t)(match_length - length_base[index]) << code.length;
    code.length = (uint8_t)(code.length + length_extra_bits[index]);
    return code;
}

static void init_codes(gzip_t *gz)
{
    for (unsigned symbol = 0; symbol <= 256; symbol++)
        gz->literal[symbol] = fixed_literal_code(symbol);
    for (unsigned len = MIN_MATCH; len <= MAX_MATCH; len++)
        gz->length[len] = fixed_length_code(len);
    for (unsigned symbol = 0; symbol < 30; symbol++)
        gz->distance_symbol[symbol] = (uint8_t)reverse_bits(symbol, 5);
}

static unsigned floor_log2(uint32_t v)
{
#if defined(__GNUC__)
    return 31u - (unsigned)__builtin_clz(v);
#else
    unsigned log = 0;
    while (v >>= 1)
        log++;
    return log;
#endif
}

/* The distance code (RFC 1951 3.2.5) with its extra bits. Past the first
 * four, symbols come in pairs with the same number of extra bits: in
 * binary, distance - 1 is a leading 1, one bit choosing within the pair,
 * then the extra bits. */
static struct code distance_code(const gzip_t *gz, unsigned distance)
{
    uint32_t d = distance - 1;
    if (d < 4)
        return (struct code){gz->distance_symbol[d], 5};
    unsigned extra = floor_log2(d) - 1;
    unsigned symbol = 2 * extra + 2 + ((d >> extra) & 1);
    uint32_t extra_value = d & ((1u << extra) - 1);
    return (struct code){gz->distance_symbol[symbol] | extra_value << 5,
                         (uint8_t)(5 + extra)};
}

/* ---- LZ77 matching ---- */

static inline uint32_t hash3(const gzip_t *gz, const uint8_t *p)
{
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
    return (v * 2654435761u) >> gz->hash_shift;
}

/* Sizes the hash table to the input, so that short bodies clear little. */
static void reset_matcher(gzip_t *gz, size_t n)
{
    unsigned bits = MIN_HASH_BITS;
    while (bits < MAX_HASH_BITS && ((size_t)1 << bits) < n)
        bits++;
    gz->hash_shift = 32 - bits;
    memset(gz->head, 0, sizeof gz->head[0] << bits);
    gz->next_insert = 0;
}

/* Links into the chains every position below end that has three bytes of
 * input from it on (the hash needs them). */
static inline void insert_until(gzip_t *gz, const uint8_t *in, size_t n,
                                size_t end)
{
    size_t hashable_end = n >= MIN_MATCH ? n - (MIN_MATCH - 1) : 0;
    if (end > hashable_end)
        end = hashable_end;
    for (size_t pos = gz->next_insert; pos < end; pos++) {
        uint32_t hash = hash3(gz, in + pos);
        gz->prev[pos & (WINDOW_SIZE - 1)] = gz->head[hash];
        gz->head[hash] = (uint32_t)pos;
    }
    if (end > gz->next_insert)
        gz->next_insert = end;
}

/* How many bytes a and b have in common, up to limit. */
static inline size_t common_length(const uint8_t *a, const uint8_t *b,
                                   size_t limit)
{
    size_t len = 0;
#if defined(__GNUC__) && defined(__BYTE_ORDER__) &&                        \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (len + 8 <= limit) {
        uint64_t x, y;
        memcpy(&x, a + len, 8);
        memcpy(&y, b + len, 8);
        if (x != y)
            return len + ((unsigned)__builtin_ctzll(x ^ y) >> 3);
        len += 8;
    }
#endif
    while (len < limit && a[len] == b[len])
        len++;
    return len;
}

struct match {
    unsigned length; /* 0 when none */
    unsigned distance;
};

/* The longest match for pos longer than at_least, searching at most
 * MAX_CHAIN earlier positions with the same hash. Inserts pos first. */
static struct match find_match(gzip_t *gz, const uint8_t *in, size_t n,
                               size_t pos, unsigned at_least)
{
    struct match best = {0, 0};
    size_t limit = n - pos < MAX_MATCH ? n - pos : MAX_MATCH;
    if (limit < MIN_MATCH || limit <= at_least)
        return best;
    insert_until(gz, in, n, pos + 1);
    uint32_t candidate = gz->prev[pos & (WINDOW_SIZE - 1)];
    size_t best_length = at_least < MIN_MATCH - 1 ? MIN_MATCH - 1 : at_least;
    uint32_t last_distance = 0;
    for (unsigned tries = MAX_CHAIN; tries > 0; tries--) {
        uint32_t distance = (uint32_t)pos - candidate;
        /* Chains only go back in time: anything else is stale. */
        if (distance <= last_distance || distance > WINDOW_SIZE ||
            distance > pos)
            break;
        last_distance = distance;
        const uint8_t *earlier = in + pos - distance;
        if (earlier[best_length] == in[pos + best_length]) {
            size_t len = common_length(earlier, in + pos, limit);
            if (len > best_length) {
                best_length = len;
                best = (struct match){(unsigned)len, distance};
                if (len >= NICE_MATCH || len == limit)
                    break;
            }
        }
        candidate = gz->prev[candidate & (WINDOW_SIZE - 1)];
    }
    return best;
}

/* ---- blocks ---- */

/* A token is a literal byte (below 256) or length << 16 | distance. */
static inline uint32_t literal_token(uint8_t byte)
{
    return byte;
}

static inline uint32_t match_token(struct match m)
{
    return (uint32_t)m.length << 16 | m.distance;
}

/* Bits the token takes in the fixed code. */
static inline size_t token_cost(const gzip_t *gz, uint32_t token)
{
    if (token < 256)
        return gz->literal[token].length;
    return gz->length[token >> 16].length +
           distance_code(gz, token & 0xffffu).length;
}

/* Turns the input from start into tokens until the block is full or the
 * input ends. Returns the end of the bytes covered; adds their cost in
 * bits to *cost. Each match is weighed against one found a byte later, and
 * the longer one wins (lazy matching). */
static size_t tokenize_block(gzip_t *gz, const uint8_t *in, size_t n,
                             size_t start, size_t *cost)
{
    size_t target = n - start < BLOCK_TARGET ? n : start + BLOCK_TARGET;
    size_t pos = start, bits = 0;
    gz->token_count = 0;
    while (pos < target) {
        struct match m = find_match(gz, in, n, pos, 0);
        while (m.length >= MIN_MATCH && m.length < LAZY_LIMIT &&
               pos + 1 < target) {
            struct match later = find_match(gz, in, n, pos + 1, m.length);
            if (later.length <= m.length)
                break;
            uint32_t token = literal_token(in[pos++]);
            gz->tokens[gz->token_count++] = token;
            bits += token_cost(gz, token);
            m = later;
        }
        uint32_t token = m.length >= MIN_MATCH ? match_token(m)
                                                : literal_token(in[pos]);
        gz->tokens[gz->token_count++] = token;
        bits += token_cost(gz, token);
        pos += m.length >= MIN_MATCH ? m.length : 1;
    }
    insert_until(gz, in, n, pos);
    *cost += bits;
    return pos;
}

static void write_fixed_block(const gzip_t *gz, struct bit_writer *w,
                              bool final)
{
    put_bits(w, final | 1u << 1, 3); /* BFINAL, BTYPE 01 */
    for (size_t i = 0; i < gz->token_count; i++) {
        uint32_t token = gz->tokens[i];
        if (token < 256) {
            put_bits(w, gz->literal[token].bits, gz->literal[token].length);
        } else {
            struct code length = gz->length[token >> 16];
            struct code distance = distance_code(gz, token & 0xffffu);
            put_bits(w, length.bits, length.length);
            put_bits(w, distance.bits, distance.length);
        }
    }
    put_bits(w, gz->literal[256].bits, gz->literal[256].length);
}

static void write_stored_block(struct bit_writer *w, const uint8_t *data,
                               size_t len, bool final)
{
    put_bits(w, final, 3); /* BFINAL, BTYPE 00 */
    align_to_byte(w);
    put_u16_le(w->out + w->pos, (uint32_t)len);
    put_u16_le(w->out + w->pos + 2, (uint32_t)~len & 0xffffu);
    if (len > 0)
        memcpy(w->out + w->pos + 4, data, len);
    w->pos += 4 + len;
}

/* Whichever of the two codings of the tokenized block is shorter. */
static void write_block(const gzip_t *gz, struct bit_writer *w,
                        const uint8_t *data, size_t len, size_t cost,
                        bool final)
{
    size_t fixed_bits = 3 + cost + gz->literal[256].length;
    size_t padding = (8 - (w->count + 3) % 8) % 8;
    size_t stored_bits = 3 + padding + 32 + 8 * len;
    if (fixed_bits <= stored_bits)
        write_fixed_block(gz, w, final);
    else
        write_stored_block(w, data, len, final);
}

/* The DEFLATE stream for the whole input; returns its length. */
static size_t deflate_blocks(gzip_t *gz, const uint8_t *in, size_t n,
                             uint8_t *out)
{
    struct bit_writer w = {out, 0, 0, 0};
    size_t pos = 0;
    reset_matcher(gz, n);
    do {
        size_t cost = 0;
        size_t end = tokenize_block(gz, in, n, pos, &cost);
        write_block(gz, &w, in + pos, end - pos, cost, end == n);
        pos = end;
    } while (pos < n);
    align_to_byte(&w);
    return w.pos;
}

/* ---- the public functions ---- */

gzip_t *gzip_new(void)
{
    gzip_t *gz = calloc(1, sizeof *gz);
    if (gz)
        init_codes(gz);
    return gz;
}

void gzip_destroy(gzip_t **gz)
{
    if (!gz || !*gz)
        return;
    free(*gz);
    *gz = NULL;
}

size_t gzip_bound(size_t n)
{
    size_t blocks = n / BLOCK_TARGET + 1;
    size_t overhead = GZIP_HEADER_SIZE + GZIP_TRAILER_SIZE +
                      blocks * BLOCK_OVERHEAD;
    return n > SIZE_MAX - overhead ? SIZE_MAX : n + overhead;
}

size_t gzip_compress(gzip_t *gz, const void *in, size_t n, void *out)
{
    assert(gz && out && (in || n == 0));
    static const uint8_t nothing[1];
    if (n == 0)
        in = nothing; /* no arithmetic on a null pointer below */
    static const uint8_t header[GZIP_HEADER_SIZE] = {
        0x1f, 0x8b, 8 /* deflate */, 0 /* no flags */, 0, 0, 0, 0 /* mtime */,
        0 /* xfl */, 255 /* os unknown */};
    uint8_t *bytes = out;
    memcpy(bytes, header, sizeof header);
    size_t len = sizeof header;
    len += deflate_blocks(gz, in, n, bytes + len);
    put_u32_le(bytes + len, crc32_update(0, in, n));
    put_u32_le(bytes + len + 4, (uint32_t)n); /* ISIZE: n modulo 2^32 */
    return len + GZIP_TRAILER_SIZE;
}

uint32_t crc32_update(uint32_t crc, const void *data, size_t n)
{
    const uint8_t *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++)
        crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}
