/* fork() safety: holding fork off around changes to process-wide state,
 * and closing the fds that sinks own in every child forked since. */
#include "fork.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

/* dlopen(), the plugin's entry and dlclose() happen under this lock, and
 * so do plugins' changes to process-wide state (fork_hold()); fork()
 * takes it too. Sinks load their plugins on threads of their own, and a
 * fork while another thread is inside dlopen() leaves the child's dynamic
 * loader half-updated (glibc resets its lock in the child, not its data),
 * so that the child's next dlopen() fails or crashes. The fork handlers
 * are registered when the library loads, before any thread of zmqsink
 * runs, so that no fork can slip in before them. (glibc before 2.36
 * holds its own fork lock across every prepare handler, which a dlopen()
 * that registers handlers would wait for: zmqsink needs 2.36.) */
static pthread_mutex_t loading = PTHREAD_MUTEX_INITIALIZER;

/* The fds sinks own (own_fd()): a child closes them as fork() returns in
 * it. fork() takes this lock after `loading`, in that order everywhere,
 * so that own_fd() also works between fork_hold() and fork_release(). */
static pthread_mutex_t owned_lock = PTHREAD_MUTEX_INITIALIZER;
static int *owned;
static size_t nowned, owned_cap;

void zs__fork_hold(void)
{
    pthread_mutex_lock(&loading);
}

void zs__fork_release(void)
{
    pthread_mutex_unlock(&loading);
}

void zs__host_fork_hold(const zmqsink_host_t *host)
{
    zs__fork_hold();
}

void zs__host_fork_release(const zmqsink_host_t *host)
{
    zs__fork_release();
}

/* Removes fd from the table; owned_lock held. Returns whether it was in. */
static int forget_locked(int fd)
{
    for (size_t i = 0; i < nowned; i++)
        if (owned[i] == fd) {
            owned[i] = owned[--nowned];
            return 1;
        }
    return 0;
}

static int remember_locked(int fd)
{
    if (nowned == owned_cap) {
        size_t cap = owned_cap ? owned_cap * 2 : 16;
        int *grown = realloc(owned, cap * sizeof *grown);
        if (!grown)
            return -1;
        owned = grown;
        owned_cap = cap;
    }
    owned[nowned++] = fd;
    return 0;
}

int zs__host_own_fd(const zmqsink_host_t *host, int fd, int own)
{
    if (fd < 0)
        return -1;
    pthread_mutex_lock(&owned_lock);
    int rc = own ? remember_locked(fd) : forget_locked(fd) ? 0 : -1;
    pthread_mutex_unlock(&owned_lock);
    return rc;
}

/* Closed under the lock, so that no child is forked between the two
 * steps: it would close a number the program may have opened since. */
void zs__host_close_fd(const zmqsink_host_t *host, int fd)
{
    if (fd < 0)
        return;
    pthread_mutex_lock(&owned_lock);
    forget_locked(fd);
    close(fd);
    pthread_mutex_unlock(&owned_lock);
}

static void fork_prepare(void)
{
    pthread_mutex_lock(&loading);
    pthread_mutex_lock(&owned_lock);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&owned_lock);
    pthread_mutex_unlock(&loading);
}

/* The child never calls the sinks of its parent (it starts zmqsink
 * afresh): their ports, connections and files are closed, so that they
 * do not outlive the parent in it. */
static void fork_child(void)
{
    for (size_t i = 0; i < nowned; i++)
        close(owned[i]);
    nowned = 0;
    pthread_mutex_unlock(&owned_lock);
    pthread_mutex_unlock(&loading);
}

__attribute__((constructor)) static void fork_handlers(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}
