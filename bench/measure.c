/* Clocks, rusage and /proc readings of the benchmark's own process, and the
 * order statistics of its tables. */
#include "measure.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t clock_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t clock_realtime_ns(void)
{
    return clock_ns(CLOCK_REALTIME);
}

int64_t clock_monotonic_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

void sleep_ms(int ms)
{
    struct timespec left = {.tv_sec = ms / 1000,
                            .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&left, &left) != 0 && errno == EINTR)
        ;
}

void usage_self(usage_t *out)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    out->cpu_us = (double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec +
                  (double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec;
    out->nvcsw = ru.ru_nvcsw;
    out->nivcsw = ru.ru_nivcsw;
    out->maxrss_kib = ru.ru_maxrss;
}

/* The number after "key:" in a /proc status file, or -1. */
static long status_field(const char *path, const char *key)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[256];
    size_t len = strlen(key);
    long value = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, len) == 0 && line[len] == ':') {
            value = strtol(line + len + 1, NULL, 10);
            break;
        }
    fclose(f);
    return value;
}

long proc_rss_kib(void)
{
    return status_field("/proc/self/status", "VmRSS");
}

static int count_entries(const char *path)
{
    DIR *dir = opendir(path);
    if (!dir)
        return -1;
    int n = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)))
        if (entry->d_name[0] != '.')
            n++;
    closedir(dir);
    return n;
}

int proc_count_threads(void)
{
    return count_entries("/proc/self/task");
}

int proc_count_fds(void)
{
    int n = count_entries("/proc/self/fd");
    return n < 0 ? n : n - 1; /* the directory being read */
}

long proc_thread_ctxsw(pid_t tid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/status", (int)tid);
    long voluntary = status_field(path, "voluntary_ctxt_switches");
    long involuntary = status_field(path, "nonvoluntary_ctxt_switches");
    return voluntary < 0 || involuntary < 0 ? -1 : voluntary + involuntary;
}

static void thread_comm(pid_t tid, char *out, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/comm", (int)tid);
    FILE *f = fopen(path, "r");
    out[0] = '\0';
    if (!f)
        return;
    if (fgets(out, (int)cap, f))
        out[strcspn(out, "\n")] = '\0';
    fclose(f);
}

int proc_sample_threads(thread_sample_t *out, int cap)
{
    DIR *dir = opendir("/proc/self/task");
    if (!dir)
        return -1;
    int n = 0;
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        if (entry->d_name[0] == '.')
            continue;
        if (n < cap) {
            out[n].tid = (pid_t)atoi(entry->d_name);
            thread_comm(out[n].tid, out[n].comm, sizeof out[n].comm);
            out[n].ctxsw = proc_thread_ctxsw(out[n].tid);
        }
        n++;
    }
    closedir(dir);
    return n;
}

long raise_fd_limit(void)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0)
        return -1;
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0)
        return -1;
    return (long)limit.rlim_cur;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double percentile(double *v, size_t n, double p)
{
    if (n == 0)
        return NAN;
    qsort(v, n, sizeof *v, compare_doubles);
    size_t rank = (size_t)ceil(p * (double)n);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return v[rank - 1];
}

int background_load_start(pid_t *pids, int cap)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int n = 0;
    for (long i = 0; i < cpus && n < cap; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            setpriority(PRIO_PROCESS, 0, 19);
            for (volatile unsigned long spin = 0;; spin++)
                ;
        }
        if (pid > 0)
            pids[n++] = pid;
    }
    return n;
}

void background_load_stop(pid_t *pids, int n)
{
    for (int i = 0; i < n; i++) {
        kill(pids[i], SIGKILL);
        waitpid(pids[i], NULL, 0);
    }
}

int proc_thread_cpu(thread_cpu_t *out)
{
    *out = (thread_cpu_t){0};
    DIR *tasks = opendir("/proc/self/task");
    if (!tasks)
        return -1;
    pid_t self = getpid();
    for (struct dirent *e; (e = readdir(tasks));) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], comm[32] = "";
        unsigned long long ns = 0, wait_ns = 0, runs = 0;
        snprintf(path, sizeof path, "/proc/self/task/%s/schedstat", e->d_name);
        FILE *f = fopen(path, "re");
        if (!f)
            continue; /* ended meanwhile */
        int got = fscanf(f, "%llu %llu %llu", &ns, &wait_ns, &runs);
        fclose(f);
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        if (got != 3 || !(f = fopen(path, "re")))
            continue;
        if (!fgets(comm, sizeof comm, f))
            comm[0] = '\0';
        fclose(f);
        bool app = atoi(e->d_name) == self;
        bool libzmq = !app && strncmp(comm, "ZMQbg/", 6) == 0;
        double *role = app ? &out->app_ns : libzmq ? &out->libzmq_ns : &out->monitor_ns;
        double *wait = app ? &out->app_wait_ns
                       : libzmq ? &out->libzmq_wait_ns : &out->monitor_wait_ns;
        double *given = app ? &out->app_runs : libzmq ? &out->libzmq_runs : &out->monitor_runs;
        *role += (double)ns;
        *wait += (double)wait_ns;
        *given += (double)runs;
    }
    closedir(tasks);
    return 0;
}

long long tcp_active_opens(void)
{
    FILE *f = fopen("/proc/net/snmp", "re");
    if (!f)
        return -1;
    char names[1024], values[1024];
    long long found = -1;
    while (found < 0 && fgets(names, sizeof names, f)) {
        if (strncmp(names, "Tcp:", 4) != 0 || !fgets(values, sizeof values, f))
            continue;
        /* The header line names the columns of the line after it. */
        char *nsave = NULL, *vsave = NULL;
        for (char *n = strtok_r(names, " \n", &nsave),
                  *v = strtok_r(values, " \n", &vsave);
             n && v; n = strtok_r(NULL, " \n", &nsave),
                  v = strtok_r(NULL, " \n", &vsave))
            if (strcmp(n, "ActiveOpens") == 0)
                found = atoll(v);
    }
    fclose(f);
    return found;
}
