/* stuck: the application's throughput while a sink never returns.
 * zmqsink-stuck has, beside its file sink, a callback sink that blocks
 * forever, and a small queue (1024), so that the ring fills within the
 * run; against `none`, and against zmqsink with the file sink alone (what
 * monitoring costs when every sink is healthy): messages/s over tcp PUSH
 * -> PULL (both attached) and connect/close cycles/s of a DEALER against
 * an attached ROUTER. zmqsink must drop and count, never wait; at the end
 * zmqsink_destroy() must return within its shutdown_timeout (100ms here)
 * plus the second it grants a sink stuck in its plugin. */
#include "bench.h"

#include "measure.h"
#include "workload.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <zmq.h>

#define MESSAGE_SIZE 64

typedef struct sender {
    void *push;
    atomic_bool stop;
} sender_t;

static void *send_messages(void *arg)
{
    sender_t *sender = arg;
    char payload[MESSAGE_SIZE] = {0};
    while (!atomic_load_explicit(&sender->stop, memory_order_relaxed))
        zmq_send(sender->push, payload, sizeof payload, 0); /* SNDTIMEO wakes it */
    return NULL;
}

/* PUSH -> PULL for seconds on two threads; returns messages received. */
static long message_phase(variant_t *v, int seconds, char *err, size_t errlen)
{
    void *ctx = variant_ctx(v);
    void *push = socket_new(ctx, ZMQ_PUSH), *pull = socket_new(ctx, ZMQ_PULL);
    int timeout = 100;
    if (!push || !pull || variant_attach(v, push, 0, err, errlen) != 0) {
        if (push)
            zmq_close(push);
        if (pull)
            zmq_close(pull);
        return -1;
    }
    if (variant_attach(v, pull, 1, err, errlen) != 0) {
        zmq_close(pull);
        return -1;
    }
    int port = socket_bind_loopback(push);
    char endpoint[64];
    loopback_endpoint(endpoint, sizeof endpoint, port);
    zmq_setsockopt(push, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(pull, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    if (port < 0 || zmq_connect(pull, endpoint) != 0) {
        snprintf(err, errlen, "push/pull: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    /* The PUSH moves to the sender's thread; pthread_create is the fence
     * libzmq asks for when a socket changes threads. */
    sender_t sender = {.push = push};
    pthread_t thread;
    if (pthread_create(&thread, NULL, send_messages, &sender) != 0) {
        snprintf(err, errlen, "sender thread: cannot start");
        return -1;
    }
    char buf[MESSAGE_SIZE];
    long received = 0;
    int64_t end = clock_monotonic_ns() + (int64_t)seconds * 1000000000;
    while (clock_monotonic_ns() < end)
        if (zmq_recv(pull, buf, sizeof buf, 0) >= 0)
            received++;
    atomic_store(&sender.stop, true);
    pthread_join(thread, NULL);
    return received;
}

/* One connect/close cycle: a DEALER connects to the ROUTER, sends, the
 * ROUTER receives, the DEALER closes. Returns 0, or -1. */
static int connect_cycle(void *ctx, void *router, const char *endpoint)
{
    void *dealer = socket_new(ctx, ZMQ_DEALER);
    if (!dealer)
        return -1;
    int rc = zmq_connect(dealer, endpoint) == 0 && zmq_send(dealer, "hi", 2, 0) == 2
                 ? 0
                 : -1;
    char buf[64];
    for (int frame = 0; rc == 0 && frame < 2; frame++)
        if (zmq_recv(router, buf, sizeof buf, 0) < 0)
            rc = -1;
    zmq_close(dealer);
    return rc;
}

/* Connect/close cycles against an attached ROUTER for seconds; returns
 * the cycles done. */
static long connection_phase(variant_t *v, int seconds, char *err, size_t errlen)
{
    void *ctx = variant_ctx(v);
    void *router = socket_new(ctx, ZMQ_ROUTER);
    int timeout = 2000;
    if (!router || variant_attach(v, router, 2, err, errlen) != 0) {
        if (router)
            zmq_close(router);
        return -1;
    }
    zmq_setsockopt(router, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    int port = socket_bind_loopback(router);
    if (port < 0) {
        snprintf(err, errlen, "router: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    char endpoint[64];
    loopback_endpoint(endpoint, sizeof endpoint, port);
    long cycles = 0;
    int64_t end = clock_monotonic_ns() + (int64_t)seconds * 1000000000;
    while (clock_monotonic_ns() < end) {
        if (connect_cycle(ctx, router, endpoint) != 0) {
            snprintf(err, errlen, "a connect/close cycle failed after %ld", cycles);
            return -1;
        }
        cycles++;
    }
    return cycles;
}

static int stuck_child(int argc, char **argv, variant_kind_t kind)
{
    int seconds = (int)child_param_long(argc, argv, "seconds", 2);
    variant_options_t opts;
    child_options(argc, argv, &opts);
    opts.queue_capacity = 1024;
    opts.shutdown_timeout = "100ms";
    char err[1024] = "";
    variant_t *v = NULL;
    variant_counts_t running = {0}, counts = {0};
    long messages = -1, cycles = -1;
    int rc = variant_new(&v, kind, &opts, err, sizeof err);
    if (rc == 0)
        rc = variant_start(v, err, sizeof err);
    if (rc == 0 && (messages = message_phase(v, seconds, err, sizeof err)) < 0)
        rc = -1;
    if (rc == 0 && (cycles = connection_phase(v, seconds, err, sizeof err)) < 0)
        rc = -1;
    if (v)
        variant_counts_so_far(v, &running);
    rc = child_stop_variant(&v, &counts, rc, err, sizeof err);
    if (rc != 0)
        result_error("%s", err);
    result_number("messages_per_s", (double)messages / seconds);
    result_number("cycles_per_s", (double)cycles / seconds);
    result_number("decoded", (double)running.decoded);
    result_number("delivered", (double)running.events);
    result_number("stuck_dropped", (double)running.stuck_dropped);
    result_number("destroy_ms", counts.destroy_ms);
    report_usage();
    return 0;
}

static void stuck_row(const runs_t *runs, int v)
{
    bool zmqsink = v != runs_variant(runs, "none");
    bool stuck = v == runs_variant(runs, "zmqsink-stuck");
    printf("| %s | %s | %s | %s | %s | %s | %s |\n", runs->variants[v],
           fmt_num(runs_median(runs, v, "messages_per_s"), 0),
           fmt_num(runs_median(runs, v, "cycles_per_s"), 0),
           zmqsink ? fmt_num(runs_median(runs, v, "decoded"), 0) : "-",
           zmqsink ? fmt_num(runs_median(runs, v, "delivered"), 0) : "-",
           stuck ? fmt_num(runs_median(runs, v, "stuck_dropped"), 0) : "-",
           zmqsink ? fmt_num(runs_median(runs, v, "destroy_ms"), 0) : "-");
}

static void stuck_ratios(const runs_t *runs, int v, int base)
{
    printf("- %s ÷ %s: messages/s **%s**, connect/close cycles/s **%s**\n",
           runs->variants[v], runs->variants[base],
           fmt_ratio(runs_median(runs, v, "messages_per_s") /
                       runs_median(runs, base, "messages_per_s")),
           fmt_ratio(runs_median(runs, v, "cycles_per_s") /
                       runs_median(runs, base, "cycles_per_s")));
}

static void stuck_report(const bench_settings_t *settings)
{
    const char *variants[] = {"none", "zmqsink", "zmqsink-stuck"};
    params_t params = {0};
    params_add(&params, "seconds", settings->stuck_seconds);
    runs_t runs;
    if (runs_execute(&runs, settings, "stuck", variants, 3, settings->stuck_rounds,
                     &params, 120) != 0)
        return;
    printf("## stuck: a sink that never returns\n\n");
    printf("`zmqsink-stuck`: zmqsink with its file sink and a callback sink that "
           "blocks forever from its first event; `zmqsink`: the file sink alone. "
           "Both with queue.capacity 1024 and shutdown_timeout 100ms; %d s per "
           "phase, median of %d rounds. Messages: 64 bytes, tcp PUSH -> PULL, "
           "both attached, sender and receiver on two threads. Cycles: a DEALER "
           "connects to an attached ROUTER, sends one message, the ROUTER "
           "receives it, the DEALER closes (about 3 events each).\n\n",
           settings->stuck_seconds, settings->stuck_rounds);
    printf("| variant | messages/s | connect/close cycles/s | events decoded | "
           "file sink delivered | stuck callback dropped | zmqsink_destroy() ms |\n"
           "|---|---:|---:|---:|---:|---:|---:|\n");
    for (int v = 0; v < 3; v++)
        stuck_row(&runs, v);
    printf("\n");
    stuck_ratios(&runs, 2, 0);
    stuck_ratios(&runs, 2, 1);
    stuck_ratios(&runs, 1, 0);
    runs_print_errors(&runs);
    printf("\n");
    double cycles = runs_median(&runs, 2, "cycles_per_s") /
                    runs_median(&runs, 1, "cycles_per_s");
    char text[96];
    snprintf(text, sizeof text, "%s cycles/s, %s events dropped and counted",
             fmt_ratio(cycles), fmt_num(runs_median(&runs, 2, "stuck_dropped"), 0));
    /* Noise between rounds is some percent: within 10%% is "as fast". */
    target_add("stuck: throughput with a stuck sink vs all sinks healthy",
               "no slower (within 10%)", text, isnan(cycles) ? -1 : cycles >= 0.9);
    runs_free(&runs);
}

const benchmark_t stuck_benchmark = {"stuck", stuck_child, stuck_report};
