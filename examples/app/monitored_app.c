/* A minimal application using zmqsink: a ROUTER and a DEALER talk once,
 * and their monitor events go to the sinks of the config file given as the
 * first argument (none: the compiled-in default, text on stdout).
 *
 *   cc monitored_app.c $(pkg-config --cflags --libs zmqsink) -lzmq
 *   ./a.out my.yaml */
#include <stdio.h>
#include <zmq.h>
#include <zmqsink.h>

int main(int argc, char **argv)
{
    void *ctx = zmq_ctx_new();
    char err[1024];
    zmqsink_t *zs = zmqsink_new(ctx, argc > 1 ? argv[1] : NULL, err, sizeof err);
    if (!zs) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    void *server = zmq_socket(ctx, ZMQ_ROUTER);
    void *client = zmq_socket(ctx, ZMQ_DEALER);
    zmqsink_attach(zs, server, "frontend");
    zmqsink_attach(zs, client, "client");

    char endpoint[256];
    size_t len = sizeof endpoint;
    zmq_bind(server, "tcp://127.0.0.1:*");
    zmq_getsockopt(server, ZMQ_LAST_ENDPOINT, endpoint, &len);
    zmq_connect(client, endpoint);
    zmq_send(client, "hello", 5, 0);
    char buf[256];
    zmq_recv(server, buf, sizeof buf, 0); /* routing id */
    zmq_recv(server, buf, sizeof buf, 0);

    zmq_close(client);
    zmq_close(server);
    zmqsink_sink_stats_t sinks[ZMQSINK_MAX_SINKS];
    zmqsink_stats_t stats = {.sinks = sinks, .sinks_cap = ZMQSINK_MAX_SINKS};
    zmqsink_destroy_stats(&zs, &stats); /* delivers what is queued */
    zmq_ctx_term(ctx);
    for (size_t i = 0; i < stats.nsinks; i++)
        printf("sink %s: %llu delivered, %llu dropped\n", stats.sinks[i].name,
               (unsigned long long)stats.sinks[i].delivered,
               (unsigned long long)(stats.sinks[i].dropped_full +
                                    stats.sinks[i].dropped_shutdown));
    return 0;
}
