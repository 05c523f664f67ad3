/* Bounded single-producer/single-consumer ring of fixed-size event slots.
 *
 * One thread pushes (the collector), one thread peeks and releases (the
 * sink's worker). Neither ever blocks nor takes a lock. Capacity is a power
 * of two; each side caches the other's index so that it touches the shared
 * cache line only when its cached view runs out. Sleeping and waking the
 * consumer is the worker's business (core/worker.c), not the ring's. */
#ifndef ZS_RING_H
#define ZS_RING_H

#include <stdbool.h>
#include <stddef.h>

#include <zmqsink/event.h>

typedef struct zs__ring zs__ring_t;

/* A ring of capacity slots (a power of two >= 2), or NULL (errno EINVAL
 * or ENOMEM). Caller owns it. */
zs__ring_t *zs__ring_new(size_t capacity);

/* Frees the ring and sets *ring to NULL; NULL is a no-op. */
void zs__ring_destroy(zs__ring_t **ring);

/* Producer: copies the event into the next slot. Returns false, copying
 * nothing, when the ring is full. */
bool zs__ring_push(zs__ring_t *ring, const zmqsink_event_t *event);

/* Consumer: points *first at the oldest unreleased event and returns how
 * many follow it contiguously in memory (0 when empty). It may return fewer
 * than are readable (up to the wrap point, or what the consumer last saw of
 * the producer): call again after releasing. They stay valid until
 * released. */
size_t zs__ring_peek(zs__ring_t *ring, const zmqsink_event_t **first);

/* Consumer: gives back the n oldest slots (n <= what peek returned). */
void zs__ring_release(zs__ring_t *ring, size_t n);

/* Events in the ring now: exact from either side's thread, a recent
 * snapshot from any other. */
size_t zs__ring_depth(const zs__ring_t *ring);

size_t zs__ring_capacity(const zs__ring_t *ring);

/* Events ever pushed, and ever released, since the ring was made: each
 * an acquire load of an index its side stores with release, so that a
 * thread that reads released first and pushed next finds pushed >=
 * released. Any thread. */
uint64_t zs__ring_pushed(const zs__ring_t *ring);
uint64_t zs__ring_released(const zs__ring_t *ring);

#endif
