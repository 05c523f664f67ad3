/* Child runs of the benchmark program, their reports, and forked helpers. */
#include "procs.h"

#include "measure.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* The fd a child writes its report to (0, 1, 2 stay the usual ones). */
#define REPORT_FD 3

static void report_line(const char *key, const char *value)
{
    char line[RESULT_KEY_MAX + RESULT_VALUE_MAX + 4];
    int len = snprintf(line, sizeof line, "%s=%s\n", key, value);
    if (len >= (int)sizeof line) {
        len = (int)sizeof line - 1;
        line[len - 1] = '\n';
    }
    /* One write per line: a child that dies mid-report leaves whole lines. */
    if (write(REPORT_FD, line, (size_t)len) != len)
        fprintf(stderr, "bench: cannot report %s\n", key);
}

void result_number(const char *key, double value)
{
    char text[64];
    snprintf(text, sizeof text, "%.6g", value);
    report_line(key, text);
}

/* A report line's value stays on its line. */
static void report_formatted(const char *key, const char *fmt, va_list args)
{
    char text[RESULT_VALUE_MAX];
    vsnprintf(text, sizeof text, fmt, args);
    text[strcspn(text, "\n")] = '\0';
    report_line(key, text);
}

void result_text(const char *key, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    report_formatted(key, fmt, args);
    va_end(args);
}

void result_error(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    report_formatted("error", fmt, args);
    va_end(args);
}

const char *results_text(const results_t *r, const char *key)
{
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->keys[i], key) == 0)
            return r->values[i];
    return NULL;
}

double results_number(const results_t *r, const char *key)
{
    const char *text = results_text(r, key);
    if (!text || !*text)
        return NAN;
    char *end;
    double value = strtod(text, &end);
    return *end ? NAN : value;
}

/* Splits the report into key=value pairs; an "error" line becomes
 * r->error. */
static void parse_report(char *text, results_t *r)
{
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        if (strcmp(line, "error") == 0) {
            snprintf(r->error, sizeof r->error, "%s", eq + 1);
            continue;
        }
        if (r->n == RESULTS_MAX)
            continue;
        snprintf(r->keys[r->n], RESULT_KEY_MAX, "%s", line);
        snprintf(r->values[r->n], RESULT_VALUE_MAX, "%s", eq + 1);
        r->n++;
    }
}

/* Reads the child's report until EOF or the deadline; returns 0 at EOF. */
static int read_report(int fd, int64_t deadline_ns, char **text)
{
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    int rc = -1;
    while (buf) {
        int64_t left_ms = (deadline_ns - clock_monotonic_ns()) / 1000000;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (left_ms <= 0 || poll(&pfd, 1, (int)left_ms) == 0)
            break;
        if (len + 1024 > cap) {
            char *grown = realloc(buf, cap *= 2);
            if (!grown)
                break;
            buf = grown;
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n == 0 ? 0 : -1;
            break;
        }
        len += (size_t)n;
    }
    if (buf)
        buf[len] = '\0';
    *text = buf;
    return rc;
}

/* Says on stderr that the child wrote on stdout, with its first line. */
static void mention_stdout(const char *bench, const char *variant,
                           const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char first[256] = "";
    long lines = 0;
    char line[1024];
    while (fgets(line, sizeof line, f))
        if (lines++ == 0)
            snprintf(first, sizeof first, "%.255s", line);
    fclose(f);
    if (lines > 0)
        fprintf(stderr, "bench: %s/%s wrote %ld lines on stdout, the first: %s",
                bench, variant, lines, first);
}

/* In the forked child: puts the report pipe on REPORT_FD and stdout in
 * its log, then runs this program again. Never returns. */
/* The value of "key=value" in a NULL-terminated argv, or NULL. */
static const char *argv_param(char *const argv[], const char *key)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    return child_param(argc, (char **)argv, key);
}

static void exec_child(int report_fd, const char *log_path, char *const argv[])
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log_fd < 0 || dup2(log_fd, STDOUT_FILENO) < 0 ||
        dup2(report_fd, REPORT_FD) < 0) {
        perror("bench: child setup");
        _exit(126);
    }
    /* The real path, not /proc/self/exe, so that the threads are named
     * after the program ("bench_events") in /proc. */
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) {
        perror("bench: readlink /proc/self/exe");
        _exit(127);
    }
    self[len] = '\0';
    const char *under = argv_param(argv, "under"), *dir = argv_param(argv, "dir");
    if (under && strcmp(under, "callgrind") == 0 && dir) {
        /* Instructions counted, whatever else the machine does. */
        char out_file[4300];
        snprintf(out_file, sizeof out_file, "--callgrind-out-file=%s/callgrind.%%p",
                 dir);
        char *wrapped[80] = {"valgrind", "--tool=callgrind", "-q", out_file, self};
        int n = 5;
        for (int i = 1; argv[i] && n < 79; i++)
            wrapped[n++] = argv[i];
        wrapped[n] = NULL;
        execvp("valgrind", wrapped);
        perror("bench: exec valgrind");
        _exit(127);
    }
    execv(self, argv);
    perror("bench: exec");
    _exit(127);
}

/* The instructions callgrind counted in process pid (its "summary:"
 * line), or -1. */
static double callgrind_instructions(const char *dir, pid_t pid)
{
    char path[4300], line[512];
    snprintf(path, sizeof path, "%s/callgrind.%d", dir, (int)pid);
    FILE *f = fopen(path, "r");
    double total = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "summary: ", 9) == 0 || strncmp(line, "totals: ", 8) == 0)
            total = strtod(strchr(line, ' ') + 1, NULL);
    if (f)
        fclose(f);
    return total;
}

static void describe_status(int status, results_t *out)
{
    if (out->error[0])
        return;
    if (WIFSIGNALED(status))
        snprintf(out->error, sizeof out->error, "killed by signal %d (%s)",
                 WTERMSIG(status), strsignal(WTERMSIG(status)));
    else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        snprintf(out->error, sizeof out->error, "exited with status %d",
                 WEXITSTATUS(status));
}

int child_run(const char *bench, const char *variant, const char *dir,
              const char *const *params, int nparams, int timeout_s,
              results_t *out)
{
    memset(out, 0, sizeof *out);
    char dir_param[4200], log_path[4200];
    snprintf(dir_param, sizeof dir_param, "dir=%s", dir);
    snprintf(log_path, sizeof log_path, "%s/stdout.log", dir);
    const char *argv[64] = {"bench_events", "--child", bench, variant, dir_param};
    int argc = 5;
    for (int i = 0; i < nparams && argc < 63; i++)
        argv[argc++] = params[i];
    argv[argc] = NULL;

    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) {
        snprintf(out->error, sizeof out->error, "pipe: %s", strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(out->error, sizeof out->error, "fork: %s", strerror(errno));
        close(report[0]);
        close(report[1]);
        return -1;
    }
    if (pid == 0)
        exec_child(report[1], log_path, (char *const *)argv);
    close(report[1]);

    char *text = NULL;
    int64_t deadline = clock_monotonic_ns() + (int64_t)timeout_s * 1000000000;
    int read_rc = read_report(report[0], deadline, &text);
    close(report[0]);
    if (read_rc != 0) {
        kill(pid, SIGKILL);
        snprintf(out->error, sizeof out->error, "no report within %d s, killed",
                 timeout_s);
    }
    if (text)
        parse_report(text, out);
    free(text);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    describe_status(status, out);
    const char *under = argv_param((char *const *)argv, "under");
    if (under && strcmp(under, "callgrind") == 0 && !out->error[0]) {
        double instructions = callgrind_instructions(dir, pid);
        if (instructions < 0)
            snprintf(out->error, sizeof out->error,
                     "no callgrind totals in %.200s (is valgrind installed?)", dir);
        else if (out->n < RESULTS_MAX) {
            snprintf(out->keys[out->n], RESULT_KEY_MAX, "instructions");
            snprintf(out->values[out->n], RESULT_VALUE_MAX, "%.0f", instructions);
            out->n++;
        }
    }
    mention_stdout(bench, variant, log_path);
    return out->error[0] ? -1 : 0;
}

const char *child_param(int argc, char **argv, const char *key)
{
    size_t len = strlen(key);
    for (int i = 0; i < argc; i++)
        if (strncmp(argv[i], key, len) == 0 && argv[i][len] == '=')
            return argv[i] + len + 1;
    return NULL;
}

long child_param_long(int argc, char **argv, const char *key, long fallback)
{
    const char *text = child_param(argc, argv, key);
    return text ? strtol(text, NULL, 10) : fallback;
}

int helper_start(helper_t *helper, helper_fn *body, void *arg)
{
    int down[2], up[2];
    if (pipe2(down, O_CLOEXEC) != 0)
        return -1;
    if (pipe2(up, O_CLOEXEC) != 0) {
        close(down[0]);
        close(down[1]);
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int saved = errno;
        close(down[0]);
        close(down[1]);
        close(up[0]);
        close(up[1]);
        errno = saved;
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(down[1]);
        close(up[0]);
        _exit(body(down[0], up[1], arg));
    }
    close(down[0]);
    close(up[1]);
    helper->pid = pid;
    helper->to_helper = down[1];
    helper->from_helper = up[0];
    return 0;
}

int helper_finish(helper_t *helper, int timeout_ms)
{
    if (helper->pid <= 0)
        return -1;
    close(helper->to_helper);
    int status = 0;
    int64_t deadline = clock_monotonic_ns() + (int64_t)timeout_ms * 1000000;
    pid_t done;
    while ((done = waitpid(helper->pid, &status, WNOHANG)) == 0 &&
           clock_monotonic_ns() < deadline)
        sleep_ms(5);
    if (done == 0) {
        kill(helper->pid, SIGKILL);
        waitpid(helper->pid, &status, 0);
        status = -1;
    }
    close(helper->from_helper);
    helper->pid = 0;
    if (status == -1 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

int pipe_write_int(int fd, int value)
{
    return write(fd, &value, sizeof value) == (ssize_t)sizeof value ? 0 : -1;
}

int pipe_read_int(int fd, int *value, int timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, timeout_ms) <= 0)
        return -1;
    return read(fd, value, sizeof *value) == (ssize_t)sizeof *value ? 0 : -1;
}
