/* Exponential backoff, plain or with full jitter, and the small PRNG that
 * draws the jitter: the waits of every retry loop (the core's worker on
 * retry-later, syslog reconnects, http and nats retries); and random ids.
 * Part of common/. */
#ifndef ZS_COMMON_BACKOFF_H
#define ZS_COMMON_BACKOFF_H

#include <stdint.h>

/* A wait that doubles after each failure, from min_ns up to max_ns. */
typedef struct backoff {
    int64_t min_ns, max_ns;
    int64_t wait_ns; /* the next wait */
} backoff_t;

/* Starts at min_ns; 0 < min_ns <= max_ns. */
void backoff_init(backoff_t *b, int64_t min_ns, int64_t max_ns);

/* Returns the wait before the next attempt and doubles the one after,
 * up to max_ns. */
int64_t backoff_next(backoff_t *b);

/* After a success: the next wait is min_ns again. */
void backoff_reset(backoff_t *b);

/* The ceiling of the wait before attempt number `attempt` (1 for the
 * first retry): min_ns doubled attempt - 1 times, at most max_ns. */
int64_t backoff_ceiling(int64_t min_ns, int64_t max_ns, int64_t attempt);

/* Full jitter: a wait drawn uniformly from [0, ceiling_ns], so that
 * clients that failed together do not retry together. */
int64_t backoff_full_jitter(uint64_t *random, int64_t ceiling_ns);

/* xorshift64: fast, not cryptographic, for jitter and sampling. *state
 * must not be 0; random_seed() gives a fresh nonzero one. */
uint64_t random_next(uint64_t *state);
uint64_t random_seed(void);

/* 128 random bits as 32 lower-case hex digits and a NUL: from the kernel,
 * or from *state when it has none. For ids that must not repeat across
 * processes and runs (idempotency keys, message ids). */
#define RANDOM_HEX128_LEN 32
void random_hex128(uint64_t *state, char out[RANDOM_HEX128_LEN + 1]);

#endif
