/* Fuzz target: the monitor message decoders, v1 and v2, over a stream of
 * frames such as a reader receives from libzmq.
 *
 * Input: one byte whose low bit chooses the version (0: v1, 1: v2), then
 * frames, each [u8 more][u16 length, little-endian][bytes]; a frame cut
 * short by the end of the input ends the stream. The frames are decoded
 * message after message, as the collector does (a malformed message's
 * remaining frames skipped), with the sides a v2 reader keeps across
 * messages. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "target.h"
#include "monitor_wire.h"

typedef struct stream {
    const uint8_t *data;
    size_t size, at;
    int more; /* of the last frame read */
} stream_t;

/* A zs__wire_source_t read() over the stream; EAGAIN at its end. */
static int stream_read(void *from, void *buf, size_t cap, int *more)
{
    stream_t *s = from;
    if (s->size - s->at < 3) {
        errno = EAGAIN;
        return -1;
    }
    size_t len = s->data[s->at + 1] | (size_t)s->data[s->at + 2] << 8;
    if (s->size - s->at - 3 < len) {
        s->at = s->size;
        errno = EAGAIN;
        return -1;
    }
    *more = s->more = s->data[s->at] & 1;
    memcpy(buf, s->data + s->at + 3, len < cap ? len : cap);
    s->at += 3 + len;
    return (int)len;
}

/* Reads the rest of a malformed message, as zs__wire_skip() does. */
static void stream_skip(stream_t *s)
{
    char ignored[8];
    int more;
    while (s->more && stream_read(s, ignored, sizeof ignored, &more) >= 0)
        ;
}

static void text_check(const char *text, size_t cap, const char *what)
{
    FUZZ_CHECK(memchr(text, '\0', cap), "%s is not terminated", what);
}

static void message_check(int version, const zs__monitor_message_t *m)
{
    text_check(m->endpoint, sizeof m->endpoint, "endpoint");
    text_check(m->local, sizeof m->local, "local");
    text_check(m->remote, sizeof m->remote, "remote");
    text_check(m->peer, sizeof m->peer, "peer");
    if (version == 1) {
        FUZZ_CHECK(m->type <= UINT16_MAX && m->value <= UINT32_MAX, "v1 %llx",
                   (unsigned long long)m->type);
        FUZZ_CHECK(!m->local[0] && !m->remote[0] && !m->peer[0], "v1 sides");
        return;
    }
    /* v2 names the event by one of its ends. */
    if (zs__wire_event_known(m->type) && m->endpoint[0])
        FUZZ_CHECK(!strncmp(m->endpoint, m->local, sizeof m->endpoint - 1) ||
                       !strncmp(m->endpoint, m->remote,
                                sizeof m->endpoint - 1),
                   "endpoint '%s' is neither end", m->endpoint);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int version = 1 + (data[0] & 1);
    stream_t stream = {data + 1, size - 1, 0, 0};
    zs__wire_source_t source = {stream_read, &stream};
    zs__wire_sides_t sides = {0};
    for (;;) {
        zs__monitor_message_t m;
        memset(&m, 0xa5, sizeof m); /* no field left as it was */
        int rc = zs__wire_decode(version, &source, &sides, &m);
        FUZZ_CHECK(rc == ZS__WIRE_OK || rc == ZS__WIRE_BAD ||
                       rc == ZS__WIRE_EMPTY,
                   "code %d", rc);
        if (rc == ZS__WIRE_EMPTY)
            break;
        if (rc == ZS__WIRE_OK)
            message_check(version, &m);
        else
            stream_skip(&stream);
        FUZZ_CHECK(sides.n <= sides.cap, "%zu sides", sides.n);
    }
    zs__wire_sides_free(&sides);
    return 0;
}
