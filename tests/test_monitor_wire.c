/* Tests of the monitor message decoders, v1 and v2, on frames held in
 * memory: the v2 decoder is tested here whether or not this build's
 * libzmq has the draft API. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <zmqsink/event.h>

#include "monitor_wire.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define FRAMES_MAX 8

typedef struct frame {
    const void *data;
    size_t len;
} frame_t;

/* One message: its frames, all but the last sent with MORE. */
typedef struct message {
    frame_t frame[FRAMES_MAX];
    size_t n, next;
} message_t;

/* A zs__wire_source_t read() over a message; EAGAIN past its end. */
static int message_read(void *from, void *buf, size_t cap, int *more)
{
    message_t *m = from;
    if (m->next == m->n) {
        errno = EAGAIN;
        return -1;
    }
    const frame_t *f = &m->frame[m->next++];
    memcpy(buf, f->data, f->len < cap ? f->len : cap);
    *more = m->next < m->n;
    return (int)f->len;
}

static int decode(int version, message_t *msg, zs__wire_sides_t *sides,
                  zs__monitor_message_t *out)
{
    zs__wire_source_t source = {message_read, msg};
    return zs__wire_decode(version, &source, sides, out);
}

/* [u16 event, u32 value] in native byte order, as libzmq writes it. */
static void v1_head(uint8_t head[6], uint16_t event, uint32_t value)
{
    memcpy(head, &event, sizeof event);
    memcpy(head + 2, &value, sizeof value);
}

#define TEXT(s) ((frame_t){s, sizeof s - 1})
#define WORD(v) ((frame_t){&(v), sizeof(v)})

Test(monitor_wire, v1_accepted)
{
    uint8_t head[6];
    v1_head(head, ZMQSINK_EVENT_ACCEPTED, 12);
    message_t msg = {{{head, 6}, TEXT("tcp://127.0.0.1:5555")}, 2, 0};
    zs__monitor_message_t m;
    cr_assert_eq(decode(1, &msg, NULL, &m), ZS__WIRE_OK);
    cr_expect_eq(m.type, ZMQSINK_EVENT_ACCEPTED);
    cr_expect_eq(m.value, 12);
    cr_expect_str_eq(m.endpoint, "tcp://127.0.0.1:5555");
    cr_expect_str_eq(m.peer, "");
}

Test(monitor_wire, malformed_messages_are_bad_and_no_message_is_empty)
{
    static const uint64_t event = ZMQSINK_EVENT_CONNECTED, one = 1, value = 9;
    uint8_t head[6];
    v1_head(head, ZMQSINK_EVENT_CONNECTED, 9);
    const struct {
        int version;
        message_t msg;
        int expected;
    } cases[] = {
        {1, {{{head, 5}, TEXT("tcp://a:1")}, 2, 0}, ZS__WIRE_BAD},
        {1, {{{head, 6}}, 1, 0}, ZS__WIRE_BAD},
        {1, {{{head, 6}, TEXT("tcp://a:1"), TEXT("x")}, 3, 0}, ZS__WIRE_BAD},
        {1, {{{0}}, 0, 0}, ZS__WIRE_EMPTY},
        {2, {{WORD(event), WORD(one), WORD(value), TEXT("tcp://a:1")}, 4, 0},
         ZS__WIRE_BAD},
        {2, {{WORD(event), WORD(one), {head, 6}, TEXT("x"), TEXT("y")}, 5, 0},
         ZS__WIRE_BAD},
        {2, {{WORD(event), {head, 4}}, 2, 0}, ZS__WIRE_BAD},
        {2, {{{0}}, 0, 0}, ZS__WIRE_EMPTY},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        message_t msg = cases[i].msg;
        zs__wire_sides_t sides = {0};
        zs__monitor_message_t m;
        cr_expect_eq(decode(cases[i].version, &msg, &sides, &m),
                     cases[i].expected, "case %zu", i);
        zs__wire_sides_free(&sides);
    }
}

/* v2 names each event as v1 would (the bind address on the accepting
 * side, the connect string on the other) and gives the peer. */
Test(monitor_wire, v2_names_both_sides_of_connections)
{
    static const uint64_t listening = ZMQSINK_EVENT_LISTENING,
                          accepted = ZMQSINK_EVENT_ACCEPTED,
                          connected = ZMQSINK_EVENT_CONNECTED,
                          disconnected = ZMQSINK_EVENT_DISCONNECTED,
                          one = 1, fd = 12;
    const struct {
        message_t msg;
        const char *endpoint, *peer;
    } steps[] = {
        {{{WORD(listening), WORD(one), WORD(fd), TEXT("tcp://127.0.0.1:5555"),
           TEXT("")}, 5, 0}, "tcp://127.0.0.1:5555", ""},
        {{{WORD(accepted), WORD(one), WORD(fd), TEXT("tcp://127.0.0.1:5555"),
           TEXT("tcp://127.0.0.1:40000")}, 5, 0},
         "tcp://127.0.0.1:5555", "127.0.0.1:40000"},
        {{{WORD(disconnected), WORD(one), WORD(fd),
           TEXT("tcp://127.0.0.1:5555"), TEXT("tcp://127.0.0.1:40000")}, 5, 0},
         "tcp://127.0.0.1:5555", "127.0.0.1:40000"},
        {{{WORD(connected), WORD(one), WORD(fd), TEXT("tcp://127.0.0.1:40001"),
           TEXT("tcp://10.0.0.2:6000")}, 5, 0},
         "tcp://10.0.0.2:6000", "10.0.0.2:6000"},
        {{{WORD(disconnected), WORD(one), WORD(fd),
           TEXT("tcp://127.0.0.1:40001"), TEXT("tcp://10.0.0.2:6000")}, 5, 0},
         "tcp://10.0.0.2:6000", "10.0.0.2:6000"},
    };
    zs__wire_sides_t sides = {0};
    for (size_t i = 0; i < COUNT(steps); i++) {
        message_t msg = steps[i].msg;
        zs__monitor_message_t m;
        cr_assert_eq(decode(2, &msg, &sides, &m), ZS__WIRE_OK, "step %zu", i);
        cr_expect_eq(m.value, fd, "step %zu", i);
        cr_expect_str_eq(m.endpoint, steps[i].endpoint, "step %zu", i);
        cr_expect_str_eq(m.peer, steps[i].peer, "step %zu", i);
    }
    zs__wire_sides_free(&sides);
}

/* A newer libzmq's event and extra values pass through, undecorated. */
Test(monitor_wire, v2_unknown_events_and_extra_values)
{
    static const uint64_t pipes_stats = 0x10000, two = 2, a = 7, b = 8;
    message_t msg = {{WORD(pipes_stats), WORD(two), WORD(a), WORD(b),
                      TEXT("tcp://127.0.0.1:5555"), TEXT("tcp://127.0.0.1:1")},
                     6, 0};
    zs__wire_sides_t sides = {0};
    zs__monitor_message_t m;
    cr_assert_eq(decode(2, &msg, &sides, &m), ZS__WIRE_OK);
    cr_expect_eq(m.type, pipes_stats);
    cr_expect_eq(m.value, 7);
    cr_expect_not(zs__wire_event_known(m.type));
    cr_expect_str_eq(m.endpoint, "");
    zs__wire_sides_free(&sides);
}
