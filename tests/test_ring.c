/* Tests of the single-producer/single-consumer event ring (core/ring.c).
 *
 * The two-thread transfers move 2,000,000 records each; set
 * ZMQSINK_TEST_QUICK=1 to move 200,000 instead, e.g. under valgrind. */
#include <criterion/criterion.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ring.h"

#define FULL_TRANSFER 2000000u
#define QUICK_TRANSFER 200000u

/* Fields spread over the whole record, so a short or misplaced copy shows. */
static zmqsink_event_t event_for(uint64_t seq)
{
    zmqsink_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.seq = seq;
    ev.time_ns = (int64_t)(seq * 3);
    ev.value = (uint32_t)(seq * 2654435761u);
    memcpy(ev.peer + sizeof ev.peer - sizeof seq, &seq, sizeof seq);
    return ev;
}

static bool event_intact(const zmqsink_event_t *ev, uint64_t seq)
{
    uint64_t tail_copy;
    memcpy(&tail_copy, ev->peer + sizeof ev->peer - sizeof tail_copy,
           sizeof tail_copy);
    return ev->seq == seq && ev->time_ns == (int64_t)(seq * 3) &&
           ev->value == (uint32_t)(seq * 2654435761u) && tail_copy == seq;
}

static void push_seq(zs__ring_t *ring, uint64_t seq)
{
    zmqsink_event_t ev = event_for(seq);
    cr_assert(zs__ring_push(ring, &ev), "push of seq %lu failed",
              (unsigned long)seq);
}

/* Peeks and checks that exactly `expected` slots starting at seq `from`
 * are readable contiguously. */
static const zmqsink_event_t *expect_run(zs__ring_t *ring, uint64_t from,
                                         size_t expected)
{
    const zmqsink_event_t *first = NULL;
    size_t n = zs__ring_peek(ring, &first);
    cr_assert_eq(n, expected, "peek returned %zu, expected %zu", n,
                 expected);
    for (size_t i = 0; i < n; i++)
        cr_assert(event_intact(&first[i], from + i),
                  "slot %zu holds seq %lu, expected %lu", i,
                  (unsigned long)first[i].seq, (unsigned long)(from + i));
    return first;
}

Test(ring, rejects_bad_capacities)
{
    static const size_t bad[] = {0, 1, 3, 6, 1000, 65535};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        zs__ring_t *ring = zs__ring_new(bad[i]);
        cr_assert_null(ring, "capacity %zu accepted", bad[i]);
        cr_assert_eq(errno, EINVAL, "capacity %zu: errno %d", bad[i], errno);
    }
}

Test(ring, accepts_powers_of_two)
{
    static const size_t good[] = {2, 4, 64, 1024, 65536};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        zs__ring_t *ring = zs__ring_new(good[i]);
        cr_assert_not_null(ring, "capacity %zu refused", good[i]);
        cr_assert_eq(zs__ring_capacity(ring), good[i]);
        cr_assert_eq(zs__ring_depth(ring), 0);
        zs__ring_destroy(&ring);
    }
}

Test(ring, empty_peek_returns_nothing)
{
    static const zmqsink_event_t sentinel;
    zs__ring_t *ring = zs__ring_new(8);
    const zmqsink_event_t *first = &sentinel;
    cr_assert_eq(zs__ring_peek(ring, &first), 0);
    cr_assert_null(first);
    zs__ring_destroy(&ring);
}

Test(ring, push_fails_exactly_at_capacity)
{
    zs__ring_t *ring = zs__ring_new(8);
    for (uint64_t seq = 1; seq <= 8; seq++)
        push_seq(ring, seq);
    zmqsink_event_t extra = event_for(99);
    cr_assert_not(zs__ring_push(ring, &extra), "push beyond capacity");
    cr_assert_eq(zs__ring_depth(ring), 8);
    /* The refused push left every slot as it was. */
    expect_run(ring, 1, 8);
    zs__ring_release(ring, 1);
    cr_assert(zs__ring_push(ring, &extra), "push after a release failed");
    zs__ring_destroy(&ring);
}

Test(ring, peek_stops_at_the_wrap_point)
{
    zs__ring_t *ring = zs__ring_new(8);
    for (uint64_t seq = 1; seq <= 5; seq++)
        push_seq(ring, seq);
    const zmqsink_event_t *base = expect_run(ring, 1, 5);
    zs__ring_release(ring, 5);
    for (uint64_t seq = 6; seq <= 11; seq++)
        push_seq(ring, seq);
    /* Slots 5..7 hold 6..8, slots 0..2 hold 9..11. */
    const zmqsink_event_t *first = expect_run(ring, 6, 3);
    cr_assert_eq(first, base + 5);
    zs__ring_release(ring, 3);
    first = expect_run(ring, 9, 3);
    cr_assert_eq(first, base);
    zs__ring_release(ring, 3);
    expect_run(ring, 0, 0);
    zs__ring_destroy(&ring);
}

Test(ring, partial_release)
{
    zs__ring_t *ring = zs__ring_new(8);
    for (uint64_t seq = 1; seq <= 4; seq++)
        push_seq(ring, seq);
    expect_run(ring, 1, 4);
    zs__ring_release(ring, 1);
    cr_assert_eq(zs__ring_depth(ring), 3);
    expect_run(ring, 2, 3);
    zs__ring_release(ring, 0);
    expect_run(ring, 2, 3);
    zs__ring_release(ring, 2);
    cr_assert_eq(zs__ring_depth(ring), 1);
    expect_run(ring, 4, 1);
    zs__ring_destroy(&ring);
}

/* Pushes and releases pseudo-random amounts against a model of head and
 * tail, wrapping the indices around the slots thousands of times. The model
 * includes the consumer's cached view of tail (ring.h: it looks at the
 * producer's index only once its view runs out), so peek must return exactly
 * the run that view allows, up to the wrap point. */
Test(ring, wraps_many_times_against_a_model)
{
    enum { CAPACITY = 16, ROUNDS = 20000 };
    zs__ring_t *ring = zs__ring_new(CAPACITY);
    uint64_t head = 0, tail = 0, seen_tail = 0, lcg = 12345;
    for (int round = 0; round < ROUNDS; round++) {
        lcg = lcg * 6364136223846793005u + 1442695040888963407u;
        size_t pushes = (lcg >> 33) % (CAPACITY - (tail - head) + 1);
        for (size_t i = 0; i < pushes; i++)
            push_seq(ring, ++tail);
        cr_assert_eq(zs__ring_depth(ring), tail - head);

        if (seen_tail == head)
            seen_tail = tail;
        size_t before_wrap = CAPACITY - head % CAPACITY;
        size_t readable = seen_tail - head;
        size_t run = readable < before_wrap ? readable : before_wrap;
        expect_run(ring, head + 1, run);
        size_t release = run ? (lcg >> 45) % (run + 1) : 0;
        zs__ring_release(ring, release);
        head += release;
        cr_assert_eq(zs__ring_depth(ring), tail - head);
    }
    cr_assert_gt(tail / CAPACITY, 1000, "only %lu laps",
                 (unsigned long)(tail / CAPACITY));
    zs__ring_destroy(&ring);
}

Test(ring, destroy_takes_null_and_nulls_the_pointer)
{
    zs__ring_destroy(NULL);
    zs__ring_t *ring = NULL;
    zs__ring_destroy(&ring);
    cr_assert_null(ring);
    ring = zs__ring_new(4);
    cr_assert_not_null(ring);
    zs__ring_destroy(&ring);
    cr_assert_null(ring);
}

struct transfer {
    zs__ring_t *ring;
    uint64_t count;
};

static void *produce(void *arg)
{
    struct transfer *t = arg;
    for (uint64_t seq = 1; seq <= t->count; seq++) {
        zmqsink_event_t ev = event_for(seq);
        while (!zs__ring_push(t->ring, &ev))
            sched_yield();
    }
    return NULL;
}

static uint64_t transfer_count(void)
{
    const char *quick = getenv("ZMQSINK_TEST_QUICK");
    return quick && strcmp(quick, "1") == 0 ? QUICK_TRANSFER : FULL_TRANSFER;
}

/* The consumer runs on the test's thread and takes exactly count records;
 * it notes the first bad one rather than asserting at once, so that the
 * producer is never left spinning on a full ring. */
static void transfer(size_t capacity)
{
    struct transfer t = {zs__ring_new(capacity), transfer_count()};
    cr_assert_not_null(t.ring);
    pthread_t producer;
    cr_assert_eq(pthread_create(&producer, NULL, produce, &t), 0);

    uint64_t next = 1, first_bad = 0, half_releases = 0;
    while (next <= t.count) {
        const zmqsink_event_t *first;
        size_t n = zs__ring_peek(t.ring, &first);
        if (n == 0) {
            sched_yield();
            continue;
        }
        /* Give back half a run now and then, so partial releases race with
         * the producer too. */
        size_t take = (next & 1) && n > 1 ? n / 2 : n;
        half_releases += take < n;
        for (size_t i = 0; i < take; i++, next++)
            if (!first_bad && !event_intact(&first[i], next))
                first_bad = next;
        zs__ring_release(t.ring, take);
    }
    pthread_join(producer, NULL);

    const zmqsink_event_t *first;
    size_t left = zs__ring_peek(t.ring, &first);
    size_t depth = zs__ring_depth(t.ring);
    zs__ring_destroy(&t.ring);
    cr_assert_eq(first_bad, 0, "record %lu arrived damaged or out of order",
                 (unsigned long)first_bad);
    cr_assert_eq(left, 0, "%zu records beyond the %lu pushed", left,
                 (unsigned long)t.count);
    cr_assert_eq(depth, 0);
    cr_assert_gt(half_releases, 0);
}

/* Generous hang guards for sanitizer and valgrind runs, not timings. */
Test(ring, two_threads_small_ring, .timeout = 600)
{
    transfer(64);
}

Test(ring, two_threads_large_ring, .timeout = 600)
{
    transfer(65536);
}
