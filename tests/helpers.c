/* Helpers shared by the integration tests: temporary files, free ports,
 * misbehaving raw TCP peers, and an in-memory event log fed by a callback
 * sink. */
#include "helpers.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

char *th_tempdir(void)
{
    char *dir = strdup("/tmp/zmqsink-test-XXXXXX");
    if (!dir || !mkdtemp(dir)) {
        perror("mkdtemp");
        abort();
    }
    return dir;
}

void th_remove_tree(const char *dir)
{
    char command[4200];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    if (system(command) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

char *th_path(const char *dir, const char *name)
{
    char *path;
    if (asprintf(&path, "%s/%s", dir, name) < 0)
        abort();
    return path;
}

char *th_write_file(const char *dir, const char *name, const char *text)
{
    char *path = th_path(dir, name);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        abort();
    }
    return path;
}

char *th_sink_config(const char *dir, const char *name, const char *type,
                     const char *options)
{
    char *yaml, file[256];
    if (asprintf(&yaml, "sinks:\n  - name: %s\n    type: %s\n%s", name, type,
                 options) < 0)
        abort();
    snprintf(file, sizeof file, "%s.yaml", name);
    char *path = th_write_file(dir, file, yaml);
    free(yaml);
    return path;
}

int th_check_config(const char *path, char *err, size_t len)
{
    return zmqsink_check(path, NULL, err, len);
}

/* The line of "PATH:LINE:COL: ..." in err, or -1 when err does not start
 * with path. */
static long error_line(const char *err, const char *path)
{
    size_t n = strlen(path);
    if (strncmp(err, path, n) != 0 || err[n] != ':')
        return -1;
    return strtol(err + n + 1, NULL, 10);
}

void th_expect_refused(const char *dir, const char *name, const char *type,
                       const th_refusal_t *cases, size_t n,
                       int (*try_config)(const char *path, char *err,
                                         size_t len))
{
    char sink[300];
    snprintf(sink, sizeof sink, "sink '%s'", name);
    for (size_t i = 0; i < n; i++) {
        char *path = th_sink_config(dir, name, type, cases[i].options);
        char err[1024] = "";
        cr_expect_neq(try_config(path, err, sizeof err), 0, "accepted:\n%s",
                      cases[i].options);
        cr_expect(strstr(err, sink) && strstr(err, cases[i].named),
                  "'%s' not named in: %s", cases[i].named, err);
        if (cases[i].line > 0)
            cr_expect_eq(error_line(err, path), cases[i].line,
                         "not at line %d: %s", cases[i].line, err);
        free(path);
    }
}

void th_expect_accepted(const char *dir, const char *name, const char *type,
                        const char *options)
{
    char *path = th_sink_config(dir, name, type, options), err[1024] = "";
    cr_expect_eq(th_check_config(path, err, sizeof err), 0, "refused:\n%s: %s",
                 options, err);
    free(path);
}

zmqsink_t *th_start(void *ctx, const char *dir, const char *yaml_fmt, ...)
{
    char yaml[4096];
    va_list args;
    va_start(args, yaml_fmt);
    vsnprintf(yaml, sizeof yaml, yaml_fmt, args);
    va_end(args);
    char *path = th_write_file(dir, "zmqsink.yaml", yaml);
    char err[1024] = "";
    zmqsink_t *zs = zmqsink_new(ctx, path, err, sizeof err);
    cr_assert_not_null(zs, "zmqsink_new: %s", err);
    free(path);
    return zs;
}

char *th_read_stream(FILE *stream)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, stream)) > 0)
        fwrite(chunk, 1, n, out);
    fclose(out);
    return text;
}

size_t th_count(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; p && (p = strstr(p, needle)); p++)
        n++;
    return n;
}

char *th_read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *text = th_read_stream(f);
    fclose(f);
    return text;
}

static int tcp_socket_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        perror("connect");
        abort();
    }
    return fd;
}

static void *open_sockets[4096];
static size_t nopen_sockets;

void *th_socket(void *ctx, int type)
{
    void *s = zmq_socket(ctx, type);
    int linger = 0;
    if (!s || nopen_sockets == sizeof open_sockets / sizeof open_sockets[0])
        abort();
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    open_sockets[nopen_sockets++] = s;
    return s;
}

void th_close(void *socket)
{
    for (size_t i = 0; i < nopen_sockets; i++)
        if (open_sockets[i] == socket) {
            open_sockets[i] = open_sockets[--nopen_sockets];
            break;
        }
    zmq_close(socket);
}

void th_close_all(void)
{
    while (nopen_sockets)
        zmq_close(open_sockets[--nopen_sockets]);
}

char *th_plugin_path(const char *name)
{
    const char *dirs = getenv("ZMQSINK_PLUGIN_DIR");
    char *copy = strdup(dirs ? dirs : ""), *save = NULL, *found = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir && !found;
         dir = strtok_r(NULL, ":", &save)) {
        char *path;
        if (asprintf(&path, "%s/%s.so", dir, name) < 0)
            abort();
        if (access(path, F_OK) == 0)
            found = path;
        else
            free(path);
    }
    free(copy);
    if (!found) {
        fprintf(stderr, "plugin %s.so not in ZMQSINK_PLUGIN_DIR\n", name);
        abort();
    }
    return found;
}

/* Whether 127.0.0.1:port can be bound now with this socket type. */
static bool port_bindable(int port, int type)
{
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* The first port of the kernel's ephemeral range, where port 0 binds. */
static int ephemeral_low(void)
{
    char *text = th_read_file("/proc/sys/net/ipv4/ip_local_port_range");
    int low = text ? atoi(text) : 0;
    free(text);
    return low > 9000 ? low : 32768;
}

/* Ports are taken below the ephemeral range, where no bind to port 0 and
 * no outgoing connection lands, and each is locked (flock on a file named
 * after it) for the life of the test process, so that two tests running at
 * once never share one. A port a test stops listening on therefore stays
 * refused until it listens again. */
int th_free_port(void)
{
    const char *dir = "/tmp/zmqsink-test-ports";
    if (mkdir(dir, 0777) == 0)
        chmod(dir, 01777); /* shared by every user who runs the tests */
    else if (errno != EEXIST)
        abort();
    int high = ephemeral_low() - 1, range = 8000;
    int start = (int)(((unsigned)getpid() * 2654435761u) % (unsigned)range);
    for (int i = 0; i < range; i++) {
        int port = high - (start + i) % range;
        char path[64];
        snprintf(path, sizeof path, "%s/%d", dir, port);
        int fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0)
            abort();
        if (flock(fd, LOCK_EX | LOCK_NB) == 0 &&
            port_bindable(port, SOCK_STREAM) &&
            port_bindable(port, SOCK_DGRAM))
            return port; /* fd stays open: the lock lasts the process */
        close(fd);
    }
    abort();
}

void th_resolver_quick(void)
{
    setenv("RES_OPTIONS", "timeout:1 attempts:1", 1);
}

void th_last_endpoint(void *socket, char *buf, size_t cap)
{
    if (zmq_getsockopt(socket, ZMQ_LAST_ENDPOINT, buf, &cap) != 0)
        abort();
}

int th_endpoint_port(const char *endpoint)
{
    const char *colon = strrchr(endpoint, ':');
    return colon ? atoi(colon + 1) : -1;
}

void th_send_bad_greeting(int port)
{
    /* Signature, version 3.0, then a mechanism no server offers. */
    unsigned char greeting[64] = {0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 3, 0};
    memcpy(greeting + 12, "GARBAGE", 7);
    int fd = tcp_socket_to(port);
    if (write(fd, greeting, sizeof greeting) != (ssize_t)sizeof greeting)
        abort();
    /* Read the server's greeting until it hangs up on us. */
    char sink[256];
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    for (int i = 0; i < 50 && poll(&pfd, 1, 100) >= 0; i++)
        if ((pfd.revents & POLLIN) && read(fd, sink, sizeof sink) <= 0)
            break;
    close(fd);
}

void *th_curve_client(void *ctx)
{
    if (!zmq_has("curve"))
        cr_skip_test("libzmq built without CURVE");
    char server_public[41], public[41], secret[41];
    cr_assert_eq(zmq_curve_keypair(server_public, secret), 0);
    cr_assert_eq(zmq_curve_keypair(public, secret), 0);
    void *client = th_socket(ctx, ZMQ_DEALER);
    zmq_setsockopt(client, ZMQ_CURVE_SERVERKEY, server_public, 40);
    zmq_setsockopt(client, ZMQ_CURVE_PUBLICKEY, public, 40);
    zmq_setsockopt(client, ZMQ_CURVE_SECRETKEY, secret, 40);
    return client;
}

static void *zap_answer(void *arg)
{
    th_zap_t *z = arg;
    int timeout = 50;
    zmq_setsockopt(z->handler, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    while (!atomic_load(&z->stop)) {
        char frames[8][256];
        int sizes[8], n = 0, more = 1;
        while (more && n < 8) {
            sizes[n] = zmq_recv(z->handler, frames[n], sizeof frames[n], 0);
            if (sizes[n] < 0)
                break;
            size_t len = sizeof more;
            zmq_getsockopt(z->handler, ZMQ_RCVMORE, &more, &len);
            n++;
        }
        if (n < 2)
            continue;
        zmq_send(z->handler, "1.0", 3, ZMQ_SNDMORE);
        zmq_send(z->handler, frames[1], (size_t)sizes[1], ZMQ_SNDMORE);
        zmq_send(z->handler, z->status, strlen(z->status), ZMQ_SNDMORE);
        zmq_send(z->handler, "denied", 6, ZMQ_SNDMORE);
        zmq_send(z->handler, "", 0, ZMQ_SNDMORE);
        zmq_send(z->handler, "", 0, 0);
    }
    zmq_close(z->handler);
    return NULL;
}

void th_zap_start(th_zap_t *z, void *ctx, const char *status)
{
    memset(z, 0, sizeof *z);
    snprintf(z->status, sizeof z->status, "%s", status);
    z->handler = zmq_socket(ctx, ZMQ_REP);
    cr_assert_not_null(z->handler);
    cr_assert_eq(zmq_bind(z->handler, "inproc://zeromq.zap.01"), 0);
    cr_assert_eq(pthread_create(&z->thread, NULL, zap_answer, z), 0);
    z->running = true;
}

void th_zap_stop(th_zap_t *z)
{
    if (!z->running)
        return;
    atomic_store(&z->stop, 1);
    pthread_join(z->thread, NULL);
    z->running = false;
}

void *th_plain_refused(void *ctx, zmqsink_t *zs, const char *name)
{
    void *server = th_socket(ctx, ZMQ_ROUTER);
    int on = 1;
    zmq_setsockopt(server, ZMQ_PLAIN_SERVER, &on, sizeof on);
    zmq_setsockopt(server, ZMQ_ZAP_DOMAIN, "test", 4);
    cr_assert_eq(zmqsink_attach(zs, server, name), 0);
    cr_assert_eq(zmq_bind(server, "tcp://127.0.0.1:*"), 0);
    char endpoint[256];
    th_last_endpoint(server, endpoint, sizeof endpoint);
    void *client = th_socket(ctx, ZMQ_DEALER);
    zmq_setsockopt(client, ZMQ_PLAIN_USERNAME, "admin", 5);
    zmq_setsockopt(client, ZMQ_PLAIN_PASSWORD, "wrong", 5);
    cr_assert_eq(zmq_connect(client, endpoint), 0);
    return server;
}

void th_connect_and_drop(int port)
{
    close(tcp_socket_to(port));
}

void th_log_init(th_log_t *log)
{
    memset(log, 0, sizeof *log);
    pthread_mutex_init(&log->lock, NULL);
    pthread_cond_init(&log->grew, NULL);
}

void th_log_free(th_log_t *log)
{
    free(log->events);
    pthread_cond_destroy(&log->grew);
    pthread_mutex_destroy(&log->lock);
}

void th_log_callback(const zmqsink_event_t *event, void *arg)
{
    th_log_t *log = arg;
    pthread_mutex_lock(&log->lock);
    if (log->n == log->cap) {
        log->cap = log->cap ? log->cap * 2 : 256;
        log->events = realloc(log->events, log->cap * sizeof *log->events);
        if (!log->events)
            abort();
    }
    log->events[log->n++] = *event;
    pthread_cond_broadcast(&log->grew);
    pthread_mutex_unlock(&log->lock);
}

static size_t log_count_locked(const th_log_t *log, uint32_t type)
{
    size_t count = 0;
    for (size_t i = 0; i < log->n; i++)
        count += type == 0 || log->events[i].type == type;
    return count;
}

size_t th_log_count(th_log_t *log, uint32_t type)
{
    pthread_mutex_lock(&log->lock);
    size_t count = log_count_locked(log, type);
    pthread_mutex_unlock(&log->lock);
    return count;
}

size_t th_log_wait(th_log_t *log, uint32_t type, size_t count, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&log->lock);
    size_t have;
    while ((have = log_count_locked(log, type)) < count &&
           pthread_cond_timedwait(&log->grew, &log->lock, &until) == 0)
        ;
    have = log_count_locked(log, type);
    pthread_mutex_unlock(&log->lock);
    return have;
}

int th_log_find(th_log_t *log, uint32_t type, size_t from,
                zmqsink_event_t *out)
{
    int found = -1;
    pthread_mutex_lock(&log->lock);
    for (size_t i = from; i < log->n && found < 0; i++)
        if (log->events[i].type == type) {
            *out = log->events[i];
            found = (int)i;
        }
    pthread_mutex_unlock(&log->lock);
    return found;
}

pid_t th_spawn(char *const argv[], const char *output_path)
{
    extern char **environ;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, output_path,
                                     O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    cr_assert_eq(rc, 0, "cannot start %s: %s", argv[0], strerror(rc));
    return pid;
}

void th_stop_process(pid_t *pid)
{
    if (*pid <= 0)
        return;
    kill(*pid, SIGTERM);
    int status;
    for (int waited = 0; waitpid(*pid, &status, WNOHANG) == 0; waited += 10) {
        if (waited == 5000)
            kill(*pid, SIGKILL);
        th_sleep_ms(10);
    }
    *pid = -1;
}

void th_dealers_visit(void *ctx, zmqsink_t *zs, const char *client_name,
                      void *router, const char *endpoint, int ndealers)
{
    for (int i = 0; i < ndealers; i++) {
        void *dealer = th_socket(ctx, ZMQ_DEALER);
        if (client_name)
            cr_assert_eq(zmqsink_attach(zs, dealer, client_name), 0);
        cr_assert_eq(zmq_connect(dealer, endpoint), 0);
        cr_assert_eq(zmq_send(dealer, "hi", 2, 0), 2);
        char frame[256];
        cr_assert_geq(zmq_recv(router, frame, sizeof frame, 0), 0);
        cr_assert_eq(zmq_recv(router, frame, sizeof frame, 0), 2);
        th_close(dealer);
    }
}

void th_bind_and_curve_failures(void *ctx, zmqsink_t *zs, void *router,
                                th_log_t *log)
{
    char endpoint[256];
    th_last_endpoint(router, endpoint, sizeof endpoint);
    void *second = th_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach(zs, second, "second"), 0);
    cr_assert_eq(zmq_bind(second, endpoint), -1);
    void *curvy = th_curve_client(ctx);
    cr_assert_eq(zmqsink_attach(zs, curvy, "curvy"), 0);
    cr_assert_eq(zmq_connect(curvy, endpoint), 0);
    cr_assert_geq(th_log_wait(log, ZMQSINK_EVENT_HANDSHAKE_FAILED_PROTOCOL, 2,
                              15000 /* ms */),
                  2u);
    th_close(second);
    th_close(curvy);
}

zmqsink_event_t th_sample_event(uint64_t seq)
{
    zmqsink_event_t ev = {
        .seq = seq,
        .time_ns = INT64_C(1700000000123456789), /* 2023-11-14T22:13:20 */
        .duration_ms = 1500,
        .type = ZMQSINK_EVENT_DISCONNECTED,
        .value = 12,
        .socket_type = ZMQ_ROUTER,
        .severity = ZMQSINK_SEV_NOTICE,
    };
    snprintf(ev.socket, sizeof ev.socket, "a\"b\\c]d");
    snprintf(ev.endpoint, sizeof ev.endpoint, "tcp://127.0.0.1:5555");
    snprintf(ev.peer, sizeof ev.peer, "127.0.0.1:40000");
    return ev;
}

void th_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

void th_assert_json_seqs(const char *dir, const char *name, uint64_t events)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *text = th_read_file(path);
    cr_assert_not_null(text, "no %s", path);
    uint64_t seq = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char needle[64];
        snprintf(needle, sizeof needle, "\"seq\":%llu,",
                 (unsigned long long)++seq);
        cr_assert_not_null(strstr(line, needle), "line %llu: %s",
                           (unsigned long long)seq, line);
    }
    cr_assert_eq(seq, events, "%llu of %llu events in %s",
                 (unsigned long long)seq, (unsigned long long)events, path);
    free(text);
}

int th_fds_in_child(const char *prefix)
{
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        int n = 0;
        for (int fd = 0; fd < 1024; fd++) {
            char link[64], path[4096];
            snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
            ssize_t len = readlink(link, path, sizeof path - 1);
            if (len > 0) {
                path[len] = '\0';
                n += strncmp(path, prefix, strlen(prefix)) == 0;
            }
        }
        _exit(n < 255 ? n : 255);
    }
    int status;
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_assert(WIFEXITED(status), "the child: status %d", status);
    return WEXITSTATUS(status);
}

/* Runs argv (openssl) to its end; the test fails with its output if it
 * fails. */
static void run_openssl(const char *dir, char *const argv[])
{
    char out[600];
    snprintf(out, sizeof out, "%s/openssl.out", dir);
    pid_t pid = th_spawn(argv, out);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char *text = th_read_file(out);
        cr_assert_fail("%s failed:\n%s", argv[1], text ? text : "");
    }
}

void th_make_certificates(const char *dir)
{
    char ca_key[600], ca[600], key[600], csr[600], cert[600], ext[600];
    snprintf(ca_key, sizeof ca_key, "%s/ca.key", dir);
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    snprintf(key, sizeof key, "%s/server.key", dir);
    snprintf(csr, sizeof csr, "%s/server.csr", dir);
    snprintf(cert, sizeof cert, "%s/server.pem", dir);
    free(th_write_file(dir, "server.ext",
                       "subjectAltName = IP:127.0.0.1, DNS:localhost\n"));
    snprintf(ext, sizeof ext, "%s/server.ext", dir);
    run_openssl(dir, (char *[]){"openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2",
                        "-subj", "/CN=zmqsink test CA", NULL});
    run_openssl(dir, (char *[]){"openssl", "req", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1",
                        NULL});
    run_openssl(dir, (char *[]){"openssl", "x509", "-req", "-in", csr, "-CA", ca,
                        "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
                        "-days", "2", "-extfile", ext, NULL});
}

int th_wait_child(pid_t pid, int timeout_ms)
{
    int status;
    for (int waited = 0; waited < timeout_ms; waited += 10) {
        pid_t got = waitpid(pid, &status, WNOHANG);
        cr_assert_geq(got, 0, "waitpid: %s", strerror(errno));
        if (got == pid)
            return status;
        th_sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

size_t th_zs_threads(char *out, size_t cap)
{
    DIR *tasks = opendir("/proc/self/task");
    cr_assert_not_null(tasks);
    size_t n = 0, len = 0;
    out[0] = '\0';
    for (struct dirent *e; (e = readdir(tasks));) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], name[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "re");
        if (!f) /* ended meanwhile */
            continue;
        if (fgets(name, sizeof name, f) && strncmp(name, "zs", 2) == 0) {
            n++;
            len += (size_t)snprintf(out + len, cap - len, "%s", name);
            cr_assert_lt(len, cap);
        }
        fclose(f);
    }
    closedir(tasks);
    return n;
}

bool th_wait_thread_ended(const char *name, int timeout_ms)
{
    char names[4096] = "\n", line[64];
    snprintf(line, sizeof line, "\n%s\n", name);
    for (int waited = 0;; waited += 10) {
        th_zs_threads(names + 1, sizeof names - 1);
        if (!strstr(names, line))
            return true;
        if (waited >= timeout_ms)
            return false;
        th_sleep_ms(10);
    }
}
