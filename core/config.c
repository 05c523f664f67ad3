/* Configuration: a YAML file or string loaded into zs__config_t: read
 * into a tree (yaml_tree.c), checked against the core's schema
 * (schema.c), and freed. */
#include "config.h"

#include <assert.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"

#define CONFIG_FILE_MAX (16 * 1024 * 1024)

int zs__event_index(uint32_t type)
{
    assert(type && !(type & (type - 1)) && (type & ZMQSINK_EVENT_ALL));
    return __builtin_ctz(type);
}

/* Parses yaml (len bytes) into a new config that takes dir. */
static int config_load(const zs__diag_t *d, char *dir, const char *yaml,
                       size_t len, zs__config_t **out)
{
    zs__config_t *c = calloc(1, sizeof *c);
    if (!c) {
        free(dir);
        return zs__fail_nomem(d);
    }
    c->dir = dir;
    if (!(c->path = strdup(d->file))) {
        zs__fail_nomem(d);
        goto err;
    }
    if (zs__tree_read(d, yaml, len, &c->root) < 0 || zs__schema_read(c, d) < 0)
        goto err;
    *out = c;
    return 0;
err:
    zs__config_free(&c);
    return -1;
}

/* The whole file, NUL-terminated: config files are small, and having the
 * text at hand places encoding errors. */
static char *file_read(const zs__diag_t *d, const char *path, size_t *len)
{
    char *data = NULL;
    size_t cap = 0, n = 0, got;
    FILE *file = fopen(path, "rb");
    if (!file) {
        zs__fail_file(d, "cannot open: %m");
        return NULL;
    }
    do {
        if (n + 1 >= cap) {
            size_t grown = cap ? cap * 2 : 4096;
            bool fits = grown <= CONFIG_FILE_MAX;
            char *bigger = fits ? realloc(data, grown) : NULL;
            if (!bigger) {
                zs__fail_file(d, fits ? "out of memory"
                                      : "too large for a config file (16 MiB)");
                goto err;
            }
            data = bigger;
            cap = grown;
        }
        got = fread(data + n, 1, cap - n - 1, file);
        n += got;
    } while (got);
    if (ferror(file)) {
        zs__fail_file(d, "cannot read: %m");
        goto err;
    }
    fclose(file);
    data[n] = '\0';
    *len = n;
    return data;
err:
    free(data);
    fclose(file);
    return NULL;
}

int zs__config_load_file(const char *path, zs__config_t **out, char *err,
                         size_t errlen)
{
    assert(path && out);
    zs__diag_t d = {path, err, errlen};
    size_t len;
    char *dir = NULL, *copy = NULL, *yaml = NULL;
    int rc = -1;
    *out = NULL;
    if (!(yaml = file_read(&d, path, &len)))
        goto out;
    if (!(copy = strdup(path))) {
        zs__fail_nomem(&d);
        goto out;
    }
    if (!(dir = realpath(dirname(copy), NULL))) {
        zs__fail_file(&d, "cannot resolve its directory: %m");
        goto out;
    }
    rc = config_load(&d, dir, yaml, len, out);
out:
    free(copy);
    free(yaml);
    return rc;
}

int zs__config_load_text(const char *name, const char *yaml, size_t len,
                         zs__config_t **out, char *err, size_t errlen)
{
    assert(name && (yaml || !len) && out);
    zs__diag_t d = {name, err, errlen};
    *out = NULL;
    char *dir = realpath(".", NULL);
    if (!dir)
        return zs__fail_file(&d, "cannot resolve the working directory: %m");
    return config_load(&d, dir, yaml ? yaml : "", len, out);
}

int zs__config_load_string(const char *name, const char *yaml,
                           zs__config_t **out, char *err, size_t errlen)
{
    assert(yaml);
    return zs__config_load_text(name, yaml, strlen(yaml), out, err, errlen);
}

void zs__config_free(zs__config_t **config)
{
    if (!config || !*config)
        return;
    zs__config_t *c = *config;
    for (size_t i = 0; i < c->nsinks; i++)
        free(c->sinks[i].sockets);
    free(c->sinks);
    free(c->rules);
    free(c->probes);
    zs__node_free(c->root);
    free(c->dir);
    free(c->path);
    free(c);
    *config = NULL;
}
