/* The http sink: posts batches of events to a webhook with libcurl, and
 * loses none while the endpoint is down.
 *
 * Events are rendered as json lines into the open batch, which closes at
 * batch.max_events, batch.max_bytes (of the request body before
 * compression) or batch.max_delay after its first event. A closed batch
 * gets an Idempotency-Key, 128 random bits in hex, that it keeps across
 * retries and restarts, and is sent as one request: a json array or
 * NDJSON, gzip-compressed if asked. One request is in flight at a time, so
 * batches arrive in order, over one kept-alive connection.
 *
 * Requests run on libcurl's multi interface, driven from write() and
 * tick() (which serves transfers for up to SERVE_NS), so a slow or hanging
 * endpoint never blocks the worker: events keep flowing from the ring into
 * batches, and batches into the spool.
 *
 * The sink asks for its ticks (ZMQSINK_PLUGIN_TICKS_ON_REQUEST) only while
 * it holds something: when the open batch is due to close, when libcurl
 * wants the transfer in flight served (at least every TRANSFER_WAIT_MAX_NS,
 * since only a tick watches its sockets), when a retry is due, and soon
 * while a batch waits that could not be loaded. An idle sink never wakes.
 *
 * A transport error, 408, 429 or a 5xx other than 501 is retried after a
 * full-jitter exponential backoff (a random wait up to base * 2^attempts,
 * at most cap), or after the server's Retry-After (seconds or an
 * HTTP-date, at most an hour: see response.c). Any other answer is permanent:
 * the batch goes to the dead-letter file in the spool directory and is
 * counted as failed ("rejected"), as is a batch that used up
 * retry.max_attempts ("gave_up").
 *
 * With spool.dir, the failing batch and every batch after it go to the
 * spool (see spool.c) until the endpoint answers again; batches are then
 * replayed oldest first. What is not delivered at shutdown stays there for
 * the next run, which sends it before anything new.
 *
 * An event counts as delivered (count_delivered) once the endpoint
 * answered its batch with a 2xx; until then it is pending, in memory or in
 * the spool. What the spool still holds at shutdown counts as dropped in
 * this run's stats; the next run replays it without counting it again,
 * and logs what it cannot deliver. Processes that share a
 * config share spool.dir, each in a slot of its own. Without a spool, up to
 * MEMORY_BATCHES closed batches wait in memory; past that write() says
 * RETRY, and the core's ring holds the events, counting drops once full.
 *
 * Secrets: header values and the URL's user, password, path and query
 * are never logged (a webhook's path often holds its token). Messages name
 * the endpoint as scheme://host:port/... (a path of one or two characters
 * as it is), and text from libcurl passes through redact() first. */
#include "backoff.h"
#include "zmqsink-config.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <zmqsink/plugin.h>

#include <zlib.h>

#include "bytes.h"
#include "clock.h"
#include "option_file.h"
#include "otlp.h"
#include "response.h"
#include "spool.h"

#define MEMORY_BATCHES 8
#define SERVE_NS (80 * NS_PER_MS)
/* Between two ticks while a request is in flight: at most the rest of the
 * 100 ms period of the ticks that once came unasked (each serves for
 * SERVE_NS); at least 1 ms when libcurl asks for 0, so as not to spin. */
#define TRANSFER_WAIT_MIN_NS (1 * NS_PER_MS)
#define TRANSFER_WAIT_MAX_NS (20 * NS_PER_MS)
/* Before trying again to load a batch that waits (out of memory). */
#define LOAD_RETRY_NS (100 * NS_PER_MS)
#define POLL_MAX_MS 50
#define NS_PER_MS INT64_C(1000000)
#define NS_PER_S INT64_C(1000000000)
#define REDACTED "[redacted]"

enum format { FORMAT_JSON, FORMAT_NDJSON, FORMAT_OTLP };
enum method { METHOD_POST, METHOD_PUT };
enum compress { COMPRESS_NONE, COMPRESS_GZIP };

struct http_sink {
    const zmqsink_host_t *host;
    CURLM *multi;
    CURL *easy;
    bool curl_used;                 /* holds a reference on libcurl */
    struct curl_slist *headers;     /* of the request in flight */
    char **user_headers;            /* "Name: value", from `headers` */
    size_t nuser_headers;
    char **secrets;                 /* texts redact() hides, longest first */
    size_t nsecrets;
    char endpoint[512];             /* "POST https://host:port/..." */
    char errbuf[CURL_ERROR_SIZE];

    enum format format;
    enum compress compress;
    otlp_origin_t otlp;             /* with format: otlp */
    char service_name[256];
    int64_t max_events, max_bytes, max_delay_ns;
    int64_t retry_base_ns, retry_cap_ns, max_attempts;
    uint64_t random;                /* xorshift64 state, for jitter */
    spool_t *spool;
    z_stream gzip;                  /* gzip wrapper, reset per request */
    bool gzip_ready;

    spool_batch_t open;                   /* being filled */
    int64_t open_since_ns;
    bytes_t line;                   /* one rendered event */
    spool_batch_t *queue, **queue_tail;   /* closed, in memory, oldest first */
    size_t queued;
    uint64_t next_id;

    spool_batch_t *current;               /* being sent, or waiting to retry */
    bool current_spooled, in_flight;
    int64_t attempts, retry_at_ns;
    bytes_t request, compressed;    /* the body as sent */

    int64_t failures;               /* failed attempts in a row */
    int64_t failing_since_ns;
    char failure[CURL_ERROR_SIZE + 64];
};

/* ---- libcurl's process-wide state: set up by the first open sink,
 * released by the last one ---- */

static unsigned curl_users; /* under fork_hold */

/* With fork() held off, so that no child is forked from the middle of
 * curl_global_init() (which sets up the TLS library too); the hold also
 * serialises the sinks of this process. */
static int curl_use(const zmqsink_host_t *host)
{
    host->fork_hold(host);
    int rc = curl_users > 0 || curl_global_init(CURL_GLOBAL_DEFAULT) == 0
                 ? 0
                 : -1;
    if (rc == 0)
        curl_users++;
    host->fork_release(host);
    return rc;
}

static void curl_release(const zmqsink_host_t *host)
{
    host->fork_hold(host);
    if (--curl_users == 0)
        curl_global_cleanup();
    host->fork_release(host);
}

/* ---- secrets ---- */

/* Adds a text to hide, in order of length, longest first: redact() then
 * hides a secret whole, also when a shorter one begins it. */
static int secret_add(struct http_sink *s, const char *text)
{
    if (!text || !*text)
        return 0;
    char *copy = strdup(text);
    char **more = realloc(s->secrets, (s->nsecrets + 1) * sizeof *more);
    if (!copy || !more) {
        free(copy);
        if (more)
            s->secrets = more;
        return -1;
    }
    s->secrets = more;
    size_t at = 0, len = strlen(copy);
    while (at < s->nsecrets && strlen(s->secrets[at]) >= len)
        at++;
    memmove(s->secrets + at + 1, s->secrets + at,
            (s->nsecrets - at) * sizeof *s->secrets);
    s->secrets[at] = copy;
    s->nsecrets++;
    return 0;
}

/* Copies text into out with every secret replaced. */
static void redact(const struct http_sink *s, const char *text, char *out,
                   size_t cap)
{
    size_t o = 0;
    while (*text && o + 1 < cap) {
        size_t skip = 0;
        for (size_t i = 0; i < s->nsecrets && !skip; i++)
            if (strncmp(text, s->secrets[i], strlen(s->secrets[i])) == 0)
                skip = strlen(s->secrets[i]);
        if (skip) {
            o += (size_t)snprintf(out + o, cap - o, "%s", REDACTED);
            o = o < cap ? o : cap - 1;
            text += skip;
        } else {
            out[o++] = *text++;
        }
    }
    out[o] = '\0';
}

/* ---- batches ---- */

static void batch_free(spool_batch_t *b)
{
    if (b) {
        bytes_free(&b->body);
        free(b);
    }
}

/* Request body bytes of an NDJSON body of len bytes: a json array trades
 * the newlines for commas and adds the brackets. */
static size_t request_size(const struct http_sink *s, size_t len)
{
    return len + (s->format == FORMAT_JSON);
}

/* Puts a closed batch where it waits: the spool while the endpoint fails
 * or older batches wait there, or while memory is full; memory otherwise. */
static void batch_enqueue(struct http_sink *s, spool_batch_t *b)
{
    if (s->spool && (s->failures > 0 || spool_count(s->spool) > 0 ||
                     s->queued >= MEMORY_BATCHES)) {
        spool_add(s->spool, b); /* counts the batch if it fails */
        batch_free(b);
        return;
    }
    b->next = NULL;
    *s->queue_tail = b;
    s->queue_tail = &b->next;
    s->queued++;
}

static spool_batch_t *queue_pop(struct http_sink *s)
{
    spool_batch_t *b = s->queue;
    s->queue = b->next;
    if (!s->queue)
        s->queue_tail = &s->queue;
    s->queued--;
    b->next = NULL;
    return b;
}

static void open_close(struct http_sink *s)
{
    if (s->open.events == 0)
        return;
    spool_batch_t *b = malloc(sizeof *b);
    if (!b) {
        s->host->log(s->host, ZMQSINK_SEV_ERR,
                     "out of memory: %" PRIu32 " events dropped",
                     s->open.events);
        s->host->count_failed(s->host, s->open.events, "out_of_memory");
        s->open.events = 0;
        s->open.body.len = 0;
        return;
    }
    *b = s->open;
    b->id = ++s->next_id;
    random_hex128(&s->random, b->key);
    s->open = (spool_batch_t){0};
    batch_enqueue(s, b);
}

/* Adds one event to the open batch, closing it when full. */
static void open_add(struct http_sink *s, const zmqsink_event_t *ev,
                     int64_t now)
{
    bool failed = false;
    s->line.len = 0;
    if (bytes_put_event(&s->line, s->host, ZMQSINK_FORMAT_JSON, ev) != 0)
        failed = true;
    bytes_put(&s->line, "\n", 1, &failed);
    if (s->open.events > 0 &&
        request_size(s, s->open.body.len + s->line.len) > (size_t)s->max_bytes)
        open_close(s);
    bytes_put(&s->open.body, s->line.data, s->line.len, &failed);
    if (failed) {
        s->host->log(s->host, ZMQSINK_SEV_ERR, "out of memory: event %" PRIu64
                     " dropped", ev->seq);
        s->host->count_failed(s->host, 1, "out_of_memory");
        return;
    }
    if (s->open.events++ == 0)
        s->open_since_ns = now;
    if (s->open.events >= s->max_events ||
        request_size(s, s->open.body.len) >= (size_t)s->max_bytes)
        open_close(s);
}

/* ---- requests ---- */

/* The batch to send next: the oldest, in memory or in the spool. */
static spool_batch_t *next_batch(struct http_sink *s)
{
    uint64_t spooled = s->spool ? spool_oldest_id(s->spool) : UINT64_MAX;
    if (s->queue && s->queue->id < spooled) {
        s->current_spooled = false;
        return queue_pop(s);
    }
    if (spooled == UINT64_MAX)
        return NULL;
    spool_batch_t *b = calloc(1, sizeof *b);
    if (b && spool_load_oldest(s->spool, b) == 1) {
        s->current_spooled = true;
        return b;
    }
    batch_free(b);
    return NULL;
}

/* Compresses body into s->compressed as one gzip member. Returns 0, or -1
 * when out of memory. */
static int gzip_body(struct http_sink *s, const bytes_t *body)
{
    z_stream *z = &s->gzip;
    s->compressed.len = 0;
    if (deflateReset(z) != Z_OK ||
        bytes_reserve(&s->compressed, deflateBound(z, body->len)) != 0)
        return -1;
    /* The body is below batch.max_bytes (256 MiB), within zlib's uInt. */
    z->next_in = (Bytef *)body->data;
    z->avail_in = (uInt)body->len;
    z->next_out = (Bytef *)s->compressed.data;
    z->avail_out = (uInt)s->compressed.cap;
    if (deflate(z, Z_FINISH) != Z_STREAM_END)
        return -1;
    s->compressed.len = z->total_out;
    return 0;
}

/* The OTLP/HTTP JSON request for the batch's event lines into
 * s->request. Returns 0, or -1 when out of memory. */
static int otlp_body(struct http_sink *s, const spool_batch_t *b)
{
    s->request.len = 0;
    return otlp_render(&s->request, b->body.data, b->body.len, &s->otlp) < 0
               ? -1
               : 0;
}

/* Makes the request body: the json array, the OTLP request, or the NDJSON
 * as it is, then compressed if asked. */
static int request_body(struct http_sink *s, const spool_batch_t *b,
                        const char **data, size_t *len)
{
    const bytes_t *body = &b->body;
    if (s->format == FORMAT_OTLP) {
        if (otlp_body(s, b) != 0)
            return -1;
        body = &s->request;
    } else if (s->format == FORMAT_JSON) {
        s->request.len = 0;
        if (bytes_reserve(&s->request, body->len + 1) != 0)
            return -1;
        s->request.data[0] = '[';
        for (size_t i = 0; i < body->len; i++)
            s->request.data[i + 1] = body->data[i] == '\n' ? ',' : body->data[i];
        s->request.data[body->len] = ']';
        s->request.len = body->len + 1;
        body = &s->request;
    }
    if (s->compress == COMPRESS_GZIP) {
        if (gzip_body(s, body) != 0)
            return -1;
        body = &s->compressed;
    }
    *data = body->data;
    *len = body->len;
    return 0;
}

static int request_headers(struct http_sink *s, const spool_batch_t *b)
{
    char key[64 + SPOOL_KEY_LEN];
    snprintf(key, sizeof key, "Idempotency-Key: %s", b->key);
    const char *fixed[] = {
        s->format == FORMAT_NDJSON ? "Content-Type: application/x-ndjson"
                                   : "Content-Type: application/json",
        key,
        "Expect:", /* no 100-continue round trip */
        s->compress == COMPRESS_GZIP ? "Content-Encoding: gzip" : NULL,
    };
    curl_slist_free_all(s->headers);
    s->headers = NULL;
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed + s->nuser_headers;
         i++) {
        const char *h = i < sizeof fixed / sizeof *fixed
                            ? fixed[i]
                            : s->user_headers[i - sizeof fixed / sizeof *fixed];
        if (!h)
            continue;
        struct curl_slist *l = curl_slist_append(s->headers, h);
        if (!l)
            return -1;
        s->headers = l;
    }
    return 0;
}

static void request_start(struct http_sink *s)
{
    const char *data;
    size_t len;
    if (request_body(s, s->current, &data, &len) != 0 ||
        request_headers(s, s->current) != 0) {
        s->host->log(s->host, ZMQSINK_SEV_ERR,
                     "out of memory for a request; retrying");
        s->retry_at_ns = clock_now_ns() + s->retry_base_ns;
        return;
    }
    s->errbuf[0] = '\0';
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, data);
    if (curl_multi_add_handle(s->multi, s->easy) != CURLM_OK) {
        s->host->log(s->host, ZMQSINK_SEV_ERR, "cannot start a request");
        s->retry_at_ns = clock_now_ns() + s->retry_base_ns;
        return;
    }
    s->in_flight = true;
    s->attempts++;
}

/* The wait before the next attempt: the server's Retry-After, or full
 * jitter. */
static int64_t retry_delay_ns(struct http_sink *s, int64_t retry_after_ns)
{
    if (retry_after_ns > 0)
        return retry_after_ns;
    return backoff_full_jitter(
        &s->random,
        backoff_ceiling(s->retry_base_ns, s->retry_cap_ns, s->attempts));
}

/* Whether batch b holds events of this run: all do without a spool. An
 * earlier run counted the events it left in the spool as not delivered;
 * their replay here is not counted again. */
static bool of_this_run(const struct http_sink *s, const spool_batch_t *b)
{
    return !s->spool || spool_of_this_run(s->spool, b->id);
}

/* The current batch is done with: delivered, or refused for good. */
static void current_done(struct http_sink *s)
{
    if (s->current_spooled)
        spool_remove(s->spool, s->current->id);
    batch_free(s->current);
    s->current = NULL;
    s->attempts = 0;
    s->retry_at_ns = 0;
}

/* The endpoint answers: ends an outage, if there was one. */
static void endpoint_answers(struct http_sink *s, int64_t now)
{
    if (s->failures == 0)
        return;
    s->host->log(s->host, ZMQSINK_SEV_NOTICE,
                 "%s answers again after %" PRId64 " failed attempts in %.1f s"
                 "%s",
                 s->endpoint, s->failures,
                 (double)(now - s->failing_since_ns) / NS_PER_S,
                 s->spool && spool_count(s->spool) ? "; replaying the spool"
                                                   : "");
    s->failures = 0;
}

/* A batch the endpoint will never take: to the dead-letter file, counted. */
static void current_reject(struct http_sink *s, const char *counter,
                           const char *reason)
{
    bool kept = s->spool && spool_dead_letter(s->spool, s->current, reason) == 0;
    s->host->log(s->host, ZMQSINK_SEV_ERR,
                 "%s: %s; a batch of %" PRIu32 " events is dropped%s%s%s",
                 s->endpoint, reason, s->current->events,
                 kept ? " into " : "", kept ? spool_dir(s->spool) : "",
                 kept ? "/" SPOOL_DEAD_LETTER_FILE : "");
    if (of_this_run(s, s->current))
        s->host->count_failed(s->host, s->current->events, counter);
    current_done(s);
}

/* Moves the failing batch and every batch in memory into the spool, where
 * they survive a restart. */
static void spool_everything(struct http_sink *s)
{
    if (s->current && !s->current_spooled) {
        if (spool_add(s->spool, s->current) == 0) {
            s->current_spooled = true;
            spool_hold(s->spool, s->current->id);
        } else {
            batch_free(s->current); /* counted by spool_add */
            s->current = NULL;
            s->attempts = 0;
        }
    }
    while (s->queue) {
        spool_batch_t *b = queue_pop(s);
        spool_add(s->spool, b);
        batch_free(b);
    }
}

static void current_retry(struct http_sink *s, const char *reason,
                          int64_t retry_after_ns, int64_t now)
{
    if (s->failures++ == 0) {
        s->failing_since_ns = now;
        s->host->log(s->host, ZMQSINK_SEV_WARNING,
                     "%s failed: %s; retrying with backoff%s%s", s->endpoint,
                     reason, s->spool ? ", batches wait in " : "",
                     s->spool ? spool_dir(s->spool) : "");
    } else if (strcmp(reason, s->failure) != 0) {
        s->host->log(s->host, ZMQSINK_SEV_WARNING, "%s still failing: %s",
                     s->endpoint, reason);
    }
    snprintf(s->failure, sizeof s->failure, "%s", reason);
    if (s->max_attempts > 0 && s->attempts >= s->max_attempts) {
        char why[sizeof s->failure + 64];
        snprintf(why, sizeof why, "gave up after %" PRId64 " attempts: %s",
                 s->attempts, reason);
        current_reject(s, "gave_up", why);
        return;
    }
    s->retry_at_ns = now + retry_delay_ns(s, retry_after_ns);
    if (s->spool)
        spool_everything(s);
}

/* Looks at how the request in flight ended. */
static void request_finish(struct http_sink *s, CURLcode code, int64_t now)
{
    curl_multi_remove_handle(s->multi, s->easy);
    s->in_flight = false;
    response_t answer;
    response_read(s->easy, code,
                  s->format == FORMAT_OTLP ? RESPONSE_RULES_OTLP
                                           : RESPONSE_RULES_HTTP,
                  &answer);
    char reason[sizeof s->failure];
    if (code != CURLE_OK) {
        redact(s, s->errbuf[0] ? s->errbuf : curl_easy_strerror(code), reason,
               sizeof reason);
        current_retry(s, reason, 0, now);
        return;
    }
    if (answer.verdict == RESPONSE_DELIVERED) {
        endpoint_answers(s, now);
        if (of_this_run(s, s->current))
            s->host->count_delivered(s->host, s->current->events);
        current_done(s);
        return;
    }
    snprintf(reason, sizeof reason, "HTTP %ld", answer.status);
    if (answer.verdict == RESPONSE_RETRY) {
        current_retry(s, reason, answer.retry_after_ns, now);
        return;
    }
    endpoint_answers(s, now);
    current_reject(s, "rejected", reason);
}

/* Moves requests along without waiting: collects a finished one, starts
 * the next when one is due. */
static void pump(struct http_sink *s)
{
    for (;;) {
        if (s->in_flight) {
            int running;
            curl_multi_perform(s->multi, &running);
            CURLMsg *msg;
            int left;
            while ((msg = curl_multi_info_read(s->multi, &left)))
                if (msg->msg == CURLMSG_DONE)
                    request_finish(s, msg->data.result, clock_now_ns());
            if (s->in_flight)
                return;
        }
        if (!s->current)
            s->current = next_batch(s);
        if (!s->current || clock_now_ns() < s->retry_at_ns)
            return;
        request_start(s);
        if (!s->in_flight)
            return;
    }
}

/* Pumps, waiting on the sockets, until nothing is in flight or until. */
static void serve(struct http_sink *s, int64_t until)
{
    for (;;) {
        pump(s);
        int64_t left = until - clock_now_ns();
        if (!s->in_flight || left <= 0)
            return;
        int ms = (int)(left / NS_PER_MS) + 1;
        curl_multi_poll(s->multi, NULL, 0, ms < POLL_MAX_MS ? ms : POLL_MAX_MS,
                        NULL);
    }
}

/* When libcurl wants the transfer in flight served again, within bounds:
 * its timeout says nothing of its sockets, which only serve() watches. */
static int64_t transfer_wait_ns(struct http_sink *s)
{
    long ms = -1;
    curl_multi_timeout(s->multi, &ms);
    int64_t wait = ms < 0 ? TRANSFER_WAIT_MAX_NS : ms * NS_PER_MS;
    if (wait < TRANSFER_WAIT_MIN_NS)
        return TRANSFER_WAIT_MIN_NS;
    return wait < TRANSFER_WAIT_MAX_NS ? wait : TRANSFER_WAIT_MAX_NS;
}

/* Asks for the tick that moves along what the sink holds (the host keeps
 * the earliest request); nothing when it holds nothing. Every callback
 * that may leave something held ends here: a batch held without a tick
 * asked for would wait forever. */
static void request_tick(struct http_sink *s, int64_t now)
{
    const zmqsink_host_t *host = s->host;
    if (s->open.events > 0)
        host->tick_at(host, s->open_since_ns + s->max_delay_ns);
    if (s->in_flight)
        host->tick_at(host, now + transfer_wait_ns(s));
    else if (s->current)
        host->tick_at(host, s->retry_at_ns);
    else if (s->queue || (s->spool && spool_count(s->spool) > 0))
        host->tick_at(host, now + LOAD_RETRY_NS); /* next_batch() failed */
}

/* ---- callbacks ---- */

static zmqsink_write_result_t http_write(void *state,
                                         const zmqsink_event_t *events,
                                         size_t n)
{
    struct http_sink *s = state;
    bool full = !s->spool && s->queued >= MEMORY_BATCHES;
    if (full) {
        pump(s); /* a request that ended makes room */
        full = s->queued >= MEMORY_BATCHES;
    }
    if (!full) {
        int64_t now = clock_now_ns();
        for (size_t i = 0; i < n; i++)
            open_add(s, &events[i], now);
        pump(s);
    }
    request_tick(s, clock_now_ns());
    return full ? ZMQSINK_WRITE_RETRY : ZMQSINK_WRITE_OK;
}

static void http_tick(void *state, int64_t now)
{
    struct http_sink *s = state;
    if (s->open.events > 0 && now - s->open_since_ns >= s->max_delay_ns)
        open_close(s);
    serve(s, now + SERVE_NS);
    request_tick(s, clock_now_ns());
}

/* Waits until the retry is due or the deadline passes. */
static void sleep_until(int64_t when)
{
    int64_t wait = when - clock_now_ns();
    if (wait > 0) {
        struct timespec ts = {.tv_sec = wait / NS_PER_S,
                              .tv_nsec = wait % NS_PER_S};
        nanosleep(&ts, NULL);
    }
}

static uint64_t http_flush(void *state, int64_t deadline_ns)
{
    struct http_sink *s = state;
    open_close(s);
    while ((s->current || s->queue) && clock_now_ns() < deadline_ns) {
        serve(s, deadline_ns);
        if (s->current && !s->in_flight) {
            if (s->retry_at_ns >= deadline_ns)
                break;
            sleep_until(s->retry_at_ns);
        }
    }
    if (s->in_flight) {
        curl_multi_remove_handle(s->multi, s->easy);
        s->in_flight = false;
    }
    uint64_t lost = 0;
    if (s->spool)
        spool_everything(s);
    if (s->spool && spool_count(s->spool) > 0)
        s->host->log(s->host, ZMQSINK_SEV_NOTICE,
                     "%zu batches wait in %s for the next run",
                     spool_count(s->spool), spool_dir(s->spool));
    if (s->current && !s->current_spooled)
        lost += s->current->events;
    while (s->queue) {
        spool_batch_t *b = queue_pop(s);
        lost += b->events;
        batch_free(b);
    }
    return lost;
}

static void http_close(void *state)
{
    struct http_sink *s = state;
    if (s->multi && s->easy) {
        if (s->in_flight)
            curl_multi_remove_handle(s->multi, s->easy);
        curl_easy_cleanup(s->easy);
    }
    if (s->multi)
        curl_multi_cleanup(s->multi);
    curl_slist_free_all(s->headers);
    for (size_t i = 0; i < s->nuser_headers; i++)
        free(s->user_headers[i]);
    free(s->user_headers);
    for (size_t i = 0; i < s->nsecrets; i++)
        free(s->secrets[i]);
    free(s->secrets);
    batch_free(s->current);
    while (s->queue)
        batch_free(queue_pop(s));
    bytes_free(&s->open.body);
    bytes_free(&s->line);
    bytes_free(&s->request);
    bytes_free(&s->compressed);
    spool_close(&s->spool);
    if (s->gzip_ready)
        deflateEnd(&s->gzip);
    if (s->curl_used)
        curl_release(s->host);
    free(s);
}

/* ---- open ---- */

/* With format: otlp, says so when the url is not a collector's logs path:
 * the url is used as it is given, nothing appended. */
static void otlp_path_check(const struct http_sink *s, const char *path)
{
    size_t len = strlen(path), want = strlen("/v1/logs");
    if (s->format == FORMAT_OTLP &&
        (len < want || strcmp(path + len - want, "/v1/logs") != 0))
        s->host->log(s->host, ZMQSINK_SEV_WARNING,
                     "format otlp: the url's path does not end in /v1/logs, "
                     "where an OpenTelemetry collector takes logs (the url "
                     "is used as it is)");
}

/* What the sink takes from its url, each part as libcurl gives it (freed
 * with curl_free()). */
struct url_parts {
    char *scheme, *host, *port, *path, *user, *password, *query;
};

static void url_parts_free(struct url_parts *p)
{
    curl_free(p->scheme);
    curl_free(p->host);
    curl_free(p->port);
    curl_free(p->path);
    curl_free(p->user);
    curl_free(p->password);
    curl_free(p->query);
}

/* Parses the url with libcurl's URL API (parsing only: no lookup, no
 * connection) and checks its scheme; never quotes the url, which may hold
 * secrets. Fills *p (the caller frees it with url_parts_free(), also after
 * a failure) and returns 0, or -1 with a message in err. */
static int url_parse(const char *url, struct url_parts *p, char *err,
                     size_t len)
{
    *p = (struct url_parts){0};
    CURLU *u = curl_url();
    CURLUcode rc = u ? curl_url_set(u, CURLUPART_URL, url, 0)
                     : CURLUE_OUT_OF_MEMORY;
    if (rc == CURLUE_OK)
        rc = curl_url_get(u, CURLUPART_SCHEME, &p->scheme, 0);
    if (rc == CURLUE_OK)
        rc = curl_url_get(u, CURLUPART_HOST, &p->host, 0);
    if (rc == CURLUE_OK)
        rc = curl_url_get(u, CURLUPART_PORT, &p->port, CURLU_DEFAULT_PORT);
    if (rc == CURLUE_OK)
        rc = curl_url_get(u, CURLUPART_PATH, &p->path, 0);
    int result = -1;
    if (rc != CURLUE_OK) {
        snprintf(err, len, "url: not a valid URL (%s)", curl_url_strerror(rc));
    } else if (strcmp(p->scheme, "http") != 0 &&
               strcmp(p->scheme, "https") != 0) {
        snprintf(err, len, "url: scheme '%s' is not supported: use http:// "
                 "or https://", p->scheme);
    } else {
        /* Absent parts stay NULL: there is no secret to hide there. */
        curl_url_get(u, CURLUPART_USER, &p->user, 0);
        curl_url_get(u, CURLUPART_PASSWORD, &p->password, 0);
        curl_url_get(u, CURLUPART_QUERY, &p->query, 0);
        result = 0;
    }
    curl_url_cleanup(u);
    return result;
}

/* Checks the url, remembers its secrets, and names the endpoint for
 * messages without them. */
static int url_setup(struct http_sink *s, const char *url, char *err,
                     size_t len)
{
    struct url_parts p;
    int result = url_parse(url, &p, err, len);
    if (result == 0) {
        otlp_path_check(s, p.path);
        /* A path of a character or two ("/", "/a") holds no secret, and
         * hiding it would garble libcurl's text ("/e" in "/etc"). */
        bool shown = strlen(p.path) <= 2;
        snprintf(s->endpoint + strlen(s->endpoint),
                 sizeof s->endpoint - strlen(s->endpoint), " %s://%s:%s%s",
                 p.scheme, p.host, p.port, shown ? p.path : "/...");
        result = secret_add(s, p.user) || secret_add(s, p.password) ||
                         secret_add(s, shown ? NULL : p.path) ||
                         secret_add(s, p.query)
                     ? -1
                     : 0;
        if (result != 0)
            snprintf(err, len, "out of memory");
    }
    url_parts_free(&p);
    return result;
}

/* Headers the sink sets itself: a user value would clash with them. */
static const char *const reserved_headers[] = {
    "content-type", "content-encoding", "content-length", "transfer-encoding",
    "idempotency-key", "host", "expect", "connection", NULL,
};

/* Checks one `headers` entry; never quotes its value. */
static int header_check(const char *name, const char *value, char *err,
                        size_t len)
{
    if (!*name || strspn(name, "!#$%&'*+-.^_`|~0123456789"
                               "abcdefghijklmnopqrstuvwxyz"
                               "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(name)) {
        snprintf(err, len, "headers: '%s' is not a valid header name", name);
        return -1;
    }
    for (const char *const *r = reserved_headers; *r; r++)
        if (strcasecmp(name, *r) == 0) {
            snprintf(err, len, "headers: '%s' is set by the sink itself "
                     "(see format and compress)", name);
            return -1;
        }
    if (strpbrk(value, "\r\n")) {
        snprintf(err, len, "headers: the value of '%s' contains a line break",
                 name);
        return -1;
    }
    return 0;
}

/* Checks every `headers` entry; on a failure, *item is its index. */
static int headers_check(const zmqsink_host_t *host, long *item, char *err,
                         size_t len)
{
    const char *const *names, *const *values;
    size_t n = host->option_map(host, "headers", &names, &values);
    for (size_t i = 0; i < n; i++)
        if (header_check(names[i], values[i], err, len) != 0) {
            *item = (long)i;
            return -1;
        }
    return 0;
}

static int headers_setup(struct http_sink *s, char *err, size_t len)
{
    long item;
    if (headers_check(s->host, &item, err, len) != 0)
        return -1;
    const char *const *names, *const *values;
    size_t n = s->host->option_map(s->host, "headers", &names, &values);
    s->user_headers = calloc(n ? n : 1, sizeof *s->user_headers);
    if (!s->user_headers)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        size_t need = strlen(names[i]) + strlen(values[i]) + 3;
        char *h = malloc(need);
        if (!h)
            goto oom;
        /* "Name;" is how libcurl sends a header with an empty value. */
        snprintf(h, need, *values[i] ? "%s: %s" : "%s;", names[i], values[i]);
        s->user_headers[s->nuser_headers++] = h;
        if (secret_add(s, values[i]) != 0)
            goto oom;
    }
    return 0;
oom:
    snprintf(err, len, "out of memory");
    return -1;
}

static size_t discard_body(char *data, size_t size, size_t n, void *unused)
{
    return size * n;
}

static int tls_setup(struct http_sink *s, char *err, size_t len)
{
    const zmqsink_host_t *h = s->host;
    if (h->option_int(h, "tls.insecure")) {
        curl_easy_setopt(s->easy, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(s->easy, CURLOPT_SSL_VERIFYHOST, 0L);
        h->log(h, ZMQSINK_SEV_WARNING,
               "tls.insecure is true: the server's certificate and host name "
               "are not verified");
    }
    char path[PATH_MAX];
    int rc = option_file_readable(h, "tls.ca_file", path, sizeof path, err,
                                  len);
    if (rc > 0)
        curl_easy_setopt(s->easy, CURLOPT_CAINFO, path);
    return rc < 0 ? -1 : 0;
}

/* libcurl's connections, owned through the host so that no forked child
 * keeps one of them open. */
static curl_socket_t socket_open(void *clientp, curlsocktype purpose,
                                 struct curl_sockaddr *address)
{
    const zmqsink_host_t *host = clientp;
    int fd = socket(address->family, address->socktype | SOCK_CLOEXEC,
                    address->protocol);
    if (fd < 0)
        return CURL_SOCKET_BAD;
    host->own_fd(host, fd, 1);
    return fd;
}

static int socket_close(void *clientp, curl_socket_t fd)
{
    const zmqsink_host_t *host = clientp;
    host->close_fd(host, fd);
    return 0;
}

static int curl_setup(struct http_sink *s, const char *url, char *err,
                      size_t len)
{
    const zmqsink_host_t *h = s->host;
    s->multi = curl_multi_init();
    s->easy = s->multi ? curl_easy_init() : NULL;
    if (!s->easy) {
        snprintf(err, len, "cannot set up libcurl");
        return -1;
    }
    CURL *e = s->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "zmqsink/" PACKAGE_VERSION);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, socket_open);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, (void *)h);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, socket_close);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, (void *)h);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)h->option_int(h, "timeout"));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)h->option_int(h, "connect_timeout"));
    if (h->option_int(h, "method") == METHOD_PUT)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
    return tls_setup(s, err, len);
}

static void options_read(struct http_sink *s)
{
    const zmqsink_host_t *h = s->host;
    s->format = (enum format)h->option_int(h, "format");
    s->compress = (enum compress)h->option_int(h, "compress");
    s->max_events = h->option_int(h, "batch.max_events");
    s->max_bytes = h->option_int(h, "batch.max_bytes");
    s->max_delay_ns = h->option_int(h, "batch.max_delay") * NS_PER_MS;
    s->retry_base_ns = h->option_int(h, "retry.base") * NS_PER_MS;
    s->retry_cap_ns = h->option_int(h, "retry.cap") * NS_PER_MS;
    s->max_attempts = h->option_int(h, "retry.max_attempts");
    const char *service_name = h->option_string(h, "service_name");
    snprintf(s->service_name, sizeof s->service_name, "%s",
             service_name ? service_name : "zmqsink");
    s->otlp.service_name = s->service_name;
    s->otlp.scope_version = PACKAGE_VERSION;
    snprintf(s->endpoint, sizeof s->endpoint, "%s",
             h->option_int(h, "method") == METHOD_PUT ? "PUT" : "POST");
}

static void *http_open(const zmqsink_host_t *host, char *err, size_t len)
{
    struct http_sink *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, len, "out of memory");
        return NULL;
    }
    s->host = host;
    s->queue_tail = &s->queue;
    s->random = random_seed();
    options_read(s);
    if (curl_use(host) != 0) {
        snprintf(err, len, "libcurl cannot be initialised");
        free(s);
        return NULL;
    }
    s->curl_used = true;
    const char *url = host->option_string(host, "url");
    if (url_setup(s, url, err, len) != 0 || headers_setup(s, err, len) != 0 ||
        curl_setup(s, url, err, len) != 0)
        goto fail;
    /* windowBits 15 + 16: zlib writes the gzip header and trailer. */
    if (s->compress == COMPRESS_GZIP) {
        if (deflateInit2(&s->gzip, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16,
                         8, Z_DEFAULT_STRATEGY) != Z_OK) {
            snprintf(err, len, "zlib cannot set up gzip: out of memory");
            goto fail;
        }
        s->gzip_ready = true;
    }
    if (spool_open_option(host, &s->spool, err, len) != 0)
        goto fail;
    if (s->spool) {
        s->next_id = spool_last_id(s->spool);
        if (spool_count(s->spool) > 0)
            host->tick_at(host, clock_now_ns()); /* replayed at once */
    }
    return s;
fail:
    http_close(s);
    return NULL;
}

/* The url and the headers, in `zmqsink check` already: what open() would
 * refuse of them, at their lines. */
static int http_check(const zmqsink_host_t *host, const char **key,
                      long *item, char *err, size_t len)
{
    struct url_parts url;
    *key = "url";
    int rc = url_parse(host->option_string(host, "url"), &url, err, len);
    url_parts_free(&url);
    if (rc != 0)
        return -1;
    *key = "headers";
    return headers_check(host, item, err, len);
}

static const zmqsink_option_t http_options[] = {
    {.key = "url", .type = ZMQSINK_OPT_STRING, .required = 1,
     .help = "the endpoint, http:// or https://; user:password@ allowed"},
    {.key = "method", .type = ZMQSINK_OPT_ENUM, .fallback = "POST",
     .choices = "POST|PUT", .help = "the request method"},
    {.key = "format", .type = ZMQSINK_OPT_ENUM, .fallback = "json",
     .choices = "json|ndjson|otlp",
     .help = "json: one json array per request; ndjson: one event per line; "
             "otlp: OTLP/HTTP JSON logs (url: the collector's /v1/logs)"},
    {.key = "service_name", .type = ZMQSINK_OPT_STRING, .fallback = "zmqsink",
     .help = "with format otlp: the resource attribute service.name"},
    {.key = "headers", .type = ZMQSINK_OPT_MAP,
     .help = "extra request headers; values may use ${ENV} and are never "
             "logged"},
    {.key = "compress", .type = ZMQSINK_OPT_ENUM, .fallback = "none",
     .choices = "none|gzip", .help = "request body compression"},
    {.key = "batch.max_events", .type = ZMQSINK_OPT_INT, .fallback = "500",
     .min = 1, .max = 1000000, .help = "events per request, at most"},
    {.key = "batch.max_bytes", .type = ZMQSINK_OPT_SIZE, .fallback = "1MiB",
     .min = 4096, .max = 256 * 1024 * 1024,
     .help = "request body size before compression, at most (one event "
             "always fits)"},
    {.key = "batch.max_delay", .type = ZMQSINK_OPT_DURATION, .fallback = "1s",
     .min = 0, .max = 3600000,
     .help = "longest an event waits for its batch to fill"},
    {.key = "timeout", .type = ZMQSINK_OPT_DURATION, .fallback = "10s",
     .min = 100, .max = 600000, .help = "longest one request may take"},
    {.key = "connect_timeout", .type = ZMQSINK_OPT_DURATION, .fallback = "5s",
     .min = 100, .max = 600000, .help = "longest a connection may take"},
    {.key = "retry.base", .type = ZMQSINK_OPT_DURATION, .fallback = "500ms",
     .min = 1, .max = 3600000, .help = "first backoff ceiling"},
    {.key = "retry.cap", .type = ZMQSINK_OPT_DURATION, .fallback = "30s",
     .min = 1, .max = 3600000, .help = "largest backoff ceiling"},
    {.key = "retry.max_attempts", .type = ZMQSINK_OPT_INT, .fallback = "0",
     .min = 0, .max = 1000000,
     .help = "attempts per batch before it goes to the dead letters; 0: until "
             "delivered"},
    {.key = "spool.dir", .type = ZMQSINK_OPT_STRING,
     .help = "directory for undelivered batches and dead letters; none: "
             "memory only"},
    {.key = "spool.max_size", .type = ZMQSINK_OPT_SIZE, .fallback = "256MiB",
     .min = 65536, .max = INT64_MAX,
     .help = "spool size, at most; over it the oldest batch is dropped"},
    {.key = "tls.ca_file", .type = ZMQSINK_OPT_STRING,
     .help = "CA certificates (PEM) to verify the server with, instead of "
             "the system's"},
    {.key = "tls.insecure", .type = ZMQSINK_OPT_BOOL, .fallback = "false",
     .help = "true: do not verify the server's certificate and host name"},
    {0},
};

static const zmqsink_plugin_t http_plugin = {
    ZMQSINK_PLUGIN_DESCRIPTOR_INIT,
    .name = "http",
    .description = "posts batches of events to an HTTP webhook, spooling "
                   "them on disk while it is down",
    .options = http_options,
    .open = http_open,
    .write = http_write,
    .tick = http_tick,
    .flush = http_flush,
    .close = http_close,
    .flags = ZMQSINK_PLUGIN_COUNTS_DELIVERED | ZMQSINK_PLUGIN_TICKS_ON_REQUEST,
    .check = http_check,
};

ZMQSINK_PLUGIN_EXPORT const zmqsink_plugin_t *zmqsink_plugin_entry(void)
{
    return &http_plugin;
}
