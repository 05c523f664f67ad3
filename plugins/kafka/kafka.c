/* The kafka sink: publishes each event as one message to a Kafka topic
 * with librdkafka's idempotent producer, and loses none while the cluster
 * is away.
 *
 * Messages. The value is the event as a json line (the json contract);
 * the key comes from the `key` template ({socket} {event} {host} {pid},
 * common/template.h), so that the events of one socket keep their order
 * within one partition; a header zmqsink-id: RUN-SEQ, where RUN is 32 hex
 * digits drawn when the sink opens and SEQ the event's seq, stays the
 * same each time the event is sent again, also by a later run replaying
 * the spool, so that a consumer can drop the copies a crash may cause.
 * The key is made from the json line, not from the event, so that a
 * spooled line replayed later gets the very key it had.
 *
 * Delivery. The producer is librdkafka's idempotent one with acks=all, and
 * message.timeout.ms 0 (no local timeout) unless `properties` says
 * otherwise: librdkafka retries a message until the cluster has it, and
 * its retries never write it twice (one producer id and sequence per
 * partition). An event counts as delivered (count_delivered) only when its
 * delivery report says so; until then it is pending. Delivery reports are
 * served by rd_kafka_poll() from write(), tick() and flush() on the sink's
 * thread; the sink asks for ticks (ZMQSINK_PLUGIN_TICKS_ON_REQUEST) only
 * while messages wait for their reports: every POLL_FAST_NS while reports
 * come, every POLL_SLOW_NS once none came for RECENT_NS. An idle sink
 * never wakes.
 *
 * Backpressure. When librdkafka's queue is full (queue.buffering.max.*),
 * write() takes nothing and says RETRY, so that the events wait in the
 * core's ring (counted as dropped only once it is full); when the queue
 * fills in the middle of a batch, the sink keeps the rest (`held`, as json
 * lines), sends it before anything newer, and says RETRY until it is gone.
 *
 * Spool. With spool.dir, once messages have waited spool.after without a
 * single delivery report (no broker reachable, no leader for a partition,
 * a cluster too slow), the sink stops producing: new events go, as NDJSON
 * batches, to the spool (common/spool.h: one synced file per batch,
 * bounded, one slot per process), and the messages already in librdkafka
 * stay there, to go first when the cluster answers. Meanwhile the oldest
 * spooled batch is produced: its delivery reports say that the cluster is
 * back. Batches are then replayed oldest first, one at a time, and removed
 * once every message of theirs is delivered; new events go to the spool
 * until it is empty, so that the order of the events holds throughout.
 * Messages that librdkafka gives up on (a message.timeout.ms set in
 * `properties`, a fatal error of the producer, the purge at shutdown) go
 * to the spool too, before the batches spooled after them, and are sent
 * again; one the cluster may have written already (possibly persisted)
 * can then arrive twice, with the same zmqsink-id. What is still in the
 * spool at shutdown is sent by the next run first. So: once in the topic
 * within one producer session, at least once across a crash or restart.
 *
 * Failures. A message the cluster refuses for good (too large, not
 * authorised, an invalid record) is counted as failed ("rejected"),
 * logged, and written to the spool's dead-letter file when there is one.
 * Without a spool, a message librdkafka gives up on is counted as failed
 * ("unsent"). A fatal error of the idempotent producer (librdkafka says
 * so) ends that producer: its messages go to the spool (or count as
 * failed) and a new producer starts, with a new producer id.
 *
 * librdkafka's own threads talk to the brokers, over sockets the sink
 * opens and closes for it (socket_cb), so that they are owned through the
 * host and no forked child keeps one open. librdkafka keeps process-wide
 * state (its global init, OpenSSL's), so the plugin is never unloaded
 * (-z nodelete). That state does not survive fork(): a child forked after
 * its parent started a producer cannot open a kafka sink (a producer of
 * its own crashed in librdkafka's threads there, under ASan). */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include <zmqsink/plugin.h>

#include "backoff.h"
#include "bytes.h"
#include "clock.h"
#include "json.h"
#include "once.h"
#include "spool.h"
#include "template.h"

/* Between two polls of delivery reports while messages wait: often while
 * reports come, rarely once none came for RECENT_NS (a cluster away). */
#define POLL_FAST_NS (10 * CLOCK_NS_PER_MS)
#define POLL_SLOW_NS (100 * CLOCK_NS_PER_MS)
#define RECENT_NS CLOCK_NS_PER_S
/* Spooled batches: closed at SPOOL_BATCH_EVENTS events, or BATCH_DELAY_NS
 * after their first. */
#define SPOOL_BATCH_EVENTS 500
#define BATCH_DELAY_NS (100 * CLOCK_NS_PER_MS)
/* Before trying again to load a spooled batch (out of memory). */
#define LOAD_RETRY_NS (100 * CLOCK_NS_PER_MS)
/* Waits before producing again a batch whose messages failed. */
#define RETRY_MIN_NS (100 * CLOCK_NS_PER_MS)
#define RETRY_MAX_NS (10 * CLOCK_NS_PER_S)
/* Longest wait for the reports of purged messages when a producer is
 * replaced, and the time flush() keeps for them (and for spooling them)
 * before its deadline, which bounds its wait. */
#define DRAIN_NS (500 * CLOCK_NS_PER_MS)
#define DRAIN_RESERVE_NS (250 * CLOCK_NS_PER_MS)
#define POLL_MAX_MS 50
#define ID_HEADER "zmqsink-id"
#define TOPIC_MAX 249

enum mode {
    MODE_LIVE,     /* events go to librdkafka as they come */
    MODE_SPOOLING  /* events go to the spool; the spool is replayed */
};

/* The spooled batch being produced, and what its reports said. */
struct replay {
    spool_batch_t batch; /* its body: NDJSON, one event a line */
    bool loaded;
    size_t next;         /* offset of the first line not yet produced */
    uint32_t produced, settled, acked;
    uint32_t lost;          /* lines lost to a lack of memory */
    spool_batch_t unsent;   /* lines to keep in the spool: sent again */
    spool_batch_t rejected; /* lines refused for good */
    char reason[160];       /* why the cluster refused lines, for the log
                               and the dead letters */
};

struct kafka_sink {
    const zmqsink_host_t *host;
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    const char *topic, *key; /* key: NULL when messages have none */
    char *brokers;           /* "a:9092,b:9092", for messages */
    char id[SPOOL_KEY_LEN + 1];
    uint64_t random;
    bytes_t line, key_buf;

    enum mode mode;
    int64_t spooling_since_ns;
    spool_t *spool;
    int64_t spool_after_ns;
    uint64_t next_id;
    spool_batch_t held;      /* live: lines taken, not yet produced */
    size_t held_next;
    spool_batch_t open;      /* spooling: the batch being filled */
    int64_t open_since_ns;
    spool_batch_t unsent;    /* live messages librdkafka gave up on */
    struct replay replay;
    backoff_t retry;
    int64_t retry_at_ns;

    uint64_t live_in_flight; /* produced live, no report yet */
    uint64_t delivered_now;  /* live reports of the poll under way */
    int64_t last_progress_ns;
    bool fatal, shutting_down;
    bool brokers_down, queue_full, produce_failing, rejecting, unsent_failing;
    bool restart_failing;
    uint64_t queue_full_said;
    int64_t down_since_ns;
    int last_error;
};

/* ---- options and librdkafka's configuration ---- */

/* Properties the sink sets from its own options, or that it cannot honour. */
static const struct {
    const char *name, *why;
} refused_properties[] = {
    {"bootstrap.servers", "is set from brokers"},
    {"metadata.broker.list", "is set from brokers"},
    {"transactional.id", "asks for transactions, which the sink does not run"},
    {"plugin.library.paths",
     "would have librdkafka load libraries itself, where a fork() of the "
     "program may come between (zmqsink loads plugins under its fork lock)"},
};

/* What the sink sets before the user's properties: the guarantees, and
 * no local timeout (the spool takes over instead). */
static const struct {
    const char *name, *value;
} sink_properties[] = {
    {"enable.idempotence", "true"},
    {"acks", "all"},
    {"message.timeout.ms", "0"},
    {"client.id", "zmqsink"},
};

static bool property_is(const rd_kafka_conf_t *conf, const char *name,
                        const char *value)
{
    char got[64];
    size_t len = sizeof got;
    return rd_kafka_conf_get(conf, name, got, &len) == RD_KAFKA_CONF_OK &&
           strcmp(got, value) == 0;
}

/* Applies entry i of `properties`, then checks that the guarantees hold. */
static int property_apply(rd_kafka_conf_t *conf, const char *name,
                          const char *value, char *err, size_t len)
{
    for (size_t r = 0; r < sizeof refused_properties /
                               sizeof *refused_properties; r++)
        if (strcmp(name, refused_properties[r].name) == 0) {
            snprintf(err, len, "properties: '%s' %s", name,
                     refused_properties[r].why);
            return -1;
        }
    char why[512];
    if (rd_kafka_conf_set(conf, name, value, why, sizeof why) !=
        RD_KAFKA_CONF_OK) {
        snprintf(err, len, "properties: '%s': %s", name, why);
        return -1;
    }
    if (!property_is(conf, "enable.idempotence", "true")) {
        snprintf(err, len, "properties: '%s: %s' turns off the idempotent "
                 "producer, on which the sink's delivery guarantee rests: "
                 "remove it", name, value);
        return -1;
    }
    if (!property_is(conf, "request.required.acks", "-1")) {
        snprintf(err, len, "properties: '%s: %s' would count an event "
                 "delivered before every in-sync replica has it: acks must "
                 "stay all", name, value);
        return -1;
    }
    return 0;
}

/* The brokers joined for bootstrap.servers, each checked. Returns NULL
 * with the reason in err. Caller frees. */
static char *brokers_join(const zmqsink_host_t *host, long *item, char *err,
                          size_t len)
{
    const char *const *brokers;
    size_t n = host->option_list(host, "brokers", &brokers);
    bytes_t joined = {0};
    bool failed = false;
    if (n == 0)
        snprintf(err, len, "brokers: at least one host:port is needed");
    for (size_t i = 0; i < n; i++) {
        if (!*brokers[i] || strpbrk(brokers[i], ", \t")) {
            *item = (long)i;
            snprintf(err, len, "brokers: '%s' is not host:port", brokers[i]);
            n = 0;
            break;
        }
        bytes_printf(&joined, &failed, "%s%s", i ? "," : "", brokers[i]);
    }
    if (failed)
        snprintf(err, len, "out of memory");
    if (n == 0 || failed) {
        bytes_free(&joined);
        return NULL;
    }
    return joined.data;
}

static int topic_check(const char *topic, char *err, size_t len)
{
    size_t n = strlen(topic);
    if (n == 0 || n > TOPIC_MAX ||
        strspn(topic, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "0123456789._-") != n ||
        strcmp(topic, ".") == 0 || strcmp(topic, "..") == 0) {
        snprintf(err, len, "topic '%s': a topic name has 1 to %d of a-z A-Z "
                 "0-9 . _ -", topic, TOPIC_MAX);
        return -1;
    }
    return 0;
}

/* Fills conf from the options: what the sink needs, then `properties`.
 * Returns 0, or -1 with *key and *item naming the option at fault. */
static int conf_build(const zmqsink_host_t *host, rd_kafka_conf_t *conf,
                      const char **key, long *item, char *err, size_t len)
{
    char why[512];
    for (size_t i = 0; i < sizeof sink_properties / sizeof *sink_properties;
         i++)
        if (rd_kafka_conf_set(conf, sink_properties[i].name,
                              sink_properties[i].value, why,
                              sizeof why) != RD_KAFKA_CONF_OK) {
            snprintf(err, len, "this librdkafka refuses %s=%s: %s",
                     sink_properties[i].name, sink_properties[i].value, why);
            return -1;
        }
    *key = "brokers";
    char *brokers = brokers_join(host, item, err, len);
    if (!brokers)
        return -1;
    int rc = rd_kafka_conf_set(conf, "bootstrap.servers", brokers, why,
                               sizeof why);
    free(brokers);
    if (rc != RD_KAFKA_CONF_OK) {
        snprintf(err, len, "brokers: %s", why);
        return -1;
    }
    *key = "topic";
    if (topic_check(host->option_string(host, "topic"), err, len) != 0)
        return -1;
    *key = "key";
    if (template_check(host->option_string(host, "key"), why, sizeof why)) {
        snprintf(err, len, "key '%s': %s", host->option_string(host, "key"),
                 why);
        return -1;
    }
    *key = "properties";
    const char *const *names, *const *values;
    size_t n = host->option_map(host, "properties", &names, &values);
    for (size_t i = 0; i < n; i++)
        if (property_apply(conf, names[i], values[i], err, len) != 0) {
            *item = (long)i;
            return -1;
        }
    *key = NULL;
    return 0;
}

static int kafka_check(const zmqsink_host_t *host, const char **key,
                       long *item, char *err, size_t len)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int rc = conf_build(host, conf, key, item, err, len);
    rd_kafka_conf_destroy(conf);
    return rc;
}

/* ---- messages ---- */

/* Hands one json line to librdkafka with its key and id (run: the RUN of
 * its zmqsink-id). Returns librdkafka's answer; __BAD_MSG for a line that
 * is no event, __QUEUE_FULL when out of memory (try later). */
static rd_kafka_resp_err_t produce_line(struct kafka_sink *s, const char *line,
                                        size_t len, const char *run,
                                        void *opaque)
{
    template_values_t values;
    char seq[32], id[SPOOL_KEY_LEN + 24];
    if (template_values_of_json(&values, line, len) != 0 ||
        json_read_member(line, len, "seq", seq, sizeof seq) != 1)
        return RD_KAFKA_RESP_ERR__BAD_MSG;
    s->key_buf.len = 0;
    if (s->key && template_expand(s->key, &values, &s->key_buf) != 0)
        return RD_KAFKA_RESP_ERR__QUEUE_FULL;
    snprintf(id, sizeof id, "%s-%s", run, seq);
    return rd_kafka_producev(
        s->rk, RD_KAFKA_V_RKT(s->rkt),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_VALUE((void *)line, len),
        RD_KAFKA_V_KEY(s->key ? s->key_buf.data : NULL,
                       s->key ? s->key_buf.len : 0),
        RD_KAFKA_V_HEADER(ID_HEADER, id, (ssize_t)strlen(id)),
        RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
}

/* Whether the cluster refused the message for good: sending it again
 * would fail again. */
static bool error_is_permanent(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR__BAD_MSG:
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
        return true;
    default:
        return false;
    }
}

/* Appends one line (without its newline) to a batch's body. */
static int line_append(spool_batch_t *b, const char *line, size_t len)
{
    bool failed = false;
    bytes_put(&b->body, line, len, &failed);
    bytes_put(&b->body, "\n", 1, &failed);
    if (failed)
        return -1;
    b->events++;
    return 0;
}

/* The next line of body from *next; false at its end. */
static bool line_next(const bytes_t *body, size_t *next, const char **line,
                      size_t *len)
{
    if (*next >= body->len)
        return false;
    *line = body->data + *next;
    const char *nl = memchr(*line, '\n', body->len - *next);
    *len = nl ? (size_t)(nl - *line) : body->len - *next;
    return true;
}

static void batch_reset(spool_batch_t *b)
{
    b->body.len = 0;
    b->events = 0;
}

/* Writes lines the cluster refused for good to the dead-letter file. */
static void dead_letter(struct kafka_sink *s, const spool_batch_t *lines,
                        const char *key, const char *reason)
{
    if (!s->spool || lines->events == 0)
        return;
    spool_batch_t b = *lines;
    memcpy(b.key, key, sizeof b.key);
    spool_dead_letter(s->spool, &b, reason);
}

/* A message refused for good: logged once a streak, and counted when
 * counted is true (an event of this run). */
static void rejected(struct kafka_sink *s, const char *reason, uint64_t n,
                     bool counted)
{
    if (once_failed(&s->rejecting))
        s->host->log(s->host, ZMQSINK_SEV_ERR,
                     "topic %s refuses events for good (%s)%s", s->topic,
                     reason,
                     s->spool ? "; they go to the dead-letter file" : "");
    if (counted)
        s->host->count_failed(s->host, n, "rejected");
}

/* A live message refused for good. */
static void live_refused(struct kafka_sink *s, const char *line, size_t len,
                         rd_kafka_resp_err_t err)
{
    spool_batch_t one = {0};
    if (line_append(&one, line, len) == 0)
        dead_letter(s, &one, s->id, rd_kafka_err2str(err));
    bytes_free(&one.body);
    rejected(s, rd_kafka_err2str(err), 1, true);
}

/* ---- delivery reports ---- */

static void replay_report(struct kafka_sink *s, const rd_kafka_message_t *m)
{
    struct replay *r = &s->replay;
    r->settled++;
    if (!m->err) {
        r->acked++;
        return;
    }
    bool permanent = error_is_permanent(m->err);
    if (permanent)
        snprintf(r->reason, sizeof r->reason, "%s", rd_kafka_err2str(m->err));
    if (line_append(permanent ? &r->rejected : &r->unsent, m->payload,
                    m->len) != 0)
        r->lost++;
}

static void live_report(struct kafka_sink *s, const rd_kafka_message_t *m)
{
    s->live_in_flight--;
    if (!m->err) {
        s->delivered_now++;
        return;
    }
    if (error_is_permanent(m->err)) {
        live_refused(s, m->payload, m->len, m->err);
        return;
    }
    if (once_failed(&s->unsent_failing))
        s->host->log(s->host,
                     s->shutting_down ? ZMQSINK_SEV_NOTICE
                                      : ZMQSINK_SEV_WARNING,
                     "%s (%s)%s",
                     s->shutting_down ? "messages still in librdkafka at exit"
                                      : "librdkafka gave up on messages",
                     rd_kafka_err2str(m->err),
                     s->spool ? "; they go to the spool, to be sent again"
                     : s->shutting_down ? ""
                                        : "; they are counted as failed");
    if (s->spool && line_append(&s->unsent, m->payload, m->len) == 0)
        return;
    if (!s->shutting_down) /* at shutdown, what is left counts as dropped */
        s->host->count_failed(s->host, 1, "unsent");
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque)
{
    struct kafka_sink *s = opaque;
    if (!m->err) {
        s->last_progress_ns = clock_now_ns();
        once_recovered(&s->rejecting);
        once_recovered(&s->unsent_failing);
        if (once_recovered(&s->brokers_down))
            s->host->log(s->host, ZMQSINK_SEV_NOTICE,
                         "the cluster answers again after %.1f s",
                         (double)(s->last_progress_ns - s->down_since_ns) /
                             CLOCK_NS_PER_S);
    }
    if (m->_private == &s->replay)
        replay_report(s, m);
    else
        live_report(s, m);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason,
                     void *opaque)
{
    struct kafka_sink *s = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        s->fatal = true;
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        if (once_failed(&s->brokers_down)) {
            s->down_since_ns = clock_now_ns();
            s->host->log(s->host, ZMQSINK_SEV_WARNING,
                         "no broker of %s answers; events wait%s", s->brokers,
                         s->spool ? ", and go to the spool after spool.after"
                                  : " in librdkafka's queue, then in the "
                                    "sink's");
        }
        return;
    }
    /* A broker's connection comes and goes: that is librdkafka's to
     * retry. Anything else is said once, until another error comes. */
    bool said = err == s->last_error || err == RD_KAFKA_RESP_ERR__TRANSPORT;
    s->last_error = err;
    s->host->log(s->host, said ? ZMQSINK_SEV_DEBUG : ZMQSINK_SEV_WARNING,
                 "librdkafka: %s", reason);
}

/* librdkafka's log, from its own threads: configuration warnings are the
 * user's to read; the rest (connections, retries) is for debugging, since
 * the sink says what matters itself. */
static void on_log(const rd_kafka_t *rk, int level, const char *facility,
                   const char *line)
{
    struct kafka_sink *s = rd_kafka_opaque(rk);
    s->host->log(s->host,
                 strcmp(facility, "CONFWARN") == 0 ? ZMQSINK_SEV_WARNING
                                                   : ZMQSINK_SEV_DEBUG,
                 "librdkafka: %s", line);
}

/* ---- the spool ---- */

/* The id for a batch of messages older than everything spooled (live
 * messages librdkafka gave up on): right before the oldest batch when that
 * id is free and of this run, so that the replay keeps their order. */
static uint64_t id_before_oldest(struct kafka_sink *s)
{
    uint64_t oldest = spool_oldest_id(s->spool);
    if (oldest != UINT64_MAX && oldest > 1 &&
        spool_of_this_run(s->spool, oldest - 1))
        return oldest - 1;
    return ++s->next_id;
}

/* Puts lines of this run into the spool as one batch. */
static void spool_lines(struct kafka_sink *s, spool_batch_t *lines,
                        uint64_t id)
{
    if (lines->events == 0)
        return;
    lines->id = id;
    memcpy(lines->key, s->id, sizeof lines->key);
    spool_add(s->spool, lines); /* counts the events if it fails */
    batch_reset(lines);
}

static void spooling_start(struct kafka_sink *s, int64_t now,
                           const char *why)
{
    s->mode = MODE_SPOOLING;
    s->spooling_since_ns = now;
    s->host->log(s->host, ZMQSINK_SEV_WARNING,
                 "%s: new events go to the spool in %s until the cluster "
                 "answers", why, spool_dir(s->spool));
    /* What librdkafka's full queue did not take goes first. */
    const char *line;
    size_t len;
    while (line_next(&s->held.body, &s->held_next, &line, &len)) {
        s->held_next += len + 1;
        if (s->open.events == 0)
            s->open_since_ns = now;
        if (line_append(&s->open, line, len) != 0)
            s->host->count_failed(s->host, 1, "out_of_memory");
    }
    batch_reset(&s->held);
    s->held_next = 0;
}

/* Live messages librdkafka gave up on: to the spool, before the batches
 * spooled after them. */
static void unsent_spool(struct kafka_sink *s, int64_t now)
{
    if (s->unsent.events == 0)
        return;
    spool_lines(s, &s->unsent, id_before_oldest(s));
    if (s->mode == MODE_LIVE && !s->shutting_down)
        spooling_start(s, now, "librdkafka gave up on messages");
}

static void open_close(struct kafka_sink *s)
{
    spool_lines(s, &s->open, ++s->next_id);
}

static void open_add(struct kafka_sink *s, const zmqsink_event_t *ev,
                     int64_t now)
{
    s->line.len = 0;
    if (bytes_put_event(&s->line, s->host, ZMQSINK_FORMAT_JSON, ev) != 0 ||
        line_append(&s->open, s->line.data, s->line.len) != 0) {
        s->host->log(s->host, ZMQSINK_SEV_ERR,
                     "out of memory: event %" PRIu64 " dropped", ev->seq);
        s->host->count_failed(s->host, 1, "out_of_memory");
        return;
    }
    if (s->open.events == 1)
        s->open_since_ns = now;
    if (s->open.events >= SPOOL_BATCH_EVENTS)
        open_close(s);
}

/* ---- producing ---- */

/* Produces the lines of b from *next on, until librdkafka takes no more.
 * Lines it refuses for good are passed to refused(). Returns how many it
 * took. */
static uint32_t produce_lines(struct kafka_sink *s, const spool_batch_t *b,
                              size_t *next, const char *run, void *opaque,
                              void (*refused)(struct kafka_sink *,
                                              const char *, size_t,
                                              rd_kafka_resp_err_t))
{
    uint32_t taken = 0;
    const char *line;
    size_t len;
    while (s->rk && line_next(&b->body, next, &line, &len)) {
        rd_kafka_resp_err_t err = produce_line(s, line, len, run, opaque);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(s->rk, 0); /* reports make room */
            err = produce_line(s, line, len, run, opaque);
        }
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            /* Said once; under load it fills again and again. */
            if (once_failed(&s->queue_full))
                s->host->log(s->host,
                             s->queue_full_said++ ? ZMQSINK_SEV_DEBUG
                                                  : ZMQSINK_SEV_NOTICE,
                             "librdkafka's queue is full "
                             "(queue.buffering.max.*): events wait in the "
                             "sink's queue");
            break;
        }
        if (err && !error_is_permanent(err)) {
            if (once_failed(&s->produce_failing))
                s->host->log(s->host, ZMQSINK_SEV_WARNING,
                             "librdkafka takes no message for %s: %s; "
                             "retrying", s->topic, rd_kafka_err2str(err));
            break;
        }
        once_recovered(&s->queue_full);
        once_recovered(&s->produce_failing);
        *next += len + 1;
        if (err) {
            refused(s, line, len, err);
            continue;
        }
        taken++;
        if (!opaque && s->live_in_flight++ == 0)
            s->last_progress_ns = clock_now_ns(); /* the wait starts */
    }
    return taken;
}

/* A line of the replayed batch refused for good. */
static void replay_refused(struct kafka_sink *s, const char *line, size_t len,
                           rd_kafka_resp_err_t err)
{
    struct replay *r = &s->replay;
    r->produced++;
    r->settled++;
    snprintf(r->reason, sizeof r->reason, "%s", rd_kafka_err2str(err));
    if (line_append(&r->rejected, line, len) != 0)
        r->lost++;
}

/* Produces what the sink holds. Returns whether it holds nothing now;
 * *moved, when not NULL, says whether any line left it. */
static bool held_send(struct kafka_sink *s, bool *moved)
{
    size_t before = s->held_next;
    produce_lines(s, &s->held, &s->held_next, s->id, NULL, live_refused);
    if (moved)
        *moved = s->held_next > before;
    if (s->held_next < s->held.body.len)
        return false;
    batch_reset(&s->held);
    s->held_next = 0;
    return true;
}

/* ---- the replay ---- */

/* Ends the replayed batch once every message of it has its report:
 * delivered ones are counted, refused ones dead-lettered, and what
 * librdkafka gave up on stays in the spool, under the batch's id and key,
 * to be produced again after a backoff. */
static void replay_settle(struct kafka_sink *s, int64_t now)
{
    struct replay *r = &s->replay;
    if (!r->loaded || r->next < r->batch.body.len || r->settled < r->produced)
        return;
    uint64_t id = r->batch.id;
    bool counted = spool_of_this_run(s->spool, id);
    if (counted && r->acked)
        s->host->count_delivered(s->host, r->acked);
    if (r->rejected.events) {
        dead_letter(s, &r->rejected, r->batch.key, r->reason);
        rejected(s, r->reason, r->rejected.events, counted);
    }
    if (r->lost) {
        s->host->log(s->host, ZMQSINK_SEV_ERR,
                     "out of memory: %" PRIu32 " events of a spooled batch "
                     "are lost", r->lost);
        if (counted)
            s->host->count_failed(s->host, r->lost, "out_of_memory");
    }
    spool_remove(s->spool, id);
    if (r->unsent.events) {
        r->unsent.id = id;
        memcpy(r->unsent.key, r->batch.key, sizeof r->unsent.key);
        spool_add(s->spool, &r->unsent);
        s->retry_at_ns = now + backoff_next(&s->retry);
    } else {
        backoff_reset(&s->retry);
    }
    batch_reset(&r->unsent);
    batch_reset(&r->rejected);
    r->loaded = false;
}

/* Produces the oldest spooled batch, loading it first. */
static void replay_pump(struct kafka_sink *s, int64_t now)
{
    struct replay *r = &s->replay;
    if (!r->loaded) {
        if (spool_count(s->spool) == 0)
            open_close(s); /* the cluster is draining the spool: go on */
        if (now < s->retry_at_ns || spool_count(s->spool) == 0 ||
            spool_load_oldest(s->spool, &r->batch) != 1)
            return;
        r->loaded = true;
        r->next = 0;
        r->produced = r->settled = r->acked = r->lost = 0;
    }
    r->produced += produce_lines(s, &r->batch, &r->next, r->batch.key, r,
                                 replay_refused);
    replay_settle(s, now);
}

/* Gives up producing the rest of the replayed batch (the producer ends):
 * it stays in the spool. */
static void replay_abandon(struct kafka_sink *s, int64_t now)
{
    struct replay *r = &s->replay;
    const char *line;
    size_t len;
    while (r->loaded && line_next(&r->batch.body, &r->next, &line, &len)) {
        r->next += len + 1;
        if (line_append(&r->unsent, line, len) != 0)
            r->lost++;
    }
    replay_settle(s, now);
}

/* ---- the producer ---- */

/* librdkafka's connections to the brokers, owned through the host so that
 * no forked child keeps one of them open. From librdkafka's threads. */
static int broker_socket_open(int domain, int type, int protocol,
                              void *opaque)
{
    struct kafka_sink *s = opaque;
    int fd = socket(domain, type | SOCK_CLOEXEC, protocol);
    if (fd >= 0)
        s->host->own_fd(s->host, fd, 1);
    return fd;
}

static int broker_socket_close(int fd, void *opaque)
{
    struct kafka_sink *s = opaque;
    s->host->close_fd(s->host, fd);
    return 0;
}

static int producer_new(struct kafka_sink *s, char *err, size_t len)
{
    const zmqsink_host_t *h = s->host;
    const char *key;
    long item = -1;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (conf_build(h, conf, &key, &item, err, len) != 0) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_opaque(conf, s);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_socket_cb(conf, broker_socket_open);
    rd_kafka_conf_set_closesocket_cb(conf, broker_socket_close);
    char why[512];
    s->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (!s->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, len, "librdkafka cannot start a producer: %s (see "
                 "properties)", why);
        return -1;
    }
    s->rkt = rd_kafka_topic_new(s->rk, s->topic, NULL);
    if (!s->rkt) {
        snprintf(err, len, "topic '%s': %s", s->topic,
                 rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }
    s->fatal = false;
    return 0;
}

static void producer_destroy(struct kafka_sink *s)
{
    if (s->rkt)
        rd_kafka_topic_destroy(s->rkt);
    if (s->rk)
        rd_kafka_destroy(s->rk);
    s->rkt = NULL;
    s->rk = NULL;
}

/* Serves delivery reports, counts the deliveries and spools what
 * librdkafka gave up on. */
static void poll_reports(struct kafka_sink *s, int timeout_ms)
{
    if (s->rk)
        rd_kafka_poll(s->rk, timeout_ms);
    if (s->delivered_now) {
        s->host->count_delivered(s->host, s->delivered_now);
        s->delivered_now = 0;
    }
    int64_t now = clock_now_ns();
    unsent_spool(s, now);
    if (s->spool)
        replay_settle(s, now);
}

/* Takes back every message from librdkafka: their reports say purged, and
 * what was not delivered goes to the spool (or counts as lost). Waits for
 * the reports until `until` at the latest. */
static void producer_drain(struct kafka_sink *s, int64_t until)
{
    if (!s->rk)
        return;
    rd_kafka_purge(s->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    do
        poll_reports(s, 10);
    while ((s->live_in_flight > 0 ||
            s->replay.settled < s->replay.produced) &&
           clock_now_ns() < until);
    if (s->spool)
        replay_abandon(s, clock_now_ns());
}

/* After a fatal error of the idempotent producer: a new one (also when
 * the last attempt to start one failed). */
static void producer_restart(struct kafka_sink *s)
{
    if (s->rk) {
        char why[512] = "";
        rd_kafka_resp_err_t err = rd_kafka_fatal_error(s->rk, why, sizeof why);
        s->host->log(s->host, ZMQSINK_SEV_ERR,
                     "the producer failed for good (%s: %s); a new one "
                     "starts, and what it had in flight is sent again",
                     rd_kafka_err2name(err), why);
        producer_drain(s, clock_now_ns() + DRAIN_NS);
        producer_destroy(s);
    }
    char err[512];
    if (producer_new(s, err, sizeof err) == 0) {
        once_recovered(&s->restart_failing);
        return;
    }
    producer_destroy(s);
    s->fatal = true; /* tried again at the next tick */
    if (once_failed(&s->restart_failing))
        s->host->log(s->host, ZMQSINK_SEV_ERR, "%s; trying again", err);
}

/* ---- what every callback does ---- */

static bool stalled(const struct kafka_sink *s, int64_t now)
{
    return s->spool && s->live_in_flight > 0 &&
           now - s->last_progress_ns >= s->spool_after_ns;
}

static void spooling_end_if_done(struct kafka_sink *s)
{
    if (s->replay.loaded || spool_count(s->spool) > 0 || s->open.events > 0 ||
        s->last_progress_ns <= s->spooling_since_ns)
        return;
    s->mode = MODE_LIVE;
    s->host->log(s->host, ZMQSINK_SEV_NOTICE,
                 "the spool is replayed: events go to the cluster again");
}

/* Serves reports and moves along what the sink holds, without waiting. */
static void service(struct kafka_sink *s, int64_t now)
{
    if (s->fatal)
        producer_restart(s);
    poll_reports(s, 0);
    if (s->mode == MODE_LIVE) {
        held_send(s, NULL);
        if (stalled(s, now)) {
            char why[128];
            snprintf(why, sizeof why, "no delivery report for %.1f s",
                     (double)(now - s->last_progress_ns) / CLOCK_NS_PER_S);
            spooling_start(s, now, why);
        }
    }
    if (s->mode == MODE_SPOOLING) {
        if (s->open.events > 0 && now - s->open_since_ns >= BATCH_DELAY_NS)
            open_close(s);
        replay_pump(s, now);
        spooling_end_if_done(s);
    }
}

/* Asks for the tick that moves along what the sink holds; nothing when it
 * holds nothing, so that an idle sink never wakes. */
static void request_tick(struct kafka_sink *s, int64_t now)
{
    const zmqsink_host_t *h = s->host;
    if (s->fatal)
        h->tick_at(h, now + POLL_SLOW_NS);
    if (s->live_in_flight > 0 || s->held.events > 0 || s->replay.loaded)
        h->tick_at(h, now + (now - s->last_progress_ns < RECENT_NS
                                 ? POLL_FAST_NS
                                 : POLL_SLOW_NS));
    if (s->open.events > 0)
        h->tick_at(h, s->open_since_ns + BATCH_DELAY_NS);
    if (s->mode == MODE_SPOOLING && !s->replay.loaded &&
        spool_count(s->spool) > 0)
        h->tick_at(h, s->retry_at_ns > now ? s->retry_at_ns
                                           : now + LOAD_RETRY_NS);
}

/* ---- callbacks ---- */

/* Renders the events as the held lines and produces them; what
 * librdkafka's full queue leaves stays held. */
static zmqsink_write_result_t live_write(struct kafka_sink *s,
                                         const zmqsink_event_t *events,
                                         size_t n)
{
    if (!held_send(s, NULL) || !s->rk)
        return ZMQSINK_WRITE_RETRY;
    for (size_t i = 0; i < n; i++) {
        s->line.len = 0;
        if (bytes_put_event(&s->line, s->host, ZMQSINK_FORMAT_JSON,
                            &events[i]) != 0 ||
            line_append(&s->held, s->line.data, s->line.len) != 0) {
            batch_reset(&s->held);
            s->host->log(s->host, ZMQSINK_SEV_ERR, "out of memory");
            return ZMQSINK_WRITE_RETRY;
        }
    }
    bool moved;
    held_send(s, &moved);
    if (!moved) { /* none taken: the ring keeps them */
        batch_reset(&s->held);
        s->held_next = 0;
        return ZMQSINK_WRITE_RETRY;
    }
    return ZMQSINK_WRITE_OK;
}

static zmqsink_write_result_t kafka_write(void *state,
                                          const zmqsink_event_t *events,
                                          size_t n)
{
    struct kafka_sink *s = state;
    int64_t now = clock_now_ns();
    service(s, now);
    zmqsink_write_result_t result = ZMQSINK_WRITE_OK;
    if (s->mode == MODE_SPOOLING) {
        for (size_t i = 0; i < n; i++)
            open_add(s, &events[i], now);
        replay_pump(s, now);
    } else {
        result = live_write(s, events, n);
    }
    poll_reports(s, 0);
    request_tick(s, clock_now_ns());
    return result;
}

static void kafka_tick(void *state, int64_t now)
{
    struct kafka_sink *s = state;
    service(s, now);
    request_tick(s, clock_now_ns());
}

/* Whether anything waits for the cluster. */
static bool busy(const struct kafka_sink *s)
{
    return s->live_in_flight > 0 || s->held.events > 0 || s->replay.loaded ||
           (s->mode == MODE_SPOOLING && spool_count(s->spool) > 0);
}

static uint64_t kafka_flush(void *state, int64_t deadline_ns)
{
    struct kafka_sink *s = state;
    if (s->mode == MODE_SPOOLING)
        open_close(s);
    int64_t until = deadline_ns - DRAIN_RESERVE_NS;
    for (int64_t now = clock_now_ns(); now < until && busy(s);
         now = clock_now_ns()) {
        service(s, now);
        int ms = (int)((until - now) / CLOCK_NS_PER_MS) + 1;
        if (s->rk)
            rd_kafka_poll(s->rk, ms < POLL_MAX_MS ? ms : POLL_MAX_MS);
        else
            nanosleep(&(struct timespec){0, POLL_SLOW_NS}, NULL);
    }
    /* At the deadline: what librdkafka still has comes back purged and
     * goes to the spool ahead of what waits there; the lines it never
     * took, the newest, go after everything. */
    s->shutting_down = true;
    producer_drain(s, deadline_ns);
    if (s->spool) {
        if (s->open.events > 0) /* spooling began during the flush */
            open_close(s);
        const char *line;
        size_t len;
        spool_batch_t rest = {0};
        while (line_next(&s->held.body, &s->held_next, &line, &len)) {
            s->held_next += len + 1;
            line_append(&rest, line, len);
        }
        spool_lines(s, &rest, ++s->next_id);
        bytes_free(&rest.body);
        if (spool_count(s->spool) > 0)
            s->host->log(s->host, ZMQSINK_SEV_NOTICE,
                         "%zu batches wait in %s for the next run",
                         spool_count(s->spool), spool_dir(s->spool));
    }
    /* What is not delivered is still held: the core counts it as dropped
     * when the sink closes, what waits in the spool included. */
    return 0;
}

static void kafka_close(void *state)
{
    struct kafka_sink *s = state;
    s->shutting_down = true;
    if (s->rk) {
        rd_kafka_purge(s->rk,
                       RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(s->rk, 0);
    }
    producer_destroy(s);
    spool_close(&s->spool);
    bytes_free(&s->line);
    bytes_free(&s->key_buf);
    bytes_free(&s->held.body);
    bytes_free(&s->open.body);
    bytes_free(&s->unsent.body);
    bytes_free(&s->replay.batch.body);
    bytes_free(&s->replay.unsent.body);
    bytes_free(&s->replay.rejected.body);
    free(s->brokers);
    free(s);
}

/* ---- open ---- */

/* The process that started librdkafka (the plugin is never unloaded, so
 * this outlives every sink). Under fork_hold. */
static pid_t rdkafka_pid;

/* Takes librdkafka for this process, or refuses: a child forked after its
 * parent started it inherits its state but none of its threads. */
static int rdkafka_use(const zmqsink_host_t *host, char *err, size_t len)
{
    host->fork_hold(host);
    int rc = 0;
    if (rdkafka_pid != 0 && rdkafka_pid != getpid()) {
        snprintf(err, len, "librdkafka was started by process %d before it "
                 "forked this one, and its state does not survive fork(): "
                 "in a program that forks, open kafka sinks only in the "
                 "processes it forks", (int)rdkafka_pid);
        rc = -1;
    } else {
        rdkafka_pid = getpid();
    }
    host->fork_release(host);
    return rc;
}

static void *kafka_open(const zmqsink_host_t *host, char *err, size_t len)
{
    if (rdkafka_use(host, err, len) != 0)
        return NULL;
    struct kafka_sink *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, len, "out of memory");
        return NULL;
    }
    s->host = host;
    s->random = random_seed();
    random_hex128(&s->random, s->id); /* the RUN of this run's ids */
    s->topic = host->option_string(host, "topic");
    s->key = host->option_string(host, "key");
    if (s->key && !*s->key)
        s->key = NULL;
    s->spool_after_ns = host->option_int(host, "spool.after") *
                        CLOCK_NS_PER_MS;
    backoff_init(&s->retry, RETRY_MIN_NS, RETRY_MAX_NS);
    long item;
    s->brokers = brokers_join(host, &item, err, len);
    if (!s->brokers || producer_new(s, err, len) != 0)
        goto fail;
    if (spool_open_option(host, &s->spool, err, len) != 0)
        goto fail;
    if (s->spool) {
        s->next_id = spool_last_id(s->spool);
        if (spool_count(s->spool) > 0) {
            s->mode = MODE_SPOOLING; /* replayed first, at once */
            s->spooling_since_ns = clock_now_ns();
            host->tick_at(host, clock_now_ns());
        }
    }
    return s;
fail:
    kafka_close(s);
    return NULL;
}

static const zmqsink_option_t kafka_options[] = {
    {.key = "brokers", .type = ZMQSINK_OPT_LIST, .required = 1,
     .help = "bootstrap brokers, host:port each; the client learns the "
             "rest of the cluster from them"},
    {.key = "topic", .type = ZMQSINK_OPT_STRING, .required = 1,
     .help = "the topic the events go to"},
    {.key = "key", .type = ZMQSINK_OPT_STRING, .fallback = "{socket}",
     .help = "message key, with {socket} {event} {host} {pid}; \"\" for "
             "none"},
    {.key = "properties", .type = ZMQSINK_OPT_MAP,
     .help = "librdkafka settings (its CONFIGURATION.md), checked by "
             "zmqsink check"},
    {.key = "spool.dir", .type = ZMQSINK_OPT_STRING,
     .help = "directory for events while the cluster is away, and for dead "
             "letters; none: librdkafka's queue and the ring only"},
    {.key = "spool.max_size", .type = ZMQSINK_OPT_SIZE, .fallback = "256MiB",
     .min = 65536, .max = INT64_MAX,
     .help = "spool size, at most; over it the oldest batch is dropped"},
    {.key = "spool.after", .type = ZMQSINK_OPT_DURATION, .fallback = "10s",
     .min = 100, .max = 3600000,
     .help = "how long messages wait without a delivery report before new "
             "events go to the spool"},
    {0},
};

static const zmqsink_plugin_t kafka_plugin = {
    ZMQSINK_PLUGIN_DESCRIPTOR_INIT,
    .name = "kafka",
    .description = "publishes events to a Kafka topic with the idempotent "
                   "producer, spooling them on disk while the cluster is "
                   "away",
    .options = kafka_options,
    .open = kafka_open,
    .write = kafka_write,
    .tick = kafka_tick,
    .flush = kafka_flush,
    .close = kafka_close,
    .flags = ZMQSINK_PLUGIN_COUNTS_DELIVERED | ZMQSINK_PLUGIN_TICKS_ON_REQUEST,
    .check = kafka_check,
};

ZMQSINK_PLUGIN_EXPORT const zmqsink_plugin_t *zmqsink_plugin_entry(void)
{
    return &kafka_plugin;
}
