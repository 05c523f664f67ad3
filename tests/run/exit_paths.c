/* A C program that ends the ways programs end, run by the tests under
 * `zmqsink run`, which must not change how it ends:
 *   signal  a SIGALRM handler calls _exit(3) while the program allocates
 *           and starts and stops a monitor of its own in a loop
 *   race    exit(0) while another thread waits in zmq_ctx_term() for a
 *           socket that stays open
 *   behind  a monitor of its own left unread while a socket retries a
 *           refused port every millisecond for a second, then the socket
 *           closes: the monitor's last message is monitor_stopped, however
 *           far behind it was; prints "monitor_stopped last"
 * Usage: exit_paths MODE */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

static void *ctx;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void on_alarm(int signal_number)
{
    _exit(3);
}

static _Noreturn void until_signal(void)
{
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    zmq_bind(s, "tcp://127.0.0.1:*");
    signal(SIGALRM, on_alarm);
    struct itimerval timer = {{0, 0}, {0, 100000 + (getpid() % 50) * 1000}};
    setitimer(ITIMER_REAL, &timer, NULL);
    for (;;) {
        void *blocks[64];
        for (int i = 0; i < 64; i++) {
            blocks[i] = malloc(200000 + (size_t)i * 4096);
            memset(blocks[i], 1, 64);
        }
        for (int i = 0; i < 64; i++)
            free(blocks[i]);
        zmq_socket_monitor(s, "inproc://m",
                           ZMQ_EVENT_ALL & ~ZMQ_EVENT_MONITOR_STOPPED);
        zmq_socket_monitor(s, NULL, 0);
    }
}

static void *terminate(void *arg)
{
    zmq_ctx_term(ctx);
    return NULL;
}

static _Noreturn void exit_while_terminating(void)
{
    void *s = zmq_socket(ctx, ZMQ_PULL);
    zmq_bind(s, "tcp://127.0.0.1:*");
    pthread_t thread;
    pthread_create(&thread, NULL, terminate, NULL);
    sleep_ms(200);
    exit(0);
}

static int monitor_behind(void)
{
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int interval = 1, linger = 0, timeout = 5000;
    zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &interval, sizeof interval);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_socket_monitor(s, "inproc://behind", ZMQ_EVENT_ALL);
    void *monitor = zmq_socket(ctx, ZMQ_PAIR);
    zmq_setsockopt(monitor, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_connect(monitor, "inproc://behind");
    zmq_connect(s, "tcp://127.0.0.1:1"); /* refused, retried each ms */
    sleep_ms(1000);                       /* busy elsewhere, not reading */
    zmq_close(s);
    uint16_t event = 0;
    for (;;) {
        uint8_t head[6];
        char endpoint[256];
        if (zmq_recv(monitor, head, sizeof head, 0) < 0)
            break;
        zmq_recv(monitor, endpoint, sizeof endpoint, 0);
        memcpy(&event, head, sizeof event);
        if (event == ZMQ_EVENT_MONITOR_STOPPED)
            break;
    }
    printf("%s\n", event == ZMQ_EVENT_MONITOR_STOPPED
                       ? "monitor_stopped last"
                       : "no monitor_stopped");
    zmq_close(monitor);
    zmq_ctx_term(ctx);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: exit_paths signal|race|behind\n");
        return 2;
    }
    ctx = zmq_ctx_new();
    if (strcmp(argv[1], "signal") == 0)
        until_signal();
    if (strcmp(argv[1], "race") == 0)
        exit_while_terminating();
    if (strcmp(argv[1], "behind") == 0)
        return monitor_behind();
    return 2;
}
