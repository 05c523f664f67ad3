/* core/fork.c: the fds sinks own are closed in a forked child, and only
 * those; close_fd() forgets before it closes. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fork.h"

static bool is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

/* Forks a child that reports, as its exit status, which of a and b it
 * has open: bit 0 for a, bit 1 for b. */
static int open_in_child(int a, int b)
{
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0)
        _exit((is_open(a) ? 1 : 0) | (is_open(b) ? 2 : 0));
    int status;
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

Test(fork, a_child_has_none_of_the_owned_fds)
{
    int owned[2], kept[2];
    cr_assert_eq(pipe(owned), 0);
    cr_assert_eq(pipe(kept), 0);
    cr_assert_eq(zs__host_own_fd(NULL, owned[0], 1), 0);
    cr_assert_eq(zs__host_own_fd(NULL, owned[1], 1), 0);

    cr_expect_eq(open_in_child(owned[0], kept[0]), 2);
    cr_expect_eq(open_in_child(owned[1], kept[1]), 2);
    cr_expect(is_open(owned[0]) && is_open(owned[1]), "the parent keeps them");

    /* Forgotten, an fd is inherited again. */
    cr_assert_eq(zs__host_own_fd(NULL, owned[1], 0), 0);
    cr_expect_eq(open_in_child(owned[0], owned[1]), 2);
    cr_expect_eq(zs__host_own_fd(NULL, owned[1], 0), -1, "not owned now");
    cr_expect_eq(zs__host_own_fd(NULL, -1, 1), -1);

    /* close_fd() closes and forgets: the number, reused by the program,
     * stays open in the next child. */
    zs__host_close_fd(NULL, owned[0]);
    cr_expect(!is_open(owned[0]));
    int reused = dup(kept[0]);
    cr_assert_eq(reused, owned[0], "the lowest free number is taken again");
    cr_expect_eq(open_in_child(reused, kept[0]), 3);
    close(reused);
    close(owned[1]);
    close(kept[0]);
    close(kept[1]);
}

Test(fork, many_fds_owned_and_closed)
{
    enum { N = 100 };
    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        cr_assert_geq(fds[i], 0);
        cr_assert_eq(zs__host_own_fd(NULL, fds[i], 1), 0);
    }
    cr_expect_eq(open_in_child(fds[0], fds[N - 1]), 0);
    for (int i = 0; i < N; i++)
        zs__host_close_fd(NULL, fds[i]);
    for (int i = 0; i < N; i++)
        cr_expect_eq(zs__host_own_fd(NULL, fds[i], 0), -1, "fd %d", fds[i]);
}
