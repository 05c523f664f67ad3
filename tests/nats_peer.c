/* Debian's nats-server started by the tests, and libnats as their client. */
#include "nats_peer.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

/* Longest a bounded wait here lasts: a JetStream cluster that restarts
 * elects its leaders within seconds, on a loaded machine within tens. */
#define WAIT_MS 60000

static const char *server_program(void)
{
    return access("/usr/sbin/nats-server", X_OK) == 0 ? "/usr/sbin/nats-server"
                                                       : "nats-server";
}

static void node_paths(const np_cluster_t *c, size_t i, char *conf,
                       char *log, size_t cap)
{
    snprintf(conf, cap, "%s/%s.conf", c->dir, c->nodes[i].name);
    snprintf(log, cap, "%s/%s.log", c->dir, c->nodes[i].name);
}

static void node_write_config(const np_cluster_t *c, size_t i)
{
    const np_node_t *node = &c->nodes[i];
    char conf[600], log[600], routes[512] = "";
    node_paths(c, i, conf, log, sizeof conf);
    size_t used = 0;
    for (size_t j = 0; j < c->n; j++)
        if (j != i)
            used += (size_t)snprintf(routes + used, sizeof routes - used,
                                     "%snats-route://127.0.0.1:%d",
                                     used ? ", " : "",
                                     c->nodes[j].cluster_port);
    FILE *f = fopen(conf, "w");
    cr_assert_not_null(f, "%s: %s", conf, strerror(errno));
    fprintf(f, "server_name: %s\nlisten: 127.0.0.1:%d\n", node->name,
            node->port);
    if (c->jetstream)
        fprintf(f, "jetstream { store_dir: \"%s/%s\" }\n", c->dir,
                node->name);
    if (c->tls_dir[0])
        fprintf(f, "tls { cert_file: \"%s/server.pem\", key_file: "
                   "\"%s/server.key\" }\n", c->tls_dir, c->tls_dir);
    if (c->n > 1)
        fprintf(f, "cluster {\n  name: zmqsink-test\n  listen: "
                   "127.0.0.1:%d\n  routes: [%s]\n}\n",
                node->cluster_port, routes);
    fclose(f);
}

/* Whether 127.0.0.1:port accepts a TCP connection now. */
static bool port_accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = fd >= 0 &&
              connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

void np_node_start(np_cluster_t *c, size_t i)
{
    np_node_t *node = &c->nodes[i];
    char conf[600], log[600];
    node_paths(c, i, conf, log, sizeof conf);
    pid_t parent = getpid();
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* Dies with the test process, whatever becomes of it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        execlp(server_program(), "nats-server", "-c", conf, (char *)NULL);
        _exit(127);
    }
    node->pid = pid;
    for (int waited = 0; waited < WAIT_MS; waited += 50) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            node->pid = -1;
            char *text = th_read_file(log);
            cr_assert_fail("nats-server %s exited at start:\n%s", node->name,
                           text ? text : "");
        }
        if (port_accepts(node->port))
            return;
        th_sleep_ms(50);
    }
    cr_assert_fail("nats-server %s does not accept clients on port %d",
                   node->name, node->port);
}

void np_cluster_start(np_cluster_t *c, const char *dir, size_t n,
                      bool jetstream, const char *tls_dir)
{
    cr_assert_leq(n, NP_NODES_MAX);
    memset(c, 0, sizeof *c);
    snprintf(c->dir, sizeof c->dir, "%s", dir);
    snprintf(c->tls_dir, sizeof c->tls_dir, "%s", tls_dir ? tls_dir : "");
    c->n = n;
    c->jetstream = jetstream;
    if (access("/usr/sbin/nats-server", X_OK) != 0 &&
        system("command -v nats-server >/dev/null") != 0)
        cr_skip_test("nats-server is not installed: apt-get install "
                     "nats-server");
    for (size_t i = 0; i < n; i++) {
        np_node_t *node = &c->nodes[i];
        snprintf(node->name, sizeof node->name, "n%zu", i + 1);
        node->port = th_free_port();
        node->cluster_port = th_free_port();
        node->pid = -1;
    }
    for (size_t i = 0; i < n; i++)
        node_write_config(c, i);
    for (size_t i = 0; i < n; i++)
        np_node_start(c, i);
}

void np_node_stop(np_cluster_t *c, size_t i, int sig)
{
    np_node_t *node = &c->nodes[i];
    if (node->pid <= 0)
        return;
    kill(node->pid, sig);
    int status;
    for (int waited = 0; waitpid(node->pid, &status, WNOHANG) == 0;
         waited += 10) {
        if (waited == WAIT_MS)
            kill(node->pid, SIGKILL);
        th_sleep_ms(10);
    }
    node->pid = -1;
}

void np_cluster_stop(np_cluster_t *c)
{
    for (size_t i = 0; i < c->n; i++)
        np_node_stop(c, i, SIGKILL);
}

void np_servers_yaml(const np_cluster_t *c, char *out, size_t cap)
{
    size_t used = (size_t)snprintf(out, cap, "[");
    for (size_t i = 0; i < c->n && used < cap; i++)
        used += (size_t)snprintf(out + used, cap - used, "%s%s://127.0.0.1:%d",
                                 i ? ", " : "",
                                 c->tls_dir[0] ? "tls" : "nats",
                                 c->nodes[i].port);
    if (used < cap)
        snprintf(out + used, cap - used, "]");
}

/* The inodes of this process's sockets, at most cap. */
static size_t own_socket_inodes(unsigned long *inodes, size_t cap)
{
    DIR *d = opendir("/proc/self/fd");
    cr_assert_not_null(d, "/proc/self/fd: %s", strerror(errno));
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < cap) {
        char path[300], target[64];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink(path, target, sizeof target - 1);
        if (len <= 0)
            continue;
        target[len] = '\0';
        if (sscanf(target, "socket:[%lu]", &inodes[n]) == 1)
            n++;
    }
    closedir(d);
    return n;
}

bool np_node_serves_us(const np_cluster_t *c, size_t i)
{
    unsigned long inodes[4096];
    size_t ninodes = own_socket_inodes(inodes, sizeof inodes / sizeof *inodes);
    FILE *f = fopen("/proc/net/tcp", "r");
    cr_assert_not_null(f, "/proc/net/tcp: %s", strerror(errno));
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        unsigned remote_port, state;
        unsigned long inode;
        /* sl local_address rem_address st tx:rx tr:when retrnsmt uid
         * timeout inode */
        if (sscanf(line, " %*d: %*x:%*x %*x:%x %x %*x:%*x %*x:%*x %*x %*u "
                         "%*u %lu",
                   &remote_port, &state, &inode) != 3)
            continue;
        for (size_t k = 0; k < ninodes && !found; k++)
            found = inode == inodes[k] && state == 1 /* ESTABLISHED */ &&
                    remote_port == (unsigned)c->nodes[i].port;
    }
    fclose(f);
    return found;
}

natsConnection *np_connect(const np_cluster_t *c)
{
    const char *urls[NP_NODES_MAX];
    char text[NP_NODES_MAX][64];
    for (size_t i = 0; i < c->n; i++) {
        snprintf(text[i], sizeof text[i], "%s://127.0.0.1:%d",
                 c->tls_dir[0] ? "tls" : "nats", c->nodes[i].port);
        urls[i] = text[i];
    }
    natsOptions *opts;
    cr_assert_eq(natsOptions_Create(&opts), NATS_OK);
    natsOptions_SetServers(opts, urls, (int)c->n);
    natsOptions_SetTimeout(opts, 1000);
    natsOptions_SetName(opts, "zmqsink test");
    if (c->tls_dir[0]) {
        char ca[600];
        snprintf(ca, sizeof ca, "%s/ca.pem", c->tls_dir);
        cr_assert_eq(natsOptions_LoadCATrustedCertificates(opts, ca), NATS_OK,
                     "%s", nats_GetLastError(NULL));
    }
    natsConnection *conn = NULL;
    natsStatus rc = NATS_ERR;
    for (int waited = 0; waited < WAIT_MS && rc != NATS_OK; waited += 100) {
        rc = natsConnection_Connect(&conn, opts);
        if (rc != NATS_OK)
            th_sleep_ms(100);
    }
    natsOptions_Destroy(opts);
    cr_assert_eq(rc, NATS_OK, "cannot connect to the cluster: %s",
                 natsStatus_GetText(rc));
    return conn;
}

void np_stream_create(const np_cluster_t *c, const char *name,
                      const char *subjects, int replicas,
                      int64_t duplicate_window_ms, int32_t max_msg_size)
{
    natsConnection *conn = np_connect(c);
    jsCtx *js;
    cr_assert_eq(natsConnection_JetStream(&js, conn, NULL), NATS_OK);
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char *list[] = {subjects};
    cfg.Name = name;
    cfg.Subjects = list;
    cfg.SubjectsLen = 1;
    cfg.Replicas = replicas;
    cfg.Storage = js_FileStorage;
    cfg.Duplicates = duplicate_window_ms * 1000000;
    cfg.MaxMsgSize = max_msg_size ? max_msg_size : -1;
    natsStatus rc = NATS_ERR;
    jsErrCode code = 0;
    for (int waited = 0; waited < WAIT_MS; waited += 250) {
        jsStreamInfo *info = NULL;
        rc = js_AddStream(&info, js, &cfg, NULL, &code);
        jsStreamInfo_Destroy(info);
        if (rc == NATS_OK || code == JSStreamNameExistErr)
            break;
        th_sleep_ms(250);
    }
    jsCtx_Destroy(js);
    natsConnection_Destroy(conn);
    cr_assert(rc == NATS_OK || code == JSStreamNameExistErr,
              "cannot create stream %s: %s (%d)", name, natsStatus_GetText(rc),
              (int)code);
}

uint64_t np_stream_wait_count(const np_cluster_t *c, const char *stream,
                              uint64_t expected)
{
    natsConnection *conn = np_connect(c);
    jsCtx *js;
    cr_assert_eq(natsConnection_JetStream(&js, conn, NULL), NATS_OK);
    uint64_t count = 0, said = UINT64_MAX;
    for (int waited = 0; waited < WAIT_MS && count < expected; waited += 250) {
        jsStreamInfo *info = NULL;
        if (js_GetStreamInfo(&info, js, stream, NULL, NULL) == NATS_OK)
            count = info->State.Msgs;
        jsStreamInfo_Destroy(info);
        if (count != said)
            fprintf(stderr, "stream %s: %llu messages of %llu\n", stream,
                    (unsigned long long)count, (unsigned long long)expected);
        said = count;
        if (count < expected)
            th_sleep_ms(250);
    }
    jsCtx_Destroy(js);
    natsConnection_Destroy(conn);
    return count;
}

static char *copy_text(const char *data, size_t len)
{
    char *text = malloc(len + 1);
    cr_assert_not_null(text);
    memcpy(text, data, len);
    text[len] = '\0';
    return text;
}

/* Message seq of the stream, retried while the stream has no leader. */
static natsMsg *stream_message(jsCtx *js, const char *stream, uint64_t seq)
{
    natsStatus rc = NATS_ERR;
    natsMsg *msg = NULL;
    for (int waited = 0; waited < WAIT_MS; waited += 250) {
        rc = js_GetMsg(&msg, js, stream, seq, NULL, NULL);
        if (rc == NATS_OK)
            return msg;
        th_sleep_ms(250);
    }
    cr_assert_fail("message %llu of stream %s: %s", (unsigned long long)seq,
                   stream, natsStatus_GetText(rc));
    return NULL;
}

size_t np_stream_read(const np_cluster_t *c, const char *stream,
                      np_message_t **out)
{
    natsConnection *conn = np_connect(c);
    jsCtx *js;
    cr_assert_eq(natsConnection_JetStream(&js, conn, NULL), NATS_OK);
    jsStreamInfo *info = NULL;
    natsStatus rc = NATS_ERR;
    for (int waited = 0; waited < WAIT_MS && rc != NATS_OK; waited += 250) {
        rc = js_GetStreamInfo(&info, js, stream, NULL, NULL);
        if (rc != NATS_OK)
            th_sleep_ms(250);
    }
    cr_assert_eq(rc, NATS_OK, "stream %s: %s", stream, natsStatus_GetText(rc));
    size_t n = (size_t)info->State.Msgs;
    uint64_t first = info->State.FirstSeq;
    jsStreamInfo_Destroy(info);
    np_message_t *m = calloc(n ? n : 1, sizeof *m);
    cr_assert_not_null(m);
    for (size_t i = 0; i < n; i++) {
        natsMsg *msg = stream_message(js, stream, first + i);
        const char *id = NULL;
        natsMsgHeader_Get(msg, "Nats-Msg-Id", &id);
        m[i].subject = strdup(natsMsg_GetSubject(msg));
        m[i].msg_id = strdup(id ? id : "");
        m[i].data = copy_text(natsMsg_GetData(msg),
                              (size_t)natsMsg_GetDataLength(msg));
        m[i].stream_seq = first + i;
        natsMsg_Destroy(msg);
    }
    jsCtx_Destroy(js);
    natsConnection_Destroy(conn);
    *out = m;
    return n;
}

void np_messages_free(np_message_t *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].subject);
        free(m[i].msg_id);
        free(m[i].data);
    }
    free(m);
}

int64_t np_json_number(const char *json, const char *key)
{
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *at = strstr(json, pattern);
    return at ? strtoll(at + strlen(pattern), NULL, 10) : -1;
}
