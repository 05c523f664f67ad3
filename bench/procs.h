/* The processes of the event-path benchmarks: each variant run is a fresh
 * child (this program executed again with --child), which reports its
 * figures as "key=value" lines on fd 3; workloads fork helper processes
 * for the peers whose CPU must not count (clients, an echo server). */
#ifndef BENCH_PROCS_H
#define BENCH_PROCS_H

#include <stdbool.h>
#include <sys/types.h>

/* ---- a child's report ---- */

#define RESULTS_MAX 160
#define RESULT_KEY_MAX 48
#define RESULT_VALUE_MAX 160

/* What one child run reported. error is "" when it ran to its end. */
typedef struct results {
    int n;
    char keys[RESULTS_MAX][RESULT_KEY_MAX];
    char values[RESULTS_MAX][RESULT_VALUE_MAX];
    char error[256];
} results_t;

/* In a child: reports one figure, or one line of text, to the parent. */
void result_number(const char *key, double value);
void result_text(const char *key, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* In a child: reports why the run failed; the parent prints it and goes on
 * with the other variants. */
void result_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A figure of a report, or NAN when it is missing or not a number. */
double results_number(const results_t *r, const char *key);

/* A text of a report, or NULL. */
const char *results_text(const results_t *r, const char *key);

/* ---- running a child ---- */

/* Runs this program again as "--child BENCH VARIANT dir=DIR PARAMS...",
 * with its stdout in DIR/stdout.log (a library's chatter must not reach the
 * report) and fd 3 carrying its report into *out. Kills it after
 * timeout_s. Returns 0, or -1 with out->error saying what went wrong (also
 * when the child itself reported an error). */
int child_run(const char *bench, const char *variant, const char *dir,
              const char *const *params, int nparams, int timeout_s,
              results_t *out);

/* In a child: the value of "key=value" among its arguments, or NULL. */
const char *child_param(int argc, char **argv, const char *key);
long child_param_long(int argc, char **argv, const char *key, long fallback);

/* ---- helper processes ---- */

/* A forked helper: it reads from to_helper and writes to from_helper. */
typedef struct helper {
    pid_t pid;
    int to_helper;   /* the parent's end; closing it asks the helper to end */
    int from_helper; /* the parent's end */
} helper_t;

/* The body of a helper: runs in the forked process with its ends of the two
 * pipes; its return is the helper's exit status. */
typedef int helper_fn(int from_parent, int to_parent, void *arg);

/* Forks a helper running body(arg). Call it before making a ZeroMQ context:
 * a forked libzmq context is unusable. The helper dies with its parent.
 * Returns 0, or -1 (errno). */
int helper_start(helper_t *helper, helper_fn *body, void *arg);

/* Asks the helper to end (closes to_helper), waits for it at most
 * timeout_ms, kills it after that. Returns its exit status, or -1 when it
 * was killed or crashed. */
int helper_finish(helper_t *helper, int timeout_ms);

/* Writes or reads one int on a pipe; reading waits at most timeout_ms.
 * Return 0, or -1. */
int pipe_write_int(int fd, int value);
int pipe_read_int(int fd, int *value, int timeout_ms);

#endif
