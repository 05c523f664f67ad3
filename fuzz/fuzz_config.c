/* Fuzz target: a config file as zmqsink reads one. The input is the file:
 * YAML read into the tree, ${VAR} expanded from an environment set here,
 * checked against the core's schema; then each sink's options checked
 * against a table that declares every option type, as a plugin's does, and
 * read back with the accessors the host hands plugins. An error names the
 * file first, and never shows what ${ZMQSINK_TOKEN} expands to: values
 * from the environment may be secrets (a bearer token in `headers`). The
 * secret holds a space, which no sink name can. A file may write the
 * secret's text itself (YAML folds "s3cr3t\n t0ken" into it, escapes
 * spell it): an error that shows it is only a finding when it still shows
 * it with another value in ${ZMQSINK_TOKEN}. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target.h"
#include "config.h"

#define FILE_NAME "fuzz.yaml"
#define SECRET "s3cr3t t0ken"
#define OTHER_SECRET "0th3rs t0ken" /* the same shape */

/* Every option type, nested keys, ranges, choices, fallbacks, and one
 * required key. */
static const zmqsink_option_t sink_options[] = {
    {.key = "path", .type = ZMQSINK_OPT_STRING, .required = 1,
     .help = "a file"},
    {.key = "address", .type = ZMQSINK_OPT_STRING},
    {.key = "url", .type = ZMQSINK_OPT_STRING},
    {.key = "format", .type = ZMQSINK_OPT_ENUM, .fallback = "json",
     .choices = "json|logfmt|text|rfc5424|rfc3164"},
    {.key = "transport", .type = ZMQSINK_OPT_ENUM, .choices = "local|udp|tcp"},
    {.key = "count", .type = ZMQSINK_OPT_INT, .fallback = "500", .min = 1,
     .max = 1000000},
    {.key = "keep", .type = ZMQSINK_OPT_INT},
    {.key = "insecure", .type = ZMQSINK_OPT_BOOL, .fallback = "false"},
    {.key = "interval", .type = ZMQSINK_OPT_DURATION, .fallback = "1s",
     .min = 10, .max = 3600000},
    {.key = "max_size", .type = ZMQSINK_OPT_SIZE, .fallback = "2048",
     .min = 480, .max = 65535},
    {.key = "rotate.max_size", .type = ZMQSINK_OPT_SIZE, .fallback = "100MiB",
     .min = 4096, .max = INT64_MAX},
    {.key = "rotate.keep", .type = ZMQSINK_OPT_INT, .fallback = "5"},
    {.key = "batch.max_delay", .type = ZMQSINK_OPT_DURATION, .min = 0,
     .max = 3600000},
    {.key = "tags", .type = ZMQSINK_OPT_LIST, .fallback = "none"},
    {.key = "headers", .type = ZMQSINK_OPT_MAP},
    {0},
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    setenv("ZMQSINK_TOKEN", SECRET, 1);
    setenv("FUZZ_EMPTY", "", 1);
    setenv("FUZZ_ODD", "${FUZZ_EMPTY} $$ }: \"quoted\"\n", 1);
    return 0;
}

static bool option_numeric(zmqsink_option_type_t type)
{
    return type == ZMQSINK_OPT_INT || type == ZMQSINK_OPT_DURATION ||
           type == ZMQSINK_OPT_SIZE;
}

static int64_t choices_count(const char *choices)
{
    int64_t n = 1;
    for (const char *p = choices; (p = strchr(p, '|')); p++)
        n++;
    return n;
}

/* The last error of a run that showed SECRET; "" when none did. */
static char secret_shown[1024];

/* An error of the config, as zmqsink shows it. */
static void error_check(const char *err, size_t cap)
{
    FUZZ_CHECK(memchr(err, '\0', cap) &&
                   !strncmp(err, FILE_NAME ":", strlen(FILE_NAME ":")),
               "%s", err);
    if (strstr(err, SECRET))
        snprintf(secret_shown, sizeof secret_shown, "%s", err);
}

/* What the validator promises a plugin: values of the declared type,
 * within range, an enum's index among its choices, required keys set. */
static void options_check(const zs__options_t *o)
{
    for (const zmqsink_option_t *opt = sink_options; opt->key; opt++) {
        const char *text = zs__options_string(o, opt->key);
        int64_t n = zs__options_int(o, opt->key);
        const char *const *items, *const *keys, *const *values;
        size_t count = zs__options_list(o, opt->key, &items);
        size_t pairs = zs__options_map(o, opt->key, &keys, &values);
        bool set = zs__options_is_set(o, opt->key);
        FUZZ_CHECK(!opt->required || set, "%s", opt->key);
        if (option_numeric(opt->type) && (set || opt->fallback)) {
            int64_t min = opt->min, max = opt->max;
            if (!min && !max)
                max = INT64_MAX;
            FUZZ_CHECK(n >= min && n <= max, "%s = %lld", opt->key,
                       (long long)n);
        }
        if (opt->type == ZMQSINK_OPT_ENUM && text)
            FUZZ_CHECK(n >= 0 && n < choices_count(opt->choices), "%s = %lld",
                       opt->key, (long long)n);
        if (opt->type == ZMQSINK_OPT_BOOL)
            FUZZ_CHECK(n == 0 || n == 1, "%s = %lld", opt->key, (long long)n);
        for (size_t i = 0; i < count; i++)
            FUZZ_CHECK(items[i], "%s", opt->key);
        for (size_t i = 0; i < pairs; i++)
            FUZZ_CHECK(keys[i] && values[i], "%s", opt->key);
    }
}

static void config_check(const zs__config_t *c)
{
    uint32_t q = c->queue_capacity;
    FUZZ_CHECK(q >= 16 && q <= 16777216 && !(q & (q - 1)), "queue %u", q);
    FUZZ_CHECK(c->nsinks >= 1 && c->nsinks <= ZS__MAX_SINKS, "%zu sinks",
               c->nsinks);
    for (size_t i = 0; i < c->nsinks; i++) {
        const zs__sink_config_t *sink = &c->sinks[i];
        char err[1024];
        zs__options_t *o = NULL;
        FUZZ_CHECK(sink->name && sink->name[0] && (sink->type || sink->plugin),
                   "sink %zu", i);
        FUZZ_CHECK(sink->events & ZMQSINK_EVENT_ALL, "sink '%s'", sink->name);
        if (zs__options_parse(c, sink, sink->type ? sink->type : "fuzz",
                              sink_options, &o, err, sizeof err) == 0)
            options_check(o);
        else
            error_check(err, sizeof err);
        zs__options_free(&o);
    }
}

/* Loads and checks the file; returns whether an error showed SECRET. */
static bool config_run(const uint8_t *data, size_t size)
{
    zs__config_t *config = NULL;
    char err[1024] = "";
    secret_shown[0] = '\0';
    if (zs__config_load_text(FILE_NAME, (const char *)data, size, &config, err,
                             sizeof err) == 0)
        config_check(config);
    else
        error_check(err, sizeof err);
    zs__config_free(&config);
    return secret_shown[0] != '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!config_run(data, size))
        return 0;
    char shown[sizeof secret_shown];
    memcpy(shown, secret_shown, sizeof shown);
    setenv("ZMQSINK_TOKEN", OTHER_SECRET, 1);
    bool written = config_run(data, size); /* by the file, then */
    setenv("ZMQSINK_TOKEN", SECRET, 1);
    FUZZ_CHECK(written, "the secret shows: %s", shown);
    return 0;
}
