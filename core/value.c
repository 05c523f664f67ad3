/* Values of configuration scalars: numbers with units, booleans, choices,
 * checked against an option's type and range, and described for messages. */
#include "value.h"

#include <assert.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

struct unit {
    const char *name;
    int64_t factor;
};

static const struct unit no_units[] = {{"", 1}, {NULL, 0}};
static const struct unit duration_units[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 3600 * 1000}, {NULL, 0}};
static const struct unit size_units[] = {{"", 1},
                                         {"B", 1},
                                         {"KiB", INT64_C(1) << 10},
                                         {"MiB", INT64_C(1) << 20},
                                         {"GiB", INT64_C(1) << 30},
                                         {"KB", 1000},
                                         {"MB", 1000 * 1000},
                                         {"GB", 1000 * 1000 * 1000},
                                         {NULL, 0}};

/* Decimal digits followed by one of the units, nothing else. */
static int unit_parse(const char *text, const struct unit *units, int64_t *out)
{
    const char *p = text;
    int64_t n = 0;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        int digit = *p - '0';
        if (n > (INT64_MAX - digit) / 10)
            return -1;
        n = n * 10 + digit;
    }
    for (const struct unit *u = units; u->name; u++) {
        if (strcmp(p, u->name))
            continue;
        if (n > INT64_MAX / u->factor)
            return -1;
        *out = n * u->factor;
        return 0;
    }
    return -1;
}

/* Writes a value with the largest unit that divides it. */
static void unit_show(zs__text_t *t, int64_t value, const struct unit *units)
{
    const struct unit *best = NULL;
    for (const struct unit *u = units; u->name; u++)
        if (value % u->factor == 0 && (!best || u->factor > best->factor))
            best = u;
    if (!value || !best)
        zs__text_add(t, "%lld", (long long)value);
    else
        zs__text_add(t, "%lld%s", (long long)(value / best->factor),
                     best->name);
}

int zs__parse_duration_ms(const char *text, int64_t *ms)
{
    assert(text && ms);
    if (!strcmp(text, "0")) {
        *ms = 0;
        return 0;
    }
    return unit_parse(text, duration_units, ms);
}

int zs__parse_size(const char *text, int64_t *bytes)
{
    assert(text && bytes);
    return unit_parse(text, size_units, bytes);
}

int zs__parse_int(const char *text, int64_t *out)
{
    bool negative = *text == '-';
    int64_t n;
    if (unit_parse(text + negative, no_units, &n) < 0)
        return -1;
    *out = negative ? -n : n;
    return 0;
}

static bool range_any(const zmqsink_option_t *opt)
{
    return opt->min == 0 && opt->max == 0;
}

static int range_check(const zmqsink_option_t *opt, int64_t n)
{
    if (range_any(opt))
        return n >= 0 ? 0 : -1;
    return n >= opt->min && n <= opt->max ? 0 : -1;
}

static int bool_parse(const char *text, int64_t *out)
{
    static const char *const truths[] = {"true", "yes", "on", NULL};
    static const char *const lies[] = {"false", "no", "off", NULL};
    for (size_t i = 0; truths[i]; i++) {
        if (!strcasecmp(text, truths[i]) || !strcasecmp(text, lies[i])) {
            *out = !strcasecmp(text, truths[i]);
            return 0;
        }
    }
    return -1;
}

/* The index of text among "a|b|c". */
static int choice_parse(const char *choices, const char *text, int64_t *out)
{
    size_t len = strlen(text);
    int64_t index = 0;
    for (const char *p = choices; p; index++) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == len && !strncmp(p, text, n)) {
            *out = index;
            return 0;
        }
        p = bar ? bar + 1 : NULL;
    }
    return -1;
}

int zs__value_parse(const zmqsink_option_t *opt, const char *text, int64_t *out)
{
    *out = 0;
    switch (opt->type) {
    case ZMQSINK_OPT_STRING:
        return 0;
    case ZMQSINK_OPT_INT:
        return zs__parse_int(text, out) < 0 ? -1 : range_check(opt, *out);
    case ZMQSINK_OPT_BOOL:
        return bool_parse(text, out);
    case ZMQSINK_OPT_DURATION:
        return zs__parse_duration_ms(text, out) < 0 ? -1
                                                    : range_check(opt, *out);
    case ZMQSINK_OPT_SIZE:
        return zs__parse_size(text, out) < 0 ? -1 : range_check(opt, *out);
    case ZMQSINK_OPT_ENUM:
        return opt->choices ? choice_parse(opt->choices, text, out) : -1;
    case ZMQSINK_OPT_LIST:
    case ZMQSINK_OPT_MAP:
        break;
    }
    return -1;
}

static void range_describe(zs__text_t *t, const zmqsink_option_t *opt,
                           const struct unit *units)
{
    if (range_any(opt))
        return;
    if (opt->max == INT64_MAX) {
        zs__text_add(t, " of at least ");
        unit_show(t, opt->min, units);
        return;
    }
    zs__text_add(t, " between ");
    unit_show(t, opt->min, units);
    zs__text_add(t, " and ");
    unit_show(t, opt->max, units);
}

void zs__value_describe(zs__text_t *t, const zmqsink_option_t *opt)
{
    switch (opt->type) {
    case ZMQSINK_OPT_STRING:
        zs__text_add(t, "a string");
        break;
    case ZMQSINK_OPT_INT:
        zs__text_add(t, "an integer");
        if (range_any(opt))
            zs__text_add(t, " >= 0");
        range_describe(t, opt, no_units);
        break;
    case ZMQSINK_OPT_BOOL:
        zs__text_add(t, "true or false (or yes/no, on/off)");
        break;
    case ZMQSINK_OPT_DURATION:
        zs__text_add(t, "a duration");
        range_describe(t, opt, duration_units);
        zs__text_add(t, " (like 500ms, 5s, 1m, 1h)");
        break;
    case ZMQSINK_OPT_SIZE:
        zs__text_add(t, "a size");
        range_describe(t, opt, size_units);
        zs__text_add(t, " (like 512, 64KiB, 100MiB, 1GiB)");
        break;
    case ZMQSINK_OPT_ENUM:
        zs__text_add(t, "one of ");
        for (const char *p = opt->choices; p && *p;) {
            size_t n = strcspn(p, "|");
            zs__text_add(t, "%s%.*s", p == opt->choices ? "" : ", ", (int)n, p);
            p += n + (p[n] == '|');
        }
        break;
    case ZMQSINK_OPT_LIST:
        zs__text_add(t, "a string or a list of strings");
        break;
    case ZMQSINK_OPT_MAP:
        zs__text_add(t, "a mapping of strings to strings");
        break;
    }
}
