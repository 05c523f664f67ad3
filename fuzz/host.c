/* The host table of the fuzz targets. */
#include "host.h"

#include <stdarg.h>
#include <stdio.h>

#include "fork.h"
#include "format.h"
#include "path.h"

/* Formats every line, so that a bad argument to the log shows, and keeps
 * none. */
static void host_log(const zmqsink_host_t *host, zmqsink_severity_t severity,
                     const char *fmt, ...)
{
    char line[1024];
    va_list args;
    va_start(args, fmt);
    vsnprintf(line, sizeof line, fmt, args);
    va_end(args);
}

static void host_count_failed(const zmqsink_host_t *host, uint64_t n,
                              const char *reason)
{
}

static void host_count_delivered(const zmqsink_host_t *host, uint64_t n)
{
}

static void host_fork_hold(const zmqsink_host_t *host)
{
}

static void host_tick_at(const zmqsink_host_t *host, int64_t when_ns)
{
}

const zmqsink_host_t *fuzz_host(const char *config_dir)
{
    static zmqsink_host_t host;
    host = (zmqsink_host_t){
        .abi_major = ZMQSINK_PLUGIN_ABI_MAJOR,
        .abi_minor = ZMQSINK_PLUGIN_ABI_MINOR,
        .sink_name = "fuzz",
        .config_dir = config_dir,
        .format = zs__format_service,
        .log = host_log,
        .count_failed = host_count_failed,
        .fork_hold = host_fork_hold,
        .fork_release = host_fork_hold,
        .resolve_path = zs__resolve_path,
        .host_name = zs__host_name(),
        .count_delivered = host_count_delivered,
        .tick_at = host_tick_at,
        .own_fd = zs__host_own_fd,
        .close_fd = zs__host_close_fd,
    };
    return &host;
}
