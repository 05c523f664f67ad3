/* Bounded single-producer/single-consumer ring of fixed-size event slots. */
#include "ring.h"

#include <assert.h>
#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_LINE 64

/* Indices run freely and are masked on access, so head == tail means empty
 * and tail - head == capacity means full, with no slot sacrificed. Each
 * index, and each side's private copy of the other's, sits on a line of its
 * own: apart from the slots themselves, a side's fast path touches no line
 * that the other side writes. */
struct zs__ring {
    /* Read by both sides, written only by zs__ring_new. */
    alignas(CACHE_LINE) zmqsink_event_t *slots;
    size_t capacity;
    size_t mask;

    /* Written by the producer, read by the consumer when its view is empty. */
    alignas(CACHE_LINE) _Atomic uint64_t tail;
    /* The producer's last view of head, touched only by the producer. */
    alignas(CACHE_LINE) uint64_t head_cache;

    /* Written by the consumer, read by the producer when its view is full. */
    alignas(CACHE_LINE) _Atomic uint64_t head;
    /* The consumer's last view of tail, touched only by the consumer. */
    alignas(CACHE_LINE) uint64_t tail_cache;
};

/* posix_memalign reports its error instead of setting errno. */
static void *aligned_allocate(size_t size)
{
    void *p = NULL;
    int rc = posix_memalign(&p, CACHE_LINE, size);
    if (rc != 0) {
        errno = rc;
        return NULL;
    }
    return p;
}

zs__ring_t *zs__ring_new(size_t capacity)
{
    if (capacity < 2 || (capacity & (capacity - 1)) != 0) {
        errno = EINVAL;
        return NULL;
    }
    if (capacity > SIZE_MAX / sizeof(zmqsink_event_t)) {
        errno = ENOMEM;
        return NULL;
    }
    zs__ring_t *ring = aligned_allocate(sizeof *ring);
    if (!ring)
        goto err;
    memset(ring, 0, sizeof *ring);
    /* Slots are left unwritten: pages are touched only as the ring fills. */
    ring->slots = aligned_allocate(capacity * sizeof(zmqsink_event_t));
    if (!ring->slots)
        goto err;
    ring->capacity = capacity;
    ring->mask = capacity - 1;
    atomic_init(&ring->tail, 0);
    atomic_init(&ring->head, 0);
    return ring;
err:
    free(ring);
    return NULL;
}

void zs__ring_destroy(zs__ring_t **ring)
{
    if (!ring || !*ring)
        return;
    free((*ring)->slots);
    free(*ring);
    *ring = NULL;
}

bool zs__ring_push(zs__ring_t *ring, const zmqsink_event_t *event)
{
    assert(ring && event);
    uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    if (tail - ring->head_cache == ring->capacity) {
        /* Acquire: the consumer is done reading the slots it released. */
        ring->head_cache =
            atomic_load_explicit(&ring->head, memory_order_acquire);
        if (tail - ring->head_cache == ring->capacity)
            return false;
    }
    memcpy(&ring->slots[tail & ring->mask], event, sizeof *event);
    /* Release: the copy is visible before the consumer sees the new tail. */
    atomic_store_explicit(&ring->tail, tail + 1, memory_order_release);
    return true;
}

size_t zs__ring_peek(zs__ring_t *ring, const zmqsink_event_t **first)
{
    assert(ring && first);
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    if (ring->tail_cache == head) {
        /* Acquire: pairs with the producer's release of its copies. */
        ring->tail_cache =
            atomic_load_explicit(&ring->tail, memory_order_acquire);
        if (ring->tail_cache == head) {
            *first = NULL;
            return 0;
        }
    }
    size_t index = head & ring->mask;
    size_t readable = ring->tail_cache - head;
    size_t before_wrap = ring->capacity - index;
    *first = &ring->slots[index];
    return readable < before_wrap ? readable : before_wrap;
}

void zs__ring_release(zs__ring_t *ring, size_t n)
{
    assert(ring);
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    assert(n <= ring->tail_cache - head);
    /* Release: reads of these slots finish before the producer reuses them. */
    atomic_store_explicit(&ring->head, head + n, memory_order_release);
}

size_t zs__ring_depth(const zs__ring_t *ring)
{
    /* Head first: tail never falls behind an earlier head, so the difference
     * cannot go negative; it can overshoot capacity from a third thread. */
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
    uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
    if (tail < head)
        return 0;
    return tail - head > ring->capacity ? ring->capacity : tail - head;
}

size_t zs__ring_capacity(const zs__ring_t *ring)
{
    return ring->capacity;
}

uint64_t zs__ring_pushed(const zs__ring_t *ring)
{
    return atomic_load_explicit(&ring->tail, memory_order_acquire);
}

uint64_t zs__ring_released(const zs__ring_t *ring)
{
    return atomic_load_explicit(&ring->head, memory_order_acquire);
}
