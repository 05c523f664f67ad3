/* Helpers shared by the integration tests: temporary files, free ports,
 * misbehaving raw TCP peers, and an in-memory event log fed by a callback
 * sink. */
#ifndef ZS_TEST_HELPERS_H
#define ZS_TEST_HELPERS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <zmqsink.h>

/* A new directory under /tmp; caller frees the string and may remove the
 * directory with th_remove_tree(). */
char *th_tempdir(void);
void th_remove_tree(const char *dir);

/* "dir/name". Caller frees. */
char *th_path(const char *dir, const char *name);

/* Writes text to dir/name; returns the path (caller frees). */
char *th_write_file(const char *dir, const char *name, const char *text);

/* Writes dir/NAME.yaml, a config with one sink NAME of type TYPE whose
 * option lines, from line 4 on, are options; returns the path (caller
 * frees). */
char *th_sink_config(const char *dir, const char *name, const char *type,
                     const char *options);

/* A config's option lines and what the refusal must say: the option's name
 * (named), at line `line` of the file (0: any line). */
typedef struct th_refusal {
    const char *options, *named;
    int line;
} th_refusal_t;

/* zmqsink_check(path, NULL, err, len), as a try_config below. */
int th_check_config(const char *path, char *err, size_t len);

/* Asserts that try_config refuses each case's th_sink_config() with
 * "PATH:LINE:COL: sink 'NAME': ..." naming the case's option. */
void th_expect_refused(const char *dir, const char *name, const char *type,
                       const th_refusal_t *cases, size_t n,
                       int (*try_config)(const char *path, char *err,
                                         size_t len));

/* Asserts that zmqsink_check() passes th_sink_config() of these options. */
void th_expect_accepted(const char *dir, const char *name, const char *type,
                        const char *options);

/* Writes the YAML (a printf format) to dir/zmqsink.yaml and starts zmqsink
 * on ctx with it; the test fails with zmqsink_new()'s message if it does
 * not start. Caller destroys the instance. */
zmqsink_t *th_start(void *ctx, const char *dir, const char *yaml_fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Asserts that the json lines of file dir/name carry seq 1..events, each
 * once, in order. */
void th_assert_json_seqs(const char *dir, const char *name, uint64_t events);

/* Reads a whole file; NULL if it does not exist. Caller frees. */
char *th_read_file(const char *path);

/* How many times needle is in text (NULL: none), overlaps counted. */
size_t th_count(const char *text, const char *needle);

/* Reads what is left of a stream (a file, a popen() pipe) to its end; the
 * caller closes the stream and frees the text. */
char *th_read_stream(FILE *stream);

/* A socket with linger 0, remembered so that th_sockets_close_all() can
 * close it if the test stops early (zmq_ctx_term would wait for it). */
void *th_socket(void *ctx, int type);
/* Closes a socket made by th_socket(). */
void th_close(void *socket);
/* Closes every th_socket() still open; for teardown. */
void th_close_all(void);

/* Path of a built plugin NAME.so found along $ZMQSINK_PLUGIN_DIR; aborts
 * when absent. Caller frees. */
char *th_plugin_path(const char *name);

/* Declares var, a zmqsink_stats_t with room for 16 sinks. */
#define TH_STATS(var)                                                          \
    zmqsink_sink_stats_t var##_sinks[16];                                      \
    zmqsink_stats_t var = {.sinks = var##_sinks, .sinks_cap = 16}

/* A port on 127.0.0.1, free for TCP and UDP, that no other test process
 * and no bind to port 0 will take while this process lives: for servers
 * the test starts on a port of its choosing, and for endpoints that must
 * refuse connections. */
int th_free_port(void);

/* A host name that never resolves (RFC 6761; the final dot keeps search
 * domains out). Call th_resolver_quick() before looking it up: a resolver
 * that does not answer then costs a second, not the default minutes. */
#define TH_NO_SUCH_HOST "zmqsink-test.invalid."
void th_resolver_quick(void);

/* The number of fds that a child forked now has open on files whose path
 * starts with prefix: what a program's child inherits. */
int th_fds_in_child(const char *prefix);

/* Waits for the child pid at most timeout_ms, and kills it (SIGKILL) past
 * that. Returns its wait status, or -1 when it had to be killed. */
int th_wait_child(pid_t pid, int timeout_ms);

/* Skips the running test in a build with AddressSanitizer, whose allocator
 * (GCC 12's) takes no lock around fork(): a child forked while another
 * thread allocates (a client library's) can hang in it for ever. The test
 * runs in every other build. */
#ifdef __SANITIZE_ADDRESS__
#define TH_SKIP_FORK_UNDER_ASAN()                                              \
    cr_skip_test("a forked child can hang in AddressSanitizer's allocator")
#else
#define TH_SKIP_FORK_UNDER_ASAN() ((void)0)
#endif

/* The socket's ZMQ_LAST_ENDPOINT into buf. */
void th_last_endpoint(void *socket, char *buf, size_t cap);

/* "tcp://127.0.0.1:PORT" -> PORT, or -1. */
int th_endpoint_port(const char *endpoint);

/* Connects a raw TCP client to 127.0.0.1:port, sends a ZMTP 3.0 greeting
 * that asks for an unknown security mechanism, and waits until the server
 * hangs up (a few seconds at most). */
void th_send_bad_greeting(int port);

/* Connects a raw TCP client and closes it at once, mid-handshake. */
void th_connect_and_drop(int port);

/* A DEALER with new CURVE client keys, not yet connected (th_close()
 * closes it): against a server without CURVE both sides fail the
 * handshake with ZMTP_MECHANISM_MISMATCH. Skips the test when libzmq has
 * no CURVE. */
void *th_curve_client(void *ctx);

/* A ZAP handler of ctx (inproc://zeromq.zap.01) that answers every request
 * with status ("400"), on a thread of its own until th_zap_stop(). */
typedef struct th_zap {
    void *handler;
    pthread_t thread;
    atomic_int stop;
    bool running;
    char status[8];
} th_zap_t;
void th_zap_start(th_zap_t *z, void *ctx, const char *status);
void th_zap_stop(th_zap_t *z);

/* A PLAIN server (ZAP domain "test") attached to zs as name and bound on
 * tcp, and a client with a wrong password connecting to it: with
 * th_zap_start() answering, the server's handshake fails auth. Returns
 * the server. */
void *th_plain_refused(void *ctx, zmqsink_t *zs, const char *name);

/* Starts argv[0] (found on PATH) with stdout and stderr into output_path;
 * the test fails if it cannot. */
pid_t th_spawn(char *const argv[], const char *output_path);

/* Stops a process started with th_spawn (SIGTERM, then SIGKILL after 5 s)
 * and reaps it; sets *pid to -1. A pid <= 0 is a no-op. */
void th_stop_process(pid_t *pid);

/* ndealers DEALERs, attached to zs as client_name (NULL: not attached),
 * connect to endpoint one after the other, each proven by a message that router receives,
 * and close. */
void th_dealers_visit(void *ctx, zmqsink_t *zs, const char *client_name,
                      void *router, const char *endpoint, int ndealers);

/* A disconnected event of a ROUTER, with a peer, a duration, and a socket
 * name holding '"', '\\' and ']', for sinks driven directly. */
zmqsink_event_t th_sample_event(uint64_t seq);

/* Sleeps ms milliseconds. */
void th_sleep_ms(int ms);

/* An event log filled from a callback sink, safe across threads. */
typedef struct th_log {
    pthread_mutex_t lock;
    pthread_cond_t grew;
    zmqsink_event_t *events;
    size_t n, cap;
} th_log_t;

void th_log_init(th_log_t *log);
void th_log_free(th_log_t *log);
/* zmqsink_callback_fn appending to the th_log_t given as arg. */
void th_log_callback(const zmqsink_event_t *event, void *arg);
/* Waits (at most timeout_ms) until count events of type (0: any) are in
 * the log; returns how many there are. */
size_t th_log_wait(th_log_t *log, uint32_t type, size_t count, int timeout_ms);
/* The first event of type after index from (or NULL); copies it into out. */
int th_log_find(th_log_t *log, uint32_t type, size_t from,
                zmqsink_event_t *out);
size_t th_log_count(th_log_t *log, uint32_t type);

/* Failures beside router, bound over tcp: a ROUTER attached to zs as
 * "second" binds its endpoint again (bind_failed, EADDRINUSE), and a CURVE
 * client attached as "curvy" connects to it (handshake_failed_protocol,
 * ZMTP_MECHANISM_MISMATCH, on both sides). Waits (bounded) until log has
 * both handshake failures, then closes the two. */
void th_bind_and_curve_failures(void *ctx, zmqsink_t *zs, void *router,
                                th_log_t *log);

/* The names of this process's threads whose name starts with "zs" (its
 * instances' threads), '\n'-separated, in out; returns how many. */
size_t th_zs_threads(char *out, size_t cap);
/* Waits (at most timeout_ms) until no thread of this process is named
 * name (one of those th_zs_threads() lists); returns whether none is. */
bool th_wait_thread_ended(const char *name, int timeout_ms);

/* Makes, with openssl, dir/ca.pem and a server certificate dir/server.pem
 * with key dir/server.key for IP 127.0.0.1 and localhost, signed by it. */
void th_make_certificates(const char *dir);

#endif
