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
 * Several processes may append to one file: the workers of a pre-fork
 * server under `zmqsink run`, each with its own zmqsink and the same
 * config. Every write(2) starts at a line and O_APPEND lands it at the end
 * of the file in one piece. Each batch is written under an exclusive
 * flock(2) (see lock_file()), so that a write stopped inside a line (a
 * full disk) can take that line back before anyone appends after it, and
 * so that a process decides on rotation knowing the file's true size.
 * With rotation, a process also checks under the lock that the path still
 * names its file, and follows the path when another process (or logrotate)
 * renamed the file away: it never writes into a rotated file, which `keep`
 * would at last delete. Each process keeps its own lines in order.
 *
 * An event counts as delivered once write(2) took its whole line; until
 * then (a full disk) it is pending.
 *
 * Files are created with mode 0640 minus the process umask. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zmqsink/plugin.h>
#include "clock.h"
#include "once.h"

/* Bytes buffered before a write(2): large enough to amortise the call,
 * small enough to bound the memory of a big batch. */
#define CHUNK_SIZE (64 * 1024)
/* Between attempts to write the pending tail in flush(). */
#define FLUSH_RETRY_NS (50 * 1000 * 1000)
#define TAIL_RETRY_NS (100 * 1000 * 1000) /* between tries of a kept tail */
#define FILE_MODE 0640

enum { FSYNC_NEVER = 0, FSYNC_BATCH = 1 };

struct file_sink {
    const zmqsink_host_t *host;
    char *path;          /* resolved against config_dir; NULL: stdout */
    const char *display; /* path, or "stdout", for messages */
    int fd;
    int lock_fd;  /* PATH.lock when rotating; -1: fd itself is locked */
    bool regular; /* fd is a regular file: locked, cut lines taken back */
    bool locked;  /* holds the flock; only inside a callback */
    bool at_path; /* path named the open file when last checked */
    zmqsink_format_t format;
    uint64_t max_size; /* 0: no rotation */
    int keep;
    bool fsync_batch;
    uint64_t size;      /* of the current file; exact while locked */
    uint64_t uncounted; /* not counted against max_size: the size at a
                           failed rotation */

    /* Formatted lines; buf[off..len) is not written yet. */
    char *buf;
    size_t len, off, cap;
    bool wrote;         /* some of the current batch is in the file */
    bool write_failing; /* in a streak of write errors, already logged */
    bool rotate_failing;
    bool sync_failing;
    bool lock_failing;
    bool follow_failing;
};

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

/* Opens path for appending and makes it the sink's file; the caller
 * closes the old one. Returns 0, or -1 with errno set and the sink
 * unchanged. */
static int open_append(struct file_sink *f)
{
    int fd = open(f->path,
                  O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY,
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
    f->host->own_fd(f->host, fd, 1);
    f->fd = fd;
    f->regular = S_ISREG(st.st_mode);
    f->size = (uint64_t)st.st_size;
    f->uncounted = 0;
    f->at_path = true;
    return 0;
}

/* Takes the exclusive lock that every zmqsink writing this file takes for
 * each batch, waiting while another process writes one (the plugin ABI
 * lets a callback block; a process stopped while it holds the lock holds
 * up the others' file sinks until it goes on).
 *
 * With rotation the lock is on PATH.lock, a file beside the log that stays
 * while the files it stands for are renamed. A lock on the log file itself
 * would have to be taken anew on each new file, and a process waiting for
 * it could find, once it had it, that the file had been rotated meanwhile,
 * again and again: 4 writers on 4 KiB files did so. The lock file is never
 * removed, since removing one safely is a race of its own. Without
 * rotation the log file itself is locked, which adds nothing to the
 * directory. flock(2), unlike fcntl(2) record locks, belongs to the open
 * file, so two instances in one process (two sinks, or a reload's old and
 * new instance) exclude each other too. Where flock(2) fails (some network
 * file systems), the sink writes on without it. */
static void lock_file(struct file_sink *f)
{
    if (!f->regular || f->locked)
        return;
    int rc;
    while ((rc = flock(f->lock_fd >= 0 ? f->lock_fd : f->fd, LOCK_EX)) < 0 &&
           errno == EINTR)
        ;
    if (rc == 0) {
        f->locked = true;
        once_recovered(&f->lock_failing);
        return;
    }
    if (once_failed(&f->lock_failing))
        f->host->log(f->host, ZMQSINK_SEV_ERR,
                     "cannot lock '%s': %s; writing on without the lock, so "
                     "processes that share the file may cut each other's "
                     "lines or rotate it twice",
                     f->display, strerror(errno));
}

static void unlock_file(struct file_sink *f)
{
    if (f->locked)
        flock(f->lock_fd >= 0 ? f->lock_fd : f->fd, LOCK_UN);
    f->locked = false;
}

/* Opens the file anew (reopen, rotation, a file renamed away) and closes
 * the old descriptor only once the new one is there, so that writing can
 * go on either way. A sink that held the lock holds it on the new file
 * too. */
static int reopen_path(struct file_sink *f)
{
    int old = f->fd;
    bool relock = f->locked && f->lock_fd < 0; /* the old file's own lock */
    if (open_append(f) < 0)
        return -1;
    if (relock) {
        flock(old, LOCK_UN); /* a forked child may hold the file open */
        f->locked = false;
    }
    f->host->close_fd(f->host, old);
    if (relock)
        lock_file(f);
    return 0;
}

/* Whether the path names the open file, which fstat(2) gave as file. A
 * path that cannot be looked up for another reason than its absence is
 * taken to: the sink cannot tell, and writes on. */
static bool path_names_file(const struct file_sink *f, const struct stat *file)
{
    struct stat st;
    if (stat(f->path, &st) < 0)
        return errno != ENOENT;
    return st.st_dev == file->st_dev && st.st_ino == file->st_ino;
}

/* Opens the path again after the open file was renamed away; on failure
 * logs once per streak and writes on into the renamed file. */
static void follow_path(struct file_sink *f)
{
    if (reopen_path(f) == 0) {
        once_recovered(&f->follow_failing);
        return;
    }
    if (once_failed(&f->follow_failing))
        f->host->log(f->host, ZMQSINK_SEV_ERR,
                     "cannot reopen '%s', which another process or logrotate "
                     "renamed: %s%s; writing on into the renamed file",
                     f->display, strerror(errno), open_hint(errno));
    f->at_path = false; /* no rotation: the path is not this file */
}

/* Readies the sink to write: takes the lock. With rotation, it then
 * learns the file's true size, which only lock holders change, makes sure
 * that the path still names the open file, and follows the path when not:
 * an fstat(2) and a stat(2) per batch, which see a rename by another
 * process or by logrotate before the first line of the batch, where a
 * cheaper trigger (inotify, a check every few seconds) would let lines go
 * into a file that `keep` may delete. Without rotation the size matters to
 * nothing, and the lock alone is taken. */
static void lock_output(struct file_sink *f)
{
    lock_file(f);
    struct stat st;
    if (!f->max_size || !f->regular || fstat(f->fd, &st) < 0)
        return;
    f->size = (uint64_t)st.st_size;
    f->at_path = path_names_file(f, &st);
    if (!f->at_path)
        follow_path(f);
}

static void sync_file(struct file_sink *f)
{
    if (!f->path)
        return; /* stdout: a terminal or a pipe, nothing to sync */
    if (fdatasync(f->fd) == 0)
        once_recovered(&f->sync_failing);
    else if (once_failed(&f->sync_failing))
        f->host->log(f->host, ZMQSINK_SEV_ERR, "cannot sync '%s': %s",
                     f->display, strerror(errno));
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
        if (once_failed(&f->rotate_failing))
            f->host->log(f->host, ZMQSINK_SEV_ERR,
                         "cannot rotate '%s': rename to '%s': %s; writing on "
                         "into the current file",
                         f->display, to, strerror(errno));
        return -1;
    }
    return 0;
}

/* Moves the current file aside and starts a new one, with the lock held
 * and the path known to name the file: so no other process rotates it at
 * the same time, and it is over max_size by its true size. On failure the
 * sink keeps writing into the file it has; its bytes so far are not counted
 * so that the next attempt comes after another max_size bytes, not at
 * every line. When the new file cannot be made, the next batches try
 * to open it again. */
static void rotate(struct file_sink *f)
{
    if (f->fsync_batch)
        sync_file(f);
    if (shift_rotated_files(f) < 0) {
        f->uncounted = f->size;
        return;
    }
    if (reopen_path(f) < 0) {
        if (once_failed(&f->rotate_failing))
            f->host->log(f->host, ZMQSINK_SEV_ERR,
                         "cannot create '%s' after rotating it: %s; writing "
                         "on into '%s.1'",
                         f->display, strerror(errno), f->path);
        f->follow_failing = true; /* said: retried quietly from now on */
        f->at_path = false;
        return;
    }
    once_recovered(&f->rotate_failing);
}

/* Whether a line of line_len bytes, buffered from line_start, would push a
 * non-empty file past max_size. */
static bool rotation_due(const struct file_sink *f, size_t line_start,
                         size_t line_len)
{
    if (!f->max_size || !f->path || !f->at_path)
        return false;
    uint64_t counted = f->size > f->uncounted ? f->size - f->uncounted : 0;
    uint64_t before = counted + (line_start - f->off);
    return before > 0 && before + line_len > f->max_size;
}

/* After a write(2) that stopped inside a line and could not go on (a full
 * disk, a file size limit): cuts the line's first part off the end of the
 * file and keeps the whole line to write again, so that no other process
 * appends into the middle of it. Only under the lock, and only when the
 * file still ends where this sink's bytes end (O_APPEND leaves the offset
 * there). Otherwise (no lock, or a program that appends without it) the
 * rest of the line follows later and may find another line before it.
 * first: where the write began. */
static void take_back_cut_line(struct file_sink *f, size_t first)
{
    size_t line_start = f->off;
    while (line_start > first && f->buf[line_start - 1] != '\n')
        line_start--;
    uint64_t cut = f->off - line_start;
    struct stat st;
    off_t ours;
    if (!cut || !f->locked || fstat(f->fd, &st) < 0 ||
        (ours = lseek(f->fd, 0, SEEK_CUR)) < 0 || st.st_size != ours ||
        (uint64_t)ours < cut)
        return;
    if (ftruncate(f->fd, ours - (off_t)cut) < 0)
        return;
    f->off = line_start;
    f->size = (uint64_t)ours - cut;
}

/* Writes buf[off..end), which starts at a line, advancing off across
 * partial writes and EINTR. The rest of a partial write is written at
 * once; when that fails, the cut line is taken back. Each line write(2)
 * took whole is an event delivered. Returns 0, or -1 with errno set. */
static int write_range(struct file_sink *f, size_t end)
{
    size_t first = f->off;
    int err = 0;
    while (f->off < end) {
        ssize_t n = write(f->fd, f->buf + f->off, end - f->off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            err = n == 0 ? EIO : errno; /* 0: a file that takes nothing */
            take_back_cut_line(f, first);
            break;
        }
        f->off += (size_t)n;
        f->size += (uint64_t)n;
    }
    f->wrote |= f->off > first;
    uint64_t lines = 0;
    for (const char *p = f->buf + first, *written = f->buf + f->off;
         (p = memchr(p, '\n', (size_t)(written - p))); p++)
        lines++;
    if (lines)
        f->host->count_delivered(f->host, lines);
    errno = err;
    return err ? -1 : 0;
}

/* Writes the buffer up to end and keeps what follows end at its start.
 * Returns 0, or -1 after logging the first error of a streak. */
static int drain_to(struct file_sink *f, size_t end)
{
    if (write_range(f, end) < 0) {
        if (once_failed(&f->write_failing))
            f->host->log(f->host, ZMQSINK_SEV_ERR,
                         "cannot write to '%s': %s; events wait in the queue",
                         f->display, strerror(errno));
        return -1;
    }
    if (once_recovered(&f->write_failing))
        f->host->log(f->host, ZMQSINK_SEV_NOTICE, "writing to '%s' again",
                     f->display);
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

/* The batch, with the lock held. */
static zmqsink_write_result_t write_locked(struct file_sink *f,
                                           const zmqsink_event_t *events,
                                           size_t n)
{
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
    return ZMQSINK_WRITE_OK;
}

/* The sync, which may be slow, comes after the lock is given back. */
static zmqsink_write_result_t file_write(void *state,
                                         const zmqsink_event_t *events,
                                         size_t n)
{
    struct file_sink *f = state;
    lock_output(f);
    zmqsink_write_result_t result = write_locked(f, events, n);
    unlock_file(f);
    if (pending(f))
        f->host->tick_at(f->host, clock_now_ns() + TAIL_RETRY_NS);
    else if (result == ZMQSINK_WRITE_OK && f->fsync_batch)
        sync_file(f);
    return result;
}

/* Writes the pending tail under the lock. Returns 0, or -1 as drain(). */
static int drain_locked(struct file_sink *f)
{
    lock_output(f);
    int rc = drain(f);
    unlock_file(f);
    return rc;
}

/* Retries the pending tail between batches, so that it does not wait for
 * the next event. Asked for only while there is one: an idle file sink
 * never wakes. */
static void file_tick(void *state, int64_t now_ns)
{
    struct file_sink *f = state;
    if (!pending(f))
        return;
    if (drain_locked(f) < 0)
        f->host->tick_at(f->host, now_ns + TAIL_RETRY_NS);
    else if (f->fsync_batch)
        sync_file(f);
}

static uint64_t file_flush(void *state, int64_t deadline_ns)
{
    struct file_sink *f = state;
    while (pending(f) && drain_locked(f) < 0 &&
           clock_now_ns() + FLUSH_RETRY_NS < deadline_ns) {
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
    f->follow_failing = false;
    return 0;
}

static void file_close(void *state)
{
    struct file_sink *f = state;
    if (!f)
        return;
    if (pending(f))
        f->host->count_failed(f->host, pending_events(f), "unwritten");
    if (f->path)
        f->host->close_fd(f->host, f->fd);
    f->host->close_fd(f->host, f->lock_fd);
    free(f->path);
    free(f->buf);
    free(f);
}

/* Opens PATH.lock (see lock_file()). Where it cannot be, the log file
 * itself is locked: enough when rotation cannot happen either (a
 * directory the sink cannot write), but a process that waits for the lock
 * of a file being rotated may then write one batch into the new file
 * while another does. */
static void open_lock_file(struct file_sink *f)
{
    char path[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s.lock", f->path);
    f->lock_fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOCTTY,
                      FILE_MODE);
    if (f->lock_fd >= 0)
        f->host->own_fd(f->host, f->lock_fd, 1);
    else
        f->host->log(f->host, ZMQSINK_SEV_WARNING,
                     "cannot open '%s', where processes that share '%s' "
                     "take turns: %s%s; locking '%s' itself instead",
                     path, f->display, strerror(errno), open_hint(errno),
                     f->display);
}

static int open_output(struct file_sink *f, const char *path, char *err,
                       size_t len)
{
    if (strcmp(path, "-") == 0) {
        f->display = "stdout";
        f->fd = STDOUT_FILENO;
        return 0;
    }
    /* Relative paths are relative to the config file. */
    char resolved[PATH_MAX];
    if (f->host->resolve_path(f->host, path, resolved, sizeof resolved) < 0) {
        snprintf(err, len, "path '%s' is too long", path);
        return -1;
    }
    if (!(f->path = strdup(resolved))) {
        snprintf(err, len, "out of memory");
        return -1;
    }
    f->display = f->path;
    if (open_append(f) < 0) {
        snprintf(err, len, "cannot open '%s': %s%s", f->path, strerror(errno),
                 open_hint(errno));
        return -1;
    }
    if (f->max_size && f->regular)
        open_lock_file(f);
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
    f->lock_fd = -1;
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
    .flags = ZMQSINK_PLUGIN_COUNTS_DELIVERED | ZMQSINK_PLUGIN_TICKS_ON_REQUEST,
};

/* plugin.h declares only the function type, so -Wmissing-prototypes wants
 * this. */

ZMQSINK_PLUGIN_EXPORT const zmqsink_plugin_t *zmqsink_plugin_entry(void)
{
    return &file_plugin;
}
