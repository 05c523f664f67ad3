/* Tests of the gzip encoder and CRC-32 (plugins/http/gzip.c): every member
 * it writes must unpack, byte for byte, with the system's gzip(1). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gzip.h"

/* ---- inputs ---- */

enum input_kind {
    INPUT_EMPTY,
    INPUT_ONE_BYTE,
    INPUT_CHECK_STRING, /* "123456789", or its start */
    INPUT_JSON_LINES,
    INPUT_RANDOM,
    INPUT_RUN,           /* one byte value repeated */
    INPUT_WINDOW_REPEAT, /* random bytes that recur exactly 32768 later */
    INPUT_MIXED, /* JSON, random, JSON: fixed, stored, fixed blocks */
};

static const char *const input_names[] = {
    [INPUT_EMPTY] = "empty",
    [INPUT_ONE_BYTE] = "one byte",
    [INPUT_CHECK_STRING] = "123456789 or its start",
    [INPUT_JSON_LINES] = "json lines",
    [INPUT_RANDOM] = "random bytes",
    [INPUT_RUN] = "run of one byte",
    [INPUT_WINDOW_REPEAT] = "repeat at distance 32768",
    [INPUT_MIXED] = "json, random, json",
};

/* xorshift64: the same "random" bytes on every run. */
static uint64_t next_random(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
    uint64_t state = seed;
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(next_random(&state) >> 56);
}

/* Lines as the http sink sends them, cut off at n bytes. */
static void fill_json_lines(uint8_t *p, size_t n)
{
    static const char *const events[] = {"connected", "disconnected",
                                         "accepted", "handshake_succeeded"};
    char line[256];
    size_t used = 0;
    for (unsigned seq = 0; used < n; seq++) {
        int len = snprintf(
            line, sizeof line,
            "{\"ts\":\"2026-11-24T10:%02u:%02u.%06uZ\",\"seq\":%u,"
            "\"event\":\"%s\",\"endpoint\":\"tcp://127.0.0.1:%u\","
            "\"fd\":%u}\n",
            seq / 60000 % 60, seq / 1000 % 60, seq * 7919 % 1000000, seq,
            events[seq * 31 % 4], 5555 + seq % 3, 10 + seq * 17 % 50);
        size_t take = n - used < (size_t)len ? n - used : (size_t)len;
        memcpy(p + used, line, take);
        used += take;
    }
}

/* Caller frees the result (n bytes; at least one allocated). */
static uint8_t *make_input(enum input_kind kind, size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    cr_assert_not_null(p);
    switch (kind) {
    case INPUT_EMPTY:
        break;
    case INPUT_ONE_BYTE:
        p[0] = 'x';
        break;
    case INPUT_CHECK_STRING:
        memcpy(p, "123456789", n);
        break;
    case INPUT_JSON_LINES:
        fill_json_lines(p, n);
        break;
    case INPUT_RANDOM:
        fill_random(p, n, 0x9e3779b97f4a7c15u);
        break;
    case INPUT_RUN:
        memset(p, 'a', n);
        break;
    case INPUT_WINDOW_REPEAT:
        fill_random(p, 32768, 42);
        for (size_t i = 32768; i < n; i++)
            p[i] = p[i - 32768];
        break;
    case INPUT_MIXED:
        fill_json_lines(p, n / 4);
        fill_random(p + n / 4, n / 2, 7);
        fill_json_lines(p + n / 4 + n / 2, n - n / 4 - n / 2);
        break;
    }
    return p;
}

/* ---- running gzip(1) in a scratch directory ---- */

static char scratch[64];

static void make_scratch(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(scratch, sizeof scratch, "%s/test_gzip.XXXXXX",
             tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    cr_assert_not_null(mkdtemp(scratch), "mkdtemp: %s", strerror(errno));
}

static void scratch_path(char *path, size_t size, const char *name)
{
    snprintf(path, size, "%s/%s", scratch, name);
}

static void remove_scratch(void)
{
    static const char *const names[] = {"member.gz", "unpacked"};
    char path[128];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        scratch_path(path, sizeof path, names[i]);
        unlink(path);
    }
    rmdir(scratch);
}

/* Runs argv with stdout to stdout_path; returns its exit status, or -1
 * when it could not run or was killed. */
static int run(char *const argv[], const char *stdout_path)
{
    extern char **environ;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, stdout_path,
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        return -1;
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(data, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

/* Caller frees the result; *n gets its length. */
static uint8_t *read_file(const char *path, size_t *n)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "%s: %s", path, strerror(errno));
    uint8_t *data = malloc(st.st_size ? (size_t)st.st_size : 1);
    cr_assert_not_null(data);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    *n = fread(data, 1, (size_t)st.st_size, f);
    fclose(f);
    cr_assert_eq(*n, (size_t)st.st_size);
    return data;
}

/* Checks the member with `gzip -t` and returns what `gzip -dc` makes of it
 * (caller frees; *n gets its length). */
static uint8_t *gunzip(const uint8_t *member, size_t len, size_t *n)
{
    char packed[128], unpacked[128];
    scratch_path(packed, sizeof packed, "member.gz");
    scratch_path(unpacked, sizeof unpacked, "unpacked");
    write_file(packed, member, len);
    char *test_argv[] = {"gzip", "-t", packed, NULL};
    cr_assert_eq(run(test_argv, "/dev/null"), 0, "gzip -t rejected it");
    char *unpack_argv[] = {"gzip", "-dc", packed, NULL};
    cr_assert_eq(run(unpack_argv, unpacked), 0, "gzip -dc failed");
    return read_file(unpacked, n);
}

static uint32_t read_u32_le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

/* ---- round trips ---- */

struct gzip_case {
    enum input_kind kind;
    size_t size;
    double max_ratio; /* the output must be smaller than this; 0: no limit */
};

ParameterizedTestParameters(gzip, round_trip)
{
    static struct gzip_case cases[] = {
        {INPUT_EMPTY, 0, 0},
        {INPUT_ONE_BYTE, 1, 0},
        {INPUT_CHECK_STRING, 2, 0}, /* too short for a match */
        {INPUT_CHECK_STRING, 9, 0},
        {INPUT_JSON_LINES, 300000, 0.25},
        {INPUT_RANDOM, 100000, 0},
        /* 258-byte matches at distance 1: 13 bits per 258 bytes. */
        {INPUT_RUN, 70000, 0.01},
        /* Only matches at distance 32768 can shrink it. */
        {INPUT_WINDOW_REPEAT, 3 * 32768, 0.4},
        /* A stored block after a fixed one that ends mid-byte. */
        {INPUT_MIXED, 270000, 0.65},
    };
    return cr_make_param_array(struct gzip_case, cases,
                               sizeof cases / sizeof cases[0]);
}

ParameterizedTest(struct gzip_case *c, gzip, round_trip, .init = make_scratch,
                  .fini = remove_scratch)
{
    const char *name = input_names[c->kind];
    uint8_t *in = make_input(c->kind, c->size);
    gzip_t *gz = gzip_new();
    cr_assert_not_null(gz);
    /* Exactly the bound, so that ASan or valgrind sees any write past it. */
    size_t bound = gzip_bound(c->size);
    uint8_t *out = malloc(bound);
    cr_assert_not_null(out);

    size_t len = gzip_compress(gz, in, c->size, out);
    cr_assert_leq(len, bound, "%s: %zu bytes, bound %zu", name, len, bound);
    cr_assert_geq(len, 18u + 2u, "%s: %zu bytes", name, len);
    if (c->max_ratio > 0)
        cr_assert_lt((double)len, c->max_ratio * (double)c->size,
                     "%s: %zu bytes from %zu", name, len, c->size);

    size_t unpacked_len;
    uint8_t *unpacked = gunzip(out, len, &unpacked_len);
    cr_assert_eq(unpacked_len, c->size, "%s: %zu bytes back, not %zu", name,
                 unpacked_len, c->size);
    cr_assert_arr_eq(unpacked, in, c->size, "%s: different bytes back",
                     name);

    free(unpacked);
    free(out);
    gzip_destroy(&gz);
    free(in);
}

/* ---- the member's fixed parts ---- */

Test(gzip, header_and_trailer)
{
    static const uint8_t header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255};
    const char *in = "123456789";
    gzip_t *gz = gzip_new();
    cr_assert_not_null(gz);
    uint8_t out[64];
    cr_assert_leq(gzip_bound(9), sizeof out);
    size_t len = gzip_compress(gz, in, 9, out);
    cr_assert_arr_eq(out, header, sizeof header);
    cr_assert_eq(read_u32_le(out + len - 8), 0xCBF43926u, "CRC-32");
    cr_assert_eq(read_u32_le(out + len - 4), 9u, "ISIZE");
    /* BFINAL set, BTYPE 01 (fixed Huffman): nine literals need no more. */
    cr_assert_eq(out[10] & 7, 3);
    gzip_destroy(&gz);
}

/* An empty member is one fixed block holding only the end-of-block code:
 * 3 + 7 bits, all zero but BFINAL and BTYPE's low bit. */
Test(gzip, empty_input_is_one_end_of_block_code)
{
    gzip_t *gz = gzip_new();
    cr_assert_not_null(gz);
    uint8_t out[32];
    cr_assert_eq(gzip_compress(gz, NULL, 0, out), 10u + 2u + 8u);
    cr_assert_eq(out[10], 0x03);
    cr_assert_eq(out[11], 0x00);
    cr_assert_eq(read_u32_le(out + 12), 0u, "CRC-32 of nothing");
    cr_assert_eq(read_u32_le(out + 16), 0u, "ISIZE");
    gzip_destroy(&gz);
}

/* 259 bytes 'a': the literal, then length 258 at distance 1, which must be
 * symbol 285 (symbol 284 with extra bits 31 also spells 258, and lenient
 * decoders such as gzip(1) take it). Worked out by hand from RFC 1951
 * 3.2.6: bits 1,10 (final, fixed); 10010001 ('a'); 11000101 (285);
 * 00000 (distance 1); 0000000 (end of block); packed LSB first. */
Test(gzip, longest_match_codes_by_hand)
{
    static const uint8_t expected[] = {0x4b, 0x1c, 0x05, 0x00};
    uint8_t in[259];
    memset(in, 'a', sizeof in);
    gzip_t *gz = gzip_new();
    cr_assert_not_null(gz);
    uint8_t out[300];
    size_t len = gzip_compress(gz, in, sizeof in, out);
    cr_assert_eq(len, 10 + sizeof expected + 8);
    cr_assert_arr_eq(out + 10, expected, sizeof expected);
    gzip_destroy(&gz);
}

/* A compressor used before gives the same output as a new one. */
Test(gzip, reuse_gives_the_same_output)
{
    enum { BIG = 200000, SMALL = 5000 };
    uint8_t *json = make_input(INPUT_JSON_LINES, BIG);
    uint8_t *random = make_input(INPUT_RANDOM, SMALL);
    uint8_t *first = malloc(gzip_bound(BIG));
    uint8_t *again = malloc(gzip_bound(BIG));
    uint8_t *small = malloc(gzip_bound(SMALL));
    gzip_t *fresh = gzip_new(), *used = gzip_new();
    cr_assert(first && again && small && fresh && used);

    size_t len = gzip_compress(fresh, json, BIG, first);
    gzip_compress(used, json, BIG, again);
    gzip_compress(used, random, SMALL, small);
    cr_assert_eq(gzip_compress(used, json, BIG, again), len);
    cr_assert_arr_eq(again, first, len);

    gzip_destroy(&fresh);
    gzip_destroy(&used);
    free(small);
    free(again);
    free(first);
    free(random);
    free(json);
}

Test(gzip, bound)
{
    cr_assert_eq(gzip_bound(0), 24u);
    cr_assert_eq(gzip_bound(65277), 65277u + 24u);
    cr_assert_eq(gzip_bound(65278), 65278u + 30u);
    cr_assert_eq(gzip_bound(SIZE_MAX), SIZE_MAX);
    cr_assert_eq(gzip_bound(SIZE_MAX - 30), SIZE_MAX);
}

Test(gzip, destroy_takes_null_and_nulls_the_pointer)
{
    gzip_t *gz = gzip_new();
    cr_assert_not_null(gz);
    gzip_destroy(&gz);
    cr_assert_null(gz);
    gzip_destroy(&gz);
    gzip_destroy(NULL);
}

/* ---- CRC-32 ---- */

/* One bit at a time, straight from the definition, to check the table. */
static uint32_t crc32_bitwise(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int bit = 0; bit < 8; bit++)
            crc = crc & 1 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
    }
    return ~crc;
}

Test(crc32, check_value)
{
    cr_assert_eq(crc32_update(0, "123456789", 9), 0xCBF43926u);
    cr_assert_eq(crc32_update(0, NULL, 0), 0u);
    cr_assert_eq(crc32_update(0, "a", 1), 0xE8B7BE43u);
}

Test(crc32, chains)
{
    uint32_t crc = crc32_update(0, "1234", 4);
    cr_assert_eq(crc32_update(crc, "56789", 5), 0xCBF43926u);
    cr_assert_eq(crc32_update(crc, NULL, 0), crc);
}

/* Every table entry is reached many times over 64 KB of random bytes. */
Test(crc32, matches_the_definition)
{
    enum { N = 65536 };
    uint8_t *p = make_input(INPUT_RANDOM, N);
    cr_assert_eq(crc32_update(0, p, N), crc32_bitwise(0, p, N));
    for (size_t n = 0; n < 300; n += 37)
        cr_assert_eq(crc32_update(0x12345678u, p, n),
                     crc32_bitwise(0x12345678u, p, n), "%zu bytes", n);
    free(p);
}
