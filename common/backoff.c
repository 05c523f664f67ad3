/* Exponential backoff with optional full jitter, xorshift64, random ids. */
#include "backoff.h"

#include <inttypes.h>
#include <stdio.h>
#include <sys/random.h>

#include "clock.h"

void backoff_init(backoff_t *b, int64_t min_ns, int64_t max_ns)
{
    b->min_ns = min_ns;
    b->max_ns = max_ns;
    b->wait_ns = min_ns;
}

int64_t backoff_next(backoff_t *b)
{
    int64_t wait = b->wait_ns;
    b->wait_ns = wait > b->max_ns / 2 ? b->max_ns : wait * 2;
    return wait;
}

void backoff_reset(backoff_t *b)
{
    b->wait_ns = b->min_ns;
}

int64_t backoff_ceiling(int64_t min_ns, int64_t max_ns, int64_t attempt)
{
    int64_t ceiling = min_ns;
    for (int64_t i = 1; i < attempt && ceiling < max_ns; i++)
        ceiling *= 2;
    return ceiling < max_ns ? ceiling : max_ns;
}

int64_t backoff_full_jitter(uint64_t *random, int64_t ceiling_ns)
{
    return (int64_t)(random_next(random) % (uint64_t)(ceiling_ns + 1));
}

uint64_t random_next(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

uint64_t random_seed(void)
{
    return (uint64_t)clock_now_ns() | 1;
}

void random_hex128(uint64_t *state, char out[RANDOM_HEX128_LEN + 1])
{
    uint64_t bits[2];
    if (getrandom(bits, sizeof bits, GRND_NONBLOCK) != (ssize_t)sizeof bits) {
        bits[0] = random_next(state);
        bits[1] = random_next(state);
    }
    snprintf(out, RANDOM_HEX128_LEN + 1, "%016" PRIx64 "%016" PRIx64, bits[0],
             bits[1]);
}
