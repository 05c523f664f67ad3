/* Tests of the templates of common/template.c ({socket} {event} {host}
 * {pid}) and of json_read_member(), which reads an event's values back
 * from the json line a spool keeps. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>
#include <zmqsink/event.h>

#include "json.h"
#include "template.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

TestSuite(template, .timeout = 30);

/* ---- check ---- */

Test(template, accepts_known_placeholders_and_doubled_braces)
{
    static const char *const good[] = {
        "",
        "fixed",
        "{socket}",
        "zmq.{socket}.{event}",
        "{host}-{pid}",
        "{{socket}}",
        "a}}b{{",
        "{socket}{socket}",
    };
    for (size_t i = 0; i < COUNT(good); i++) {
        char err[256] = "";
        cr_expect_eq(template_check(good[i], err, sizeof err), 0, "'%s': %s",
                     good[i], err);
    }
}

Test(template, refuses_what_is_not_a_placeholder_naming_it)
{
    static const struct {
        const char *text, *err;
    } cases[] = {
        {"{sokcet}", "unknown placeholder '{sokcet}' (known: {socket} "
                     "{event} {host} {pid}; '{{' for a brace)"},
        {"zmq.{Socket}", "unknown placeholder '{Socket}' (known: {socket} "
                         "{event} {host} {pid}; '{{' for a brace)"},
        {"{}", "unknown placeholder '{}' (known: {socket} {event} {host} "
               "{pid}; '{{' for a brace)"},
        {"ab{socket", "a '{' at offset 2 opens no placeholder (known: "
                      "{socket} {event} {host} {pid}; '{{' for a brace)"},
        {"{socket}}", "a lone '}' at offset 8 ('}}' for a brace)"},
        {"a}b", "a lone '}' at offset 1 ('}}' for a brace)"},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        char err[256] = "";
        cr_expect_eq(template_check(cases[i].text, err, sizeof err), -1,
                     "'%s' passed", cases[i].text);
        cr_expect_str_eq(err, cases[i].err, "'%s'", cases[i].text);
    }
}

Test(template, says_which_placeholders_it_uses)
{
    cr_expect(template_uses("k-{socket}", TEMPLATE_SOCKET));
    cr_expect_not(template_uses("k-{socket}", TEMPLATE_EVENT));
    cr_expect_not(template_uses("{{socket}}", TEMPLATE_SOCKET));
    cr_expect(template_uses("{host}.{pid}", TEMPLATE_PID));
}

/* ---- expansion ---- */

static template_values_t sample_values(void)
{
    template_values_t v = {0};
    strcpy(v.text[TEMPLATE_SOCKET], "front end");
    strcpy(v.text[TEMPLATE_EVENT], "accepted");
    strcpy(v.text[TEMPLATE_HOST], "h1");
    strcpy(v.text[TEMPLATE_PID], "42");
    return v;
}

Test(template, expands_each_placeholder_and_keeps_the_rest)
{
    static const struct {
        const char *text, *expanded;
    } cases[] = {
        {"", ""},
        {"{socket}", "front end"},
        {"zmq.{socket}.{event}", "zmq.front end.accepted"},
        {"{host}:{pid}:{host}", "h1:42:h1"},
        {"{{{socket}}}", "{front end}"},
        {"plain", "plain"},
    };
    template_values_t v = sample_values();
    for (size_t i = 0; i < COUNT(cases); i++) {
        bytes_t out = {0};
        bytes_put_str(&out, ">", &(bool){false});
        cr_assert_eq(template_expand(cases[i].text, &v, &out), 0);
        cr_expect_eq(out.len, strlen(cases[i].expanded) + 1, "'%s'",
                     cases[i].text);
        cr_expect_eq(memcmp(out.data + 1, cases[i].expanded, out.len - 1), 0,
                     "'%s' gave '%.*s'", cases[i].text, (int)out.len - 1,
                     out.data + 1);
        bytes_free(&out);
    }
}

/* ---- values ---- */

static zmqsink_event_t awkward_event(void)
{
    zmqsink_event_t ev = {
        .seq = 7, .time_ns = INT64_C(1700000000123456789), .duration_ms = -1,
        .type = ZMQSINK_EVENT_HANDSHAKE_FAILED_PROTOCOL, .value = 0x11000001,
        .socket_type = ZMQ_ROUTER, .severity = ZMQSINK_SEV_WARNING,
    };
    /* Quotes, a backslash, a tab, UTF-8 and a character outside the BMP:
     * every escape the json writer uses. */
    snprintf(ev.socket, sizeof ev.socket,
             "a\"b\\c\td \xc3\xa9 \xf0\x9f\x98\x80");
    snprintf(ev.endpoint, sizeof ev.endpoint, "tcp://127.0.0.1:5555");
    return ev;
}

Test(template, values_of_an_event_and_of_its_json_line_agree)
{
    zmqsink_event_t ev = awkward_event();
    char line[2048];
    int len = zmqsink_format_event(ZMQSINK_FORMAT_JSON, &ev, line, sizeof line);
    cr_assert(len > 0 && (size_t)len < sizeof line);
    template_values_t from_event, from_json;
    template_values_of_event(&from_event, &ev);
    cr_assert_eq(template_values_of_json(&from_json, line, (size_t)len), 0,
                 "%s", line);
    cr_expect_str_eq(from_event.text[TEMPLATE_SOCKET], ev.socket);
    cr_expect_str_eq(from_event.text[TEMPLATE_EVENT],
                     "handshake_failed_protocol");
    char pid[32], host[256];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    cr_assert_eq(gethostname(host, sizeof host), 0);
    cr_expect_str_eq(from_event.text[TEMPLATE_PID], pid);
    cr_expect_str_eq(from_event.text[TEMPLATE_HOST], host);
    for (int f = 0; f < TEMPLATE_FIELDS; f++)
        cr_expect_str_eq(from_json.text[f], from_event.text[f], "%s",
                         template_field_name((template_field_t)f));
}

Test(template, a_json_line_without_the_fields_gives_no_values)
{
    template_values_t v;
    const char *line = "{\"seq\":1,\"event\":\"accepted\"}";
    cr_expect_eq(template_values_of_json(&v, line, strlen(line)), -1);
}

/* ---- json_read_member ---- */

Test(template, json_read_member_reads_strings_numbers_and_escapes)
{
    static const char obj[] =
        "{\"ts\":\"t\",\"seq\":12,\"peer\":null,\"s\":\"a\\\"b\\\\c\\/d\\n\","
        "\"u\":\"\\u00e9\\ud83d\\ude00\\u0001\",\"lone\":\"\\ud800x\","
        "\"last\":true}";
    static const struct {
        const char *key, *value;
        int rc;
    } cases[] = {
        {"ts", "t", 1},
        {"seq", "12", 1},
        {"peer", "null", 1},
        {"s", "a\"b\\c/d\n", 1},
        {"u", "\xc3\xa9\xf0\x9f\x98\x80\x01", 1},
        {"lone", "\xef\xbf\xbdx", 1},
        {"last", "true", 1},
        {"absent", "", 0},
        {"se", "", 0},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        char out[64] = "junk";
        cr_expect_eq(json_read_member(obj, strlen(obj), cases[i].key, out,
                                 sizeof out),
                     cases[i].rc, "%s", cases[i].key);
        cr_expect_str_eq(out, cases[i].value, "%s", cases[i].key);
    }
}

Test(template, json_read_member_cuts_and_refuses_what_is_no_object)
{
    const char *obj = "{\"k\":\"abcdef\"}";
    char out[4];
    cr_expect_eq(json_read_member(obj, strlen(obj), "k", out, sizeof out), 1);
    cr_expect_str_eq(out, "abc");
    static const char *const bad[] = {"", "[1]", "{\"k\" 1}", "{\"a\":\"x",
                                      "{\"a\":1,}", "{\"a\":\"\\q\"}"};
    for (size_t i = 0; i < COUNT(bad); i++)
        cr_expect_eq(json_read_member(bad[i], strlen(bad[i]), "zz", out,
                                 sizeof out),
                     -1, "'%s'", bad[i]);
}
