/* The real statsd daemon (npm, tests/statsd) that the statsd sink's tests
 * send to: started on loopback, read back through its admin interface,
 * and the metric names it stores for the sink's lines. */
#ifndef ZS_TEST_STATSD_PEER_H
#define ZS_TEST_STATSD_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct sp_daemon {
    pid_t pid;     /* -1 when stopped */
    int port;      /* statsd's UDP port on 127.0.0.1 */
    int mgmt_port; /* its admin (TCP) port on 127.0.0.1 */
} sp_daemon_t;

/* A UDP socket bound to 127.0.0.1 on a port the kernel picks, with room
 * for a big flush; *port gets the port. Caller closes it. */
int sp_udp_bound(int *port);

/* Sends text as one datagram to 127.0.0.1:port. */
void sp_udp_send(int port, const char *text);

/* Starts statsd (no backends, no flush during a test, gauges kept) with
 * its config and log in dir, and waits until it counts what it is sent;
 * the test fails with its log if it does not. Stop it with sp_stop(). */
void sp_start(sp_daemon_t *d, const char *dir);

/* Stops it and waits for it; a stopped daemon is a no-op. */
void sp_stop(sp_daemon_t *d);

/* The answer to an admin command ("counters", "gauges", "timers"): a dump
 * that ends in "END\n\n". NULL when the port does not answer. Caller
 * frees. */
char *sp_admin(const sp_daemon_t *d, const char *command);

/* The number of key in an admin command's dump; the test fails when the
 * port does not answer or the key is absent. */
double sp_admin_number(const sp_daemon_t *d, const char *command,
                       const char *key);

/* The number after "'key': " in a dump into *value; false when the key is
 * absent. */
bool sp_dump_number(const char *dump, const char *key, double *value);

/* The numbers of the array after "'key': [" in a timers dump, at most cap;
 * returns how many, or -1 when the key is absent. */
int sp_dump_array(const char *dump, const char *key, double *values, int cap);

/* How many keys of the dump start with prefix. */
int sp_count_keys(const char *dump, const char *prefix);

/* Sends the counter marker and waits (bounded) until statsd has counted
 * it: every datagram sent before it to the same port has been read then.
 * Returns false when it never came. */
bool sp_caught_up(const sp_daemon_t *d, const char *marker);

/* Waits (bounded) until the gauge key equals want; returns its last value
 * (-1 when it never appeared). */
double sp_wait_gauge(const sp_daemon_t *d, const char *key, double want);

/* The names statsd stores for the sink's lines with `prefix: zmq`, plain
 * (tags false) or with DogStatsD tags, which statsd 0.9 folds into the
 * name as ";key=value": the counter of event_name on socket, a per-socket
 * metric ("connections", "connection_ms"), the drop counter of a sink,
 * and the connections gauge of one process (per_process in effect). */
void sp_counter_key(bool tags, char *key, size_t cap, const char *socket,
                    const char *event_name);
/* The counter of event_name with a reason (zmqsink_event_reason()). */
void sp_reason_key(bool tags, char *key, size_t cap, const char *socket,
                   const char *event_name, const char *reason);
void sp_socket_key(bool tags, char *key, size_t cap, const char *socket,
                   const char *metric);
void sp_drops_key(bool tags, char *key, size_t cap, const char *sink);
void sp_process_gauge_key(bool tags, char *key, size_t cap,
                          const char *socket, pid_t pid);

#endif
