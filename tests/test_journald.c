/* Tests of the journald sink against Debian's systemd-journald, started by
 * the test without systemd, and read back with `journalctl -o json`.
 *
 * libsystemd sends to /run/systemd/journal/socket and nowhere else. The
 * test therefore runs journald in a journal namespace of its own
 * (`systemd-journald zmqsink-test`: sockets in
 * /run/systemd/journal.zmqsink-test/, volatile storage in
 * /run/log/journal/MACHINE-ID.zmqsink-test/) and points
 * /run/systemd/journal/socket at that namespace's socket with a symbolic
 * link, for as long as it holds a lock that every test using it takes: one
 * such test at a time on the machine, whatever the suite or the build.
 * Nothing of the machine's own journal is touched; a machine where a
 * journald of its own listens on that socket (systemd runs it) is left
 * alone and the tests say so and skip. It needs root, as journald does. */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include <zmqsink.h>
#include <zmqsink/plugin.h>

#include "helpers.h"
#include "plugin_host.h"

#define JOURNALD "/lib/systemd/systemd-journald"
#define JOURNALCTL "/bin/journalctl"
#define NAMESPACE "zmqsink-test"
#define JOURNAL_DIR "/run/systemd/journal"
#define JOURNAL_SOCKET JOURNAL_DIR "/socket"
#define NAMESPACE_DIR "/run/systemd/journal." NAMESPACE
/* The link, relative so that it names the namespace's socket wherever
 * /run is seen from. */
#define LINK_TARGET "../journal." NAMESPACE "/socket"
#define DROPIN_DIR "/run/systemd/journald@" NAMESPACE ".conf.d"
#define LOCK_PATH "/tmp/zmqsink-test-journald.lock"
/* Bounded waits. */
#define WAIT_MS 15000
#define LOCK_WAIT_MS 60000 /* well within a test's timeout */
#define STEP_MS 20

static char *tmpdir;
static char identifier[64];

/* ---- journald, started by hand ---- */

static int lock_fd = -1;
static pid_t journald = -1;
static bool made_journal_dir, linked;

static bool socket_accepts(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    bool ok = connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0;
    close(fd);
    return ok;
}

static void run(const char *command)
{
    cr_assert_eq(system(command), 0, "%s failed", command);
}

/* The namespace's journal files, its sockets and its configuration, left
 * by an earlier run. */
static void remove_namespace(void)
{
    run("rm -rf " NAMESPACE_DIR " " DROPIN_DIR " /run/log/journal/*."
        NAMESPACE " /var/log/journal/*." NAMESPACE);
}

static void take_lock(void)
{
    lock_fd = open(LOCK_PATH, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    cr_assert_geq(lock_fd, 0, LOCK_PATH ": %s", strerror(errno));
    fchmod(lock_fd, 0666); /* shared by every user who runs the tests */
    for (int waited = 0; flock(lock_fd, LOCK_EX | LOCK_NB) != 0;
         waited += STEP_MS) {
        cr_assert_lt(waited, LOCK_WAIT_MS,
                     "another test has held " LOCK_PATH " for too long");
        th_sleep_ms(STEP_MS);
    }
}

/* Makes JOURNAL_SOCKET the link to the namespace's socket, replacing a
 * link of an earlier run or the socket of a journald that is gone. */
static void link_journal_socket(void)
{
    if (mkdir("/run/systemd", 0755) != 0)
        cr_assert_eq(errno, EEXIST, "/run/systemd: %s", strerror(errno));
    made_journal_dir = mkdir(JOURNAL_DIR, 0755) == 0;
    if (!made_journal_dir)
        cr_assert_eq(errno, EEXIST, JOURNAL_DIR ": %s", strerror(errno));
    struct stat st;
    if (lstat(JOURNAL_SOCKET, &st) == 0) {
        char target[256] = "";
        ssize_t n = readlink(JOURNAL_SOCKET, target, sizeof target - 1);
        bool ours = n > 0 && strcmp(target, LINK_TARGET) == 0;
        if (!ours && socket_accepts(JOURNAL_SOCKET))
            cr_skip_test("a journald that this test did not start listens on "
                         JOURNAL_SOCKET " (systemd runs this machine); the "
                         "test leaves it alone: run it in a container or "
                         "on a machine without systemd");
        cr_assert_eq(unlink(JOURNAL_SOCKET), 0, "%s", strerror(errno));
    }
    cr_assert_eq(symlink(LINK_TARGET, JOURNAL_SOCKET), 0, "%s",
                 strerror(errno));
    linked = true;
}

/* Takes the machine's journal socket for this test, with no journald
 * behind it yet. */
static void claim_journal(void)
{
    if (geteuid() != 0)
        cr_skip_test("systemd-journald needs root: run the tests as root");
    cr_assert(access(JOURNALD, X_OK) == 0 && access(JOURNALCTL, X_OK) == 0,
              JOURNALD " or " JOURNALCTL " is missing (apt-get install "
              "systemd)");
    take_lock();
    remove_namespace();
    link_journal_socket();
    run("mkdir -p " DROPIN_DIR);
    free(th_write_file(DROPIN_DIR, "zmqsink-test.conf",
                       "[Journal]\n"
                       "Storage=volatile\n"
                       "RateLimitBurst=0\n"
                       "ForwardToSyslog=no\n"
                       "ForwardToKMsg=no\n"
                       "ForwardToConsole=no\n"
                       "ForwardToWall=no\n"));
}

static void start_journald(void)
{
    pid_t parent = getpid();
    char *log = th_path(tmpdir, "journald.log");
    journald = fork();
    cr_assert_geq(journald, 0);
    if (journald == 0) {
        /* Never outlive the test, whatever ends it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        execl(JOURNALD, JOURNALD, NAMESPACE, (char *)NULL);
        _exit(127);
    }
    for (int waited = 0; !socket_accepts(JOURNAL_SOCKET); waited += STEP_MS) {
        char *text = th_read_file(log);
        cr_assert_eq(waitpid(journald, NULL, WNOHANG), 0,
                     "systemd-journald exited:\n%s", text ? text : "");
        cr_assert_lt(waited, WAIT_MS, "systemd-journald did not listen:\n%s",
                     text ? text : "");
        free(text);
        th_sleep_ms(STEP_MS);
    }
    free(log);
}

static void stop_journald(void)
{
    th_stop_process(&journald);
}

/* Gives the journal socket back as it was found. */
static void release_journal(void)
{
    stop_journald();
    if (lock_fd < 0)
        return;
    if (linked)
        unlink(JOURNAL_SOCKET);
    if (made_journal_dir)
        rmdir(JOURNAL_DIR);
    linked = made_journal_dir = false;
    remove_namespace();
    rmdir("/run/log/journal"); /* if journald made it, and it is empty */
    close(lock_fd);
    lock_fd = -1;
}

/* ---- the entries, read back ---- */

#define FIELDS_MAX 64

/* One entry of `journalctl -o json`: its fields, decoded in place. */
typedef struct entry {
    char *key[FIELDS_MAX], *value[FIELDS_MAX];
    size_t n;
} entry_t;

static const char *entry_get(const entry_t *e, const char *key)
{
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->key[i], key) == 0)
            return e->value[i];
    return NULL;
}

static char *skip_space(char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Appends code point c as UTF-8 at *out. */
static void put_utf8(char **out, unsigned c)
{
    char *o = *out;
    if (c < 0x80) {
        *o++ = (char)c;
    } else if (c < 0x800) {
        *o++ = (char)(0xc0 | c >> 6);
        *o++ = (char)(0x80 | (c & 0x3f));
    } else {
        *o++ = (char)(0xe0 | c >> 12);
        *o++ = (char)(0x80 | (c >> 6 & 0x3f));
        *o++ = (char)(0x80 | (c & 0x3f));
    }
    *out = o;
}

/* The json string at *p (at its quote), decoded in place; NULL when it is
 * malformed. */
static char *json_string(char **p)
{
    char *in = *p + 1, *out = in, *start = in;
    for (; *in != '"'; in++) {
        if (!*in)
            return NULL;
        if (*in != '\\') {
            *out++ = *in;
            continue;
        }
        char c = *++in;
        const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
        if (c == 'u') {
            unsigned code;
            if (sscanf(in + 1, "%4x", &code) != 1)
                return NULL;
            put_utf8(&out, code);
            in += 4;
        } else if (c && strchr(from, c)) {
            *out++ = to[strchr(from, c) - from];
        } else {
            return NULL;
        }
    }
    *out = '\0';
    *p = in + 1;
    return start;
}

/* A field journalctl shows as an array of bytes (not printable text),
 * decoded in place; NULL when it is malformed. */
static char *json_bytes(char **p)
{
    char *in = *p + 1, *out = in, *start = in;
    while (*(in = skip_space(in)) != ']') {
        char *end;
        long byte = strtol(in, &end, 10);
        if (end == in || byte < 0 || byte > 255)
            return NULL;
        *out++ = (char)byte;
        in = skip_space(end);
        if (*in == ',')
            in++;
    }
    *out = '\0';
    *p = in + 1;
    return start;
}

/* Parses one line of `journalctl -o json` (a flat object) in place. */
static bool parse_entry(char *line, entry_t *e)
{
    e->n = 0;
    char *p = skip_space(line);
    if (*p++ != '{')
        return false;
    while (*(p = skip_space(p)) != '}') {
        if (*p != '"' || e->n == FIELDS_MAX)
            return false;
        char *key = json_string(&p), *value;
        p = skip_space(p);
        if (!key || *p++ != ':')
            return false;
        p = skip_space(p);
        if (*p == '"')
            value = json_string(&p);
        else if (*p == '[')
            value = json_bytes(&p);
        else
            return false; /* null: a field too large to show */
        if (!value)
            return false;
        e->key[e->n] = key;
        e->value[e->n++] = value;
        p = skip_space(p);
        if (*p == ',')
            p++;
    }
    return true;
}

/* The entries of this test's identifier, as journalctl reads them. */
typedef struct entries {
    char *text;
    entry_t *entry;
    size_t n;
} entries_t;

static void free_entries(entries_t *es)
{
    free(es->text);
    free(es->entry);
    *es = (entries_t){ 0 };
}

static entries_t read_entries_once(void)
{
    char command[512];
    snprintf(command, sizeof command,
             JOURNALCTL " --namespace=" NAMESPACE " --all --no-pager "
             "-o json SYSLOG_IDENTIFIER=%s 2>/dev/null",
             identifier);
    FILE *pipe = popen(command, "r");
    cr_assert_not_null(pipe);
    entries_t es = { .text = th_read_stream(pipe) };
    pclose(pipe);
    size_t lines = 0;
    for (const char *c = es.text; *c; c++)
        lines += *c == '\n';
    es.entry = calloc(lines + 1, sizeof *es.entry);
    char *save = NULL;
    for (char *line = strtok_r(es.text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        cr_assert(parse_entry(line, &es.entry[es.n]), "journalctl wrote: %s",
                  line);
        es.n++;
    }
    return es;
}

/* Waits (bounded) until journald has at least want entries of ours. */
static entries_t read_entries(size_t want)
{
    entries_t es = read_entries_once();
    for (int waited = 0; es.n < want && waited < WAIT_MS; waited += STEP_MS) {
        th_sleep_ms(STEP_MS);
        free_entries(&es);
        es = read_entries_once();
    }
    return es;
}

static void unique_identifier(void)
{
    snprintf(identifier, sizeof identifier, "zmqsink-test-%d-%lld",
             (int)getpid(), (long long)time(NULL));
}

/* ---- what each entry must carry ---- */

static char *rendered(const zmqsink_event_t *ev)
{
    size_t n = (size_t)zmqsink_format_event(ZMQSINK_FORMAT_TEXT, ev, NULL, 0);
    char *s = malloc(n + 1);
    zmqsink_format_event(ZMQSINK_FORMAT_TEXT, ev, s, n + 1);
    return s;
}

static void expect_field(const entry_t *e, const char *key, const char *want,
                         uint64_t seq)
{
    const char *got = entry_get(e, key);
    if (!want) {
        cr_expect_null(got, "seq %llu: %s=%s, expected none",
                       (unsigned long long)seq, key, got);
        return;
    }
    cr_expect_not_null(got, "seq %llu: no %s", (unsigned long long)seq, key);
    if (got)
        cr_expect_str_eq(got, want, "seq %llu: %s", (unsigned long long)seq,
                         key);
}

/* The fields of the entry of ev, each exactly; and no ZMQ_ field else. */
static void check_entry(const entry_t *e, const zmqsink_event_t *ev)
{
    char number[32], *text = rendered(ev);
    uint64_t seq = ev->seq;
    expect_field(e, "MESSAGE", text, seq);
    snprintf(number, sizeof number, "%d", ev->severity);
    expect_field(e, "PRIORITY", number, seq);
    expect_field(e, "SYSLOG_IDENTIFIER", identifier, seq);
    snprintf(number, sizeof number, "%llu", (unsigned long long)seq);
    expect_field(e, "ZMQ_SEQ", number, seq);
    expect_field(e, "ZMQ_EVENT", zmqsink_event_name(ev->type), seq);
    expect_field(e, "ZMQ_SOCKET", ev->socket, seq);
    expect_field(e, "ZMQ_SOCKET_TYPE",
                 zmqsink_socket_type_name(ev->socket_type), seq);
    expect_field(e, "ZMQ_ENDPOINT", ev->endpoint, seq);
    expect_field(e, "ZMQ_PEER", ev->peer[0] ? ev->peer : NULL, seq);
    snprintf(number, sizeof number, "%u", ev->value);
    expect_field(e, "ZMQ_VALUE", number, seq);
    expect_field(e, "ZMQ_REASON", zmqsink_event_reason(ev), seq);
    snprintf(number, sizeof number, "%lld", (long long)ev->duration_ms);
    expect_field(e, "ZMQ_DURATION_MS", ev->duration_ms >= 0 ? number : NULL,
                 seq);
    snprintf(number, sizeof number, "%d", (int)getpid());
    expect_field(e, "_PID", number, seq);
    size_t zmq_fields = 0;
    for (size_t i = 0; i < e->n; i++)
        zmq_fields += strncmp(e->key[i], "ZMQ_", 4) == 0;
    cr_expect_eq(zmq_fields,
                 6 + !!ev->peer[0] + !!zmqsink_event_reason(ev) +
                     (ev->duration_ms >= 0),
                 "seq %llu: unexpected ZMQ_ fields", (unsigned long long)seq);
    free(text);
}

/* Every event arrived once, as check_entry() wants it. */
static void check_entries(const zmqsink_event_t *events, size_t n)
{
    entries_t es = read_entries(n);
    cr_assert_eq(es.n, n, "%zu entries for %zu events", es.n, n);
    bool *seen = calloc(n + 1, 1);
    for (size_t i = 0; i < es.n; i++) {
        const char *seq_text = entry_get(&es.entry[i], "ZMQ_SEQ");
        cr_assert_not_null(seq_text, "an entry without ZMQ_SEQ");
        size_t at = 0;
        while (at < n && events[at].seq != strtoull(seq_text, NULL, 10))
            at++;
        cr_assert_lt(at, n, "an entry of seq %s, which no event had",
                     seq_text);
        cr_assert(!seen[at], "seq %s twice", seq_text);
        seen[at] = true;
        check_entry(&es.entry[i], &events[at]);
    }
    free(seen);
    free_entries(&es);
}

/* ---- the plugin, loaded by hand, with a host the test controls ---- */

static void *plugin_handle;
static const zmqsink_plugin_t *plugin;
static th_plugin_host_t th;

static void direct_setup(void)
{
    tmpdir = th_tempdir();
    unique_identifier();
    plugin = th_plugin_load("journald", &plugin_handle);
    th_option_t options[] = {
        { "identifier", identifier, 0, true },
        { 0 },
    };
    th_plugin_host_init(&th, plugin, "test", tmpdir, options);
    size_t n = 0;
    for (const zmqsink_option_t *o = plugin->options; o->key; o++, n++)
        th_plugin_option(&th, o->key);
    cr_assert_eq(n, sizeof options / sizeof options[0] - 1);
}

static void direct_teardown(void)
{
    release_journal();
    if (plugin_handle)
        dlclose(plugin_handle);
    th_remove_tree(tmpdir);
    free(tmpdir);
}

TestSuite(direct, .init = direct_setup, .fini = direct_teardown,
          .timeout = 120);

/* A bind_failed: a reason, no peer, no duration, severity err. */
static zmqsink_event_t failure_event(uint64_t seq)
{
    zmqsink_event_t ev = th_sample_event(seq);
    ev.type = ZMQSINK_EVENT_BIND_FAILED;
    ev.severity = ZMQSINK_SEV_ERR;
    ev.value = EADDRINUSE;
    ev.duration_ms = -1;
    ev.peer[0] = '\0';
    snprintf(ev.socket, sizeof ev.socket, "second");
    return ev;
}

Test(direct, open_refuses_an_identifier_with_control_characters)
{
    th_plugin_set_option(&th, "identifier", "two\nlines", 0);
    char err[512] = "";
    cr_assert_null(plugin->open(&th.host, err, sizeof err));
    cr_assert(strstr(err, "identifier 'two\nlines'"), "%s", err);
    cr_assert(strstr(err, "control characters"), "%s", err);
    th_plugin_set_option(&th, "identifier", "", 0);
    cr_assert_null(plugin->open(&th.host, err, sizeof err));
}

/* An identifier open() refuses is refused by `zmqsink check` (and so by
 * `zmqsink run`, before the program starts) at its line; no journald is
 * needed for that. */
Test(check, zmqsink_check_names_the_option_at_fault)
{
    static const th_refusal_t cases[] = {
        { "    identifier: \"two\\nlines\"\n", "identifier 'two\nlines'", 4 },
        { "    min_severity: info\n    identifier: \"\"\n", "identifier ''",
          5 },
    };
    char *dir = th_tempdir();
    th_expect_refused(dir, "bus", "journald", cases,
                      sizeof cases / sizeof cases[0], th_check_config);
    th_expect_accepted(dir, "bus", "journald", "    identifier: my-app\n");
    th_remove_tree(dir);
    free(dir);
}

/* Each field exactly, as journalctl shows it; an idle sink asks for no
 * tick. */
Test(direct, fields_are_exact)
{
    claim_journal();
    start_journald();
    void *s = th_plugin_open(&th);
    zmqsink_event_t ev[3] = { th_sample_event(1), failure_event(2),
                              th_sample_event(3) };
    ev[2].severity = ZMQSINK_SEV_DEBUG;
    ev[2].duration_ms = 0;
    cr_assert_eq(plugin->write(s, ev, 3), ZMQSINK_WRITE_OK);
    cr_assert_eq(th.delivered, 3);
    cr_assert_eq(th.tick_at_ns, INT64_MAX, "an idle sink asked for a tick");
    cr_assert_eq(plugin->flush(s, 0), 0);
    plugin->close(s);
    cr_assert_eq(th.logs, 0, "logged: %s", th.last_log);
    check_entries(ev, 3);
}

/* Offers ev until the plugin takes it (bounded): it looks at the socket
 * again only after its backoff. */
static void write_until_taken(void *s, const zmqsink_event_t *ev)
{
    zmqsink_write_result_t result;
    int waited = 0;
    while ((result = plugin->write(s, ev, 1)) == ZMQSINK_WRITE_RETRY &&
           waited < WAIT_MS) {
        th_sleep_ms(STEP_MS);
        waited += STEP_MS;
    }
    cr_assert_eq(result, ZMQSINK_WRITE_OK);
}

/* No journald: said once at open, events are left to the core (RETRY);
 * journald starts: the events go, and that is said once; journald stops
 * (its socket stays, refusing): said once again. */
Test(direct, absent_journald_is_said_once_and_retried)
{
    claim_journal();
    void *s = th_plugin_open(&th);
    cr_assert_eq(th.logs, 1, "the absence is said at open");
    cr_assert(strstr(th.last_log, "no journald listens on " JOURNAL_SOCKET),
              "%s", th.last_log);
    cr_assert(strstr(th.last_log, "systemd-journald"), "what to do: %s",
              th.last_log);
    zmqsink_event_t ev[3] = { th_sample_event(1), th_sample_event(2),
                              th_sample_event(3) };
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(plugin->write(s, &ev[0], 1), ZMQSINK_WRITE_RETRY);
        th_sleep_ms(150); /* past the first backoffs: it looks again */
    }
    cr_assert_eq(th.logs, 1, "said once: %s", th.log_text);
    cr_assert_eq(th.delivered + th.failed, 0);
    cr_assert_eq(th.tick_at_ns, INT64_MAX,
                 "nothing held, nothing to tick for: the core retries");

    start_journald();
    write_until_taken(s, &ev[0]);
    cr_assert_eq(plugin->write(s, &ev[1], 1), ZMQSINK_WRITE_OK);
    cr_assert_eq(th.delivered, 2);
    cr_assert_eq(th.logs, 2, "%s", th.log_text);
    cr_assert(strstr(th.last_log, "journald listens on " JOURNAL_SOCKET
                                  " again"),
              "%s", th.last_log);
    check_entries(ev, 2);

    stop_journald(); /* its socket stays behind, refusing */
    cr_assert_eq(plugin->write(s, &ev[2], 1), ZMQSINK_WRITE_RETRY);
    cr_assert_eq(plugin->write(s, &ev[2], 1), ZMQSINK_WRITE_RETRY);
    cr_assert_eq(th.logs, 3, "%s", th.log_text);
    cr_assert(strstr(th.last_log, "no journald listens on " JOURNAL_SOCKET
                                  " (Connection refused)"),
              "%s", th.last_log);
    cr_assert_eq(th.delivered, 2);
    cr_assert_eq(plugin->flush(s, 0), 0, "it holds nothing");
    plugin->close(s);
}

/* ---- the pipeline ---- */

static void *ctx, *router;
static zmqsink_t *zs;
static th_log_t events;
static char *stderr_path;

static void pipeline_setup(void)
{
    tmpdir = th_tempdir();
    unique_identifier();
    ctx = zmq_ctx_new();
    cr_assert_not_null(ctx);
    th_log_init(&events);
    /* zmqsink logs to stderr: kept for the test to read. */
    stderr_path = th_path(tmpdir, "stderr.log");
    int fd = open(stderr_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                  0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    close(fd);
}

static void pipeline_teardown(void)
{
    zmqsink_destroy(&zs);
    th_close_all();
    zmq_ctx_term(ctx);
    release_journal();
    th_log_free(&events);
    th_remove_tree(tmpdir);
    free(tmpdir);
    free(stderr_path);
}

TestSuite(pipeline, .init = pipeline_setup, .fini = pipeline_teardown,
          .timeout = 120);

/* zmqsink with one journald sink and a callback sink that records every
 * event. */
static void start(void)
{
    zs = th_start(ctx, tmpdir,
                  "queue: { capacity: 4096 }\n"
                  "shutdown_timeout: 10s\n"
                  "sinks:\n"
                  "  - name: journal\n"
                  "    type: journald\n"
                  "    identifier: %s\n",
                  identifier);
    cr_assert_eq(zmqsink_add_callback(zs, "record", ZMQSINK_EVENT_ALL,
                                      th_log_callback, &events),
                 0);
}

/* A router, monitored from before its bind, accepts ndealers connections
 * one after the other, each proven by a message. */
static void traffic(int ndealers)
{
    static char endpoint[256];
    if (!router) {
        router = th_socket(ctx, ZMQ_ROUTER);
        cr_assert_eq(zmqsink_attach(zs, router, "frontend"), 0);
        cr_assert_eq(zmq_bind(router, "tcp://127.0.0.1:*"), 0);
        th_last_endpoint(router, endpoint, sizeof endpoint);
        int timeout_ms = WAIT_MS;
        zmq_setsockopt(router, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    }
    th_dealers_visit(ctx, zs, "client", router, endpoint, ndealers);
}

/* Closes the router and shuts down, which delivers everything; returns the
 * journald sink's counters. */
static zmqsink_sink_stats_t finish(void)
{
    th_close(router);
    router = NULL;
    TH_STATS(stats);
    zmqsink_destroy_stats(&zs, &stats);
    cr_assert_eq(stats.nsinks, 2);
    cr_assert_str_eq(stats.sinks[0].name, "journal");
    cr_assert_gt(events.n, 0);
    return stats.sinks[0];
}

static size_t log_count(const char *needle)
{
    char *text = th_read_file(stderr_path);
    size_t n = 0;
    for (const char *p = text; p && (p = strstr(p, needle)); p++)
        n++;
    free(text);
    return n;
}

/* Every event of churn and of failures reaches the journal once, with
 * every field right. */
Test(pipeline, every_event_arrives_with_its_fields)
{
    claim_journal();
    start_journald();
    start();
    traffic(3);
    th_bind_and_curve_failures(ctx, zs, router, &events);
    zmqsink_sink_stats_t sink = finish();
    cr_assert_eq(sink.delivered, events.n);
    cr_assert_eq(sink.failed + sink.dropped_full + sink.dropped_shutdown, 0);
    cr_assert_geq(th_log_count(&events, ZMQSINK_EVENT_BIND_FAILED), 1);
    cr_assert_geq(th_log_count(&events, ZMQSINK_EVENT_DISCONNECTED), 1);
    check_entries(events.events, events.n);
    cr_assert_eq(log_count("sink 'journal'"), 0, "the sink logged");
}

/* Waits (bounded) until the journald sink delivered n events. */
static void wait_delivered(size_t n)
{
    TH_STATS(stats);
    for (int waited = 0; waited < WAIT_MS; waited += STEP_MS) {
        zmqsink_stats(zs, &stats);
        if (stats.sinks[0].delivered >= n)
            return;
        th_sleep_ms(STEP_MS);
    }
    cr_assert_fail("the journald sink delivered %llu of %zu events",
                   (unsigned long long)stats.sinks[0].delivered, n);
}

/* No journald when zmqsink starts: said once, the events wait in the
 * sink's queue; journald starts: every event arrives once, and that is
 * said once. */
Test(pipeline, absent_journald_then_started)
{
    claim_journal();
    start();
    traffic(2);
    size_t n = th_log_wait(&events, 0, 7, WAIT_MS);
    cr_assert_geq(n, 7);
    th_sleep_ms(300); /* a few looks at the socket, none said again */
    TH_STATS(stats);
    zmqsink_stats(zs, &stats);
    cr_assert_eq(stats.sinks[0].delivered, 0);
    cr_assert_eq(stats.sinks[0].failed, 0);
    cr_assert_geq(stats.sinks[0].queue_depth, 1, "the events wait");
    cr_assert_eq(log_count("sink 'journal': no journald listens on "
                           JOURNAL_SOCKET),
                 1);

    start_journald();
    wait_delivered(n);
    traffic(1);
    zmqsink_sink_stats_t sink = finish();
    cr_assert_eq(sink.delivered, events.n);
    cr_assert_eq(sink.failed + sink.dropped_full + sink.dropped_shutdown, 0);
    cr_assert_eq(log_count("sink 'journal': journald listens on "
                           JOURNAL_SOCKET " again"),
                 1);
    cr_assert_eq(log_count("no journald listens"), 1);
    check_entries(events.events, events.n);
}
