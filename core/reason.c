/* The cause of an event whose value is an error: a stable symbol for
 * machines (EADDRINUSE, ZMTP_MECHANISM_MISMATCH, ZAP_400) and words for
 * people ("address already in use").
 *
 * Symbols live as long as the process, whatever the value, so that a sink
 * may keep them (statsd counts by them) without copying. A value no table
 * knows gets a symbol naming its code (ERRNO_200, PROTOCOL_ERROR_0x11000099,
 * ZAP_600), made once and kept; past UNKNOWN_MAX such codes in one process
 * (a peer making them up), its kind's fallback (ERRNO_UNKNOWN,
 * PROTOCOL_ERROR_UNKNOWN, ZAP_UNKNOWN), which keeps the set of symbols a
 * metrics backend sees bounded. The words name the code in every case
 * ("unknown protocol error 0x11000099"). */
#include "zmqsink-config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <zmq.h>
#include <zmqsink/event.h>

#include "reason.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* libzmq's ZMQ_PROTOCOL_ERROR_* codes (zmq.h of 4.3.x, where some builds
 * of 4.2 had them only under ZMQ_BUILD_DRAFT_API, hence numbers of our
 * own): symbol without the prefix, code, what it means. */
#define ZS_PROTOCOL_ERRORS(X)                                                  \
    X(ZMTP_UNSPECIFIED, 0x10000000, "unspecified ZMTP protocol error")         \
    X(ZMTP_UNEXPECTED_COMMAND, 0x10000001, "unexpected ZMTP command")          \
    X(ZMTP_INVALID_SEQUENCE, 0x10000002, "ZMTP commands out of sequence")      \
    X(ZMTP_KEY_EXCHANGE, 0x10000003, "key exchange failed")                    \
    X(ZMTP_MALFORMED_COMMAND_UNSPECIFIED, 0x10000011, "malformed command")     \
    X(ZMTP_MALFORMED_COMMAND_MESSAGE, 0x10000012, "malformed MESSAGE command") \
    X(ZMTP_MALFORMED_COMMAND_HELLO, 0x10000013, "malformed HELLO command")     \
    X(ZMTP_MALFORMED_COMMAND_INITIATE, 0x10000014,                             \
      "malformed INITIATE command")                                            \
    X(ZMTP_MALFORMED_COMMAND_ERROR, 0x10000015, "malformed ERROR command")     \
    X(ZMTP_MALFORMED_COMMAND_READY, 0x10000016, "malformed READY command")     \
    X(ZMTP_MALFORMED_COMMAND_WELCOME, 0x10000017, "malformed WELCOME command") \
    X(ZMTP_INVALID_METADATA, 0x10000018, "invalid metadata in a command")      \
    X(ZMTP_CRYPTOGRAPHIC, 0x11000001,                                          \
      "cryptographic failure (wrong key or corrupt message)")                  \
    X(ZMTP_MECHANISM_MISMATCH, 0x11000002,                                     \
      "the peers use different security mechanisms")                          \
    X(ZAP_UNSPECIFIED, 0x20000000, "unspecified ZAP error")                    \
    X(ZAP_MALFORMED_REPLY, 0x20000001, "malformed ZAP reply")                  \
    X(ZAP_BAD_REQUEST_ID, 0x20000002, "ZAP reply to another request")          \
    X(ZAP_BAD_VERSION, 0x20000003, "ZAP reply of a wrong version")             \
    X(ZAP_INVALID_STATUS_CODE, 0x20000004, "ZAP reply with an invalid status") \
    X(ZAP_INVALID_METADATA, 0x20000005, "ZAP reply with invalid metadata")     \
    X(WS_UNSPECIFIED, 0x30000000, "unspecified WebSocket error")

/* The ZAP status codes other than 200 (RFC 27/ZAP). */
#define ZS_ZAP_STATUSES(X)                                                     \
    X(300, "ZAP_300", "temporary authentication failure")                      \
    X(400, "ZAP_400", "authentication refused")                                \
    X(500, "ZAP_500", "authentication server error")

typedef struct reason_entry {
    uint32_t value;
    const char *symbol;
    const char *words;
} reason_entry_t;

static const reason_entry_t protocol_errors[] = {
#define PROTOCOL_ENTRY(name, code, words) {code, #name, words},
    ZS_PROTOCOL_ERRORS(PROTOCOL_ENTRY)
#undef PROTOCOL_ENTRY
};

static const reason_entry_t zap_statuses[] = {
#define ZAP_ENTRY(code, symbol, words) {code, symbol, words},
    ZS_ZAP_STATUSES(ZAP_ENTRY)
#undef ZAP_ENTRY
};

/* Where zmq.h has the codes, they must be ours. */
#ifdef ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
#define PROTOCOL_CHECK(name, code, words)                                      \
    _Static_assert(ZMQ_PROTOCOL_ERROR_##name == code, #name);
ZS_PROTOCOL_ERRORS(PROTOCOL_CHECK)
#undef PROTOCOL_CHECK
#endif

#define ERRNO_FALLBACK "ERRNO_UNKNOWN"
#define PROTOCOL_FALLBACK "PROTOCOL_ERROR_UNKNOWN"
#define ZAP_FALLBACK "ZAP_UNKNOWN"
#define UNKNOWN_MAX 64
#define UNKNOWN_LEN 32

/* The symbols made for codes no table knows, kept for the process. */
static struct {
    pthread_mutex_t lock;
    size_t n;
    struct {
        int kind;
        uint32_t value;
        char symbol[UNKNOWN_LEN];
    } at[UNKNOWN_MAX];
} unknown = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* What the reason of an event is drawn from. */
typedef enum reason_kind {
    KIND_NONE,
    KIND_ERRNO,
    KIND_PROTOCOL,
    KIND_ZAP
} reason_kind_t;

static reason_kind_t reason_kind(const zmqsink_event_t *ev)
{
    switch (ev->type) {
    case ZMQSINK_EVENT_CONNECT_DELAYED:
        /* EINPROGRESS is how every non-blocking connect starts. */
        return ev->value == EINPROGRESS ? KIND_NONE : KIND_ERRNO;
    case ZMQSINK_EVENT_BIND_FAILED:
    case ZMQSINK_EVENT_ACCEPT_FAILED:
    case ZMQSINK_EVENT_CLOSE_FAILED:
    case ZMQSINK_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        return KIND_ERRNO;
    case ZMQSINK_EVENT_HANDSHAKE_FAILED_PROTOCOL:
        return KIND_PROTOCOL;
    case ZMQSINK_EVENT_HANDSHAKE_FAILED_AUTH:
        return KIND_ZAP;
    default:
        return KIND_NONE;
    }
}

static const reason_entry_t *find_entry(const reason_entry_t *table,
                                        size_t n, uint32_t value)
{
    for (size_t i = 0; i < n; i++)
        if (table[i].value == value)
            return &table[i];
    return NULL;
}

/* ---- errno ---- */

#ifndef HAVE_STRERRORNAME_NP
/* Without glibc's strerrorname_np(): the errnos libzmq reports in its
 * monitor events (bind, accept, close, handshake). */
static const reason_entry_t errnos[] = {
    {EACCES, "EACCES", "permission denied"},
    {EADDRINUSE, "EADDRINUSE", "address already in use"},
    {EADDRNOTAVAIL, "EADDRNOTAVAIL", "cannot assign requested address"},
    {EAFNOSUPPORT, "EAFNOSUPPORT", "address family not supported"},
    {ECONNABORTED, "ECONNABORTED", "connection aborted"},
    {ECONNREFUSED, "ECONNREFUSED", "connection refused"},
    {ECONNRESET, "ECONNRESET", "connection reset by peer"},
    {EHOSTUNREACH, "EHOSTUNREACH", "no route to host"},
    {EINVAL, "EINVAL", "invalid argument"},
    {EMFILE, "EMFILE", "too many open files"},
    {ENAMETOOLONG, "ENAMETOOLONG", "file name too long"},
    {ENETDOWN, "ENETDOWN", "network is down"},
    {ENETUNREACH, "ENETUNREACH", "network is unreachable"},
    {ENFILE, "ENFILE", "too many open files in system"},
    {ENOBUFS, "ENOBUFS", "no buffer space available"},
    {ENOENT, "ENOENT", "no such file or directory"},
    {ENOMEM, "ENOMEM", "out of memory"},
    {EPIPE, "EPIPE", "broken pipe"},
    {ETIMEDOUT, "ETIMEDOUT", "connection timed out"},
};
#endif

/* "EADDRINUSE", or NULL when the C library does not know the number. */
static const char *errno_symbol(uint32_t value)
{
#ifdef HAVE_STRERRORNAME_NP
    return value <= (uint32_t)INT32_MAX ? strerrorname_np((int)value) : NULL;
#else
    const reason_entry_t *e = find_entry(errnos, COUNT(errnos), value);
    return e ? e->symbol : NULL;
#endif
}

/* "Address already in use" (case as the C library writes it), or NULL. */
static const char *errno_words(uint32_t value)
{
#ifdef HAVE_STRERRORDESC_NP
    return value <= (uint32_t)INT32_MAX ? strerrordesc_np((int)value) : NULL;
#elif !defined(HAVE_STRERRORNAME_NP)
    const reason_entry_t *e = find_entry(errnos, COUNT(errnos), value);
    return e ? e->words : NULL;
#else
    (void)value;
    return NULL;
#endif
}

/* The symbol for a code of kind that no table knows: made once from
 * format and the code, or fallback once UNKNOWN_MAX are made. */
static const char *unknown_symbol(reason_kind_t kind, uint32_t value,
                                  const char *format, const char *fallback)
{
    const char *symbol = fallback;
    pthread_mutex_lock(&unknown.lock);
    size_t i = 0;
    while (i < unknown.n &&
           !(unknown.at[i].kind == (int)kind && unknown.at[i].value == value))
        i++;
    if (i == unknown.n && i < UNKNOWN_MAX) {
        unknown.at[i].kind = (int)kind;
        unknown.at[i].value = value;
        snprintf(unknown.at[i].symbol, UNKNOWN_LEN, format, value);
        unknown.n++;
    }
    if (i < unknown.n)
        symbol = unknown.at[i].symbol;
    pthread_mutex_unlock(&unknown.lock);
    return symbol;
}

/* ---- public ---- */

const char *zmqsink_event_reason(const zmqsink_event_t *event)
{
    if (!event)
        return NULL;
    const reason_entry_t *e;
    switch (reason_kind(event)) {
    case KIND_ERRNO: {
        if (event->value == 0)
            return NULL; /* no error after all */
        const char *name = errno_symbol(event->value);
        return name ? name
                    : unknown_symbol(KIND_ERRNO, event->value, "ERRNO_%" PRIu32,
                                     ERRNO_FALLBACK);
    }
    case KIND_PROTOCOL:
        e = find_entry(protocol_errors, COUNT(protocol_errors), event->value);
        return e ? e->symbol
                 : unknown_symbol(KIND_PROTOCOL, event->value,
                                  "PROTOCOL_ERROR_0x%08" PRIX32,
                                  PROTOCOL_FALLBACK);
    case KIND_ZAP:
        e = find_entry(zap_statuses, COUNT(zap_statuses), event->value);
        return e ? e->symbol
                 : unknown_symbol(KIND_ZAP, event->value, "ZAP_%" PRIu32,
                                  ZAP_FALLBACK);
    default:
        return NULL;
    }
}

/* The symbols of the fixed tables, listed at compile time. */
#define LIST_PROTOCOL(name, code, words) " " #name ","
#define LIST_ZAP(code, symbol, words) " " symbol ","

const char *zmqsink_event_reason_doc(uint32_t type)
{
    switch (type) {
    case ZMQSINK_EVENT_CONNECT_DELAYED:
        return "The errno name (ECONNREFUSED, ...); none for EINPROGRESS.";
    case ZMQSINK_EVENT_BIND_FAILED:
    case ZMQSINK_EVENT_ACCEPT_FAILED:
    case ZMQSINK_EVENT_CLOSE_FAILED:
    case ZMQSINK_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        return "The errno name (EADDRINUSE, EMFILE, ...), or ERRNO_<number> "
               "for one the C library does not name.";
    case ZMQSINK_EVENT_HANDSHAKE_FAILED_PROTOCOL:
        return "One of" ZS_PROTOCOL_ERRORS(LIST_PROTOCOL) " or "
            "PROTOCOL_ERROR_0x<code> for a code libzmq added since.";
    case ZMQSINK_EVENT_HANDSHAKE_FAILED_AUTH:
        return "One of" ZS_ZAP_STATUSES(LIST_ZAP) " or ZAP_<status> for "
                                                 "another status.";
    default:
        return NULL;
    }
}

/* ---- words ---- */

/* Copies words into buf, lower-casing a capital that starts a word of
 * lower-case letters ("Address" but not "RPC"). */
static size_t put_words(char *buf, size_t cap, const char *words,
                        const char *symbol)
{
    int n = snprintf(buf, cap, "%s (%s)", words, symbol);
    if (cap > 1 && isupper((unsigned char)buf[0]) &&
        islower((unsigned char)buf[1]))
        buf[0] = (char)tolower((unsigned char)buf[0]);
    return n < 0 ? 0 : (size_t)n;
}

size_t zs__event_cause(const zmqsink_event_t *ev, char *buf, size_t cap)
{
    const char *symbol = zmqsink_event_reason(ev);
    if (!symbol) {
        if (cap)
            buf[0] = '\0';
        return 0;
    }
    char unnamed[64];
    const char *words = NULL;
    const reason_entry_t *e = NULL;
    switch (reason_kind(ev)) {
    case KIND_ERRNO:
        words = errno_words(ev->value);
        if (!words) {
            snprintf(unnamed, sizeof unnamed, "error %u", ev->value);
            words = unnamed;
        }
        break;
    case KIND_PROTOCOL:
        e = find_entry(protocol_errors, COUNT(protocol_errors), ev->value);
        if (!e)
            snprintf(unnamed, sizeof unnamed, "unknown protocol error 0x%08x",
                     ev->value);
        words = e ? e->words : unnamed;
        break;
    default: /* KIND_ZAP */
        e = find_entry(zap_statuses, COUNT(zap_statuses), ev->value);
        if (!e)
            snprintf(unnamed, sizeof unnamed, "ZAP status %u", ev->value);
        words = e ? e->words : unnamed;
        break;
    }
    return put_words(buf, cap, words, symbol);
}
