/* storm: as many events as libzmq makes. DEALERs with ZMQ_RECONNECT_IVL 1
 * connect to a port of 127.0.0.1 where nothing listens, for T seconds:
 * connect_delayed, closed and connect_retried without pause. How many
 * events each consumer delivers in the window, what it drops, what CPU it
 * takes. A consumer that cannot keep up makes libzmq wait (the reader,
 * zmonitor: fewer events are made) or drops and counts (zmqsink). */
#include "bench.h"

#include "measure.h"
#include "workload.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

static int storm_sockets(variant_t *v, int nsockets, int port, char *err,
                         size_t errlen)
{
    char endpoint[64];
    loopback_endpoint(endpoint, sizeof endpoint, port);
    void **dealers = calloc((size_t)nsockets, sizeof *dealers);
    if (!dealers) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = 0;
    for (int i = 0; rc == 0 && i < nsockets; i++) {
        int ivl = 1;
        dealers[i] = socket_new(variant_ctx(v), ZMQ_DEALER);
        if (!dealers[i] ||
            zmq_setsockopt(dealers[i], ZMQ_RECONNECT_IVL, &ivl, sizeof ivl) != 0) {
            snprintf(err, errlen, "socket %d: %s", i, zmq_strerror(zmq_errno()));
            if (dealers[i])
                zmq_close(dealers[i]);
            rc = -1;
        } else if (variant_attach(v, dealers[i], i, err, errlen) != 0) {
            zmq_close(dealers[i]);
            rc = -1;
        }
    }
    if (rc == 0)
        rc = variant_begin(v, err, errlen);
    for (int i = 0; rc == 0 && i < nsockets; i++)
        if (zmq_connect(dealers[i], endpoint) != 0) {
            snprintf(err, errlen, "connect: %s", zmq_strerror(zmq_errno()));
            rc = -1;
        }
    free(dealers); /* the variant closes them */
    return rc;
}

static int storm_child(int argc, char **argv, variant_kind_t kind)
{
    int nsockets = (int)child_param_long(argc, argv, "sockets", 10);
    int seconds = (int)child_param_long(argc, argv, "seconds", 2);
    variant_options_t opts;
    child_options(argc, argv, &opts);
    /* zmonitor takes five sockets per monitored one (its actor's pipe,
     * its reader, libzmq's monitor, the socket). */
    opts.max_sockets = 6 * nsockets + 100;
    raise_fd_limit();
    char err[1024] = "";
    int refused_fd, port = refused_port(&refused_fd);
    variant_t *v = NULL;
    variant_counts_t window = {0}, counts = {0};
    int rc = -1;
    if (port < 0)
        snprintf(err, sizeof err, "no port to refuse connections: %s", strerror(errno));
    else
        rc = variant_new(&v, kind, &opts, err, sizeof err);
    if (rc == 0)
        rc = variant_start(v, err, sizeof err);
    if (rc == 0)
        rc = storm_sockets(v, nsockets, port, err, sizeof err);
    usage_t before = {0}, after = {0};
    long long opens_before = -1, opens_after = -1;
    thread_cpu_t cpu_before = {0}, cpu_after = {0};
    if (rc == 0) {
        usage_self(&before);
        proc_thread_cpu(&cpu_before);
        opens_before = tcp_active_opens();
        sleep_ms(seconds * 1000);
        opens_after = tcp_active_opens();
        proc_thread_cpu(&cpu_after);
        variant_counts_so_far(v, &window);
        usage_self(&after);
    }
    rc = child_stop_variant(&v, &counts, rc, err, sizeof err);
    if (refused_fd >= 0)
        close(refused_fd);
    if (rc != 0)
        result_error("%s", err);
    if (opens_before >= 0 && opens_after > opens_before) {
        double attempts = (double)(opens_after - opens_before);
        result_number("attempts_per_s", attempts / seconds);
        result_number("libzmq_us_per_attempt",
                      (cpu_after.libzmq_ns - cpu_before.libzmq_ns) / 1000 / attempts);
    }
    result_number("window_events", (double)window.events);
    result_number("window_decoded", (double)window.decoded);
    result_number("events_per_s", (double)window.events / seconds);
    result_number("decoded_per_s", (double)window.decoded / seconds);
    result_number("events", (double)counts.events);
    result_number("dropped", (double)(counts.dropped_full + counts.dropped_shutdown));
    result_number("failed", (double)counts.failed);
    result_number("window_cpu_us", after.cpu_us - before.cpu_us);
    result_number("window_ctxsw", (double)(after.nvcsw + after.nivcsw - before.nvcsw -
                                           before.nivcsw));
    report_usage();
    return 0;
}

static void storm_table(const bench_settings_t *settings, int nsockets,
                        bool busy, double *ratio, double *zmqsink_dropped)
{
    const char *all[] = {"none", "reader", "zmonitor", "zmqsink"};
    const char *variants[4];
    int nvariants = variants_available(all, 4, variants);
    params_t params = {0};
    params_add(&params, "sockets", nsockets);
    params_add(&params, "seconds", settings->storm_seconds);
    runs_t runs;
    pid_t load[64];
    int nload = busy ? background_load_start(load, 64) : 0;
    int rc = runs_execute(&runs, settings, "storm", variants, nvariants,
                          settings->storm_rounds, &params, 120);
    background_load_stop(load, nload);
    if (rc != 0)
        return;
    int none = runs_variant(&runs, "none");
    for (int v = 0; v < nvariants; v++) {
        bool monitored = v != none;
        double cpu_s = runs_median(&runs, v, "window_cpu_us") / 1e6;
        printf("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", nsockets,
               busy ? "busy" : "idle", variants[v],
               fmt_num(runs_median(&runs, v, "attempts_per_s"), 0),
               fmt_num(runs_median(&runs, v, "libzmq_us_per_attempt"), 1),
               monitored ? fmt_num(runs_median(&runs, v, "events_per_s"), 0) : "-",
               monitored ? fmt_num(runs_median(&runs, v, "decoded_per_s"), 0) : "-",
               monitored ? fmt_num(runs_median(&runs, v, "dropped"), 0) : "-",
               monitored ? fmt_num(runs_median(&runs, v, "failed"), 0) : "-",
               fmt_num(100 * cpu_s / settings->storm_seconds, 0),
               monitored ? fmt_num(runs_median_extra(&runs, v, none, "window_cpu_us",
                                                     "window_events"), 2)
                         : "-");
    }
    int z = runs_variant(&runs, "zmqsink"), r = runs_variant(&runs, "reader");
    *ratio = runs_median(&runs, z, "events_per_s") / runs_median(&runs, r, "events_per_s");
    *zmqsink_dropped = runs_median(&runs, z, "dropped");
    runs_print_errors(&runs);
    runs_free(&runs);
}

static void storm_report(const bench_settings_t *settings)
{
    double ratios[2][MAX_SIZES], dropped[2][MAX_SIZES];
    printf("## storm: reconnecting to a refused port with ZMQ_RECONNECT_IVL=1\n\n");
    printf("%d s per run, median of %d rounds. *delivered/s*: events the consumer "
           "got (lines written; zmqsink: its file sink's delivered) within the "
           "window. *decoded/s*: zmqsink's collector. CPU: the process's, over "
           "the window, in %% of one core (two cores: up to 200%%); *extra CPU "
           "us/event*: over `none` in the same round, per delivered event.\n\n"
           "The storm's pace is the application's: libzmq reconnects each socket "
           "on a 1 ms timer, and its I/O thread wakes late from an idle CPU of "
           "this virtual machine, so the events/s a variant sees depend on how "
           "busy it keeps the CPUs, not only on how fast it reads. Each size "
           "therefore runs twice: with the CPUs left *idle*, and kept *busy* by "
           "a nice 19 busy loop per CPU (in processes of their own, outside the "
           "CPU figures). *connects/s*: the application's connection attempts "
           "(TCP ActiveOpens of /proc/net/snmp), which sets the events' pace, "
           "also without monitoring; *libzmq us/connect*: the CPU time of "
           "libzmq's I/O thread per attempt, which does the reconnecting and "
           "makes the monitor's messages.\n\n",
           settings->storm_seconds, settings->storm_rounds);
    printf("| sockets | CPUs | variant | connects/s | libzmq us/connect "
           "| delivered/s | decoded/s | dropped | failed | CPU %% "
           "| extra CPU us/event |\n"
           "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int busy = 0; busy < 2; busy++)
        for (int i = 0; i < settings->nstorm_sizes; i++) {
            ratios[busy][i] = dropped[busy][i] = NAN;
            storm_table(settings, settings->storm_sizes[i], busy,
                        &ratios[busy][i], &dropped[busy][i]);
        }
    printf("\n");
    for (int busy = 0; busy < 2; busy++)
        for (int i = 0; i < settings->nstorm_sizes; i++) {
            double ratio = ratios[busy][i], lost = dropped[busy][i];
            const char *cpus = busy ? "busy" : "idle";
            printf("- %d sockets, CPUs %s: zmqsink delivered/s ÷ reader "
                   "delivered/s: **%s**, zmqsink dropped %s\n",
                   settings->storm_sizes[i], cpus, fmt_ratio(ratio),
                   fmt_num(lost, 0));
            char what[128], text[64];
            snprintf(what, sizeof what,
                     "storm, %d sockets, CPUs %s: zmqsink events/s vs reader's, "
                     "drops",
                     settings->storm_sizes[i], cpus);
            snprintf(text, sizeof text, "%s, %s dropped", fmt_ratio(ratio),
                     fmt_num(lost, 0));
            target_add(what, ">= 1x, 0 dropped", text,
                       isnan(ratio) ? -1 : ratio >= 1.0 && lost == 0);
        }
    printf("\n");
}

const benchmark_t storm_benchmark = {"storm", storm_child, storm_report};
