/* Templates of text with {socket} {event} {host} {pid}: checked once,
 * expanded per event. */
#include "template.h"

#include <stdio.h>
#include <string.h>

#include "json.h"

static const char *const field_names[TEMPLATE_FIELDS] = {
    [TEMPLATE_SOCKET] = "socket",
    [TEMPLATE_EVENT] = "event",
    [TEMPLATE_HOST] = "host",
    [TEMPLATE_PID] = "pid",
};

const char *template_field_name(template_field_t field)
{
    return field < TEMPLATE_FIELDS ? field_names[field] : NULL;
}

/* The field whose placeholder starts at text (just after its '{'), with
 * *len the bytes up to and with its '}'; -1 when none does. */
static int placeholder_at(const char *text, size_t *len)
{
    for (int f = 0; f < TEMPLATE_FIELDS; f++) {
        size_t n = strlen(field_names[f]);
        if (strncmp(text, field_names[f], n) == 0 && text[n] == '}') {
            *len = n + 1;
            return f;
        }
    }
    return -1;
}

/* Walks text: literal runs go to literal(), placeholders to field().
 * Returns 0, or -1 at the first brace that is neither doubled nor a known
 * placeholder, with its offset in *bad. */
typedef void literal_fn(void *ctx, const char *s, size_t n);
typedef void field_fn(void *ctx, template_field_t field);

static int walk(const char *text, literal_fn *literal, field_fn *field,
                void *ctx, size_t *bad)
{
    const char *p = text;
    while (*p) {
        size_t run = strcspn(p, "{}");
        if (run)
            literal(ctx, p, run);
        p += run;
        if (!*p)
            break;
        if (p[1] == p[0]) { /* "{{" or "}}" */
            literal(ctx, p, 1);
            p += 2;
            continue;
        }
        size_t len;
        int f = *p == '{' ? placeholder_at(p + 1, &len) : -1;
        if (f < 0) {
            *bad = (size_t)(p - text);
            return -1;
        }
        field(ctx, (template_field_t)f);
        p += 1 + len;
    }
    return 0;
}

static void ignore_literal(void *ctx, const char *s, size_t n)
{
}

static void ignore_field(void *ctx, template_field_t field)
{
}

int template_check(const char *text, char *err, size_t errlen)
{
    size_t bad;
    if (walk(text, ignore_literal, ignore_field, NULL, &bad) == 0)
        return 0;
    const char *at = text + bad;
    if (*at == '}') {
        snprintf(err, errlen, "a lone '}' at offset %zu ('}}' for a brace)",
                 bad);
        return -1;
    }
    size_t len = strcspn(at + 1, "{}");
    if (at[1 + len] == '}')
        snprintf(err, errlen, "unknown placeholder '%.*s' (known: {socket} "
                 "{event} {host} {pid}; '{{' for a brace)",
                 (int)(len + 2 < 64 ? len + 2 : 64), at);
    else
        snprintf(err, errlen, "a '{' at offset %zu opens no placeholder "
                 "(known: {socket} {event} {host} {pid}; '{{' for a brace)",
                 bad);
    return -1;
}

static void note_field(void *ctx, template_field_t field)
{
    bool *used = ctx;
    used[field] = true;
}

bool template_uses(const char *text, template_field_t field)
{
    bool used[TEMPLATE_FIELDS] = {false};
    size_t bad;
    walk(text, ignore_literal, note_field, used, &bad);
    return field < TEMPLATE_FIELDS && used[field];
}

/* ---- values ---- */

static void value_set(template_values_t *v, template_field_t f,
                      const char *text, size_t len)
{
    if (len >= TEMPLATE_VALUE_MAX)
        len = TEMPLATE_VALUE_MAX - 1;
    memcpy(v->text[f], text, len);
    v->text[f][len] = '\0';
}

static int take_field(const zmqsink_field_t *field, void *arg)
{
    for (int f = 0; f < TEMPLATE_FIELDS; f++)
        if (field->key_len == strlen(field_names[f]) &&
            memcmp(field->key, field_names[f], field->key_len) == 0)
            value_set(arg, (template_field_t)f,
                      field->text ? field->text : "", field->len);
    return 0;
}

void template_values_of_event(template_values_t *values,
                              const zmqsink_event_t *ev)
{
    memset(values, 0, sizeof *values);
    zmqsink_event_fields(ev, take_field, values);
}

int template_values_of_json(template_values_t *values, const char *line,
                            size_t n)
{
    memset(values, 0, sizeof *values);
    for (int f = 0; f < TEMPLATE_FIELDS; f++)
        if (json_read_member(line, n, field_names[f], values->text[f],
                        TEMPLATE_VALUE_MAX) != 1)
            return -1;
    return 0;
}

/* ---- expansion ---- */

typedef struct expansion {
    bytes_t *out;
    const template_values_t *values;
    bool failed;
} expansion_t;

static void put_literal(void *ctx, const char *s, size_t n)
{
    expansion_t *x = ctx;
    bytes_put(x->out, s, n, &x->failed);
}

static void put_field(void *ctx, template_field_t field)
{
    expansion_t *x = ctx;
    bytes_put_str(x->out, x->values->text[field], &x->failed);
}

int template_expand(const char *text, const template_values_t *values,
                    bytes_t *out)
{
    size_t mark = out->len, bad;
    expansion_t x = {out, values, false};
    walk(text, put_literal, put_field, &x, &bad);
    if (x.failed)
        out->len = mark;
    return x.failed ? -1 : 0;
}
