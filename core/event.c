/* Names, documentation and default severities of event types, severities
 * and socket types. */
#include <assert.h>
#include <stddef.h>
#include <string.h>

#include <zmq.h>
#include <zmqsink/event.h>

/* The event types in bit order (entry i is bit 1 << i): name, default
 * severity, what the event means, what its value holds. The value meanings
 * are those of libzmq 4.3.4's socket_base_t::event_* callers. */
#define ZS_EVENT_TABLE(X)                                                      \
    X(CONNECTED, "connected", INFO,                                            \
      "An outgoing connection was established.",                               \
      "The file descriptor of the new connection.")                            \
    X(CONNECT_DELAYED, "connect_delayed", NOTICE,                              \
      "A connect did not complete at once and goes on in the background.",     \
      "The errno of the pending connect (usually EINPROGRESS).")               \
    X(CONNECT_RETRIED, "connect_retried", NOTICE,                              \
      "A connect failed and will be retried after the reconnect interval.",    \
      "The reconnect interval in milliseconds.")                               \
    X(LISTENING, "listening", INFO,                                            \
      "The socket is bound and listens on the endpoint.",                      \
      "The file descriptor of the listening socket.")                          \
    X(BIND_FAILED, "bind_failed", ERR,                                         \
      "Binding to the endpoint failed.",                                       \
      "The errno of the failed bind.")                                         \
    X(ACCEPTED, "accepted", INFO,                                              \
      "An incoming connection was accepted.",                                  \
      "The file descriptor of the accepted connection.")                       \
    X(ACCEPT_FAILED, "accept_failed", ERR,                                     \
      "Accepting an incoming connection failed.",                              \
      "The errno of the failed accept.")                                       \
    X(CLOSED, "closed", INFO,                                                  \
      "A connection or a listening socket was closed.",                        \
      "The file descriptor that was closed.")                                  \
    X(CLOSE_FAILED, "close_failed", ERR,                                       \
      "Closing a connection or a listening socket failed.",                    \
      "The errno of the failed close.")                                        \
    X(DISCONNECTED, "disconnected", NOTICE,                                    \
      "A connection was broken: the peer went away or the link failed.",       \
      "The file descriptor of the broken connection.")                         \
    X(MONITOR_STOPPED, "monitor_stopped", INFO,                                \
      "Monitoring of the socket ended: socket closed, detached or context "    \
      "terminated.",                                                           \
      "Unused (0).")                                                           \
    X(HANDSHAKE_FAILED_NO_DETAIL, "handshake_failed_no_detail", WARNING,       \
      "The ZMTP handshake failed for a reason libzmq does not classify.",      \
      "The errno libzmq reported.")                                            \
    X(HANDSHAKE_SUCCEEDED, "handshake_succeeded", INFO,                        \
      "The ZMTP handshake, including any authentication, succeeded.",          \
      "Unused (0).")                                                           \
    X(HANDSHAKE_FAILED_PROTOCOL, "handshake_failed_protocol", WARNING,         \
      "The ZMTP handshake failed because the peer broke the protocol.",        \
      "The ZMQ_PROTOCOL_ERROR_* code.")                                        \
    X(HANDSHAKE_FAILED_AUTH, "handshake_failed_auth", WARNING,                 \
      "The peer was refused by ZAP authentication.",                           \
      "The ZAP status code (300, 400 or 500).")

typedef struct event_info {
    uint32_t bit;
    const char *name;
    zmqsink_severity_t severity;
    const char *doc;
    const char *value_doc;
} event_info_t;

static const event_info_t events[ZMQSINK_EVENT_TYPES] = {
#define ZS_EVENT_ENTRY(id, name, sev, doc, value_doc)                          \
    {ZMQSINK_EVENT_##id, name, ZMQSINK_SEV_##sev, doc, value_doc},
    ZS_EVENT_TABLE(ZS_EVENT_ENTRY)
#undef ZS_EVENT_ENTRY
};

static const char *const severities[] = {
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
};

/* Spellings accepted on input besides the canonical names. */
static const struct {
    const char *name;
    zmqsink_severity_t severity;
} severity_aliases[] = {
    {"error", ZMQSINK_SEV_ERR},
    {"warn", ZMQSINK_SEV_WARNING},
};

_Static_assert(ZMQ_PAIR == 0 && ZMQ_STREAM == 11,
               "socket type numbers differ from libzmq 4.x");
static const char *const socket_types[] = {
    [ZMQ_PAIR] = "pair",     [ZMQ_PUB] = "pub",       [ZMQ_SUB] = "sub",
    [ZMQ_REQ] = "req",       [ZMQ_REP] = "rep",       [ZMQ_DEALER] = "dealer",
    [ZMQ_ROUTER] = "router", [ZMQ_PULL] = "pull",     [ZMQ_PUSH] = "push",
    [ZMQ_XPUB] = "xpub",     [ZMQ_XSUB] = "xsub",     [ZMQ_STREAM] = "stream",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The table entry of a type, or NULL unless type is exactly one known bit. */
static const event_info_t *event_info(uint32_t type)
{
    if (type == 0 || (type & (type - 1)) != 0 || !(type & ZMQSINK_EVENT_ALL))
        return NULL;
    const event_info_t *info = &events[__builtin_ctz(type)];
    assert(info->bit == type); /* the table is in bit order */
    return info;
}

const char *zmqsink_event_name(uint32_t type)
{
    const event_info_t *info = event_info(type);
    return info ? info->name : NULL;
}

uint32_t zmqsink_event_from_name(const char *name)
{
    if (!name)
        return 0;
    for (size_t i = 0; i < COUNT(events); i++)
        if (strcmp(events[i].name, name) == 0)
            return events[i].bit;
    return 0;
}

const char *zmqsink_event_doc(uint32_t type)
{
    const event_info_t *info = event_info(type);
    return info ? info->doc : NULL;
}

const char *zmqsink_event_value_doc(uint32_t type)
{
    const event_info_t *info = event_info(type);
    return info ? info->value_doc : NULL;
}

/* Unknown types get info, as "the rest" do. */
zmqsink_severity_t zmqsink_event_default_severity(uint32_t type)
{
    const event_info_t *info = event_info(type);
    return info ? info->severity : ZMQSINK_SEV_INFO;
}

const char *zmqsink_severity_name(int severity)
{
    if (severity < 0 || (size_t)severity >= COUNT(severities))
        return NULL;
    return severities[severity];
}

int zmqsink_severity_from_name(const char *name)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < COUNT(severities); i++)
        if (strcmp(severities[i], name) == 0)
            return (int)i;
    for (size_t i = 0; i < COUNT(severity_aliases); i++)
        if (strcmp(severity_aliases[i].name, name) == 0)
            return severity_aliases[i].severity;
    return -1;
}

const char *zmqsink_socket_type_name(int socket_type)
{
    if (socket_type < 0 || (size_t)socket_type >= COUNT(socket_types))
        return "unknown";
    return socket_types[socket_type];
}
