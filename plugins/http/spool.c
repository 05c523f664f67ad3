/* The http sink's durable spool: one file per undelivered batch.
 *
 * A batch is the file ID.batch (ID: 16 hex digits, increasing, so that the
 * names sort in delivery order) holding one header line and the body:
 *
 *   zmqsink-spool 1 ID KEY EVENTS BODY_BYTES CRC32\n BODY
 *
 * It is written as ID.tmp, synced, and renamed, so a crash leaves either a
 * whole batch or a .tmp file. At open, a .tmp file, or a batch whose header
 * does not parse or whose size does not match it, is torn: it is renamed to
 * NAME.corrupt, logged and counted. The body's checksum and line count are
 * checked again when the batch is loaded to be sent. A lock file keeps a
 * second process (or sink) from sharing the directory. */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gzip.h"

#define HEADER_MAX 128
#define NAME_MAX_LEN 32 /* "0123456789abcdef.batch.corrupt" */
#define ID_DIGITS 16

/* What the index knows of one batch file. */
typedef struct entry {
    uint64_t id, size;
    uint32_t events;
} entry_t;

/* A batch header as parsed. */
typedef struct header {
    uint64_t id, body_len;
    uint32_t events, crc;
    char key[BATCH_KEY_LEN + 1];
    size_t len; /* bytes of the header line, newline included */
} header_t;

struct spool {
    const zmqsink_host_t *host;
    char dir[PATH_MAX];
    int dir_fd, lock_fd;
    uint64_t max_size, total;
    entry_t *entries; /* oldest first: live ones are [head, n) */
    size_t head, n, cap;
    bool loaded;      /* spool_load_oldest() handed out loaded_id */
    uint64_t loaded_id;
    bool full_logged; /* the current streak of evictions was logged */
};

static void batch_file(char name[NAME_MAX_LEN], uint64_t id, const char *ext)
{
    snprintf(name, NAME_MAX_LEN, "%016" PRIx64 "%s", id, ext);
}

/* The id of a name that is 16 hex digits and then ext, or -1. */
static int name_id(const char *name, const char *ext, uint64_t *id)
{
    size_t len = strlen(name);
    if (len != ID_DIGITS + strlen(ext) || strcmp(name + ID_DIGITS, ext) != 0 ||
        strspn(name, "0123456789abcdef") != ID_DIGITS)
        return -1;
    *id = strtoull(name, NULL, 16);
    return 0;
}

static int header_format(char out[HEADER_MAX], const batch_t *b)
{
    return snprintf(out, HEADER_MAX,
                    "zmqsink-spool 1 %016" PRIx64 " %s %" PRIu32 " %zu %08" PRIx32
                    "\n",
                    b->id, b->key, b->events, b->body.len,
                    crc32_update(0, b->body.data, b->body.len));
}

/* Parses the header line at the start of buf. Returns 0 or -1. */
static int header_parse(const char *buf, size_t len, header_t *h)
{
    const char *nl = memchr(buf, '\n', len < HEADER_MAX ? len : HEADER_MAX);
    if (!nl)
        return -1;
    char line[HEADER_MAX];
    memcpy(line, buf, (size_t)(nl - buf));
    line[nl - buf] = '\0';
    int end = -1;
    if (sscanf(line,
               "zmqsink-spool 1 %16" SCNx64 " %32[0-9a-f] %" SCNu32
               " %" SCNu64 " %8" SCNx32 "%n",
               &h->id, h->key, &h->events, &h->body_len, &h->crc, &end) != 5 ||
        end != nl - buf || strlen(h->key) != BATCH_KEY_LEN || h->events == 0)
        return -1;
    h->len = (size_t)(nl - buf) + 1;
    return 0;
}

/* Renames a file that cannot be replayed out of the way, and says so. */
static void set_aside(spool_t *s, const char *name, const char *why,
                      uint32_t events)
{
    char corrupt[NAME_MAX_LEN + 16];
    snprintf(corrupt, sizeof corrupt, "%s.corrupt", name);
    if (renameat(s->dir_fd, name, s->dir_fd, corrupt) != 0) {
        s->host->log(s->host, ZMQSINK_SEV_ERR,
                     "spool file %s/%s is corrupt (%s) and cannot be set "
                     "aside: %s; remove it",
                     s->dir, name, why, strerror(errno));
        unlinkat(s->dir_fd, name, 0);
    } else {
        s->host->log(s->host, ZMQSINK_SEV_ERR,
                     "spool file %s/%s is corrupt (%s); set aside as %s", s->dir,
                     name, why, corrupt);
    }
    if (events)
        s->host->count_failed(s->host, events, "corrupt");
}

/* Appends to the index; the caller keeps it sorted. */
static int index_add(spool_t *s, entry_t e)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        entry_t *entries = realloc(s->entries, cap * sizeof *entries);
        if (!entries)
            return -1;
        s->entries = entries;
        s->cap = cap;
    }
    s->entries[s->n++] = e;
    s->total += e.size;
    return 0;
}

/* Drops entry i from the index (its file is the caller's business). */
static void index_drop(spool_t *s, size_t i)
{
    s->total -= s->entries[i].size;
    if (s->loaded && s->entries[i].id == s->loaded_id)
        s->loaded = false;
    if (i == s->head) {
        s->head++;
    } else {
        memmove(&s->entries[i], &s->entries[i + 1],
                (s->n - i - 1) * sizeof *s->entries);
        s->n--;
    }
    if (s->head == s->n)
        s->head = s->n = 0;
}

/* Reads up to cap bytes of the named file. Returns the bytes read and its
 * size in *size, or -1 with errno. */
static ssize_t file_read(spool_t *s, const char *name, char *buf, size_t cap,
                         uint64_t *size)
{
    int fd = openat(s->dir_fd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    ssize_t got = fstat(fd, &st) == 0 ? 0 : -1;
    size_t want = got == 0 && (uint64_t)st.st_size < cap ? (size_t)st.st_size
                                                        : cap;
    while (got >= 0 && (size_t)got < want) {
        ssize_t r = read(fd, buf + got, want - (size_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            got = r < 0 ? -1 : got;
            break;
        }
        got += r;
    }
    int saved = errno;
    close(fd);
    errno = saved;
    *size = got >= 0 ? (uint64_t)st.st_size : 0;
    return got;
}

/* Indexes one batch file at open, or sets it aside. */
static void index_file(spool_t *s, const char *name, uint64_t id)
{
    char buf[HEADER_MAX];
    uint64_t size;
    header_t h;
    ssize_t got = file_read(s, name, buf, sizeof buf, &size);
    if (got < 0) {
        s->host->log(s->host, ZMQSINK_SEV_ERR, "spool file %s/%s: %s", s->dir,
                     name, strerror(errno));
        return;
    }
    if (header_parse(buf, (size_t)got, &h) != 0 || h.id != id)
        set_aside(s, name, "no valid header", 0);
    else if (size != h.len + h.body_len)
        set_aside(s, name, "torn: shorter or longer than its header says",
                  h.events);
    else if (index_add(s, (entry_t){id, size, h.events}) != 0)
        s->host->log(s->host, ZMQSINK_SEV_ERR,
                     "spool file %s/%s: out of memory; left for the next run",
                     s->dir, name);
}

static int entry_compare(const void *a, const void *b)
{
    uint64_t x = ((const entry_t *)a)->id, y = ((const entry_t *)b)->id;
    return x < y ? -1 : x > y;
}

static int spool_scan(spool_t *s, char *err, size_t errlen)
{
    int fd = dup(s->dir_fd);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    if (!dir) {
        if (fd >= 0)
            close(fd);
        snprintf(err, errlen, "spool.dir '%s': %s", s->dir, strerror(errno));
        return -1;
    }
    struct dirent *d;
    while ((d = readdir(dir))) {
        uint64_t id;
        if (name_id(d->d_name, ".batch", &id) == 0)
            index_file(s, d->d_name, id);
        else if (name_id(d->d_name, ".tmp", &id) == 0)
            set_aside(s, d->d_name, "torn: a crash while it was written", 0);
    }
    closedir(dir);
    if (s->n > 1)
        qsort(s->entries, s->n, sizeof *s->entries, entry_compare);
    return 0;
}

static int spool_lock(spool_t *s, char *err, size_t errlen)
{
    s->lock_fd = openat(s->dir_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (s->lock_fd < 0) {
        snprintf(err, errlen, "spool.dir '%s': cannot create its lock file: %s",
                 s->dir, strerror(errno));
        return -1;
    }
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, errlen,
                 errno == EWOULDBLOCK
                     ? "spool.dir '%s' is in use by another sink or process: "
                       "give each http sink its own directory"
                     : "spool.dir '%s': cannot lock it: %s",
                 s->dir, strerror(errno));
        return -1;
    }
    return 0;
}

spool_t *spool_open(const zmqsink_host_t *host, const char *dir,
                    uint64_t max_size, char *err, size_t errlen)
{
    spool_t *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->host = host;
    s->max_size = max_size;
    s->dir_fd = s->lock_fd = -1;
    int n = dir[0] == '/' || !host->config_dir
                ? snprintf(s->dir, sizeof s->dir, "%s", dir)
                : snprintf(s->dir, sizeof s->dir, "%s/%s", host->config_dir, dir);
    if (n < 0 || (size_t)n >= sizeof s->dir) {
        snprintf(err, errlen, "spool.dir '%s': path too long", dir);
        goto fail;
    }
    if (mkdir(s->dir, 0750) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "spool.dir '%s': cannot create it: %s", s->dir,
                 strerror(errno));
        goto fail;
    }
    s->dir_fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dir_fd < 0) {
        snprintf(err, errlen, "spool.dir '%s': %s", s->dir, strerror(errno));
        goto fail;
    }
    if (spool_lock(s, err, errlen) != 0 || spool_scan(s, err, errlen) != 0)
        goto fail;
    return s;
fail:
    spool_close(&s);
    return NULL;
}

void spool_close(spool_t **spool)
{
    spool_t *s = *spool;
    if (!s)
        return;
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* releases the lock */
    if (s->dir_fd >= 0)
        close(s->dir_fd);
    free(s->entries);
    free(s);
    *spool = NULL;
}

size_t spool_count(const spool_t *s)
{
    return s->n - s->head;
}

uint64_t spool_last_id(const spool_t *s)
{
    return s->n > s->head ? s->entries[s->n - 1].id : 0;
}

uint64_t spool_oldest_id(const spool_t *s)
{
    return s->n > s->head ? s->entries[s->head].id : UINT64_MAX;
}

void spool_hold(spool_t *s, uint64_t id)
{
    s->loaded = true;
    s->loaded_id = id;
}

const char *spool_dir(const spool_t *s)
{
    return s->dir;
}

/* Deletes the file of entry i and drops it from the index. */
static void entry_delete(spool_t *s, size_t i)
{
    char name[NAME_MAX_LEN];
    batch_file(name, s->entries[i].id, ".batch");
    if (unlinkat(s->dir_fd, name, 0) != 0 && errno != ENOENT)
        s->host->log(s->host, ZMQSINK_SEV_ERR, "spool file %s/%s: cannot "
                     "delete it: %s", s->dir, name, strerror(errno));
    index_drop(s, i);
}

/* Deletes the oldest batches until `size` more bytes fit, sparing the one
 * being sent. Returns whether they fit. */
static bool spool_make_room(spool_t *s, uint64_t size)
{
    size_t i = s->head;
    while (s->total + size > s->max_size && i < s->n) {
        if (s->loaded && s->entries[i].id == s->loaded_id) {
            i++;
            continue;
        }
        uint32_t events = s->entries[i].events;
        s->host->log(s->host, s->full_logged ? ZMQSINK_SEV_DEBUG
                                             : ZMQSINK_SEV_WARNING,
                     "spool %s is full (max_size %" PRIu64 " bytes): the "
                     "oldest batch (%" PRIu32 " events) is dropped",
                     s->dir, s->max_size, events);
        s->full_logged = true;
        s->host->count_failed(s->host, events, "spool_full");
        entry_delete(s, i);
        if (i < s->head)
            i = s->head; /* the head moved on, or the index emptied */
    }
    return s->total + size <= s->max_size;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        data += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Writes the file durably: a crash leaves the whole file or a .tmp. */
static int batch_write(spool_t *s, const batch_t *b, const char *header,
                       size_t header_len)
{
    char tmp[NAME_MAX_LEN], name[NAME_MAX_LEN];
    batch_file(tmp, b->id, ".tmp");
    batch_file(name, b->id, ".batch");
    int fd = openat(s->dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                    0640);
    if (fd < 0)
        return -1;
    int rc = write_all(fd, header, header_len) == 0 &&
                     write_all(fd, b->body.data, b->body.len) == 0 &&
                     fsync(fd) == 0
                 ? 0
                 : -1;
    int saved = errno;
    close(fd);
    if (rc == 0 && renameat(s->dir_fd, tmp, s->dir_fd, name) == 0) {
        fsync(s->dir_fd);
        return 0;
    }
    saved = rc == 0 ? errno : saved;
    unlinkat(s->dir_fd, tmp, 0);
    errno = saved;
    return -1;
}

int spool_add(spool_t *s, const batch_t *b)
{
    char header[HEADER_MAX];
    size_t header_len = (size_t)header_format(header, b);
    uint64_t size = header_len + b->body.len;
    if (!spool_make_room(s, size)) {
        s->host->log(s->host, ZMQSINK_SEV_WARNING,
                     "spool %s: a batch of %" PRIu64 " bytes does not fit in "
                     "max_size %" PRIu64 "; its %" PRIu32 " events are dropped",
                     s->dir, size, s->max_size, b->events);
        s->host->count_failed(s->host, b->events, "spool_full");
        return -1;
    }
    if (batch_write(s, b, header, header_len) != 0) {
        s->host->log(s->host, ZMQSINK_SEV_ERR,
                     "spool %s: cannot write a batch: %s; its %" PRIu32
                     " events are dropped", s->dir, strerror(errno), b->events);
        s->host->count_failed(s->host, b->events, "spool_error");
        return -1;
    }
    if (index_add(s, (entry_t){b->id, size, b->events}) == 0) {
        /* Usually the newest; a batch that failed while newer ones waited
         * in the spool moves back into its place. */
        for (size_t i = s->n - 1; i > s->head && s->entries[i - 1].id > b->id;
             i--) {
            entry_t swap = s->entries[i];
            s->entries[i] = s->entries[i - 1];
            s->entries[i - 1] = swap;
        }
    } else {
        /* On disk but not indexed: the next run replays it. */
        s->host->log(s->host, ZMQSINK_SEV_ERR, "spool %s: out of memory; "
                     "batch %016" PRIx64 " waits for the next run", s->dir,
                     b->id);
    }
    if (spool_count(s) == 1)
        s->full_logged = false;
    return 0;
}

/* Checks a whole batch file read into buf and fills b from it. Returns
 * NULL, or why it is corrupt. */
static const char *batch_parse(const char *buf, size_t len, uint64_t id,
                               batch_t *b)
{
    header_t h;
    if (header_parse(buf, len, &h) != 0 || h.id != id)
        return "no valid header";
    if (len != h.len + h.body_len)
        return "torn: shorter or longer than its header says";
    const char *body = buf + h.len;
    if (crc32_update(0, body, h.body_len) != h.crc)
        return "checksum mismatch";
    uint64_t lines = 0;
    for (const char *p = body; (p = memchr(p, '\n', (size_t)(body + h.body_len - p)));
         p++)
        lines++;
    if (lines != h.events || body[h.body_len - 1] != '\n')
        return "event count mismatch";
    b->body.len = 0;
    if (bytes_reserve(&b->body, h.body_len) != 0)
        return NULL; /* caught by the caller: body.len stays 0 */
    memcpy(b->body.data, body, h.body_len);
    b->body.len = h.body_len;
    b->id = id;
    b->events = h.events;
    memcpy(b->key, h.key, sizeof b->key);
    return NULL;
}

int spool_load_oldest(spool_t *s, batch_t *b)
{
    while (s->n > s->head) {
        entry_t e = s->entries[s->head];
        char name[NAME_MAX_LEN];
        batch_file(name, e.id, ".batch");
        char *buf = malloc(e.size + 1);
        uint64_t size = 0;
        ssize_t got = buf ? file_read(s, name, buf, e.size + 1, &size) : -1;
        const char *why = got < 0 ? strerror(errno)
                          : (uint64_t)got != size ? "torn: it changed size"
                              : batch_parse(buf, (size_t)got, e.id, b);
        free(buf);
        if (!why && b->body.len == 0)
            return 0; /* out of memory: try again later */
        if (!why) {
            s->loaded = true;
            s->loaded_id = e.id;
            return 1;
        }
        if (got < 0) {
            s->host->log(s->host, ZMQSINK_SEV_ERR,
                         "spool file %s/%s cannot be read (%s); its %" PRIu32
                         " events are lost", s->dir, name, why, e.events);
            s->host->count_failed(s->host, e.events, "spool_error");
        } else {
            set_aside(s, name, why, e.events);
        }
        index_drop(s, s->head);
    }
    return 0;
}

void spool_remove(spool_t *s, uint64_t id)
{
    for (size_t i = s->head; i < s->n; i++)
        if (s->entries[i].id == id) {
            entry_delete(s, i);
            return;
        }
}

/* Appends s to b as the text of a json string. */
static void put_json_string(bytes_t *b, const char *s, bool *failed)
{
    bytes_put(b, "\"", 1, failed);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            bytes_put(b, "\\", 1, failed);
        if ((unsigned char)*s >= 0x20)
            bytes_put(b, s, 1, failed);
    }
    bytes_put(b, "\"", 1, failed);
}

int spool_dead_letter(spool_t *s, const batch_t *batch, const char *reason)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    char ts[64];
    snprintf(ts, sizeof ts, "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ\",",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, now.tv_nsec / 1000);
    bytes_t line = {0};
    bool failed = false;
    bytes_put_str(&line, ts, &failed);
    bytes_put_str(&line, "\"key\":", &failed);
    put_json_string(&line, batch->key, &failed);
    bytes_put_str(&line, ",\"reason\":", &failed);
    put_json_string(&line, reason, &failed);
    bytes_put_str(&line, ",\"events\":[", &failed);
    size_t start = line.len;
    bytes_put(&line, batch->body.data, batch->body.len, &failed);
    for (size_t i = start; !failed && i < line.len; i++)
        if (line.data[i] == '\n')
            line.data[i] = ',';
    if (!failed && line.len > start)
        line.len--; /* the last line's newline */
    bytes_put_str(&line, "]}\n", &failed);
    int fd = failed ? -1
                    : openat(s->dir_fd, DEAD_LETTER_FILE,
                             O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    int rc = fd >= 0 && write_all(fd, line.data, line.len) == 0 ? 0 : -1;
    if (rc != 0)
        s->host->log(s->host, ZMQSINK_SEV_ERR,
                     "spool %s: cannot append to %s: %s", s->dir,
                     DEAD_LETTER_FILE, failed ? "out of memory" : strerror(errno));
    if (fd >= 0)
        close(fd);
    bytes_free(&line);
    return rc;
}
