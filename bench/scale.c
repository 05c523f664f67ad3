/* scale: what K attached sockets cost (memory, threads, fds) and how long
 * an event takes from the application's call to the consumer, in a burst
 * (K connects in a tight loop) and sparse (one zmq_bind() at a time, whose
 * `listening` libzmq emits inside the call). The DEALERs connect to an
 * echo server in a helper process, so that only their side counts. */
#include "bench.h"

#include "measure.h"
#include "workload.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>
#include <zmqsink.h>

/* fds per socket: its mailbox and its TCP connection; a monitor adds
 * libzmq's monitor socket and the reader's (mailboxes). */
#define FDS_PER_SOCKET 2
#define FDS_PER_MONITOR 2
#define FDS_SPARE 256
#define WAIT_MS 20000

/* What the consumer's thread records for the main thread. */
typedef struct latency_log {
    int nsockets;
    _Atomic int64_t *connected;        /* received_ns of the first connected */
    _Atomic int64_t *connected_stamp;  /* its stamped_ns (zmqsink) */
    _Atomic int ncconnected;
    _Atomic int64_t *listening;        /* received_ns of the last listening */
    _Atomic int64_t *listening_stamp;
} latency_log_t;

static void record_event(void *arg, int socket, uint32_t type,
                         int64_t received_ns, int64_t stamped_ns)
{
    latency_log_t *log = arg;
    if (socket < 0 || socket >= log->nsockets)
        return;
    if (type == ZMQSINK_EVENT_CONNECTED) {
        int64_t unset = 0;
        if (atomic_compare_exchange_strong(&log->connected[socket], &unset, received_ns)) {
            atomic_store(&log->connected_stamp[socket], stamped_ns);
            atomic_fetch_add(&log->ncconnected, 1);
        }
    } else if (type == ZMQSINK_EVENT_LISTENING) {
        atomic_store(&log->listening_stamp[socket], stamped_ns);
        atomic_store(&log->listening[socket], received_ns);
    }
}

static int latency_log_init(latency_log_t *log, int nsockets)
{
    log->nsockets = nsockets;
    log->connected = calloc((size_t)nsockets, sizeof *log->connected);
    log->connected_stamp = calloc((size_t)nsockets, sizeof *log->connected_stamp);
    log->listening = calloc((size_t)nsockets, sizeof *log->listening);
    log->listening_stamp = calloc((size_t)nsockets, sizeof *log->listening_stamp);
    return log->connected && log->connected_stamp && log->listening &&
                   log->listening_stamp
               ? 0
               : -1;
}

static void latency_log_free(latency_log_t *log)
{
    free(log->connected);
    free(log->connected_stamp);
    free(log->listening);
    free(log->listening_stamp);
}

/* Reports p50, p99 and max of n latencies (us) under prefix. */
static void report_percentiles(const char *prefix, double *us, size_t n)
{
    char key[64];
    snprintf(key, sizeof key, "%s_n", prefix);
    result_number(key, (double)n);
    if (n == 0)
        return;
    snprintf(key, sizeof key, "%s_p50_us", prefix);
    result_number(key, percentile(us, n, 0.5));
    snprintf(key, sizeof key, "%s_p99_us", prefix);
    result_number(key, percentile(us, n, 0.99));
    snprintf(key, sizeof key, "%s_max_us", prefix);
    result_number(key, percentile(us, n, 1.0));
}

static void report_footprint(const char *when)
{
    char key[64];
    snprintf(key, sizeof key, "rss_%s_kib", when);
    result_number(key, (double)proc_rss_kib());
    snprintf(key, sizeof key, "threads_%s", when);
    result_number(key, proc_count_threads());
    snprintf(key, sizeof key, "fds_%s", when);
    result_number(key, proc_count_fds());
}

/* The scale workload on a started variant: K dealers made and attached,
 * the burst, the sparse binds. Returns 0, or -1 with err. */
typedef struct scale_run {
    int nsockets, samples, gap_ms, port;
    bool consumer;
    void **dealers;
    int64_t *connect_ns;
    latency_log_t log;
} scale_run_t;

static int scale_attach(scale_run_t *run, variant_t *v, char *err, size_t errlen)
{
    for (int i = 0; i < run->nsockets; i++) {
        run->dealers[i] = socket_new(variant_ctx(v), ZMQ_DEALER);
        int timeout = WAIT_MS;
        if (!run->dealers[i] ||
            zmq_setsockopt(run->dealers[i], ZMQ_RCVTIMEO, &timeout, sizeof timeout) != 0) {
            snprintf(err, errlen, "socket %d: %s", i, zmq_strerror(zmq_errno()));
            if (run->dealers[i])
                zmq_close(run->dealers[i]);
            return -1;
        }
        /* Attached, the variant closes it; else it is closed here. */
        if (variant_attach(v, run->dealers[i], i, err, errlen) != 0) {
            zmq_close(run->dealers[i]);
            return -1;
        }
    }
    return variant_begin(v, err, errlen);
}

/* Waits until the consumer has seen every socket's connected, bounded. */
static void wait_connected(scale_run_t *run)
{
    int64_t deadline = clock_monotonic_ns() + (int64_t)WAIT_MS * 1000000;
    while (run->consumer && atomic_load(&run->log.ncconnected) < run->nsockets &&
           clock_monotonic_ns() < deadline)
        sleep_ms(1);
}

/* How long the threads of each role waited for a CPU between two samples,
 * and how often the monitoring's threads were given one: the contention
 * the burst's latencies come from. */
static void report_waits(const char *when, const thread_cpu_t *before,
                         const thread_cpu_t *after, int64_t window_ns)
{
    char key[64];
    const struct {
        const char *role;
        double value;
    } waits[] = {
        {"window_ms", (double)window_ns / 1e6},
        {"wait_app_ms", (after->app_wait_ns - before->app_wait_ns) / 1e6},
        {"wait_libzmq_ms", (after->libzmq_wait_ns - before->libzmq_wait_ns) / 1e6},
        {"wait_monitor_ms", (after->monitor_wait_ns - before->monitor_wait_ns) / 1e6},
        {"runs_monitor", after->monitor_runs - before->monitor_runs},
    };
    for (size_t i = 0; i < sizeof waits / sizeof *waits; i++) {
        snprintf(key, sizeof key, "%s_%s", when, waits[i].role);
        result_number(key, waits[i].value);
    }
}

static int scale_burst(scale_run_t *run, char *err, size_t errlen)
{
    char endpoint[64];
    loopback_endpoint(endpoint, sizeof endpoint, run->port);
    thread_cpu_t before = {0}, after = {0};
    bool sampled = proc_thread_cpu(&before) == 0;
    int64_t began = clock_monotonic_ns();
    for (int i = 0; i < run->nsockets; i++) {
        run->connect_ns[i] = clock_realtime_ns();
        if (zmq_connect(run->dealers[i], endpoint) != 0) {
            snprintf(err, errlen, "connect %d: %s", i, zmq_strerror(zmq_errno()));
            return -1;
        }
    }
    /* An echo from each: every connection is up, whatever the variant. */
    for (int i = 0; i < run->nsockets; i++)
        zmq_send(run->dealers[i], "hi", 2, 0);
    char reply[8];
    for (int i = 0; i < run->nsockets; i++)
        if (zmq_recv(run->dealers[i], reply, sizeof reply, 0) < 0) {
            snprintf(err, errlen, "no echo for socket %d: %s", i,
                     zmq_strerror(zmq_errno()));
            return -1;
        }
    wait_connected(run);
    if (sampled && proc_thread_cpu(&after) == 0)
        report_waits("burst", &before, &after, clock_monotonic_ns() - began);
    double *us = calloc((size_t)run->nsockets, sizeof *us);
    double *stamp_us = calloc((size_t)run->nsockets, sizeof *stamp_us);
    size_t n = 0, nstamp = 0;
    for (int i = 0; us && stamp_us && i < run->nsockets; i++) {
        int64_t got = atomic_load(&run->log.connected[i]);
        int64_t stamped = atomic_load(&run->log.connected_stamp[i]);
        if (got > 0)
            us[n++] = (double)(got - run->connect_ns[i]) / 1000;
        if (got > 0 && stamped > 0)
            stamp_us[nstamp++] = (double)(got - stamped) / 1000;
    }
    report_percentiles("burst", us, n);
    report_percentiles("burst_stamp", stamp_us, nstamp);
    free(us);
    free(stamp_us);
    return 0;
}

/* One sparse sample: binds socket i to a fresh port (libzmq emits its
 * `listening` inside zmq_bind()), waits for the consumer to get it, and
 * unbinds. Returns the latency in us from the call, or NAN; *after_us from
 * the call's return (zmq_bind() takes its own time: the syscalls of a
 * listening socket), *stamp_us zmqsink's own part. */
static double sparse_sample(scale_run_t *run, int i, double *after_us,
                            double *stamp_us)
{
    atomic_store(&run->log.listening[i], 0);
    atomic_store(&run->log.listening_stamp[i], 0);
    int64_t start = clock_realtime_ns();
    if (zmq_bind(run->dealers[i], "tcp://127.0.0.1:*") != 0)
        return NAN;
    int64_t returned = clock_realtime_ns();
    int64_t deadline = clock_monotonic_ns() + 1000000000;
    int64_t got;
    while ((got = atomic_load(&run->log.listening[i])) == 0 &&
           clock_monotonic_ns() < deadline) {
        struct timespec pause = {0, 20000};
        nanosleep(&pause, NULL);
    }
    char endpoint[256];
    size_t len = sizeof endpoint;
    if (zmq_getsockopt(run->dealers[i], ZMQ_LAST_ENDPOINT, endpoint, &len) == 0)
        zmq_unbind(run->dealers[i], endpoint);
    int64_t stamped = atomic_load(&run->log.listening_stamp[i]);
    *stamp_us = got > 0 && stamped > 0 ? (double)(got - stamped) / 1000 : NAN;
    *after_us = got > 0 ? (double)(got - returned) / 1000 : NAN;
    return got > 0 ? (double)(got - start) / 1000 : NAN;
}

static void scale_sparse(scale_run_t *run)
{
    double *us = calloc((size_t)run->samples + 1, sizeof *us);
    double *after_us = calloc((size_t)run->samples + 1, sizeof *after_us);
    double *stamp_us = calloc((size_t)run->samples + 1, sizeof *stamp_us);
    size_t n = 0, nstamp = 0;
    for (int j = 0; us && after_us && stamp_us && j < run->samples; j++) {
        /* Spread over the sockets, so none is favoured. */
        int i = (int)(((long)j * 7919) % run->nsockets);
        double after, stamp;
        double latency = sparse_sample(run, i, &after, &stamp);
        if (!isnan(latency)) {
            after_us[n] = after;
            us[n++] = latency;
        }
        if (!isnan(stamp))
            stamp_us[nstamp++] = stamp;
        sleep_ms(run->gap_ms);
    }
    report_percentiles("sparse", us, n);
    report_percentiles("sparse_after", after_us, n);
    report_percentiles("sparse_stamp", stamp_us, nstamp);
    result_number("sparse_lost", (double)(run->samples - (int)n));
    free(us);
    free(after_us);
    free(stamp_us);
}

static int scale_workload(scale_run_t *run, variant_t *v, char *err, size_t errlen)
{
    if (variant_start(v, err, errlen) != 0)
        return -1;
    report_footprint("start");
    if (scale_attach(run, v, err, errlen) != 0)
        return -1;
    report_footprint("setup");
    if (scale_burst(run, err, errlen) != 0)
        return -1;
    report_footprint("burst");
    if (run->consumer)
        scale_sparse(run);
    return 0;
}

static int scale_child(int argc, char **argv, variant_kind_t kind)
{
    scale_run_t run = {
        .nsockets = (int)child_param_long(argc, argv, "sockets", 10),
        .samples = (int)child_param_long(argc, argv, "samples", 100),
        .gap_ms = (int)child_param_long(argc, argv, "gap_ms", 5),
        .consumer = kind != VARIANT_NONE,
    };
    long limit = raise_fd_limit();
    long needed = (long)run.nsockets * (FDS_PER_SOCKET + (run.consumer ? FDS_PER_MONITOR : 0)) +
                  FDS_SPARE;
    if (limit < needed) {
        result_error("%d sockets need about %ld fds, the hard limit is %ld (ulimit -Hn)",
                     run.nsockets, needed, limit);
        return 1;
    }
    helper_t server;
    if (helper_start(&server, echo_server, NULL) != 0 ||
        pipe_read_int(server.from_helper, &run.port, 10000) != 0) {
        result_error("the echo server did not start");
        return 1;
    }
    variant_options_t opts;
    child_options(argc, argv, &opts);
    opts.max_sockets = 3 * run.nsockets + 100;
    opts.io_threads = (int)child_param_long(argc, argv, "io_threads", 1);
    opts.on_event = record_event;
    opts.on_event_arg = &run.log;
    opts.on_event_mask = ZMQSINK_EVENT_CONNECTED | ZMQSINK_EVENT_LISTENING;
    run.dealers = calloc((size_t)run.nsockets, sizeof *run.dealers);
    run.connect_ns = calloc((size_t)run.nsockets, sizeof *run.connect_ns);
    char err[1024] = "";
    variant_t *v = NULL;
    int rc = -1;
    if (!run.dealers || !run.connect_ns || latency_log_init(&run.log, run.nsockets) != 0)
        snprintf(err, sizeof err, "out of memory");
    else if (variant_new(&v, kind, &opts, err, sizeof err) == 0)
        rc = scale_workload(&run, v, err, sizeof err);
    variant_counts_t counts;
    rc = child_stop_variant(&v, &counts, rc, err, sizeof err);
    helper_finish(&server, 5000);
    if (rc != 0)
        result_error("%s", err);
    result_number("events", (double)counts.events);
    result_number("dropped", (double)(counts.dropped_full + counts.dropped_shutdown));
    latency_log_free(&run.log);
    free(run.dealers);
    free(run.connect_ns);
    report_usage();
    return 0;
}

/* KiB per socket of v beyond base after `when`, median over rounds. */
static double kib_per_socket(const runs_t *runs, int v, int base, const char *when,
                             int nsockets)
{
    char key[64];
    snprintf(key, sizeof key, "rss_%s_kib", when);
    return runs_median_extra(runs, v, base, key, NULL) / nsockets;
}

static void memory_row(const runs_t *runs, int v, int nsockets)
{
    int none = runs_variant(runs, "none"), reader = runs_variant(runs, "reader");
    bool monitored = v != none;
    printf("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", nsockets,
           runs->variants[v],
           fmt_num(runs_median(runs, v, "rss_setup_kib") / 1024, 1),
           fmt_num(runs_median(runs, v, "rss_burst_kib") / 1024, 1),
           monitored ? fmt_num(kib_per_socket(runs, v, none, "setup", nsockets), 2) : "-",
           monitored ? fmt_num(kib_per_socket(runs, v, none, "burst", nsockets), 2) : "-",
           v != reader && monitored
               ? fmt_num(kib_per_socket(runs, v, reader, "setup", nsockets), 2)
               : "-",
           v != reader && monitored
               ? fmt_num(kib_per_socket(runs, v, reader, "burst", nsockets), 2)
               : "-",
           fmt_num(runs_median(runs, v, "threads_burst"), 0),
           monitored ? fmt_num(runs_median_extra(runs, v, none, "fds_burst", NULL) /
                                   nsockets, 2)
                     : "-");
}

static void latency_row(const runs_t *runs, int v, int nsockets)
{
    if (v == runs_variant(runs, "none"))
        return;
    bool stamped = !isnan(runs_median(runs, v, "burst_stamp_p50_us"));
    printf("| %d | %s | %s | %s | %s | %s | %s | %s | %s |", nsockets,
           runs->variants[v], fmt_num(runs_median(runs, v, "burst_p50_us"), 0),
           fmt_num(runs_median(runs, v, "burst_p99_us"), 0),
           fmt_num(runs_median(runs, v, "burst_max_us"), 0),
           fmt_num(runs_median(runs, v, "sparse_p50_us"), 0),
           fmt_num(runs_median(runs, v, "sparse_p99_us"), 0),
           fmt_num(runs_median(runs, v, "sparse_max_us"), 0),
           fmt_num(runs_median(runs, v, "sparse_after_p50_us"), 0));
    const char *own[] = {"burst_stamp_p50_us", "burst_stamp_p99_us",
                         "sparse_stamp_p50_us", "sparse_stamp_p99_us"};
    for (int i = 0; i < 4; i++)
        printf(" %s |", stamped ? fmt_num(runs_median(runs, v, own[i]), 0) : "-");
    printf("\n");
}

static void contention_row(const runs_t *runs, int v, int nsockets)
{
    if (v == runs_variant(runs, "none"))
        return;
    double wait = runs_median(runs, v, "burst_wait_monitor_ms");
    double given = runs_median(runs, v, "burst_runs_monitor");
    printf("| %d | %s | %s | %s | %s | %s | %s | %s |\n", nsockets, runs->variants[v],
           fmt_num(runs_median(runs, v, "burst_window_ms"), 1),
           fmt_num(runs_median(runs, v, "burst_wait_app_ms"), 1),
           fmt_num(runs_median(runs, v, "burst_wait_libzmq_ms"), 1),
           fmt_num(wait, 1), fmt_num(given, 0),
           given > 0 ? fmt_num(wait * 1000 / given, 0) : "-");
}

/* Everything the scale section prints, per socket count. */
typedef struct scale_table {
    int nsockets;
    runs_t runs;
    bool ran;
} scale_table_t;

/* Prints row() of each variant of each socket count that ran. */
static void table_rows(const scale_table_t *tables, int ntables,
                       void (*row)(const runs_t *runs, int v, int nsockets))
{
    for (int i = 0; i < ntables; i++)
        for (int v = 0; tables[i].ran && v < tables[i].runs.nvariants; v++)
            row(&tables[i].runs, v, tables[i].nsockets);
}

static void scale_targets(const scale_table_t *tables, int ntables)
{
    char text[160];
    const scale_table_t *at1000 = NULL, *largest = NULL;
    for (int i = 0; i < ntables; i++) {
        if (!tables[i].ran)
            continue;
        if (tables[i].nsockets == 1000)
            at1000 = &tables[i];
        int z = runs_variant(&tables[i].runs, "zmqsink");
        if (!isnan(runs_median(&tables[i].runs, z, "rss_setup_kib")))
            largest = &tables[i];
    }
    if (at1000) {
        /* Judged on zmqsink's own part. In a burst: collector→sink, plus
         * the longest an event waits in its monitor's pipe while events
         * flow (the collector reads at most every 1 ms then, zmqsink(3));
         * from the call, libzmq connecting the sockets one by one decides.
         * Sparse: from zmq_bind()'s return, since libzmq emits `listening`
         * at the end of the call, after the listening socket's syscalls. */
        int z = runs_variant(&at1000->runs, "zmqsink");
        double own = runs_median(&at1000->runs, z, "burst_stamp_p99_us") + 1000;
        double p50 = runs_median(&at1000->runs, z, "sparse_after_p50_us");
        snprintf(text, sizeof text,
                 "%s us: collector→sink p99 + 1000 us in the pipe (from the call: "
                 "%s us, libzmq's)",
                 fmt_num(own, 0),
                 fmt_num(runs_median(&at1000->runs, z, "burst_p99_us"), 0));
        target_add("latency: zmqsink's own p99, burst of 1000 sockets", "<= 2 ms",
                   text, isnan(own) ? -1 : own <= 2000);
        snprintf(text, sizeof text,
                 "%s us from zmq_bind()'s return (%s us from the call, which "
                 "takes its own time first; 1000 sockets)",
                 fmt_num(p50, 0),
                 fmt_num(runs_median(&at1000->runs, z, "sparse_p50_us"), 0));
        target_add("latency: zmqsink p50, sparse events", "<= 100 us", text,
                   isnan(p50) ? -1 : p50 <= 100);
    }
    if (largest) {
        const runs_t *runs = &largest->runs;
        int z = runs_variant(runs, "zmqsink"), r = runs_variant(runs, "reader");
        int none = runs_variant(runs, "none");
        double kib = kib_per_socket(runs, z, r, "setup", largest->nsockets);
        snprintf(text, sizeof text,
                 "%s KiB (%d sockets, after attach; %s after the burst, whose "
                 "events touch pages of the sinks' rings)",
                 fmt_num(kib, 2), largest->nsockets,
                 fmt_num(kib_per_socket(runs, z, r, "burst", largest->nsockets), 2));
        target_add("memory: zmqsink per socket beyond libzmq's own (beyond reader)",
                   "<= 1 KiB", text, isnan(kib) ? -1 : kib <= 1.0);
        double threads = runs_median_extra(runs, z, none, "threads_burst", NULL);
        snprintf(text, sizeof text, "%s (file sink + latency callback: 2 sinks)",
                 fmt_num(threads, 0));
        target_add("threads: zmqsink's, beyond none", "1 + 1 per sink = 3", text,
                   isnan(threads) ? -1 : threads <= 3);
    }
}

static void scale_report(const bench_settings_t *settings)
{
    const char *variants[] = {"none", "reader", "zmqsink"};
    scale_table_t tables[MAX_SIZES];
    int ntables = settings->nscale_sizes;
    for (int i = 0; i < ntables; i++) {
        tables[i].nsockets = settings->scale_sizes[i];
        params_t params = {0};
        params_add(&params, "sockets", tables[i].nsockets);
        params_add(&params, "samples", settings->sparse_samples);
        params_add(&params, "gap_ms", settings->sparse_gap_ms);
        tables[i].ran = runs_execute(&tables[i].runs, settings, "scale", variants, 3,
                                     settings->scale_rounds, &params, 300) == 0;
    }
    printf("## scale: memory, threads, fds and latency with K sockets\n\n");
    printf("K DEALERs attached, then connected in a tight loop to an echo server "
           "in a helper process (the burst), then %d sparse samples %d ms apart: "
           "zmq_bind() of a fresh port on one attached socket, whose `listening` "
           "libzmq emits inside the call. Median of %d rounds. RSS is VmRSS "
           "after attaching (setup) and once every socket has connected and "
           "echoed (burst). *beyond reader* is zmqsink's own memory: the reader "
           "pays libzmq's two monitor sockets per socket as zmqsink does.\n\n",
           settings->sparse_samples, settings->sparse_gap_ms, settings->scale_rounds);
    printf("| K | variant | RSS setup MiB | RSS burst MiB | KiB/socket beyond none, "
           "setup | burst | KiB/socket beyond reader, setup | burst | threads | "
           "fds/socket beyond none |\n");
    printf("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    table_rows(tables, ntables, memory_row);
    printf("\nLatency from the application's call (zmq_connect(), zmq_bind()) to "
           "the consumer, us (CLOCK_REALTIME on both sides; zmqsink's consumer is "
           "a callback sink). The burst's figures are mostly libzmq's: its I/O "
           "thread connects the K sockets one after the other. zmq_bind() takes "
           "its own time (the syscalls of a listening socket: about 200 us on "
           "this machine), so the sparse latency is also given from the call's "
           "return. *collector→sink*: zmqsink's own part, from the collector's "
           "decoding of the event (event->time_ns) to the callback.\n\n");
    printf("| K | variant | burst p50 | burst p99 | burst max | sparse p50 | "
           "sparse p99 | sparse max | sparse p50 from bind's return | "
           "collector→sink: burst p50 | burst p99 | sparse p50 | sparse p99 |\n");
    printf("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    table_rows(tables, ntables, latency_row);
    printf("\nWaiting for a CPU during the burst (from its first zmq_connect() until "
           "the consumer got every `connected`; /proc/self/task/TID/schedstat): "
           "ms the threads of each role were runnable but not running, and how "
           "many times the monitoring's threads (zmqsink's collector and sink "
           "threads, or the reader's thread) were given a CPU. The burst keeps "
           "both CPUs of this machine busy; an event waits as long as the thread "
           "that carries it waits, so the monitoring's longest waits set the "
           "collector→sink p99 above.\n\n");
    printf("| K | variant | burst ms | application waited ms | libzmq waited ms | "
           "monitoring waited ms | monitoring runs | monitoring wait per run us |\n");
    printf("|---:|---|---:|---:|---:|---:|---:|---:|\n");
    table_rows(tables, ntables, contention_row);
    printf("\n");
    for (int i = 0; i < ntables; i++)
        if (tables[i].ran)
            runs_print_errors(&tables[i].runs);
    printf("\n");
    scale_targets(tables, ntables);
    for (int i = 0; i < ntables; i++)
        if (tables[i].ran)
            runs_free(&tables[i].runs);
}

const benchmark_t scale_benchmark = {"scale", scale_child, scale_report};
