/* What zmqsink says of itself while it runs: losses in the log, the
 * counters in a json file, and a last word per sink at shutdown. Nothing
 * is lost silently: every drop and failure is counted by the collector and
 * the workers, and this thread makes sure the counts are said. */
#include "report.h"

#include <errno.h>
#include <stdatomic.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "format.h"
#include "log.h"
#include "worker.h"
#include "clock.h"
#include "once.h"


/* What was last said of one sink, found again by name across reloads. */
typedef struct said {
    char name[ZMQSINK_SOCKET_NAME_MAX];
    uint64_t dropped, failed; /* counts when last said */
    int64_t when_ns;          /* when last said; 0: never */
} said_t;

/* The thread starts only when there is something to say while the
 * instance runs: a stats file to write, or a loss. Until then an instance
 * runs the collector and its sinks' threads only. */
enum {
    THREAD_NONE,     /* not started; may start */
    THREAD_STARTING, /* being started (by report_start()) */
    THREAD_RUNS,
    THREAD_NEVER     /* stopped, failed to start, or the last word is
                        asked of another thread: none starts */
};

struct zs__report {
    zmqsink_t *zs;
    pthread_t thread;
    _Atomic int thread_state;
    _Atomic int stop;
    _Atomic uint32_t wake;   /* futex word: 1 asks the thread to look now
                                (a loss, a reload, the end) */
    _Atomic int idle;        /* it looks or sleeps: a loss must wake it
                                (zs__report_loss) */
    _Atomic int last_asked, last_said; /* the last word */
    _Atomic int start_error;  /* why the thread could not start: none will */
    bool began;              /* zs__report_start() succeeded: the
                                instance started, and has a last word */
    said_t said[ZS__MAX_SINKS];
    size_t nsaid;
    int64_t next_file_ns;
    bool file_failing;  /* the last write of the stats file failed */
};

/* The settings that can change with a reload: read under set_lock. */
typedef struct settings {
    char path[PATH_MAX];
    char dir[PATH_MAX];
    int64_t interval_ms;
} settings_t;

static void settings_read(zmqsink_t *zs, settings_t *s)
{
    const char *env = zs->stats_file;
    pthread_mutex_lock(&zs->set_lock);
    const zs__config_t *config = zs->config;
    s->interval_ms = config->stats_interval_ms;
    snprintf(s->dir, sizeof s->dir, "%s", env && *env ? "." : config->dir);
    snprintf(s->path, sizeof s->path, "%s",
             env && *env           ? env
             : config->stats_path ? config->stats_path
                                   : "");
    pthread_mutex_unlock(&zs->set_lock);
}

/* ---- the stats file ---- */

/* path with "{pid}" replaced, made absolute against dir. */
static int stats_path(const char *path, const char *dir, char *out,
                      size_t cap)
{
    char expanded[PATH_MAX];
    const char *at = strstr(path, "{pid}");
    int n = at ? snprintf(expanded, sizeof expanded, "%.*s%ld%s",
                          (int)(at - path), path, (long)getpid(), at + 5)
               : snprintf(expanded, sizeof expanded, "%s", path);
    if (n < 0 || (size_t)n >= sizeof expanded)
        return -1;
    n = expanded[0] == '/' ? snprintf(out, cap, "%s", expanded)
                           : snprintf(out, cap, "%s/%s", dir, expanded);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static void stats_json(FILE *f, const zmqsink_stats_t *st)
{
    char name[2 * ZMQSINK_SOCKET_NAME_MAX], type[96];
    struct timespec now;
    struct tm tm;
    char ts[32];
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(f,
            "{\"ts\":\"%s\",\"pid\":%ld,\"events\":%llu,\"filtered\":%llu,"
            "\"sockets_attached\":%llu,\"discarded_events\":%llu,"
            "\"sinks\":[",
            ts, (long)getpid(), (unsigned long long)st->events,
            (unsigned long long)st->filtered,
            (unsigned long long)st->sockets_attached,
            (unsigned long long)zmqsink_discarded_events());
    for (size_t i = 0; i < st->nsinks; i++) {
        const zmqsink_sink_stats_t *s = &st->sinks[i];
        zs__json_quote(s->name, name, sizeof name);
        zs__json_quote(s->type, type, sizeof type);
        fprintf(f,
                "%s\n {\"name\":%s,\"type\":%s,\"enqueued\":%llu,"
                "\"delivered\":%llu,\"dropped_full\":%llu,"
                "\"dropped_shutdown\":%llu,\"failed\":%llu,"
                "\"queue_depth\":%llu,\"queue_capacity\":%llu,"
                "\"pending\":%llu}",
                i ? "," : "", name, type, (unsigned long long)s->enqueued,
                (unsigned long long)s->delivered,
                (unsigned long long)s->dropped_full,
                (unsigned long long)s->dropped_shutdown,
                (unsigned long long)s->failed,
                (unsigned long long)s->queue_depth,
                (unsigned long long)s->queue_capacity,
                (unsigned long long)s->pending);
    }
    fputs("\n]}\n", f);
}

int zs__report_write_stats(const zmqsink_stats_t *stats, const char *path,
                           const char *dir, char *err, size_t errlen)
{
    char final[PATH_MAX], tmp[PATH_MAX + 32];
    if (stats_path(path, dir, final, sizeof final) != 0) {
        snprintf(err, errlen, "stats file '%s': path too long", path);
        return -1;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", final, (long)getpid());
    FILE *f = fopen(tmp, "we");
    if (!f) {
        snprintf(err, errlen, "stats file '%s': %s", final, strerror(errno));
        return -1;
    }
    stats_json(f, stats);
    int failed = ferror(f);
    if (fclose(f) != 0 || failed || rename(tmp, final) != 0) {
        snprintf(err, errlen, "stats file '%s': %s", final,
                 strerror(errno ? errno : EIO));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* Writes the file when it is due; says a failure once, and the recovery.
 * Returns when it is next due, or INT64_MAX without a file. */
static int64_t report_file(zs__report_t *r, const zmqsink_stats_t *st,
                           const settings_t *s, bool now)
{
    int64_t t = clock_now_ns();
    if (!s->path[0])
        return INT64_MAX;
    if (!now && t < r->next_file_ns)
        return r->next_file_ns;
    r->next_file_ns = t + s->interval_ms * 1000000;
    char err[PATH_MAX + 128];
    if (zs__report_write_stats(st, s->path, s->dir, err, sizeof err) != 0) {
        if (once_failed(&r->file_failing))
            zs__log(ZMQSINK_SEV_ERR, "%s (retried every %lld ms)", err,
                    (long long)s->interval_ms);
    } else if (once_recovered(&r->file_failing)) {
        zs__log(ZMQSINK_SEV_NOTICE, "stats file '%s' written again", s->path);
    }
    return r->next_file_ns;
}

/* ---- losses ---- */

static said_t *said_of(zs__report_t *r, const char *name)
{
    for (size_t i = 0; i < r->nsaid; i++)
        if (strcmp(r->said[i].name, name) == 0)
            return &r->said[i];
    if (r->nsaid == ZS__MAX_SINKS) /* names of sinks long gone: start over */
        r->nsaid = 0;
    said_t *s = &r->said[r->nsaid++];
    *s = (said_t){0};
    snprintf(s->name, sizeof s->name, "%s", name);
    return s;
}

/* A sink's first loss at once; later ones at most once per interval,
 * with the counts since the last line. Returns when losses not yet said
 * may be, or INT64_MAX when every loss was said. */
static int64_t report_losses(zs__report_t *r, const zmqsink_stats_t *st,
                             const settings_t *s)
{
    int64_t now = clock_now_ns(), due = INT64_MAX;
    int64_t interval_ns = s->interval_ms * 1000000;
    for (size_t i = 0; i < st->nsinks; i++) {
        const zmqsink_sink_stats_t *sink = &st->sinks[i];
        said_t *said = said_of(r, sink->name);
        uint64_t dropped = sink->dropped_full, failed = sink->failed;
        if (dropped < said->dropped || failed < said->failed)
            said->dropped = said->failed = 0; /* a new sink of that name */
        uint64_t new_dropped = dropped - said->dropped;
        uint64_t new_failed = failed - said->failed;
        if (new_dropped + new_failed == 0)
            continue;
        if (said->when_ns == 0)
            zs__log(ZMQSINK_SEV_WARNING,
                    "sink '%s': lost %llu events: %llu dropped (queue of %llu "
                    "full), %llu failed; further losses are logged at most "
                    "every %lld ms",
                    sink->name, (unsigned long long)(new_dropped + new_failed),
                    (unsigned long long)new_dropped,
                    (unsigned long long)sink->queue_capacity,
                    (unsigned long long)new_failed, (long long)s->interval_ms);
        else if (now - said->when_ns >= interval_ns)
            zs__log(ZMQSINK_SEV_WARNING,
                    "sink '%s': lost %llu more events: %llu dropped (queue "
                    "full), %llu failed; %llu dropped and %llu failed in all",
                    sink->name, (unsigned long long)(new_dropped + new_failed),
                    (unsigned long long)new_dropped,
                    (unsigned long long)new_failed,
                    (unsigned long long)dropped, (unsigned long long)failed);
        else {
            if (said->when_ns + interval_ns < due)
                due = said->when_ns + interval_ns;
            continue;
        }
        said->dropped = dropped;
        said->failed = failed;
        said->when_ns = now;
    }
    return due;
}

/* One line for each sink that lost anything. What a sink still holds, in
 * its ring or its plugin (one stuck there), will not be delivered either.
 * First, if the report thread could not start, that losses were not said
 * as they happened. */
static void report_summary(const zs__report_t *r, const zmqsink_stats_t *st)
{
    int start_error = atomic_load(&r->start_error);
    if (start_error)
        zs__log(ZMQSINK_SEV_ERR,
                "the thread that says losses as they happen could not start "
                "(%s): they were counted, and are said here",
                strerror(start_error));
    for (size_t i = 0; i < st->nsinks; i++) {
        const zmqsink_sink_stats_t *s = &st->sinks[i];
        uint64_t undelivered = s->dropped_shutdown + s->queue_depth + s->pending;
        if (s->dropped_full + undelivered + s->failed == 0)
            continue;
        zs__log(ZMQSINK_SEV_WARNING,
                "sink '%s': %llu events delivered, %llu dropped (queue full), "
                "%llu not delivered within shutdown_timeout, %llu failed",
                s->name, (unsigned long long)s->delivered,
                (unsigned long long)s->dropped_full,
                (unsigned long long)undelivered,
                (unsigned long long)s->failed);
    }
}

static void report_wake(zs__report_t *r)
{
    if (atomic_exchange(&r->wake, 1) == 0)
        zs__futex_wake(&r->wake);
}

/* One look: says the losses and writes the file as they are due. Returns
 * when the next look is due; INT64_MAX: only when poked. *held: losses
 * wait to be said (at most one line per sink per interval). */
static int64_t report_look(zs__report_t *r, bool last, bool *held)
{
    zs__stats_t all;
    zmqsink_stats_t *st = zs__stats_init(&all);
    settings_t s;
    zmqsink_stats(r->zs, st);
    settings_read(r->zs, &s);
    int64_t losses_due = report_losses(r, st, &s);
    int64_t file_due = report_file(r, st, &s, last);
    *held = losses_due != INT64_MAX;
    if (last) {
        report_summary(r, st);
        atomic_store(&r->last_said, 1);
    }
    return losses_due < file_due ? losses_due : file_due;
}

/* Sleeps until a look is due: never, without a stats file and with every
 * loss said, until a new loss, a reload or the end pokes it. */
static void *report_main(void *arg)
{
    zs__report_t *r = arg;
    while (!atomic_load(&r->stop)) {
        /* A loss counted from here on wakes the thread (zs__report_loss),
         * also while a stats file is due later; one counted before is in
         * the counters this look reads. Not while losses wait for their
         * time: more of them then wake nobody. */
        atomic_store(&r->idle, 1);
        atomic_thread_fence(memory_order_seq_cst);
        bool last = atomic_load(&r->last_asked), held;
        int64_t due = report_look(r, last, &held);
        if (last)
            break;
        if (held)
            atomic_store(&r->idle, 0);
        int64_t now = clock_now_ns();
        if (due > now)
            zs__futex_wait(&r->wake, 0,
                           due == INT64_MAX ? INT64_MAX : due - now);
        atomic_store(&r->wake, 0);
        atomic_store(&r->idle, 0);
    }
    return NULL;
}

/* Starts the thread unless it runs, is being started or may not start.
 * Returns 0, or the error of pthread_create() (then none starts). */
static int report_start(zs__report_t *r)
{
    int none = THREAD_NONE;
    if (!atomic_compare_exchange_strong(&r->thread_state, &none,
                                        THREAD_STARTING))
        return 0;
    int rc = zs__thread_create(&r->thread, "zs-report", report_main, r);
    if (rc != 0)
        atomic_store(&r->start_error, rc);
    atomic_store(&r->thread_state, rc == 0 ? THREAD_RUNS : THREAD_NEVER);
    return rc;
}

/* Whether the settings name a stats file, written by the thread. */
static bool report_has_file(zmqsink_t *zs)
{
    settings_t s;
    settings_read(zs, &s);
    return s.path[0] != '\0';
}

zs__report_t *zs__report_new(zmqsink_t *zs)
{
    zs__report_t *r = calloc(1, sizeof *r);
    if (r)
        r->zs = zs;
    return r;
}

int zs__report_start(zs__report_t *r, char *err, size_t errlen)
{
    int rc = report_has_file(r->zs) ? report_start(r) : 0;
    if (rc != 0) {
        snprintf(err, errlen, "cannot start a thread: %s", strerror(rc));
        return -1;
    }
    r->began = true;
    return 0;
}

void zs__report_poke(zs__report_t *r)
{
    int rc = 0;
    if (report_has_file(r->zs)) {
        if (atomic_load(&r->thread_state) == THREAD_NONE)
            rc = report_start(r);
        else
            rc = atomic_load(&r->start_error); /* an earlier try failed */
    }
    if (rc != 0)
        zs__log(ZMQSINK_SEV_ERR,
                "the stats file is not written while the program runs: the "
                "thread that writes it could not start (%s)",
                strerror(rc));
    report_wake(r);
}

void zs__report_loss(zs__report_t *r)
{
    if (atomic_load_explicit(&r->thread_state, memory_order_relaxed) ==
        THREAD_NONE) {
        /* Its first look says the loss. Once per instance, on the
         * thread that counted it (the collector's too); a failure is said
         * with the last word, never logged from here. */
        report_start(r);
        return;
    }
    /* Pairs with the fence in report_main(): either the thread sees the
     * loss in the counters, or this side sees it idle. */
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&r->idle, memory_order_relaxed) &&
        atomic_exchange(&r->idle, 0))
        report_wake(r);
}

bool zs__report_ask_last(zs__report_t *r, int64_t deadline_ns)
{
    if (atomic_exchange(&r->last_asked, 1))
        return true; /* asked before: whoever was asked says it */
    int state = atomic_load(&r->thread_state);
    for (;;) {
        if (state == THREAD_STARTING) { /* in report_start() elsewhere */
            if (clock_now_ns() >= deadline_ns)
                return false; /* stuck there (on a lock the interrupted
                                 thread holds?): ask another */
            state = atomic_load(&r->thread_state);
        } else if (state != THREAD_NONE ||
                   atomic_compare_exchange_weak(&r->thread_state, &state,
                                                THREAD_NEVER)) {
            break;
        }
    }
    if (state != THREAD_RUNS)
        return false;
    report_wake(r);
    return true;
}

void zs__report_say_last(zs__report_t *r)
{
    bool held;
    report_look(r, true, &held);
}

void zs__report_wait_last(zs__report_t *r, int64_t deadline_ns)
{
    while (!atomic_load(&r->last_said) && clock_now_ns() < deadline_ns)
        zs__pause();
}

void zs__report_stop(zs__report_t *r)
{
    atomic_store(&r->stop, 1);
    int state = atomic_load(&r->thread_state);
    for (;;) {
        if (state == THREAD_STARTING) {
            zs__pause();
            state = atomic_load(&r->thread_state);
        } else if (atomic_compare_exchange_weak(&r->thread_state, &state,
                                                THREAD_NEVER)) {
            break;
        }
    }
    if (state == THREAD_RUNS) {
        report_wake(r);
        pthread_join(r->thread, NULL);
    }
}

void zs__report_finish(zs__report_t *r, const zmqsink_stats_t *final)
{
    if (!r)
        return;
    zs__report_stop(r);
    if (final && r->began) {
        settings_t s;
        settings_read(r->zs, &s);
        report_file(r, final, &s, true);
        report_summary(r, final);
    }
}
