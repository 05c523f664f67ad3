/* The core's schema: its own keys, described with option tables and
 * checked by the validator plugins' options go through, read into
 * zs__config_t. */
#ifndef ZS_SCHEMA_H
#define ZS_SCHEMA_H

#include "config.h"
#include "diag.h"

/* Validates c->root (NULL or an empty scalar: no settings) and fills the
 * rest of c, whose strings point into the tree. Returns 0, or -1 after a
 * message; zs__config_free() releases what was filled either way. */
int zs__schema_read(zs__config_t *c, const zs__diag_t *d);

#endif
