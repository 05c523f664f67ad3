/* The services the core hands each sink's plugin (its zmqsink_host_t). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "address.h"
#include "collector.h"
#include "fork.h"
#include "format.h"
#include "internal.h"
#include "log.h"
#include "path.h"
#include "sinkset.h"
#include "worker.h"

/* The sink's options, for reading key with accessor; a plugin asking for
 * a key its table does not declare, or as another type, gets the empty
 * value and an error in the log, never a crash in the application. */
static const zs__options_t *host_options(const zmqsink_host_t *host,
                                         const char *key,
                                         zs__accessor_t accessor)
{
    const zs__options_t *o = zs__sink_of_host(host)->options;
    const char *why = zs__options_misuse(o, key, accessor);
    if (why)
        zs__log(ZMQSINK_SEV_ERR,
                "sink '%s': its plugin asked for option '%s', but %s: a bug "
                "in the plugin; it gets no value",
                host->sink_name, key ? key : "(null)", why);
    return o;
}

static const char *host_option_string(const zmqsink_host_t *host,
                                      const char *key)
{
    return zs__options_string(host_options(host, key, ZS__ACCESS_STRING), key);
}

static int64_t host_option_int(const zmqsink_host_t *host, const char *key)
{
    return zs__options_int(host_options(host, key, ZS__ACCESS_INT), key);
}

static size_t host_option_list(const zmqsink_host_t *host, const char *key,
                               const char *const **items)
{
    return zs__options_list(host_options(host, key, ZS__ACCESS_LIST), key,
                            items);
}

static size_t host_option_map(const zmqsink_host_t *host, const char *key,
                              const char *const **keys,
                              const char *const **values)
{
    return zs__options_map(host_options(host, key, ZS__ACCESS_MAP), key, keys,
                           values);
}

static int host_option_is_set(const zmqsink_host_t *host, const char *key)
{
    return zs__options_is_set(host_options(host, key, ZS__ACCESS_ANY), key);
}

static void host_log(const zmqsink_host_t *host, zmqsink_severity_t severity,
                     const char *fmt, ...)
{
    char prefix[96];
    snprintf(prefix, sizeof prefix, "sink '%s'", host->sink_name);
    va_list args;
    va_start(args, fmt);
    zs__logv(severity, prefix, fmt, args);
    va_end(args);
}

static void host_count_failed(const zmqsink_host_t *host, uint64_t n,
                              const char *reason)
{
    zs__sink_t *sink = zs__sink_of_host(host);
    zs__sink_count_lost(sink, n, &sink->failed);
    zs__log(ZMQSINK_SEV_DEBUG, "sink '%s': %llu events failed: %s",
            host->sink_name, (unsigned long long)n, reason);
}

/* Ignored for a plugin whose write() returning OK counted them already. */
static void host_count_delivered(const zmqsink_host_t *host, uint64_t n)
{
    zs__sink_t *sink = zs__sink_of_host(host);
    if (zs__sink_counts_delivered(sink))
        zs__sink_count_delivered(sink, n);
}

static void host_tick_at(const zmqsink_host_t *host, int64_t when_ns)
{
    zs__sink_request_tick(zs__sink_of_host(host), when_ns);
}

/* The counters of the instance's sink at index, now; the name is copied
 * into the asking sink, so that it outlives a reload that frees the one
 * named. Returns the number of sinks. */
static size_t sink_at(const zmqsink_host_t *host, size_t index,
                      const char **name, zmqsink_counters_t *out)
{
    zs__sink_t *self = zs__sink_of_host(host);
    zmqsink_t *zs = self->owner;
    pthread_mutex_lock(&zs->set_lock);
    const zs__sinkset_t *set = zs->set;
    size_t n = set ? set->n : 0;
    if (index < n) {
        const zs__sink_t *sink = set->sinks[index];
        zmqsink_sink_stats_t st;
        zs__sink_stats(sink, &st);
        snprintf(self->drops_name, sizeof self->drops_name, "%s", sink->name);
        *name = self->drops_name;
        *out = (zmqsink_counters_t){
            .delivered = st.delivered,
            .pending = st.pending,
            .queued = st.queue_depth,
            .failed = st.failed,
            .dropped = st.dropped_full + st.dropped_shutdown,
        };
    }
    pthread_mutex_unlock(&zs->set_lock);
    return n;
}

static size_t host_sink_drops(const zmqsink_host_t *host, size_t index,
                              const char **name, uint64_t *dropped)
{
    zmqsink_counters_t counters;
    size_t n = sink_at(host, index, name, &counters);
    if (index < n)
        *dropped = counters.dropped;
    return n;
}

static uint64_t host_sockets_attached(const zmqsink_host_t *host)
{
    zmqsink_t *zs = zs__sink_of_host(host)->owner;
    pthread_mutex_lock(&zs->set_lock);
    uint64_t n = zs__sockets_attached(zs);
    pthread_mutex_unlock(&zs->set_lock);
    return n;
}

/* resolve_address: a plugin built before ABI 1.8 knows only -1, and its
 * message names the address. */
static int host_resolve_address(const zmqsink_host_t *host,
                                const char *address, const char *default_port,
                                int socktype, struct sockaddr_storage *addr,
                                socklen_t *addr_len, char *err, size_t errlen)
{
    int rc = zs__resolve_address(host, address, default_port, socktype, addr,
                                 addr_len, err, errlen);
    const zmqsink_plugin_t *desc = zs__sink_of_host(host)->plugin.desc;
    if (rc != ZMQSINK_ADDRESS_UNRESOLVED || (desc && desc->abi_minor >= 8))
        return rc;
    char why[512];
    snprintf(why, sizeof why, "%s", err);
    snprintf(err, errlen, "address '%s': %s", address, why);
    return -1;
}

/* Whether this process is a child (forked or executed) of the one that
 * `zmqsink run` started: run names that one in $ZMQSINK_RUN_PID. */
int zs__child_process(void)
{
    const char *run_pid = getenv("ZMQSINK_RUN_PID");
    return run_pid && *run_pid && atol(run_pid) != (long)getpid();
}

void zs__host_init(zs__sink_t *sink)
{
    sink->host = (zmqsink_host_t){
        .abi_major = ZMQSINK_PLUGIN_ABI_MAJOR,
        .abi_minor = ZMQSINK_PLUGIN_ABI_MINOR,
        .sink_name = sink->name,
        .config_dir = sink->config_dir,
        .option_string = host_option_string,
        .option_int = host_option_int,
        .option_list = host_option_list,
        .option_map = host_option_map,
        .option_is_set = host_option_is_set,
        .format = zs__format_service,
        .log = host_log,
        .count_failed = host_count_failed,
        .sink_drops = host_sink_drops,
        .resolve_address = host_resolve_address,
        .child_process = zs__child_process(),
        .fork_hold = zs__host_fork_hold,
        .fork_release = zs__host_fork_release,
        .resolve_path = zs__resolve_path,
        .host_name = zs__host_name(),
        .count_delivered = host_count_delivered,
        .sink_counters = sink_at,
        .tick_at = host_tick_at,
        .own_fd = zs__host_own_fd,
        .close_fd = zs__host_close_fd,
        .sockets_attached = host_sockets_attached,
    };
}
