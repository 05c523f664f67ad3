/* Faults injected where the real ones cannot be provoked at will: a
 * monitor that epoll cannot watch, a monitor read that fails with an
 * error other than ETERM (the reader is read on a timer until it
 * recovers: no event is lost and the log says so); and a process out of
 * fds when a socket is attached. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "collector.h"
#include "helpers.h"

#define WAIT_MS 10000

TestSuite(faults, .timeout = 60);

static void *ctx;
static zmqsink_t *zs;
static char *dir, *log_path;
static th_log_t events;
static FILE *captured;

static void setup(void)
{
    ctx = zmq_ctx_new();
    dir = th_tempdir();
    zs = th_start(ctx, dir, "sinks:\n"
                            "  - name: jsonl\n"
                            "    type: file\n"
                            "    path: events.jsonl\n");
    th_log_init(&events);
    cr_assert_eq(zmqsink_add_callback(zs, "log", ZMQSINK_EVENT_ALL,
                                      th_log_callback, &events), 0);
    /* The log lines, from here on. */
    log_path = th_path(dir, "stderr.log");
    captured = fopen(log_path, "w");
    cr_assert_not_null(captured);
    cr_assert_geq(dup2(fileno(captured), STDERR_FILENO), 0);
}

static void teardown(void)
{
    atomic_store(&zs__inject_epoll_add_failures, 0);
    atomic_store(&zs__inject_read_failures, 0);
    zmqsink_destroy(&zs);
    th_close_all();
    zmq_ctx_term(ctx);
    th_log_free(&events);
    fclose(captured);
    th_remove_tree(dir);
    free(dir);
    free(log_path);
}

/* A ROUTER attached as "server", bound, its listening event seen. */
static void *server_up(void)
{
    void *router = th_socket(ctx, ZMQ_ROUTER);
    cr_assert_eq(zmqsink_attach(zs, router, "server"), 0);
    cr_assert_eq(zmq_bind(router, "tcp://127.0.0.1:*"), 0);
    cr_assert_eq(th_log_wait(&events, ZMQSINK_EVENT_LISTENING, 1, WAIT_MS), 1);
    return router;
}

/* The server visited by dealers: every event of it and of them arrives,
 * in the callback and in the file, each once. */
static void visits_all_arrive(void *router, int visitors)
{
    char endpoint[256];
    th_last_endpoint(router, endpoint, sizeof endpoint);
    th_dealers_visit(ctx, zs, "client", router, endpoint, visitors);

    size_t n = (size_t)visitors;
    cr_assert_eq(th_log_wait(&events, ZMQSINK_EVENT_ACCEPTED, n, WAIT_MS), n);
    cr_assert_eq(th_log_wait(&events, ZMQSINK_EVENT_CONNECTED, n, WAIT_MS), n);
    cr_assert_eq(th_log_wait(&events, ZMQSINK_EVENT_DISCONNECTED, n, WAIT_MS),
                 n);
    th_close(router);
    /* The server's and each client's monitor_stopped. */
    cr_assert_eq(th_log_wait(&events, ZMQSINK_EVENT_MONITOR_STOPPED, n + 1,
                             WAIT_MS), n + 1);
    cr_assert_eq(th_log_count(&events, ZMQSINK_EVENT_LISTENING), 1);
    size_t total = th_log_wait(&events, 0, 0, 0);
    zmqsink_destroy(&zs); /* every event in the file */
    th_assert_json_seqs(dir, "events.jsonl", total);
}

/* Waits (bounded) until the captured log holds text. */
static char *wait_log(const char *text)
{
    char *said = NULL;
    for (int waited = 0; waited < WAIT_MS; waited += 20) {
        free(said);
        said = th_read_file(log_path);
        if (said && strstr(said, text))
            return said;
        th_sleep_ms(20);
    }
    cr_assert_fail("the log lacks '%s':\n%s", text, said ? said : "");
    return NULL;
}

Test(faults, a_monitor_epoll_cannot_watch_is_read_on_a_timer, .init = setup,
     .fini = teardown)
{
    atomic_store(&zs__inject_epoll_add_failures, 1);
    void *router = server_up(); /* its listening came from the timer */
    cr_assert_eq(atomic_load(&zs__inject_epoll_add_failures), 0,
                 "the fault was met");
    visits_all_arrive(router, 10);
    char *said = wait_log("socket 'server': epoll: Invalid argument; its "
                          "monitor is read every 100 ms");
    cr_expect_not_null(strstr(said, "socket 'server': its monitor is read as "
                                    "events come again"), "%s", said);
    free(said);
}

/* Many readers epoll cannot watch at once: every one of them is read. */
Test(faults, every_monitor_epoll_cannot_watch_is_read, .init = setup,
     .fini = teardown)
{
    enum { SOCKETS = 80 };
    atomic_store(&zs__inject_epoll_add_failures, 1000000); /* all of them */
    for (int i = 0; i < SOCKETS; i++) {
        char name[16];
        snprintf(name, sizeof name, "r%d", i);
        void *router = th_socket(ctx, ZMQ_ROUTER);
        cr_assert_eq(zmqsink_attach(zs, router, name), 0);
        cr_assert_eq(zmq_bind(router, "tcp://127.0.0.1:*"), 0);
    }
    cr_assert_eq(th_log_wait(&events, ZMQSINK_EVENT_LISTENING, SOCKETS,
                             WAIT_MS), SOCKETS);
    atomic_store(&zs__inject_epoll_add_failures, 0);
    th_close_all();
    cr_assert_eq(th_log_wait(&events, ZMQSINK_EVENT_MONITOR_STOPPED, SOCKETS,
                             WAIT_MS), SOCKETS);
}

Test(faults, a_monitor_read_error_is_retried_until_it_passes, .init = setup,
     .fini = teardown)
{
    void *router = server_up();
    /* The next reads fail, of whichever monitors they are. */
    atomic_store(&zs__inject_read_failures, 3);
    visits_all_arrive(router, 10);
    cr_assert_eq(atomic_load(&zs__inject_read_failures), 0,
                 "the faults were met");
    free(wait_log("monitor read: Invalid argument; its monitor is read every "
                  "100 ms"));
}

/* The highest fd this process has open. */
static int highest_fd(void)
{
    DIR *d = opendir("/proc/self/fd");
    cr_assert_not_null(d);
    int high = -1;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.' && atoi(e->d_name) > high)
            high = atoi(e->d_name);
    closedir(d);
    return high;
}

Test(faults, out_of_fds_at_attach_is_an_error_and_the_socket_works_on,
     .init = setup, .fini = teardown)
{
    void *router = server_up();
    char endpoint[256];
    th_last_endpoint(router, endpoint, sizeof endpoint);
    void *dealer = th_socket(ctx, ZMQ_DEALER);

    /* No fd free below the limit, and no room to raise it: the test's
     * spare fds fill the last numbers, and are given back after. */
    enum { SPARE = 16 };
    int spare[SPARE];
    for (int i = 0; i < SPARE; i++)
        cr_assert_geq(spare[i] = open("/dev/null", O_RDONLY | O_CLOEXEC), 0);
    struct rlimit none = {.rlim_cur = (rlim_t)highest_fd() + 1,
                          .rlim_max = (rlim_t)highest_fd() + 1};
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &none), 0);
    errno = 0;
    int rc = zmqsink_attach(zs, dealer, "starved");
    int err = errno;
    for (int i = 0; i < SPARE; i++)
        close(spare[i]);
    cr_assert_eq(rc, -ZMQSINK_EZMQ, "attach: %s", zmqsink_strerror(rc));
    cr_assert_eq(err, EMFILE, "%s", zmq_strerror(err));

    /* The program's socket works on, and so do the sockets attached. */
    cr_assert_eq(zmq_connect(dealer, endpoint), 0);
    cr_assert_eq(zmq_send(dealer, "hi", 2, 0), 2);
    char frame[256];
    cr_assert_geq(zmq_recv(router, frame, sizeof frame, 0), 0);
    cr_assert_eq(zmq_recv(router, frame, sizeof frame, 0), 2);
    cr_assert_eq(th_log_wait(&events, ZMQSINK_EVENT_ACCEPTED, 1, WAIT_MS), 1);
    zmqsink_event_t ev;
    cr_assert_geq(th_log_find(&events, ZMQSINK_EVENT_ACCEPTED, 0, &ev), 0);
    cr_assert_str_eq(ev.socket, "server");
    cr_assert_eq(th_log_count(&events, ZMQSINK_EVENT_CONNECTED), 0,
                 "the starved socket is not monitored");
}
