/* The nats sink: publishes each event as one NATS message, to JetStream
 * with acknowledged delivery, or to core NATS, fire and forget; with
 * libnats (nats.c).
 *
 * Messages. The subject comes from the `subject` template
 * (common/template.h), whose placeholders {socket} {event} {host} {pid}
 * are replaced by the event's values made safe inside one subject token
 * (names_sanitize: whitespace, control characters, '.', '*' and '>' become
 * '_'); `zmqsink check` checks it (check()). The body is the event in the
 * sink's format. Every message carries the header
 * Nats-Msg-Id: INSTANCE-SEQ, where INSTANCE is 32 hex digits drawn when
 * the sink opens and SEQ the event's seq: the same for every retry of the
 * event, also by a later run replaying the spool, so that the stream's
 * duplicate window drops the copies.
 *
 * Batches. The events of one write() become one batch (common/spool.h),
 * its key the instance, its body one line per event, "SEQ SUBJECT BODY\n"
 * (the formats never write a raw newline). A batch waits in memory, or in
 * the spool while no server is reachable, while publishing fails, or while
 * older batches wait there: the spool is replayed, oldest batch first,
 * before anything newer is published. Memory holds at most MEMORY_EVENTS
 * events; past that, without a spool, write() says RETRY and the core's
 * ring holds the events.
 *
 * JetStream. Messages are published with js_PublishMsgAsync(), at most
 * max_in_flight without their ack, each with ack_timeout as its MaxWait.
 * libnats calls the ack handler on a thread of its own: it only queues the
 * outcome in the mailbox (under its mutex) and wakes the sink's thread,
 * which does everything else. An event counts as delivered (count_delivered)
 * when its ack arrives, a duplicate's included. A timeout, "no responders"
 * (no stream, or none yet after a restart), a lost connection or a
 * JetStream error that may pass is retried after a full-jitter backoff; a
 * message the stream refuses for good (too large, a sealed stream) is
 * counted as failed ("rejected") and logged. Outcomes of messages whose
 * batch went to the spool meanwhile are ignored: the spool publishes them
 * again under the same id.
 *
 * Core NATS (jetstream: false). natsConnection_PublishMsg() hands the
 * message to the connection, which counts it as delivered: at most once,
 * since what the connection holds when it breaks is lost.
 *
 * Connection. libnats connects to one of `servers`, follows the cluster
 * (the servers it announces), and reconnects forever, every
 * reconnect_wait. The sink never waits for it in open(), so that
 * zmqsink_new() does not depend on the cluster: the first tick connects
 * (at most connect_timeout per server), later ones only look at the
 * status. While the connection is not up, batches go to the spool (or
 * wait in memory), and the sink's thread waits for the reconnection in
 * its ticks, in slices of at most OUTAGE_WAIT_NS.
 *
 * Accounting. Only this run's events are counted: a batch an earlier run
 * left in the spool was counted by that run as not delivered. A memory
 * batch moved into the spool takes only its events without an outcome, so
 * that what the spool may later drop for room (counted as failed) was
 * never counted as delivered.
 *
 * libnats' threads are process-wide and live as long as the process, so
 * the plugin is never unloaded (-z nodelete), and the mailbox of a closed
 * sink is kept, closed, for a callback that may still come. The threads do
 * not survive fork(): a forked child whose parent had started libnats
 * cannot open a nats sink. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nats/nats.h>

#include <zmqsink/plugin.h>

#include "backoff.h"
#include "bytes.h"
#include "clock.h"
#include "names.h"
#include "option_file.h"
#include "spool.h"
#include "template.h"

#define MSG_ID_HEADER "Nats-Msg-Id"
#define MSG_ID_MAX (SPOOL_KEY_LEN + 1 + 20 + 1)
#define SUBJECT_TEMPLATE_MAX 256
#define SUBJECT_SYNTAX ".*>"
#define MEMORY_EVENTS 65536
/* Longest the sink's thread waits inside a tick for acks, and for the
 * connection to come back, before it lets the core hand it new events. */
#define ACK_WAIT_NS (50 * CLOCK_NS_PER_MS)
#define OUTAGE_WAIT_NS (250 * CLOCK_NS_PER_MS)
/* Before trying again to load a batch that waits (out of memory). */
#define LOAD_RETRY_NS (100 * CLOCK_NS_PER_MS)
#define REASON_MAX 160
#define SERVERS_MAX 64
#define PING_INTERVAL_MS 10000

/* What became of one published message. */
enum outcome { OUTCOME_ACKED, OUTCOME_RETRY, OUTCOME_REJECTED };

/* One outcome, as the ack handler queues it for the sink's thread. */
struct completion {
    char key[SPOOL_KEY_LEN + 1];
    uint64_t seq;
    enum outcome outcome;
    char reason[REASON_MAX];
};

/* Where libnats' threads leave news for the sink's thread. It outlives the
 * sink: a callback may come after close(), and then finds it closed. */
struct mailbox {
    pthread_mutex_t lock;
    pthread_cond_t news;
    bool closed;
    bool changed;                 /* the connection changed state */
    struct completion *items;     /* outcomes not yet taken */
    size_t n, cap;
    char async_error[REASON_MAX]; /* libnats' last asynchronous error */
    bool async_error_new;
    struct mailbox *next_retired;
};

enum message_state { MESSAGE_UNSENT, MESSAGE_IN_FLIGHT, MESSAGE_DONE };

/* One event of a batch: where its line is in the body. */
struct message {
    uint64_t seq;
    uint32_t subject;  /* offset of the subject in the body */
    uint32_t subject_len;
    uint32_t body_len; /* of the event's rendering, after the subject */
    uint8_t state;
};

struct batch {
    spool_batch_t b;           /* id, key (the instance), events, lines */
    struct message *messages;  /* b.events of them, in seq order */
    uint32_t cursor;           /* messages before it are not UNSENT */
    uint32_t done, in_flight;
    bool this_run;             /* its outcomes count in this run's stats */
    struct batch *next;
};

struct nats_sink {
    const zmqsink_host_t *host;
    struct mailbox *mailbox;
    natsOptions *opts;
    natsConnection *conn;
    jsCtx *js;

    bool jetstream;
    zmqsink_format_t format;
    char subject[SUBJECT_TEMPLATE_MAX + 1];
    int64_t ack_timeout_ms, max_in_flight;
    int64_t retry_base_ns, retry_cap_ns;
    uint64_t random;
    char instance[SPOOL_KEY_LEN + 1];
    size_t nservers;
    spool_t *spool;

    struct batch *memory, **memory_tail; /* oldest first */
    size_t memory_events;
    struct batch *replay;      /* the spool's oldest, being published */
    uint64_t next_id;
    int64_t in_flight;         /* publishes whose outcome has not come */
    struct completion *taken;  /* outcomes being applied */
    size_t taken_cap;

    bool connect_tried, connected_once, outage;
    bool flushing; /* shutdown: no new connection, which may block past the
                      deadline (connect_timeout per server) */
    bool mailbox_shared;       /* given to libnats: never freed */
    int64_t retry_at_ns;
    int64_t failures, failing_since_ns;
    char failure[REASON_MAX];
    bool rejecting;            /* a streak of rejected messages was logged */

    bytes_t line, scratch;
};

/* ---- libnats' process-wide state ---- */

/* The plugin is linked with -z nodelete: libnats' threads (timers, garbage
 * collector, callbacks) run for the life of the process once started, and
 * nats_Close() would tear libnats down under an application that uses it
 * too. So neither the plugin nor libnats is ever unloaded, and these stay
 * valid across reloads. Under fork_hold. */
static pid_t nats_pid;          /* the process that started libnats */
static struct mailbox *retired; /* of closed sinks: a callback may still
                                   come; reachable, never freed */

/* Starts libnats in this process, or finds it started. A child forked
 * after its parent started libnats inherits its state but none of its
 * threads, and cannot use it. */
static int nats_use(const zmqsink_host_t *host, char *err, size_t len)
{
    host->fork_hold(host);
    int rc = 0;
    if (nats_pid != 0 && nats_pid != getpid()) {
        snprintf(err, len, "libnats was started by process %d before it "
                 "forked this one, and its threads do not survive fork(): "
                 "in a program that forks, open nats sinks only in the "
                 "processes it forks", (int)nats_pid);
        rc = -1;
    } else if (nats_pid == 0 && nats_Open(-1) != NATS_OK) {
        snprintf(err, len, "libnats cannot be initialised: %s",
                 nats_GetLastError(NULL));
        rc = -1;
    } else {
        nats_pid = getpid();
    }
    host->fork_release(host);
    return rc;
}

/* Closes the mailbox of a sink that closes: callbacks that come later
 * find it closed. It is kept, since one may be on its way. */
static void mailbox_retire(const zmqsink_host_t *host, struct mailbox *m)
{
    pthread_mutex_lock(&m->lock);
    m->closed = true;
    free(m->items);
    m->items = NULL;
    m->n = m->cap = 0;
    pthread_mutex_unlock(&m->lock);
    host->fork_hold(host);
    m->next_retired = retired;
    retired = m;
    host->fork_release(host);
}

static void mailbox_free(struct mailbox *m)
{
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->news);
    free(m->items);
    free(m);
}

/* ---- the mailbox: libnats' threads ---- */

/* A mailbox with room for `room` outcomes: as many as may be in flight,
 * so that the ack handler never needs to grow it. */
static struct mailbox *mailbox_new(size_t room)
{
    struct mailbox *m = calloc(1, sizeof *m);
    pthread_condattr_t attr;
    if (m)
        m->items = calloc(room, sizeof *m->items);
    if (!m || !m->items || pthread_condattr_init(&attr) != 0) {
        if (m)
            free(m->items);
        free(m);
        return NULL;
    }
    m->cap = room;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->news, &attr);
    pthread_condattr_destroy(&attr);
    return m;
}

/* Splits "KEY-SEQ" (this sink's message ids). Returns 0 or -1. */
static int msg_id_parse(const char *id, char key[SPOOL_KEY_LEN + 1],
                        uint64_t *seq)
{
    if (!id || strlen(id) < SPOOL_KEY_LEN + 2 || id[SPOOL_KEY_LEN] != '-')
        return -1;
    memcpy(key, id, SPOOL_KEY_LEN);
    key[SPOOL_KEY_LEN] = '\0';
    char *end;
    errno = 0;
    *seq = strtoull(id + SPOOL_KEY_LEN + 1, &end, 10);
    return errno || *end ? -1 : 0;
}

/* What the stream said, in the sink's words. Refused for good: a message
 * too large for the stream, a sealed stream; everything else may pass (a
 * leader election, a restart, a stream not there yet). */
static enum outcome ack_outcome(const jsPubAck *pa, const jsPubAckErr *pae,
                                char *reason, size_t len)
{
    if (pa)
        return OUTCOME_ACKED;
    if (pae->Err == NATS_NO_RESPONDERS)
        snprintf(reason, len, "no stream answers (no responders)");
    else if (pae->Err == NATS_TIMEOUT)
        snprintf(reason, len, "no acknowledgment within ack_timeout");
    else
        snprintf(reason, len, "%s (JetStream error %d)",
                 pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err),
                 (int)pae->ErrCode);
    if (pae->Err == NATS_ERR &&
        (pae->ErrCode == JSStreamMessageExceedsMaximumErr ||
         pae->ErrCode == JSStreamSealedErr))
        return OUTCOME_REJECTED;
    return OUTCOME_RETRY;
}

/* libnats' thread: queues the outcome of one message for the sink. */
static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae,
                   void *closure)
{
    struct mailbox *m = closure;
    struct completion c = {0};
    const char *id = NULL;
    natsMsgHeader_Get(msg, MSG_ID_HEADER, &id);
    bool ours = msg_id_parse(id, c.key, &c.seq) == 0;
    c.outcome = ack_outcome(pa, pae, c.reason, sizeof c.reason);
    pthread_mutex_lock(&m->lock);
    if (!m->closed) {
        /* Not ours: an empty key still frees its place in the window. The
         * room is there: at most max_in_flight outcomes are due. */
        if (!ours)
            c.key[0] = '\0';
        if (m->n < m->cap)
            m->items[m->n++] = c;
        pthread_cond_signal(&m->news);
    }
    pthread_mutex_unlock(&m->lock);
    natsMsg_Destroy(msg);
}

static void on_connection_change(natsConnection *nc, void *closure)
{
    struct mailbox *m = closure;
    pthread_mutex_lock(&m->lock);
    m->changed = true;
    pthread_cond_signal(&m->news);
    pthread_mutex_unlock(&m->lock);
}

static void on_async_error(natsConnection *nc, natsSubscription *sub,
                           natsStatus err, void *closure)
{
    struct mailbox *m = closure;
    const char *text = NULL;
    natsConnection_GetLastError(nc, &text);
    pthread_mutex_lock(&m->lock);
    snprintf(m->async_error, sizeof m->async_error, "%s",
             text && *text ? text : natsStatus_GetText(err));
    m->async_error_new = true;
    pthread_mutex_unlock(&m->lock);
}

/* The sink's thread: waits until an outcome or a change of the connection
 * is there, or until (monotonic ns). */
static void mailbox_wait(struct mailbox *m, int64_t until)
{
    struct timespec ts = {.tv_sec = until / CLOCK_NS_PER_S,
                          .tv_nsec = until % CLOCK_NS_PER_S};
    pthread_mutex_lock(&m->lock);
    while (m->n == 0 && !m->changed && clock_now_ns() < until)
        if (pthread_cond_timedwait(&m->news, &m->lock, &ts) == ETIMEDOUT)
            break;
    m->changed = false;
    pthread_mutex_unlock(&m->lock);
}

/* ---- subjects ---- */

/* Checks a subject as the template expands it (len bytes): a subject to
 * publish to, without whitespace, control characters, wildcards or an
 * empty token. t is the template, for the message. */
static int subject_syntax_check(const char *subject, size_t n, const char *t,
                                char *err, size_t len)
{
    size_t token = 0; /* characters of the current token */
    for (size_t i = 0; i <= n; i++) {
        if (i == n || subject[i] == '.') {
            if (token == 0) {
                snprintf(err, len, "subject '%s': an empty token (a '.' at "
                         "either end, or two in a row)", t);
                return -1;
            }
            token = 0;
            continue;
        }
        unsigned char c = (unsigned char)subject[i];
        if (c <= ' ' || c == 0x7f || c == '*' || c == '>') {
            snprintf(err, len, "subject '%s': no whitespace, control "
                     "characters or wildcards ('*', '>') in a subject to "
                     "publish to", t);
            return -1;
        }
        token++;
    }
    return 0;
}

/* Checks the template: its placeholders (common/template.h), then the
 * subject it makes with each placeholder standing for one safe
 * character, as its values are made safe as one token. */
static int subject_check(const char *t, char *err, size_t len)
{
    if (strlen(t) > SUBJECT_TEMPLATE_MAX) {
        snprintf(err, len, "subject: longer than %d characters",
                 SUBJECT_TEMPLATE_MAX);
        return -1;
    }
    char why[256];
    if (template_check(t, why, sizeof why) != 0) {
        snprintf(err, len, "subject '%s': %s", t, why);
        return -1;
    }
    template_values_t probe;
    for (int f = 0; f < TEMPLATE_FIELDS; f++)
        snprintf(probe.text[f], sizeof probe.text[f], "x");
    bytes_t subject = {0};
    int rc = template_expand(t, &probe, &subject);
    if (rc != 0)
        snprintf(err, len, "out of memory");
    else
        rc = subject_syntax_check(subject.data, subject.len, t, err, len);
    bytes_free(&subject);
    return rc;
}

/* Appends the subject of ev to b: the template with each value made safe
 * as one subject token. */
static void subject_render(const struct nats_sink *s, const zmqsink_event_t *ev,
                           bytes_t *b, bool *failed)
{
    template_values_t values;
    template_values_of_event(&values, ev);
    for (int f = 0; f < TEMPLATE_FIELDS; f++) {
        char safe[TEMPLATE_VALUE_MAX];
        names_sanitize(safe, sizeof safe, values.text[f], SUBJECT_SYNTAX);
        memcpy(values.text[f], safe, sizeof safe);
    }
    if (!*failed && template_expand(s->subject, &values, b) != 0)
        *failed = true;
}

/* ---- batches ---- */

static void batch_free(struct batch *b)
{
    if (b) {
        bytes_free(&b->b.body);
        free(b->messages);
        free(b);
    }
}

/* Indexes the lines of b's body ("SEQ SUBJECT BODY\n"). Returns 0, or -1
 * when one is not such a line. */
static int batch_index(struct batch *b)
{
    b->messages = calloc(b->b.events ? b->b.events : 1, sizeof *b->messages);
    if (!b->messages)
        return -1;
    const char *body = b->b.body.data, *end = body + b->b.body.len;
    const char *p = body;
    for (uint32_t i = 0; i < b->b.events; i++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        char *after = (char *)p;
        uint64_t seq = nl && *p >= '0' && *p <= '9' ? strtoull(p, &after, 10)
                                                    : 0;
        const char *subject = nl ? after + 1 : NULL;
        const char *space = subject && subject < nl
                                ? memchr(subject, ' ', (size_t)(nl - subject))
                                : NULL;
        if (!space || *after != ' ' || space == subject)
            return -1;
        b->messages[i] = (struct message){
            .seq = seq,
            .subject = (uint32_t)(subject - body),
            .subject_len = (uint32_t)(space - subject),
            .body_len = (uint32_t)(nl - space - 1),
        };
        p = nl + 1;
    }
    return p == end ? 0 : -1;
}

/* Renders events into a new batch of this run. Events that cannot be
 * rendered (out of memory) are counted as failed. NULL when none could. */
static struct batch *batch_render(struct nats_sink *s,
                                  const zmqsink_event_t *events, size_t n)
{
    struct batch *b = calloc(1, sizeof *b);
    if (!b) {
        s->host->count_failed(s->host, n, "out_of_memory");
        return NULL;
    }
    b->this_run = true;
    for (size_t i = 0; i < n; i++) {
        bool failed = false;
        const zmqsink_event_t *ev = &events[i];
        s->line.len = 0;
        bytes_printf(&s->line, &failed, "%" PRIu64 " ", ev->seq);
        subject_render(s, ev, &s->line, &failed);
        bytes_put(&s->line, " ", 1, &failed);
        if (!failed && bytes_put_event(&s->line, s->host, s->format, ev) != 0)
            failed = true;
        bytes_put(&s->line, "\n", 1, &failed);
        bytes_put(&b->b.body, s->line.data, s->line.len, &failed);
        if (failed)
            s->host->count_failed(s->host, 1, "out_of_memory");
        else
            b->b.events++;
    }
    if (b->b.events == 0 || batch_index(b) != 0) {
        s->host->count_failed(s->host, b->b.events, "out_of_memory");
        batch_free(b);
        return NULL;
    }
    b->b.id = ++s->next_id;
    memcpy(b->b.key, s->instance, sizeof b->b.key);
    return b;
}

/* The lines of b without an outcome, as a batch for the spool under b's
 * id and key; body is the caller's to free. Returns their count. */
static uint32_t batch_unfinished(const struct batch *b, spool_batch_t *out,
                                 bool *failed)
{
    *out = (spool_batch_t){.id = b->b.id};
    memcpy(out->key, b->b.key, sizeof out->key);
    const char *body = b->b.body.data;
    for (uint32_t i = 0; i < b->b.events; i++) {
        const struct message *m = &b->messages[i];
        if (m->state == MESSAGE_DONE)
            continue;
        const char *line = body + m->subject;
        while (line > body && line[-1] != '\n')
            line--;
        const char *end = body + m->subject + m->subject_len + 1 + m->body_len;
        bytes_put(&out->body, line, (size_t)(end - line) + 1, failed);
        out->events++;
    }
    return out->events;
}

static void memory_push(struct nats_sink *s, struct batch *b)
{
    b->next = NULL;
    *s->memory_tail = b;
    s->memory_tail = &b->next;
    s->memory_events += b->b.events - b->done;
}

static struct batch *memory_pop(struct nats_sink *s)
{
    struct batch *b = s->memory;
    s->memory = b->next;
    if (!s->memory)
        s->memory_tail = &s->memory;
    s->memory_events -= b->b.events - b->done;
    return b;
}

/* Moves every batch in memory into the spool, each with its events that
 * have no outcome yet; what is in flight of them is left to its fate,
 * and published again from the spool. */
static void spool_everything(struct nats_sink *s)
{
    while (s->memory) {
        struct batch *b = memory_pop(s);
        spool_batch_t rest;
        bool failed = false;
        if (batch_unfinished(b, &rest, &failed) > 0) {
            if (failed) {
                s->host->log(s->host, ZMQSINK_SEV_ERR, "out of memory: %" PRIu32
                             " events lost", rest.events);
                s->host->count_failed(s->host, rest.events, "out_of_memory");
            } else {
                spool_add(s->spool, &rest); /* counts them if it fails */
            }
        }
        bytes_free(&rest.body);
        batch_free(b);
    }
}

/* Puts a new batch where it waits: the spool while no server is there,
 * while publishing fails or older batches wait there, or memory is full;
 * memory otherwise. */
static void batch_enqueue(struct nats_sink *s, struct batch *b)
{
    if (s->spool && (s->outage || s->failures > 0 || spool_count(s->spool) > 0 ||
                     s->memory_events >= MEMORY_EVENTS)) {
        spool_add(s->spool, &b->b);
        batch_free(b);
        return;
    }
    memory_push(s, b);
}

/* ---- outcomes ---- */

/* Whether b may hold the message key-seq: its events are in seq order. */
static bool batch_holds(const struct batch *b, const char *key, uint64_t seq)
{
    return b && strcmp(b->b.key, key) == 0 && b->messages[0].seq <= seq &&
           b->messages[b->b.events - 1].seq >= seq;
}

/* The message of this sink with key and seq still in flight, or NULL. */
static struct message *message_find(struct nats_sink *s, const char *key,
                                    uint64_t seq, struct batch **batch)
{
    struct batch *b = batch_holds(s->replay, key, seq) ? s->replay : NULL;
    for (struct batch *m = s->memory; !b && m; m = m->next)
        if (batch_holds(m, key, seq))
            b = m;
    if (!b)
        return NULL;
    size_t lo = 0, hi = b->b.events;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (b->messages[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == b->b.events || b->messages[lo].seq != seq ||
        b->messages[lo].state != MESSAGE_IN_FLIGHT)
        return NULL;
    *batch = b;
    return &b->messages[lo];
}

/* Publishing failed in a way that may pass: backs off, and from now on
 * batches wait in the spool. */
static void publish_failed(struct nats_sink *s, const char *reason)
{
    int64_t now = clock_now_ns();
    const zmqsink_host_t *h = s->host;
    if (s->failures++ == 0) {
        s->failing_since_ns = now;
        h->log(h, ZMQSINK_SEV_WARNING, "publishing failed: %s; retrying with "
               "backoff%s%s", reason, s->spool ? ", batches wait in " : "",
               s->spool ? spool_dir(s->spool) : "");
    } else if (strcmp(reason, s->failure) != 0) {
        h->log(h, ZMQSINK_SEV_WARNING, "publishing still fails: %s", reason);
    }
    snprintf(s->failure, sizeof s->failure, "%s", reason);
    s->retry_at_ns = now + backoff_full_jitter(
                               &s->random,
                               backoff_ceiling(s->retry_base_ns,
                                               s->retry_cap_ns, s->failures));
    if (s->spool)
        spool_everything(s);
}

static void publish_succeeded(struct nats_sink *s)
{
    if (s->failures == 0)
        return;
    s->host->log(s->host, ZMQSINK_SEV_NOTICE,
                 "publishing works again after %" PRId64 " failures in %.1f s%s",
                 s->failures,
                 (double)(clock_now_ns() - s->failing_since_ns) / CLOCK_NS_PER_S,
                 s->spool && spool_count(s->spool) ? "; replaying the spool"
                                                   : "");
    s->failures = 0;
    s->retry_at_ns = 0;
}

static void message_done(struct nats_sink *s, struct batch *b,
                         struct message *m)
{
    m->state = MESSAGE_DONE;
    b->done++;
    if (b != s->replay)
        s->memory_events--;
}

static void message_rejected(struct nats_sink *s, struct batch *b,
                             struct message *m, const char *reason)
{
    const zmqsink_host_t *h = s->host;
    h->log(h, s->rejecting ? ZMQSINK_SEV_DEBUG : ZMQSINK_SEV_ERR,
           "the stream refuses event %" PRIu64 " (%s-%" PRIu64 ") for good: "
           "%s; it is dropped", m->seq, b->b.key, m->seq, reason);
    s->rejecting = true;
    if (b->this_run)
        h->count_failed(h, 1, "rejected");
    message_done(s, b, m);
}

static void message_acked(struct nats_sink *s, struct batch *b,
                          struct message *m)
{
    s->rejecting = false;
    if (b->this_run)
        s->host->count_delivered(s->host, 1);
    message_done(s, b, m);
    publish_succeeded(s);
}

/* Applies the outcomes libnats' threads queued. */
static void outcomes_apply(struct nats_sink *s)
{
    struct mailbox *mb = s->mailbox;
    pthread_mutex_lock(&mb->lock);
    struct completion *items = mb->items;
    size_t n = mb->n, cap = mb->cap;
    mb->items = s->taken;
    mb->cap = s->taken_cap;
    mb->n = 0;
    bool async_error = mb->async_error_new;
    char error[REASON_MAX];
    memcpy(error, mb->async_error, sizeof error);
    mb->async_error_new = false;
    pthread_mutex_unlock(&mb->lock);
    s->taken = items;
    s->taken_cap = cap;
    if (async_error)
        s->host->log(s->host, ZMQSINK_SEV_WARNING, "NATS: %s", error);
    const char *retry = NULL;
    for (size_t i = 0; i < n; i++) {
        const struct completion *c = &items[i];
        s->in_flight--;
        struct batch *b;
        struct message *m = message_find(s, c->key, c->seq, &b);
        if (!m)
            continue; /* its batch went to the spool */
        b->in_flight--;
        if (c->outcome == OUTCOME_ACKED) {
            message_acked(s, b, m);
        } else if (c->outcome == OUTCOME_REJECTED) {
            message_rejected(s, b, m, c->reason);
        } else {
            m->state = MESSAGE_UNSENT;
            uint32_t index = (uint32_t)(m - b->messages);
            if (index < b->cursor)
                b->cursor = index;
            retry = retry ? retry : c->reason;
        }
    }
    /* One failure however many messages it failed: the backoff grows by
     * round, not by message. Spools what waits, so after this loop. */
    if (retry)
        publish_failed(s, retry);
}

/* Lets go of the batches whose every event has an outcome. */
static void batches_finish(struct nats_sink *s)
{
    while (s->memory && s->memory->done == s->memory->b.events)
        batch_free(memory_pop(s));
    if (s->replay && s->replay->done == s->replay->b.events) {
        spool_remove(s->spool, s->replay->b.id);
        batch_free(s->replay);
        s->replay = NULL;
    }
}

/* ---- publishing ---- */

/* Publishes one message. Returns 0 when it went (in flight, or delivered
 * on core NATS), 1 when it may go later (reason set), -1 when it never
 * will (reason set). */
static int message_publish(struct nats_sink *s, struct batch *b,
                           struct message *m, char *reason, size_t len)
{
    const char *body = b->b.body.data;
    bool failed = false;
    s->scratch.len = 0;
    bytes_put(&s->scratch, body + m->subject, m->subject_len, &failed);
    bytes_put(&s->scratch, "", 1, &failed);
    char id[MSG_ID_MAX];
    snprintf(id, sizeof id, "%s-%" PRIu64, b->b.key, m->seq);
    natsMsg *msg = NULL;
    natsStatus rc = failed ? NATS_NO_MEMORY
                           : natsMsg_Create(&msg, s->scratch.data, NULL,
                                            body + m->subject + m->subject_len + 1,
                                            (int)m->body_len);
    if (rc == NATS_OK)
        rc = natsMsgHeader_Set(msg, MSG_ID_HEADER, id);
    if (rc == NATS_OK && s->jetstream) {
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = s->ack_timeout_ms;
        rc = js_PublishMsgAsync(s->js, &msg, &po);
    } else if (rc == NATS_OK) {
        rc = natsConnection_PublishMsg(s->conn, msg);
    }
    natsMsg_Destroy(msg); /* nothing when libnats took it */
    if (rc == NATS_OK)
        return 0;
    const char *detail = nats_GetLastError(NULL);
    snprintf(reason, len, "%s%s%s", natsStatus_GetText(rc),
             detail && *detail ? ": " : "", detail ? detail : "");
    return rc == NATS_MAX_PAYLOAD || rc == NATS_INVALID_SUBJECT ? -1 : 1;
}

/* Publishes what b has unsent while the window has room. Returns false
 * when publishing failed and must wait. */
static bool batch_publish(struct nats_sink *s, struct batch *b)
{
    while (b->cursor < b->b.events && s->in_flight < s->max_in_flight) {
        struct message *m = &b->messages[b->cursor];
        if (m->state != MESSAGE_UNSENT) {
            b->cursor++;
            continue;
        }
        char reason[REASON_MAX];
        int rc = message_publish(s, b, m, reason, sizeof reason);
        if (rc > 0) {
            publish_failed(s, reason);
            return false;
        }
        b->cursor++;
        if (rc < 0) {
            message_rejected(s, b, m, reason);
        } else if (s->jetstream) {
            m->state = MESSAGE_IN_FLIGHT;
            b->in_flight++;
            s->in_flight++;
        } else {
            message_acked(s, b, m);
        }
    }
    return true;
}

/* Loads the spool's oldest batch to be published. */
static void replay_load(struct nats_sink *s)
{
    struct batch *b = calloc(1, sizeof *b);
    if (!b)
        return;
    if (spool_load_oldest(s->spool, &b->b) != 1) {
        batch_free(b);
        return;
    }
    if (batch_index(b) != 0) {
        s->host->log(s->host, ZMQSINK_SEV_ERR,
                     "spool %s: batch %016" PRIx64 " is not a batch of the "
                     "nats sink; its %" PRIu32 " events are lost",
                     spool_dir(s->spool), b->b.id, b->b.events);
        if (spool_of_this_run(s->spool, b->b.id))
            s->host->count_failed(s->host, b->b.events, "spool_error");
        spool_remove(s->spool, b->b.id);
        batch_free(b);
        return;
    }
    b->this_run = spool_of_this_run(s->spool, b->b.id);
    s->replay = b;
}

/* Publishes, in order, the batches in memory (older than any in the
 * spool), then the spool's oldest, while the window has room. */
static void publish_some(struct nats_sink *s)
{
    for (struct batch *b = s->memory; b; b = b->next)
        if (!batch_publish(s, b))
            return;
    if (!s->replay && s->spool && spool_count(s->spool) > 0 &&
        s->in_flight < s->max_in_flight)
        replay_load(s);
    if (s->replay)
        batch_publish(s, s->replay);
}

/* ---- the connection ---- */

/* Copies a server URL for messages, without its user and password. */
static void url_public(const char *url, char *out, size_t cap)
{
    const char *scheme = strstr(url, "://");
    const char *host = scheme ? scheme + 3 : url;
    const char *at = strchr(host, '@');
    if (at)
        snprintf(out, cap, "%.*s%s", (int)(host - url), url, at + 1);
    else
        snprintf(out, cap, "%s", url);
}

static void connection_lost(struct nats_sink *s)
{
    if (s->outage)
        return;
    s->outage = true;
    const char *last = NULL;
    if (s->conn)
        natsConnection_GetLastError(s->conn, &last);
    char why[REASON_MAX + 4] = "";
    if (last && *last)
        snprintf(why, sizeof why, " (%s)", last);
    const char *where = s->spool ? spool_dir(s->spool) : "memory";
    if (s->connected_once)
        s->host->log(s->host, ZMQSINK_SEV_WARNING,
                     "disconnected from NATS%s; reconnecting to one of %zu "
                     "servers, events wait in %s", why, s->nservers, where);
    else
        s->host->log(s->host, ZMQSINK_SEV_WARNING,
                     "no NATS server of %zu answers%s; retrying, events "
                     "wait in %s", s->nservers, why, where);
    if (s->spool)
        spool_everything(s);
}

static void connection_back(struct nats_sink *s)
{
    char url[256] = "", shown[256];
    natsConnection_GetConnectedUrl(s->conn, url, sizeof url);
    url_public(url, shown, sizeof shown);
    s->host->log(s->host, s->outage ? ZMQSINK_SEV_NOTICE : ZMQSINK_SEV_INFO,
                 "connected to %s%s", shown,
                 s->spool && spool_count(s->spool) ? "; replaying the spool"
                                                   : "");
    s->outage = false;
    s->connected_once = true;
    s->retry_at_ns = 0;
}

/* Connects once; libnats goes on trying by itself when no server answers
 * now. On failure (credentials refused, ...) tried again after a backoff. */
static void connect_start(struct nats_sink *s)
{
    s->connect_tried = true;
    s->mailbox_shared = true; /* libnats' threads may call it from now on */
    natsStatus rc = natsConnection_Connect(&s->conn, s->opts);
    if (rc == NATS_OK || rc == NATS_NOT_YET_CONNECTED) {
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.PublishAsync.AckHandler = on_ack;
        jo.PublishAsync.AckHandlerClosure = s->mailbox;
        if (!s->jetstream || natsConnection_JetStream(&s->js, s->conn, &jo) ==
                                 NATS_OK) {
            if (rc == NATS_OK)
                connection_back(s);
            return;
        }
    }
    char reason[REASON_MAX];
    const char *detail = nats_GetLastError(NULL);
    snprintf(reason, sizeof reason, "cannot connect: %s%s%s",
             natsStatus_GetText(rc), detail && *detail ? ": " : "",
             detail ? detail : "");
    natsConnection_Destroy(s->conn);
    s->conn = NULL;
    s->connect_tried = false;
    publish_failed(s, reason);
}

/* Whether the connection is up; starts or ends an outage. */
static bool connection_up(struct nats_sink *s)
{
    if (!s->conn) {
        if (s->connect_tried)
            connection_lost(s);
        return false;
    }
    if (natsConnection_Status(s->conn) != NATS_CONN_STATUS_CONNECTED) {
        connection_lost(s);
        return false;
    }
    if (s->outage)
        connection_back(s);
    return true;
}

/* Moves everything along without waiting. */
static void pump(struct nats_sink *s)
{
    int64_t now = clock_now_ns();
    if (!s->conn && !s->connect_tried && !s->flushing && now >= s->retry_at_ns)
        connect_start(s);
    if (s->conn)
        outcomes_apply(s);
    if (connection_up(s) && clock_now_ns() >= s->retry_at_ns)
        publish_some(s);
    batches_finish(s);
}

/* Whether the sink holds events without an outcome. */
static bool holding(const struct nats_sink *s)
{
    return s->memory || s->replay || (s->spool && spool_count(s->spool) > 0);
}

/* Asks for the tick that moves along what the sink holds; nothing when it
 * holds nothing. Each tick may wait for news (wait_for_news). */
static void request_tick(struct nats_sink *s)
{
    const zmqsink_host_t *h = s->host;
    int64_t now = clock_now_ns();
    if (!s->connect_tried)
        h->tick_at(h, s->retry_at_ns > now ? s->retry_at_ns : now);
    else if (!holding(s))
        return;
    else if (s->outage || s->in_flight > 0)
        h->tick_at(h, now); /* the tick waits for news */
    else if (s->retry_at_ns > now)
        h->tick_at(h, s->retry_at_ns);
    else
        h->tick_at(h, now + LOAD_RETRY_NS); /* a batch could not be loaded */
}

/* Waits, until at most `until`, for acks while messages are in flight, for
 * the connection while it is down, or for a retry's time; in slices, so
 * that the core hands over new events in between. */
static void wait_for_news(struct nats_sink *s, int64_t until)
{
    int64_t now = clock_now_ns();
    bool retry_later = s->retry_at_ns > now;
    if (!s->outage && s->in_flight == 0 && !retry_later)
        return; /* pump() can move on now */
    int64_t slice = s->outage ? OUTAGE_WAIT_NS : ACK_WAIT_NS;
    if (now + slice < until)
        until = now + slice;
    if (retry_later && s->retry_at_ns < until)
        until = s->retry_at_ns;
    mailbox_wait(s->mailbox, until);
}

/* ---- callbacks ---- */

static zmqsink_write_result_t nats_write(void *state,
                                         const zmqsink_event_t *events,
                                         size_t n)
{
    struct nats_sink *s = state;
    if (!s->spool && s->memory_events >= MEMORY_EVENTS) {
        pump(s);
        if (s->memory_events >= MEMORY_EVENTS) {
            request_tick(s);
            return ZMQSINK_WRITE_RETRY;
        }
    }
    struct batch *b = batch_render(s, events, n);
    if (b)
        batch_enqueue(s, b);
    pump(s);
    request_tick(s);
    return ZMQSINK_WRITE_OK;
}

static void nats_tick(void *state, int64_t now)
{
    struct nats_sink *s = state;
    pump(s);
    if (holding(s)) {
        wait_for_news(s, INT64_MAX);
        pump(s);
    }
    request_tick(s);
}

static uint64_t nats_flush(void *state, int64_t deadline_ns)
{
    struct nats_sink *s = state;
    s->flushing = true;
    /* Without a connection nothing moves: flushing starts none. */
    for (pump(s); (s->memory || (s->replay && s->replay->in_flight)) &&
                  s->conn && clock_now_ns() < deadline_ns;
         pump(s))
        wait_for_news(s, deadline_ns);
    if (s->conn && !s->jetstream) {
        int64_t left = (deadline_ns - clock_now_ns()) / CLOCK_NS_PER_MS;
        natsConnection_FlushTimeout(s->conn, left > 0 ? left : 1);
    }
    uint64_t lost = 0;
    if (s->spool) {
        spool_everything(s);
        if (spool_count(s->spool) > 0)
            s->host->log(s->host, ZMQSINK_SEV_NOTICE,
                         "%zu batches wait in %s for the next run",
                         spool_count(s->spool), spool_dir(s->spool));
    }
    while (s->memory) {
        struct batch *b = memory_pop(s);
        lost += b->b.events - b->done;
        batch_free(b);
    }
    return lost;
}

static void nats_close(void *state)
{
    struct nats_sink *s = state;
    jsCtx_Destroy(s->js);
    natsConnection_Destroy(s->conn);
    natsOptions_Destroy(s->opts);
    while (s->memory)
        batch_free(memory_pop(s));
    batch_free(s->replay);
    spool_close(&s->spool);
    bytes_free(&s->line);
    bytes_free(&s->scratch);
    free(s->taken);
    if (s->mailbox_shared)
        mailbox_retire(s->host, s->mailbox);
    else if (s->mailbox)
        mailbox_free(s->mailbox);
    free(s);
}

/* ---- open ---- */

/* Checks one entry of `servers`: [nats://|tls://][user:pass@]host[:port]. */
static int server_check(const char *url, char *err, size_t len)
{
    const char *scheme_end = strstr(url, "://");
    if (scheme_end && strncmp(url, "nats://", 7) != 0 &&
        strncmp(url, "tls://", 6) != 0) {
        char shown[256];
        url_public(url, shown, sizeof shown);
        snprintf(err, len, "servers: '%s': the scheme must be nats:// or "
                 "tls://", shown);
        return -1;
    }
    const char *host = scheme_end ? scheme_end + 3 : url;
    const char *at = strchr(host, '@');
    host = at ? at + 1 : host;
    if (!*host || *host == ':' || *host == '/' || strpbrk(host, " \t,")) {
        char shown[256];
        url_public(url, shown, sizeof shown);
        snprintf(err, len, "servers: '%s' names no host (expected "
                 "nats://HOST:PORT)", shown);
        return -1;
    }
    return 0;
}

/* Checks the `servers` list: how many, and each entry; on a failure,
 * *item is the index of the entry at fault (-1: the list). */
static int servers_check(const zmqsink_host_t *host, long *item, char *err,
                         size_t len)
{
    const char *const *servers;
    size_t n = host->option_list(host, "servers", &servers);
    *item = -1;
    if (n == 0 || n > SERVERS_MAX) {
        snprintf(err, len, "servers: give 1 to %d server URLs", SERVERS_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (server_check(servers[i], err, len) != 0) {
            *item = (long)i;
            return -1;
        }
    return 0;
}

static int options_servers(struct nats_sink *s, char *err, size_t len)
{
    long item;
    if (servers_check(s->host, &item, err, len) != 0)
        return -1;
    const char *const *servers;
    size_t n = s->host->option_list(s->host, "servers", &servers);
    s->nservers = n;
    if (natsOptions_SetServers(s->opts, (const char **)servers, (int)n) !=
        NATS_OK) {
        snprintf(err, len, "servers: %s", nats_GetLastError(NULL));
        return -1;
    }
    return 0;
}

/* Checks that credentials and nkey are not both given, and nkey whole;
 * on a failure, *key is the option at fault. The files are open()'s to
 * check. */
static int security_check(const zmqsink_host_t *h, const char **key,
                          char *err, size_t len)
{
    bool creds = h->option_string(h, "credentials") != NULL;
    bool seed = h->option_string(h, "nkey.seed_file") != NULL;
    bool public_key = h->option_string(h, "nkey.public_key") != NULL;
    if (creds && (seed || public_key)) {
        *key = "credentials";
        snprintf(err, len, "credentials and nkey exclude each other: give one");
        return -1;
    }
    if (seed != public_key) {
        *key = seed ? "nkey.seed_file" : "nkey.public_key";
        snprintf(err, len, "nkey: give both public_key and seed_file");
        return -1;
    }
    return 0;
}

/* credentials, nkey and tls: files checked now, read by libnats when it
 * connects. */
static int options_security(struct nats_sink *s, char *err, size_t len)
{
    const zmqsink_host_t *h = s->host;
    const char *key;
    if (security_check(h, &key, err, len) != 0)
        return -1;
    char creds[PATH_MAX], seed[PATH_MAX], ca[PATH_MAX];
    int has_creds = option_file_readable(h, "credentials", creds, sizeof creds,
                                         err, len);
    int has_seed = has_creds < 0 ? -1
                                 : option_file_readable(h, "nkey.seed_file",
                                                        seed, sizeof seed, err,
                                                        len);
    int has_ca = has_seed < 0 ? -1
                              : option_file_readable(h, "tls.ca_file", ca,
                                                     sizeof ca, err, len);
    const char *public_key = h->option_string(h, "nkey.public_key");
    if (has_ca < 0)
        return -1;
    natsStatus rc = NATS_OK;
    if (has_creds)
        rc = natsOptions_SetUserCredentialsFromFiles(s->opts, creds, NULL);
    if (rc == NATS_OK && has_seed)
        rc = natsOptions_SetNKeyFromSeed(s->opts, public_key, seed);
    if (rc == NATS_OK && has_ca)
        rc = natsOptions_LoadCATrustedCertificates(s->opts, ca);
    if (rc == NATS_OK && has_ca)
        rc = natsOptions_SetSecure(s->opts, true);
    if (rc != NATS_OK) {
        snprintf(err, len, "%s: %s",
                 has_ca ? "tls.ca_file" : has_seed ? "nkey" : "credentials",
                 nats_GetLastError(NULL));
        return -1;
    }
    return 0;
}

static int options_connection(struct nats_sink *s, char *err, size_t len)
{
    const zmqsink_host_t *h = s->host;
    natsOptions *o = s->opts;
    char name[128];
    snprintf(name, sizeof name, "zmqsink %s", h->sink_name);
    natsStatus rc = natsOptions_SetName(o, name);
    if (rc == NATS_OK)
        rc = natsOptions_SetTimeout(o, h->option_int(h, "connect_timeout"));
    if (rc == NATS_OK)
        rc = natsOptions_SetMaxReconnect(o, -1);
    if (rc == NATS_OK)
        rc = natsOptions_SetReconnectWait(o, h->option_int(h, "reconnect_wait"));
    if (rc == NATS_OK)
        rc = natsOptions_SetPingInterval(o, PING_INTERVAL_MS);
    if (rc == NATS_OK)
        rc = natsOptions_SetRetryOnFailedConnect(o, true, on_connection_change,
                                                 s->mailbox);
    if (rc == NATS_OK)
        rc = natsOptions_SetDisconnectedCB(o, on_connection_change, s->mailbox);
    if (rc == NATS_OK)
        rc = natsOptions_SetReconnectedCB(o, on_connection_change, s->mailbox);
    if (rc == NATS_OK)
        rc = natsOptions_SetErrorHandler(o, on_async_error, s->mailbox);
    if (rc != NATS_OK) {
        snprintf(err, len, "libnats: %s", nats_GetLastError(NULL));
        return -1;
    }
    return 0;
}

static void options_read(struct nats_sink *s)
{
    const zmqsink_host_t *h = s->host;
    s->jetstream = h->option_int(h, "jetstream") != 0;
    s->format = (zmqsink_format_t)h->option_int(h, "format");
    s->ack_timeout_ms = h->option_int(h, "ack_timeout");
    s->max_in_flight = h->option_int(h, "max_in_flight");
    s->retry_base_ns = h->option_int(h, "retry.base") * CLOCK_NS_PER_MS;
    s->retry_cap_ns = h->option_int(h, "retry.cap") * CLOCK_NS_PER_MS;
}

static int spool_setup(struct nats_sink *s, char *err, size_t len)
{
    const zmqsink_host_t *h = s->host;
    const char *dir = h->option_string(h, "spool.dir");
    if (!dir)
        return 0;
    s->spool = spool_open(h, dir, (uint64_t)h->option_int(h, "spool.max_size"),
                          err, len);
    if (!s->spool)
        return -1;
    s->next_id = spool_last_id(s->spool);
    if (spool_count(s->spool) > 0)
        h->log(h, ZMQSINK_SEV_NOTICE,
               "%zu batches from an earlier run wait in %s; they are "
               "published first",
               spool_count(s->spool), spool_dir(s->spool));
    return 0;
}

static void *nats_open(const zmqsink_host_t *host, char *err, size_t len)
{
    struct nats_sink *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, len, "out of memory");
        return NULL;
    }
    s->host = host;
    s->memory_tail = &s->memory;
    s->random = random_seed();
    random_hex128(&s->random, s->instance);
    options_read(s);
    const char *subject = host->option_string(host, "subject");
    if (subject_check(subject, err, len) != 0)
        goto fail;
    snprintf(s->subject, sizeof s->subject, "%s", subject);
    s->mailbox = mailbox_new((size_t)s->max_in_flight);
    s->taken_cap = (size_t)s->max_in_flight;
    s->taken = calloc(s->taken_cap, sizeof *s->taken);
    if (!s->mailbox || !s->taken) {
        snprintf(err, len, "out of memory");
        goto fail;
    }
    if (nats_use(host, err, len) != 0)
        goto fail;
    if (natsOptions_Create(&s->opts) != NATS_OK) {
        snprintf(err, len, "out of memory");
        goto fail;
    }
    if (options_servers(s, err, len) != 0 ||
        options_security(s, err, len) != 0 ||
        options_connection(s, err, len) != 0 || spool_setup(s, err, len) != 0)
        goto fail;
    host->tick_at(host, clock_now_ns()); /* connects, off zmqsink_new() */
    return s;
fail:
    nats_close(s);
    return NULL;
}

static const zmqsink_option_t nats_options[] = {
    {.key = "servers", .type = ZMQSINK_OPT_LIST, .required = 1,
     .help = "server URLs, nats://host:port or tls://host:port; the client "
             "also follows the servers the cluster announces"},
    {.key = "subject", .type = ZMQSINK_OPT_STRING,
     .fallback = "zmq.{socket}.{event}",
     .help = "subject template: {socket} {event} {host} {pid}, each made "
             "safe as one token"},
    {.key = "jetstream", .type = ZMQSINK_OPT_BOOL, .fallback = "true",
     .help = "true: JetStream, each event acknowledged by the stream; false: "
             "core NATS, at most once"},
    {.key = "format", .type = ZMQSINK_OPT_ENUM, .fallback = "json",
     .choices = "json|logfmt|text", .help = "message body"},
    {.key = "connect_timeout", .type = ZMQSINK_OPT_DURATION, .fallback = "2s",
     .min = 100, .max = 600000, .help = "longest one connection attempt to "
                                        "one server may take"},
    {.key = "reconnect_wait", .type = ZMQSINK_OPT_DURATION, .fallback = "1s",
     .min = 10, .max = 600000,
     .help = "wait before trying a server again"},
    {.key = "ack_timeout", .type = ZMQSINK_OPT_DURATION, .fallback = "5s",
     .min = 100, .max = 600000,
     .help = "JetStream: longest wait for a message's ack before it is "
             "published again"},
    {.key = "max_in_flight", .type = ZMQSINK_OPT_INT, .fallback = "1024",
     .min = 1, .max = 65536,
     .help = "JetStream: messages published and not yet acknowledged, at "
             "most"},
    {.key = "retry.base", .type = ZMQSINK_OPT_DURATION, .fallback = "100ms",
     .min = 1, .max = 3600000, .help = "first backoff ceiling"},
    {.key = "retry.cap", .type = ZMQSINK_OPT_DURATION, .fallback = "10s",
     .min = 1, .max = 3600000, .help = "largest backoff ceiling"},
    {.key = "spool.dir", .type = ZMQSINK_OPT_STRING,
     .help = "directory for the batches waiting while no server is "
             "reachable; none: memory only"},
    {.key = "spool.max_size", .type = ZMQSINK_OPT_SIZE, .fallback = "256MiB",
     .min = 65536, .max = INT64_MAX,
     .help = "spool size, at most; over it the oldest batch is dropped"},
    {.key = "credentials", .type = ZMQSINK_OPT_STRING,
     .help = "a .creds file (user JWT and nkey seed)"},
    {.key = "nkey.public_key", .type = ZMQSINK_OPT_STRING,
     .help = "the user's nkey (U...), with seed_file"},
    {.key = "nkey.seed_file", .type = ZMQSINK_OPT_STRING,
     .help = "the file holding the nkey's seed (SU...)"},
    {.key = "tls.ca_file", .type = ZMQSINK_OPT_STRING,
     .help = "CA certificates (PEM) to verify the servers with; implies TLS"},
    {0},
};

/* The subject template, the servers and whether credentials and nkey go
 * together, in `zmqsink check` already; the files they name are open()'s
 * to check. */
static int nats_check(const zmqsink_host_t *host, const char **key,
                      long *item, char *err, size_t len)
{
    *key = "subject";
    if (subject_check(host->option_string(host, "subject"), err, len) != 0)
        return -1;
    *key = "servers";
    if (servers_check(host, item, err, len) != 0)
        return -1;
    return security_check(host, key, err, len);
}

static const zmqsink_plugin_t nats_plugin = {
    ZMQSINK_PLUGIN_DESCRIPTOR_INIT,
    .name = "nats",
    .description = "publishes events to NATS JetStream or core NATS, "
                   "spooling them on disk while no server is reachable",
    .options = nats_options,
    .open = nats_open,
    .write = nats_write,
    .tick = nats_tick,
    .flush = nats_flush,
    .close = nats_close,
    .flags = ZMQSINK_PLUGIN_COUNTS_DELIVERED | ZMQSINK_PLUGIN_TICKS_ON_REQUEST,
    .check = nats_check,
};

ZMQSINK_PLUGIN_EXPORT const zmqsink_plugin_t *zmqsink_plugin_entry(void)
{
    return &nats_plugin;
}
