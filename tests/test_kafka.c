/* The kafka sink against librdkafka's own mock cluster (rdkafka_mock.h):
 * Debian ships no Kafka broker, so each test starts a cluster of three
 * mock brokers on loopback, in this process, with a topic replicated
 * three times, makes real libzmq connections come and go through zmqsink,
 * takes brokers down and up and moves partition leaders while events
 * flow, then reads the topic back with a librdkafka consumer: every event
 * must be there exactly once (by its seq, and by its zmqsink-id), and the
 * sink's delivered counter must say so, with nothing failed or dropped.
 * Waits are bounded; nothing asserts on timing. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "helpers.h"

#define WAIT_MS 60000 /* for what the cluster must have got */
#define TOPIC "zmq-events"
#define PARTITIONS 4
#define BROKERS 3

static char *dir;
static void *ctx;
static rd_kafka_t *mock_rk;
static rd_kafka_mock_cluster_t *cluster;
static char bootstraps[256];

/* librdkafka's handles of the test say nothing: a broker taken down is
 * the point, not news. */
static void quiet(const rd_kafka_t *rk, int level, const char *facility,
                  const char *line)
{
}

static rd_kafka_conf_t *quiet_conf(void)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, quiet);
    return conf;
}

static void setup(void)
{
    dir = th_tempdir();
    ctx = zmq_ctx_new();
    char err[512];
    mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, quiet_conf(), err, sizeof err);
    cr_assert_not_null(mock_rk, "%s", err);
    cluster = rd_kafka_mock_cluster_new(mock_rk, BROKERS);
    cr_assert_not_null(cluster, "no mock cluster");
    snprintf(bootstraps, sizeof bootstraps, "%s",
             rd_kafka_mock_cluster_bootstraps(cluster));
    cr_assert_eq(rd_kafka_mock_topic_create(cluster, TOPIC, PARTITIONS,
                                            BROKERS),
                 RD_KAFKA_RESP_ERR_NO_ERROR);
}

static void teardown(void)
{
    th_close_all();
    zmq_ctx_term(ctx);
    if (cluster)
        rd_kafka_mock_cluster_destroy(cluster);
    if (mock_rk)
        rd_kafka_destroy(mock_rk);
    th_remove_tree(dir);
    free(dir);
}

static void brokers_set(bool up)
{
    for (int id = 1; id <= BROKERS; id++)
        cr_assert_eq(up ? rd_kafka_mock_broker_set_up(cluster, id)
                        : rd_kafka_mock_broker_set_down(cluster, id),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* zmqsink with one kafka sink "bus" on the mock cluster; extra is the
 * rest of its entry. librdkafka reconnects within a second, so that the
 * tests need not wait for its default backoff. */
static zmqsink_t *start_bus_until(const char *shutdown_timeout,
                                  const char *extra)
{
    return th_start(ctx, dir,
                    "shutdown_timeout: %s\n"
                    "sinks:\n"
                    "  - name: bus\n"
                    "    type: kafka\n"
                    "    brokers: [%s]\n"
                    "    topic: " TOPIC "\n"
                    "    key: \"{socket}\"\n"
                    "    properties:\n"
                    "      reconnect.backoff.ms: 50\n"
                    "      reconnect.backoff.max.ms: 500\n"
                    "%s",
                    shutdown_timeout, bootstraps, extra);
}

static zmqsink_t *start_bus(const char *extra)
{
    return start_bus_until("10s", extra);
}

/* ---- the sink's counters ---- */

static zmqsink_sink_stats_t bus_stats(zmqsink_t *zs, uint64_t *events)
{
    TH_STATS(stats);
    cr_assert_eq(zmqsink_stats(zs, &stats), 0);
    cr_assert_eq(stats.nsinks, 1);
    if (events)
        *events = stats.events;
    return stats.sinks[0];
}

/* Waits until every event zmqsink saw is delivered, and returns how many
 * there were; fails with the counters if they are not by WAIT_MS. */
static uint64_t wait_all_delivered(zmqsink_t *zs)
{
    zmqsink_sink_stats_t s = {0};
    uint64_t events = 0;
    for (int waited = 0; waited < WAIT_MS; waited += 50) {
        s = bus_stats(zs, &events);
        if (s.enqueued == events && s.delivered == events && s.pending == 0 &&
            s.queue_depth == 0)
            break;
        th_sleep_ms(50);
    }
    cr_assert_eq(s.delivered, events,
                 "after %d ms: %llu events, %llu enqueued, %llu delivered, "
                 "%llu pending, %llu queued, %llu failed, %llu dropped",
                 WAIT_MS, (unsigned long long)events,
                 (unsigned long long)s.enqueued,
                 (unsigned long long)s.delivered,
                 (unsigned long long)s.pending,
                 (unsigned long long)s.queue_depth,
                 (unsigned long long)s.failed,
                 (unsigned long long)(s.dropped_full + s.dropped_shutdown));
    cr_assert_eq(s.failed, 0);
    cr_assert_eq(s.dropped_full + s.dropped_shutdown, 0);
    return events;
}

/* ---- the topic, read back ---- */

typedef struct message {
    uint64_t seq;
    char id[64];
} message_t;

typedef struct topic_read {
    message_t *messages;
    size_t n;
} topic_read_t;

/* Messages in the topic: the sum of its partitions' high watermarks. */
static int64_t topic_size(rd_kafka_t *consumer)
{
    int64_t total = 0;
    for (int p = 0; p < PARTITIONS; p++) {
        int64_t low, high;
        rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
            consumer, TOPIC, p, &low, &high, 5000);
        if (err)
            return -1;
        total += high - low;
    }
    return total;
}

/* Reads one message: its seq from the json value, its zmqsink-id header,
 * and checks that its key is its socket's name. */
static void message_take(const rd_kafka_message_t *m, topic_read_t *out)
{
    char value[2048];
    snprintf(value, sizeof value, "%.*s", (int)m->len,
             (const char *)m->payload);
    const char *seq = strstr(value, "\"seq\":");
    cr_assert_not_null(seq, "no seq in %s", value);
    message_t msg = {.seq = strtoull(seq + 6, NULL, 10)};
    rd_kafka_headers_t *headers = NULL;
    const void *id = NULL;
    size_t id_len = 0;
    cr_assert_eq(rd_kafka_message_headers(m, &headers), 0, "no headers");
    cr_assert_eq(rd_kafka_header_get_last(headers, "zmqsink-id", &id,
                                          &id_len),
                 RD_KAFKA_RESP_ERR_NO_ERROR, "no zmqsink-id");
    snprintf(msg.id, sizeof msg.id, "%.*s", (int)id_len, (const char *)id);
    char socket[128];
    const char *s = strstr(value, "\"socket\":\"");
    cr_assert_not_null(s);
    snprintf(socket, sizeof socket, "%.*s",
             (int)strcspn(s + 10, "\""), s + 10);
    cr_assert_eq(m->key_len, strlen(socket), "key of %s", value);
    cr_assert_eq(memcmp(m->key, socket, m->key_len), 0, "key of %s", value);
    out->messages = realloc(out->messages, (out->n + 1) * sizeof msg);
    out->messages[out->n++] = msg;
}

/* Reads the whole topic from its start: as many messages as its
 * watermarks say it holds. */
static topic_read_t topic_read(void)
{
    char err[512];
    rd_kafka_conf_t *conf = quiet_conf();
    cr_assert_eq(rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, err,
                                   sizeof err),
                 RD_KAFKA_CONF_OK, "%s", err);
    cr_assert_eq(rd_kafka_conf_set(conf, "group.id", "test", err, sizeof err),
                 RD_KAFKA_CONF_OK);
    rd_kafka_t *consumer =
        rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    cr_assert_not_null(consumer, "%s", err);
    rd_kafka_topic_partition_list_t *parts =
        rd_kafka_topic_partition_list_new(PARTITIONS);
    for (int p = 0; p < PARTITIONS; p++)
        rd_kafka_topic_partition_list_add(parts, TOPIC, p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    cr_assert_eq(rd_kafka_assign(consumer, parts), 0);
    rd_kafka_topic_partition_list_destroy(parts);
    int64_t size = -1;
    for (int waited = 0; waited < WAIT_MS && size < 0; waited += 100)
        if ((size = topic_size(consumer)) < 0)
            th_sleep_ms(100);
    cr_assert_geq(size, 0, "no watermarks for " TOPIC);
    topic_read_t read = {0};
    for (int waited = 0; waited < WAIT_MS && (int64_t)read.n < size;
         waited += 100) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 100);
        if (!m)
            continue;
        if (!m->err)
            message_take(m, &read);
        rd_kafka_message_destroy(m);
    }
    cr_assert_eq((int64_t)read.n, size, "read %zu of the %lld messages",
                 read.n, (long long)size);
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    return read;
}

static int by_seq(const void *a, const void *b)
{
    uint64_t x = ((const message_t *)a)->seq, y = ((const message_t *)b)->seq;
    return x < y ? -1 : x > y;
}

/* The topic holds the events 1..events of one zmqsink, each once: no
 * event lost, none written twice, each under an id of its own. */
static void assert_exactly_once(uint64_t events)
{
    topic_read_t read = topic_read();
    for (size_t i = 1; i < read.n; i++) {
        const char *a = read.messages[0].id, *b = read.messages[i].id;
        cr_assert_eq(strcspn(a, "-"), strcspn(b, "-"));
        cr_assert_eq(strncmp(a, b, strcspn(a, "-")), 0,
                     "messages of two runs: %s and %s", a, b);
    }
    qsort(read.messages, read.n, sizeof *read.messages, by_seq);
    for (size_t i = 0; i < read.n; i++) {
        cr_assert_eq(read.messages[i].seq, i + 1,
                     "the %zu-th event by seq is %llu: %s", i + 1,
                     (unsigned long long)read.messages[i].seq,
                     read.messages[i].seq <= i ? "written twice" : "missing");
        const char *dash = strrchr(read.messages[i].id, '-');
        cr_assert(dash && strtoull(dash + 1, NULL, 10) == i + 1,
                  "zmqsink-id %s of seq %zu", read.messages[i].id, i + 1);
    }
    cr_assert_eq(read.n, events, "%zu messages for %llu events", read.n,
                 (unsigned long long)events);
    free(read.messages);
}

/* The topic holds every event 1..events of one zmqsink at least once, and
 * a copy only under the id of the event it copies. */
static void assert_at_least_once(uint64_t events)
{
    topic_read_t read = topic_read();
    qsort(read.messages, read.n, sizeof *read.messages, by_seq);
    uint64_t next = 1;
    for (size_t i = 0; i < read.n; i++) {
        if (i > 0 && read.messages[i].seq == read.messages[i - 1].seq) {
            cr_assert_str_eq(read.messages[i].id, read.messages[i - 1].id);
            continue;
        }
        cr_assert_eq(read.messages[i].seq, next, "event %llu is missing",
                     (unsigned long long)next);
        next++;
    }
    cr_assert_eq(next - 1, events, "%llu of %llu events in the topic",
                 (unsigned long long)(next - 1), (unsigned long long)events);
    free(read.messages);
}

/* ---- churn ---- */

/* A ROUTER attached as "server", bound on loopback. */
static void *server_start(zmqsink_t *zs, char *endpoint, size_t cap)
{
    void *router = th_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach(zs, router, "server"), 0);
    cr_assert_eq(zmq_bind(router, "tcp://127.0.0.1:*"), 0);
    th_last_endpoint(router, endpoint, cap);
    return router;
}

/* Closes the server and waits until its last events were read. */
static void churn_end(zmqsink_t *zs, void *router)
{
    th_close(router);
    cr_assert_eq(zmqsink_settle(zs, ctx, WAIT_MS), 0);
}

/* Files of the spool directory that hold batches. */
static int spooled_batches(const char *spool)
{
    DIR *d = opendir(spool);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strstr(e->d_name, ".batch") && !strstr(e->d_name, ".corrupt");
    if (d)
        closedir(d);
    return n;
}

/* Waits until what zmqsink saw so far is delivered; returns how much. */
static uint64_t wait_delivered_so_far(zmqsink_t *zs)
{
    uint64_t events = 0;
    for (int waited = 0; waited < WAIT_MS; waited += 50) {
        zmqsink_sink_stats_t s = bus_stats(zs, &events);
        if (s.delivered == events)
            break;
        th_sleep_ms(50);
    }
    return events;
}

/* Takes every broker down and makes events until the sink spools them. */
static void outage_until_spooled(zmqsink_t *zs, void *router,
                                 const char *endpoint, const char *spool)
{
    brokers_set(false);
    for (int waited = 0; waited < WAIT_MS && spooled_batches(spool) == 0;
         waited += 100) {
        th_dealers_visit(ctx, zs, "client", router, endpoint, 2);
        th_sleep_ms(100);
    }
    cr_assert_gt(spooled_batches(spool), 0, "nothing went to the spool");
}

/* ---- the tests ---- */

Test(kafka, churn_through_a_broker_down_and_a_leader_change_exactly_once,
     .init = setup, .fini = teardown, .timeout = 180)
{
    zmqsink_t *zs = start_bus("");
    char endpoint[256];
    void *router = server_start(zs, endpoint, sizeof endpoint);
    th_dealers_visit(ctx, zs, "client", router, endpoint, 10);

    /* Broker 1 leads some partitions: their messages wait for it. */
    cr_assert_eq(rd_kafka_mock_broker_set_down(cluster, 1), 0);
    th_dealers_visit(ctx, zs, "client", router, endpoint, 10);
    cr_assert_eq(rd_kafka_mock_broker_set_up(cluster, 1), 0);
    th_dealers_visit(ctx, zs, "client", router, endpoint, 10);

    /* Every partition moves to another leader while events flow. */
    for (int p = 0; p < PARTITIONS; p++)
        cr_assert_eq(rd_kafka_mock_partition_set_leader(cluster, TOPIC, p,
                                                        p % BROKERS + 1),
                     0);
    th_dealers_visit(ctx, zs, "client", router, endpoint, 10);
    for (int p = 0; p < PARTITIONS; p++)
        cr_assert_eq(rd_kafka_mock_partition_set_leader(
                         cluster, TOPIC, p, (p + 1) % BROKERS + 1),
                     0);
    th_dealers_visit(ctx, zs, "client", router, endpoint, 10);
    churn_end(zs, router);

    uint64_t events = wait_all_delivered(zs);
    cr_assert_gt(events, 200, "only %llu events",
                 (unsigned long long)events);
    zmqsink_destroy(&zs);
    assert_exactly_once(events);
}

Test(kafka, all_brokers_down_spools_then_replays_exactly_once,
     .init = setup, .fini = teardown, .timeout = 180)
{
    char *spool = th_path(dir, "spool");
    char extra[1024];
    snprintf(extra, sizeof extra,
             "    spool: { dir: %s, after: 300ms }\n", spool);
    zmqsink_t *zs = start_bus(extra);
    char endpoint[256];
    void *router = server_start(zs, endpoint, sizeof endpoint);
    th_dealers_visit(ctx, zs, "client", router, endpoint, 10);
    uint64_t before = wait_delivered_so_far(zs);

    /* The cluster goes away while events arrive: after spool.after they
     * go to the spool, and none counts as delivered. */
    outage_until_spooled(zs, router, endpoint, spool);
    uint64_t delivered = bus_stats(zs, NULL).delivered;
    th_dealers_visit(ctx, zs, "client", router, endpoint, 10);
    zmqsink_sink_stats_t down = bus_stats(zs, NULL);
    cr_expect_eq(down.delivered, delivered,
                 "events counted delivered while no broker was up");
    cr_expect_gt(down.pending, 0);

    /* Back: the spool is replayed, and every event is there once. */
    brokers_set(true);
    th_dealers_visit(ctx, zs, "client", router, endpoint, 10);
    churn_end(zs, router);
    uint64_t events = wait_all_delivered(zs);
    cr_assert_gt(events, before);
    for (int waited = 0; waited < WAIT_MS && spooled_batches(spool) > 0;
         waited += 50)
        th_sleep_ms(50);
    cr_expect_eq(spooled_batches(spool), 0, "batches left in the spool");
    zmqsink_destroy(&zs);
    assert_exactly_once(events);
    free(spool);
}

Test(kafka, a_full_local_queue_is_backpressure_not_drops,
     .init = setup, .fini = teardown, .timeout = 180)
{
    /* Five messages at most in librdkafka, each round trip slowed down:
     * the rest must wait in the sink's ring. */
    cr_assert_eq(rd_kafka_mock_broker_set_rtt(cluster, -1, 50), 0);
    zmqsink_t *zs = start_bus("      queue.buffering.max.messages: 5\n");
    char endpoint[256];
    void *router = server_start(zs, endpoint, sizeof endpoint);
    th_dealers_visit(ctx, zs, "client", router, endpoint, 40);
    bool waited_in_ring = false;
    uint64_t most_pending = 0;
    for (int waited = 0; waited < WAIT_MS; waited += 5) {
        uint64_t events;
        zmqsink_sink_stats_t s = bus_stats(zs, &events);
        waited_in_ring |= s.queue_depth > 0;
        most_pending = s.pending > most_pending ? s.pending : most_pending;
        cr_assert_eq(s.dropped_full + s.failed, 0);
        if (waited_in_ring && s.delivered == events)
            break;
        th_sleep_ms(5);
    }
    cr_expect(waited_in_ring, "events never waited in the ring");
    /* The sink held at most librdkafka's 5 and the rest of one batch. */
    cr_expect_leq(most_pending, 5 + 1024);
    churn_end(zs, router);
    uint64_t events = wait_all_delivered(zs);
    cr_assert_eq(rd_kafka_mock_broker_set_rtt(cluster, -1, 0), 0);
    zmqsink_destroy(&zs);
    assert_exactly_once(events);
}

/* Events in the spool when zmqsink stops (librdkafka's messages purged
 * into it too) are sent by the next run, first, under their ids. */
Test(kafka, the_spool_outlives_a_restart_and_goes_first,
     .init = setup, .fini = teardown, .timeout = 180)
{
    char *spool = th_path(dir, "spool");
    char extra[1024];
    snprintf(extra, sizeof extra,
             "    spool: { dir: %s, after: 300ms }\n", spool);
    zmqsink_t *zs = start_bus_until("2s", extra);
    char endpoint[256];
    void *router = server_start(zs, endpoint, sizeof endpoint);
    th_dealers_visit(ctx, zs, "client", router, endpoint, 5);
    wait_delivered_so_far(zs);
    outage_until_spooled(zs, router, endpoint, spool);
    th_dealers_visit(ctx, zs, "client", router, endpoint, 5);
    churn_end(zs, router);

    /* Stopped while no broker answers: what is not delivered waits in the
     * spool, counted as not delivered by this run, not as failed. */
    TH_STATS(last);
    zmqsink_destroy_stats(&zs, &last);
    zmqsink_sink_stats_t *bus = &last.sinks[0];
    cr_assert_eq(bus->failed, 0);
    cr_assert_eq(bus->dropped_full, 0);
    cr_assert_gt(bus->dropped_shutdown, 0);
    cr_assert_eq(bus->delivered + bus->dropped_shutdown, last.events);
    cr_assert_gt(spooled_batches(spool), 0, "nothing left in the spool");

    /* The next run, with the cluster back, sends them without a socket of
     * its own, and counts them as none of its own. */
    brokers_set(true);
    zs = start_bus_until("2s", extra);
    for (int waited = 0; waited < WAIT_MS && spooled_batches(spool) > 0;
         waited += 50)
        th_sleep_ms(50);
    cr_assert_eq(spooled_batches(spool), 0, "the spool was not replayed");
    zmqsink_sink_stats_t again = bus_stats(zs, NULL);
    cr_expect_eq(again.delivered + again.failed + again.pending, 0);
    zmqsink_destroy(&zs);
    assert_exactly_once(last.events);
    free(spool);
}

/* A fatal error of the idempotent producer (a sequence the broker did not
 * expect): the sink starts a new producer and sends again, through the
 * spool, what the old one had not delivered; nothing is lost, and a copy
 * can only be of a message the cluster may have written already. */
Test(kafka, a_fatal_producer_error_restarts_it_and_loses_nothing,
     .init = setup, .fini = teardown, .timeout = 180)
{
    char *spool = th_path(dir, "spool");
    char extra[1024];
    snprintf(extra, sizeof extra, "    spool: { dir: %s }\n", spool);
    zmqsink_t *zs = start_bus(extra);
    char endpoint[256];
    void *router = server_start(zs, endpoint, sizeof endpoint);
    th_dealers_visit(ctx, zs, "client", router, endpoint, 5);
    wait_delivered_so_far(zs);
    rd_kafka_mock_push_request_errors(
        cluster, 0 /* Produce */, 1,
        RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    th_dealers_visit(ctx, zs, "client", router, endpoint, 10);
    churn_end(zs, router);
    uint64_t events = wait_all_delivered(zs);
    zmqsink_destroy(&zs);
    assert_at_least_once(events);
    free(spool);
}

/* Sockets of this process connected to a mock broker. */
static int broker_connections(void)
{
    int n = 0;
    for (int fd = 0; fd < 4096; fd++) {
        struct sockaddr_in peer;
        socklen_t len = sizeof peer;
        if (getpeername(fd, (struct sockaddr *)&peer, &len) != 0 ||
            peer.sin_family != AF_INET)
            continue;
        char port[16];
        snprintf(port, sizeof port, ":%d", ntohs(peer.sin_port));
        for (const char *p = strstr(bootstraps, port); p;
             p = strstr(p + 1, port))
            if (p[strlen(port)] == ',' || !p[strlen(port)]) {
                n++;
                break;
            }
    }
    return n;
}

/* In a forked child: no broker connection of the parent's, then a
 * zmqsink of its own whose events are all delivered. Returns the exit
 * status: 0 when so. */
/* In a forked child: zmqsink with the parent's config must be refused,
 * naming fork(), and the child must hold none of its parent's broker
 * connections. Returns 0 when so. */
static int child_refused(const char *path)
{
    int inherited = broker_connections();
    if (inherited) {
        fprintf(stderr, "child: %d connections of the parent\n", inherited);
        return 1;
    }
    void *child_ctx = zmq_ctx_new();
    char err[1024] = "";
    zmqsink_t *child = zmqsink_new(child_ctx, path, err, sizeof err);
    bool refused = !child && strstr(err, "sink 'bus'") && strstr(err, "fork()");
    if (!refused)
        fprintf(stderr, "child: not refused: %s\n", child ? "started" : err);
    zmqsink_destroy(&child);
    zmq_ctx_term(child_ctx);
    return refused ? 0 : 1;
}

/* librdkafka's state does not survive fork(): a child of a process that
 * started a kafka sink is refused one, saying why, and holds none of its
 * parent's connections to the brokers; the parent goes on delivering. */
Test(kafka, a_child_forked_after_its_parent_started_librdkafka_is_refused,
     .init = setup, .fini = teardown, .timeout = 180)
{
    TH_SKIP_FORK_UNDER_ASAN();
    zmqsink_t *zs = start_bus("");
    char endpoint[256];
    void *router = server_start(zs, endpoint, sizeof endpoint);
    th_dealers_visit(ctx, zs, "client", router, endpoint, 3);
    wait_delivered_so_far(zs);
    char *path = th_path(dir, "zmqsink.yaml");
    cr_assert_gt(broker_connections(), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(child_refused(path));
    int status = th_wait_child(pid, WAIT_MS);
    cr_assert(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the child was not refused (status %d)", status);
    free(path);
    th_dealers_visit(ctx, zs, "client", router, endpoint, 3);
    churn_end(zs, router);
    wait_all_delivered(zs);
    zmqsink_destroy(&zs);
}

/* A property librdkafka refuses, or one that would break the guarantee,
 * stops the config in `zmqsink check` and zmqsink_new() alike, at its
 * line, naming it. */
Test(kafka, bad_properties_are_refused_at_check_naming_them,
     .init = setup, .fini = teardown, .timeout = 60)
{
    static const struct {
        const char *property, *error;
    } cases[] = {
        {"no.such.thing: 1",
         "properties: 'no.such.thing': No such configuration property: "
         "\"no.such.thing\""},
        {"linger.ms: soon",
         "properties: 'linger.ms': Invalid value for configuration property "
         "\"queue.buffering.max.ms\""},
        {"enable.idempotence: \"false\"",
         "properties: 'enable.idempotence: false' turns off the idempotent "
         "producer, on which the sink's delivery guarantee rests: remove it"},
        {"acks: 1",
         "properties: 'acks: 1' would count an event delivered before every "
         "in-sync replica has it: acks must stay all"},
        {"request.required.acks: 0",
         "properties: 'request.required.acks: 0' would count an event "
         "delivered before every in-sync replica has it: acks must stay "
         "all"},
        {"bootstrap.servers: 10.0.0.9:9092",
         "properties: 'bootstrap.servers' is set from brokers"},
        {"transactional.id: tx",
         "properties: 'transactional.id' asks for transactions, which the "
         "sink does not run"},
        {"plugin.library.paths: interceptor.so",
         "properties: 'plugin.library.paths' would have librdkafka load "
         "libraries itself, where a fork() of the program may come between "
         "(zmqsink loads plugins under its fork lock)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char yaml[1024];
        snprintf(yaml, sizeof yaml,
                 "sinks:\n"
                 "  - name: bus\n"
                 "    type: kafka\n"
                 "    brokers: [127.0.0.1:9092]\n"
                 "    topic: " TOPIC "\n"
                 "    properties:\n"
                 "      compression.type: lz4\n"
                 "      %s\n",
                 cases[i].property);
        char *path = th_write_file(dir, "bad.yaml", yaml);
        char expected[2048], err[2048] = "";
        snprintf(expected, sizeof expected, "%s:8:7: sink 'bus': %s", path,
                 cases[i].error);
        cr_expect_neq(zmqsink_check(path, NULL, err, sizeof err), 0,
                      "%s passed check", cases[i].property);
        cr_expect_str_eq(err, expected);
        err[0] = '\0';
        cr_expect_null(zmqsink_new(ctx, path, err, sizeof err));
        cr_expect_str_eq(err, expected);
        free(path);
    }
    /* The command says the same, with status 1. */
    const char *bin = getenv("ZMQSINK_BIN");
    cr_assert_not_null(bin, "ZMQSINK_BIN is not set (run through make check)");
    char *path = th_write_file(dir, "bad.yaml",
                               "sinks:\n  - name: bus\n    type: kafka\n"
                               "    brokers: [127.0.0.1:9092]\n"
                               "    topic: t\n"
                               "    properties: { acks: \"0\" }\n");
    char command[4096];
    snprintf(command, sizeof command, "'%s' check '%s' 2>&1", bin, path);
    FILE *out = popen(command, "r");
    char *said = th_read_stream(out);
    int status = pclose(out);
    cr_expect_eq(WEXITSTATUS(status), 1);
    char expected[2048];
    snprintf(expected, sizeof expected,
             "%s:6:19: sink 'bus': properties: 'acks: 0' would count an event "
             "delivered before every in-sync replica has it: acks must stay "
             "all\n",
             path);
    cr_expect_str_eq(said, expected);
    free(said);
    free(path);
}

