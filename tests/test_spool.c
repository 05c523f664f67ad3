/* common/spool.c on its own, with a host table of the test's: how the
 * dead-letter file and the batch being sent share max_size with the
 * batches waiting. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "spool.h"

static char *dir;
static uint64_t failed;
static char logged[8192];

static void host_log(const zmqsink_host_t *host, zmqsink_severity_t severity,
                     const char *fmt, ...)
{
    size_t used = strlen(logged);
    va_list args;
    va_start(args, fmt);
    vsnprintf(logged + used, sizeof logged - used, fmt, args);
    va_end(args);
    strncat(logged, "\n", sizeof logged - strlen(logged) - 1);
}

static void host_count_failed(const zmqsink_host_t *host, uint64_t n,
                              const char *reason)
{
    failed += n;
}

static void host_fork(const zmqsink_host_t *host) {}

static int host_own_fd(const zmqsink_host_t *host, int fd, int own)
{
    return 0;
}

static void host_close_fd(const zmqsink_host_t *host, int fd)
{
    close(fd);
}

static int host_resolve_path(const zmqsink_host_t *host, const char *path,
                             char *out, size_t cap)
{
    return snprintf(out, cap, "%s", path);
}

static const zmqsink_host_t host = {
    .abi_major = ZMQSINK_PLUGIN_ABI_MAJOR,
    .abi_minor = ZMQSINK_PLUGIN_ABI_MINOR,
    .sink_name = "test",
    .log = host_log,
    .count_failed = host_count_failed,
    .fork_hold = host_fork,
    .fork_release = host_fork,
    .resolve_path = host_resolve_path,
    .own_fd = host_own_fd,
    .close_fd = host_close_fd,
};

static void setup(void)
{
    dir = th_tempdir();
}

static void teardown(void)
{
    th_remove_tree(dir);
    free(dir);
}

TestSuite(spool, .init = setup, .fini = teardown);

/* A batch of one event whose line is bytes long. */
static void batch_make(spool_batch_t *b, uint64_t id, size_t bytes)
{
    memset(b, 0, sizeof *b);
    b->id = id;
    memset(b->key, 'a', SPOOL_KEY_LEN);
    b->events = 1;
    char *line = malloc(bytes);
    cr_assert_not_null(line);
    snprintf(line, bytes, "{\"seq\":%llu}", (unsigned long long)id);
    memset(line + strlen(line), ' ', bytes - 1 - strlen(line));
    line[bytes - 1] = '\n';
    bool oom = false;
    bytes_put(&b->body, line, bytes, &oom);
    cr_assert(!oom);
    free(line);
}

static int add(spool_t *s, uint64_t id, size_t bytes)
{
    spool_batch_t b;
    batch_make(&b, id, bytes);
    int rc = spool_add(s, &b);
    bytes_free(&b.body);
    return rc;
}

static spool_t *spool_with_dead_letters(int n, size_t bytes)
{
    char path[600], err[512];
    snprintf(path, sizeof path, "%s/spool", dir);
    spool_t *s = spool_open(&host, path, 65536, err, sizeof err);
    cr_assert_not_null(s, "%s", err);
    for (int i = 0; i < n; i++) {
        spool_batch_t b;
        batch_make(&b, 1000 + (uint64_t)i, bytes);
        cr_assert_eq(spool_dead_letter(s, &b, "rejected"), 0);
        bytes_free(&b.body);
    }
    return s;
}

Test(spool, a_batch_that_cannot_fit_beside_the_dead_letters_deletes_nothing)
{
    spool_t *s = spool_with_dead_letters(5, 10000); /* ~50 of 64 KiB */
    for (uint64_t id = 1; id <= 3; id++)
        cr_assert_eq(add(s, id, 4000), 0);
    cr_assert_eq(add(s, 4, 16000), -1, "it cannot fit");
    cr_assert_eq(spool_count(s), 3, "the waiting batches stay:\n%s", logged);
    cr_assert_eq(failed, 1, "only the refused batch's event");
    spool_close(&s);
}

Test(spool, dead_letters_moved_away_give_their_room_back)
{
    spool_t *s = spool_with_dead_letters(5, 10000);
    cr_assert_eq(add(s, 1, 16000), -1);
    char from[600], to[600];
    snprintf(from, sizeof from, "%s/spool/" SPOOL_DEAD_LETTER_FILE, dir);
    snprintf(to, sizeof to, "%s/moved.ndjson", dir);
    cr_assert_eq(rename(from, to), 0);
    cr_assert_eq(add(s, 2, 16000), 0, "%s", logged);
    cr_assert_eq(spool_count(s), 1);
    spool_close(&s);
}
