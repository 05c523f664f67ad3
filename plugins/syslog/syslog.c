/* The syslog sink: sends events as RFC 5424 or RFC 3164 messages to the
 * local syslog socket, a unix socket, or a server over UDP or TCP.
 *
 * Messages are RFC 5424, with the event's fields as structured data, or
 * RFC 3164 (see message.c). The HOSTNAME is the events' `host` unless
 * `hostname` is set. On the local and unix transports RFC 3164 leaves the
 * HOSTNAME out, as syslog(3) does and as /dev/log readers (journald,
 * rsyslog's imuxsock) expect; they parse only this format, which is
 * therefore the default there. A message longer than max_size is cut and
 * marked: delivered, not failed; the first is logged.
 *
 * Every message waits in one bounded queue until it is sent whole, so that
 * write() never blocks on the network. While a stream server (tcp, a unix
 * stream) or a datagram socket (local, unix) is away, the plugin reconnects
 * with exponential backoff from tick() and write(), and keeps up to `buffer`
 * bytes of messages; past that, write() says RETRY and the core's ring holds
 * the events, dropping and counting them once it is full. tick() is asked
 * for only while messages wait: at the next connect attempt while the
 * server is away, every QUEUE_RETRY_NS while the socket is full or still
 * connecting; an idle sink never wakes. A message is
 * removed from the queue only once all of its bytes went out; one cut short
 * by a broken connection is sent again whole on the next one (a syslog
 * server drops an incomplete frame at the end of a stream). Before writing
 * into a stream the plugin reads from it: a server that closed it (restart)
 * has sent FIN, which is seen there, so no message is written into a dead
 * connection. Bytes the kernel accepted before the server died unseen are
 * lost, as with any syslog over TCP: there is no application ack.
 * A message counts as delivered (count_delivered) once all its bytes
 * were written to the socket (a datagram: sent); until then its event is
 * pending in zmqsink_stats().
 *
 * A udp or tcp server's name is looked up at open and again at each
 * connect attempt after a failure: a name that does not resolve yet (DNS
 * not up at boot, a service not yet registered) is an outage like a server
 * that is away, and a server that moved is found at its new address.
 *
 * UDP has no server to wait for: a datagram that cannot be sent is counted
 * as failed ("unsent"). */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <zmqsink/plugin.h>

#include "backoff.h"
#include "bytes.h"
#include "clock.h"
#include "message.h"
#include "once.h"

#define DEFAULT_PORT "514"
#define LOCAL_PATH "/dev/log"
/* A connect() still in progress after this long has failed. */
#define CONNECT_TIMEOUT_NS (10 * INT64_C(1000000000))
/* Between tries to send what a full or still connecting socket did not
 * take. */
#define QUEUE_RETRY_NS (100 * INT64_C(1000000))
/* Longest wait in flush() before looking at the deadline again. */
#define FLUSH_POLL_MS 50

enum transport { TRANSPORT_LOCAL, TRANSPORT_UNIX, TRANSPORT_UDP, TRANSPORT_TCP };
enum framing { FRAMING_OCTET_COUNTING, FRAMING_LF };
enum connection { DOWN, CONNECTING, UP };

struct syslog_sink {
    const zmqsink_host_t *host;
    enum transport transport;
    syslog_style_t style;
    bool octet_counting; /* framing on tcp */
    size_t buffer_max;

    struct sockaddr_storage addr;
    socklen_t addr_len;
    const char *name_address; /* udp, tcp: HOST:PORT, looked up again at
                                 each connect after a failure */
    bool resolved;            /* addr holds its lookup */
    int socktype; /* SOCK_DGRAM or SOCK_STREAM; local may turn to stream */
    char display[PATH_MAX + 16]; /* "tcp 127.0.0.1:514", for messages */

    int fd;
    enum connection conn;
    int64_t next_attempt_ns, connect_deadline_ns;
    backoff_t reconnect; /* reconnect.min doubling up to reconnect.max */
    bool down_logged;     /* the current outage has been logged */
    bool unsent_logged;   /* in a streak of failed udp sends, logged */
    bool truncation_logged;

    /* Queued messages, each a 4-byte length and its bytes, from head to
     * len; the first `sent` bytes of the head message's frame went out. */
    bytes_t queue;
    size_t head, sent;
    uint64_t queued;

    syslog_buffers_t buffers; /* the message being built */
};

/* ---- the queue ---- */

static size_t queued_bytes(const struct syslog_sink *s)
{
    return s->queue.len - s->head;
}

static uint32_t message_len(const struct syslog_sink *s, size_t at)
{
    uint32_t len;
    memcpy(&len, s->queue.data + at, sizeof len);
    return len;
}

/* Formats the event into a new message at the queue's end. */
static int enqueue(struct syslog_sink *s, const zmqsink_event_t *ev)
{
    long whole = syslog_message(&s->style, s->host, ev, &s->buffers);
    if (whole < 0)
        return -1;
    if (whole > 0 && once_failed(&s->truncation_logged))
        s->host->log(s->host, ZMQSINK_SEV_NOTICE,
                     "a message of %ld bytes was cut to max_size %zu and "
                     "ends with \"%s\" (logged once)",
                     whole, s->style.max_size, SYSLOG_TRUNCATION_MARK);
    uint32_t len = (uint32_t)s->buffers.line.len;
    bool failed = false;
    bytes_put(&s->queue, (const char *)&len, sizeof len, &failed);
    bytes_put(&s->queue, s->buffers.line.data, s->buffers.line.len, &failed);
    return failed ? -1 : 0;
}

/* Drops the head message (sent, or given up). */
static void dequeue(struct syslog_sink *s)
{
    s->head += sizeof(uint32_t) + message_len(s, s->head);
    s->sent = 0;
    s->queued--;
    if (s->head == s->queue.len) {
        s->head = s->queue.len = 0;
    } else if (s->head > s->queue.cap / 2) {
        memmove(s->queue.data, s->queue.data + s->head, queued_bytes(s));
        s->queue.len -= s->head;
        s->head = 0;
    }
}

static void clear_queue(struct syslog_sink *s)
{
    s->head = s->queue.len = s->sent = 0;
    s->queued = 0;
}

/* ---- the connection ---- */

static void close_socket(struct syslog_sink *s)
{
    s->host->close_fd(s->host, s->fd);
    s->fd = -1;
    s->conn = DOWN;
}

/* After a failed lookup or connect, or a lost connection: try again
 * after the backoff, which doubles up to reconnect.max, looking the name
 * up afresh (the server may have moved). Logs once per outage. */
static void connection_failed(struct syslog_sink *s, const char *why,
                              int64_t now, const char *what)
{
    close_socket(s);
    s->sent = 0; /* a message cut short goes again whole */
    s->resolved = !s->name_address;
    s->next_attempt_ns = now + backoff_next(&s->reconnect);
    if (!once_failed(&s->down_logged))
        return;
    s->host->log(s->host, ZMQSINK_SEV_WARNING,
                 "%s %s: %s; messages wait (up to %zu bytes) while it "
                 "reconnects",
                 what, s->display, why, s->buffer_max);
}

/* Looks the server's name up when it is due. Returns 0, or -1 after
 * connection_failed(). */
static int resolve(struct syslog_sink *s, int64_t now)
{
    if (s->resolved)
        return 0;
    char why[256];
    int rc = s->host->resolve_address(s->host, s->name_address, DEFAULT_PORT,
                                      s->socktype, &s->addr, &s->addr_len,
                                      why, sizeof why);
    if (rc != 0) {
        connection_failed(s, why, now, "cannot connect to");
        return -1;
    }
    s->resolved = true;
    return 0;
}

static void connected(struct syslog_sink *s)
{
    s->conn = UP;
    backoff_reset(&s->reconnect);
    if (once_recovered(&s->down_logged))
        s->host->log(s->host, ZMQSINK_SEV_NOTICE, "connected to %s again",
                     s->display);
}

/* Starts a non-blocking connect when one is due. */
static void start_connect(struct syslog_sink *s, int64_t now)
{
    if (s->conn != DOWN || now < s->next_attempt_ns || resolve(s, now) < 0)
        return;
    for (;;) {
        s->fd = socket(s->addr.ss_family,
                       s->socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s->fd < 0) {
            connection_failed(s, strerror(errno), now,
                              "cannot open a socket for");
            return;
        }
        s->host->own_fd(s->host, s->fd, 1); /* no child keeps it open */
        if (connect(s->fd, (struct sockaddr *)&s->addr, s->addr_len) == 0) {
            connected(s);
            return;
        }
        int err = errno;
        if (err == EINPROGRESS) {
            s->conn = CONNECTING;
            s->connect_deadline_ns = now + CONNECT_TIMEOUT_NS;
            return;
        }
        /* /dev/log may be a stream socket (syslog-ng): switch for good. */
        if (err == EPROTOTYPE && s->addr.ss_family == AF_UNIX &&
            s->socktype == SOCK_DGRAM) {
            close_socket(s);
            s->socktype = SOCK_STREAM;
            continue;
        }
        connection_failed(s, strerror(err), now, "cannot connect to");
        return;
    }
}

/* Completes a connect in progress, if it is done. */
static void finish_connect(struct syslog_sink *s, int64_t now)
{
    struct pollfd p = { .fd = s->fd, .events = POLLOUT };
    if (poll(&p, 1, 0) == 0) {
        if (now >= s->connect_deadline_ns)
            connection_failed(s, strerror(ETIMEDOUT), now,
                              "cannot connect to");
        return;
    }
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err)
        connection_failed(s, strerror(err), now, "cannot connect to");
    else
        connected(s);
}

/* Whether a stream server is still there: one that closed the connection
 * (a restart) has sent FIN, which a read sees before a write is lost in
 * the dead connection. Whatever a server sends is of no use and read
 * away. */
static bool stream_alive(struct syslog_sink *s, int64_t now)
{
    char discard[512];
    for (;;) {
        ssize_t n = recv(s->fd, discard, sizeof discard, MSG_DONTWAIT);
        if (n > 0)
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        connection_failed(s, n == 0 ? "closed by the server" : strerror(errno),
                          now, "lost the connection to");
        return false;
    }
}

static void ensure_connection(struct syslog_sink *s, int64_t now)
{
    if (s->conn == DOWN)
        start_connect(s, now);
    if (s->conn == CONNECTING)
        finish_connect(s, now);
    if (s->conn == UP && s->socktype == SOCK_STREAM)
        stream_alive(s, now);
}

/* ---- sending ---- */

/* Sends the head message's frame from s->sent on a stream: octet counting
 * ("LEN SP MSG") on tcp unless `framing: lf`, LF-terminated otherwise.
 * Returns the bytes written or -1 with errno. */
static ssize_t send_stream_frame(struct syslog_sink *s, size_t *frame_len)
{
    uint32_t len = message_len(s, s->head);
    char prefix[16] = "";
    if (s->transport == TRANSPORT_TCP && s->octet_counting)
        snprintf(prefix, sizeof prefix, "%" PRIu32 " ", len);
    const char *suffix = prefix[0] ? "" : "\n";
    struct iovec part[3] = {
        { prefix, strlen(prefix) },
        { s->queue.data + s->head + sizeof len, len },
        { (char *)suffix, strlen(suffix) },
    };
    *frame_len = part[0].iov_len + part[1].iov_len + part[2].iov_len;
    size_t skip = s->sent, first = 0;
    while (skip >= part[first].iov_len) /* the frame is not all sent */
        skip -= part[first++].iov_len;
    part[first].iov_base = (char *)part[first].iov_base + skip;
    part[first].iov_len -= skip;
    struct msghdr mh = { .msg_iov = part + first, .msg_iovlen = 3 - first };
    return sendmsg(s->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* What to do after a send error on the head message. */
static void send_failed(struct syslog_sink *s, int err, int64_t now)
{
    if (err == EAGAIN || err == EWOULDBLOCK)
        return; /* the socket is full: later */
    if (s->transport != TRANSPORT_UDP && err != EMSGSIZE) {
        connection_failed(s, strerror(err), now, "cannot send to");
        return;
    }
    /* UDP has no server to wait for, and a datagram too large for the
     * socket never goes: it is lost, and said so. */
    if (once_failed(&s->unsent_logged))
        s->host->log(s->host, ZMQSINK_SEV_ERR,
                     "cannot send to %s: %s; messages are lost (counted as "
                     "failed) until it works again",
                     s->display, strerror(err));
    dequeue(s);
    s->host->count_failed(s->host, 1, "unsent");
}

/* Sends the head message. Returns 1 when it went out whole, 0 when it has
 * to wait (or was given up), -1 when the socket is gone. */
static int send_head(struct syslog_sink *s, int64_t now)
{
    ssize_t n;
    size_t frame_len;
    if (s->socktype == SOCK_STREAM) {
        n = send_stream_frame(s, &frame_len);
    } else {
        frame_len = message_len(s, s->head);
        n = send(s->fd, s->queue.data + s->head + sizeof(uint32_t), frame_len,
                 MSG_DONTWAIT | MSG_NOSIGNAL);
        /* UDP: an ICMP error of an earlier datagram fails this send once. */
        if (n < 0 && errno == ECONNREFUSED && s->transport == TRANSPORT_UDP)
            n = send(s->fd, s->queue.data + s->head + sizeof(uint32_t),
                     frame_len, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    if (n < 0 && errno == EINTR)
        return 0;
    if (n < 0) {
        send_failed(s, errno, now);
        return s->conn == UP ? 0 : -1;
    }
    s->sent += (size_t)n;
    if (s->sent < frame_len)
        return 0; /* the socket is full: the rest later */
    if (once_recovered(&s->unsent_logged))
        s->host->log(s->host, ZMQSINK_SEV_NOTICE, "sending to %s again",
                     s->display);
    dequeue(s);
    return 1;
}

/* Connects if needed and sends what the socket takes without waiting;
 * the messages that went out whole are delivered. */
static void pump(struct syslog_sink *s, int64_t now)
{
    if (s->queued == 0 && s->conn == UP)
        return;
    ensure_connection(s, now);
    uint64_t delivered = 0;
    while (s->queued > 0 && s->conn == UP) {
        uint64_t before = s->queued;
        int rc = send_head(s, now);
        delivered += rc == 1;
        if (rc < 0 || (rc == 0 && s->queued == before))
            break;
    }
    if (delivered)
        s->host->count_delivered(s->host, delivered);
}

/* Asks for the tick that sends what still waits after a pump: at the next
 * connect attempt while the server is away, soon while the socket is full
 * or connecting; nothing when nothing waits. */
static void request_tick(struct syslog_sink *s, int64_t now)
{
    if (s->queued == 0)
        return;
    s->host->tick_at(s->host, s->conn == DOWN ? s->next_attempt_ns
                                              : now + QUEUE_RETRY_NS);
}

/* Queues the events as messages, whole batches only. */
static zmqsink_write_result_t take(struct syslog_sink *s,
                                   const zmqsink_event_t *events, size_t n)
{
    /* Older messages still waiting and the buffer full: the ring holds the
     * new ones until the server takes some. */
    if (s->queued > 0 && queued_bytes(s) >= s->buffer_max)
        return ZMQSINK_WRITE_RETRY;
    size_t mark = s->queue.len;
    for (size_t i = 0; i < n; i++) {
        if (enqueue(s, &events[i]) < 0) {
            s->queue.len = mark;
            s->host->log(s->host, ZMQSINK_SEV_ERR, "out of memory");
            return ZMQSINK_WRITE_RETRY;
        }
    }
    /* A batch larger than the buffer is taken only into an empty one. */
    if (s->queued > 0 && queued_bytes(s) > s->buffer_max) {
        s->queue.len = mark;
        return ZMQSINK_WRITE_RETRY;
    }
    s->queued += n;
    return ZMQSINK_WRITE_OK;
}

/* ---- callbacks ---- */

static zmqsink_write_result_t syslog_write(void *state,
                                           const zmqsink_event_t *events,
                                           size_t n)
{
    struct syslog_sink *s = state;
    int64_t now = clock_now_ns();
    pump(s, now);
    zmqsink_write_result_t result = take(s, events, n);
    if (result == ZMQSINK_WRITE_OK)
        pump(s, now);
    request_tick(s, now);
    return result;
}

static void syslog_tick(void *state, int64_t now_ns)
{
    struct syslog_sink *s = state;
    if (s->queued == 0)
        return;
    pump(s, now_ns);
    request_tick(s, now_ns);
}

/* Waits (at most ms) until the socket may take more or the next connect
 * attempt is due. */
static void wait_for_progress(struct syslog_sink *s, int64_t now, int ms)
{
    if (s->conn != DOWN) {
        struct pollfd p = { .fd = s->fd, .events = POLLOUT };
        poll(&p, 1, ms);
        return;
    }
    int64_t until = s->next_attempt_ns - now;
    if (until > (int64_t)ms * 1000000)
        until = (int64_t)ms * 1000000;
    if (until > 0) {
        struct timespec pause = { until / 1000000000, until % 1000000000 };
        nanosleep(&pause, NULL);
    }
}

static uint64_t syslog_flush(void *state, int64_t deadline_ns)
{
    struct syslog_sink *s = state;
    for (int64_t now = clock_now_ns(); s->queued > 0 && now < deadline_ns;
         now = clock_now_ns()) {
        pump(s, now);
        if (s->queued == 0)
            break;
        int64_t left_ms = (deadline_ns - now) / 1000000;
        wait_for_progress(s, now,
                          left_ms < FLUSH_POLL_MS ? (int)left_ms + 1
                                                  : FLUSH_POLL_MS);
    }
    uint64_t lost = s->queued;
    clear_queue(s); /* reported here, so close() must not count them */
    return lost;
}

static void syslog_close(void *state)
{
    struct syslog_sink *s = state;
    if (!s)
        return;
    if (s->queued > 0)
        s->host->count_failed(s->host, s->queued, "unwritten");
    close_socket(s);
    free(s->queue.data);
    syslog_buffers_free(&s->buffers);
    free(s);
}

/* ---- the options ---- */

/* What the options alone can tell is judged here, once: check() runs these
 * into scratch to refuse the file at the line at fault, open() into the
 * sink. Each refuses with -1 (address_of(): NULL), the message in err and
 * *key (and *item, for an entry of `severity`) naming the option. */

static const char *const transport_names[] = { "local", "unix", "udp",
                                                "tcp" };

static enum transport transport_of(const zmqsink_host_t *host)
{
    return (enum transport)host->option_int(host, "transport");
}

/* Whether the transport's address is a socket path (not HOST:PORT). */
static bool path_transport(enum transport transport)
{
    return transport == TRANSPORT_LOCAL || transport == TRANSPORT_UNIX;
}

/* app_name, sd_id and hostname into style. */
static int read_names(const zmqsink_host_t *host, syslog_style_t *style,
                      const char **key, char *err, size_t len)
{
    *key = "app_name";
    style->app_name = host->option_string(host, "app_name");
    if (!syslog_printable(style->app_name, SYSLOG_APP_NAME_MAX)) {
        snprintf(err, len,
                 "app_name '%s' must be 1 to %d printable ASCII characters "
                 "without spaces",
                 style->app_name, SYSLOG_APP_NAME_MAX);
        return -1;
    }
    *key = "sd_id";
    style->sd_id = host->option_string(host, "sd_id");
    if (!syslog_sd_id_valid(style->sd_id)) {
        snprintf(err, len,
                 "sd_id '%s' must be NAME@NUMBER (a private enterprise "
                 "number), at most %d printable characters without '=', "
                 "']', '\"' or spaces",
                 style->sd_id, SYSLOG_SD_NAME_MAX);
        return -1;
    }
    *key = "hostname";
    const char *name = host->option_string(host, "hostname");
    if (name) {
        if (!syslog_printable(name, SYSLOG_HOSTNAME_MAX)) {
            snprintf(err, len,
                     "hostname '%s' must be 1 to %d printable ASCII "
                     "characters without spaces",
                     name, SYSLOG_HOSTNAME_MAX);
            return -1;
        }
        snprintf(style->hostname, sizeof style->hostname, "%s", name);
    } else {
        /* The name events carry in `host`; NILVALUE when it cannot go. */
        snprintf(style->hostname, sizeof style->hostname, "%s",
                 host->host_name);
        if (!syslog_printable(style->hostname, SYSLOG_HOSTNAME_MAX))
            snprintf(style->hostname, sizeof style->hostname, "-");
    }
    *key = NULL;
    return 0;
}

/* The `severity` map, event name -> severity name, into severity (by type
 * index; -1: the event's own). */
static int read_severities(const zmqsink_host_t *host,
                           int severity[ZMQSINK_EVENT_TYPES],
                           const char **key, long *item, char *err,
                           size_t len)
{
    const char *const *keys, *const *values;
    size_t n = host->option_map(host, "severity", &keys, &values);
    for (size_t i = 0; i < ZMQSINK_EVENT_TYPES; i++)
        severity[i] = -1;
    for (size_t i = 0; i < n; i++) {
        *key = "severity";
        *item = (long)i;
        uint32_t type = zmqsink_event_from_name(keys[i]);
        if (!type) {
            snprintf(err, len,
                     "severity: '%s' is not an event name (connected, "
                     "disconnected, handshake_failed_auth, ...)",
                     keys[i]);
            return -1;
        }
        int value = zmqsink_severity_from_name(values[i]);
        if (value < 0) {
            snprintf(err, len,
                     "severity: '%s' for '%s' is not a severity (emerg, "
                     "alert, crit, err, warning, notice, info, debug)",
                     values[i], keys[i]);
            return -1;
        }
        severity[__builtin_ctz(type)] = value;
    }
    *key = NULL;
    *item = -1;
    return 0;
}

/* Whether address reads as HOST:PORT: no '/', and a ':' and digits at its
 * end ("127.0.0.1:514", "[::1]:514", "localhost:514"). */
static bool looks_like_host_port(const char *address)
{
    const char *colon = strrchr(address, ':');
    return !strchr(address, '/') && colon && colon[1] &&
           strspn(colon + 1, "0123456789") == strlen(colon + 1);
}

/* The address the transport sends to, as written or its default, if its
 * shape fits the transport (the names in it are resolved at open);
 * NULL otherwise. */
static const char *address_of(const zmqsink_host_t *host,
                              enum transport transport, const char **key,
                              char *err, size_t len)
{
    const char *address = host->option_string(host, "address");
    bool path = path_transport(transport);
    if (!address) {
        if (transport == TRANSPORT_UNIX) {
            *key = "transport";
            snprintf(err, len,
                     "transport unix needs `address:`, the path of the "
                     "server's socket");
            return NULL;
        }
        return path ? LOCAL_PATH : "127.0.0.1:" DEFAULT_PORT;
    }
    /* A path without a '/' is a file in the config's directory; one that
     * reads as HOST:PORT is a server meant for udp or tcp, and would be
     * a socket that never exists. */
    if (path ? looks_like_host_port(address) : strchr(address, '/') != NULL) {
        *key = "address";
        snprintf(err, len, "address '%s': transport %s needs %s", address,
                 transport_names[transport],
                 path ? "a socket path" : "HOST:PORT, not a path");
        return NULL;
    }
    return address;
}

/* Resolves the address. A malformed one fails open; a name that does not
 * resolve (yet) is an outage like a server that is away: messages wait
 * while the name is looked up again at each connect attempt. */
static int read_address(struct syslog_sink *s, char *err, size_t len)
{
    const char *key;
    const char *address = address_of(s->host, s->transport, &key, err, len);
    if (!address)
        return -1;
    bool path = path_transport(s->transport);
    /* A unix address is a path even without a '/' in it. */
    char relative[PATH_MAX];
    if (path && !strchr(address, '/')) {
        snprintf(relative, sizeof relative, "./%s", address);
        address = relative;
    }
    s->socktype = s->transport == TRANSPORT_TCP ? SOCK_STREAM : SOCK_DGRAM;
    int rc = s->host->resolve_address(s->host, address, DEFAULT_PORT,
                                      s->socktype, &s->addr, &s->addr_len,
                                      err, len);
    if (rc < 0 && rc != ZMQSINK_ADDRESS_UNRESOLVED)
        return -1;
    s->name_address = path ? NULL : address;
    s->resolved = rc == 0;
    snprintf(s->display, sizeof s->display, "%s %s",
             transport_names[s->transport],
             path ? ((struct sockaddr_un *)&s->addr)->sun_path : address);
    if (rc == ZMQSINK_ADDRESS_UNRESOLVED)
        connection_failed(s, err, clock_now_ns(), "cannot connect to");
    return 0;
}

static void read_numbers(struct syslog_sink *s)
{
    const zmqsink_host_t *host = s->host;
    syslog_style_t *style = &s->style;
    s->transport = transport_of(host);
    bool local = path_transport(s->transport);
    /* /dev/log readers parse only RFC 3164: the default there. */
    if (host->option_is_set(host, "format"))
        style->format = (enum syslog_format)host->option_int(host, "format");
    else
        style->format = local ? SYSLOG_RFC3164 : SYSLOG_RFC5424;
    style->hostname_in_3164 = !local;
    style->facility = (int)host->option_int(host, "facility");
    s->octet_counting =
        host->option_int(host, "framing") == FRAMING_OCTET_COUNTING;
    style->max_size = (size_t)host->option_int(host, "max_size");
    s->buffer_max = (size_t)host->option_int(host, "buffer");
    int64_t reconnect_min = host->option_int(host, "reconnect.min") *
                            CLOCK_NS_PER_MS;
    int64_t reconnect_max = host->option_int(host, "reconnect.max") *
                            CLOCK_NS_PER_MS;
    backoff_init(&s->reconnect, reconnect_min,
                 reconnect_max > reconnect_min ? reconnect_max : reconnect_min);
    style->pid = (unsigned long)getpid();
}

static void *syslog_open(const zmqsink_host_t *host, char *err, size_t len)
{
    struct syslog_sink *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, len, "out of memory");
        return NULL;
    }
    s->host = host;
    s->fd = -1;
    read_numbers(s);
    const char *key;
    long item;
    if (read_names(host, &s->style, &key, err, len) < 0 ||
        read_severities(host, s->style.severity, &key, &item, err, len) < 0 ||
        read_address(s, err, len) < 0)
        goto err;
    /* Connect now so that the first events need not wait; a server that
     * is not there yet is retried later, and so is a name that did not
     * resolve (its next lookup waits for the backoff). */
    if (s->resolved)
        start_connect(s, clock_now_ns());
    return s;
err:
    syslog_close(s);
    return NULL;
}

/* What open() would refuse of the options, short of resolving names:
 * `zmqsink check` and `zmqsink run` refuse it at its line. */
static int syslog_check(const zmqsink_host_t *host, const char **key,
                        long *item, char *err, size_t len)
{
    syslog_style_t style;
    if (read_names(host, &style, key, err, len) < 0 ||
        read_severities(host, style.severity, key, item, err, len) < 0 ||
        !address_of(host, transport_of(host), key, err, len))
        return -1;
    return 0;
}

/* The choices of transport, format and framing are in the order of their
 * enums; facility's index is the facility number of RFC 5424. The smallest
 * max_size leaves room for the longest header (hostname 255, app_name 48)
 * and the truncation mark. */
static const zmqsink_option_t syslog_options[] = {
    { .key = "transport", .type = ZMQSINK_OPT_ENUM, .fallback = "local",
      .choices = "local|unix|udp|tcp",
      .help = "local (/dev/log), a unix datagram socket, udp or tcp" },
    { .key = "address", .type = ZMQSINK_OPT_STRING,
      .help = "HOST:PORT for udp and tcp (default 127.0.0.1:514), the "
              "socket's path for unix (required) and local (/dev/log)" },
    { .key = "format", .type = ZMQSINK_OPT_ENUM, .choices = "rfc5424|rfc3164",
      .help = "message format; default rfc5424, rfc3164 on local and unix" },
    { .key = "facility", .type = ZMQSINK_OPT_ENUM, .fallback = "daemon",
      .choices = "kern|user|mail|daemon|auth|syslog|lpr|news|uucp|cron|"
                 "authpriv|ftp|ntp|security|console|solaris-cron|local0|"
                 "local1|local2|local3|local4|local5|local6|local7",
      .help = "syslog facility" },
    { .key = "app_name", .type = ZMQSINK_OPT_STRING, .fallback = "zmqsink",
      .help = "APP-NAME (rfc5424) or TAG (rfc3164)" },
    { .key = "hostname", .type = ZMQSINK_OPT_STRING,
      .help = "HOSTNAME field (default: this host's name)" },
    { .key = "severity", .type = ZMQSINK_OPT_MAP,
      .help = "event name -> syslog severity, overriding the event's own "
              "for this sink" },
    { .key = "max_size", .type = ZMQSINK_OPT_SIZE, .fallback = "2048",
      .min = SYSLOG_SIZE_MIN, .max = 65535,
      .help = "longest message; longer ones are cut and end with "
              "\"" SYSLOG_TRUNCATION_MARK "\"" },
    { .key = "framing", .type = ZMQSINK_OPT_ENUM,
      .fallback = "octet-counting", .choices = "octet-counting|lf",
      .help = "tcp framing (RFC 6587): \"LEN MSG\" or MSG and a newline" },
    { .key = "buffer", .type = ZMQSINK_OPT_SIZE, .fallback = "1MiB",
      .min = 0, .max = INT64_C(1) << 30,
      .help = "bytes of messages held while the server is away" },
    { .key = "reconnect.min", .type = ZMQSINK_OPT_DURATION,
      .fallback = "100ms", .min = 1, .max = 3600000,
      .help = "first delay before reconnecting; doubles at each failure" },
    { .key = "reconnect.max", .type = ZMQSINK_OPT_DURATION, .fallback = "30s",
      .min = 1, .max = 3600000, .help = "longest delay between reconnects" },
    { .key = "sd_id", .type = ZMQSINK_OPT_STRING, .fallback = "zmqsink@32473",
      .help = "SD-ID of the structured data; 32473 is the documentation "
              "enterprise number (RFC 5612)" },
    { 0 }
};

static const zmqsink_plugin_t syslog_plugin = {
    ZMQSINK_PLUGIN_DESCRIPTOR_INIT,
    .name = "syslog",
    .description = "sends events to syslog (RFC 5424 or 3164) over /dev/log, "
                   "a unix socket, udp or tcp",
    .options = syslog_options,
    .open = syslog_open,
    .write = syslog_write,
    .tick = syslog_tick,
    .flush = syslog_flush,
    .close = syslog_close,
    .check = syslog_check,
    .flags = ZMQSINK_PLUGIN_COUNTS_DELIVERED | ZMQSINK_PLUGIN_TICKS_ON_REQUEST,
};

ZMQSINK_PLUGIN_EXPORT const zmqsink_plugin_t *zmqsink_plugin_entry(void)
{
    return &syslog_plugin;
}
