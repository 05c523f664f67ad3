/* What the event-path benchmarks read from the process they run in: clocks,
 * CPU and context switches, memory, threads and fds from /proc, and the
 * order statistics their tables print. */
#ifndef BENCH_MEASURE_H
#define BENCH_MEASURE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* CLOCK_REALTIME in ns: the clock of zmqsink_event_t.time_ns, so that every
 * latency is taken on the clock the collector stamps events with. */
int64_t clock_realtime_ns(void);

/* CLOCK_MONOTONIC in ns, for deadlines and durations. */
int64_t clock_monotonic_ns(void);

/* Sleeps ms milliseconds (restarting after signals). */
void sleep_ms(int ms);

/* CPU and context switches of the whole process, every thread included
 * (also threads that have ended), from getrusage(RUSAGE_SELF): helper
 * processes the benchmark forks are left out. */
typedef struct usage {
    double cpu_us;  /* user + system */
    long nvcsw;     /* voluntary context switches */
    long nivcsw;    /* involuntary ones */
    long maxrss_kib;
} usage_t;
void usage_self(usage_t *out);

/* VmRSS of this process in KiB, or -1 when /proc cannot say. */
long proc_rss_kib(void);

/* Entries of /proc/self/task (threads) and /proc/self/fd (open fds, the
 * one that reads the directory not counted); -1 on error. */
int proc_count_threads(void);
int proc_count_fds(void);

/* One thread of this process: its id, name and context switches so far
 * (voluntary + nonvoluntary, from /proc/self/task/TID/status). */
typedef struct thread_sample {
    pid_t tid;
    char comm[32];
    long ctxsw;
} thread_sample_t;

/* Fills at most cap samples, one per thread; returns how many threads there
 * are (which may exceed cap), or -1. */
int proc_sample_threads(thread_sample_t *out, int cap);

/* Context switches of thread tid so far, or -1 when it is gone. */
long proc_thread_ctxsw(pid_t tid);

/* CPU time so far (ns, from /proc/self/task/TID/schedstat) of the live
 * threads of this process by role: the main thread (the application),
 * libzmq's ("ZMQbg/..."), and every other one (the monitoring: a reader
 * thread, zmonitor actors, zmqsink's threads). With each, the time its
 * threads spent runnable but waiting for a CPU (*_wait_ns) and how many
 * times they were given one (*_runs). Threads that ended are not counted.
 * Returns 0, or -1 when /proc cannot say. */
typedef struct thread_cpu {
    double app_ns, libzmq_ns, monitor_ns;
    double app_wait_ns, libzmq_wait_ns, monitor_wait_ns;
    double app_runs, libzmq_runs, monitor_runs;
} thread_cpu_t;
int proc_thread_cpu(thread_cpu_t *out);

/* The machine's count of TCP connects begun (ActiveOpens of /proc/net/snmp),
 * or -1: how many connections programs tried, whether they were refused
 * or not. */
long long tcp_active_opens(void);

/* Raises the soft RLIMIT_NOFILE to the hard limit; returns the new soft
 * limit, or -1. */
long raise_fd_limit(void);

/* Busy loops at nice 19 in child processes, one per online CPU, so that
 * no CPU idles: on a virtual machine a thread that wakes on an idle CPU
 * waits for the host to resume it, and programs whose pace is set by
 * their own timers (libzmq reconnecting every ms) then run slower exactly
 * when the monitoring around them leaves the CPUs idle. The children hold
 * little CPU from anything else (nice 19). Returns how many started. */
int background_load_start(pid_t *pids, int cap);

/* Ends the children of background_load_start(). */
void background_load_stop(pid_t *pids, int n);

/* Sorts v (n values) in place and returns the value at fraction p (0..1) by
 * the nearest-rank method; NAN for n == 0. The median is p = 0.5. */
double percentile(double *v, size_t n, double p);

#endif
