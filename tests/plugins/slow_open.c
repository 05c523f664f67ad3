/* Test plugin whose open() blocks until a file appears, like a sink stuck
 * on a slow DNS lookup or a large spool; once open it appends each event
 * as a json line to a file. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmqsink/plugin.h>

typedef struct slow_open {
    const zmqsink_host_t *host;
    int fd;
} slow_open_t;

static void *slow_open_open(const zmqsink_host_t *host, char *err, size_t len)
{
    const char *release = host->option_string(host, "release_file");
    const char *path = host->option_string(host, "path");
    int64_t max_wait = host->option_int(host, "max_wait");
    struct timespec pause = {0, 10 * 1000 * 1000};
    for (int64_t waited = 0; access(release, F_OK) != 0 && waited < max_wait;
         waited += 10)
        nanosleep(&pause, NULL);
    slow_open_t *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, len, "out of memory");
        return NULL;
    }
    s->host = host;
    s->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (s->fd < 0) {
        snprintf(err, len, "cannot open '%s'", path);
        free(s);
        return NULL;
    }
    return s;
}

static zmqsink_write_result_t slow_open_write(void *state,
                                              const zmqsink_event_t *events,
                                              size_t n)
{
    const slow_open_t *s = state;
    for (size_t i = 0; i < n; i++) {
        char line[2048];
        size_t len = s->host->format(ZMQSINK_FORMAT_JSON, &events[i], line,
                                     sizeof line - 1);
        if (len >= sizeof line - 1)
            len = sizeof line - 2;
        line[len++] = '\n';
        if (write(s->fd, line, len) != (ssize_t)len)
            return ZMQSINK_WRITE_FAILED;
    }
    return ZMQSINK_WRITE_OK;
}

static void slow_open_close(void *state)
{
    slow_open_t *s = state;
    close(s->fd);
    free(s);
}

static const zmqsink_option_t slow_open_options[] = {
    {.key = "release_file", .type = ZMQSINK_OPT_STRING, .required = 1,
     .help = "open() returns once this file exists"},
    {.key = "path", .type = ZMQSINK_OPT_STRING, .required = 1,
     .help = "json lines of the events go here"},
    {.key = "max_wait", .type = ZMQSINK_OPT_DURATION, .fallback = "60s",
     .help = "upper bound on open(), so a broken test cannot hang"},
    {0},
};

static const zmqsink_plugin_t slow_open_plugin = {
    ZMQSINK_PLUGIN_DESCRIPTOR_INIT,
    .name = "slow_open",
    .description = "opens once released, then writes json lines (tests)",
    .options = slow_open_options,
    .open = slow_open_open,
    .write = slow_open_write,
    .close = slow_open_close,
};

ZMQSINK_PLUGIN_EXPORT const zmqsink_plugin_t *zmqsink_plugin_entry(void)
{
    return &slow_open_plugin;
}
