/* Debian's nats-server for the nats sink's tests: a cluster of nodes on
 * free loopback ports, each with a store directory of its own, started,
 * killed and restarted by the test; and libnats as the test's own client,
 * to make streams, subscribe, and read streams back. */
#ifndef ZS_TEST_NATS_PEER_H
#define ZS_TEST_NATS_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <nats/nats.h>

#define NP_NODES_MAX 3

typedef struct np_node {
    char name[8];
    int port, cluster_port;
    pid_t pid; /* -1 while it is not running */
} np_node_t;

typedef struct np_cluster {
    char dir[512];
    size_t n;
    bool jetstream;
    char tls_dir[512]; /* "": plain; else its server.pem, server.key, ca.pem */
    np_node_t nodes[NP_NODES_MAX];
} np_cluster_t;

/* Writes the config of n nodes (clustered when n > 1, with routes between
 * all of them; JetStream on or off; clients over TLS with the certificate
 * of th_make_certificates(tls_dir) unless tls_dir is NULL) into dir and
 * starts them all; waits until each accepts clients. Each node dies with
 * the test process (PR_SET_PDEATHSIG), and np_cluster_stop() ends them in
 * teardown. */
void np_cluster_start(np_cluster_t *c, const char *dir, size_t n,
                      bool jetstream, const char *tls_dir);

/* Starts node i again (its store is kept) and waits until it accepts
 * clients. */
void np_node_start(np_cluster_t *c, size_t i);

/* Sends sig to node i (SIGKILL: a crash; SIGTERM: a clean stop) and waits
 * until it has exited. A node not running is a no-op. */
void np_node_stop(np_cluster_t *c, size_t i, int sig);

/* Kills every node still running; for teardown, also after a failure. */
void np_cluster_stop(np_cluster_t *c);

/* "[nats://127.0.0.1:P1, ...]" (tls:// with TLS) for a config. */
void np_servers_yaml(const np_cluster_t *c, char *out, size_t cap);

/* Whether this process has a connection to node i's client port (the
 * nats sink runs in it, and the test's own connections are closed). */
bool np_node_serves_us(const np_cluster_t *c, size_t i);

/* A libnats connection to the cluster, made within a bounded wait; the
 * test fails if it cannot. Caller destroys it. */
natsConnection *np_connect(const np_cluster_t *c);

/* Creates a file stream named name over subjects (one pattern) with that
 * many replicas, a duplicate window and a largest message (0: the
 * server's), retrying (bounded) until the cluster has a JetStream
 * leader. */
void np_stream_create(const np_cluster_t *c, const char *name,
                      const char *subjects, int replicas,
                      int64_t duplicate_window_ms, int32_t max_msg_size);

/* Waits (bounded) until the stream's leader counts `expected` messages, or
 * more; returns the last count it gave. After a whole cluster restarts,
 * a leader may count what it has applied to its store so far. */
uint64_t np_stream_wait_count(const np_cluster_t *c, const char *stream,
                              uint64_t expected);

/* One message of a stream, as read back. */
typedef struct np_message {
    char *subject, *msg_id, *data; /* caller frees with np_messages_free */
    uint64_t stream_seq;
} np_message_t;

/* Reads every message of the stream; the test fails when it cannot.
 * Returns how many, into *out. */
size_t np_stream_read(const np_cluster_t *c, const char *stream,
                      np_message_t **out);
void np_messages_free(np_message_t *m, size_t n);

/* The number after "\"key\":" in a json text, or -1. */
int64_t np_json_number(const char *json, const char *key);

#endif
