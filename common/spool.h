/* A durable spool for any sink that sends batches to a server: one file
 * per undelivered batch in a directory, replayed oldest first, bounded in
 * size; and the dead-letter file beside them for batches the server
 * refused for good. Part of common/, compiled into the plugins that use
 * it; it reaches the core only through the host table. */
#ifndef ZS_COMMON_SPOOL_H
#define ZS_COMMON_SPOOL_H

#include <stdbool.h>
#include <stdint.h>

#include <zmqsink/plugin.h>

#include "backoff.h"
#include "bytes.h"

#define SPOOL_KEY_LEN RANDOM_HEX128_LEN /* a key is random_hex128() */
#define SPOOL_DEAD_LETTER_FILE "dead-letter.ndjson"

/* A closed batch of events: its place in the sink's order, the key that
 * identifies it to the receiver across retries and restarts, and its
 * events, one line each, each ending in '\n': NDJSON for the http sink
 * (what spool_dead_letter() expects), "SEQ SUBJECT BODY" for the nats
 * sink, whose key is the instance part of its messages' ids. */
typedef struct spool_batch {
    uint64_t id;
    char key[SPOOL_KEY_LEN + 1];
    uint32_t events;
    bytes_t body;
    struct spool_batch *next; /* free for the sink (a memory queue) */
} spool_batch_t;

typedef struct spool spool_t;

/* Opens the spool in dir (made if missing; relative to the config file,
 * as the host's resolve_path() resolves it): takes the first slot of it that no other process holds (dir
 * itself, or dir/slot-1 .. slot-63) and indexes its batches, then moves in
 * the batches of slots that no process holds. Files that are torn or not
 * batches are renamed to NAME.corrupt, logged and counted as failed.
 * max_size bounds the slot. Returns NULL with a message in err, also when
 * another sink of this process has dir. Caller owns the result. */
spool_t *spool_open(const zmqsink_host_t *host, const char *dir,
                    uint64_t max_size, char *err, size_t errlen);

/* Releases the slot and the index; the files stay for the next run. Takes
 * NULL and nulls the pointer. */
void spool_close(spool_t **spool);

/* Batches in the spool; the highest id among them (0 when empty); the
 * lowest (UINT64_MAX when empty). */
size_t spool_count(const spool_t *spool);
/* Whether batch id was added in this run, rather than left by an earlier
 * one (or a process that is gone): only this run's count in its stats.
 * The spool counts its own losses so (count_failed()); a sink counting
 * deliveries asks it for the batches it sends. */
bool spool_of_this_run(const spool_t *spool, uint64_t id);

uint64_t spool_last_id(const spool_t *spool);
uint64_t spool_oldest_id(const spool_t *spool);

/* Marks the batch with this id as being sent, which spares it when older
 * batches are dropped for room (as spool_load_oldest() does). */
void spool_hold(spool_t *spool, uint64_t id);

/* The resolved directory of its slot, for messages. */
const char *spool_dir(const spool_t *spool);

/* Writes the batch as a file, durably (fsync, rename). When the
 * spool would then exceed max_size, the oldest batches are deleted first
 * (never the one loaded by spool_load_oldest()), counted as failed
 * "spool_full" and logged. Batches are replayed in id order, whatever the
 * order they were added in. Returns 0 when the batch is in the spool, or
 * -1 when it is not, after logging and counting its events as failed. */
int spool_add(spool_t *spool, const spool_batch_t *batch);

/* Loads the oldest batch into *batch (whose body is replaced). A batch
 * whose file proves corrupt is set aside, logged and counted, and the next
 * is tried. Returns 1 when a batch was loaded, 0 when the spool is empty. */
int spool_load_oldest(spool_t *spool, spool_batch_t *batch);

/* Deletes the batch with this id (delivered, or dead-lettered), if it is
 * still in the spool. */
void spool_remove(spool_t *spool, uint64_t id);

/* Appends the batch, whose lines are json objects, to the dead-letter
 * file as one json line: {"ts":..,"key":..,"reason":..,"events":[...]}.
 * The file counts against max_size with the batches; a line that would
 * take the spool past it is not written (the batches waiting to be sent
 * are never dropped for it). Returns 0, or -1 after logging (once per
 * streak when it is full). */
int spool_dead_letter(spool_t *spool, const spool_batch_t *batch,
                      const char *reason);

/* For a sink whose options are spool.dir and spool.max_size: opens the
 * spool when spool.dir is set, and says (as the sink's notice) how many
 * batches an earlier run left there, which the sink sends first. Returns
 * 0 with *spool (NULL without spool.dir; caller owns it), or -1 with a
 * message in err. */
int spool_open_option(const zmqsink_host_t *host, spool_t **spool, char *err,
                      size_t errlen);

#endif
