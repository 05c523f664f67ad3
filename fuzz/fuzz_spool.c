/* Fuzz target: the spool's reader of batch files (common/spool.c), through
 * its API, on files in a scratch directory.
 *
 * The input is a batch file as a crash, a full disk or another program
 * may leave it: it is put in the spool directory under the name its own
 * header asks for (16 hex digits after "zmqsink-spool 1 ", else a fixed
 * one), and the spool is opened and read out. What it hands a sink must be
 * a whole batch: its key, as many NDJSON lines as its count says, ending in
 * '\n', and the file it came from must go (sent) or be set aside (corrupt).
 * Then the input, as the body of a batch, goes through spool_add() and
 * back, and must come back the same. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "target.h"
#include "host.h"
#include "spool.h"

#define MAX_SIZE (64 * 1024 * 1024)

static char dir[256];

/* Removes every file of the spool directory (a slot holds none). */
static void dir_clear(void)
{
    DIR *d = opendir(dir);
    FUZZ_CHECK(d, "%s", dir);
    int fd = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            unlinkat(fd, e->d_name, 0);
    closedir(d);
}

static size_t dir_count(const char *suffix)
{
    DIR *d = opendir(dir);
    size_t n = 0, len = strlen(suffix);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t name_len = strlen(e->d_name);
        n += name_len > len && !strcmp(e->d_name + name_len - len, suffix);
    }
    if (d)
        closedir(d);
    return n;
}

static void dir_remove(void)
{
    dir_clear();
    rmdir(dir);
}

/* The scratch directory, in $TMPDIR (scripts/fuzz gives one it removes
 * after the run, a crash included), else in memory where there is
 * /dev/shm, since the spool syncs every batch it writes. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/zmqsink-fuzz-spool-XXXXXX", tmp);
    FUZZ_CHECK(mkdtemp(dir), "%s", dir);
    atexit(dir_remove);
    return 0;
}

static void file_write(const char *name, const uint8_t *data, size_t size)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    FUZZ_CHECK(fd >= 0, "%s", path);
    FUZZ_CHECK(size == 0 || write(fd, data, size) == (ssize_t)size, "%s",
               path);
    close(fd);
}

/* The name the header asks for, so that its id can match. */
static void file_name(const uint8_t *data, size_t size, char name[32])
{
    static const char magic[] = "zmqsink-spool 1 ";
    size_t m = sizeof magic - 1, digits = 0;
    if (size >= m + 16 && !memcmp(data, magic, m))
        while (digits < 16 && strchr("0123456789abcdef", data[m + digits]) &&
               data[m + digits])
            digits++;
    if (digits == 16)
        snprintf(name, 32, "%.16s.batch", (const char *)data + m);
    else
        snprintf(name, 32, "0000000000000001.batch");
}

static void batch_check(const spool_batch_t *b)
{
    size_t lines = 0;
    for (size_t i = 0; i < b->body.len; i++)
        lines += b->body.data[i] == '\n';
    FUZZ_CHECK(strlen(b->key) == SPOOL_KEY_LEN &&
                   strspn(b->key, "0123456789abcdef") == SPOOL_KEY_LEN,
               "key '%s'", b->key);
    FUZZ_CHECK(b->events > 0 && lines == b->events &&
                   b->body.data[b->body.len - 1] == '\n',
               "%u events, %zu lines", b->events, lines);
}

/* The input as a file of the spool, read out. */
static void read_file(const zmqsink_host_t *host, const uint8_t *data,
                      size_t size)
{
    char name[32], err[512];
    file_name(data, size, name);
    file_write(name, data, size);
    spool_t *spool = spool_open(host, dir, MAX_SIZE, err, sizeof err);
    FUZZ_CHECK(spool, "%s", err);
    spool_batch_t b = {0};
    size_t loaded = 0;
    while (spool_load_oldest(spool, &b) == 1) {
        batch_check(&b);
        spool_remove(spool, b.id);
        loaded++;
    }
    FUZZ_CHECK(loaded <= 1 && spool_count(spool) == 0, "%zu loaded", loaded);
    spool_close(&spool);
    FUZZ_CHECK(dir_count(".batch") == 0 && dir_count(".corrupt") == 1 - loaded,
               "%zu batches, %zu corrupt", dir_count(".batch"),
               dir_count(".corrupt"));
    bytes_free(&b.body);
}

/* The input as a body, written and read back. */
static void round_trip(const zmqsink_host_t *host, const uint8_t *data,
                       size_t size)
{
    spool_batch_t in = {.id = 7, .key = "0123456789abcdef0123456789abcdef"};
    bool failed = false;
    bytes_put(&in.body, (const char *)data, size, &failed);
    if (!size || data[size - 1] != '\n')
        bytes_put(&in.body, "\n", 1, &failed);
    FUZZ_CHECK(!failed, "out of memory");
    for (size_t i = 0; i < in.body.len; i++)
        in.events += in.body.data[i] == '\n';
    char err[512];
    spool_t *spool = spool_open(host, dir, MAX_SIZE, err, sizeof err);
    FUZZ_CHECK(spool, "%s", err);
    FUZZ_CHECK(spool_add(spool, &in) == 0, "not added");
    spool_close(&spool);
    spool = spool_open(host, dir, MAX_SIZE, err, sizeof err);
    FUZZ_CHECK(spool, "%s", err);
    spool_batch_t out = {0};
    FUZZ_CHECK(spool_load_oldest(spool, &out) == 1, "not read back");
    FUZZ_CHECK(out.id == in.id && out.events == in.events &&
                   !strcmp(out.key, in.key) && out.body.len == in.body.len &&
                   !memcmp(out.body.data, in.body.data, in.body.len),
               "read back otherwise");
    spool_remove(spool, out.id);
    spool_close(&spool);
    bytes_free(&in.body);
    bytes_free(&out.body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const zmqsink_host_t *host = fuzz_host("/");
    dir_clear();
    read_file(host, data, size);
    dir_clear();
    round_trip(host, data, size);
    dir_clear();
    return 0;
}
