/* The journald sink: sends each event to the local systemd journal with
 * sd_journal_sendv(), as structured fields.
 *
 * One journal entry per event:
 *   MESSAGE            the text rendering of the event (host->format)
 *   PRIORITY           its severity, 0 (emerg) .. 7 (debug), as syslog's
 *   SYSLOG_IDENTIFIER  the `identifier` option (default zmqsink)
 *   ZMQ_SEQ, ZMQ_EVENT, ZMQ_SOCKET, ZMQ_SOCKET_TYPE, ZMQ_ENDPOINT,
 *   ZMQ_PEER, ZMQ_VALUE, ZMQ_REASON, ZMQ_DURATION_MS
 * The ZMQ_ fields are the json keys as the core walks them
 * (zmqsink_event_fields()), upper-cased, so they never drift from the json
 * contract; the walk already leaves out a reason the event lacks and an
 * unknown duration, and an unknown peer is left out here. The json keys
 * the journal has fields of its own for are not repeated: ts (the entry's
 * timestamps), severity (PRIORITY), host (_HOSTNAME) and pid (_PID).
 * Values go as they are: the native protocol carries any bytes.
 *
 * libsystemd says nothing when no journald is there: sending to a journal
 * socket that does not exist returns success, so every event would vanish.
 * Hence the sink first checks that the socket accepts a connection; a
 * socket left behind by a journald that stopped refuses it, and makes
 * sd_journal_sendv() fail too. While no journald listens, write() says
 * RETRY and the core's ring holds the events (what overflows it is counted
 * as dropped, as what is left at shutdown); the outage is logged once, and
 * its end once. If journald goes away in the middle of a batch, the sink
 * keeps the rest of that batch and sends it first, from tick() (asked for
 * with a backoff only while it holds events: an idle sink never wakes)
 * or from the next write(). An event counts as delivered once
 * sd_journal_sendv() took it: journald has it in its socket's queue. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* CODE_FILE and CODE_LINE would name this file, not the application. */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include <zmqsink/plugin.h>

#include "backoff.h"
#include "bytes.h"
#include "clock.h"
#include "once.h"

/* Where libsystemd sends, always: it has no setting for another path. */
#define JOURNAL_SOCKET "/run/systemd/journal/socket"
/* Between looks at the socket while no journald listens. */
#define RETRY_MIN_NS (100 * CLOCK_NS_PER_MS)
#define RETRY_MAX_NS (2 * CLOCK_NS_PER_S)
/* MESSAGE, PRIORITY, SYSLOG_IDENTIFIER and a field per json key. */
#define FIELDS_MAX 24
#define IDENTIFIER_MAX 128

struct journald_sink {
    const zmqsink_host_t *host;
    char identifier[sizeof "SYSLOG_IDENTIFIER=" + IDENTIFIER_MAX];

    bool listening;      /* journald took the last look or message */
    bool down_logged;    /* the current outage has been logged */
    bool rejected_logged;
    backoff_t retry;
    int64_t next_look_ns;

    /* The rest of a batch that journald went away in the middle of. */
    zmqsink_event_t *held;
    size_t held_n, held_cap;

    /* One entry: its fields as "KEY=value" strings one after the other,
     * and where each ends. */
    bytes_t entry;
    size_t field_end[FIELDS_MAX];
    size_t nfields;
    bool entry_failed;
};

/* ---- one entry ---- */

static void field_end(struct journald_sink *s)
{
    if (s->nfields == FIELDS_MAX) {
        s->entry_failed = true; /* a core with more keys than foreseen */
        return;
    }
    s->field_end[s->nfields++] = s->entry.len;
}

static void field_put(struct journald_sink *s, const char *key,
                      const char *value, size_t len)
{
    bytes_put_str(&s->entry, key, &s->entry_failed);
    bytes_put(&s->entry, "=", 1, &s->entry_failed);
    bytes_put(&s->entry, value, len, &s->entry_failed);
    field_end(s);
}

/* Keys of the json contract the journal has fields of its own for. */
static bool journal_has_it(const zmqsink_field_t *field)
{
    static const char *const own[] = { "ts", "severity", "host", "pid" };
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (field->key_len == strlen(own[i]) &&
            memcmp(field->key, own[i], field->key_len) == 0)
            return true;
    return false;
}

/* ZMQ_KEY=value for one field of the walk: the key upper-cased, and
 * anything but letters and digits made '_', as journal field names must
 * be. */
static int zmq_field(const zmqsink_field_t *field, void *arg)
{
    struct journald_sink *s = arg;
    if (field->kind == ZMQSINK_FIELD_NULL || journal_has_it(field))
        return 0;
    char key[64] = "ZMQ_";
    size_t n = 4;
    for (size_t i = 0; i < field->key_len && n + 1 < sizeof key; i++) {
        char c = field->key[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                     (c >= '0' && c <= '9');
        key[n++] = c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A')
                                        : alnum ? c : '_';
    }
    key[n] = '\0';
    field_put(s, key, field->text, field->len);
    return 0;
}

/* Builds the entry of ev into s->entry and iov. Returns the number of
 * fields, or -1 when out of memory. */
static int build_entry(struct journald_sink *s, const zmqsink_event_t *ev,
                       struct iovec *iov)
{
    s->entry.len = 0;
    s->nfields = 0;
    s->entry_failed = false;
    bytes_put_str(&s->entry, "MESSAGE=", &s->entry_failed);
    if (!s->entry_failed &&
        bytes_put_event(&s->entry, s->host, ZMQSINK_FORMAT_TEXT, ev) < 0)
        s->entry_failed = true;
    field_end(s);
    char priority[16];
    int n = snprintf(priority, sizeof priority, "PRIORITY=%d",
                     ev->severity > ZMQSINK_SEV_DEBUG ? ZMQSINK_SEV_DEBUG
                                                      : ev->severity);
    bytes_put(&s->entry, priority, (size_t)n, &s->entry_failed);
    field_end(s);
    bytes_put_str(&s->entry, s->identifier, &s->entry_failed);
    field_end(s);
    zmqsink_event_fields(ev, zmq_field, s);
    if (s->entry_failed)
        return -1;
    for (size_t i = 0, start = 0; i < s->nfields; i++) {
        iov[i].iov_base = s->entry.data + start;
        iov[i].iov_len = s->field_end[i] - start;
        start = s->field_end[i];
    }
    return (int)s->nfields;
}

/* ---- is journald there ---- */

/* 0 when the journal socket accepts a connection, else the errno. */
static int look_at_socket(void)
{
    static const struct sockaddr_un addr = { .sun_family = AF_UNIX,
                                             .sun_path = JOURNAL_SOCKET };
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    int err = connect(fd, (const struct sockaddr *)&addr, sizeof addr) == 0
                  ? 0
                  : errno;
    close(fd);
    return err;
}

/* No journald took what was sent (err: the errno): look again after the
 * backoff. Logs once per outage. */
static void journal_away(struct journald_sink *s, int err, int64_t now)
{
    s->listening = false;
    s->next_look_ns = now + backoff_next(&s->retry);
    if (!once_failed(&s->down_logged))
        return;
    s->host->log(s->host, ZMQSINK_SEV_WARNING,
                 "no journald listens on " JOURNAL_SOCKET " (%s); events "
                 "wait in the sink's queue, and are counted as dropped once "
                 "it is full, until systemd-journald runs (systemctl start "
                 "systemd-journald)",
                 strerror(err));
}

static void journal_back(struct journald_sink *s)
{
    s->listening = true;
    backoff_reset(&s->retry);
    if (once_recovered(&s->down_logged))
        s->host->log(s->host, ZMQSINK_SEV_NOTICE,
                     "journald listens on " JOURNAL_SOCKET " again");
}

/* Whether journald is there to send to: looked at before each batch, and
 * while it is away at most once per backoff. */
static bool journal_listening(struct journald_sink *s, int64_t now)
{
    if (!s->listening && now < s->next_look_ns)
        return false;
    int err = look_at_socket();
    if (err) {
        journal_away(s, err, now);
        return false;
    }
    if (!s->listening)
        journal_back(s);
    return true;
}

/* ---- sending ---- */

/* What journald cannot take however often it is sent: the event is lost. */
static bool rejected_for_good(int err)
{
    return err == EINVAL || err == E2BIG || err == EMSGSIZE;
}

/* Sends events in order until journald goes away. Returns how many went
 * out or were lost for good, which the host is told of; the rest wait. */
static size_t send_events(struct journald_sink *s,
                          const zmqsink_event_t *events, size_t n,
                          int64_t now)
{
    struct iovec iov[FIELDS_MAX];
    uint64_t delivered = 0, lost = 0;
    size_t i = 0;
    for (; i < n; i++) {
        int fields = build_entry(s, &events[i], iov);
        int rc = fields < 0 ? -ENOMEM : sd_journal_sendv(iov, fields);
        if (rc >= 0) {
            delivered++;
            continue;
        }
        if (rejected_for_good(-rc)) {
            lost++;
            if (once_failed(&s->rejected_logged))
                s->host->log(s->host, ZMQSINK_SEV_ERR,
                             "journald did not take an event (%s); such "
                             "events are counted as failed (logged once)",
                             strerror(-rc));
            continue;
        }
        if (rc == -ENOMEM)
            s->host->log(s->host, ZMQSINK_SEV_ERR, "out of memory");
        journal_away(s, -rc, now);
        break;
    }
    if (delivered)
        s->host->count_delivered(s->host, delivered);
    if (lost)
        s->host->count_failed(s->host, lost, "rejected");
    return i;
}

/* Sends what the sink holds, if journald is there. Returns whether it
 * holds nothing any more. */
static bool send_held(struct journald_sink *s, int64_t now)
{
    if (s->held_n == 0)
        return true;
    if (!journal_listening(s, now))
        return false;
    size_t done = send_events(s, s->held, s->held_n, now);
    s->held_n -= done;
    memmove(s->held, s->held + done, s->held_n * sizeof *s->held);
    return s->held_n == 0;
}

/* Keeps the events that journald did not take; they were taken from the
 * core's ring. Returns -1 when out of memory. */
static int hold(struct journald_sink *s, const zmqsink_event_t *events,
                size_t n)
{
    if (n > s->held_cap) {
        zmqsink_event_t *held = realloc(s->held, n * sizeof *held);
        if (!held)
            return -1;
        s->held = held;
        s->held_cap = n;
    }
    memcpy(s->held, events, n * sizeof *events);
    s->held_n = n;
    return 0;
}

/* ---- callbacks ---- */

static zmqsink_write_result_t journald_write(void *state,
                                             const zmqsink_event_t *events,
                                             size_t n)
{
    struct journald_sink *s = state;
    int64_t now = clock_now_ns();
    /* The core offers this batch again after its own backoff. */
    if (!send_held(s, now)) {
        s->host->tick_at(s->host, s->next_look_ns);
        return ZMQSINK_WRITE_RETRY;
    }
    if (!journal_listening(s, now))
        return ZMQSINK_WRITE_RETRY;
    size_t done = send_events(s, events, n, now);
    if (done == n)
        return ZMQSINK_WRITE_OK;
    if (done == 0)
        return ZMQSINK_WRITE_RETRY; /* none taken: the ring keeps them */
    if (hold(s, events + done, n - done) < 0) {
        s->host->log(s->host, ZMQSINK_SEV_ERR, "out of memory");
        s->host->count_failed(s->host, n - done, "unwritten");
        return ZMQSINK_WRITE_OK;
    }
    s->host->tick_at(s->host, s->next_look_ns);
    return ZMQSINK_WRITE_OK;
}

static void journald_tick(void *state, int64_t now_ns)
{
    struct journald_sink *s = state;
    if (!send_held(s, now_ns))
        s->host->tick_at(s->host, s->next_look_ns);
}

static uint64_t journald_flush(void *state, int64_t deadline_ns)
{
    struct journald_sink *s = state;
    for (int64_t now = clock_now_ns(); !send_held(s, now) && now < deadline_ns;
         now = clock_now_ns()) {
        int64_t until = (s->next_look_ns < deadline_ns ? s->next_look_ns
                                                       : deadline_ns) -
                        now;
        if (until > 0) {
            struct timespec pause = { until / CLOCK_NS_PER_S,
                                      until % CLOCK_NS_PER_S };
            nanosleep(&pause, NULL);
        }
    }
    uint64_t lost = s->held_n;
    s->held_n = 0; /* reported here, so close() must not count them */
    return lost;
}

static void journald_close(void *state)
{
    struct journald_sink *s = state;
    if (!s)
        return;
    if (s->held_n > 0)
        s->host->count_failed(s->host, s->held_n, "unwritten");
    free(s->held);
    bytes_free(&s->entry);
    free(s);
}

/* The `identifier` option, if it can be a SYSLOG_IDENTIFIER; NULL with
 * the message in err otherwise. */
static const char *read_identifier(const zmqsink_host_t *host, char *err,
                                   size_t len)
{
    const char *identifier = host->option_string(host, "identifier");
    size_t n = strlen(identifier);
    bool printable = n > 0 && n <= IDENTIFIER_MAX;
    for (size_t i = 0; i < n && printable; i++)
        printable = (unsigned char)identifier[i] >= 0x20 &&
                    identifier[i] != 0x7f;
    if (!printable) {
        snprintf(err, len,
                 "identifier '%s' must be 1 to %d characters without "
                 "control characters",
                 identifier, IDENTIFIER_MAX);
        return NULL;
    }
    return identifier;
}

/* The identifier, in `zmqsink check` already. */
static int journald_check(const zmqsink_host_t *host, const char **key,
                          long *item, char *err, size_t len)
{
    (void)item;
    *key = "identifier";
    return read_identifier(host, err, len) ? 0 : -1;
}

static void *journald_open(const zmqsink_host_t *host, char *err, size_t len)
{
    const char *identifier = read_identifier(host, err, len);
    if (!identifier)
        return NULL;
    struct journald_sink *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, len, "out of memory");
        return NULL;
    }
    s->host = host;
    snprintf(s->identifier, sizeof s->identifier, "SYSLOG_IDENTIFIER=%s",
             identifier);
    backoff_init(&s->retry, RETRY_MIN_NS, RETRY_MAX_NS);
    /* Say now, not at the first event, that no journald is there. */
    s->listening = true;
    journal_listening(s, clock_now_ns());
    return s;
}

static const zmqsink_option_t journald_options[] = {
    { .key = "identifier", .type = ZMQSINK_OPT_STRING, .fallback = "zmqsink",
      .help = "SYSLOG_IDENTIFIER of the entries (journalctl -t NAME)" },
    { 0 }
};

static const zmqsink_plugin_t journald_plugin = {
    ZMQSINK_PLUGIN_DESCRIPTOR_INIT,
    .name = "journald",
    .description = "sends events to the systemd journal as structured fields",
    .options = journald_options,
    .open = journald_open,
    .write = journald_write,
    .tick = journald_tick,
    .flush = journald_flush,
    .close = journald_close,
    .check = journald_check,
    .flags = ZMQSINK_PLUGIN_COUNTS_DELIVERED | ZMQSINK_PLUGIN_TICKS_ON_REQUEST,
};

ZMQSINK_PLUGIN_EXPORT const zmqsink_plugin_t *zmqsink_plugin_entry(void)
{
    return &journald_plugin;
}
