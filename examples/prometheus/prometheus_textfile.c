/* Prometheus textfile sink: counts socket monitor events per socket and
 * event, and the lifetimes of the connections that ended, and rewrites them
 * every `interval` as a file in Prometheus' text format for node_exporter's
 * textfile collector. Built outside the zmqsink tree: see the Makefile.
 *
 *   zmqsink_events_total{socket="frontend",event="disconnected"} 3
 *   zmqsink_connection_duration_seconds_sum{socket="frontend"} 12.5
 *   zmqsink_connection_duration_seconds_count{socket="frontend"} 3
 *   zmqsink_sink_dropped_total{sink="events"} 0
 *
 * Every callback runs on this sink's own thread, so nothing here locks. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmqsink/plugin.h>

/* The counters of one socket, found by its name. */
typedef struct socket_counts {
    char name[ZMQSINK_SOCKET_NAME_MAX];
    uint64_t events[ZMQSINK_EVENT_TYPES]; /* by type index, 0..14 */
    uint64_t ended;                        /* connections of known lifetime */
    double lifetime_s;                     /* their lifetimes, summed */
} socket_counts_t;

typedef struct prom {
    const zmqsink_host_t *host;
    char path[4096];        /* the .prom file */
    char tmp[4096 + 64];    /* written first, then renamed over path */
    const char *prefix;     /* metric name prefix */
    char *labels;           /* constant labels, rendered: `app="x",` */
    int64_t interval_ns;
    size_t max_sockets;
    socket_counts_t *sockets;
    size_t nsockets, capacity;
    socket_counts_t other;  /* the sockets past max_sockets */
    bool failing;           /* the last write failed (logged once) */
} prom_t;

/* Whether text is a Prometheus name: [a-zA-Z_] then [a-zA-Z0-9_], and ':'
 * too when colons is true (metric names, not label names). */
static bool name_valid(const char *text, bool colons)
{
    if (!*text)
        return false;
    for (const char *c = text; *c; c++) {
        bool letter = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                      *c == '_' || (colons && *c == ':');
        if (!letter && !(c > text && *c >= '0' && *c <= '9'))
            return false;
    }
    return true;
}

/* Writes a label value with backslash, double quote and newline escaped,
 * as the format asks. */
static void label_value_put(FILE *out, const char *value)
{
    for (const char *c = value; *c; c++) {
        if (*c == '\\' || *c == '"')
            fprintf(out, "\\%c", *c);
        else if (*c == '\n')
            fputs("\\n", out);
        else
            fputc(*c, out);
    }
}

/* Renders the `labels:` option once, as `name="value",` pairs to put in
 * front of every series. Returns 0, or -1 with the reason in err. */
static int labels_render(prom_t *p, char *err, size_t len)
{
    const char *const *keys, *const *values;
    size_t n = p->host->option_map(p->host, "labels", &keys, &values);
    size_t size = 0;
    FILE *out = open_memstream(&p->labels, &size);
    if (!out) {
        snprintf(err, len, "out of memory");
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (!name_valid(keys[i], false) || strncmp(keys[i], "__", 2) == 0 ||
            !strcmp(keys[i], "socket") || !strcmp(keys[i], "event") ||
            !strcmp(keys[i], "sink")) {
            snprintf(err, len,
                     "labels: '%s' is not a label name this sink can add "
                     "([a-zA-Z_][a-zA-Z0-9_]*, not __*, socket, event or "
                     "sink)",
                     keys[i]);
            rc = -1;
            break;
        }
        fprintf(out, "%s=\"", keys[i]);
        label_value_put(out, values[i]);
        fputs("\",", out);
    }
    fclose(out);
    return rc;
}

/* The counters of the socket called name, added if new; past max_sockets
 * every new name shares one entry, socket="_other". */
static socket_counts_t *socket_find(prom_t *p, const char *name)
{
    for (size_t i = 0; i < p->nsockets; i++)
        if (strcmp(p->sockets[i].name, name) == 0)
            return &p->sockets[i];
    if (p->nsockets == p->max_sockets)
        return &p->other;
    if (p->nsockets == p->capacity) {
        size_t capacity = p->capacity ? 2 * p->capacity : 16;
        socket_counts_t *grown =
            realloc(p->sockets, capacity * sizeof *p->sockets);
        if (!grown)
            return &p->other;
        p->sockets = grown;
        p->capacity = capacity;
    }
    socket_counts_t *s = &p->sockets[p->nsockets++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    return s;
}

/* One sample line: PREFIX_METRIC{labels} value. */
static void sample_put(const prom_t *p, FILE *out, const char *metric,
                       const char *socket, const char *event, double value)
{
    fprintf(out, "%s_%s{%s", p->prefix, metric, p->labels);
    fputs("socket=\"", out);
    label_value_put(out, socket);
    fputc('"', out);
    if (event)
        fprintf(out, ",event=\"%s\"", event);
    fprintf(out, "} %.17g\n", value);
}

/* The event counters of one socket: the types seen at least once. */
static void events_put(const prom_t *p, FILE *out, const socket_counts_t *s)
{
    for (int i = 0; i < ZMQSINK_EVENT_TYPES; i++)
        if (s->events[i])
            sample_put(p, out, "events_total", s->name,
                       zmqsink_event_name(1u << i), (double)s->events[i]);
}

/* The lifetimes of one socket's connections, once one has ended. */
static void lifetimes_put(const prom_t *p, FILE *out, const socket_counts_t *s)
{
    if (!s->ended)
        return;
    sample_put(p, out, "connection_duration_seconds_sum", s->name, NULL,
               s->lifetime_s);
    sample_put(p, out, "connection_duration_seconds_count", s->name, NULL,
               (double)s->ended);
}

typedef void socket_put_fn(const prom_t *p, FILE *out,
                           const socket_counts_t *s);

/* One family: its HELP and TYPE, then put() for every socket. */
static void family_put(const prom_t *p, FILE *out, const char *metric,
                       const char *type, const char *help, socket_put_fn *put)
{
    fprintf(out, "# HELP %s_%s %s\n# TYPE %s_%s %s\n", p->prefix, metric, help,
            p->prefix, metric, type);
    for (size_t i = 0; put && i < p->nsockets; i++)
        put(p, out, &p->sockets[i]);
    if (put)
        put(p, out, &p->other);
}

/* The drop counter of every sink of this zmqsink, from the core. */
static void drops_put(const prom_t *p, FILE *out)
{
    const char *name;
    uint64_t dropped;
    for (size_t i = 0; i < p->host->sink_drops(p->host, i, &name, &dropped);
         i++) {
        fprintf(out, "%s_sink_dropped_total{%ssink=\"", p->prefix, p->labels);
        label_value_put(out, name);
        fprintf(out, "\"} %llu\n", (unsigned long long)dropped);
    }
}

/* Everything, in the text exposition format. */
static void metrics_put(const prom_t *p, FILE *out)
{
    family_put(p, out, "events_total", "counter",
               "ZeroMQ socket monitor events, by socket and event.",
               events_put);
    family_put(p, out, "connection_duration_seconds", "summary",
               "Lifetime of the connections that ended, by socket.",
               lifetimes_put);
    family_put(p, out, "sink_dropped_total", "counter",
               "Events a zmqsink sink lost: its queue was full, or they "
               "were undelivered at shutdown.",
               NULL);
    drops_put(p, out);
}

/* Writes the file whole under a temporary name and renames it over path,
 * so that node_exporter never reads half of it. Returns 0, or -1 with the
 * reason in err. */
static int file_write(const prom_t *p, char *err, size_t len)
{
    FILE *out = fopen(p->tmp, "w");
    if (!out) {
        snprintf(err, len, "cannot write '%s': %s", p->path, strerror(errno));
        return -1;
    }
    errno = 0;
    metrics_put(p, out);
    bool written = !ferror(out);
    if (fclose(out) != 0 || !written) {
        snprintf(err, len, "cannot write '%s': %s", p->tmp,
                 strerror(errno ? errno : EIO));
        unlink(p->tmp);
        return -1;
    }
    if (rename(p->tmp, p->path) != 0) {
        snprintf(err, len, "cannot rename '%s' to '%s': %s", p->tmp, p->path,
                 strerror(errno));
        unlink(p->tmp);
        return -1;
    }
    return 0;
}

/* file_write() for tick, flush and reopen: logs the first failure and the
 * recovery, not every attempt. Returns 0 or -1. */
static int file_update(prom_t *p)
{
    char err[8400];
    int rc = file_write(p, err, sizeof err);
    if (rc != 0 && !p->failing)
        p->host->log(p->host, ZMQSINK_SEV_ERR, "%s (retrying every tick)",
                     err);
    else if (rc == 0 && p->failing)
        p->host->log(p->host, ZMQSINK_SEV_NOTICE, "'%s' written again",
                     p->path);
    p->failing = rc != 0;
    return rc;
}

/* Frees everything; the file stays for node_exporter to read. */
static void prom_close(void *state)
{
    prom_t *p = state;
    free(p->sockets);
    free(p->labels);
    free(p);
}

/* Reads and checks the options. Returns 0, or -1 with the reason in err. */
static int options_read(prom_t *p, char *err, size_t len)
{
    const zmqsink_host_t *host = p->host;
    const char *path = host->option_string(host, "path");
    if (path[0] == '/')
        snprintf(p->path, sizeof p->path, "%s", path);
    else
        snprintf(p->path, sizeof p->path, "%s/%s", host->config_dir, path);
    /* Unique per instance: after zmqsink_reload() the old and the new
     * instance of a changed sink write for a moment side by side. */
    snprintf(p->tmp, sizeof p->tmp, "%s.%ld-%lx.tmp", p->path, (long)getpid(),
             (unsigned long)(uintptr_t)p);
    p->interval_ns = host->option_int(host, "interval") * 1000000;
    p->max_sockets = (size_t)host->option_int(host, "max_sockets");
    p->prefix = host->option_string(host, "prefix");
    if (!name_valid(p->prefix, true)) {
        snprintf(err, len,
                 "prefix: '%s' is not a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)",
                 p->prefix);
        return -1;
    }
    return labels_render(p, err, len);
}

/* Reads the options and writes the file once, so that a directory that
 * does not exist or cannot be written stops zmqsink at start. */
static void *prom_open(const zmqsink_host_t *host, char *err, size_t len)
{
    prom_t *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, len, "out of memory");
        return NULL;
    }
    p->host = host;
    snprintf(p->other.name, sizeof p->other.name, "_other");
    if (options_read(p, err, len) != 0 || file_write(p, err, len) != 0) {
        prom_close(p);
        return NULL;
    }
    size_t n = strlen(p->path);
    if (n < 5 || strcmp(p->path + n - 5, ".prom") != 0)
        host->log(host, ZMQSINK_SEV_WARNING,
                  "'%s' does not end in .prom: node_exporter's textfile "
                  "collector reads only *.prom files",
                  p->path);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    host->tick_at(host, (int64_t)now.tv_sec * 1000000000 + now.tv_nsec +
                            p->interval_ns);
    return p;
}

/* Counts the events; nothing here can fail, so all are taken. */
static zmqsink_write_result_t prom_write(void *state,
                                         const zmqsink_event_t *events,
                                         size_t n)
{
    prom_t *p = state;
    socket_counts_t *s = NULL;
    for (size_t i = 0; i < n; i++) {
        const zmqsink_event_t *e = &events[i];
        if (e->type & ~ZMQSINK_EVENT_ALL)
            continue; /* a type newer than these headers: no slot for it */
        if (!s || strcmp(s->name, e->socket) != 0)
            s = socket_find(p, e->socket);
        s->events[__builtin_ctz(e->type)]++;
        if (e->duration_ms >= 0) {
            s->ended++;
            s->lifetime_s += (double)e->duration_ms / 1000.0;
        }
    }
    return ZMQSINK_WRITE_OK;
}

/* Rewrites the file every interval, changed or not: its modification time
 * (node_textfile_mtime_seconds) then shows that zmqsink is alive. The
 * plugin asks for each tick (ZMQSINK_PLUGIN_TICKS_ON_REQUEST), so its
 * thread sleeps in between. */
static void prom_tick(void *state, int64_t now_ns)
{
    prom_t *p = state;
    file_update(p);
    p->host->tick_at(p->host, now_ns + p->interval_ns);
}

/* The final counts at shutdown. Events are never held back, so none is
 * lost here. */
static uint64_t prom_flush(void *state, int64_t deadline_ns)
{
    (void)deadline_ns;
    file_update(state);
    return 0;
}

/* On SIGHUP (zmqsink_reopen()): writes at once, in case the file was
 * removed. */
static int prom_reopen(void *state)
{
    return file_update(state);
}

static const zmqsink_option_t prom_options[] = {
    {.key = "path", .type = ZMQSINK_OPT_STRING, .required = 1,
     .help = "the .prom file, in node_exporter's "
             "--collector.textfile.directory; relative to the config file"},
    {.key = "interval", .type = ZMQSINK_OPT_DURATION, .fallback = "15s",
     .min = 100, .max = 3600 * 1000,
     .help = "how often the file is rewritten"},
    {.key = "prefix", .type = ZMQSINK_OPT_STRING, .fallback = "zmqsink",
     .help = "metric name prefix"},
    {.key = "labels", .type = ZMQSINK_OPT_MAP,
     .help = "constant labels on every series, e.g. { service: billing }"},
    {.key = "max_sockets", .type = ZMQSINK_OPT_INT, .fallback = "1000",
     .min = 1, .max = 1000000,
     .help = "sockets counted by name; later ones count as socket=\"_other\""},
    {0},
};

static const zmqsink_plugin_t prom_plugin = {
    ZMQSINK_PLUGIN_DESCRIPTOR_INIT,
    .name = "prometheus_textfile",
    .description = "event counters for node_exporter's textfile collector",
    .options = prom_options,
    .open = prom_open,
    .write = prom_write,
    .tick = prom_tick,
    .flush = prom_flush,
    .reopen = prom_reopen,
    .close = prom_close,
    .flags = ZMQSINK_PLUGIN_TICKS_ON_REQUEST,
};

ZMQSINK_PLUGIN_EXPORT const zmqsink_plugin_t *zmqsink_plugin_entry(void)
{
    return &prom_plugin;
}
