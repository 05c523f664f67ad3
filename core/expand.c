/* ${VAR} expansion of configuration scalars from the environment. */
#include "expand.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

/* Where the scalar being expanded stands, for messages. */
struct scalar_at {
    const zs__diag_t *d;
    unsigned line, col;
};

static bool env_name_valid(const char *name, size_t len)
{
    static const char chars[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_";
    char first = len ? name[0] : '0';
    return !(first >= '0' && first <= '9') && strspn(name, chars) >= len;
}

/* Expands one ${...} starting at ref (just after "${"); returns a pointer
 * past its '}', or NULL after a message. */
static const char *env_reference(const struct scalar_at *at, const char *ref,
                                 zs__text_t *out)
{
    const char *close = strchr(ref, '}');
    if (!close) {
        zs__fail_pos(at->d, at->line, at->col,
                     "unterminated '${': close it with '}', or write '$$' "
                     "for a literal '$'");
        return NULL;
    }
    size_t len = strcspn(ref, ":}");
    const char *fallback = NULL;
    if (ref[len] == ':') {
        if (ref[len + 1] != '-') {
            zs__fail_pos(at->d, at->line, at->col,
                         "'${%.*s}': expected ${VAR} or ${VAR:-default}",
                         (int)(close - ref), ref);
            return NULL;
        }
        fallback = ref + len + 2;
    }
    if (!env_name_valid(ref, len)) {
        zs__fail_pos(at->d, at->line, at->col,
                     "'%.*s' is not a valid environment variable name",
                     (int)len, ref);
        return NULL;
    }
    /* A default is text as written: ${VAR:-${OTHER}} would end at the
     * first '}' and keep the rest, so it is refused rather than half
     * read. */
    if (fallback && memmem(fallback, (size_t)(close - fallback), "${", 2)) {
        zs__fail_pos(at->d, at->line, at->col,
                     "'${%.*s:-...}': a default cannot hold '${' (defaults "
                     "are taken as written, not expanded)",
                     (int)len, ref);
        return NULL;
    }
    char *name = strndup(ref, len);
    if (!name) {
        zs__fail_nomem(at->d);
        return NULL;
    }
    const char *value = getenv(name);
    int rc = 0;
    /* As in the shell, ":-" also replaces an empty value. */
    if (value && (*value || !fallback))
        zs__text_add(out, "%s", value);
    else if (fallback)
        zs__text_add(out, "%.*s", (int)(close - fallback), fallback);
    else
        rc = zs__fail_pos(at->d, at->line, at->col,
                          "environment variable '%s' is not set (use "
                          "${%s:-default} to give a default)",
                          name, name);
    free(name);
    return rc < 0 ? NULL : close + 1;
}

char *zs__env_expand(const zs__diag_t *d, unsigned line, unsigned col,
                     const char *in)
{
    struct scalar_at at = {d, line, col};
    zs__text_t out = {0};
    const char *p = in;
    zs__text_add(&out, "%s", ""); /* an empty scalar is "", not NULL */
    for (;;) {
        const char *dollar = strchr(p, '$');
        if (!dollar) {
            zs__text_add(&out, "%s", p);
            break;
        }
        zs__text_add(&out, "%.*s", (int)(dollar - p), p);
        if (dollar[1] == '{') {
            p = env_reference(&at, dollar + 2, &out);
            if (!p)
                goto err;
            continue;
        }
        zs__text_add(&out, "$");
        p = dollar + (dollar[1] == '$' ? 2 : 1);
    }
    if (out.oom) {
        zs__fail_nomem(d);
        goto err;
    }
    return out.data;
err:
    zs__text_free(&out);
    return NULL;
}
