/* The HTTP server the http sink's tests talk to (tests/http/server.py):
 * started on loopback, told how to answer, and read back request by
 * request. */
#ifndef ZS_TEST_HTTP_PEER_H
#define ZS_TEST_HTTP_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "plugin_host.h"

typedef struct hp_server {
    pid_t pid;
    int port;
    char dir[512];      /* holds requests.log and ready */
    const char *cert;   /* TLS when not NULL: PEM certificate and key */
    const char *key;
} hp_server_t;

/* One recorded request; see the log format in server.py. */
typedef struct hp_request {
    int n;
    char method[8];
    char answer[8];     /* "200", "500", "hang", "close" */
    int conn;           /* client port: one connection, one value */
    char key[64];       /* Idempotency-Key, "" when absent */
    char type[64];
    char encoding[32];
    long raw, body;     /* body bytes received, and after gzip */
    char error[16];     /* "" when the body parsed */
    uint64_t *seqs;
    size_t nseqs;
    char *headers;      /* "name:value\n..." */
    char *reasons;      /* "seq:reason,..." or "-" */
    char *otlp;         /* an OTLP request: "resource attributes|records",
                           see server.py; NULL otherwise */
} hp_request_t;

/* Starts the server in dir on port (0: one of th_free_port(); a given port
 * is how a test restarts the server where the sink expects it), over TLS
 * when cert and key are set in s. Waits until it listens. */
void hp_start(hp_server_t *s, const char *dir, int port);

/* Stops it (SIGTERM) and waits for it; a stopped server is a no-op. */
void hp_stop(hp_server_t *s);

/* The fixture of the http test files: a scratch directory (returned;
 * caller ends it with hp_fixture_end()) and, with start_server, the test
 * server started in it on a free port. */
char *hp_fixture_start(hp_server_t *server, bool start_server);
void hp_fixture_end(hp_server_t *server, char *tmpdir);

/* A ZeroMQ context for the pipeline tests, and its end: the test's sockets
 * closed, the context terminated. */
void *hp_pipeline_ctx(void);
void hp_pipeline_end(void *ctx);

/* Sends a control line ("ok", "status 500 3", "hang 1", ...). */
void hp_control(const hp_server_t *s, const char *command);

/* "http://127.0.0.1:PORT/hook" or https; static storage. */
const char *hp_url(const hp_server_t *s);

/* Reads every recorded request; *n gets the count. Free with
 * hp_requests_free(). */
hp_request_t *hp_requests(const hp_server_t *s, size_t *n);
void hp_requests_free(hp_request_t *r, size_t n);

/* The seqs of the 2xx-answered requests in the order they arrived, each
 * key counted once, as a receiver that drops repeated keys sees them.
 * *count gets their number. Caller frees. */
uint64_t *hp_delivered_seqs(const hp_request_t *r, size_t n, size_t *count);

/* Files in dir whose names end in suffix. */
size_t hp_files_ending(const char *dir, const char *suffix);

/* Waits (bounded) until the 2xx-answered requests carry `count` distinct
 * events. Returns the requests read last; *n gets their count. */
hp_request_t *hp_wait_delivered(const hp_server_t *s, size_t count,
                                void (*drive)(void *), void *arg, size_t *n);

/* Asserts the receiver's view after deduplication by Idempotency-Key: the
 * requests answered 2xx carry seqs first .. first + count - 1, each exactly
 * once and in order, and every request of one key carried the same seqs.
 * Returns the number of distinct keys delivered. */
size_t hp_assert_delivered_once(const hp_request_t *r, size_t n,
                                uint64_t first, uint64_t count);

/* How many recorded requests the server answered so ("200", "hang"). */
size_t hp_answered(const hp_server_t *s, const char *answer);

/* The value of a request header into out ("" when absent). */
const char *hp_header(const hp_request_t *r, const char *name, char *out,
                      size_t cap);

/* The http plugin driven directly through a test host. */
typedef struct hp_sink {
    th_plugin_host_t h;
    void *handle;
    void *state;
} hp_sink_t;

/* Loads the plugin and sets every option to its default, then url, a
 * short retry.base and cap (10ms, 50ms) and batch.max_events 50. */
void hp_sink_init(hp_sink_t *k, const char *url);
/* Sets an option (text, and number for ints, durations, sizes, enums). */
void hp_sink_set(hp_sink_t *k, const char *key, const char *text,
                 int64_t number);
/* Opens it; the test fails with the plugin's message if it cannot. */
void hp_sink_open(hp_sink_t *k);
/* Opens it expecting a failure; returns the message (static storage). */
const char *hp_sink_open_fails(hp_sink_t *k);
/* Writes events first .. first + n - 1 and ticks; asserts they are taken. */
void hp_sink_write(hp_sink_t *k, uint64_t first, size_t n);
/* Writes count events from first in writes of 50, ticking after each. */
void hp_sink_write_many(hp_sink_t *k, uint64_t first, size_t count);
/* Ticks (bounded) until no file in dir ends in suffix: a delivered batch
 * leaves the spool once the sink has read the server's answer. */
void hp_sink_run_until_no_files(hp_sink_t *k, const char *dir,
                                const char *suffix);
/* Ticks (bounded) until the server has answered count requests so. */
void hp_sink_run_until_answered(hp_sink_t *k, const hp_server_t *s,
                                const char *answer, size_t count);
/* Ticks (bounded) until the sink has counted at least count events failed
 * for reason. The server logs a request before it answers, so a refusal
 * the test saw in the log may not have reached the sink yet. */
void hp_sink_run_until_failed(hp_sink_t *k, const char *reason,
                              uint64_t count);
/* Ticks (bounded) until the sink's log holds text. */
void hp_sink_run_until_logged(hp_sink_t *k, const char *text);
/* Ticks once (a drive function for hp_wait_delivered). */
void hp_sink_tick(void *k);
/* Ticks for ms milliseconds. */
void hp_sink_run(hp_sink_t *k, int ms);
/* An answer of the server, and whether the sink sends the batch again. */
typedef struct hp_retry_case {
    const char *status;
    bool retried;
} hp_retry_case_t;

/* For each case in turn: the server answers its status once, the sink
 * (with a spool) writes a batch of `events` events; a retried batch must
 * then be answered 200, another one is counted failed as "rejected" (that
 * it is not sent again is for the caller's count of requests). */
void hp_check_retries(hp_sink_t *k, hp_server_t *server,
                      const hp_retry_case_t *cases, size_t n, size_t events);

/* Flushes with a deadline ms from now and closes; returns what flush()
 * said was lost. */
uint64_t hp_sink_close(hp_sink_t *k, int ms);

/* Stops the server and has a sink with spool.dir spool write events
 * 0..count-1 and close; asserts they all went to the spool, in batches
 * .batch files. Returns the port the server had, to start it again. */
int hp_spool_while_down(hp_server_t *server, const char *spool, size_t count,
                        size_t batches);


#endif
