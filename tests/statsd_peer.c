/* The real statsd daemon the statsd sink's tests send to, and its dumps. */
#include "statsd_peer.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "helpers.h"

/* Longest a bounded wait here lasts. */
#define WAIT_MS 15000

/* ---- datagrams ---- */

int sp_udp_bound(int *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
    struct sockaddr_in addr = { .sin_family = AF_INET,
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof addr;
    cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    int size = 4 << 20; /* room for every datagram of a big flush */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    *port = ntohs(addr.sin_port);
    return fd;
}

void sp_udp_send(int port, const char *text)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    cr_assert_eq(sendto(fd, text, strlen(text), 0, (struct sockaddr *)&addr,
                        sizeof addr),
                 (ssize_t)strlen(text));
    close(fd);
}

/* ---- the admin interface and its dumps ---- */

char *sp_admin(const sp_daemon_t *d, const char *command)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET,
                                .sin_port = htons((uint16_t)d->mgmt_port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    struct timeval timeout = { 5, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return NULL;
    }
    char line[64];
    snprintf(line, sizeof line, "%s\n", command);
    size_t len = 0, cap = 4096;
    char *text = malloc(cap);
    if (write(fd, line, strlen(line)) != (ssize_t)strlen(line))
        goto fail;
    for (;;) {
        if (cap - len < 2048)
            text = realloc(text, cap *= 2);
        ssize_t n = read(fd, text + len, cap - len - 1);
        if (n <= 0)
            goto fail;
        len += (size_t)n;
        text[len] = '\0';
        if (len >= 5 && strcmp(text + len - 5, "END\n\n") == 0)
            break;
    }
    close(fd);
    return text;
fail:
    close(fd);
    free(text);
    return NULL;
}

bool sp_dump_number(const char *dump, const char *key, double *value)
{
    char pattern[256];
    snprintf(pattern, sizeof pattern, "'%s': ", key);
    const char *at = strstr(dump, pattern);
    if (!at)
        return false;
    char *end;
    *value = strtod(at + strlen(pattern), &end);
    return end != at + strlen(pattern);
}

double sp_admin_number(const sp_daemon_t *d, const char *command,
                       const char *key)
{
    char *dump = sp_admin(d, command);
    cr_assert_not_null(dump, "statsd's admin port did not answer");
    double v;
    bool found = sp_dump_number(dump, key, &v);
    cr_assert(found, "'%s' missing from statsd's %s:\n%s", key, command, dump);
    free(dump);
    return v;
}

int sp_dump_array(const char *dump, const char *key, double *values, int cap)
{
    char pattern[256];
    snprintf(pattern, sizeof pattern, "'%s': [", key);
    const char *p = strstr(dump, pattern);
    if (!p)
        return -1;
    p += strlen(pattern);
    int n = 0;
    for (;;) {
        p += strspn(p, " \n,");
        if (*p == ']')
            return n;
        char *end;
        double v = strtod(p, &end);
        cr_assert_neq(end, p, "unexpected timers dump at: %.40s", p);
        cr_assert_lt(n, cap);
        values[n++] = v;
        p = end;
    }
}

int sp_count_keys(const char *dump, const char *prefix)
{
    char pattern[300];
    snprintf(pattern, sizeof pattern, "'%s", prefix);
    int n = 0;
    for (const char *at = dump; (at = strstr(at, pattern)); at++)
        n++;
    return n;
}

bool sp_caught_up(const sp_daemon_t *d, const char *marker)
{
    char line[128];
    snprintf(line, sizeof line, "%s:1|c", marker);
    for (int waited = 0; waited < WAIT_MS; waited += 50) {
        sp_udp_send(d->port, line);
        char *dump = sp_admin(d, "counters");
        double v;
        bool seen = dump && sp_dump_number(dump, marker, &v);
        free(dump);
        if (seen)
            return true;
        th_sleep_ms(50);
    }
    return false;
}

double sp_wait_gauge(const sp_daemon_t *d, const char *key, double want)
{
    double v = -1;
    for (int waited = 0; waited < WAIT_MS; waited += 50) {
        char *dump = sp_admin(d, "gauges");
        bool found = dump && sp_dump_number(dump, key, &v);
        free(dump);
        if (found && v == want)
            break;
        th_sleep_ms(50);
    }
    return v;
}

/* ---- the daemon ---- */

void sp_start(sp_daemon_t *d, const char *dir)
{
    const char *srcdir = getenv("ZMQSINK_TEST_SRCDIR");
    cr_assert_not_null(srcdir, "ZMQSINK_TEST_SRCDIR is not set (run it "
                               "through make check)");
    char script[1024];
    snprintf(script, sizeof script,
             "%s/statsd/node_modules/statsd/stats.js", srcdir);
    cr_assert_eq(access(script, R_OK), 0,
                 "%s: %s (run scripts/setup, or npm ci in tests/statsd)",
                 script, strerror(errno));
    d->port = th_free_port();
    d->mgmt_port = th_free_port();
    char config[512];
    snprintf(config, sizeof config,
             "{ port: %d, address: \"127.0.0.1\", mgmt_port: %d, "
             "mgmt_address: \"127.0.0.1\", backends: [], "
             "flushInterval: 3600000, deleteIdleStats: false, "
             "automaticConfigReload: false }\n",
             d->port, d->mgmt_port);
    char *config_path = th_write_file(dir, "statsd-config.js", config);
    char log_path[512];
    snprintf(log_path, sizeof log_path, "%s/statsd.log", dir);

    char *argv[] = { "node", script, config_path, NULL };
    d->pid = th_spawn(argv, log_path);
    free(config_path);
    if (!sp_caught_up(d, "test.ready")) {
        char *log = th_read_file(log_path);
        cr_assert_fail("statsd did not answer on 127.0.0.1:%d; its log:\n%s",
                       d->mgmt_port, log ? log : "(none)");
    }
}

void sp_stop(sp_daemon_t *d)
{
    th_stop_process(&d->pid);
}

/* ---- metric names ---- */

void sp_counter_key(bool tags, char *key, size_t cap, const char *socket,
                    const char *event_name)
{
    if (tags)
        snprintf(key, cap, "zmq.events;socket=%s;event=%s", socket,
                 event_name);
    else
        snprintf(key, cap, "zmq.%s.%s", socket, event_name);
}

void sp_reason_key(bool tags, char *key, size_t cap, const char *socket,
                   const char *event_name, const char *reason)
{
    sp_counter_key(tags, key, cap, socket, event_name);
    size_t len = strlen(key);
    snprintf(key + len, cap - len, tags ? ";reason=%s" : ".%s", reason);
}

void sp_socket_key(bool tags, char *key, size_t cap, const char *socket,
                   const char *metric)
{
    if (tags)
        snprintf(key, cap, "zmq.%s;socket=%s", metric, socket);
    else
        snprintf(key, cap, "zmq.%s.%s", socket, metric);
}

void sp_drops_key(bool tags, char *key, size_t cap, const char *sink)
{
    if (tags)
        snprintf(key, cap, "zmq.zmqsink.dropped;sink=%s", sink);
    else
        snprintf(key, cap, "zmq.zmqsink.%s.dropped", sink);
}

void sp_process_gauge_key(bool tags, char *key, size_t cap,
                          const char *socket, pid_t pid)
{
    if (tags)
        snprintf(key, cap, "zmq.connections;socket=%s;pid=%ld", socket,
                 (long)pid);
    else
        snprintf(key, cap, "zmq.%s.connections.%ld", socket, (long)pid);
}
