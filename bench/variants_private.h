/* Inside the variants: the state they share, and the hand-written
 * consumers (variant_reader.c, variant_zmonitor.c) that variants.c
 * dispatches to. */
#ifndef BENCH_VARIANTS_PRIVATE_H
#define BENCH_VARIANTS_PRIVATE_H

#include "variants.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include <zmqsink.h>

struct variant {
    variant_kind_t kind;
    const variant_options_t *opts;
    void *ctx;
    void **sockets;  /* attached, by index of attach order */
    void **monitors; /* by the same index: the reader's PAIR, zmonitor's
                        actor */
    int nsockets;
    int sockets_cap; /* of both arrays */
    char path[4200]; /* the config (zmqsink) or the events file */
    FILE *out;       /* the hand-written consumers' events file */
    zmqsink_t *zs;
    void *consumer;  /* the reader's state */
    pthread_t thread; /* the hand-written consumers' */
    bool thread_started;
    atomic_bool give_up; /* tells the thread to return */
    _Atomic uint64_t lines; /* events written to out */
};

/* Writes a hand-written consumer's json line to v->out, as an application
 * would write it: {"event":..,"value":..,"endpoint":..,"ts":"RFC 3339
 * UTC, us"}, and counts it in v->lines. On the consumer's thread. */
void consumer_line(variant_t *v, const char *event, unsigned value,
                   const char *endpoint);

/* Tells the consumer's thread to return and joins it. */
void consumer_join(variant_t *v);

/* Each hand-written consumer: start (may be NULL) makes its state in
 * v->consumer (v->out is open); attach monitors one socket and sets
 * v->monitors[index] (room is made); main is its thread, which returns
 * when v->give_up is set (checking at least every 200 ms); stop closes
 * v's sockets, waits for their last events and joins the thread; free
 * releases v->consumer and v->monitors. Errors as variants.h. */
typedef struct consumer_ops {
    int (*start)(variant_t *v, char *err, size_t errlen);
    int (*attach)(variant_t *v, void *socket, int index, char *err,
                  size_t errlen);
    void *(*main)(void *v);
    int (*stop)(variant_t *v, variant_counts_t *out, char *err, size_t errlen);
    void (*free)(variant_t *v);
} consumer_ops_t;

extern const consumer_ops_t reader_ops;
#ifdef HAVE_CZMQ
extern const consumer_ops_t zmonitor_ops;
#endif

/* Closes every attached socket of v. */
void variant_close_sockets(variant_t *v);

#endif
