/* Tests of the file sink: the plugin driven directly through its ABI with a
 * hand-made host, then through the whole pipeline with real sockets. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include <zmqsink.h>
#include <zmqsink/plugin.h>

#include "helpers.h"
#include "plugin_host.h"

/* ---- files ---- */

/* The running test's scratch directory (each test runs in its own
 * process). */
static char *tmpdir;

static void remove_tmpdir(void)
{
    th_remove_tree(tmpdir);
    free(tmpdir);
}

/* tmpdir/name, in a static buffer per slot (0..3). */
static const char *in_tmp(int slot, const char *fmt, ...)
{
    static char paths[4][512];
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    snprintf(paths[slot], sizeof paths[slot], "%s/%s", tmpdir, name);
    return paths[slot];
}

/* Writes tmpdir/name. */
static void write_text(const char *name, const char *text)
{
    free(th_write_file(tmpdir, name, text));
}

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* A file's lines, split in place; the file must end with a newline. */
typedef struct lines {
    char *text;
    char **line;
    size_t n;
} lines_t;

static lines_t read_lines(const char *path)
{
    lines_t l = { .text = th_read_file(path) };
    cr_assert_not_null(l.text, "%s: %s", path, strerror(errno));
    size_t len = strlen(l.text);
    cr_assert(len == 0 || l.text[len - 1] == '\n',
              "%s does not end with a newline", path);
    for (size_t i = 0; i < len; i++)
        l.n += l.text[i] == '\n';
    l.line = calloc(l.n + 1, sizeof *l.line);
    char *p = l.text;
    for (size_t i = 0; i < l.n; i++) {
        l.line[i] = p;
        p = strchr(p, '\n');
        *p++ = '\0';
    }
    return l;
}

static void free_lines(lines_t *l)
{
    free(l->text);
    free(l->line);
    *l = (lines_t){ 0 };
}

/* ---- the plugin, loaded by hand ---- */

static void *plugin_handle;
static const zmqsink_plugin_t *plugin;
/* Option values the test chooses; lines of known length (line_format). */
static th_plugin_host_t th;

/* "<seq, 4 digits> <endpoint>": 100-byte lines with 94-byte endpoints. */
static size_t line_format(zmqsink_format_t format,
                          const zmqsink_event_t *event, char *buf, size_t cap)
{
    (void)format;
    return (size_t)snprintf(buf, cap, "%04llu %s",
                            (unsigned long long)event->seq, event->endpoint);
}

#define LONG_LINE 100000
/* One line far larger than the plugin's first buffer. */
static size_t long_format(zmqsink_format_t format,
                          const zmqsink_event_t *event, char *buf, size_t cap)
{
    (void)format, (void)event;
    if (cap > 0) {
        size_t n = cap - 1 < LONG_LINE ? cap - 1 : LONG_LINE;
        memset(buf, 'x', n);
        buf[n] = '\0';
    }
    return LONG_LINE;
}

static void direct_setup(void)
{
    tmpdir = th_tempdir();
    plugin = th_plugin_load("file", &plugin_handle);
    static const th_option_t options[] = {
        { "path", "out.log", 0, true },
        { "format", "json", ZMQSINK_FORMAT_JSON, false },
        { "rotate.max_size", NULL, 0, false },
        { "rotate.keep", "5", 5, false },
        { "fsync", "never", 0, false },
        { 0 },
    };
    th_plugin_host_init(&th, plugin, "test", tmpdir, options);
    th.host.format = line_format;
}

static void direct_teardown(void)
{
    if (plugin_handle)
        dlclose(plugin_handle);
    remove_tmpdir();
}

TestSuite(direct, .init = direct_setup, .fini = direct_teardown);


#define MAX_EVENTS 64
static zmqsink_event_t events[MAX_EVENTS];

/* Events first..first+n-1 with seq as their number, ready for
 * line_format(). */
static const zmqsink_event_t *make_events(uint64_t first, size_t n)
{
    cr_assert_leq(n, MAX_EVENTS);
    for (size_t i = 0; i < n; i++) {
        events[i] = (zmqsink_event_t){ .seq = first + i };
        memset(events[i].endpoint, 'a' + (char)((first + i) % 26), 94);
    }
    return events;
}

static void write_ok(void *state, uint64_t first, size_t n)
{
    cr_assert_eq(plugin->write(state, make_events(first, n), n),
                 ZMQSINK_WRITE_OK, "write of %llu..%llu",
                 (unsigned long long)first,
                 (unsigned long long)(first + n - 1));
}

typedef struct seq_range {
    uint64_t first, last;
} seq_range_t;

/* The file holds exactly the lines of the events of the n ranges, in
 * order. */
static void check_seq_ranges(const char *path, const seq_range_t *ranges,
                             size_t n)
{
    lines_t l = read_lines(path);
    size_t i = 0;
    for (size_t r = 0; r < n; r++) {
        for (uint64_t seq = ranges[r].first; seq <= ranges[r].last; seq++) {
            char want[512];
            cr_assert_lt(i, l.n, "%s: %zu lines, want more", path, l.n);
            make_events(seq, 1);
            line_format(ZMQSINK_FORMAT_JSON, &events[0], want, sizeof want);
            cr_assert_str_eq(l.line[i], want, "%s line %zu", path, i + 1);
            i++;
        }
    }
    cr_assert_eq(l.n, i, "%s: %zu lines, want %zu", path, l.n, i);
    free_lines(&l);
}

/* The file holds exactly the lines of events first..last, in order. */
static void check_seq_lines(const char *path, uint64_t first, uint64_t last)
{
    check_seq_ranges(path, &(seq_range_t){ first, last }, 1);
}

Test(direct, descriptor)
{
    cr_assert_eq(plugin->abi_major, ZMQSINK_PLUGIN_ABI_MAJOR);
    cr_assert_str_eq(plugin->name, "file");
    cr_assert_str_eq(plugin->description,
                     "writes events as lines to a file or stdout");
    cr_assert(plugin->open && plugin->write && plugin->close);
    const char *keys[] = { "path", "format", "rotate.max_size", "rotate.keep",
                           "fsync" };
    size_t n = 0;
    for (const zmqsink_option_t *o = plugin->options; o->key; o++, n++)
        cr_assert_str_eq(o->key, keys[n]);
    cr_assert_eq(n, sizeof keys / sizeof keys[0]);
    cr_assert_str_eq(plugin->options[1].choices, "json|logfmt|text",
                     "index order must be zmqsink_format_t's");
}

Test(direct, appends_lines_relative_to_config_dir_with_mode_0640)
{
    umask(022);
    write_text("out.log", "kept\n");
    chmod(in_tmp(0, "out.log"), 0600); /* an existing file keeps its mode */
    void *s = th_plugin_open(&th);
    write_ok(s, 1, 2);
    write_ok(s, 3, 1);
    cr_assert_eq(plugin->flush(s, 0), 0);
    plugin->close(s);

    lines_t l = read_lines(in_tmp(0, "out.log"));
    cr_assert_eq(l.n, 4);
    cr_assert_str_eq(l.line[0], "kept");
    cr_assert_eq(strncmp(l.line[3], "0003 ddd", 8), 0, "%s", l.line[3]);
    free_lines(&l);

    th_plugin_set_option(&th, "path", "new.log", 0);
    s = th_plugin_open(&th);
    write_ok(s, 1, 1);
    plugin->close(s);
    struct stat st;
    cr_assert_eq(stat(in_tmp(0, "new.log"), &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0640, "mode %o", st.st_mode & 0777);
    cr_assert_eq(th.logs, 0, "logged: %s", th.last_log);
}

Test(direct, stdout_is_written_and_left_open)
{
    cr_redirect_stdout();
    th_plugin_set_option(&th, "path", "-", 0);
    void *s = th_plugin_open(&th);
    zmqsink_event_t ev = { .seq = 7 };
    snprintf(ev.endpoint, sizeof ev.endpoint, "tcp://127.0.0.1:5555");
    cr_assert_eq(plugin->write(s, &ev, 1), ZMQSINK_WRITE_OK);
    cr_assert_eq(plugin->reopen(s), 0);
    plugin->close(s);
    cr_assert_neq(fcntl(STDOUT_FILENO, F_GETFD), -1, "stdout was closed");
    fflush(stdout);
    cr_assert_stdout_eq_str("0007 tcp://127.0.0.1:5555\n");
}

Test(direct, newline_inside_a_line_is_replaced)
{
    void *s = th_plugin_open(&th);
    zmqsink_event_t ev = { .seq = 1 };
    snprintf(ev.endpoint, sizeof ev.endpoint, "a\nb\n");
    cr_assert_eq(plugin->write(s, &ev, 1), ZMQSINK_WRITE_OK);
    plugin->close(s);
    lines_t l = read_lines(in_tmp(0, "out.log"));
    cr_assert_eq(l.n, 1);
    cr_assert_str_eq(l.line[0], "0001 a b ");
    free_lines(&l);
}

Test(direct, long_line_is_written_whole)
{
    th.host.format = long_format;
    void *s = th_plugin_open(&th);
    write_ok(s, 1, 3);
    plugin->close(s);
    lines_t l = read_lines(in_tmp(0, "out.log"));
    cr_assert_eq(l.n, 3);
    for (size_t i = 0; i < l.n; i++)
        cr_assert_eq(strspn(l.line[i], "x"), LONG_LINE);
    free_lines(&l);
}

Test(direct, fsync_batch)
{
    th_plugin_set_option(&th, "fsync", "batch", 1);
    void *s = th_plugin_open(&th);
    write_ok(s, 1, 5);
    write_ok(s, 6, 5);
    cr_assert_eq(plugin->flush(s, 0), 0);
    plugin->close(s);
    check_seq_lines(in_tmp(0, "out.log"), 1, 10);
    cr_assert_eq(th.logs, 0, "logged: %s", th.last_log);
}

/* Rotation with 100-byte lines and max_size 1024: ten lines per file. */
typedef struct rotation_case {
    int keep;
    size_t nevents, batch;
    size_t nfiles;           /* path, path.1, ... that must exist */
    uint64_t first[6], last[6]; /* seq range in path, path.1, ... */
} rotation_case_t;

static const rotation_case_t rotation_cases[] = {
    { .keep = 2, .nevents = 35, .batch = 7, .nfiles = 3,
      .first = { 31, 21, 11 }, .last = { 35, 30, 20 } },
    /* A batch larger than max_size is split at line ends. */
    { .keep = 5, .nevents = 35, .batch = 35, .nfiles = 4,
      .first = { 31, 21, 11, 1 }, .last = { 35, 30, 20, 10 } },
    { .keep = 1, .nevents = 10, .batch = 3, .nfiles = 1,
      .first = { 1 }, .last = { 10 } },
    { .keep = 1, .nevents = 11, .batch = 11, .nfiles = 2,
      .first = { 11, 1 }, .last = { 11, 10 } },
};

Test(direct, rotation)
{
    for (size_t c = 0; c < sizeof rotation_cases / sizeof rotation_cases[0];
         c++) {
        const rotation_case_t *rc = &rotation_cases[c];
        char name[32];
        snprintf(name, sizeof name, "case%zu.log", c);
        th_plugin_set_option(&th, "path", name, 0);
        th_plugin_set_option(&th, "rotate.max_size", "1KiB", 1024);
        th_plugin_set_option(&th, "rotate.keep", "", rc->keep);
        void *s = th_plugin_open(&th);
        for (size_t i = 0; i < rc->nevents; i += rc->batch) {
            size_t left = rc->nevents - i;
            write_ok(s, 1 + i, left < rc->batch ? left : rc->batch);
        }
        plugin->close(s);
        check_seq_lines(in_tmp(0, "%s", name), rc->first[0], rc->last[0]);
        for (size_t k = 1; k < rc->nfiles; k++)
            check_seq_lines(in_tmp(0, "%s.%zu", name, k), rc->first[k],
                            rc->last[k]);
        cr_assert(!exists(in_tmp(0, "%s.%zu", name, rc->nfiles)),
                  "case %zu: %s must not exist", c, in_tmp(0, "%s.%zu", name,
                                                            rc->nfiles));
    }
    cr_assert_eq(th.logs, 0, "logged: %s", th.last_log);
}

Test(direct, a_forked_child_holds_none_of_its_files)
{
    th_plugin_set_option(&th, "path", "kept.log", 0);
    th_plugin_set_option(&th, "rotate.max_size", "1KiB", 1024);
    void *s = th_plugin_open(&th);
    write_ok(s, 1, 20); /* rotated: a new file, the old one closed */
    cr_assert(exists(in_tmp(0, "kept.log.1")));
    cr_expect_eq(th_fds_in_child(tmpdir), 0,
                 "the child holds the log or its lock file");
    plugin->close(s);
    cr_assert_eq(th.logs, 0, "logged: %s", th.last_log);
}

Test(direct, oversized_existing_file_is_rotated_first)
{
    char big[2048];
    memset(big, 'z', sizeof big - 2);
    big[sizeof big - 2] = '\n';
    big[sizeof big - 1] = '\0';
    write_text("out.log", big);
    th_plugin_set_option(&th, "rotate.max_size", "1KiB", 1024);
    void *s = th_plugin_open(&th);
    write_ok(s, 1, 2);
    plugin->close(s);
    check_seq_lines(in_tmp(0, "out.log"), 1, 2);
    lines_t l = read_lines(in_tmp(0, "out.log.1"));
    cr_assert_eq(l.n, 1);
    free_lines(&l);
}

/* A device that fails every write (once hang_up, when not -1, is closed
 * after the sink opened it): the sink keeps the events in the queue
 * (RETRY), says so once with the cause, and takes nothing. */
static void write_errors_retry_and_log_once(const char *path, int err,
                                            int hang_up)
{
    th_plugin_set_option(&th, "path", path, 0);
    void *s = th_plugin_open(&th);
    if (hang_up >= 0)
        close(hang_up);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(plugin->write(s, make_events(1, 4), 4),
                     ZMQSINK_WRITE_RETRY, "%s", path);
    plugin->tick(s, 0);
    cr_assert_eq(th.logs, 1, "%s: %s", path, th.log_text);
    cr_assert(strstr(th.last_log, path) && strstr(th.last_log, strerror(err)),
              "%s", th.last_log);
    cr_assert_eq(plugin->flush(s, 0), 0, "nothing was taken");
    plugin->close(s);
    cr_assert_eq(th.failed, 0);
}

Test(direct, full_disk_retries_and_logs_once)
{
    write_errors_retry_and_log_once("/dev/full", ENOSPC, -1);
}

/* EIO, from a terminal whose other side hung up (the pty's master is
 * closed): what a failing disk or a lost tty gives. */
Test(direct, io_error_retries_and_logs_once)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    cr_assert_geq(master, 0);
    cr_assert_eq(grantpt(master), 0);
    cr_assert_eq(unlockpt(master), 0);
    char slave[64];
    cr_assert_eq(ptsname_r(master, slave, sizeof slave), 0);
    /* The sink opens the slave while the master lives; then it hangs up. */
    write_errors_retry_and_log_once(slave, EIO, master);
}

/* RLIMIT_FSIZE makes write(2) stop part way: 250 bytes are two and a half
 * 100-byte lines. */
static void limit_file_size(rlim_t bytes)
{
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl;
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
    rl.rlim_cur = bytes;
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

Test(direct, partial_write_keeps_the_tail_and_retries_it)
{
    limit_file_size(250);
    void *s = th_plugin_open(&th);
    cr_assert(plugin->flags & ZMQSINK_PLUGIN_TICKS_ON_REQUEST);
    write_ok(s, 1, 1);
    cr_assert_eq(th.tick_at_ns, INT64_MAX, "nothing kept, no tick asked");
    write_ok(s, 2, 4); /* taken: the cut third line is kept */
    cr_assert_neq(th.tick_at_ns, INT64_MAX, "a kept tail asks for a tick");
    cr_assert_eq(plugin->write(s, make_events(6, 1), 1), ZMQSINK_WRITE_RETRY,
                 "a new batch must wait for the tail");
    cr_assert_eq(th.logs, 1);
    cr_assert(strstr(th.last_log, strerror(EFBIG)), "%s", th.last_log);
    th.tick_at_ns = INT64_MAX; /* the host consumes the request as it ticks */
    plugin->tick(s, 0);
    cr_assert_neq(th.tick_at_ns, INT64_MAX, "still kept: it asks again");
    limit_file_size(RLIM_INFINITY);
    th.tick_at_ns = INT64_MAX;
    plugin->tick(s, 0);
    cr_assert_eq(th.tick_at_ns, INT64_MAX, "written: no more ticks");
    write_ok(s, 6, 1);
    cr_assert_eq(plugin->flush(s, 0), 0);
    plugin->close(s);
    check_seq_lines(in_tmp(0, "out.log"), 1, 6);
    cr_assert_eq(th.logs, 2, "the recovery is logged: %s", th.last_log);
    cr_assert_eq(th.failed, 0);
}

/* A tail that cannot be written is lost exactly once: reported by flush(),
 * or counted by close() when there was no flush. */
Test(direct, unwritable_tail_is_counted_once)
{
    static const struct {
        bool flush;
        uint64_t flush_returns, failed;
    } cases[] = { { true, 3, 0 }, { false, 0, 3 } };
    limit_file_size(250);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char name[32];
        snprintf(name, sizeof name, "case%zu.log", c);
        th_plugin_set_option(&th, "path", name, 0);
        th.failed = 0;
        void *s = th_plugin_open(&th);
        write_ok(s, 1, 5);
        if (cases[c].flush)
            cr_assert_eq(plugin->flush(s, 0), cases[c].flush_returns);
        plugin->close(s);
        cr_assert_eq(th.failed, cases[c].failed, "case %zu", c);
    }
    cr_assert_str_eq(th.failed_reason, "unwritten");
}

Test(direct, reopen_follows_a_rename)
{
    void *s = th_plugin_open(&th);
    write_ok(s, 1, 2);
    cr_assert_eq(rename(in_tmp(0, "out.log"), in_tmp(1, "out.log.old")), 0);
    write_ok(s, 3, 1); /* still into the renamed file */
    cr_assert_eq(plugin->reopen(s), 0);
    write_ok(s, 4, 2);
    plugin->close(s);
    check_seq_lines(in_tmp(0, "out.log.old"), 1, 3);
    check_seq_lines(in_tmp(0, "out.log"), 4, 5);
}

Test(direct, failed_reopen_keeps_writing_to_the_old_file)
{
    cr_assert_eq(mkdir(in_tmp(0, "sub"), 0755), 0);
    th_plugin_set_option(&th, "path", "sub/out.log", 0);
    void *s = th_plugin_open(&th);
    write_ok(s, 1, 1);
    cr_assert_eq(rename(in_tmp(0, "sub/out.log"), in_tmp(1, "old.log")), 0);
    cr_assert_eq(rmdir(in_tmp(0, "sub")), 0);
    cr_assert_eq(plugin->reopen(s), -1);
    cr_assert_eq(th.logs, 1);
    cr_assert(strstr(th.last_log, in_tmp(0, "sub/out.log")), "%s",
              th.last_log);
    write_ok(s, 2, 1);
    plugin->close(s);
    check_seq_lines(in_tmp(1, "old.log"), 1, 2);
}

Test(direct, open_errors_name_the_path_and_the_fix)
{
    write_text("plain", "");
    static const struct {
        const char *path, *message; /* %s: tmpdir */
    } cases[] = {
        { "missing/out.log", "cannot open '%s/missing/out.log': No such file "
                             "or directory (create the directory or change "
                             "`path`)" },
        { "plain/out.log", "cannot open '%s/plain/out.log': Not a directory" },
        { ".", "cannot open '%s/.': Is a directory (`path` must name a file, "
               "not a directory)" },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char err[512] = "", want[512];
        th_plugin_set_option(&th, "path", cases[c].path, 0);
        cr_assert_null(plugin->open(&th.host, err, sizeof err));
        snprintf(want, sizeof want, cases[c].message, tmpdir);
        cr_assert_str_eq(err, want);
    }
}

/* ---- several processes on one file ---- */

/* Waits for the children (at most a minute in all: one stuck on the lock
 * is killed then) and fails the test unless each exited with 0. A child
 * says why it did not on stderr. */
static void wait_children(const pid_t *pids, size_t n)
{
    int status[8];
    cr_assert_leq(n, sizeof status / sizeof status[0]);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (size_t i = 0; i < n; i++) {
        pid_t got;
        do {
            got = waitpid(pids[i], &status[i], WNOHANG);
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (got == 0 && now.tv_sec - start.tv_sec >= 60) {
                kill(pids[i], SIGKILL);
                got = waitpid(pids[i], &status[i], 0);
            } else if (got == 0) {
                th_sleep_ms(10);
            }
        } while (got == 0 || (got < 0 && errno == EINTR));
        cr_assert_eq(got, pids[i], "waitpid: %s", strerror(errno));
    }
    for (size_t i = 0; i < n; i++)
        cr_assert(WIFEXITED(status[i]) && WEXITSTATUS(status[i]) == 0,
                  "child %zu: %s %d", i,
                  WIFEXITED(status[i]) ? "exit status" : "killed by signal",
                  WIFEXITED(status[i]) ? WEXITSTATUS(status[i])
                                       : WTERMSIG(status[i]));
}

/* In a child process: its own instance of the plugin, on the options of
 * th, as the process of a pre-fork server has. NULL after saying why on
 * stderr. No cr_assert in a child: it would report into the parent's
 * test. */
static void *child_open(const char *who)
{
    th.logs = 0;
    th.last_log[0] = '\0';
    th.failed = 0;
    char err[512] = "";
    void *s = plugin->open(&th.host, err, sizeof err);
    if (!s)
        fprintf(stderr, "%s: open: %s\n", who, err);
    return s;
}

/* In a child process: closes the instance; returns the exit status, 0 when
 * nothing was logged or lost. */
static int child_close(const char *who, void *s)
{
    uint64_t lost = plugin->flush(s, 0);
    plugin->close(s);
    if (!lost && !th.failed && !th.logs)
        return 0;
    fprintf(stderr, "%s: %llu lost, %llu failed, %d logged, the last: %s\n",
            who, (unsigned long long)lost, (unsigned long long)th.failed,
            th.logs, th.last_log);
    return 1;
}

/* Another process, with its own instance on the same path, writes events
 * first..first+n-1 in one batch; the test fails unless all went well. */
static void write_in_another_process(uint64_t first, size_t n)
{
    pid_t pid = fork();
    cr_assert_neq(pid, -1, "fork: %s", strerror(errno));
    if (pid == 0) {
        void *s = child_open("child");
        if (!s)
            _exit(1);
        bool refused =
            plugin->write(s, make_events(first, n), n) != ZMQSINK_WRITE_OK;
        if (refused)
            fprintf(stderr, "child: write refused\n");
        int status = child_close("child", s);
        _exit(refused ? 1 : status);
    }
    wait_children(&pid, 1);
}

/* 100-byte lines, 1 KiB files: the other process writes 7 lines after our
 * 3, rotates the file at its 8th, and our next lines must follow it into
 * the new file rather than go on into the rotated one. */
Test(direct, file_rotated_by_another_process_is_followed)
{
    th_plugin_set_option(&th, "rotate.max_size", "1KiB", 1024);
    void *s = th_plugin_open(&th);
    write_ok(s, 1, 3);
    write_in_another_process(101, 8);
    write_ok(s, 4, 2);
    plugin->close(s);
    check_seq_ranges(in_tmp(0, "out.log.1"),
                     (seq_range_t[]){ { 1, 3 }, { 101, 107 } }, 2);
    check_seq_ranges(in_tmp(0, "out.log"),
                     (seq_range_t[]){ { 108, 108 }, { 4, 5 } }, 2);
    cr_assert(!exists(in_tmp(0, "out.log.2")), "rotated once");
    cr_assert_eq(th.logs, 0, "logged: %s", th.last_log);
}

/* With rotation, a rename by logrotate without SIGHUP is seen at the next
 * batch too (without rotation the sink waits for reopen: see
 * reopen_follows_a_rename). */
Test(direct, file_renamed_away_is_followed_when_rotating)
{
    th_plugin_set_option(&th, "rotate.max_size", "1KiB", 1024);
    void *s = th_plugin_open(&th);
    write_ok(s, 1, 2);
    cr_assert_eq(rename(in_tmp(0, "out.log"), in_tmp(1, "out.log.old")), 0);
    write_ok(s, 3, 2);
    plugin->close(s);
    check_seq_lines(in_tmp(1, "out.log.old"), 1, 2);
    check_seq_lines(in_tmp(0, "out.log"), 3, 4);
    cr_assert_eq(th.logs, 0, "logged: %s", th.last_log);
}

/* A write that stops inside a line (RLIMIT_FSIZE here, a full disk in
 * life) takes the line's first part back out of the file: another
 * process's line then follows whole lines, and the cut line comes later,
 * whole. */
Test(direct, cut_line_is_taken_back_before_another_process_appends)
{
    limit_file_size(250);
    void *s = th_plugin_open(&th);
    write_ok(s, 1, 5); /* taken: two lines went out, the third was cut */
    struct stat st;
    cr_assert_eq(stat(in_tmp(0, "out.log"), &st), 0);
    cr_assert_eq(st.st_size, 200, "%lld bytes: the cut line is not taken back",
                 (long long)st.st_size);
    limit_file_size(RLIM_INFINITY);
    write_in_another_process(50, 1);
    plugin->tick(s, 0);
    plugin->close(s);
    check_seq_ranges(in_tmp(0, "out.log"),
                     (seq_range_t[]){ { 1, 2 }, { 50, 50 }, { 3, 5 } }, 3);
    cr_assert_eq(th.failed, 0);
}

#define WRITERS 4
#define WRITER_LINES 1500
#define SHARED_MAX_SIZE 4096
/* The longest shared_format() line with its newline, 215 bytes, rounded
 * up. */
#define SHARED_LINE_MAX 220

static size_t payload_length(uint32_t writer, uint64_t seq)
{
    return 20 + (size_t)((seq * 37 + writer * 11) % 181);
}

static char payload_letter(uint32_t writer, uint64_t seq)
{
    return (char)('a' + (seq + writer) % 26);
}

/* "w<writer> <seq, 6 digits> <payload> <payload length>", 34 to 215 bytes
 * with the newline: the writer is the event's value, the payload a run of
 * one letter in its endpoint. Every part follows from writer and seq, so a
 * line cut short, or with a piece of another in it, does not parse. */
static size_t shared_format(zmqsink_format_t format,
                            const zmqsink_event_t *event, char *buf,
                            size_t cap)
{
    (void)format;
    size_t len = payload_length(event->value, event->seq);
    return (size_t)snprintf(buf, cap, "w%u %06llu %.*s %zu", event->value,
                            (unsigned long long)event->seq, (int)len,
                            event->endpoint, len);
}

/* Events first..first+n-1 of the writer, for shared_format(). */
static const zmqsink_event_t *writer_events(uint32_t writer, uint64_t first,
                                            size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t seq = first + i;
        events[i] = (zmqsink_event_t){ .seq = seq, .value = writer };
        memset(events[i].endpoint, payload_letter(writer, seq),
               payload_length(writer, seq));
    }
    return events;
}

/* A shared_format() line: true with its writer and seq, false when it is
 * not one whole line. */
static bool parse_shared_line(const char *line, uint32_t *writer,
                              uint64_t *seq)
{
    char *end, letter[2] = "", length[16];
    if (line[0] != 'w' || !isdigit((unsigned char)line[1]))
        return false;
    unsigned long w = strtoul(line + 1, &end, 10);
    if (*end != ' ' || w >= WRITERS || strspn(end + 1, "0123456789") != 6 ||
        end[7] != ' ')
        return false;
    unsigned long long s = strtoull(end + 1, NULL, 10);
    const char *payload = end + 8;
    size_t len = payload_length((uint32_t)w, s);
    letter[0] = payload_letter((uint32_t)w, s);
    snprintf(length, sizeof length, "%zu", len);
    if (strspn(payload, letter) != len || payload[len] != ' ' ||
        strcmp(payload + len + 1, length) != 0)
        return false;
    *writer = (uint32_t)w;
    *seq = s;
    return true;
}

/* In a writer process: once the parent closes start_fd, lines 1 to
 * WRITER_LINES in batches of 1 to 13. Returns the exit status. */
static int shared_writer(uint32_t writer, int start_fd)
{
    char who[32], c;
    snprintf(who, sizeof who, "writer %u", writer);
    while (read(start_fd, &c, 1) < 0 && errno == EINTR)
        ;
    void *s = child_open(who);
    if (!s)
        return 1;
    for (uint64_t seq = 1; seq <= WRITER_LINES;) {
        size_t n = 1 + (size_t)((seq * 7 + writer) % 13);
        if (n > WRITER_LINES + 1 - seq)
            n = WRITER_LINES + 1 - seq;
        if (plugin->write(s, writer_events(writer, seq, n), n) !=
            ZMQSINK_WRITE_OK) {
            fprintf(stderr, "%s: lines from %llu refused: %s\n", who,
                    (unsigned long long)seq, th.last_log);
            return 1;
        }
        seq += n;
    }
    return child_close(who, s);
}

/* path.N (the oldest) .. path.1, path: every writer's lines 1 to
 * WRITER_LINES, each once, whole and in order. No file is over max_size,
 * and each rotated one is within a line of it: two processes that
 * rotated the same file would have left a short one. */
static void check_shared_files(const char *name)
{
    size_t nfiles = 1;
    while (exists(in_tmp(0, "%s.%zu", name, nfiles)))
        nfiles++;
    cr_assert_geq(nfiles, 100, "%zu files: too few rotations", nfiles);
    cr_assert_lt(nfiles, 1000, "keep 1000 deleted some");
    uint64_t next[WRITERS];
    for (size_t w = 0; w < WRITERS; w++)
        next[w] = 1;
    for (size_t k = nfiles; k-- > 0;) {
        const char *path = k ? in_tmp(0, "%s.%zu", name, k)
                             : in_tmp(0, "%s", name);
        struct stat st;
        cr_assert_eq(stat(path, &st), 0);
        cr_assert_leq(st.st_size, SHARED_MAX_SIZE, "%s", path);
        if (k)
            cr_assert_gt(st.st_size, SHARED_MAX_SIZE - SHARED_LINE_MAX,
                         "%s: %lld bytes, rotated early", path,
                         (long long)st.st_size);
        lines_t l = read_lines(path);
        for (size_t i = 0; i < l.n; i++) {
            uint32_t w;
            uint64_t seq;
            cr_assert(parse_shared_line(l.line[i], &w, &seq),
                      "%s line %zu is not whole: %s", path, i + 1, l.line[i]);
            cr_assert_eq(seq, next[w], "%s line %zu: line %llu of writer %u "
                         "where %llu was due", path, i + 1,
                         (unsigned long long)seq, w,
                         (unsigned long long)next[w]);
            next[w]++;
        }
        free_lines(&l);
    }
    for (uint32_t w = 0; w < WRITERS; w++)
        cr_assert_eq(next[w], WRITER_LINES + 1, "writer %u: %llu lines", w,
                     (unsigned long long)(next[w] - 1));
}

/* Processes of a pre-fork server, each with its own instance, write one
 * file, rotated at 4 KiB some 190 times. */
Test(direct, processes_sharing_a_rotated_file_keep_every_line_in_order)
{
    th.host.format = shared_format;
    th_plugin_set_option(&th, "rotate.max_size", "4KiB", SHARED_MAX_SIZE);
    th_plugin_set_option(&th, "rotate.keep", "1000", 1000);
    int start[2];
    cr_assert_eq(pipe(start), 0);
    pid_t pids[WRITERS];
    for (uint32_t w = 0; w < WRITERS; w++) {
        pids[w] = fork();
        cr_assert_neq(pids[w], -1, "fork: %s", strerror(errno));
        if (pids[w] == 0) {
            close(start[1]);
            _exit(shared_writer(w, start[0]));
        }
    }
    close(start[0]);
    close(start[1]); /* all start together */
    wait_children(pids, WRITERS);
    check_shared_files("out.log");
}

/* ---- through the pipeline ---- */

static void *ctx, *router;
static zmqsink_t *zs;

static void pipeline_setup(void)
{
    tmpdir = th_tempdir();
    ctx = zmq_ctx_new();
    cr_assert_not_null(ctx);
}

static void pipeline_teardown(void)
{
    zmqsink_destroy(&zs);
    if (router)
        zmq_close(router);
    zmq_ctx_term(ctx);
    remove_tmpdir();
}

TestSuite(pipeline, .init = pipeline_setup, .fini = pipeline_teardown);

/* Writes dir/app.yaml with one file sink whose options are given (YAML
 * lines indented by four) and returns its path (caller frees). */
static char *write_config(const char *dir, const char *sink_options)
{
    char text[2048];
    snprintf(text, sizeof text,
             "queue: { capacity: 1024 }\n"
             "shutdown_timeout: 5s\n"
             "sinks:\n"
             "  - name: out\n"
             "    type: file\n"
             "%s",
             sink_options);
    return th_write_file(dir, "app.yaml", text);
}

/* Starts zmqsink on a config written as write_config() does. */
static void start(const char *dir, const char *sink_options)
{
    char err[1024] = "", *config = write_config(dir, sink_options);
    zs = zmqsink_new(ctx, config, err, sizeof err);
    free(config);
    cr_assert_not_null(zs, "zmqsink_new: %s", err);
}

/* A router named "frontend", monitored from before its bind, accepts
 * ndealers connections one after the other, each proven by a message. */
static void traffic(int ndealers)
{
    static char endpoint[256];
    if (!router) {
        router = zmq_socket(ctx, ZMQ_ROUTER);
        cr_assert_eq(zmqsink_attach(zs, router, "frontend"), 0);
        cr_assert_eq(zmq_bind(router, "tcp://127.0.0.1:*"), 0);
        th_last_endpoint(router, endpoint, sizeof endpoint);
        int timeout_ms = 10000;
        zmq_setsockopt(router, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    }
    for (int i = 0; i < ndealers; i++) {
        void *dealer = zmq_socket(ctx, ZMQ_DEALER);
        int linger = 0;
        zmq_setsockopt(dealer, ZMQ_LINGER, &linger, sizeof linger);
        cr_assert_eq(zmq_connect(dealer, endpoint), 0);
        cr_assert_eq(zmq_send(dealer, "hi", 2, 0), 2);
        char frame[256];
        cr_assert_geq(zmq_recv(router, frame, sizeof frame, 0), 0,
                      "routing id: %s", zmq_strerror(zmq_errno()));
        cr_assert_eq(zmq_recv(router, frame, sizeof frame, 0), 2);
        zmq_close(dealer);
    }
}

static void stop(zmqsink_stats_t *stats)
{
    zmqsink_destroy_stats(&zs, stats);
    cr_assert_eq(stats->nsinks, 1);
    cr_assert_eq(stats->sinks[0].failed, 0);
    cr_assert_eq(stats->sinks[0].dropped_full, 0);
    cr_assert_eq(stats->sinks[0].dropped_shutdown, 0);
}

/* The whole run: config in tmpdir, ndealers connections, shutdown. */
static void run(const char *sink_options, int ndealers, zmqsink_stats_t *stats)
{
    start(tmpdir, sink_options);
    traffic(ndealers);
    stop(stats);
}

/* Field extraction per format: -1 when the line is malformed, 0 when the
 * key is absent, 1 with its value in out. */
typedef int (*field_fn)(const char *line, const char *key, char *out,
                        size_t cap);

static void skip_space(const char **p)
{
    while (**p == ' ')
        (*p)++;
}

static bool json_string(const char **p, char *out, size_t cap)
{
    const char *s = *p;
    size_t n = 0;
    if (*s++ != '"')
        return false;
    while (*s != '"') {
        char c = *s++;
        if (c == '\0' || (unsigned char)c < 0x20)
            return false;
        if (c == '\\') {
            c = *s++;
            if (c == 'u') {
                for (int i = 0; i < 4; i++)
                    if (!isxdigit((unsigned char)*s++))
                        return false;
                c = '?';
            } else if (c == '\0' || !strchr("\"\\/bfnrt", c)) {
                return false;
            }
        }
        if (n + 1 < cap)
            out[n++] = c;
    }
    out[n] = '\0';
    *p = s + 1;
    return true;
}

static bool json_number(const char **p, char *out, size_t cap)
{
    const char *s = *p;
    s += *s == '-';
    if (!isdigit((unsigned char)*s))
        return false;
    s += strspn(s, "0123456789");
    if (*s == '.') {
        if (!isdigit((unsigned char)*++s))
            return false;
        s += strspn(s, "0123456789");
    }
    snprintf(out, cap, "%.*s", (int)(s - *p), *p);
    *p = s;
    return true;
}

static bool json_value(const char **p, char *out, size_t cap)
{
    static const char *const words[] = { "null", "true", "false" };
    if (**p == '"')
        return json_string(p, out, cap);
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(words[i]);
        if (strncmp(*p, words[i], n) == 0) {
            snprintf(out, cap, "%s", words[i]);
            *p += n;
            return true;
        }
    }
    return json_number(p, out, cap);
}

/* A flat JSON object: string keys, scalar values. */
static int json_field(const char *line, const char *key, char *out,
                      size_t cap)
{
    const char *p = line;
    char name[64], value[512];
    int found = 0;
    if (*p++ != '{')
        return -1;
    for (;;) {
        skip_space(&p);
        if (!json_string(&p, name, sizeof name))
            return -1;
        skip_space(&p);
        if (*p++ != ':')
            return -1;
        skip_space(&p);
        if (!json_value(&p, value, sizeof value))
            return -1;
        if (strcmp(name, key) == 0) {
            snprintf(out, cap, "%s", value);
            found = 1;
        }
        skip_space(&p);
        if (*p == ',') {
            p++;
            continue;
        }
        return *p == '}' && p[1] == '\0' ? found : -1;
    }
}

/* key=value pairs separated by one space; values with spaces, quotes or
 * '=' are quoted. */
static int logfmt_field(const char *line, const char *key, char *out,
                        size_t cap)
{
    const char *p = line;
    int found = 0;
    while (*p) {
        const char *k = p;
        p += strcspn(p, "= \"");
        if (*p != '=' || p == k)
            return -1;
        size_t klen = (size_t)(p++ - k);
        char value[512];
        size_t n = 0;
        if (*p == '"') {
            for (p++; *p && *p != '"'; p++) {
                p += *p == '\\' && p[1];
                if (n + 1 < sizeof value)
                    value[n++] = *p;
            }
            if (*p++ != '"')
                return -1;
        } else {
            for (; *p && *p != ' '; p++) {
                if (*p == '"' || *p == '=')
                    return -1;
                if (n + 1 < sizeof value)
                    value[n++] = *p;
            }
        }
        value[n] = '\0';
        if (klen == strlen(key) && strncmp(k, key, klen) == 0) {
            snprintf(out, cap, "%s", value);
            found = 1;
        }
        if (*p == ' ' && p[1])
            p++;
        else if (*p)
            return -1;
    }
    return found;
}

static void field(field_fn get, const char *line, const char *key, char *out,
                  size_t cap)
{
    int rc = get(line, key, out, cap);
    cr_assert_neq(rc, -1, "malformed line: %s", line);
    cr_assert_eq(rc, 1, "no %s in: %s", key, line);
}

static uint64_t line_seq(field_fn get, const char *line)
{
    char value[64], *end;
    field(get, line, "seq", value, sizeof value);
    uint64_t seq = strtoull(value, &end, 10);
    cr_assert(*end == '\0' && seq > 0, "bad seq in: %s", line);
    return seq;
}

/* Every line a well-formed event of "frontend", seqs from first on without
 * gaps; returns how many lines name the event. */
static size_t check_events(const lines_t *l, field_fn get, uint64_t first,
                           const char *count_event)
{
    size_t count = 0;
    for (size_t i = 0; i < l->n; i++) {
        char value[512];
        cr_assert_eq(line_seq(get, l->line[i]), first + i, "line %zu: %s",
                     i + 1, l->line[i]);
        field(get, l->line[i], "event", value, sizeof value);
        cr_assert_neq(zmqsink_event_from_name(value), 0, "%s", l->line[i]);
        count += strcmp(value, count_event) == 0;
        field(get, l->line[i], "socket", value, sizeof value);
        cr_assert_str_eq(value, "frontend");
    }
    return count;
}

Test(pipeline, json_and_logfmt_lines)
{
    static const struct {
        const char *format;
        field_fn get;
    } cases[] = { { "json", json_field }, { "logfmt", logfmt_field } };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char options[256];
        snprintf(options, sizeof options,
                 "    path: %s.log\n    format: %s\n", cases[c].format,
                 cases[c].format);
        TH_STATS(stats);
        run(options, 3, &stats);
        zmq_close(router);
        router = NULL;

        lines_t l = read_lines(in_tmp(0, "%s.log", cases[c].format));
        cr_assert_eq(l.n, stats.sinks[0].delivered, "%s", cases[c].format);
        cr_assert_eq(check_events(&l, cases[c].get, 1, "accepted"), 3);
        cr_assert_eq(check_events(&l, cases[c].get, 1, "listening"), 1);
        free_lines(&l);
    }
}

Test(pipeline, text_lines)
{
    TH_STATS(stats);
    run("    path: out.txt\n    format: text\n", 2, &stats);
    lines_t l = read_lines(in_tmp(0, "out.txt"));
    cr_assert_eq(l.n, stats.sinks[0].delivered);
    size_t accepted = 0;
    for (size_t i = 0; i < l.n; i++) {
        cr_assert_not_null(strstr(l.line[i], "frontend"), "%s", l.line[i]);
        accepted += strstr(l.line[i], "accepted") != NULL;
    }
    cr_assert_eq(accepted, 2);
    free_lines(&l);
}

Test(pipeline, path_relative_to_config_dir_appends_with_mode_0640)
{
    umask(022);
    cr_assert_eq(mkdir(in_tmp(0, "conf"), 0755), 0);
    cr_assert_eq(mkdir(in_tmp(0, "conf/logs"), 0755), 0);
    write_text("conf/logs/kept.jsonl", "{\"kept\":true}\n");
    cr_assert_eq(chdir("/"), 0);
    start(in_tmp(1, "conf"), "    path: logs/kept.jsonl\n"
                             "  - name: new\n    type: file\n"
                             "    path: logs/new.jsonl\n");
    traffic(1);
    TH_STATS(stats);
    zmqsink_destroy_stats(&zs, &stats);
    cr_assert_eq(stats.nsinks, 2);

    lines_t l = read_lines(in_tmp(0, "conf/logs/kept.jsonl"));
    cr_assert_str_eq(l.line[0], "{\"kept\":true}");
    cr_assert_eq(l.n, 1 + stats.sinks[0].delivered);
    free_lines(&l);
    struct stat st;
    cr_assert_eq(stat(in_tmp(0, "conf/logs/new.jsonl"), &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0640, "mode %o", st.st_mode & 0777);
}

/* A real full disk (a 1 MiB tmpfs of the test's own mount namespace):
 * while it is full the sink waits, its queue holds events and counts the
 * ones it cannot hold as dropped; once space returns it writes on. Every
 * event is in the file or counted. */
Test(pipeline, a_full_disk_loses_nothing_uncounted_and_writing_resumes)
{
    cr_assert_eq(unshare(CLONE_NEWNS), 0, "%s (the test needs root)",
                 strerror(errno));
    cr_assert_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
    const char *disk = in_tmp(1, "disk");
    cr_assert_eq(mkdir(disk, 0755), 0);
    cr_assert_eq(mount("tmpfs", disk, "tmpfs", 0, "size=1m"), 0,
                 "%s", strerror(errno));
    /* Filled but for a few lines. */
    int filler = open(in_tmp(2, "disk/filler"), O_WRONLY | O_CREAT, 0600);
    char block[1024] = {0};
    while (write(filler, block, sizeof block) == sizeof block)
        ;
    cr_assert_eq(ftruncate(filler, lseek(filler, 0, SEEK_CUR) - 4096), 0);
    close(filler);
    int log = open(in_tmp(2, "stderr.log"), O_WRONLY | O_CREAT, 0600);
    cr_assert_geq(dup2(log, STDERR_FILENO), 0);

    start(tmpdir, "    path: disk/events.jsonl\n");
    traffic(400); /* 1200 events and more: past the queue's 1024 */
    cr_assert_eq(unlink(in_tmp(2, "disk/filler")), 0);
    TH_STATS(now);
    for (int waited = 0; waited < 10000; waited += 10) {
        zmqsink_stats(zs, &now);
        if (now.sinks[0].queue_depth == 0)
            break;
        th_sleep_ms(10);
    }
    cr_assert_eq(now.sinks[0].queue_depth, 0, "the queue drains");
    traffic(10); /* into the space that came back */
    zmq_close(router);
    router = NULL;
    TH_STATS(stats);
    zmqsink_destroy_stats(&zs, &stats);
    const zmqsink_sink_stats_t *out = &stats.sinks[0];
    cr_assert_gt(out->dropped_full, 0, "the queue overflowed");
    cr_assert_eq(out->failed + out->dropped_shutdown + out->pending, 0,
                 "failed %llu, dropped at shutdown %llu, pending %llu: %s",
                 (unsigned long long)out->failed,
                 (unsigned long long)out->dropped_shutdown,
                 (unsigned long long)out->pending,
                 th_read_file(in_tmp(2, "stderr.log")));
    cr_assert_eq(out->delivered + out->dropped_full, stats.events,
                 "delivered %llu, dropped %llu, events %llu",
                 (unsigned long long)out->delivered,
                 (unsigned long long)out->dropped_full,
                 (unsigned long long)stats.events);

    lines_t l = read_lines(in_tmp(2, "disk/events.jsonl"));
    cr_assert_eq(l.n, out->delivered);
    uint64_t last = 0;
    for (size_t i = 0; i < l.n; i++) {
        uint64_t seq = line_seq(json_field, l.line[i]);
        cr_assert_gt(seq, last, "line %zu: seq %llu after %llu", i,
                     (unsigned long long)seq, (unsigned long long)last);
        last = seq;
    }
    cr_assert_eq(last, stats.events, "the last event was written");
    free_lines(&l);
    char *said = th_read_file(in_tmp(2, "stderr.log"));
    const char *full = strstr(said, strerror(ENOSPC));
    cr_assert_not_null(full, "%s", said);
    cr_assert_null(strstr(full + 1, strerror(ENOSPC)), "said once: %s", said);
    cr_assert_not_null(strstr(said, "writing to"), "%s", said);
    free(said);
    umount2(disk, MNT_DETACH);
}

Test(pipeline, fsync_batch)
{
    TH_STATS(stats);
    run("    path: out.jsonl\n    fsync: batch\n", 2, &stats);
    lines_t l = read_lines(in_tmp(0, "out.jsonl"));
    cr_assert_gt(l.n, 0);
    cr_assert_eq(l.n, stats.sinks[0].delivered);
    check_events(&l, json_field, 1, "accepted");
    free_lines(&l);
}

/* With 1 KiB files of ~300-byte lines, 20 connections make a dozen files or
 * more: keep 2 leaves the newest three, keep 1000 leaves all of them. */
Test(pipeline, rotation)
{
    static const struct {
        int keep;
    } cases[] = { { 2 }, { 1000 } };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char options[256], name[32];
        snprintf(name, sizeof name, "rot%zu.jsonl", c);
        snprintf(options, sizeof options,
                 "    path: %s\n    rotate: { max_size: 1KiB, keep: %d }\n",
                 name, cases[c].keep);
        TH_STATS(stats);
        run(options, 20, &stats);
        zmq_close(router);
        router = NULL;

        size_t nfiles = 1;
        while (exists(in_tmp(0, "%s.%zu", name, nfiles)))
            nfiles++;
        cr_assert_geq(nfiles, 3, "case %zu: only %zu files", c, nfiles);
        if (cases[c].keep == 2)
            cr_assert_eq(nfiles, 3);
        /* Oldest first, each file continues the seqs of the one before and
         * holds only whole lines within max_size. */
        uint64_t next = 0, total = 0;
        for (size_t k = nfiles; k-- > 0;) {
            const char *path = k ? in_tmp(0, "%s.%zu", name, k)
                                 : in_tmp(0, "%s", name);
            struct stat st;
            cr_assert_eq(stat(path, &st), 0);
            cr_assert_leq(st.st_size, 1024, "%s", path);
            lines_t l = read_lines(path);
            cr_assert_gt(l.n, 0, "%s is empty", path);
            if (!next)
                next = line_seq(json_field, l.line[0]);
            check_events(&l, json_field, next, "accepted");
            next += l.n;
            total += l.n;
            free_lines(&l);
        }
        cr_assert_eq(next - 1, stats.events, "the newest event is kept");
        if (cases[c].keep == 1000)
            cr_assert_eq(total, stats.sinks[0].delivered,
                         "every event, once");
    }
}

/* Waits (bounded) until path exists with at least min_size bytes. Lines
 * are not read here: the sink may be in the middle of writing one. */
static void wait_for_file(const char *path, off_t min_size)
{
    for (int i = 0; i < 1000; i++) {
        struct stat st;
        if (stat(path, &st) == 0 && st.st_size >= min_size)
            return;
        struct timespec pause = { 0, 10 * 1000 * 1000 };
        nanosleep(&pause, NULL);
    }
    cr_assert_fail("%s never reached %lld bytes", path, (long long)min_size);
}

Test(pipeline, reopen_after_rename)
{
    start(tmpdir, "    path: out.jsonl\n");
    traffic(2);
    wait_for_file(in_tmp(0, "out.jsonl"), 1);
    cr_assert_eq(rename(in_tmp(0, "out.jsonl"), in_tmp(1, "old.jsonl")), 0);
    zmqsink_reopen(zs);
    wait_for_file(in_tmp(0, "out.jsonl"), 0); /* made by the reopen */
    traffic(2);
    TH_STATS(stats);
    stop(&stats);

    lines_t old = read_lines(in_tmp(1, "old.jsonl"));
    lines_t new = read_lines(in_tmp(0, "out.jsonl"));
    cr_assert_gt(old.n, 0);
    cr_assert_gt(new.n, 0, "events after the reopen go to the new file");
    /* The first connections' events may land on either side of the
     * reopen; the second ones come after it. */
    size_t old_accepted = check_events(&old, json_field, 1, "accepted");
    size_t new_accepted = check_events(&new, json_field, 1 + old.n, "accepted");
    cr_assert_geq(new_accepted, 2, "the second connections are in the new "
                  "file");
    cr_assert_eq(old_accepted + new_accepted, 4);
    cr_assert_eq(old.n + new.n, stats.sinks[0].delivered);
    free_lines(&old);
    free_lines(&new);
}

Test(pipeline, unwritable_path_fails_new_naming_it)
{
    write_text("plain", "");
    static const char *const paths[] = { "missing/out.jsonl",
                                         "plain/out.jsonl" };
    for (size_t c = 0; c < sizeof paths / sizeof paths[0]; c++) {
        char options[256], err[1024] = "";
        snprintf(options, sizeof options, "    path: %s\n", paths[c]);
        char *config = write_config(tmpdir, options);
        cr_assert_null(zmqsink_new(ctx, config, err, sizeof err));
        free(config);
        cr_assert_not_null(strstr(err, in_tmp(0, "%s", paths[c])), "%s", err);
    }
}
