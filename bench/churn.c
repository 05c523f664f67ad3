/* churn: the CPU and context switches each monitor event costs. A ROUTER
 * (the only socket monitored) serves short DEALER connections (connect,
 * one message, its answer, close) made by a helper process, so that only
 * the server's side counts in the child; about three events per
 * connection (accepted, handshake_succeeded, disconnected).
 * soak: the same churn for minutes with zmqsink_reload() every few
 * seconds, watching zmqsink's memory. */
#include "bench.h"

#include "measure.h"
#include "workload.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <zmq.h>

/* The churn's server with its variant: what churn and soak share. */
typedef struct churn_server {
    helper_t clients;
    bool clients_started;
    variant_t *variant;
    void *router;
    bool attached;
    variant_options_t opts;
    char err[1024];
} churn_server_t;

/* Starts the clients' helper, the variant and the monitored ROUTER, and
 * tells the clients where to connect. Returns 0, or -1 with s->err. */
static int churn_server_open(churn_server_t *s, int argc, char **argv,
                             variant_kind_t kind, churn_plan_t *plan)
{
    child_options(argc, argv, &s->opts);
    /* Before any context: a forked context is unusable. */
    if (helper_start(&s->clients, churn_clients, plan) != 0) {
        snprintf(s->err, sizeof s->err, "cannot fork the clients");
        return -1;
    }
    s->clients_started = true;
    if (variant_new(&s->variant, kind, &s->opts, s->err, sizeof s->err) != 0)
        return -1;
    s->router = socket_new(variant_ctx(s->variant), ZMQ_ROUTER);
    int port = s->router ? socket_bind_loopback(s->router) : -1;
    if (port < 0) {
        snprintf(s->err, sizeof s->err, "router: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    if (variant_start(s->variant, s->err, sizeof s->err) != 0)
        return -1;
    if (variant_attach(s->variant, s->router, 0, s->err, sizeof s->err) != 0)
        return -1;
    s->attached = true;
    if (variant_begin(s->variant, s->err, sizeof s->err) != 0)
        return -1;
    if (pipe_write_int(s->clients.to_helper, port) != 0) {
        snprintf(s->err, sizeof s->err, "cannot reach the clients");
        return -1;
    }
    return 0;
}

/* Ends the clients (those of a plan with a number of connections say when
 * they are done; the others are told to stop), then the variant (closing
 * the ROUTER); fills counts when the variant could stop. Returns 0, or -1
 * with s->err. */
static int churn_server_close(churn_server_t *s, const churn_plan_t *plan,
                              variant_counts_t *counts)
{
    int rc = 0, served;
    if (s->clients_started && plan->conns >= 0)
        pipe_read_int(s->clients.from_helper, &served, 30000);
    if (s->clients_started && helper_finish(&s->clients, 30000) != 0) {
        snprintf(s->err, sizeof s->err, "the clients did not all finish");
        rc = -1;
    }
    s->clients_started = false;
    /* The last clients' disconnects reach the server a moment later. */
    sleep_ms(100);
    thread_cpu_t cpu;
    if (proc_thread_cpu(&cpu) == 0) { /* before the threads end */
        result_number("app_cpu_us", cpu.app_ns / 1000);
        result_number("libzmq_cpu_us", cpu.libzmq_ns / 1000);
        result_number("monitor_cpu_us", cpu.monitor_ns / 1000);
    }
    if (s->variant && s->attached &&
        variant_stop(s->variant, counts, s->err, sizeof s->err) != 0)
        rc = -1;
    if (s->router && !s->attached)
        zmq_close(s->router);
    variant_destroy(&s->variant);
    return rc;
}

static void report_counts(const variant_counts_t *counts)
{
    result_number("events", (double)counts->events);
    result_number("decoded", (double)counts->decoded);
    result_number("dropped", (double)(counts->dropped_full + counts->dropped_shutdown));
    result_number("failed", (double)counts->failed);
}

static int churn_child(int argc, char **argv, variant_kind_t kind)
{
    churn_plan_t plan = {.conns = child_param_long(argc, argv, "conns", 3000),
                         .inflight = (int)child_param_long(argc, argv, "inflight", 4),
                         .timeout_s = 300};
    churn_server_t s = {0};
    variant_counts_t counts = {0};
    long served = 0;
    double seconds = 0;
    int rc = churn_server_open(&s, argc, argv, kind, &plan);
    if (rc == 0) {
        int64_t start = clock_monotonic_ns();
        served = churn_serve(s.router, plan.conns,
                             start + (int64_t)plan.timeout_s * 1000000000, NULL, NULL);
        seconds = (double)(clock_monotonic_ns() - start) / 1e9;
    }
    if (churn_server_close(&s, &plan, &counts) != 0 || rc != 0)
        result_error("%s", s.err);
    result_number("conns", (double)served);
    result_number("seconds", seconds);
    report_counts(&counts);
    report_usage();
    return 0;
}

/* The variants of the churn, in the order they run in each round. */
#define CHURN_VARIANTS 6
static const char *const churn_variants[CHURN_VARIANTS] = {
    "none", "reader", "reader-flushed", "zmonitor", "zmqsink", "zmqsink3"};

/* One row of the churn table. */
static void churn_row(const runs_t *runs, int v, int none)
{
    double events = runs_median(runs, v, "events");
    bool monitored = v != none;
    printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", runs->variants[v],
           fmt_num(runs_median(runs, v, "conns"), 0),
           monitored ? fmt_num(events, 0) : "-",
           fmt_num(runs_median(runs, v, "dropped"), 0),
           fmt_num(runs_median(runs, v, "cpu_us") / 1000, 1),
           monitored ? fmt_num(runs_median_extra(runs, v, none, "cpu_us", "events"), 2) : "-",
           fmt_num(runs_median(runs, v, "ctxsw"), 0),
           monitored ? fmt_num(runs_median_extra(runs, v, none, "ctxsw", "events"), 3) : "-",
           monitored ? fmt_num(runs_median_extra(runs, v, none, "nivcsw", "events"), 3) : "-");
}

/* The monitoring's CPU per event, by thread: its own threads', and what
 * libzmq's threads spend beyond `none` (making the monitor's messages,
 * waking their reader). The application thread's, beyond `none`, should
 * be nothing: it shows how much the process figures move on their own. */
static double monitoring_cost(const runs_t *runs, int v, int none)
{
    return runs_median(runs, v, "monitor_cpu_us") / runs_median(runs, v, "events") +
           runs_median_extra(runs, v, none, "libzmq_cpu_us", "events");
}

static void churn_thread_row(const runs_t *runs, int v, int none)
{
    double events = runs_median(runs, v, "events");
    printf("| %s | %s | %s | %s | %s |\n", runs->variants[v],
           fmt_num(runs_median(runs, v, "monitor_cpu_us") / events, 2),
           fmt_num(runs_median_extra(runs, v, none, "libzmq_cpu_us", "events"), 2),
           fmt_num(runs_median_extra(runs, v, none, "app_cpu_us", "events"), 2),
           fmt_num(monitoring_cost(runs, v, none), 2));
}

/* "a / b" of the CPU per event of two variants, printed and returned: the
 * process's extra, and the monitoring's by thread (the steadier). */
static double extra_ratio(const runs_t *runs, int mine, int theirs, int none)
{
    if (mine < 0 || theirs < 0)
        return NAN;
    double ratio = runs_median_extra(runs, mine, none, "cpu_us", "events") /
                   runs_median_extra(runs, theirs, none, "cpu_us", "events");
    double by_thread = monitoring_cost(runs, mine, none) /
                       monitoring_cost(runs, theirs, none);
    printf("- %s ÷ %s, CPU per event: **%s** by thread (the monitoring's), %s "
           "for the whole process\n",
           runs->variants[mine], runs->variants[theirs], fmt_ratio(by_thread),
           fmt_ratio(ratio));
    return by_thread;
}

static double extra_ctxsw_over(const runs_t *runs, int mine, int theirs, int none)
{
    if (mine < 0 || theirs < 0)
        return NAN;
    double over = runs_median_extra(runs, mine, none, "ctxsw", "events") -
                  runs_median_extra(runs, theirs, none, "ctxsw", "events");
    printf("- %s extra ctx switches/event − %s's: **%s**\n", runs->variants[mine],
           runs->variants[theirs], fmt_num(over, 3));
    return over;
}

static void churn_targets(const runs_t *runs)
{
    int none = runs_variant(runs, "none"), reader = runs_variant(runs, "reader");
    int zmonitor = runs_variant(runs, "zmonitor"), zmqsink = runs_variant(runs, "zmqsink");
    int zmqsink3 = runs_variant(runs, "zmqsink3");
    printf("\n");
    double vs_reader = extra_ratio(runs, zmqsink, reader, none);
    double vs_zmonitor = extra_ratio(runs, zmqsink, zmonitor, none);
    extra_ratio(runs, zmqsink3, reader, none);
    extra_ratio(runs, zmqsink3, zmonitor, none);
    /* Beside the targets: against a reader whose lines are seen at once. */
    extra_ratio(runs, zmqsink, runs_variant(runs, "reader-flushed"), none);
    double ctxsw_over = extra_ctxsw_over(runs, zmqsink, reader, none);
    extra_ctxsw_over(runs, zmqsink3, reader, none);
    printf("\n");
    char text[64];
    snprintf(text, sizeof text, "%s", fmt_ratio(vs_reader));
    target_add("churn: zmqsink CPU/event vs reader's (the monitoring's, by thread)",
               "<= 0.5x", text,
               isnan(vs_reader) ? -1 : vs_reader <= 0.5);
    snprintf(text, sizeof text, "%s", fmt_ratio(vs_zmonitor));
    target_add("churn: zmqsink CPU/event vs zmonitor's (the monitoring's, by "
               "thread)", "<= 0.35x", text,
               isnan(vs_zmonitor) ? -1 : vs_zmonitor <= 0.35);
    snprintf(text, sizeof text, "%s", fmt_num(ctxsw_over, 3));
    target_add("churn: zmqsink extra ctx switches/event over the reader's", "<= 0.5",
               text, isnan(ctxsw_over) ? -1 : ctxsw_over <= 0.5);
}

static void churn_report(const bench_settings_t *settings)
{
    const char *variants[CHURN_VARIANTS];
    int nvariants =
        variants_available(churn_variants, CHURN_VARIANTS, variants);
    params_t params = {0};
    params_add(&params, "conns", settings->churn_conns);
    params_add(&params, "inflight", settings->churn_inflight);
    params_add(&params, "udp", settings->udp_port);
    runs_t runs;
    if (runs_execute(&runs, settings, "churn", variants, nvariants, settings->rounds,
                     &params, 600) != 0)
        return;
    int none = runs_variant(&runs, "none");
    printf("## churn: CPU and context switches per event\n\n");
    printf("%ld connections (%d clients in flight, in a helper process) to a "
           "monitored ROUTER; each variant in a fresh process, interleaved, "
           "median of %d rounds. CPU and context switches: the server process's "
           "getrusage(RUSAGE_SELF) at its end (all its threads, from exec to "
           "exit). *extra* = the variant minus `none` in the same round, per "
           "event its consumer got. `reader` leaves its lines in stdio's "
           "buffer until it fills; `reader-flushed` writes them out after "
           "each round of reads, as zmqsink writes each batch at once (the "
           "targets are judged against `reader`).\n\n",
           settings->churn_conns, settings->churn_inflight, settings->rounds);
    printf("| variant | conns | events got | dropped | CPU ms | extra CPU us/event "
           "| ctx switches | extra ctxsw/event | of which involuntary |\n");
    printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int v = 0; v < nvariants; v++)
        churn_row(&runs, v, none);
    printf("\nThe same runs by thread (CPU time from /proc/self/task/TID/schedstat "
           "just before the variant stops), us per event: the monitoring's own "
           "threads; libzmq's I/O threads beyond `none` (making the monitor's "
           "messages and waking their reader); the application's thread beyond "
           "`none`, which the monitoring does not change: its figure shows how "
           "far the process's figures move on their own on this machine. The "
           "targets are judged on the monitoring (its threads + libzmq's "
           "extra).\n\n");
    printf("| variant | monitoring threads | libzmq threads, extra | application "
           "thread, extra | monitoring |\n|---|---:|---:|---:|---:|\n");
    for (int v = 0; v < nvariants; v++)
        if (v != none)
            churn_thread_row(&runs, v, none);
    runs_print_errors(&runs);
    churn_targets(&runs);
    runs_free(&runs);
}

const benchmark_t churn_benchmark = {"churn", churn_child, churn_report};

/* ---- instructions ---- */

/* Runs every variant once at conns connections under callgrind. */
static int instructions_runs(runs_t *runs, const bench_settings_t *settings,
                             const char *const *variants, int nvariants,
                             long conns)
{
    params_t params = {0};
    params_add(&params, "conns", conns);
    params_add(&params, "inflight", settings->churn_inflight);
    params_add(&params, "udp", settings->udp_port);
    snprintf(params.text[params.n], sizeof params.text[0], "under=callgrind");
    params.list[params.n] = params.text[params.n];
    params.n++;
    return runs_execute(runs, settings, "churn", variants, nvariants, 1,
                        &params, 1800);
}

/* What key grew by from the small run to the large one. */
static double grown(const runs_t *small, const runs_t *large, int v,
                    const char *key)
{
    return runs_median(large, v, key) - runs_median(small, v, key);
}

/* The marginal instructions per event beyond `none`: the growth from the
 * small run to the large one, so that what starting and stopping cost
 * (parsing the config, loading plugins, threads) drops out. */
static double instructions_per_event(const runs_t *small, const runs_t *large,
                                     int v, int none)
{
    return (grown(small, large, v, "instructions") -
            grown(small, large, none, "instructions")) /
           grown(small, large, v, "events");
}

/* Prints mine ÷ theirs in instructions per event and returns it (NAN
 * when either is missing). */
static double instructions_ratio(const runs_t *small, const runs_t *large,
                                 int mine, int theirs, int none)
{
    if (mine < 0 || theirs < 0)
        return NAN;
    double ratio = instructions_per_event(small, large, mine, none) /
                   instructions_per_event(small, large, theirs, none);
    printf("- %s ÷ %s, instructions per event: **%s**\n",
           large->variants[mine], large->variants[theirs], fmt_ratio(ratio));
    return ratio;
}

static void instructions_target(const char *what, const char *target,
                                double limit, double ratio)
{
    target_add(what, target, fmt_ratio(ratio),
               isnan(ratio) ? -1 : ratio <= limit);
}

/* The churn counted in instructions (callgrind): the same for the same
 * binary and inputs whatever else the machine does, where CPU time on a
 * shared 2-vCPU machine moves by more than the monitoring costs. */
static void instructions_report(const bench_settings_t *settings)
{
    const char *variants[CHURN_VARIANTS];
    int nvariants =
        variants_available(churn_variants, CHURN_VARIANTS, variants);
    long conns = settings->churn_conns / 6 > 0 ? settings->churn_conns / 6 : 1;
    runs_t small, large;
    if (instructions_runs(&small, settings, variants, nvariants, conns) != 0)
        return;
    if (instructions_runs(&large, settings, variants, nvariants, 2 * conns) != 0) {
        runs_free(&small);
        return;
    }
    int none = runs_variant(&large, "none");
    printf("## instructions: the churn counted by callgrind\n\n");
    printf("Each variant under `valgrind --tool=callgrind` at %ld and at %ld "
           "connections to a monitored ROUTER: the instructions of every "
           "thread of the server process (not the clients' helper). Per event: "
           "what the larger run added over the smaller, beyond what `none` "
           "added, per event it added, so that starting and stopping drop out. "
           "Under valgrind the threads take turns, so batching differs from a "
           "real run; the counts are the code's cost, the same from run to "
           "run.\n\n", conns, 2 * conns);
    printf("| variant | events got | instructions (M) | instructions/event, "
           "extra |\n|---|---:|---:|---:|\n");
    for (int v = 0; v < nvariants; v++)
        printf("| %s | %s | %s | %s |\n", large.variants[v],
               v == none ? "-" : fmt_num(runs_median(&large, v, "events"), 0),
               fmt_num(runs_median(&large, v, "instructions") / 1e6, 1),
               v == none ? "-"
                         : fmt_num(instructions_per_event(&small, &large, v, none),
                                   0));
    printf("\n");
    int reader = runs_variant(&large, "reader");
    int zmonitor = runs_variant(&large, "zmonitor");
    int zmqsink = runs_variant(&large, "zmqsink");
    instructions_target("churn: zmqsink instructions/event vs reader's "
                        "(callgrind)", "<= 0.5x", 0.5,
                        instructions_ratio(&small, &large, zmqsink, reader,
                                           none));
    instructions_target("churn: zmqsink instructions/event vs zmonitor's "
                        "(callgrind)", "<= 0.35x", 0.35,
                        instructions_ratio(&small, &large, zmqsink, zmonitor,
                                           none));
    instructions_ratio(&small, &large, runs_variant(&large, "zmqsink3"), reader,
                       none);
    instructions_ratio(&small, &large, zmqsink,
                       runs_variant(&large, "reader-flushed"), none);
    runs_print_errors(&small);
    runs_print_errors(&large);
    printf("\n");
    runs_free(&small);
    runs_free(&large);
}

const benchmark_t instructions_benchmark = {"instructions", churn_child,
                                            instructions_report};

/* ---- soak ---- */

typedef struct soak_state {
    variant_t *variant;
    int64_t start, next_reload, warm_at;
    int reload_ms;
    long reloads, reload_failures;
    long rss_warm_kib;
    char first_failure[512];
} soak_state_t;

static void soak_tick(void *arg)
{
    soak_state_t *st = arg;
    int64_t now = clock_monotonic_ns();
    if (st->rss_warm_kib == 0 && now >= st->warm_at)
        st->rss_warm_kib = proc_rss_kib();
    if (now < st->next_reload)
        return;
    char err[512];
    if (variant_reload(st->variant, err, sizeof err) != 0 &&
        st->reload_failures++ == 0)
        snprintf(st->first_failure, sizeof st->first_failure, "%s", err);
    st->reloads++;
    st->next_reload = now + (int64_t)st->reload_ms * 1000000;
}

static int soak_child(int argc, char **argv, variant_kind_t kind)
{
    int seconds = (int)child_param_long(argc, argv, "seconds", 600);
    churn_plan_t plan = {.conns = -1, .inflight = 4, .timeout_s = seconds + 120};
    churn_server_t s = {0};
    variant_counts_t counts = {0};
    soak_state_t st = {.reload_ms = (int)child_param_long(argc, argv, "reload_ms", 10000)};
    long served = 0, rss_end = 0;
    int rc = churn_server_open(&s, argc, argv, kind, &plan);
    if (rc == 0) {
        st.variant = s.variant;
        st.start = clock_monotonic_ns();
        st.next_reload = st.start + (int64_t)st.reload_ms * 1000000;
        /* Warm: the sinks' rings touched through (a minute, or a fifth of
         * a short soak). */
        int warm_s = seconds / 5 < 60 ? seconds / 5 : 60;
        st.warm_at = st.start + warm_s * (int64_t)1000000000;
        served = churn_serve(s.router, -1, st.start + (int64_t)seconds * 1000000000,
                             soak_tick, &st);
        rss_end = proc_rss_kib();
    }
    if (churn_server_close(&s, &plan, &counts) != 0 || rc != 0)
        result_error("%s", s.err);
    else if (st.reload_failures > 0)
        result_error("%ld reloads failed, the first: %s", st.reload_failures,
                     st.first_failure);
    result_number("conns", (double)served);
    result_number("reloads", (double)st.reloads);
    result_number("rss_warm_kib", (double)st.rss_warm_kib);
    result_number("rss_end_kib", (double)rss_end);
    report_counts(&counts);
    report_usage();
    return 0;
}

static void soak_report(const bench_settings_t *settings)
{
    /* A json file sink, and file + syslog + statsd, whose statsd sink
     * keeps per-socket state. */
    const char *variants[] = {"zmqsink", "zmqsink3"};
    enum { NVARIANTS = sizeof variants / sizeof *variants };
    params_t params = {0};
    params_add(&params, "seconds", settings->soak_minutes * 60L);
    params_add(&params, "reload_ms", settings->soak_reload_s * 1000L);
    params_add(&params, "udp", settings->udp_port);
    runs_t runs;
    if (runs_execute(&runs, settings, "soak", variants, NVARIANTS, 1, &params,
                     settings->soak_minutes * 60 + 300) != 0)
        return;
    printf("## soak: %d minutes of churn, zmqsink_reload() every %d s\n\n",
           settings->soak_minutes, settings->soak_reload_s);
    printf("| variant | conns | events got | dropped | failed | reloads | RSS "
           "when warm MiB | RSS at the end MiB | growth after warm-up KiB "
           "|\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int v = 0; v < NVARIANTS; v++) {
        double warm = runs_median(&runs, v, "rss_warm_kib");
        double end = runs_median(&runs, v, "rss_end_kib");
        printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
               variants[v], fmt_num(runs_median(&runs, v, "conns"), 0),
               fmt_num(runs_median(&runs, v, "events"), 0),
               fmt_num(runs_median(&runs, v, "dropped"), 0),
               fmt_num(runs_median(&runs, v, "failed"), 0),
               fmt_num(runs_median(&runs, v, "reloads"), 0),
               fmt_num(warm / 1024, 1), fmt_num(end / 1024, 1),
               fmt_num(end - warm, 0));
    }
    runs_print_errors(&runs);
    printf("\n");
    runs_free(&runs);
}

const benchmark_t soak_benchmark = {"soak", soak_child, soak_report};
