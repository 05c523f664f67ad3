/* idle: how often zmqsink's threads wake up when nothing happens. 1000
 * DEALERs attached and connected (to an echo server in a helper process),
 * then a quiet window: the context switches of each thread zmqsink
 * started (those that appeared with zmqsink_start() and the attaches),
 * from /proc/self/task/TID/status, per second. With a file sink only, and
 * with a statsd sink, whose plugin has a tick(). */
#include "bench.h"

#include "measure.h"
#include "workload.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#define MAX_THREADS 256
#define SETTLE_MS 1000

static bool seen_before(const thread_sample_t *before, int nbefore, pid_t tid)
{
    for (int i = 0; i < nbefore; i++)
        if (before[i].tid == tid)
            return true;
    return false;
}

/* Makes, attaches and connects the dealers; waits for their echoes. */
static int idle_sockets(variant_t *v, int nsockets, int port, char *err,
                        size_t errlen)
{
    char endpoint[64];
    loopback_endpoint(endpoint, sizeof endpoint, port);
    for (int i = 0; i < nsockets; i++) {
        void *dealer = socket_new(variant_ctx(v), ZMQ_DEALER);
        int timeout = 20000;
        if (!dealer) {
            snprintf(err, errlen, "socket %d: %s", i, zmq_strerror(zmq_errno()));
            return -1;
        }
        zmq_setsockopt(dealer, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
        if (variant_attach(v, dealer, i, err, errlen) != 0) {
            zmq_close(dealer);
            return -1;
        }
        char reply[8];
        if (zmq_connect(dealer, endpoint) != 0 || zmq_send(dealer, "hi", 2, 0) != 2 ||
            zmq_recv(dealer, reply, sizeof reply, 0) < 0) {
            snprintf(err, errlen, "socket %d: no echo: %s", i, zmq_strerror(zmq_errno()));
            return -1;
        }
    }
    return variant_begin(v, err, errlen);
}

static int compare_tids(const void *a, const void *b)
{
    pid_t x = ((const thread_sample_t *)a)->tid, y = ((const thread_sample_t *)b)->tid;
    return (x > y) - (x < y);
}

/* Reports each new thread's wake-ups per second over the window, in the
 * order the threads were made. */
static void idle_window(const thread_sample_t *before, int nbefore, int seconds)
{
    thread_sample_t start[MAX_THREADS];
    int nstart = proc_sample_threads(start, MAX_THREADS);
    if (nstart > MAX_THREADS)
        nstart = MAX_THREADS;
    if (nstart > 0)
        qsort(start, (size_t)nstart, sizeof *start, compare_tids);
    sleep_ms(seconds * 1000);
    int nnew = 0;
    double total = 0;
    for (int i = 0; i < nstart; i++) {
        if (seen_before(before, nbefore, start[i].tid))
            continue;
        long end = proc_thread_ctxsw(start[i].tid);
        double rate = end < 0 ? NAN : (double)(end - start[i].ctxsw) / seconds;
        char key[32];
        snprintf(key, sizeof key, "thread%d", nnew++);
        result_text(key, "%d %s %.2f", (int)start[i].tid,
                    start[i].comm[0] ? start[i].comm : "?", rate);
        if (!isnan(rate))
            total += rate;
    }
    result_number("threads_new", nnew);
    result_number("wakeups_per_s", total);
}

static int idle_child(int argc, char **argv, variant_kind_t kind)
{
    int nsockets = (int)child_param_long(argc, argv, "sockets", 1000);
    int seconds = (int)child_param_long(argc, argv, "seconds", 5);
    raise_fd_limit();
    helper_t server;
    int port;
    if (helper_start(&server, echo_server, NULL) != 0 ||
        pipe_read_int(server.from_helper, &port, 10000) != 0) {
        result_error("the echo server did not start");
        return 1;
    }
    variant_options_t opts;
    child_options(argc, argv, &opts);
    opts.max_sockets = 3 * nsockets + 100;
    char err[1024] = "";
    variant_t *v = NULL;
    thread_sample_t before[MAX_THREADS];
    int nbefore = 0;
    int rc = variant_new(&v, kind, &opts, err, sizeof err);
    if (rc == 0) {
        /* libzmq starts its threads with the first socket: before
         * zmqsink's, so that they are not taken for zmqsink's. */
        void *first = socket_new(variant_ctx(v), ZMQ_DEALER);
        if (first)
            zmq_close(first);
        nbefore = proc_sample_threads(before, MAX_THREADS);
        rc = variant_start(v, err, sizeof err);
    }
    if (rc == 0)
        rc = idle_sockets(v, nsockets, port, err, sizeof err);
    if (rc == 0) {
        sleep_ms(SETTLE_MS);
        idle_window(before, nbefore < MAX_THREADS ? nbefore : MAX_THREADS, seconds);
    }
    variant_counts_t counts;
    rc = child_stop_variant(&v, &counts, rc, err, sizeof err);
    helper_finish(&server, 5000);
    if (rc != 0)
        result_error("%s", err);
    report_usage();
    return 0;
}

/* A thread's role, by the name zmqsink gives it (top -H shows it). */
static const char *thread_role(const char *comm)
{
    if (strcmp(comm, "zs-collector") == 0)
        return "collector";
    if (strcmp(comm, "zs-report") == 0)
        return "report (losses, stats file)";
    return strncmp(comm, "zs:", 3) == 0 ? "sink worker" : "?";
}

/* Prints one row per thread of a run's report ("tid comm rate"). */
static void idle_rows(const char *config, const results_t *result)
{
    for (int i = 0;; i++) {
        char key[32];
        snprintf(key, sizeof key, "thread%d", i);
        const char *text = results_text(result, key);
        if (!text)
            break;
        int tid;
        char comm[32];
        double rate;
        if (sscanf(text, "%d %31s %lf", &tid, comm, &rate) == 3)
            printf("| %s | %d | %s | %s | %.2f |\n", config, tid, comm,
                   thread_role(comm), rate);
    }
}

static void idle_report(const bench_settings_t *settings)
{
    const char *variants[] = {"zmqsink", "zmqsink-statsd"};
    const char *configs[] = {"file sink", "statsd sink (flush_interval 1s)"};
    params_t params = {0};
    params_add(&params, "sockets", settings->idle_sockets);
    params_add(&params, "seconds", settings->idle_seconds);
    params_add(&params, "udp", settings->udp_port);
    runs_t runs;
    if (runs_execute(&runs, settings, "idle", variants, 2, 1, &params, 300) != 0)
        return;
    printf("## idle: wake-ups of zmqsink's threads with nothing happening\n\n");
    printf("%d sockets attached and connected, then %d s without an event: "
           "voluntary + involuntary context switches per second of each thread "
           "that appeared with zmqsink_start() and the attaches "
           "(/proc/self/task/TID/status).\n\n",
           settings->idle_sockets, settings->idle_seconds);
    printf("| config | tid | name | role | wake-ups/s |\n"
           "|---|---:|---|---|---:|\n");
    const results_t *result = runs_result(&runs, 0, 0);
    if (result)
        idle_rows(configs[0], result);
    if ((result = runs_result(&runs, 1, 0)))
        idle_rows(configs[1], result);
    printf("\n");
    runs_print_errors(&runs);
    double file = runs_median(&runs, 0, "wakeups_per_s");
    double statsd = runs_median(&runs, 1, "wakeups_per_s");
    char text[96];
    snprintf(text, sizeof text, "%s/s over %s threads", fmt_num(file, 2),
             fmt_num(runs_median(&runs, 0, "threads_new"), 0));
    target_add("idle: wake-ups with a file sink", "none", text,
               isnan(file) ? -1 : file < 0.5);
    snprintf(text, sizeof text, "%s/s over %s threads", fmt_num(statsd, 2),
             fmt_num(runs_median(&runs, 1, "threads_new"), 0));
    /* One flush a second, give or take the window's edges. */
    target_add("idle: wake-ups with a statsd sink", "its tick interval (1/s)", text,
               isnan(statsd) ? -1 : statsd <= 1.5);
    printf("\n");
    runs_free(&runs);
}

const benchmark_t idle_benchmark = {"idle", idle_child, idle_report};
