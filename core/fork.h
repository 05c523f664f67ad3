/* fork() safety: holding fork off around changes to process-wide state,
 * and closing the fds that sinks own in every child forked since. */
#ifndef ZS_FORK_H
#define ZS_FORK_H

#include <zmqsink/plugin.h>

/* Holds off fork() of the application until zs__fork_release(), and the
 * loading of plugins: around dlopen() and for plugins' fork_hold(). */
void zs__fork_hold(void);
void zs__fork_release(void);

/* The host services fork_hold, fork_release, own_fd and close_fd (see
 * zmqsink/plugin.h). */
void zs__host_fork_hold(const zmqsink_host_t *host);
void zs__host_fork_release(const zmqsink_host_t *host);
int zs__host_own_fd(const zmqsink_host_t *host, int fd, int own);
void zs__host_close_fd(const zmqsink_host_t *host, int fd);

#endif
