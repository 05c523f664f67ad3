/* What the event-path benchmarks (bench_events) share: the run's settings,
 * the variants run in interleaved rounds, the child side's common steps,
 * number formatting, and the targets table of issue 14. */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#include "procs.h"
#include "variants.h"

#define MAX_SIZES 8

/* The settings of one run of bench_events (its command line). */
typedef struct bench_settings {
    int rounds;               /* churn */
    long churn_conns;
    int churn_inflight;
    int scale_sizes[MAX_SIZES];
    int nscale_sizes;
    int scale_rounds;
    int sparse_samples;
    int sparse_gap_ms;
    int storm_sizes[MAX_SIZES];
    int nstorm_sizes;
    int storm_seconds;
    int storm_rounds;
    int stuck_seconds;
    int stuck_rounds;
    int idle_sockets;
    int idle_seconds;
    int soak_minutes;
    int soak_reload_s;
    const char *tmp_root;     /* each child gets a directory below it */
    int udp_port;             /* the parent's UDP socket, never read */
} bench_settings_t;

/* One benchmark: child() runs one variant in a child process and reports
 * with result_*(); report() runs in the parent: it runs the variants and
 * prints its section of markdown on stdout. */
typedef struct benchmark {
    const char *name;
    int (*child)(int argc, char **argv, variant_kind_t kind);
    void (*report)(const bench_settings_t *settings);
} benchmark_t;

extern const benchmark_t churn_benchmark;
extern const benchmark_t soak_benchmark;
extern const benchmark_t instructions_benchmark;
extern const benchmark_t scale_benchmark;
extern const benchmark_t storm_benchmark;
extern const benchmark_t stuck_benchmark;
extern const benchmark_t idle_benchmark;

/* ---- the parent: variants in rounds ---- */

/* The reports of each variant in each round. */
typedef struct runs {
    const char *const *variants;
    int nvariants;
    int rounds;
    results_t *results; /* [round * nvariants + variant] */
} runs_t;

/* The "key=value" arguments of a child. */
#define MAX_PARAMS 8
typedef struct params {
    char text[MAX_PARAMS][48];
    const char *list[MAX_PARAMS];
    int n;
} params_t;

/* Adds "key=value" (past MAX_PARAMS: ignored). */
void params_add(params_t *params, const char *key, long value);

/* Runs every variant rounds times, interleaved (A, B, C, then A, B, C
 * again), each in a fresh child given params, and says on stderr how it
 * goes. Returns 0, or -1 when nothing could be run (out of memory); a
 * variant that fails is recorded, and the others go on. */
int runs_execute(runs_t *runs, const bench_settings_t *settings,
                 const char *bench, const char *const *variants, int nvariants,
                 int rounds, const params_t *params, int timeout_s);

/* The report of variant v in round r, or NULL when that run failed. */
const results_t *runs_result(const runs_t *runs, int v, int r);

/* Copies into out the names of those that this build has (zmonitor needs
 * CZMQ); returns how many. */
int variants_available(const char *const *names, int n, const char **out);

/* The index of a variant by name, or -1. */
int runs_variant(const runs_t *runs, const char *name);

/* The median over the rounds where v ran of its figure key; NAN when none
 * did. */
double runs_median(const runs_t *runs, int v, const char *key);

/* The median over the rounds where both v and base ran of
 * (v.key - base.key) / v.per (per NULL: divided by 1): what v costs beyond
 * base, paired within each round. NAN when no round has both. */
double runs_median_extra(const runs_t *runs, int v, int base, const char *key,
                         const char *per);

/* Prints, as a markdown list, the errors of the runs that failed. */
void runs_print_errors(const runs_t *runs);

void runs_free(runs_t *runs);

/* ---- the child ---- */

/* Fills opts from the child's arguments (dir=, udp=). */
void child_options(int argc, char **argv, variant_options_t *opts);

/* Ends a child's run: stops *v (when there is one) into *counts, keeps the
 * first error in err (rc != 0 says there is one already), destroys it.
 * Returns rc, or -1 when the stop failed. */
int child_stop_variant(variant_t **v, variant_counts_t *counts, int rc,
                       char *err, size_t errlen);

/* Reports the child's CPU (cpu_us) and context switches (ctxsw, nvcsw,
 * nivcsw): call it last, after the variant is destroyed. */
void report_usage(void);

/* ---- printing ---- */

/* v with the given decimals, or "n/a" for NAN. The text lives until eight
 * more calls (so that one printf can take several). */
const char *fmt_num(double v, int decimals);

/* v as a ratio, "0.42x", or "n/a"; lives as fmt_num()'s text. */
const char *fmt_ratio(double v);

/* Records a row of the targets table: what is measured, the target, the
 * measured value as text, and met (1), not met (0) or not measured (-1). */
void target_add(const char *what, const char *target, const char *measured,
                int met);

#endif
