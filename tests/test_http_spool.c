/* Tests of the http sink's TLS, its spool under damage, under its size
 * bound and shared by processes, and the whole pipeline from real ZeroMQ
 * sockets through a YAML config to the webhook (tests/http/server.py on
 * loopback).
 *
 * The spool tests damage the files the way a crash or a bad disk would and
 * check exactly which events still arrive and how the rest are counted. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "helpers.h"
#include "http_peer.h"

/* Longest a bounded wait in this file lasts. */
#define WAIT_MS 20000

static char *tmpdir;
static hp_server_t server;
static void *ctx;

static void setup(void)
{
    tmpdir = hp_fixture_start(&server, false);
}

static void teardown(void)
{
    hp_fixture_end(&server, tmpdir);
}

/* ---- files in a directory ---- */

static const char *spool_path(void)
{
    static char path[600];
    snprintf(path, sizeof path, "%s/spool", tmpdir);
    return path;
}

static bool ends_with(const char *name, const char *suffix)
{
    size_t len = strlen(name), slen = strlen(suffix);
    return len > slen && strcmp(name + len - slen, suffix) == 0;
}

/* Bytes of the files in dir whose names end in suffix. */
static long long bytes_of_files_ending(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    long long total = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char path[1200];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (ends_with(e->d_name, suffix) && stat(path, &st) == 0)
            total += st.st_size;
    }
    if (d)
        closedir(d);
    return total;
}

static int is_batch_file(const struct dirent *e)
{
    return ends_with(e->d_name, ".batch");
}

/* The spool's .batch file names, sorted; caller frees with free_names(). */
static struct dirent **batch_files(size_t *n)
{
    struct dirent **names = NULL;
    int count = scandir(spool_path(), &names, is_batch_file, alphasort);
    cr_assert_geq(count, 0, "scandir %s", spool_path());
    *n = (size_t)count;
    return names;
}

static void free_names(struct dirent **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static char *path_in_spool(const char *name)
{
    return th_path(spool_path(), name);
}

/* ---- TLS against a CA made for the test ---- */

static char ca_file[600], server_cert[600], server_key[600];

static void tls_setup(void)
{
    setup();
    th_make_certificates(tmpdir);
    snprintf(ca_file, sizeof ca_file, "%s/ca.pem", tmpdir);
    snprintf(server_cert, sizeof server_cert, "%s/server.pem", tmpdir);
    snprintf(server_key, sizeof server_key, "%s/server.key", tmpdir);
    server.cert = server_cert;
    server.key = server_key;
    hp_start(&server, tmpdir, 0);
    cr_assert_eq(strncmp(hp_url(&server), "https://", 8), 0, "%s",
                 hp_url(&server));
}

TestSuite(http_tls, .init = tls_setup, .fini = teardown, .timeout = 60);

Test(http_tls, verified_with_ca_file_delivers_once)
{
    hp_sink_t k;
    hp_sink_init(&k, hp_url(&server));
    hp_sink_set(&k, "tls.ca_file", ca_file, 0);
    hp_sink_open(&k);
    hp_sink_write_many(&k, 0, 200);
    size_t n;
    hp_request_t *r = hp_wait_delivered(&server, 200, hp_sink_tick, &k, &n);
    cr_assert_eq(hp_assert_delivered_once(r, n, 0, 200), 4);
    hp_requests_free(r, n);
    cr_assert_eq(hp_sink_close(&k, 2000), 0);
    cr_assert_eq(k.h.failed, 0);
}

Test(http_tls, unknown_ca_is_refused_and_nothing_is_sent)
{
    hp_sink_t k;
    hp_sink_init(&k, hp_url(&server));
    hp_sink_set(&k, "connect_timeout", "1s", 1000);
    hp_sink_open(&k);
    hp_sink_write(&k, 0, 50);
    hp_sink_run(&k, 1500);
    /* A loaded machine may need longer for the first attempt to end. */
    hp_sink_run_until_logged(&k, "failed");

    size_t n;
    hp_request_t *r = hp_requests(&server, &n);
    cr_assert_eq(n, 0, "a request got through an unverified TLS connection");
    hp_requests_free(r, n);
    cr_assert(strstr(k.h.log_text, "certificate") ||
                  strstr(k.h.log_text, "SSL"),
              "no word of the certificate in:\n%s", k.h.log_text);
    cr_assert_eq(hp_sink_close(&k, 300), 50, "without a spool, lost");
}

Test(http_tls, insecure_delivers_and_says_so)
{
    hp_sink_t k;
    hp_sink_init(&k, hp_url(&server));
    hp_sink_set(&k, "tls.insecure", "true", 1);
    hp_sink_open(&k);
    hp_sink_write_many(&k, 0, 100);
    size_t n;
    hp_request_t *r = hp_wait_delivered(&server, 100, hp_sink_tick, &k, &n);
    cr_assert_eq(hp_assert_delivered_once(r, n, 0, 100), 2);
    hp_requests_free(r, n);
    cr_assert_not_null(strstr(k.h.log_text, "tls.insecure"), "%s",
                       k.h.log_text);
    cr_assert_eq(hp_sink_close(&k, 2000), 0);
}

/* ---- the spool ---- */

static void spool_setup(void)
{
    setup();
    hp_start(&server, tmpdir, 0);
}

TestSuite(http_spool, .init = spool_setup, .fini = teardown, .timeout = 90);

/* Leaves the spool with the 4 batches of events 0..199 (50 each), written
 * by a sink that never reached the (stopped) server. Returns the port the
 * server had. */
static int spool_four_batches(void)
{
    return hp_spool_while_down(&server, spool_path(), 200, 4);
}

static void truncate_by(const char *name, off_t bytes)
{
    char *path = path_in_spool(name);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "%s", path);
    cr_assert_eq(truncate(path, st.st_size - bytes), 0, "%s", path);
    free(path);
}

/* Flips one bit of a body byte: the size stays right, the checksum not. */
static void flip_body_byte(const char *name)
{
    char *path = path_in_spool(name);
    FILE *f = fopen(path, "r+b");
    cr_assert_not_null(f, "%s", path);
    long at = 0;
    int c;
    while ((c = fgetc(f)) != EOF && c != '\n')
        at++;
    cr_assert_eq(c, '\n', "%s has no header line", path);
    at += 1 + 10; /* a few bytes into the first event */
    cr_assert_eq(fseek(f, at, SEEK_SET), 0);
    c = fgetc(f);
    cr_assert_neq(c, EOF, "%s: body too short", path);
    cr_assert_eq(fseek(f, at, SEEK_SET), 0);
    cr_assert_neq(fputc(c ^ 0x01, f), EOF);
    cr_assert_eq(fclose(f), 0);
    free(path);
}

Test(http_spool, corrupt_files_are_set_aside_and_the_rest_delivered)
{
    int port = spool_four_batches();
    size_t nfiles;
    struct dirent **files = batch_files(&nfiles);
    cr_assert_eq(nfiles, 4);
    char torn[300], flipped[300];
    snprintf(torn, sizeof torn, "%s", files[1]->d_name);
    snprintf(flipped, sizeof flipped, "%s", files[2]->d_name);
    free_names(files, nfiles);
    truncate_by(torn, 10);
    flip_body_byte(flipped);
    free(th_write_file(spool_path(), "00000000000000aa.batch", "not a batch\n"));
    free(th_write_file(spool_path(), "0000000000000bbb.tmp",
                       "zmqsink-spool 1 0000000000000bbb"));

    hp_start(&server, tmpdir, port);
    hp_sink_t k;
    hp_sink_init(&k, hp_url(&server));
    hp_sink_set(&k, "spool.dir", spool_path(), 0);
    hp_sink_open(&k);
    size_t n;
    hp_request_t *r = hp_wait_delivered(&server, 100, hp_sink_tick, &k, &n);
    hp_sink_run_until_no_files(&k, spool_path(), ".batch");
    hp_sink_run(&k, 200); /* room for anything that should not come */
    hp_requests_free(r, n);
    r = hp_requests(&server, &n);

    size_t count;
    uint64_t *seqs = hp_delivered_seqs(r, n, &count);
    cr_assert_eq(count, 100, "%zu events delivered, not batches 1 and 4",
                 count);
    for (size_t i = 0; i < count; i++) {
        uint64_t expected = i < 50 ? i : 150 + (i - 50);
        cr_assert_eq(seqs[i], expected, "event %zu: seq %llu, not %llu", i,
                     (unsigned long long)seqs[i],
                     (unsigned long long)expected);
    }
    free(seqs);
    hp_requests_free(r, n);

    cr_assert_eq(hp_files_ending(spool_path(), ".corrupt"), 4);
    cr_assert_eq(hp_files_ending(spool_path(), ".batch"), 0);
    cr_assert_eq(hp_files_ending(spool_path(), ".tmp"), 0);
    /* An earlier run's events: that run counted them (not delivered at its
     * shutdown); here their loss is said, not counted again. */
    cr_assert_eq(th_plugin_failed(&k.h, "corrupt"), 0);
    size_t said = 0;
    for (const char *p = k.h.log_text; (p = strstr(p, "its 50 events lost"));
         p++)
        said++;
    cr_assert_eq(said, 2, "the torn and the flipped batch:\n%s",
                 k.h.log_text);
    const char *named[] = {torn, flipped, "00000000000000aa.batch",
                           "0000000000000bbb.tmp"};
    for (size_t i = 0; i < sizeof named / sizeof *named; i++)
        cr_assert_not_null(strstr(k.h.log_text, named[i]),
                           "%s is not named in:\n%s", named[i], k.h.log_text);
    cr_assert_not_null(strstr(k.h.log_text, "corrupt"), "%s", k.h.log_text);
    cr_assert_eq(hp_sink_close(&k, 2000), 0);
}

/* The host's log, and the warnings about a full spool it was given. */
static void (*host_log)(const zmqsink_host_t *host, zmqsink_severity_t severity,
                        const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int spool_full_warnings;

/* Counts warnings that the spool is full, then logs as the host does:
 * its log does not keep severities, and the sink's repeats of the warning
 * are meant to be debug lines. */
__attribute__((format(printf, 3, 4))) static void
log_counting_full_warnings(const zmqsink_host_t *host,
                           zmqsink_severity_t severity, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (severity == ZMQSINK_SEV_WARNING && strstr(line, "is full"))
        spool_full_warnings++;
    host_log(host, severity, "%s", line);
}

Test(http_spool, full_spool_drops_the_oldest_and_keeps_the_newest)
{
    hp_sink_t k;
    hp_sink_init(&k, hp_url(&server));
    hp_sink_set(&k, "spool.dir", spool_path(), 0);
    hp_sink_set(&k, "spool.max_size", "64KiB", 65536);
    host_log = k.h.host.log;
    k.h.host.log = log_counting_full_warnings;
    spool_full_warnings = 0;
    hp_sink_open(&k);
    hp_control(&server, "status 503");
    for (uint64_t first = 0; first < 1000; first += 50) {
        hp_sink_write(&k, first, 50);
        long long spooled = bytes_of_files_ending(spool_path(), ".batch");
        cr_assert_leq(spooled, 65536, "after seq %llu: %lld bytes spooled",
                      (unsigned long long)first + 49, spooled);
    }
    /* Until the sink reads the first 503, batches wait in memory; it then
     * moves them into the spool, dropping more. */
    hp_sink_run_until_logged(&k, "failed: HTTP 503");
    cr_assert_leq(bytes_of_files_ending(spool_path(), ".batch"), 65536);
    uint64_t dropped = th_plugin_failed(&k.h, "spool_full");
    cr_assert_gt(dropped, 0, "the spool never filled:\n%s", k.h.log_text);
    cr_assert_eq(spool_full_warnings, 1, "%d warnings:\n%s",
                 spool_full_warnings, k.h.log_text);

    hp_control(&server, "ok");
    hp_sink_run_until_no_files(&k, spool_path(), ".batch");
    cr_assert_eq(hp_sink_close(&k, 2000), 0);
    size_t n, count;
    hp_request_t *r = hp_requests(&server, &n);
    uint64_t *seqs = hp_delivered_seqs(r, n, &count);
    hp_requests_free(r, n);
    cr_assert_eq(count + th_plugin_failed(&k.h, "spool_full"), 1000,
                 "%zu delivered, %llu dropped", count,
                 (unsigned long long)th_plugin_failed(&k.h, "spool_full"));
    cr_assert_eq(th_plugin_failed(&k.h, "spool_full"), dropped,
                 "dropped after the endpoint came back");
    for (size_t i = 1; i < count; i++)
        cr_assert_gt(seqs[i], seqs[i - 1], "seq %llu after %llu",
                     (unsigned long long)seqs[i],
                     (unsigned long long)seqs[i - 1]);
    cr_assert_geq(count, 50);
    for (size_t i = 0; i < 50; i++)
        cr_assert_eq(seqs[count - 50 + i], 950 + i, "the newest batch");
    free(seqs);
}

static int seq_compare(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* ---- processes that share a spool dir ---- */

#define SLOTS 64 /* spool.c: the directory itself and slot-1 .. slot-63 */

/* The directory of a slot: the spool dir itself for slot 0. */
static const char *slot_path(int slot)
{
    static char path[700];
    if (slot == 0)
        snprintf(path, sizeof path, "%s", spool_path());
    else
        snprintf(path, sizeof path, "%s/slot-%d", spool_path(), slot);
    return path;
}

/* .batch files in all slots; per_slot (if not NULL) gets each slot's. */
static size_t batches_in_slots(size_t per_slot[SLOTS])
{
    size_t total = 0;
    for (int slot = 0; slot < SLOTS; slot++) {
        size_t n = hp_files_ending(slot_path(slot), ".batch");
        if (per_slot)
            per_slot[slot] = n;
        total += n;
    }
    return total;
}

/* Sets k up as a sink on the spool dir, not opened. */
static void spool_sink_init(hp_sink_t *k)
{
    hp_sink_init(k, hp_url(&server));
    hp_sink_set(k, "spool.dir", spool_path(), 0);
}

/* Takes dir/lock the way a process holding that slot does; returns the
 * fd, which holds the lock until it is closed. */
static int lock_take(const char *dir)
{
    char path[800];
    snprintf(path, sizeof path, "%s/lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
    cr_assert_eq(flock(fd, LOCK_EX | LOCK_NB), 0, "%s: %s", path,
                 strerror(errno));
    return fd;
}

/* Whether some open file description holds dir/lock. */
static bool lock_is_held(const char *dir)
{
    char path[800];
    snprintf(path, sizeof path, "%s/lock", dir);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
    bool held = flock(fd, LOCK_EX | LOCK_NB) != 0;
    cr_assert(!held || errno == EWOULDBLOCK, "%s: %s", path, strerror(errno));
    close(fd); /* releases it if it was taken here */
    return held;
}

/* What a forked child does with a sink its parent set up. The parent and
 * the child signal each other with files in tmpdir, which every wait
 * bounds: a pipe's end inherited by a sibling would keep a reader from
 * ever seeing it close. */
typedef struct child_plan {
    bool waits_to_start; /* it waits for tmpdir/start before it opens */
    uint64_t first;      /* it writes events first .. first + count - 1 */
    size_t count;
    bool server_down;    /* it waits until the events are in the spool */
    bool waits_to_go;    /* then it says so in tmpdir/ready-FIRST ("r", or
                            "x" when it failed) and waits for tmpdir/go */
    int flush_ms;        /* then it flushes for up to this long, and closes */
} child_plan_t;

/* How a child ends: its exit status (apart from 1, a sanitizer's). */
enum { CHILD_OK, CHILD_NO_START = 10, CHILD_OPEN, CHILD_WRITE,
       CHILD_NOT_SPOOLED, CHILD_NO_GO, CHILD_LOST };
static const char *const child_failures[] = {
    "no word to start", "open failed", "write() refused",
    "its events did not reach the spool", "no word to go on",
    "events lost or failed",
};

/* tmpdir/NAME[-FIRST]; static storage. */
static const char *signal_path(const char *name, long long first)
{
    static char path[700];
    if (first < 0)
        snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    else
        snprintf(path, sizeof path, "%s/%s-%lld", tmpdir, name, first);
    return path;
}

/* Writes text to a signal file whole: made aside, then renamed. */
static bool signal_send(const char *path, const char *text)
{
    char tmp[800];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "we");
    bool ok = f && fputs(text, f) >= 0;
    ok = f && fclose(f) == 0 && ok;
    return ok && rename(tmp, path) == 0;
}

/* Waits (bounded) for a signal file. Returns its text, or NULL; caller
 * frees. */
static char *signal_wait(const char *path, int ms)
{
    char *text;
    for (int waited = 0; !(text = th_read_file(path)) && waited < ms;
         waited += 10)
        th_sleep_ms(10);
    return text;
}

/* The plan, without a Criterion assertion (a child must not report to
 * the runner). Returns how it ended. */
static int child_steps(hp_sink_t *k, const child_plan_t *plan, char *err,
                       size_t errlen)
{
    char *word = NULL;
    if (plan->waits_to_start &&
        !(word = signal_wait(signal_path("start", -1), WAIT_MS)))
        return CHILD_NO_START;
    free(word);
    word = NULL;
    k->state = k->h.plugin->open(&k->h.host, err, errlen);
    if (!k->state)
        return CHILD_OPEN;
    zmqsink_event_t events[50];
    for (size_t done = 0, n; done < plan->count; done += n) {
        n = plan->count - done < 50 ? plan->count - done : 50;
        for (size_t i = 0; i < n; i++)
            events[i] = (zmqsink_event_t){.seq = plan->first + done + i,
                                          .time_ns = 1,
                                          .duration_ms = -1,
                                          .type = ZMQSINK_EVENT_CONNECTED,
                                          .severity = ZMQSINK_SEV_INFO};
        if (k->h.plugin->write(k->state, events, n) != ZMQSINK_WRITE_OK)
            return CHILD_WRITE;
    }
    int rc = CHILD_OK;
    for (int waited = 0; plan->server_down && !strstr(k->h.log_text, "failed");
         waited += 10) {
        if (waited >= WAIT_MS) {
            rc = CHILD_NOT_SPOOLED;
            break;
        }
        hp_sink_tick(k);
        th_sleep_ms(10);
    }
    if (rc == CHILD_OK && plan->waits_to_go &&
        (!signal_send(signal_path("ready", (long long)plan->first), "r") ||
         !(word = signal_wait(signal_path("go", -1), 2 * WAIT_MS))))
        rc = CHILD_NO_GO;
    free(word);
    uint64_t failed = k->h.failed;
    if (hp_sink_close(k, plan->flush_ms) != 0 || failed != 0)
        rc = rc == CHILD_OK ? CHILD_LOST : rc;
    return rc;
}

/* Where a child leaves its log: tmpdir/child-FIRST. */
static const char *child_log_path(uint64_t first)
{
    return signal_path("child", (long long)first);
}

/* Forks a child that follows the plan with k (set up, not opened). */
static pid_t child_start(hp_sink_t *k, const child_plan_t *plan)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid > 0) {
        dlclose(k->handle); /* the child has its own */
        return pid;
    }
    char err[512] = "";
    int rc = child_steps(k, plan, err, sizeof err);
    if (rc != CHILD_OK && plan->waits_to_go)
        signal_send(signal_path("ready", (long long)plan->first), "x");
    FILE *log = fopen(child_log_path(plan->first), "we");
    if (log) {
        fprintf(log, "%s%s%s", err, *err ? "\n" : "", k->h.log_text);
        fclose(log);
    }
    _exit(rc);
}

/* Reaps the child that wrote from first. Returns how it ended (-1:
 * killed) and its log in *log; caller frees. */
static int child_reap(pid_t pid, uint64_t first, char **log)
{
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    *log = th_read_file(child_log_path(first));
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The test fails with the child's log unless it did all it was to do. */
static void child_assert(int code, uint64_t first, const char *log)
{
    cr_assert_eq(code, CHILD_OK, "the child writing from %llu: %s; its "
                 "log:\n%s",
                 (unsigned long long)first,
                 code >= CHILD_NO_START && code <= CHILD_LOST
                     ? child_failures[code - CHILD_NO_START]
                     : "killed or crashed",
                 log ? log : "(none)");
}

/* Waits for the child that wrote from first; the test fails with its log
 * unless it did all it was to do. Returns its log; caller frees. */
static char *child_wait(pid_t pid, uint64_t first)
{
    char *log;
    int code = child_reap(pid, first, &log);
    child_assert(code, first, log);
    return log;
}

/* Reaps n children; the test fails with the log of the first that failed
 * by itself, rather than for want of the parent's word. */
static void children_wait(const pid_t pids[], const uint64_t first[], int n)
{
    int codes[n], worst = -1;
    char *logs[n];
    for (int i = 0; i < n; i++) {
        codes[i] = child_reap(pids[i], first[i], &logs[i]);
        if (codes[i] != CHILD_OK &&
            (worst < 0 || codes[worst] == CHILD_NO_GO))
            worst = i;
    }
    for (int i = 0; i < n; i++)
        if (i != worst)
            free(logs[i]);
    if (worst >= 0)
        child_assert(codes[worst], first[worst], logs[worst]);
}

/* Whether each of n children (writing from first[i]) said it was ready,
 * waiting as long as they may take. */
static bool children_ready(const uint64_t first[], int n)
{
    bool all = true;
    for (int i = 0; i < n; i++) {
        char *word = signal_wait(signal_path("ready", (long long)first[i]),
                                 2 * WAIT_MS);
        all = all && word && strcmp(word, "r") == 0;
        free(word);
    }
    return all;
}

/* Forks a child with a sink on the spool dir that follows the plan, and
 * waits for it. Returns its log; caller frees. */
static char *child_run(const child_plan_t *plan)
{
    hp_sink_t k;
    spool_sink_init(&k);
    return child_wait(child_start(&k, plan), plan->first);
}

/* Asserts that, after dropping repeated keys, the server took each event
 * of the ranges first[i] .. first[i] + count - 1 exactly once. */
static void assert_each_delivered_once(const uint64_t first[], size_t ranges,
                                       size_t count)
{
    size_t n, delivered;
    hp_request_t *r = hp_requests(&server, &n);
    uint64_t *seqs = hp_delivered_seqs(r, n, &delivered);
    hp_requests_free(r, n);
    cr_assert_eq(delivered, ranges * count, "%zu events delivered, not %zu",
                 delivered, ranges * count);
    uint64_t *expected = calloc(delivered, sizeof *expected);
    cr_assert_not_null(expected);
    for (size_t i = 0; i < delivered; i++)
        expected[i] = first[i / count] + i % count;
    qsort(seqs, delivered, sizeof *seqs, seq_compare);
    qsort(expected, delivered, sizeof *expected, seq_compare);
    for (size_t i = 0; i < delivered; i++)
        cr_assert_eq(seqs[i], expected[i], "delivered event %zu: seq %llu, "
                     "not %llu", i, (unsigned long long)seqs[i],
                     (unsigned long long)expected[i]);
    free(expected);
    free(seqs);
}

Test(http_spool, processes_sharing_a_spool_dir_each_take_a_slot_and_deliver_once)
{
    enum { CHILDREN = 3, EVENTS = 100 };
    int port = server.port;
    hp_stop(&server);
    pid_t pids[CHILDREN];
    uint64_t first[CHILDREN];
    for (int i = 0; i < CHILDREN; i++) {
        first[i] = 1000 * (uint64_t)(i + 1);
        child_plan_t plan = {.first = first[i], .count = EVENTS,
                             .server_down = true, .waits_to_go = true,
                             .flush_ms = WAIT_MS};
        hp_sink_t k;
        spool_sink_init(&k);
        pids[i] = child_start(&k, &plan);
    }
    if (!children_ready(first, CHILDREN)) {
        cr_assert(signal_send(signal_path("go", -1), "g"));
        children_wait(pids, first, CHILDREN);
        cr_assert_fail("a child did not say it was ready");
    }

    /* All of them hold a slot at once, each with its 2 batches. */
    size_t per_slot[SLOTS], slots_used = 0;
    cr_assert_eq(batches_in_slots(per_slot), CHILDREN * 2);
    for (int slot = 0; slot < SLOTS; slot++) {
        cr_assert(per_slot[slot] == 0 || per_slot[slot] == 2,
                  "%zu batches in %s", per_slot[slot], slot_path(slot));
        slots_used += per_slot[slot] > 0;
    }
    cr_assert_eq(slots_used, CHILDREN);

    hp_start(&server, tmpdir, port);
    cr_assert(signal_send(signal_path("go", -1), "g"));
    children_wait(pids, first, CHILDREN);
    assert_each_delivered_once(first, CHILDREN, EVENTS);
    cr_assert_eq(batches_in_slots(NULL), 0);
    cr_assert_eq(hp_files_ending(spool_path(), ".corrupt"), 0);
}

/* The events the spool's whole batches hold, from their headers
 * ("zmqsink-spool 1 ID KEY EVENTS ..."). */
static size_t events_in_batches(void)
{
    size_t nfiles, events = 0;
    struct dirent **files = batch_files(&nfiles);
    for (size_t i = 0; i < nfiles; i++) {
        char *path = path_in_spool(files[i]->d_name);
        char *text = th_read_file(path);
        unsigned long long id, count;
        char key[64];
        cr_assert(text && sscanf(text, "zmqsink-spool 1 %llx %63s %llu", &id,
                                 key, &count) == 3, "%s", path);
        events += (size_t)count;
        free(text);
        free(path);
    }
    free_names(files, nfiles);
    return events;
}

/* A process killed (SIGKILL) while it writes batch after batch into the
 * spool: a batch it was writing is left as a .tmp, set aside as corrupt by
 * the next process, which delivers every whole batch, each event once. */
Test(http_spool, killed_while_spooling_the_whole_batches_are_delivered)
{
    int port = server.port;
    hp_stop(&server);
    hp_sink_t k;
    spool_sink_init(&k);
    hp_sink_set(&k, "batch.max_events", "50", 50);
    child_plan_t plan = {.first = 1, .count = 1000000, .server_down = true};
    pid_t pid = child_start(&k, &plan);
    for (int waited = 0; hp_files_ending(spool_path(), ".batch") < 30;
         waited += 5) {
        cr_assert_lt(waited, WAIT_MS, "the child spools nothing");
        th_sleep_ms(5);
    }
    cr_assert_eq(kill(pid, SIGKILL), 0);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status), "it was still writing");
    size_t torn = hp_files_ending(spool_path(), ".tmp");
    size_t expected = events_in_batches();

    hp_start(&server, tmpdir, port);
    hp_sink_t next;
    spool_sink_init(&next);
    hp_sink_open(&next);
    size_t n;
    hp_request_t *r = hp_wait_delivered(&server, expected, hp_sink_tick,
                                        &next, &n);
    hp_sink_run_until_no_files(&next, spool_path(), ".batch");
    hp_requests_free(r, n);
    r = hp_requests(&server, &n);
    size_t count;
    uint64_t *seqs = hp_delivered_seqs(r, n, &count);
    cr_assert_eq(count, expected, "%zu events delivered of %zu spooled",
                 count, expected);
    qsort(seqs, count, sizeof *seqs, seq_compare);
    for (size_t i = 1; i < count; i++)
        cr_assert_neq(seqs[i], seqs[i - 1], "seq %llu delivered twice",
                      (unsigned long long)seqs[i]);
    free(seqs);
    hp_requests_free(r, n);
    cr_assert_eq(hp_files_ending(spool_path(), ".corrupt"), torn);
    cr_assert_eq(hp_files_ending(spool_path(), ".tmp"), 0);
    cr_assert_eq(hp_sink_close(&next, 2000), 0);
}

/* Has the test process hold the spool dir with a sink (returned open in
 * parent), and a child of it spool events 1000..1049 and end, with the
 * server down. Returns the port the server had. */
static int child_spools_beside_its_parent(hp_sink_t *parent)
{
    int port = server.port;
    hp_stop(&server);
    spool_sink_init(parent);
    hp_sink_open(parent);
    child_plan_t plan = {.first = 1000, .count = 50, .server_down = true,
                         .flush_ms = 300};
    free(child_run(&plan));
    return port;
}

Test(http_spool, a_forked_child_takes_a_slot_of_its_own_not_its_parents_lock)
{
    hp_sink_t parent;
    child_spools_beside_its_parent(&parent);
    cr_assert_eq(hp_files_ending(slot_path(1), ".batch"), 1,
                 "the child did not spool in slot-1");
    cr_assert_eq(hp_files_ending(spool_path(), ".batch"), 0);
    cr_assert(lock_is_held(spool_path()),
              "the child's exit released its parent's lock");
    cr_assert_eq(hp_sink_close(&parent, 300), 0);
    cr_assert(!lock_is_held(spool_path()));
    cr_assert(!lock_is_held(slot_path(1)));
}

Test(http_spool, a_process_taking_a_slot_replays_what_was_left_in_it_first)
{
    hp_sink_t parent;
    int port = child_spools_beside_its_parent(&parent);
    hp_start(&server, tmpdir, port);
    child_plan_t plan = {.first = 2000, .count = 50, .flush_ms = WAIT_MS};
    char *log = child_run(&plan);
    char earlier[800];
    snprintf(earlier, sizeof earlier, "1 batches from an earlier run wait "
             "in %s", slot_path(1));
    cr_assert_not_null(strstr(log, earlier), "%s", log);
    free(log);

    size_t n, count;
    hp_request_t *r = hp_requests(&server, &n);
    uint64_t *seqs = hp_delivered_seqs(r, n, &count);
    hp_requests_free(r, n);
    cr_assert_eq(count, 100);
    for (size_t i = 0; i < count; i++)
        cr_assert_eq(seqs[i], (i < 50 ? 1000 : 2000 - 50) + i,
                     "event %zu: seq %llu", i, (unsigned long long)seqs[i]);
    free(seqs);
    cr_assert_eq(batches_in_slots(NULL), 0);
    cr_assert_eq(hp_sink_close(&parent, 300), 0);
}

Test(http_spool, a_forked_child_does_not_keep_its_parents_lock)
{
    hp_stop(&server);
    hp_sink_t parent, child;
    spool_sink_init(&parent);
    hp_sink_open(&parent);
    spool_sink_init(&child);
    child_plan_t plan = {.waits_to_start = true, .first = 1000, .count = 50,
                         .server_down = true, .flush_ms = 300};
    pid_t pid = child_start(&child, &plan);
    /* Closed here, the parent's lock is free even though the child was
     * forked with its fd. */
    cr_assert_eq(hp_sink_close(&parent, 300), 0);
    cr_assert(signal_send(signal_path("start", -1), "s"));
    free(child_wait(pid, plan.first));
    cr_assert_eq(hp_files_ending(spool_path(), ".batch"), 1,
                 "the child did not take the spool dir itself");
    cr_assert_eq(batches_in_slots(NULL), 1);

    /* The plugin is unloaded now: its fork handlers must be gone too. */
    char *path = th_plugin_path("http");
    cr_assert_null(dlopen(path, RTLD_NOW | RTLD_NOLOAD), "%s is loaded", path);
    free(path);
    pid_t after = fork();
    if (after == 0)
        _exit(0);
    int status;
    cr_assert_eq(waitpid(after, &status, 0), after);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The Idempotency-Key in the header of a batch file. */
static void batch_key(const char *path, char key[33])
{
    char *text = th_read_file(path);
    cr_assert_not_null(text, "%s", path);
    cr_assert_eq(sscanf(text, "zmqsink-spool 1 %*s %32s", key), 1, "%s",
                 path);
    free(text);
}

Test(http_spool, batches_of_an_abandoned_slot_are_adopted_under_their_keys)
{
    cr_assert_eq(mkdir(spool_path(), 0750), 0);
    char abandoned[700];
    snprintf(abandoned, sizeof abandoned, "%s", slot_path(2));
    int port = hp_spool_while_down(&server, abandoned, 100, 2);
    struct dirent **files = NULL;
    cr_assert_eq(scandir(abandoned, &files, is_batch_file, alphasort), 2);
    char keys[2][33];
    for (size_t i = 0; i < 2; i++) {
        char *path;
        cr_assert_geq(asprintf(&path, "%s/%s", abandoned, files[i]->d_name),
                      0);
        batch_key(path, keys[i]);
        free(path);
    }
    free_names(files, 2);

    hp_start(&server, tmpdir, port);
    hp_sink_t k;
    spool_sink_init(&k);
    hp_sink_open(&k);
    cr_assert_not_null(strstr(k.h.log_text, "2 batches left in"), "%s",
                       k.h.log_text);
    cr_assert_eq(hp_files_ending(abandoned, ".batch"), 0);
    hp_sink_write(&k, 100, 50);
    size_t n;
    hp_request_t *r = hp_wait_delivered(&server, 150, hp_sink_tick, &k, &n);
    cr_assert_eq(hp_assert_delivered_once(r, n, 0, 150), 3);
    for (size_t i = 0, adopted = 0; i < n && adopted < 2; i++)
        if (r[i].answer[0] == '2')
            cr_assert_str_eq(r[i].key, keys[adopted++]);
    hp_requests_free(r, n);
    hp_sink_run_until_no_files(&k, spool_path(), ".batch");
    cr_assert_eq(hp_sink_close(&k, 2000), 0);
    cr_assert_eq(k.h.failed, 0);
    cr_assert_eq(hp_files_ending(spool_path(), ".corrupt"), 0,
                 "the slot directory was taken for a file");
}

Test(http_spool, more_processes_than_slots_are_refused_with_a_reason)
{
    int locks[SLOTS];
    cr_assert_eq(mkdir(spool_path(), 0750), 0);
    for (int slot = 0; slot < SLOTS; slot++) {
        cr_assert(slot == 0 || mkdir(slot_path(slot), 0750) == 0);
        locks[slot] = lock_take(slot_path(slot));
    }
    hp_sink_t k;
    spool_sink_init(&k);
    const char *err = hp_sink_open_fails(&k);
    cr_assert_not_null(strstr(err, "is in use by 64 other processes"), "%s",
                       err);
    cr_assert_not_null(strstr(err, "give some of them their own spool.dir"),
                       "%s", err);

    close(locks[40]);
    spool_sink_init(&k);
    hp_sink_open(&k);
    char expected[800];
    snprintf(expected, sizeof expected, "this one spools in %s",
             slot_path(40));
    cr_assert_not_null(strstr(k.h.log_text, expected), "%s", k.h.log_text);
    cr_assert_eq(hp_sink_close(&k, 300), 0);
    for (int slot = 0; slot < SLOTS; slot++)
        if (slot != 40)
            close(locks[slot]);
}

/* ---- the whole pipeline ---- */

static void pipeline_setup(void)
{
    spool_setup();
    ctx = hp_pipeline_ctx();
}

static void pipeline_teardown(void)
{
    hp_pipeline_end(ctx);
    teardown();
}

TestSuite(http_pipeline, .init = pipeline_setup, .fini = pipeline_teardown,
          .timeout = 90);

static void *attached_socket(zmqsink_t *zs, int type, const char *name)
{
    void *socket = th_socket(ctx, type);
    int timeout = 10000;
    zmq_setsockopt(socket, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    cr_assert_eq(zmqsink_attach(zs, socket, name), 0);
    return socket;
}

/* A DEALER and a ROUTER over tcp, a PAIR and a PAIR over ipc: connected,
 * a message each way they allow, and closed. */
static void connect_and_close(zmqsink_t *zs, th_log_t *log)
{
    void *router = attached_socket(zs, ZMQ_ROUTER, "router");
    void *dealer = attached_socket(zs, ZMQ_DEALER, "dealer");
    void *ipc_server = attached_socket(zs, ZMQ_PAIR, "ipc-server");
    void *ipc_client = attached_socket(zs, ZMQ_PAIR, "ipc-client");
    cr_assert_eq(zmq_bind(router, "tcp://127.0.0.1:*"), 0);
    char endpoint[256];
    th_last_endpoint(router, endpoint, sizeof endpoint);
    cr_assert_eq(zmq_connect(dealer, endpoint), 0);
    snprintf(endpoint, sizeof endpoint, "ipc://%s/x.ipc", tmpdir);
    cr_assert_eq(zmq_bind(ipc_server, endpoint), 0);
    cr_assert_eq(zmq_connect(ipc_client, endpoint), 0);

    char buf[64];
    cr_assert_eq(zmq_send(dealer, "x", 1, 0), 1);
    cr_assert_gt(zmq_recv(router, buf, sizeof buf, 0), 0, "identity frame");
    cr_assert_eq(zmq_recv(router, buf, sizeof buf, 0), 1);
    cr_assert_eq(zmq_send(ipc_client, "y", 1, 0), 1);
    cr_assert_eq(zmq_recv(ipc_server, buf, sizeof buf, 0), 1);
    cr_assert_eq(th_log_wait(log, ZMQSINK_EVENT_CONNECTED, 2, WAIT_MS), 2);
    cr_assert_eq(th_log_wait(log, ZMQSINK_EVENT_ACCEPTED, 2, WAIT_MS), 2);

    th_close(dealer);
    th_close(ipc_client);
    th_close(router);
    th_close(ipc_server);
    cr_assert_eq(th_log_wait(log, ZMQSINK_EVENT_MONITOR_STOPPED, 4, WAIT_MS),
                 4);
}

/* The "seq" of every line of the file, sorted; *connected gets whether
 * one line is a connected event. Caller frees. */
static uint64_t *file_seqs(const char *path, size_t *count, bool *connected)
{
    char *text = th_read_file(path);
    cr_assert_not_null(text, "%s is missing", path);
    uint64_t *seqs = NULL;
    *count = 0;
    *connected = false;
    for (char *save, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        const char *seq = strstr(line, "\"seq\":");
        cr_assert_not_null(seq, "a line without a seq: %s", line);
        char *end;
        seqs = realloc(seqs, (*count + 1) * sizeof *seqs);
        cr_assert_not_null(seqs);
        seqs[(*count)++] = strtoull(seq + 6, &end, 10);
        cr_assert_neq(end, seq + 6, "%s", line);
        *connected |= strstr(line, "\"event\":\"connected\"") != NULL;
    }
    free(text);
    qsort(seqs, *count, sizeof *seqs, seq_compare);
    return seqs;
}

static void assert_check_hides_the_token(const char *config)
{
    char *report = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&report, &len);
    cr_assert_not_null(out);
    char err[1024] = "";
    int rc = zmqsink_check(config, out, err, sizeof err);
    fclose(out);
    cr_assert_eq(rc, 0, "zmqsink_check: %s", err);
    cr_assert_not_null(strstr(report, "sink 'hook': type http"), "%s", report);
    cr_assert_null(strstr(report, "tok-s3cret"), "%s", report);
    free(report);
}

Test(http_pipeline, real_sockets_reach_the_webhook_and_the_file_alike)
{
    setenv("ZS_TEST_TOKEN", "tok-s3cret-42", 1);
    zmqsink_t *zs = th_start(ctx, tmpdir, "shutdown_timeout: 5s\n"
                          "sinks:\n"
                          "  - name: hook\n"
                          "    type: http\n"
                          "    url: %s\n"
                          "    headers: { Authorization: \"Bearer "
                          "${ZS_TEST_TOKEN}\" }\n"
                          "    batch: { max_delay: 100ms }\n"
                          "  - name: out\n"
                          "    type: file\n"
                          "    path: %s/events.jsonl\n"
                          "    format: json\n",
                          hp_url(&server), tmpdir);
    th_log_t log;
    th_log_init(&log);
    cr_assert_eq(zmqsink_add_callback(zs, "log", ZMQSINK_EVENT_ALL,
                                      th_log_callback, &log),
                 0);
    connect_and_close(zs, &log);
    TH_STATS(stats);
    zmqsink_destroy_stats(&zs, &stats);
    th_log_free(&log);
    cr_assert_eq(stats.nsinks, 3u);
    for (size_t i = 0; i < 2; i++) {
        const zmqsink_sink_stats_t *sink = &stats.sinks[i];
        cr_assert_eq(sink->delivered, stats.events, "sink %s", sink->name);
        cr_assert_eq(sink->dropped_full + sink->dropped_shutdown +
                         sink->failed,
                     0u, "sink %s", sink->name);
    }

    char path[700];
    snprintf(path, sizeof path, "%s/events.jsonl", tmpdir);
    size_t nfile;
    bool connected;
    uint64_t *in_file = file_seqs(path, &nfile, &connected);
    cr_assert_gt(nfile, 0);
    cr_assert(connected, "no connected event in %s", path);

    size_t n, nhook;
    hp_request_t *r = hp_requests(&server, &n);
    cr_assert_gt(n, 0);
    uint64_t *at_hook = hp_delivered_seqs(r, n, &nhook);
    qsort(at_hook, nhook, sizeof *at_hook, seq_compare);
    cr_assert_eq(nhook, nfile, "%zu events at the webhook, %zu in the file",
                 nhook, nfile);
    cr_assert_arr_eq(at_hook, in_file, nfile * sizeof *in_file);
    for (size_t i = 1; i < nhook; i++)
        cr_assert_neq(at_hook[i], at_hook[i - 1], "seq %llu twice",
                      (unsigned long long)at_hook[i]);
    char value[128];
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(hp_header(&r[i], "authorization", value,
                                   sizeof value),
                         "Bearer tok-s3cret-42", "request %d", r[i].n);
    hp_requests_free(r, n);
    free(at_hook);
    free(in_file);

    snprintf(path, sizeof path, "%s/zmqsink.yaml", tmpdir);
    assert_check_hides_the_token(path);
}
