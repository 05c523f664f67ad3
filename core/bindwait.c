/* The cause of a failed bind on a monitored socket, from its bind_failed
 * event. */
#include "bindwait.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

void zs__bind_waits_init(zs__bind_waits_t *w)
{
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_t monotonic;
    pthread_condattr_init(&monotonic);
    pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
    pthread_cond_init(&w->done, &monotonic);
    pthread_condattr_destroy(&monotonic);
    w->list = NULL;
}

void zs__bind_waits_destroy(zs__bind_waits_t *w)
{
    pthread_cond_destroy(&w->done);
    pthread_mutex_destroy(&w->lock);
}

int zs__bind_waits_bind(zs__bind_waits_t *w, void *socket,
                        const char *endpoint, long long timeout_ns)
{
    const char *sep = strstr(endpoint, "://");
    zs__bind_wait_t wait = {.socket = socket,
                            .address = sep ? sep + 3 : endpoint};
    pthread_mutex_lock(&w->lock);
    wait.next = w->list;
    w->list = &wait;
    pthread_mutex_unlock(&w->lock);
    int rc = zmq_bind(socket, endpoint);
    int error = errno;
    pthread_mutex_lock(&w->lock);
    if (rc != 0 && error == EAGAIN) {
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        long long ns = deadline.tv_nsec + timeout_ns % 1000000000;
        deadline.tv_sec += (time_t)(timeout_ns / 1000000000 + ns / 1000000000);
        deadline.tv_nsec = (long)(ns % 1000000000);
        while (!wait.done &&
               pthread_cond_timedwait(&w->done, &w->lock, &deadline) == 0)
            ;
        if (wait.done)
            error = wait.error;
    }
    for (zs__bind_wait_t **p = &w->list; *p; p = &(*p)->next)
        if (*p == &wait) {
            *p = wait.next;
            break;
        }
    pthread_mutex_unlock(&w->lock);
    errno = error;
    return rc;
}

void zs__bind_waits_answer(zs__bind_waits_t *w, const void *socket,
                           const char *address, int error)
{
    pthread_mutex_lock(&w->lock);
    bool answered = false;
    for (zs__bind_wait_t *b = w->list; b; b = b->next)
        if (!b->done && b->socket == socket &&
            strcmp(b->address, address) == 0) {
            b->done = answered = true;
            b->error = error;
        }
    if (answered)
        pthread_cond_broadcast(&w->done);
    pthread_mutex_unlock(&w->lock);
}
