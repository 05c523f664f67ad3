/* Reading a config, or the compiled-in default, and zmqsink_check(): the
 * whole file validated, every plugin loaded and its options checked (by
 * its table, then by its check(), if it has one), nothing opened. */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "sinkset.h"

const char *zmqsink_default_config(void)
{
    return "# Compiled-in default: every event, as text, on stdout.\n"
           "sinks:\n"
           "  - name: console\n"
           "    type: file\n"
           "    path: \"-\"\n"
           "    format: text\n";
}

static void events_describe(uint32_t events, FILE *out)
{
    if (events == ZMQSINK_EVENT_ALL) {
        fputs("all", out);
        return;
    }
    const char *sep = "";
    for (uint32_t bit = 1; bit <= ZMQSINK_EVENT_ALL; bit <<= 1)
        if (events & bit) {
            fprintf(out, "%s%s", sep, zmqsink_event_name(bit));
            sep = ", ";
        }
}

static void sink_describe(const zs__sink_config_t *sc, const zs__plugin_t *p,
                          FILE *out)
{
    fprintf(out, "  sink '%s': type %s (%s)\n    events: ", sc->name,
            p->desc->name, p->path);
    events_describe(sc->events, out);
    fputs("\n    sockets: ", out);
    for (size_t i = 0; i < sc->nsockets; i++)
        fprintf(out, "%s%s", i ? ", " : "", sc->sockets[i]);
    fprintf(out, "%s\n    min_severity: %s\n", sc->nsockets ? "" : "all",
            zmqsink_severity_name(sc->min_severity));
}

static void probes_describe(const zs__config_t *config, FILE *out)
{
    for (size_t i = 0; i < config->nprobes; i++) {
        const zs__probe_t *p = &config->probes[i];
        fprintf(out, "  probe '%s': %s socket to %s%s\n", p->name,
                zmqsink_socket_type_name(p->type), p->endpoint,
                p->server_key ? ", CURVE" : "");
    }
}

int zs__config_read(const char *config_path, zs__config_t **config,
                       char *err, size_t errlen)
{
    int rc = config_path
                 ? zs__config_load_file(config_path, config, err, errlen)
                 : zs__config_load_string("<default>", zmqsink_default_config(),
                                          config, err, errlen);
    return rc == 0 ? 0 : -ZMQSINK_ECONFIG;
}

int zmqsink_check(const char *config_path, FILE *out, char *err, size_t errlen)
{
    char scratch[8];
    err = zs__err_room(err, &errlen, scratch, sizeof scratch);
    zs__config_t *config = NULL;
    int rc = zs__config_read(config_path, &config, err, errlen);
    if (rc != 0)
        return rc;
    /* Described into memory first: nothing is printed for a bad file. */
    char *text = NULL;
    size_t len = 0;
    FILE *report = open_memstream(&text, &len);
    if (!report) {
        zs__config_free(&config);
        snprintf(err, errlen, "out of memory");
        return -ZMQSINK_ENOMEM;
    }
    fprintf(report, "%s: ok\n  queue: %u slots per sink\n"
                     "  shutdown_timeout: %lld ms\n",
                config->path, config->queue_capacity,
                (long long)config->shutdown_timeout_ms);
    if (config->stats_path)
        fprintf(report, "  stats: %s every %lld ms\n", config->stats_path,
                (long long)config->stats_interval_ms);
    probes_describe(config, report);
    for (size_t i = 0; i < config->nsinks && rc == 0; i++) {
        const zs__sink_config_t *sc = &config->sinks[i];
        zs__plugin_t plugin;
        zs__options_t *options = NULL;
        if (zs__plugin_load(config, sc, &plugin, err, errlen) != 0) {
            rc = -ZMQSINK_EPLUGIN;
            break;
        }
        if (zs__options_parse(config, sc, plugin.desc->name,
                              plugin.desc->options, &options, err,
                              errlen) != 0)
            rc = -ZMQSINK_ECONFIG;
        else if ((rc = zs__sink_check(config, sc, &plugin, options, err,
                                      errlen)) == 0)
            sink_describe(sc, &plugin, report);
        zs__options_free(&options);
        zs__plugin_unload(&plugin);
    }
    fclose(report);
    if (rc == 0 && out)
        fputs(text, out);
    free(text);
    zs__config_free(&config);
    return rc;
}

