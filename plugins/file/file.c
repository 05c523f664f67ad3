/* The file sink: appends events as lines (json, logfmt or text) to a file or
 * stdout, with size rotation, reopen for logrotate and an fsync policy.
 *
 * Lines are formatted into one buffer and written in chunks of up to
 * CHUNK_SIZE bytes, so a batch costs few write(2) calls and little memory.
 * When a write fails after part of a batch went out, the plugin keeps the
 * unwritten tail (it has told the host it took the batch) and writes it
 * before anything else; until then new batches are refused with RETRY, so
 * the ring absorbs them and nothing is written twice or out of order.
 *
 * Files are created with mode 0640 minus the process umask. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zmqsink/plugin.h>

/* Bytes buffered before a write(2): large enough to amortise the call,
 * small enough to bound the memory of a big batch. */
#define CHUNK_SIZE (64 * 1024)
/* Between attempts to write the pending tail in flush(). */
#define FLUSH_RETRY_NS (50 * 1000 * 1000)
#define FILE_MODE 0640

enum { FSYNC_NEVER = 0, FSYNC_BATCH = 1 };

struct file_sink {
    const zmqsink_host_t *host;
    char *path;          /* resolved against config_dir; NULL: stdout */
    const char *display; /* path, or "stdout", for messages */
    int fd;
    zmqsink_format_t format;
    uint64_t max_size; /* 0: no rotation */
    int keep;
    bool fsync_batch;
    uint64_t size; /* of the current file, as far as this sink wrote it */

    /* Formatted lines; buf[off..len) is not written yet. */
    char *buf;
    size_t len, off, cap;
    bool wrote;         /* some byte of the current write() went out */
    bool write_failing; /* in a streak of write errors, already logged */
    bool rotate_failing;
    bool sync_failing;
};

static int64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* What a user can do about an open() failure. */
static const char *open_hint(int err)
{
    switch (err) {
    case ENOENT:
        return " (create the directory or change `path`)";
    case EACCES:
    case EPERM:
    case EROFS:
        return " (make the directory writable for this user or change `path`)";
    case EISDIR:
        return " (`path` must name a file, not a directory)";
    default:
        return "";
    }
}

/* Opens path for appending and learns its size. Returns the fd, or -1 with
 * errno set. */
static int open_append(const char *path, uint64_t *size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY,
                  FILE_MODE);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    *size = (uint64_t)st.st_size;
    return fd;
}

/* Opens the file anew (reopen, rotation) and closes the old descriptor only
 * once the new one is there, so that writing can go on either way. */
static int reopen_path(struct file_sink *f)
{
    uint64_t size;
    int fd = open_append(f->path, &size);
    if (fd < 0)
        return -1;
    close(f->fd);
    f->fd = fd;
    f->size = size;
    return 0;
}

static void sync_file(struct file_sink *f)
{
    if (!f->path)
        return; /* stdout: a terminal or a pipe, nothing to sync */
    if (fdatasync(f->fd) == 0) {
        f->sync_failing = false;
    } else if (!f->sync_failing) {
        f->sync_failing = true;
        f->host->log(f->host, ZMQSINK_SEV_ERR, "cannot sync '%s': %s",
                     f->display, strerror(errno));
    }
}

/* Renames path.(keep-1) to path.keep ... path to path.1; rename() replaces
 * the oldest. A missing file is no error: a path deleted from under the sink
 * is simply created again. Returns 0, or -1 after logging once per streak. */
static int shift_rotated_files(struct file_sink *f)
{
    char from[PATH_MAX + 16], to[PATH_MAX + 16];
    for (int i = f->keep; i >= 1; i--) {
        snprintf(to, sizeof to, "%s.%d", f->path, i);
        if (i > 1)
            snprintf(from, sizeof from, "%s.%d", f->path, i - 1);
        else
            snprintf(from, sizeof from, "%s", f->path);
        if (rename(from, to) == 0 || errno == ENOENT)
            continue;
        if (!f->rotate_failing)
            f->host->log(f->host, ZMQSINK_SEV_ERR,
                         "cannot rotate '%s': rename to '%s': %s; writing on "
                         "into the current file",
                         f->display, to, strerror(errno));
        return -1;
    }
    return 0;
}

/* Moves the current file aside and starts a new one. On failure the sink
 * keeps writing into the file it has; its size counts from zero so that the
 * next attempt comes after another max_size bytes, not at every line. */
static void rotate(struct file_sink *f)
{
    if (f->fsync_batch)
        sync_file(f);
    if (shift_rotated_files(f) < 0) {
        f->rotate_failing = true;
        f->size = 0;
        return;
    }
    if (reopen_path(f) < 0) {
        if (!f->rotate_failing)
            f->host->log(f->host, ZMQSINK_SEV_ERR,
                         "cannot create '%s' after rotating it: %s; writing "
                         "on into '%s.1'",
                         f->display, strerror(errno), f->path);
        f->rotate_failing = true;
        f->size = 0;
        return;
    }
    f->rotate_failing = false;
}

/* Whether a line of line_len bytes, buffered from line_start, would push a
 * non-empty file past max_size. */
static bool rotation_due(const struct file_sink *f, size_t line_start,
                         size_t line_len)
{
    if (!f->max_size || !f->path)
        return false;
    uint64_t before = f->size + (line_start - f->off);
    return before > 0 && before + line_len > f->max_size;
}

/* Writes buf[off..end), advancing off across partial writes and EINTR.
 * Returns 0, or -1 with errno set. */
static int write_range(struct file_sink *f, size_t end)
{
    while (f->off < end) {
        ssize_t n = write(f->fd, f->buf + f->off, end - f->off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO; /* a file that takes nothing: do not spin */
            return -1;
        }
        f->off += (size_t)n;
        f->size += (uint64_t)n;
        f->wrote = true;
    }
    return 0;
}

/* Writes the buffer up to end and keeps what follows end at its start.
 * Returns 0, or -1 after logging the first error of a streak. */
static int drain_to(struct file_sink *f, size_t end)
{
    if (write_range(f, end) < 0) {
        if (!f->write_failing)
            f->host->log(f->host, ZMQSINK_SEV_ERR,
                         "cannot write to '%s': %s; events wait in the queue",
                         f->display, strerror(errno));
        f->write_failing = true;
        return -1;
    }
    if (f->write_failing)
        f->host->log(f->host, ZMQSINK_SEV_NOTICE, "writing to '%s' again",
                     f->display);
    f->write_failing = false;
    memmove(f->buf, f->buf + end, f->len - end);
    f->len -= end;
    f->off = 0;
    return 0;
}

static int drain(struct file_sink *f)
{
    return drain_to(f, f->len);
}

static bool pending(const struct file_sink *f)
{
    return f->off < f->len;
}

/* Events in the unwritten tail: one per line end, since every event is one
 * line (a cut line counts as its event). */
static uint64_t pending_events(const struct file_sink *f)
{
    uint64_t n = 0;
    for (const char *p = f->buf + f->off, *end = f->buf + f->len;
         (p = memchr(p, '\n', (size_t)(end - p))); p++)
        n++;
    return n;
}

static int grow(struct file_sink *f, size_t need)
{
    size_t cap = f->cap * 2 > f->len + need ? f->cap * 2 : f->len + need;
    char *buf = realloc(f->buf, cap);
    if (!buf)
        return -1;
    f->buf = buf;
    f->cap = cap;
    return 0;
}

/* Appends the event as one line. The formatter says how much room a line
 * needs, so the buffer grows to fit it: no line is ever cut. A newline
 * inside the text would split the event in two lines, so it becomes a
 * space. Returns 0, or -1 when out of memory. */
static int buffer_event(struct file_sink *f, const zmqsink_event_t *event)
{
    for (;;) {
        char *line = f->buf + f->len;
        size_t room = f->cap - f->len;
        size_t need = f->host->format(f->format, event, line, room);
        if (need < room) {
            char *end = line + need;
            for (char *p = line; (p = memchr(p, '\n', (size_t)(end - p)));)
                *p = ' ';
            line[need] = '\n';
            f->len += need + 1;
            return 0;
        }
        if (grow(f, need + 1) < 0)
            return -1;
    }
}

/* After a write error in the middle of a batch whose first bytes went out:
 * keep the rest as the pending tail, which the plugin now owns. */
static zmqsink_write_result_t keep_rest(struct file_sink *f,
                                        const zmqsink_event_t *events,
                                        size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (buffer_event(f, &events[i]) < 0) {
            f->host->count_failed(f->host, n - i, "nomem");
            break;
        }
    }
    return ZMQSINK_WRITE_OK;
}

/* Gives a failed batch back to the host when none of it was written, or
 * keeps its unwritten rest (events from i on) when some was. */
static zmqsink_write_result_t batch_failed(struct file_sink *f,
                                           const zmqsink_event_t *events,
                                           size_t i, size_t n)
{
    if (f->wrote)
        return keep_rest(f, events + i, n - i);
    f->len = f->off = 0;
    return ZMQSINK_WRITE_RETRY;
}

static zmqsink_write_result_t file_write(void *state,
                                         const zmqsink_event_t *events,
                                         size_t n)
{
    struct file_sink *f = state;
    if (pending(f) && drain(f) < 0)
        return ZMQSINK_WRITE_RETRY;
    f->wrote = false;
    for (size_t i = 0; i < n; i++) {
        size_t start = f->len;
        if (buffer_event(f, &events[i]) < 0) {
            f->host->log(f->host, ZMQSINK_SEV_ERR, "out of memory");
            return batch_failed(f, events, i, n);
        }
        if (rotation_due(f, start, f->len - start)) {
            if (drain_to(f, start) < 0)
                return batch_failed(f, events, i + 1, n);
            rotate(f);
        }
        if (f->len - f->off >= CHUNK_SIZE && drain(f) < 0)
            return batch_failed(f, events, i + 1, n);
    }
    if (drain(f) < 0)
        return batch_failed(f, events, n, n);
    if (f->fsync_batch)
        sync_file(f);
    return ZMQSINK_WRITE_OK;
}

/* Retries the pending tail between batches, so that it does not wait for
 * the next event. */
static void file_tick(void *state, int64_t now_ns)
{
    struct file_sink *f = state;
    (void)now_ns;
    if (pending(f) && drain(f) == 0 && f->fsync_batch)
        sync_file(f);
}

static uint64_t file_flush(void *state, int64_t deadline_ns)
{
    struct file_sink *f = state;
    while (pending(f) && drain(f) < 0 &&
           monotonic_ns() + FLUSH_RETRY_NS < deadline_ns) {
        struct timespec pause = { 0, FLUSH_RETRY_NS };
        nanosleep(&pause, NULL);
    }
    uint64_t lost = pending_events(f);
    f->len = f->off = 0; /* reported here, so close() must not count them */
    if (f->fsync_batch)
        sync_file(f);
    return lost;
}

static int file_reopen(void *state)
{
    struct file_sink *f = state;
    if (!f->path)
        return 0;
    if (reopen_path(f) < 0) {
        f->host->log(f->host, ZMQSINK_SEV_ERR,
                     "cannot reopen '%s': %s%s; writing on into the old file",
                     f->display, strerror(errno), open_hint(errno));
        return -1;
    }
    return 0;
}

static void file_close(void *state)
{
    struct file_sink *f = state;
    if (!f)
        return;
    if (pending(f))
        f->host->count_failed(f->host, pending_events(f), "unwritten");
    if (f->path && f->fd >= 0)
        close(f->fd);
    free(f->path);
    free(f->buf);
    free(f);
}

/* The path to open: relative ones are relative to the config file. */
static char *resolve_path(const zmqsink_host_t *host, const char *path)
{
    char *out;
    if (path[0] == '/' || !host->config_dir)
        return strdup(path);
    if (asprintf(&out, "%s/%s", host->config_dir, path) < 0)
        return NULL;
    return out;
}

static int open_output(struct file_sink *f, const char *path, char *err,
                       size_t len)
{
    if (strcmp(path, "-") == 0) {
        f->display = "stdout";
        f->fd = STDOUT_FILENO;
        return 0;
    }
    f->path = resolve_path(f->host, path);
    if (!f->path) {
        snprintf(err, len, "out of memory");
        return -1;
    }
    f->display = f->path;
    f->fd = open_append(f->path, &f->size);
    if (f->fd < 0) {
        snprintf(err, len, "cannot open '%s': %s%s", f->path, strerror(errno),
                 open_hint(errno));
        return -1;
    }
    return 0;
}

static void *file_open(const zmqsink_host_t *host, char *err, size_t len)
{
    struct file_sink *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(err, len, "out of memory");
        return NULL;
    }
    f->host = host;
    f->fd = -1;
    f->format = (zmqsink_format_t)host->option_int(host, "format");
    f->max_size = (uint64_t)host->option_int(host, "rotate.max_size");
    f->keep = (int)host->option_int(host, "rotate.keep");
    f->fsync_batch = host->option_int(host, "fsync") == FSYNC_BATCH;
    f->cap = CHUNK_SIZE + 4096;
    f->buf = malloc(f->cap);
    if (!f->buf) {
        snprintf(err, len, "out of memory");
        goto err;
    }
    if (open_output(f, host->option_string(host, "path"), err, len) < 0)
        goto err;
    return f;
err:
    file_close(f);
    return NULL;
}

static const zmqsink_option_t file_options[] = {
    { .key = "path", .type = ZMQSINK_OPT_STRING, .required = 1,
      .help = "file to append to, \"-\" for stdout; relative to the config "
              "file's directory" },
    /* The choices are in the order of zmqsink_format_t. */
    { .key = "format", .type = ZMQSINK_OPT_ENUM, .fallback = "json",
      .choices = "json|logfmt|text", .help = "line format" },
    { .key = "rotate.max_size", .type = ZMQSINK_OPT_SIZE, .min = 1024,
      .max = INT64_C(1) << 40,
      .help = "start a new file before one would grow past this size "
              "(unset: never rotate)" },
    { .key = "rotate.keep", .type = ZMQSINK_OPT_INT, .fallback = "5",
      .min = 1, .max = 1000, .help = "rotated files kept: path.1 .. path.N" },
    { .key = "fsync", .type = ZMQSINK_OPT_ENUM, .fallback = "never",
      .choices = "never|batch",
      .help = "never, or fdatasync after each batch of events" },
    { 0 }
};

static const zmqsink_plugin_t file_plugin = {
    ZMQSINK_PLUGIN_DESCRIPTOR_INIT,
    .name = "file",
    .description = "writes events as lines to a file or stdout",
    .options = file_options,
    .open = file_open,
    .write = file_write,
    .tick = file_tick,
    .flush = file_flush,
    .reopen = file_reopen,
    .close = file_close,
};

/* plugin.h declares only the function type, so -Wmissing-prototypes wants
 * this. */

ZMQSINK_PLUGIN_EXPORT const zmqsink_plugin_t *zmqsink_plugin_entry(void)
{
    return &file_plugin;
}
