/* The nats sink against Debian's nats-server, started by the tests on free
 * loopback ports: a 3-node JetStream cluster whose stream keeps 3 replicas,
 * a node crashed while messages are in flight, the whole cluster stopped
 * while events arrive and started again, a spool left by one run and
 * published by the next (twice: the stream's duplicate window drops the
 * second time), core NATS to a subscriber, a cluster that does not answer
 * at start, and options refused with their names. What reached the
 * stream is read back with libnats and compared, event by event, with what
 * zmqsink reported. Waits are bounded; nothing asserts on timing. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "helpers.h"
#include "nats_peer.h"

/* Longest a bounded wait in this file lasts: a JetStream cluster restarted
 * whole elects its leaders again before anything is stored. */
#define WAIT_MS 120000
#define STREAM "ZMQ"
#define ID_KEY_LEN 32

static char *dir;
static void *ctx;
static np_cluster_t cluster;
static th_log_t log_;

static void setup(void)
{
    dir = th_tempdir();
    ctx = zmq_ctx_new();
    memset(&cluster, 0, sizeof cluster);
    th_log_init(&log_);
}

static void teardown(void)
{
    np_cluster_stop(&cluster);
    th_close_all();
    zmq_ctx_term(ctx);
    th_log_free(&log_);
    th_remove_tree(dir);
    free(dir);
}

TestSuite(nats, .init = setup, .fini = teardown, .timeout = 600);

/* ---- zmqsink's side ---- */

static zmqsink_sink_stats_t bus_stats(zmqsink_t *zs)
{
    TH_STATS(stats);
    cr_assert_eq(zmqsink_stats(zs, &stats), 0);
    for (size_t i = 0; i < stats.nsinks && i < stats.sinks_cap; i++)
        if (strcmp(stats.sinks[i].name, "bus") == 0)
            return stats.sinks[i];
    cr_assert_fail("no sink 'bus'");
    return stats.sinks[0];
}

/* Waits until the bus sink has an outcome for every event the callback
 * saw, and nothing changed over the last look: every event delivered. */
static zmqsink_sink_stats_t wait_all_delivered(zmqsink_t *zs, const char *when)
{
    zmqsink_sink_stats_t s = {0};
    size_t seen = 0, steady = 0;
    for (int waited = 0; waited < WAIT_MS; waited += 100) {
        s = bus_stats(zs);
        size_t logged = th_log_count(&log_, 0);
        bool done = s.enqueued == logged && s.delivered == logged &&
                    s.pending == 0 && s.queue_depth == 0;
        steady = done && logged == seen ? steady + 1 : 0;
        seen = logged;
        if (steady == 3)
            return s;
        th_sleep_ms(100);
    }
    cr_assert_fail("%s: %zu events, the nats sink has %llu enqueued, %llu "
                   "delivered, %llu pending, %llu failed, %llu dropped",
                   when, th_log_count(&log_, 0),
                   (unsigned long long)s.enqueued,
                   (unsigned long long)s.delivered,
                   (unsigned long long)s.pending,
                   (unsigned long long)s.failed,
                   (unsigned long long)(s.dropped_full + s.dropped_shutdown));
    return s;
}

/* The number of *.batch files in dir/spool. */
static size_t spool_batches(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/spool", dir);
    DIR *d = opendir(path);
    size_t n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        n += len > 6 && strcmp(e->d_name + len - 6, ".batch") == 0;
    }
    if (d)
        closedir(d);
    return n;
}

static void wait_spool_batches(bool some, const char *when)
{
    for (int waited = 0; waited < WAIT_MS; waited += 50) {
        if ((spool_batches() > 0) == some)
            return;
        th_sleep_ms(50);
    }
    cr_assert_fail("%s: the spool %s", when,
                   some ? "stays empty" : "keeps batches");
}

/* A ROUTER attached as name, bound on a loopback port. */
static void *router_bound(zmqsink_t *zs, const char *name, char *endpoint,
                          size_t cap)
{
    void *router = th_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach(zs, router, name), 0);
    cr_assert_eq(zmq_bind(router, "tcp://127.0.0.1:*"), 0);
    th_last_endpoint(router, endpoint, cap);
    return router;
}

/* zmqsink with a nats sink named bus: the core's keys, then the sink's
 * servers (a YAML list) and its other options, as lines. */
static zmqsink_t *bus_start(const char *core, const char *servers,
                            const char *options)
{
    return th_start(ctx, dir,
                    "%ssinks:\n"
                    "  - name: bus\n"
                    "    type: nats\n"
                    "    servers: %s\n"
                    "%s",
                    core, servers, options);
}

/* visits DEALERs come and go through a ROUTER attached as "server", which
 * then closes; returns once the callback saw every socket stop. */
static void visits_then_close(zmqsink_t *zs, int visits)
{
    char endpoint[256];
    void *router = router_bound(zs, "server", endpoint, sizeof endpoint);
    th_dealers_visit(ctx, zs, "client", router, endpoint, visits);
    th_close(router);
    size_t stopped = (size_t)visits + 1;
    cr_assert_geq(th_log_wait(&log_, ZMQSINK_EVENT_MONITOR_STOPPED, stopped,
                              WAIT_MS),
                  stopped);
}

static void log_start(zmqsink_t *zs)
{
    cr_assert_eq(zmqsink_add_callback(zs, "log", ZMQSINK_EVENT_ALL,
                                      th_log_callback, &log_),
                 0);
}

/* ---- the stream's side ---- */

/* The subject zmqsink's default template gives: socket and event names
 * with '.', '*', '>' and whitespace made '_'. */
static void expected_subject(const zmqsink_event_t *ev, char *out, size_t cap)
{
    char socket[ZMQSINK_SOCKET_NAME_MAX];
    snprintf(socket, sizeof socket, "%s", ev->socket);
    for (char *p = socket; *p; p++)
        if (strchr(".*> \t", *p))
            *p = '_';
    snprintf(out, cap, "zmq.%s.%s", socket, zmqsink_event_name(ev->type));
}

/* Checks one message against the events the callback saw, marks its seq
 * seen, and returns its id's instance part. */
static void message_matches(const char *subject, const char *msg_id,
                            const char *data, bool *seen, size_t nseen,
                            char instance[ID_KEY_LEN + 1])
{
    int64_t seq = np_json_number(data, "seq");
    cr_assert(seq >= 1 && (size_t)seq <= nseen, "seq %lld out of range in %s",
              (long long)seq, data);
    cr_assert_not(seen[seq], "seq %lld twice in the stream", (long long)seq);
    seen[seq] = true;
    zmqsink_event_t ev;
    pthread_mutex_lock(&log_.lock);
    for (size_t i = 0; i < log_.n; i++)
        if (log_.events[i].seq == (uint64_t)seq)
            ev = log_.events[i];
    pthread_mutex_unlock(&log_.lock);
    char want[256];
    expected_subject(&ev, want, sizeof want);
    cr_assert_str_eq(subject, want, "seq %lld", (long long)seq);
    char suffix[32];
    snprintf(suffix, sizeof suffix, "-%lld", (long long)seq);
    cr_assert_eq(strlen(msg_id), ID_KEY_LEN + strlen(suffix), "id %s", msg_id);
    cr_assert_str_eq(msg_id + ID_KEY_LEN, suffix, "id %s of seq %lld", msg_id,
                     (long long)seq);
    cr_assert_eq(strspn(msg_id, "0123456789abcdef"), ID_KEY_LEN, "id %s",
                 msg_id);
    if (!instance[0])
        snprintf(instance, ID_KEY_LEN + 1, "%.*s", ID_KEY_LEN, msg_id);
    cr_assert_eq(strncmp(msg_id, instance, ID_KEY_LEN), 0,
                 "id %s is not of instance %s", msg_id, instance);
}

/* The stream holds every event the callback saw, each once, under the
 * ids of one instance. */
static void assert_stream_has_every_event_once(void)
{
    np_message_t *m;
    size_t logged = th_log_count(&log_, 0);
    np_stream_wait_count(&cluster, STREAM, logged);
    size_t n = np_stream_read(&cluster, STREAM, &m);
    cr_assert_eq(n, logged, "%zu messages in the stream, %zu events", n,
                 logged);
    bool *seen = calloc(logged + 1, sizeof *seen);
    char instance[ID_KEY_LEN + 1] = "";
    for (size_t i = 0; i < n; i++)
        message_matches(m[i].subject, m[i].msg_id, m[i].data, seen, logged,
                        instance);
    for (size_t seq = 1; seq <= logged; seq++)
        cr_assert(seen[seq], "seq %zu is not in the stream", seq);
    free(seen);
    np_messages_free(m, n);
}

/* The node the sink is connected to. */
static size_t node_of_sink(void)
{
    for (int waited = 0; waited < WAIT_MS; waited += 100) {
        for (size_t i = 0; i < cluster.n; i++)
            if (cluster.nodes[i].pid > 0 && np_node_serves_us(&cluster, i))
                return i;
        th_sleep_ms(100);
    }
    cr_assert_fail("no node has the sink's connection");
    return 0;
}

/* ---- JetStream ---- */

Test(nats, every_event_once_through_a_node_crash_and_a_whole_cluster_outage)
{
    np_cluster_start(&cluster, dir, 3, true, NULL);
    np_stream_create(&cluster, STREAM, "zmq.>", 3, 600000, 0);
    char servers[256];
    np_servers_yaml(&cluster, servers, sizeof servers);
    zmqsink_t *zs = bus_start("shutdown_timeout: 10s\n", servers,
                              "    spool: { dir: spool }\n"
                              "    connect_timeout: 1s\n"
                              "    reconnect_wait: 100ms\n"
                              "    ack_timeout: 1s\n"
                              "    retry: { base: 50ms, cap: 500ms }\n");
    log_start(zs);
    char endpoint[256];
    void *router = router_bound(zs, "server", endpoint, sizeof endpoint);
    th_dealers_visit(ctx, zs, "client", router, endpoint, 20);
    wait_all_delivered(zs, "with the whole cluster up");

    /* The node the sink publishes through crashes with events in flight;
     * the client moves to another, the stream elects a leader if it lost
     * it, and what was in flight is published again under its id. */
    size_t victim = node_of_sink();
    th_dealers_visit(ctx, zs, "client", router, endpoint, 20);
    np_node_stop(&cluster, victim, SIGKILL);
    th_dealers_visit(ctx, zs, "client", router, endpoint, 20);
    wait_all_delivered(zs, "after a node crashed");
    np_node_start(&cluster, victim);

    /* No server at all while events arrive: they go to the spool. */
    th_dealers_visit(ctx, zs, "client", router, endpoint, 10);
    for (size_t i = 0; i < cluster.n; i++)
        np_node_stop(&cluster, i, SIGTERM);
    th_dealers_visit(ctx, zs, "client", router, endpoint, 20);
    wait_spool_batches(true, "with every node stopped");
    cr_assert_lt(bus_stats(zs).delivered, th_log_count(&log_, 0));
    for (size_t i = 0; i < cluster.n; i++)
        np_node_start(&cluster, i);
    th_dealers_visit(ctx, zs, "client", router, endpoint, 10);
    zmqsink_sink_stats_t s = wait_all_delivered(zs, "after the restart");
    wait_spool_batches(false, "after the restart");
    cr_assert_eq(s.failed, 0);
    cr_assert_eq(s.dropped_full + s.dropped_shutdown, 0);

    assert_stream_has_every_event_once();
    th_close(router);
    zmqsink_destroy(&zs);
}

/* Copies every *.batch of dir/spool into dir/saved. */
static void spool_save(void)
{
    char from[600], to[600], command[2048];
    snprintf(from, sizeof from, "%s/spool", dir);
    snprintf(to, sizeof to, "%s/saved", dir);
    snprintf(command, sizeof command, "mkdir -p '%s' && cp '%s'/*.batch '%s'/",
             to, from, to);
    cr_assert_eq(system(command), 0, "%s", command);
}

static void spool_restore(void)
{
    char command[1400];
    snprintf(command, sizeof command, "cp '%s/saved'/*.batch '%s/spool'/", dir,
             dir);
    cr_assert_eq(system(command), 0, "%s", command);
}

/* A run whose events the sink cannot publish (options: its lines besides
 * servers and spool): 10 visits to a ROUTER, all of whose events end in
 * the spool, counted as not delivered at shutdown. */
static void spooling_run(const char *servers, const char *options,
                         const char *why)
{
    char sink[512];
    snprintf(sink, sizeof sink, "    spool: { dir: spool }\n%s", options);
    zmqsink_t *zs = bus_start("shutdown_timeout: 1s\n", servers, sink);
    log_start(zs);
    visits_then_close(zs, 10);
    wait_spool_batches(true, why);
    TH_STATS(stats);
    zmqsink_destroy_stats(&zs, &stats);
    cr_assert_eq(stats.sinks[0].delivered + stats.sinks[0].failed, 0, "%s",
                 why);
    cr_assert_eq(stats.sinks[0].dropped_shutdown, th_log_count(&log_, 0),
                 "%s: what waits in the spool counts as not delivered", why);
}

/* A run on the spool alone, with no socket of its own: publishes what
 * earlier runs left, counting none of it, and leaves the spool empty. */
static void replay_run(const char *servers)
{
    zmqsink_t *zs = bus_start("", servers,
                              "    spool: { dir: spool }\n"
                              "    reconnect_wait: 100ms\n"
                              "    retry: { base: 50ms, cap: 500ms }\n");
    wait_spool_batches(false, "in a run that replays the spool");
    TH_STATS(stats);
    zmqsink_destroy_stats(&zs, &stats);
    cr_assert_eq(stats.sinks[0].delivered + stats.sinks[0].failed, 0,
                 "a replay counted an earlier run's events");
}

Test(nats, spool_left_by_one_run_is_published_by_the_next_once)
{
    np_cluster_start(&cluster, dir, 1, true, NULL);
    np_stream_create(&cluster, STREAM, "zmq.>", 1, 120000, 0);
    np_node_stop(&cluster, 0, SIGTERM);
    char servers[256];
    np_servers_yaml(&cluster, servers, sizeof servers);

    /* Run 1: no server; everything ends in the spool. */
    spooling_run(servers, "    reconnect_wait: 100ms\n", "with no server");
    spool_save();

    /* Run 2 publishes them, under run 1's ids. */
    np_node_start(&cluster, 0);
    replay_run(servers);
    assert_stream_has_every_event_once();

    /* Run 3 finds the same batches again (as if run 2 had died before
     * deleting them): published again, dropped as duplicates. */
    spool_restore();
    replay_run(servers);
    assert_stream_has_every_event_once();
}

/* A stream that refuses the messages for good (each larger than its
 * largest): every event is counted as failed, none waits forever, and the
 * sink goes on. */
Test(nats, messages_the_stream_refuses_for_good_are_counted_as_failed)
{
    np_cluster_start(&cluster, dir, 1, true, NULL);
    np_stream_create(&cluster, STREAM, "zmq.>", 1, 120000, 64);
    char servers[256];
    np_servers_yaml(&cluster, servers, sizeof servers);
    zmqsink_t *zs = bus_start("", servers, "    spool: { dir: spool }\n");
    log_start(zs);
    visits_then_close(zs, 5);
    zmqsink_sink_stats_t s = {0};
    for (int waited = 0; waited < WAIT_MS; waited += 100) {
        s = bus_stats(zs);
        if (s.failed > 0 && s.failed == th_log_count(&log_, 0) &&
            s.enqueued == s.failed)
            break;
        th_sleep_ms(100);
    }
    cr_assert_eq(s.failed, th_log_count(&log_, 0), "%llu of %zu events "
                 "counted as failed", (unsigned long long)s.failed,
                 th_log_count(&log_, 0));
    cr_assert_eq(s.delivered + s.pending + s.dropped_full, 0);
    cr_assert_eq(spool_batches(), 0, "a refused message waits in the spool");
    zmqsink_destroy(&zs);
    np_message_t *m;
    cr_assert_eq(np_stream_read(&cluster, STREAM, &m), 0);
    np_messages_free(m, 0);
}

/* ---- TLS ---- */

/* Servers whose certificate tls.ca_file does not vouch for are not
 * trusted: the events wait in the spool. With the CA that signed it, the
 * next run publishes them. */
Test(nats, tls_ca_file_decides_which_servers_are_trusted)
{
    char *trusted = th_path(dir, "trusted"), *other = th_path(dir, "other");
    cr_assert_eq(mkdir(trusted, 0700), 0);
    cr_assert_eq(mkdir(other, 0700), 0);
    th_make_certificates(trusted);
    th_make_certificates(other);
    np_cluster_start(&cluster, dir, 1, true, trusted);
    np_stream_create(&cluster, STREAM, "zmq.>", 1, 120000, 0);
    char servers[256];
    np_servers_yaml(&cluster, servers, sizeof servers);

    spooling_run(servers, "    tls: { ca_file: other/ca.pem }\n",
                 "with servers it does not trust");
    zmqsink_t *zs = bus_start("", servers, "    tls: { ca_file: trusted/ca.pem }\n"
                                "    spool: { dir: spool }\n");
    wait_spool_batches(false, "with the CA of the servers");
    zmqsink_destroy(&zs);
    assert_stream_has_every_event_once();
    free(trusted);
    free(other);
}

/* ---- core NATS ---- */

Test(nats, core_nats_reaches_a_subscriber_under_subject_safe_names)
{
    np_cluster_start(&cluster, dir, 1, false, NULL);
    natsConnection *conn = np_connect(&cluster);
    natsSubscription *sub;
    cr_assert_eq(natsConnection_SubscribeSync(&sub, conn, "zmq.>"), NATS_OK);
    cr_assert_eq(natsConnection_Flush(conn), NATS_OK);
    char servers[256];
    np_servers_yaml(&cluster, servers, sizeof servers);
    zmqsink_t *zs = bus_start("", servers, "    jetstream: false\n");
    log_start(zs);
    char endpoint[256];
    void *router = router_bound(zs, "front end.v1*", endpoint,
                                sizeof endpoint);
    th_dealers_visit(ctx, zs, "api>client", router, endpoint, 5);
    zmqsink_sink_stats_t s = wait_all_delivered(zs, "core NATS");
    cr_assert_eq(s.failed, 0);

    size_t logged = th_log_count(&log_, 0);
    bool *seen = calloc(logged + 1, sizeof *seen);
    char instance[ID_KEY_LEN + 1] = "";
    for (size_t i = 0; i < logged; i++) {
        natsMsg *msg = NULL;
        cr_assert_eq(natsSubscription_NextMsg(&msg, sub, 10000), NATS_OK,
                     "message %zu of %zu", i + 1, logged);
        const char *id = NULL;
        natsMsgHeader_Get(msg, "Nats-Msg-Id", &id);
        char *data = strndup(natsMsg_GetData(msg),
                             (size_t)natsMsg_GetDataLength(msg));
        message_matches(natsMsg_GetSubject(msg), id ? id : "", data, seen,
                        logged, instance);
        if (strstr(data, "\"socket\":\"front end.v1*\"") &&
            strstr(data, "\"event\":\"accepted\""))
            cr_assert_str_eq(natsMsg_GetSubject(msg),
                             "zmq.front_end_v1_.accepted");
        free(data);
        natsMsg_Destroy(msg);
    }
    free(seen);
    th_close(router);
    zmqsink_destroy(&zs);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(conn);
}

/* ---- a cluster that does not answer ---- */

/* A TCP port on 127.0.0.1 that accepts connections (the kernel does) and
 * never says a word: a NATS client waits there for the server's INFO. */
static int silent_listener(int *port)
{
    *port = th_free_port();
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)*port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0, "%s",
                 strerror(errno));
    cr_assert_eq(listen(fd, 16), 0);
    return fd;
}

/* With connect_timeout 10 minutes, a zmqsink_new() or attach that waited
 * for the cluster would outlast the test's timeout. */
Test(nats, a_cluster_that_does_not_answer_stalls_neither_start_nor_attach,
     .timeout = 120)
{
    int fds[3], ports[3];
    for (int i = 0; i < 3; i++)
        fds[i] = silent_listener(&ports[i]);
    char servers[256];
    snprintf(servers, sizeof servers, "[nats://127.0.0.1:%d, "
             "nats://127.0.0.1:%d, nats://127.0.0.1:%d]", ports[0], ports[1],
             ports[2]);
    zmqsink_t *zs = bus_start("shutdown_timeout: 2s\n", servers,
                              "    connect_timeout: 10m\n"
                              "    spool: { dir: spool }\n");
    log_start(zs);
    char endpoint[256];
    void *router = router_bound(zs, "server", endpoint, sizeof endpoint);
    th_dealers_visit(ctx, zs, "client", router, endpoint, 5);
    size_t logged = th_log_wait(&log_, ZMQSINK_EVENT_DISCONNECTED, 5, WAIT_MS);
    cr_assert_geq(logged, 5);
    cr_assert_eq(bus_stats(zs).delivered, 0);

    /* The listeners go: the connection attempt fails, and the events go
     * to the spool, where the next run finds them. */
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    wait_spool_batches(true, "once the servers refuse");
    th_close(router);
    TH_STATS(stats);
    zmqsink_destroy_stats(&zs, &stats);
    const zmqsink_sink_stats_t *bus = &stats.sinks[0];
    cr_assert_str_eq(bus->name, "bus");
    cr_assert_eq(bus->delivered + bus->failed + bus->dropped_full, 0);
    cr_assert_eq(bus->dropped_shutdown, bus->enqueued,
                 "every event waits in the spool");
}

/* ---- fork ---- */

/* libnats' threads do not survive fork(): a child of a process that
 * started a nats sink is refused one, with a message saying why, instead
 * of a sink whose timers and callbacks never run. */
Test(nats, a_child_forked_after_its_parent_started_libnats_is_refused_a_sink)
{
    TH_SKIP_FORK_UNDER_ASAN();
    char servers[64];
    snprintf(servers, sizeof servers, "[nats://127.0.0.1:%d]", th_free_port());
    zmqsink_t *zs = bus_start("", servers, "");
    char *path = th_path(dir, "zmqsink.yaml");
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        void *child_ctx = zmq_ctx_new();
        char err[1024] = "";
        zmqsink_t *child = zmqsink_new(child_ctx, path, err, sizeof err);
        bool refused = !child && strstr(err, "sink 'bus'") &&
                       strstr(err, "fork()");
        if (!refused)
            fprintf(stderr, "child: %s\n", child ? "started" : err);
        _exit(refused ? 0 : 1);
    }
    int status = th_wait_child(pid, WAIT_MS);
    cr_assert(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the child was not refused its nats sink (status %d)", status);
    free(path);
    zmqsink_destroy(&zs);
}

/* ---- options ---- */

static int start_config(const char *path, char *err, size_t len)
{
    zmqsink_t *zs = zmqsink_new(ctx, path, err, len);
    int started = zs != NULL;
    zmqsink_destroy(&zs);
    return started ? 0 : -1;
}

Test(nats, zmqsink_check_names_the_option_at_fault)
{
#define SERVER "    servers: [nats://127.0.0.1:4222]\n"
    static const th_refusal_t cases[] = {
        {"    subject: zmq.x\n", "servers", 0},
        {SERVER "    jetstream: perhaps\n", "jetstream", 0},
        {SERVER "    max_in_flight: 0\n", "max_in_flight", 0},
        {SERVER "    ack_timeout: soon\n", "ack_timeout", 0},
        {SERVER "    format: xml\n", "format", 0},
        {SERVER "    spool: { max_size: 1KiB }\n", "spool.max_size", 0},
        {SERVER "    subjet: zmq.x\n", "subjet", 0},
        /* What the sink checks itself, at the option's line. */
        {SERVER "    subject: \"zmq.{sokcet}\"\n", "subject", 5},
        {SERVER "    subject: \"zmq.>\"\n", "subject", 5},
        {SERVER "    subject: \"zmq..{event}\"\n", "subject", 5},
        {SERVER "    subject: \"zmq.{event}.\"\n", "subject", 5},
        {SERVER "    subject: \"zmq events\"\n", "subject", 5},
        {"    servers: []\n", "servers", 4},
        {"    subject: zmq.x\n"
         "    servers:\n"
         "      - nats://127.0.0.1:4222\n"
         "      - http://127.0.0.1:4222\n",
         "servers: 'http://127.0.0.1:4222': the scheme must be nats://", 7},
        {"    servers:\n"
         "      - nats://127.0.0.1:4222\n"
         "      - nats://:4222\n",
         "servers: 'nats://:4222' names no host", 6},
        {SERVER "    nkey: { public_key: UABC }\n", "nkey", 5},
        {SERVER "    nkey:\n"
                "      seed_file: user.nk\n",
         "nkey: give both public_key and seed_file", 6},
        {SERVER "    credentials: user.creds\n"
                "    nkey: { public_key: UABC, seed_file: user.nk }\n",
         "credentials and nkey exclude each other", 5},
    };
    th_expect_refused(dir, "bus", "nats", cases, sizeof cases / sizeof *cases,
                      th_check_config);
    /* The files are the start's to check. */
    th_expect_accepted(dir, "bus", "nats",
                       SERVER "    subject: \"zmq.{socket}.{event}\"\n"
                              "    nkey:\n"
                              "      public_key: UABC\n"
                              "      seed_file: missing.nk\n");
}

/* What only the sink can judge is refused when it opens (zmqsink_new(),
 * `zmqsink run`, `zmqsink watch`), before it connects anywhere: the files
 * its options name. */
Test(nats, values_only_the_sink_can_judge_stop_the_start_with_their_names)
{
    static const th_refusal_t cases[] = {
        {SERVER "    credentials: nowhere.creds\n", "credentials", 0},
        {SERVER "    tls: { ca_file: nowhere.pem }\n", "tls.ca_file", 0},
    };
    th_expect_refused(dir, "bus", "nats", cases, sizeof cases / sizeof *cases,
                      start_config);
#undef SERVER
}
