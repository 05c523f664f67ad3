/* A plugin driven directly, without the core's pipeline: loaded by hand,
 * given a host table whose option values the test chooses and whose
 * services record what the plugin did. */
#include "plugin_host.h"

#include <criterion/criterion.h>
#include <dlfcn.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "clock.h"
#include "config.h"
#include "fork.h"
#include "format.h"
#include "helpers.h"
#include "loader.h"
#include "path.h"

const zmqsink_plugin_t *th_plugin_load(const char *name, void **handle)
{
    char *path = th_plugin_path(name);
    *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(*handle, "%s: %s", path, dlerror());
    free(path);
    zmqsink_plugin_entry_fn entry;
    *(void **)&entry = dlsym(*handle, ZMQSINK_PLUGIN_ENTRY_SYMBOL);
    cr_assert_not_null(entry);
    return entry();
}

th_option_t *th_plugin_option(th_plugin_host_t *h, const char *key)
{
    bool declared = false;
    for (const zmqsink_option_t *o = h->plugin->options; o && o->key; o++)
        declared |= strcmp(o->key, key) == 0;
    cr_assert(declared, "the plugin asked for undeclared option '%s'", key);
    for (size_t i = 0; i < TH_MAX_OPTIONS && h->options[i].key; i++)
        if (strcmp(h->options[i].key, key) == 0)
            return &h->options[i];
    cr_assert_fail("option '%s' missing from the test host", key);
    return NULL;
}

void th_plugin_set_option(th_plugin_host_t *h, const char *key,
                          const char *text, int64_t number)
{
    th_option_t *o = th_plugin_option(h, key);
    o->text = text;
    o->number = number;
    o->set = true;
}

static th_plugin_host_t *host_of(const zmqsink_host_t *host)
{
    return (th_plugin_host_t *)host;
}

static const char *host_option_string(const zmqsink_host_t *host,
                                      const char *key)
{
    return th_plugin_option(host_of(host), key)->text;
}

static int64_t host_option_int(const zmqsink_host_t *host, const char *key)
{
    return th_plugin_option(host_of(host), key)->number;
}

static int host_option_is_set(const zmqsink_host_t *host, const char *key)
{
    return th_plugin_option(host_of(host), key)->set;
}

static size_t host_option_map(const zmqsink_host_t *host, const char *key,
                              const char *const **keys,
                              const char *const **values)
{
    th_plugin_host_t *h = host_of(host);
    th_plugin_option(h, key);
    *keys = h->map_keys;
    *values = h->map_values;
    return h->map_n;
}

static void host_log(const zmqsink_host_t *host, zmqsink_severity_t severity,
                     const char *fmt, ...)
{
    th_plugin_host_t *h = host_of(host);
    (void)severity;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->last_log, sizeof h->last_log, fmt, ap);
    va_end(ap);
    h->logs++;
    size_t room = sizeof h->log_text - h->log_len;
    int n = snprintf(h->log_text + h->log_len, room, "%s\n", h->last_log);
    if (n > 0 && (size_t)n < room)
        h->log_len += (size_t)n;
}

static void host_count_failed(const zmqsink_host_t *host, uint64_t n,
                              const char *reason)
{
    th_plugin_host_t *h = host_of(host);
    h->failed += n;
    h->failed_reason = reason;
    size_t i = 0;
    while (i < TH_MAX_REASONS && h->reasons[i][0] &&
           strcmp(h->reasons[i], reason) != 0)
        i++;
    cr_assert_lt(i, TH_MAX_REASONS, "too many failure reasons");
    snprintf(h->reasons[i], sizeof h->reasons[i], "%s", reason);
    h->reason_failed[i] += n;
}

static void host_count_delivered(const zmqsink_host_t *host, uint64_t n)
{
    host_of(host)->delivered += n;
}

static void host_tick_at(const zmqsink_host_t *host, int64_t when_ns)
{
    th_plugin_host_t *h = host_of(host);
    if (when_ns < h->tick_at_ns)
        h->tick_at_ns = when_ns;
}

static uint64_t host_sockets_attached(const zmqsink_host_t *host)
{
    return host_of(host)->sockets_attached;
}

void *th_plugin_open_unresolved(th_plugin_host_t *h, int fail,
                                const char *said)
{
    h->lookups_to_fail = fail;
    void *state = th_plugin_open(h);
    cr_assert_eq(h->lookups, 1);
    cr_assert_eq(h->logs, 1, "said once: %s", h->log_text);
    cr_assert_str_eq(h->last_log, said);
    return state;
}

void th_plugin_tick_when_asked(th_plugin_host_t *h, void *state, int wait_ms)
{
    cr_assert_neq(h->tick_at_ns, INT64_MAX,
                  "the plugin asked for no tick: what it holds would wait "
                  "forever");
    int64_t wait = h->tick_at_ns - clock_now_ns();
    cr_assert_leq(wait, wait_ms * CLOCK_NS_PER_MS,
                  "the plugin asked for a tick %lld ms from now",
                  (long long)(wait / CLOCK_NS_PER_MS));
    if (wait > 0)
        th_sleep_ms((int)(wait / CLOCK_NS_PER_MS) + 1);
    h->tick_at_ns = INT64_MAX;
    h->plugin->tick(state, clock_now_ns());
}

void *th_plugin_open(th_plugin_host_t *h)
{
    char err[512] = "";
    void *state = h->plugin->open(&h->host, err, sizeof err);
    cr_assert_not_null(state, "open: %s", err);
    return state;
}

uint64_t th_plugin_failed(const th_plugin_host_t *h, const char *reason)
{
    for (size_t i = 0; i < TH_MAX_REASONS && h->reasons[i][0]; i++)
        if (strcmp(h->reasons[i], reason) == 0)
            return h->reason_failed[i];
    return 0;
}

static size_t host_sink_drops(const zmqsink_host_t *host, size_t index,
                              const char **name, uint64_t *dropped)
{
    const th_plugin_host_t *h = host_of(host);
    if (index < h->nsinks) {
        *name = h->sink_names[index];
        *dropped = h->sink_dropped[index];
    }
    return h->nsinks;
}

/* The option's fallback as option_int() gives it. */
static int64_t fallback_number(const zmqsink_option_t *o)
{
    int64_t n = 0;
    if (!o->fallback)
        return 0;
    switch (o->type) {
    case ZMQSINK_OPT_INT:
        return strtoll(o->fallback, NULL, 10);
    case ZMQSINK_OPT_BOOL:
        return strcmp(o->fallback, "true") == 0;
    case ZMQSINK_OPT_DURATION:
        cr_assert_eq(zs__parse_duration_ms(o->fallback, &n), 0);
        return n;
    case ZMQSINK_OPT_SIZE:
        cr_assert_eq(zs__parse_size(o->fallback, &n), 0);
        return n;
    case ZMQSINK_OPT_ENUM: {
        size_t len = strlen(o->fallback);
        for (const char *p = o->choices; p; n++) {
            if (strncmp(p, o->fallback, len) == 0 && (p[len] == '|' || !p[len]))
                return n;
            p = strchr(p, '|');
            p = p ? p + 1 : NULL;
        }
        cr_assert_fail("fallback '%s' of '%s' is not a choice", o->fallback,
                       o->key);
        return 0;
    }
    default:
        return 0;
    }
}

static int host_resolve_address(const zmqsink_host_t *host,
                                const char *address, const char *default_port,
                                int socktype, struct sockaddr_storage *addr,
                                socklen_t *addr_len, char *err, size_t errlen)
{
    th_plugin_host_t *h = host_of(host);
    if (!strchr(address, '/')) {
        h->lookups++;
        if (h->lookups_to_fail > 0) {
            h->lookups_to_fail--;
            snprintf(err, errlen, "cannot resolve '%s': %s", address,
                     gai_strerror(EAI_AGAIN));
            return ZMQSINK_ADDRESS_UNRESOLVED;
        }
    }
    return zs__resolve_address(host, address, default_port, socktype, addr,
                               addr_len, err, errlen);
}

void th_plugin_host_init(th_plugin_host_t *h, const zmqsink_plugin_t *plugin,
                         const char *sink_name, const char *config_dir,
                         const th_option_t *options)
{
    *h = (th_plugin_host_t){
        .host = {
            .abi_major = ZMQSINK_PLUGIN_ABI_MAJOR,
            .abi_minor = ZMQSINK_PLUGIN_ABI_MINOR,
            .sink_name = sink_name,
            .config_dir = config_dir,
            .option_string = host_option_string,
            .option_int = host_option_int,
            .option_list = NULL,
            .option_map = host_option_map,
            .option_is_set = host_option_is_set,
            .format = zs__format_service,
            .log = host_log,
            .count_failed = host_count_failed,
            .sink_drops = host_sink_drops,
            .resolve_address = host_resolve_address,
            .fork_hold = zs__host_fork_hold,
            .fork_release = zs__host_fork_release,
            .resolve_path = zs__resolve_path,
            .host_name = zs__host_name(),
            .count_delivered = host_count_delivered,
            .tick_at = host_tick_at,
            .own_fd = zs__host_own_fd,
            .close_fd = zs__host_close_fd,
            .sockets_attached = host_sockets_attached,
        },
        .plugin = plugin,
        .tick_at_ns = INT64_MAX,
    };
    if (options) {
        for (size_t i = 0; options[i].key; i++) {
            cr_assert_lt(i, TH_MAX_OPTIONS - 1, "too many options for the host");
            h->options[i] = options[i];
        }
        return;
    }
    size_t i = 0;
    for (const zmqsink_option_t *o = plugin->options; o && o->key; o++, i++) {
        cr_assert_lt(i, TH_MAX_OPTIONS - 1, "too many options for the host");
        h->options[i] = (th_option_t){.key = o->key, .text = o->fallback,
                                      .number = fallback_number(o)};
    }
}
