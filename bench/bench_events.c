/* The event-path benchmarks of issue 14: what watching sockets' monitor
 * events costs with zmqsink, against no monitoring, a hand-written monitor
 * reader and CZMQ's zmonitor, each variant in a fresh child process and
 * measured in the same run. Prints markdown on stdout, progress on stderr.
 * It measures, it asserts nothing.
 *
 * usage: bench_events [options] [churn|scale|storm|stuck|idle|instructions|soak...]
 *        (default: churn scale storm stuck idle instructions)
 *        bench_events --child BENCH VARIANT dir=DIR [key=value...] */
#include "bench.h"

#include "measure.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* Those run by default first; the last ones only when named. */
static const benchmark_t *const benchmarks[] = {
    &churn_benchmark, &scale_benchmark, &storm_benchmark,
    &stuck_benchmark, &idle_benchmark,  &instructions_benchmark,
    &soak_benchmark,
};
#define NBENCHMARKS (sizeof benchmarks / sizeof benchmarks[0])
#define NDEFAULT 6

static const benchmark_t *benchmark_named(const char *name)
{
    for (size_t i = 0; i < NBENCHMARKS; i++)
        if (strcmp(benchmarks[i]->name, name) == 0)
            return benchmarks[i];
    return NULL;
}

/* ---- runs ---- */

void params_add(params_t *params, const char *key, long value)
{
    if (params->n == MAX_PARAMS)
        return;
    snprintf(params->text[params->n], sizeof params->text[0], "%s=%ld", key, value);
    params->list[params->n] = params->text[params->n];
    params->n++;
}

int runs_execute(runs_t *runs, const bench_settings_t *settings,
                 const char *bench, const char *const *variants, int nvariants,
                 int rounds, const params_t *params, int timeout_s)
{
    runs->variants = variants;
    runs->nvariants = nvariants;
    runs->rounds = rounds;
    runs->results = calloc((size_t)(rounds * nvariants), sizeof *runs->results);
    if (!runs->results)
        return -1;
    static int serial;
    for (int r = 0; r < rounds; r++)
        for (int v = 0; v < nvariants; v++) {
            char dir[4200];
            snprintf(dir, sizeof dir, "%s/%s-%s-%d", settings->tmp_root, bench,
                     variants[v], ++serial);
            results_t *out = &runs->results[r * nvariants + v];
            fprintf(stderr, "bench: %s %s round %d/%d\n", bench, variants[v],
                    r + 1, rounds);
            if (mkdir(dir, 0700) != 0) {
                snprintf(out->error, sizeof out->error, "mkdir %.200s: %s", dir,
                         strerror(errno));
                continue;
            }
            if (child_run(bench, variants[v], dir, params->list, params->n,
                          timeout_s, out) != 0)
                fprintf(stderr, "bench: %s %s round %d failed: %s\n", bench,
                        variants[v], r + 1, out->error);
        }
    return 0;
}

int variants_available(const char *const *names, int n, const char **out)
{
    int available = 0;
    for (int i = 0; i < n; i++) {
        int kind = variant_kind_from_name(names[i]);
        if (kind >= 0 && variant_available((variant_kind_t)kind))
            out[available++] = names[i];
    }
    return available;
}

const results_t *runs_result(const runs_t *runs, int v, int r)
{
    if (v < 0 || v >= runs->nvariants || r < 0 || r >= runs->rounds)
        return NULL;
    const results_t *result = &runs->results[r * runs->nvariants + v];
    return result->error[0] ? NULL : result;
}

int runs_variant(const runs_t *runs, const char *name)
{
    for (int v = 0; v < runs->nvariants; v++)
        if (strcmp(runs->variants[v], name) == 0)
            return v;
    return -1;
}

double runs_median(const runs_t *runs, int v, const char *key)
{
    double values[64];
    size_t n = 0;
    for (int r = 0; r < runs->rounds && n < 64; r++) {
        const results_t *result = runs_result(runs, v, r);
        double value = result ? results_number(result, key) : NAN;
        if (!isnan(value))
            values[n++] = value;
    }
    return percentile(values, n, 0.5);
}

double runs_median_extra(const runs_t *runs, int v, int base, const char *key,
                         const char *per)
{
    double values[64];
    size_t n = 0;
    for (int r = 0; r < runs->rounds && n < 64; r++) {
        const results_t *mine = runs_result(runs, v, r);
        const results_t *theirs = runs_result(runs, base, r);
        if (!mine || !theirs)
            continue;
        double divisor = per ? results_number(mine, per) : 1;
        double extra = (results_number(mine, key) - results_number(theirs, key)) /
                       divisor;
        if (!isnan(extra) && !isinf(extra))
            values[n++] = extra;
    }
    return percentile(values, n, 0.5);
}

void runs_print_errors(const runs_t *runs)
{
    for (int r = 0; r < runs->rounds; r++)
        for (int v = 0; v < runs->nvariants; v++) {
            const results_t *result = &runs->results[r * runs->nvariants + v];
            if (result->error[0])
                printf("- %s, round %d, failed: %s\n", runs->variants[v], r + 1,
                       result->error);
        }
}

void runs_free(runs_t *runs)
{
    free(runs->results);
    runs->results = NULL;
}

/* ---- the child's common steps ---- */

void child_options(int argc, char **argv, variant_options_t *opts)
{
    *opts = (variant_options_t){0};
    opts->dir = child_param(argc, argv, "dir");
    opts->udp_port = (int)child_param_long(argc, argv, "udp", 0);
}

int child_stop_variant(variant_t **v, variant_counts_t *counts, int rc,
                       char *err, size_t errlen)
{
    char stop_err[512] = "";
    *counts = (variant_counts_t){0};
    if (*v && variant_stop(*v, counts, stop_err, sizeof stop_err) != 0 && rc == 0) {
        snprintf(err, errlen, "%s", stop_err);
        rc = -1;
    }
    variant_destroy(v);
    return rc;
}

void report_usage(void)
{
    usage_t usage;
    usage_self(&usage);
    result_number("cpu_us", usage.cpu_us);
    result_number("nvcsw", (double)usage.nvcsw);
    result_number("nivcsw", (double)usage.nivcsw);
    result_number("ctxsw", (double)(usage.nvcsw + usage.nivcsw));
    result_number("maxrss_kib", (double)usage.maxrss_kib);
}

static int child_main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_events --child BENCH VARIANT dir=DIR ...\n");
        return 2;
    }
    const benchmark_t *bench = benchmark_named(argv[2]);
    int kind = variant_kind_from_name(argv[3]);
    if (!bench || kind < 0) {
        result_error("unknown benchmark or variant: %s %s", argv[2], argv[3]);
        return 2;
    }
    return bench->child(argc - 4, argv + 4, (variant_kind_t)kind);
}

/* ---- printing ---- */

static char *next_buffer(void)
{
    static char buffers[8][32];
    static int next;
    return buffers[next++ % 8];
}

const char *fmt_num(double v, int decimals)
{
    char *buf = next_buffer();
    if (isnan(v))
        snprintf(buf, 32, "n/a");
    else
        snprintf(buf, 32, "%.*f", decimals, v);
    return buf;
}

const char *fmt_ratio(double v)
{
    char *buf = next_buffer();
    if (isnan(v))
        snprintf(buf, 32, "n/a");
    else
        snprintf(buf, 32, "%.2fx", v);
    return buf;
}

#define MAX_TARGETS 32

static struct target {
    char what[128];
    char target[64];
    char measured[128];
    int met;
} targets[MAX_TARGETS];
static int ntargets;

void target_add(const char *what, const char *target, const char *measured,
                int met)
{
    if (ntargets == MAX_TARGETS)
        return;
    struct target *t = &targets[ntargets++];
    snprintf(t->what, sizeof t->what, "%s", what);
    snprintf(t->target, sizeof t->target, "%s", target);
    snprintf(t->measured, sizeof t->measured, "%s", measured);
    t->met = met;
}

static void targets_print(void)
{
    if (ntargets == 0)
        return;
    printf("## Targets (issue 14)\n\n");
    printf("| what | target | measured | |\n|---|---|---|---|\n");
    for (int i = 0; i < ntargets; i++)
        printf("| %s | %s | %s | %s |\n", targets[i].what, targets[i].target,
               targets[i].measured,
               targets[i].met > 0    ? "met"
               : targets[i].met == 0 ? "**not met**"
                                     : "not measured");
    printf("\n");
}

/* ---- the parent ---- */

/* A UDP socket on 127.0.0.1 that the syslog and statsd sinks send to and
 * nobody reads: the kernel drops what overflows, and no receiver's CPU
 * counts in a child. Returns its port and fd, or -1. */
static int udp_sink_port(int *fd)
{
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    *fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (*fd < 0 || bind(*fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        getsockname(*fd, (struct sockaddr *)&addr, &len) != 0)
        return -1;
    return ntohs(addr.sin_port);
}

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Parses "10,100,1000" into sizes; returns the count, or -1. */
static int parse_sizes(const char *text, int *sizes)
{
    int n = 0;
    char *copy = strdup(text), *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item && n < MAX_SIZES;
         item = strtok_r(NULL, ",", &save))
        if ((sizes[n] = atoi(item)) > 0)
            n++;
    free(copy);
    return n > 0 ? n : -1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bench_events [options] "
            "[churn|scale|storm|stuck|idle|instructions|soak...]\n"
            "  -r, --rounds N          churn rounds (5)\n"
            "      --conns N           churn connections per run (3000)\n"
            "      --inflight N        churn clients in flight (4)\n"
            "      --scale K,K,...     scale socket counts (10,100,1000,4000)\n"
            "      --scale-rounds N    (3)\n"
            "      --sparse N          sparse latency samples (100)\n"
            "      --storm K,K         storm socket counts (10,200)\n"
            "      --storm-seconds T   (2)\n"
            "      --storm-rounds N    (3)\n"
            "      --stuck-seconds T   (2)\n"
            "      --stuck-rounds N    (3)\n"
            "      --idle-sockets N    (1000)\n"
            "      --idle-seconds T    (5)\n"
            "      --soak-minutes M    (10)\n"
            "  default benchmarks: churn scale storm stuck idle instructions (soak "
            "only when named)\n");
}

static int parse_options(int argc, char **argv, bench_settings_t *s)
{
    static const struct option options[] = {
        {"rounds", required_argument, NULL, 'r'},
        {"conns", required_argument, NULL, 'c'},
        {"inflight", required_argument, NULL, 'i'},
        {"scale", required_argument, NULL, 'k'},
        {"scale-rounds", required_argument, NULL, 'K'},
        {"sparse", required_argument, NULL, 'p'},
        {"storm", required_argument, NULL, 's'},
        {"storm-seconds", required_argument, NULL, 'S'},
        {"storm-rounds", required_argument, NULL, 'R'},
        {"stuck-seconds", required_argument, NULL, 't'},
        {"stuck-rounds", required_argument, NULL, 'T'},
        {"idle-sockets", required_argument, NULL, 'd'},
        {"idle-seconds", required_argument, NULL, 'D'},
        {"soak-minutes", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "r:h", options, NULL)) != -1) {
        switch (c) {
        case 'r': s->rounds = atoi(optarg); break;
        case 'c': s->churn_conns = atol(optarg); break;
        case 'i': s->churn_inflight = atoi(optarg); break;
        case 'k': s->nscale_sizes = parse_sizes(optarg, s->scale_sizes); break;
        case 'K': s->scale_rounds = atoi(optarg); break;
        case 'p': s->sparse_samples = atoi(optarg); break;
        case 's': s->nstorm_sizes = parse_sizes(optarg, s->storm_sizes); break;
        case 'S': s->storm_seconds = atoi(optarg); break;
        case 'R': s->storm_rounds = atoi(optarg); break;
        case 't': s->stuck_seconds = atoi(optarg); break;
        case 'T': s->stuck_rounds = atoi(optarg); break;
        case 'd': s->idle_sockets = atoi(optarg); break;
        case 'D': s->idle_seconds = atoi(optarg); break;
        case 'm': s->soak_minutes = atoi(optarg); break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (s->rounds < 1 || s->churn_conns < 1 || s->churn_inflight < 1 ||
        s->nscale_sizes < 1 || s->scale_rounds < 1 || s->sparse_samples < 0 ||
        s->nstorm_sizes < 1 || s->storm_seconds < 1 || s->storm_rounds < 1 ||
        s->stuck_seconds < 1 || s->stuck_rounds < 1 || s->idle_sockets < 1 ||
        s->idle_seconds < 1 || s->soak_minutes < 1) {
        fprintf(stderr, "bench_events: every count must be positive\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--child") == 0)
        return child_main(argc, argv);

    bench_settings_t s = {
        .rounds = 5, .churn_conns = 3000, .churn_inflight = 4,
        .scale_sizes = {10, 100, 1000, 4000}, .nscale_sizes = 4,
        .scale_rounds = 3, .sparse_samples = 100, .sparse_gap_ms = 5,
        .storm_sizes = {10, 200}, .nstorm_sizes = 2, .storm_seconds = 2,
        .storm_rounds = 3, .stuck_seconds = 2, .stuck_rounds = 3,
        .idle_sockets = 1000, .idle_seconds = 5, .soak_minutes = 10,
        .soak_reload_s = 10,
    };
    if (parse_options(argc, argv, &s) != 0)
        return 2;
    const benchmark_t *chosen[NBENCHMARKS];
    int nchosen = 0;
    for (int i = optind; i < argc; i++) {
        const benchmark_t *bench = benchmark_named(argv[i]);
        if (!bench) {
            fprintf(stderr, "bench_events: no benchmark '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
        if (nchosen < (int)NBENCHMARKS)
            chosen[nchosen++] = bench;
    }
    if (nchosen == 0)
        for (size_t i = 0; i < NDEFAULT; i++)
            chosen[nchosen++] = benchmarks[i];

    char root[] = "/tmp/zmqsink-bench-XXXXXX";
    int udp_fd = -1;
    if (!mkdtemp(root) || (s.udp_port = udp_sink_port(&udp_fd)) < 0) {
        perror("bench_events: setup");
        return 1;
    }
    s.tmp_root = root;
    for (int i = 0; i < nchosen; i++) {
        chosen[i]->report(&s);
        fflush(stdout);
    }
    targets_print();
    close(udp_fd);
    nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
