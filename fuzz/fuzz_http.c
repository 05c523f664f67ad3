/* Fuzz target: how the http sink reads an endpoint's answer
 * (plugins/http/response.c), from the bytes the endpoint sends.
 *
 * The input is the whole response: status line, headers, body. libcurl
 * posts a batch, with the multi interface as the sink does, to a server
 * here on a unix socket, which answers with the input; then the sink's
 * reading of the transfer gives the verdict and the Retry-After wait. The
 * verdict must follow the status, the wait must stay within its bound,
 * and where the response is a plain one with one Retry-After, in
 * delta-seconds or as an IMF-fixdate (RFC 9110 10.2.3), the wait must be
 * what it says, read here with the C library's own parsers. */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "target.h"
#include "response.h"

#define NS_PER_S INT64_C(1000000000)
/* Seconds a date's wait may differ by, as the clock moves on meanwhile. */
#define CLOCK_SLACK_S 2

static char socket_dir[256], socket_path[300];
static int listener = -1;
static CURLM *multi;

static size_t discard_body(char *data, size_t size, size_t n, void *arg)
{
    return size * n;
}

static void server_remove(void)
{
    unlink(socket_path);
    rmdir(socket_dir);
}

/* The server's socket, and libcurl. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *tmp = getenv("TMPDIR");
    snprintf(socket_dir, sizeof socket_dir, "%s/zmqsink-fuzz-http-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    FUZZ_CHECK(mkdtemp(socket_dir), "%s", socket_dir);
    snprintf(socket_path, sizeof socket_path, "%s/http.sock", socket_dir);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    FUZZ_CHECK(strlen(socket_path) < sizeof addr.sun_path, "%s", socket_path);
    strcpy(addr.sun_path, socket_path);
    listener = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    FUZZ_CHECK(listener >= 0 &&
                   bind(listener, (struct sockaddr *)&addr, sizeof addr) == 0 &&
                   listen(listener, 4) == 0,
               "%s", socket_path);
    atexit(server_remove);
    FUZZ_CHECK(curl_global_init(CURL_GLOBAL_DEFAULT) == 0 &&
                   (multi = curl_multi_init()),
               "curl");
    return 0;
}

/* ---- what a plain response says, read without libcurl ---- */

/* Whether the response is plain, its head a status line and "Name: value"
 * lines, each ending in CRLF, then CRLF, with one Retry-After, whose value
 * it copies into value. */
static bool plain_retry_after(const char *r, size_t len, char *value,
                              size_t cap)
{
    const char *end = r + len, *eol = memmem(r, len, "\r\n", 2);
    if (len < 12 || memcmp(r, "HTTP/1.1 ", 9) != 0 || !eol ||
        memchr(r, '\n', (size_t)(eol - r)))
        return false;
    int found = 0;
    for (const char *line = eol + 2; line < end; line = eol + 2) {
        eol = memmem(line, (size_t)(end - line), "\r\n", 2);
        if (!eol)
            return false;
        if (eol == line)
            return found == 1;
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        size_t n = (size_t)(eol - line);
        if (!colon || colon == line || memchr(line, '\0', n) ||
            memchr(line, '\r', n) || memchr(line, '\n', n))
            return false;
        for (const char *c = line; c < colon; c++)
            if (!isalnum((unsigned char)*c) && *c != '-')
                return false;
        if (colon - line != 11 || strncasecmp(line, "Retry-After", 11) != 0)
            continue;
        const char *v = colon + 1, *v_end = eol;
        while (v < v_end && (*v == ' ' || *v == '\t'))
            v++;
        while (v_end > v && (v_end[-1] == ' ' || v_end[-1] == '\t'))
            v_end--;
        if ((size_t)(v_end - v) >= cap)
            return false;
        memcpy(value, v, (size_t)(v_end - v));
        value[v_end - v] = '\0';
        found++;
    }
    return false;
}

static int64_t bounded_ns(int64_t seconds)
{
    if (seconds <= 0)
        return 0;
    return (seconds < RESPONSE_RETRY_AFTER_MAX_S ? seconds
                                                 : RESPONSE_RETRY_AFTER_MAX_S) *
           NS_PER_S;
}

/* Whether value has the shape of an IMF-fixdate, "Sun, 06 Nov 1994
 * 08:49:37 GMT" ('a' a letter, '0' a digit, the rest as it is). */
static bool imf_fixdate_shaped(const char *value)
{
    static const char shape[] = "aaa, 00 aaa 0000 00:00:00 GMT";
    if (strlen(value) != sizeof shape - 1)
        return false;
    for (size_t i = 0; shape[i]; i++) {
        unsigned char c = (unsigned char)value[i];
        if (shape[i] == 'a' ? !isalpha(c)
            : shape[i] == '0' ? !isdigit(c)
                              : c != (unsigned char)shape[i])
            return false;
    }
    return true;
}

/* The wait the Retry-After value asks for: delta-seconds, or an
 * IMF-fixdate against the clock. Returns false for any other value. */
static bool expected_wait(const char *value, int64_t *ns, bool *dated)
{
    size_t digits = strspn(value, "0123456789");
    if (digits > 0 && digits <= 12 && !value[digits]) {
        *ns = bounded_ns(strtoll(value, NULL, 10));
        *dated = false;
        return true;
    }
    struct tm tm = {0};
    const char *rest = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    /* libcurl reads a year below 100 as RFC 850's two digits would have
     * it (0062 as 2062); no server dates its answers before 1970. */
    if (!imf_fixdate_shaped(value) || !rest || *rest ||
        tm.tm_year + 1900 < 1970)
        return false;
    *ns = bounded_ns((int64_t)timegm(&tm) - (int64_t)time(NULL));
    *dated = true;
    return true;
}

/* ---- the transfer ---- */

static void answer_check(const uint8_t *data, size_t size, CURLcode code,
                         long curl_status, const response_t *r)
{
    FUZZ_CHECK(r->retry_after_ns >= 0 &&
                   r->retry_after_ns <= RESPONSE_RETRY_AFTER_MAX_S * NS_PER_S,
               "wait %lld ns", (long long)r->retry_after_ns);
    FUZZ_CHECK(r->verdict == RESPONSE_RETRY || !r->retry_after_ns,
               "a wait without a retry");
    if (code != CURLE_OK) {
        FUZZ_CHECK(r->verdict == RESPONSE_RETRY && r->status == 0,
                   "%s: verdict %d", curl_easy_strerror(code), r->verdict);
        return;
    }
    FUZZ_CHECK(r->status == curl_status, "status %ld, libcurl %ld", r->status,
               curl_status);
    FUZZ_CHECK((r->verdict == RESPONSE_DELIVERED) ==
                   (r->status >= 200 && r->status <= 299),
               "status %ld: verdict %d", r->status, r->verdict);
    FUZZ_CHECK(r->verdict != RESPONSE_RETRY || r->status == 408 ||
                   r->status == 429 || (r->status >= 500 && r->status <= 599 &&
                                        r->status != 501),
               "status %ld retried", r->status);
    char value[64];
    int64_t ns;
    bool dated;
    if (r->verdict != RESPONSE_RETRY ||
        !plain_retry_after((const char *)data, size, value, sizeof value) ||
        !expected_wait(value, &ns, &dated))
        return;
    int64_t slack = dated ? CLOCK_SLACK_S * NS_PER_S : 0;
    FUZZ_CHECK(r->retry_after_ns >= ns - slack &&
                   r->retry_after_ns <= ns + slack,
               "Retry-After: %s: waits %lld s, not %lld s", value,
               (long long)(r->retry_after_ns / NS_PER_S),
               (long long)(ns / NS_PER_S));
}

/* Runs the transfer, answering its request with the response once
 * libcurl connects. Returns how it ended. */
static CURLcode transfer(CURL *easy, const uint8_t *data, size_t size)
{
    int server = -1, running = 1;
    curl_multi_add_handle(multi, easy);
    while (running) {
        curl_multi_perform(multi, &running);
        if (server < 0 &&
            (server = accept4(listener, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
            FUZZ_CHECK(size == 0 || write(server, data, size) == (ssize_t)size,
                       "write");
            shutdown(server, SHUT_WR);
        }
        struct curl_waitfd wait = {listener, CURL_WAIT_POLLIN, 0};
        if (running)
            curl_multi_poll(multi, &wait, server < 0, 10, NULL);
    }
    CURLcode code = CURLE_RECV_ERROR;
    int left;
    for (CURLMsg *msg; (msg = curl_multi_info_read(multi, &left));)
        if (msg->msg == CURLMSG_DONE)
            code = msg->data.result;
    curl_multi_remove_handle(multi, easy);
    if (server >= 0)
        close(server);
    return code;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* What the socket buffer takes before libcurl reads. */
    if (size > 64 * 1024)
        return 0;
    CURL *easy = curl_easy_init();
    FUZZ_CHECK(easy, "curl_easy_init");
    curl_easy_setopt(easy, CURLOPT_URL, "http://127.0.0.1:8080/events");
    curl_easy_setopt(easy, CURLOPT_UNIX_SOCKET_PATH, socket_path);
    curl_easy_setopt(easy, CURLOPT_PROXY, "");
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, "[{\"event\":\"accepted\"}]");
    CURLcode code = transfer(easy, data, size);
    long curl_status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &curl_status);
    response_t r;
    response_read(easy, code, RESPONSE_RULES_HTTP, &r);
    answer_check(data, size, code, curl_status, &r);
    curl_easy_cleanup(easy);
    return 0;
}
