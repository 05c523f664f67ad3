/* Tests of the OTLP/HTTP JSON rendering of plugins/http/otlp.c: the
 * severity mapping, the log records and their attributes, the resource,
 * and the lines it leaves out. The test server (tests/http/server.py)
 * checks the same requests against the OTLP JSON rules in test_http. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmqsink/event.h>

#include "otlp.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

TestSuite(otlp, .timeout = 30);

static const otlp_origin_t origin = {"orders", "1.2.3"};

/* Appends the json line of an event, as the http sink keeps it. */
static void add_line(bytes_t *lines, const zmqsink_event_t *ev)
{
    char buf[2048];
    int n = zmqsink_format_event(ZMQSINK_FORMAT_JSON, ev, buf, sizeof buf);
    cr_assert(n > 0 && (size_t)n < sizeof buf);
    bool failed = false;
    bytes_put(lines, buf, (size_t)n, &failed);
    bytes_put(lines, "\n", 1, &failed);
    cr_assert_not(failed);
}

static zmqsink_event_t event_of(uint64_t seq, uint32_t type, int severity)
{
    zmqsink_event_t ev = {
        .seq = seq,
        .time_ns = INT64_C(1700000000123456789),
        .duration_ms = -1,
        .type = type,
        .value = 9,
        .socket_type = 5, /* dealer */
        .severity = (uint8_t)severity,
    };
    snprintf(ev.socket, sizeof ev.socket, "backend");
    snprintf(ev.endpoint, sizeof ev.endpoint, "tcp://127.0.0.1:5555");
    snprintf(ev.peer, sizeof ev.peer, "127.0.0.1:40000");
    return ev;
}

/* Renders lines; the test fails unless the records are as many as want. */
static char *render(const bytes_t *lines, long want)
{
    bytes_t out = {0};
    long records = otlp_render(&out, lines->data ? lines->data : "",
                               lines->len, &origin);
    cr_assert_eq(records, want, "%ld records", records);
    bool failed = false;
    bytes_put(&out, "", 1, &failed);
    cr_assert_not(failed);
    return out.data;
}

Test(otlp, maps_syslog_severities_as_the_data_model_appendix_does)
{
    static const struct {
        int severity, number;
    } cases[] = {
        {ZMQSINK_SEV_EMERG, 21}, {ZMQSINK_SEV_ALERT, 19},
        {ZMQSINK_SEV_CRIT, 18},  {ZMQSINK_SEV_ERR, 17},
        {ZMQSINK_SEV_WARNING, 13}, {ZMQSINK_SEV_NOTICE, 10},
        {ZMQSINK_SEV_INFO, 9},   {ZMQSINK_SEV_DEBUG, 5},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        const char *name = zmqsink_severity_name(cases[i].severity);
        cr_expect_eq(otlp_severity_number(name), cases[i].number, "%s", name);
        bytes_t lines = {0};
        zmqsink_event_t ev = event_of(1, ZMQSINK_EVENT_CONNECTED,
                                      cases[i].severity);
        add_line(&lines, &ev);
        char *out = render(&lines, 1);
        char want[128];
        snprintf(want, sizeof want, "\"severityNumber\":%d,\"severityText\":\"%s\"",
                 cases[i].number, name);
        cr_expect_not_null(strstr(out, want), "%s in %s", want, out);
        free(out);
        bytes_free(&lines);
    }
    cr_expect_eq(otlp_severity_number("loud"), 0);
}

Test(otlp, renders_a_record_per_line_with_the_event_as_attributes)
{
    bytes_t lines = {0};
    zmqsink_event_t connected = event_of(7, ZMQSINK_EVENT_CONNECTED,
                                         ZMQSINK_SEV_INFO);
    zmqsink_event_t gone = event_of(8, ZMQSINK_EVENT_DISCONNECTED,
                                    ZMQSINK_SEV_NOTICE);
    gone.duration_ms = 1500;
    zmqsink_event_t failed = event_of(9, ZMQSINK_EVENT_BIND_FAILED,
                                      ZMQSINK_SEV_ERR);
    failed.value = 98; /* EADDRINUSE */
    failed.peer[0] = '\0';
    add_line(&lines, &connected);
    add_line(&lines, &gone);
    add_line(&lines, &failed);
    char *out = render(&lines, 3);
    static const char *const want[] = {
        "{\"resourceLogs\":[{\"resource\":{\"attributes\":[{\"key\":"
        "\"host.name\",\"value\":{\"stringValue\":\"",
        "{\"key\":\"process.pid\",\"value\":{\"intValue\":\"",
        "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"orders\"}}]},"
        "\"scopeLogs\":[{\"scope\":{\"name\":\"zmqsink\",\"version\":"
        "\"1.2.3\"},\"logRecords\":[{",
        "\"timeUnixNano\":\"1700000000123456000\","
        "\"observedTimeUnixNano\":\"1700000000123456000\"",
        "\"body\":{\"stringValue\":\"connected backend tcp://127.0.0.1:5555 "
        "peer 127.0.0.1:40000\"}",
        "\"attributes\":[{\"key\":\"zmq.event\",\"value\":{\"stringValue\":"
        "\"connected\"}},{\"key\":\"zmq.seq\",\"value\":{\"intValue\":\"7\"}},"
        "{\"key\":\"zmq.socket.name\",\"value\":{\"stringValue\":\"backend\"}},"
        "{\"key\":\"zmq.socket.type\",\"value\":{\"stringValue\":\"dealer\"}},"
        "{\"key\":\"zmq.endpoint\",\"value\":{\"stringValue\":"
        "\"tcp://127.0.0.1:5555\"}},{\"key\":\"zmq.peer\",\"value\":"
        "{\"stringValue\":\"127.0.0.1:40000\"}},{\"key\":\"zmq.value\","
        "\"value\":{\"intValue\":\"9\"}}]}",
        "{\"key\":\"zmq.connection.duration_ms\",\"value\":{\"intValue\":"
        "\"1500\"}}",
        "\"body\":{\"stringValue\":\"bind_failed backend tcp://127.0.0.1:5555 "
        "(EADDRINUSE)\"}",
        "{\"key\":\"zmq.reason\",\"value\":{\"stringValue\":\"EADDRINUSE\"}}",
    };
    for (size_t i = 0; i < COUNT(want); i++)
        cr_expect_not_null(strstr(out, want[i]), "%s\nnot in\n%s", want[i],
                           out);
    cr_expect_null(strstr(out, "\"zmq.peer\",\"value\":{\"stringValue\":\"\""),
                   "an unknown peer is left out: %s", out);
    size_t len = strlen(out);
    cr_expect_str_eq(out + len - 6, "]}]}]}");
    free(out);
    bytes_free(&lines);
}

Test(otlp, leaves_out_lines_that_are_not_events_and_renders_an_empty_batch)
{
    bytes_t lines = {0};
    bool failed = false;
    bytes_put_str(&lines, "not json\n\n", &failed);
    zmqsink_event_t ev = event_of(3, ZMQSINK_EVENT_ACCEPTED, ZMQSINK_SEV_INFO);
    add_line(&lines, &ev);
    char *out = render(&lines, 1);
    cr_expect_not_null(strstr(out, "\"zmq.seq\",\"value\":{\"intValue\":\"3\"}"));
    free(out);
    bytes_free(&lines);

    bytes_t none = {0};
    out = render(&none, 0);
    cr_expect_str_eq(out, "{\"resourceLogs\":[{\"resource\":{\"attributes\":"
                          "[{\"key\":\"service.name\",\"value\":{\"stringValue\":"
                          "\"orders\"}}]},\"scopeLogs\":[{\"scope\":{\"name\":"
                          "\"zmqsink\",\"version\":\"1.2.3\"},\"logRecords\":"
                          "[]}]}]}");
    free(out);
}

Test(otlp, escapes_text_and_keeps_unknown_times_as_zero)
{
    const char line[] = "{\"ts\":\"yesterday\",\"seq\":4,\"event\":\"connected\","
                        "\"severity\":\"info\",\"socket\":\"a\\\"b\","
                        "\"socket_type\":\"pub\",\"endpoint\":\"tcp://x:1\","
                        "\"peer\":null,\"value\":3,\"host\":\"h\",\"pid\":12}\n";
    bytes_t lines = {(char *)line, sizeof line - 1, 0};
    char *out = render(&lines, 1);
    cr_expect_not_null(strstr(out, "\"timeUnixNano\":\"0\""), "%s", out);
    cr_expect_not_null(strstr(out, "{\"stringValue\":\"a\\\"b\"}"), "%s", out);
    cr_expect_not_null(strstr(out, "\"host.name\",\"value\":{\"stringValue\":"
                                   "\"h\"}},{\"key\":\"process.pid\",\"value\":"
                                   "{\"intValue\":\"12\"}}"), "%s", out);
    cr_expect_null(strstr(out, "zmq.peer"), "%s", out);
    free(out);
}

/* Past 2262 the nanoseconds do not fit in 64 bits: unknown, not a wrapped
 * number (the fuzz target found the overflow). */
Test(otlp, a_time_past_2262_is_unknown)
{
    const char line[] = "{\"ts\":\"9999-12-31T23:59:59.999999Z\",\"seq\":1,"
                        "\"event\":\"connected\",\"severity\":\"info\","
                        "\"host\":\"h\",\"pid\":1}\n";
    bytes_t lines = {(char *)line, sizeof line - 1, 0};
    char *out = render(&lines, 1);
    cr_expect_not_null(strstr(out, "\"timeUnixNano\":\"0\""), "%s", out);
    free(out);
}
