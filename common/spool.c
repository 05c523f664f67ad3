/* The durable spool of batching sinks: one file per undelivered batch.
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
 * checked again when the batch is loaded to be sent.
 *
 * Slots. Processes that share a config (a pre-fork server's workers) share
 * spool.dir, so each takes a slot of it: slot 0 is the directory itself,
 * slot N its subdirectory slot-N, each with its own lock file, batches and
 * dead-letter file. A process takes the first slot whose lock it can take,
 * and replays what an earlier holder left there. The lock is flock(), which
 * belongs to the open file description: a forked child shares its parent's,
 * so it closes its copies (the first time it opens a spool of its own) and
 * takes a slot of its own.
 * Batches in a slot that nobody holds are moved, keys and all, into the slot
 * of the next process that opens the spool (slot_adopt). Within one process,
 * two sinks on one directory are a mistake in the config and refused. */
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
#include <zlib.h>

#include "json.h"
#include "once.h"


#define HEADER_MAX 128
#define NAME_MAX_LEN 32 /* "0123456789abcdef.batch.corrupt" */
#define ID_DIGITS 16
#define SLOTS 64        /* slot 0, the directory, and slot-1 .. slot-63 */
#define SLOT_NAME_LEN 16

/* What the index knows of one batch file. */
typedef struct entry {
    uint64_t id, size;
    uint32_t events;
} entry_t;

/* A batch header as parsed. */
typedef struct header {
    uint64_t id, body_len;
    uint32_t events, crc;
    char key[SPOOL_KEY_LEN + 1];
    size_t len; /* bytes of the header line, newline included */
} header_t;

struct spool {
    const zmqsink_host_t *host;
    char dir[PATH_MAX];  /* of its slot */
    int dir_fd, lock_fd; /* lock_fd changes under fork_hold */
    uint64_t max_size, total; /* total: of the batches */
    uint64_t dead_size; /* of the dead-letter file, as last seen */
    bool dead_full_logged; /* the current streak of refusals was logged */
    entry_t *entries; /* oldest first: live ones are [head, n) */
    size_t head, n, cap;
    bool loaded;      /* spool_load_oldest() handed out loaded_id */
    uint64_t loaded_id;
    bool full_logged; /* the current streak of evictions was logged */
    uint64_t run_first; /* batches from here on are this run's */
    bool claims_base; /* serves a sink: holds a slot of base_dev/base_ino */
    dev_t base_dev;   /* spool.dir, the directory of slot 0 */
    ino_t base_ino;
    pid_t pid;        /* of the process that opened it */
    struct spool *next_live;
};

/* Every spool object of this process: to refuse a second sink on a
 * directory that one sink of this process spools in. A forked child finds
 * its parent's here too, told apart by their pid. Changed under the host's
 * fork_hold, which also keeps sinks of one process from racing. */
static spool_t *live_spools;

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

static int header_format(char out[HEADER_MAX], const spool_batch_t *b)
{
    return snprintf(out, HEADER_MAX,
                    "zmqsink-spool 1 %016" PRIx64 " %s %" PRIu32 " %zu %08" PRIx32
                    "\n",
                    b->id, b->key, b->events, b->body.len,
                    (uint32_t)crc32_z(0, (const Bytef *)b->body.data, b->body.len));
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
        end != nl - buf || strlen(h->key) != SPOOL_KEY_LEN || h->events == 0)
        return -1;
    h->len = (size_t)(nl - buf) + 1;
    return 0;
}

bool spool_of_this_run(const spool_t *s, uint64_t id)
{
    return id >= s->run_first;
}

/* Counts the events of batch id as failed when it is of this run. One an
 * earlier run left was counted by that run (not delivered at its
 * shutdown): its end here is said in the log only. */
static void batch_lost(spool_t *s, uint64_t id, uint32_t events,
                       const char *reason)
{
    if (events && spool_of_this_run(s, id))
        s->host->count_failed(s->host, events, reason);
}

/* Renames a file that cannot be replayed out of the way, and says so. */
static void set_aside(spool_t *s, const char *name, const char *why,
                      uint64_t id, uint32_t events)
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
        char lost[48] = "";
        if (events)
            snprintf(lost, sizeof lost, ", its %" PRIu32 " events lost",
                     events);
        s->host->log(s->host, ZMQSINK_SEV_ERR,
                     "spool file %s/%s is corrupt (%s); set aside as %s%s",
                     s->dir, name, why, corrupt, lost);
    }
    batch_lost(s, id, events, "corrupt");
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
        set_aside(s, name, "no valid header", id, 0);
    else if (size != h.len + h.body_len)
        set_aside(s, name, "torn: shorter or longer than its header says", id,
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

/* Opens name in dir_fd for readdir(), or returns NULL with errno. */
static DIR *dir_open_at(int dir_fd, const char *name)
{
    int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    if (!dir && fd >= 0) {
        int saved = errno;
        close(fd);
        errno = saved;
    }
    return dir;
}

/* Indexes the batch files; the slot directories (slot-N) are not batches
 * and so are passed over. */
static int spool_scan(spool_t *s, char *err, size_t errlen)
{
    DIR *dir = dir_open_at(s->dir_fd, ".");
    if (!dir) {
        snprintf(err, errlen, "spool.dir '%s': %s", s->dir, strerror(errno));
        return -1;
    }
    struct dirent *d;
    while ((d = readdir(dir))) {
        uint64_t id;
        if (name_id(d->d_name, ".batch", &id) == 0)
            index_file(s, d->d_name, id);
        else if (name_id(d->d_name, ".tmp", &id) == 0)
            set_aside(s, d->d_name, "torn: a crash while it was written", 0,
                      0);
    }
    closedir(dir);
    if (s->n > 1)
        qsort(s->entries, s->n, sizeof *s->entries, entry_compare);
    return 0;
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

/* What counts against max_size: the batches and the dead-letter file. */
static uint64_t spool_used(const spool_t *s)
{
    return s->total + s->dead_size;
}

/* The dead-letter file's size as it is now: the operator may have moved
 * it away (as the full-spool warning asks). */
static void dead_letters_measure(spool_t *s)
{
    struct stat st;
    s->dead_size = fstatat(s->dir_fd, SPOOL_DEAD_LETTER_FILE, &st, 0) == 0
                       ? (uint64_t)st.st_size
                       : 0;
}

/* The size of the batch being sent, which is never deleted for room. */
static uint64_t loaded_size(const spool_t *s)
{
    for (size_t i = s->head; s->loaded && i < s->n; i++)
        if (s->entries[i].id == s->loaded_id)
            return s->entries[i].size;
    return 0;
}

/* Deletes the oldest batches until `size` more bytes fit, sparing the one
 * being sent. Deletes nothing when even that cannot make them fit (the
 * dead letters and the batch being sent take the room). Returns whether
 * they fit. */
static bool spool_make_room(spool_t *s, uint64_t size)
{
    if (spool_used(s) + size > s->max_size)
        dead_letters_measure(s);
    if (s->dead_size + loaded_size(s) + size > s->max_size)
        return false;
    size_t i = s->head;
    while (spool_used(s) + size > s->max_size && i < s->n) {
        if (s->loaded && s->entries[i].id == s->loaded_id) {
            i++;
            continue;
        }
        uint32_t events = s->entries[i].events;
        s->host->log(s->host, once_failed(&s->full_logged)
                                  ? ZMQSINK_SEV_WARNING
                                  : ZMQSINK_SEV_DEBUG,
                     "spool %s is full (max_size %" PRIu64 " bytes): the "
                     "oldest batch (%" PRIu32 " events) is dropped",
                     s->dir, s->max_size, events);
        batch_lost(s, s->entries[i].id, events, "spool_full");
        entry_delete(s, i);
        if (i < s->head)
            i = s->head; /* the head moved on, or the index emptied */
    }
    return spool_used(s) + size <= s->max_size;
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
static int batch_write(spool_t *s, const spool_batch_t *b, const char *header,
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

int spool_add(spool_t *s, const spool_batch_t *b)
{
    char header[HEADER_MAX];
    size_t header_len = (size_t)header_format(header, b);
    uint64_t size = header_len + b->body.len;
    if (!spool_make_room(s, size)) {
        s->host->log(s->host, ZMQSINK_SEV_WARNING,
                     "spool %s: a batch of %" PRIu64 " bytes does not fit in "
                     "max_size %" PRIu64 "; its %" PRIu32 " events are dropped",
                     s->dir, size, s->max_size, b->events);
        batch_lost(s, b->id, b->events, "spool_full");
        return -1;
    }
    if (batch_write(s, b, header, header_len) != 0) {
        s->host->log(s->host, ZMQSINK_SEV_ERR,
                     "spool %s: cannot write a batch: %s; its %" PRIu32
                     " events are dropped", s->dir, strerror(errno), b->events);
        batch_lost(s, b->id, b->events, "spool_error");
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
        once_recovered(&s->full_logged);
    return 0;
}

/* Checks a whole batch file read into buf and fills b from it. Returns
 * NULL, or why it is corrupt. */
static const char *batch_parse(const char *buf, size_t len, uint64_t id,
                               spool_batch_t *b)
{
    header_t h;
    if (header_parse(buf, len, &h) != 0 || h.id != id)
        return "no valid header";
    if (len != h.len + h.body_len)
        return "torn: shorter or longer than its header says";
    const char *body = buf + h.len;
    if ((uint32_t)crc32_z(0, (const Bytef *)body, h.body_len) != h.crc)
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

int spool_load_oldest(spool_t *s, spool_batch_t *b)
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
            batch_lost(s, e.id, e.events, "spool_error");
        } else {
            set_aside(s, name, why, e.id, e.events);
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
/* A line being built, for json_quote(). */
typedef struct line_out {
    bytes_t *line;
    bool *failed;
} line_out_t;

static void line_put(void *ctx, const char *text, size_t n)
{
    line_out_t *out = ctx;
    bytes_put(out->line, text, n, out->failed);
}

static void put_json_string(bytes_t *b, const char *text, bool *failed)
{
    line_out_t out = {b, failed};
    json_quote(text, strlen(text), line_put, &out);
}

int spool_dead_letter(spool_t *s, const spool_batch_t *batch, const char *reason)
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
                    : openat(s->dir_fd, SPOOL_DEAD_LETTER_FILE,
                             O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0)
        s->dead_size = (uint64_t)st.st_size; /* someone may have emptied it */
    int rc = -1;
    if (fd >= 0 && spool_used(s) + line.len > s->max_size) {
        if (once_failed(&s->dead_full_logged))
            s->host->log(s->host, ZMQSINK_SEV_WARNING,
                         "spool %s: %s would take the spool past max_size "
                         "(%" PRIu64 " bytes): rejected batches are not kept "
                         "there until it is moved away",
                         s->dir, SPOOL_DEAD_LETTER_FILE, s->max_size);
    } else if (fd >= 0 && write_all(fd, line.data, line.len) == 0) {
        rc = 0;
        s->dead_size += line.len;
        once_recovered(&s->dead_full_logged);
    } else {
        s->host->log(s->host, ZMQSINK_SEV_ERR,
                     "spool %s: cannot append to %s: %s", s->dir,
                     SPOOL_DEAD_LETTER_FILE,
                     failed ? "out of memory" : strerror(errno));
    }
    if (fd >= 0)
        close(fd);
    bytes_free(&line);
    return rc;
}

/* ---- this process's spools, and fork ---- */

/* Forgets the spools a forked child inherited from its parent (whose
 * copies of their locks the core closed in the fork). Under fork_hold. */
static void live_forget_inherited(void)
{
    pid_t self = getpid();
    for (spool_t **p = &live_spools; *p;) {
        spool_t *o = *p;
        if (o->pid == self) {
            p = &o->next_live;
            continue;
        }
        *p = o->next_live; /* the parent's memory: left as it is */
    }
}

/* A spool object with no slot yet, known to this process's list. */
static spool_t *spool_new(const zmqsink_host_t *host, uint64_t max_size)
{
    spool_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->host = host;
    s->max_size = max_size;
    s->dir_fd = s->lock_fd = -1;
    s->pid = getpid();
    s->run_first = UINT64_MAX; /* what opening finds is an earlier run's */
    host->fork_hold(host);
    live_forget_inherited();
    s->next_live = live_spools;
    live_spools = s;
    host->fork_release(host);
    return s;
}

static void spool_forget(spool_t *s)
{
    s->host->fork_hold(s->host);
    spool_t **p = &live_spools;
    while (*p && *p != s)
        p = &(*p)->next_live;
    if (*p)
        *p = s->next_live;
    s->host->fork_release(s->host);
}

/* Makes s the sink of base in this process. Returns 0, or -1 with err
 * when another sink of this process spools there. */
static int base_claim(spool_t *s, int base_fd, const char *base, char *err,
                      size_t errlen)
{
    struct stat st;
    if (fstat(base_fd, &st) != 0) {
        snprintf(err, errlen, "spool.dir '%s': %s", base, strerror(errno));
        return -1;
    }
    bool taken = false;
    s->host->fork_hold(s->host);
    for (const spool_t *o = live_spools; o && !taken; o = o->next_live)
        taken = o->claims_base && o->base_dev == st.st_dev &&
                o->base_ino == st.st_ino;
    if (!taken) {
        s->claims_base = true;
        s->base_dev = st.st_dev;
        s->base_ino = st.st_ino;
    }
    s->host->fork_release(s->host);
    if (taken)
        snprintf(err, errlen,
                 "spool.dir '%s' is in use by another sink or process (a "
                 "sink of this process): give each sink its own directory",
                 base);
    return taken ? -1 : 0;
}

/* ---- slots ---- */

/* The directory of a slot, relative to spool.dir. */
static void slot_name(char name[SLOT_NAME_LEN], int slot)
{
    if (slot == 0)
        snprintf(name, SLOT_NAME_LEN, ".");
    else
        snprintf(name, SLOT_NAME_LEN, "slot-%d", slot);
}

/* Releases the slot s has, or tried to take. */
static void slot_leave(spool_t *s)
{
    s->host->fork_hold(s->host);
    s->host->close_fd(s->host, s->lock_fd); /* releases the lock */
    s->lock_fd = -1;
    s->host->fork_release(s->host);
    if (s->dir_fd >= 0)
        close(s->dir_fd);
    s->dir_fd = -1;
}

/* Takes the lock of the slot whose directory s has open. Returns 0, 1 when
 * another process holds it, or -1 with err. */
static int slot_lock(spool_t *s, char *err, size_t errlen)
{
    /* With fork() held off, so that no child gets a copy of the lock before
     * the core knows to close it there: kept, a child would hold the slot
     * after this process is gone. */
    s->host->fork_hold(s->host);
    s->lock_fd = openat(s->dir_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    int fd = s->lock_fd;
    if (fd >= 0)
        s->host->own_fd(s->host, fd, 1);
    s->host->fork_release(s->host);
    if (fd < 0) {
        snprintf(err, errlen, "spool.dir '%s': cannot create its lock file: %s",
                 s->dir, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        return 0;
    if (errno == EWOULDBLOCK)
        return 1;
    snprintf(err, errlen, "spool.dir '%s': cannot lock it: %s", s->dir,
             strerror(errno));
    return -1;
}

/* Opens a slot of base (making its directory) and tries its lock. Returns
 * 0 when s holds the slot, 1 when another process does, or -1 with err. */
static int slot_open(spool_t *s, int base_fd, const char *base, int slot,
                     char *err, size_t errlen)
{
    char name[SLOT_NAME_LEN];
    slot_name(name, slot);
    int n = snprintf(s->dir, sizeof s->dir, "%s%s%s", base, slot ? "/" : "",
                     slot ? name : "");
    if (n < 0 || (size_t)n >= sizeof s->dir) {
        snprintf(err, errlen, "spool.dir '%s': path too long", base);
        return -1;
    }
    if (mkdirat(base_fd, name, 0750) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "spool.dir '%s': cannot create it: %s", s->dir,
                 strerror(errno));
        return -1;
    }
    s->dir_fd = openat(base_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dir_fd < 0) {
        snprintf(err, errlen, "spool.dir '%s': %s", s->dir, strerror(errno));
        return -1;
    }
    return slot_lock(s, err, errlen);
}

/* Takes the first slot that no other process holds. Returns its number, or
 * -1 with err. */
static int slot_take(spool_t *s, int base_fd, const char *base, char *err,
                     size_t errlen)
{
    for (int slot = 0; slot < SLOTS; slot++) {
        int rc = slot_open(s, base_fd, base, slot, err, errlen);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            if (slot > 0)
                s->host->log(s->host, ZMQSINK_SEV_NOTICE,
                             "spool.dir '%s' is in use by another process: "
                             "this one spools in %s",
                             base, s->dir);
            return slot;
        }
        slot_leave(s);
    }
    snprintf(err, errlen,
             "spool.dir '%s' is in use by %d other processes, as many as may "
             "share it (in it and in slot-1 to slot-%d): give some of them "
             "their own spool.dir",
             base, SLOTS, SLOTS - 1);
    return -1;
}

/* Whether a slot's directory holds batches, by a look without its lock. */
static bool slot_has_batches(int base_fd, int slot)
{
    char name[SLOT_NAME_LEN];
    slot_name(name, slot);
    DIR *dir = dir_open_at(base_fd, name);
    bool found = false;
    struct dirent *d;
    while (dir && !found && (d = readdir(dir))) {
        uint64_t id;
        found = name_id(d->d_name, ".batch", &id) == 0 ||
                name_id(d->d_name, ".tmp", &id) == 0;
    }
    if (dir)
        closedir(dir);
    return found;
}

/* Copies one batch into s as its newest, under its own key. Returns 0, or
 * -1 when it does not fit or cannot be written (after logging). */
static int batch_adopt(spool_t *s, spool_batch_t *b)
{
    b->id = spool_last_id(s) + 1;
    char header[HEADER_MAX];
    size_t header_len = (size_t)header_format(header, b);
    uint64_t size = header_len + b->body.len;
    if (spool_used(s) + size > s->max_size) {
        s->host->log(s->host, ZMQSINK_SEV_WARNING,
                     "spool %s is full (max_size %" PRIu64 " bytes): it "
                     "cannot take the batches of a process that is gone",
                     s->dir, s->max_size);
        return -1;
    }
    if (batch_write(s, b, header, header_len) != 0) {
        s->host->log(s->host, ZMQSINK_SEV_ERR,
                     "spool %s: cannot write a batch: %s", s->dir,
                     strerror(errno));
        return -1;
    }
    if (index_add(s, (entry_t){b->id, size, b->events}) != 0) {
        char name[NAME_MAX_LEN];
        batch_file(name, b->id, ".batch");
        unlinkat(s->dir_fd, name, 0); /* its id would be given again */
        s->host->log(s->host, ZMQSINK_SEV_ERR, "spool %s: out of memory",
                     s->dir);
        return -1;
    }
    return 0;
}

/* Moves the batches of a slot that no process holds into s, oldest first
 * and under their keys, while they fit. A crash between the copy and the
 * deletion leaves a batch in both: sent twice under one key, which the
 * receiver can drop. */
static void slot_adopt(spool_t *s, spool_t *orphan)
{
    spool_batch_t b = {0};
    size_t moved = 0;
    while (spool_load_oldest(orphan, &b) == 1) {
        uint64_t id = b.id;
        if (batch_adopt(s, &b) != 0)
            break;
        spool_remove(orphan, id);
        moved++;
    }
    bytes_free(&b.body);
    if (moved)
        s->host->log(s->host, ZMQSINK_SEV_NOTICE,
                     "%zu batches left in %s by a process that is gone are "
                     "moved to %s",
                     moved, orphan->dir, s->dir);
    if (spool_count(orphan) > 0)
        s->host->log(s->host, ZMQSINK_SEV_WARNING,
                     "%zu batches stay in %s for the next process that "
                     "opens this spool",
                     spool_count(orphan), orphan->dir);
}

void spool_close(spool_t **spool)
{
    spool_t *s = *spool;
    if (!s)
        return;
    spool_forget(s);
    slot_leave(s);
    free(s->entries);
    free(s);
    *spool = NULL;
}

/* Adopts the batches of every other slot that no process holds. */
static void slots_adopt(spool_t *s, int base_fd, const char *base, int mine)
{
    for (int slot = 0; slot < SLOTS; slot++) {
        if (slot == mine || !slot_has_batches(base_fd, slot))
            continue;
        char err[PATH_MAX + 128] = "out of memory";
        spool_t *orphan = spool_new(s->host, 0);
        int rc = orphan ? slot_open(orphan, base_fd, base, slot, err,
                                    sizeof err)
                        : -1;
        if (rc == 0)
            rc = spool_scan(orphan, err, sizeof err);
        if (rc == 0)
            slot_adopt(s, orphan);
        else if (rc < 0)
            s->host->log(s->host, ZMQSINK_SEV_WARNING,
                         "batches left by a process that is gone stay in "
                         "slot %d: %s",
                         slot, err);
        spool_close(&orphan);
    }
}

spool_t *spool_open(const zmqsink_host_t *host, const char *dir,
                    uint64_t max_size, char *err, size_t errlen)
{
    spool_t *s = spool_new(host, max_size);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    char base[PATH_MAX];
    int base_fd = -1, slot;
    if (host->resolve_path(host, dir, base, sizeof base) < 0) {
        snprintf(err, errlen, "spool.dir '%s': path too long", dir);
        goto fail;
    }
    if (mkdir(base, 0750) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "spool.dir '%s': cannot create it: %s", base,
                 strerror(errno));
        goto fail;
    }
    base_fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (base_fd < 0) {
        snprintf(err, errlen, "spool.dir '%s': %s", base, strerror(errno));
        goto fail;
    }
    if (base_claim(s, base_fd, base, err, errlen) != 0 ||
        (slot = slot_take(s, base_fd, base, err, errlen)) < 0 ||
        spool_scan(s, err, errlen) != 0)
        goto fail;
    dead_letters_measure(s);
    slots_adopt(s, base_fd, base, slot);
    s->run_first = spool_last_id(s) + 1;
    close(base_fd);
    return s;
fail:
    if (base_fd >= 0)
        close(base_fd);
    spool_close(&s);
    return NULL;
}

int spool_open_option(const zmqsink_host_t *host, spool_t **spool, char *err,
                      size_t errlen)
{
    *spool = NULL;
    const char *dir = host->option_string(host, "spool.dir");
    if (!dir)
        return 0;
    *spool = spool_open(host, dir,
                        (uint64_t)host->option_int(host, "spool.max_size"),
                        err, errlen);
    if (!*spool)
        return -1;
    if (spool_count(*spool) > 0)
        host->log(host, ZMQSINK_SEV_NOTICE,
                  "%zu batches from an earlier run wait in %s; they are "
                  "sent first",
                  spool_count(*spool), spool_dir(*spool));
    return 0;
}
