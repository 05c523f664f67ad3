/* ${VAR} expansion of configuration scalars from the environment. */
#ifndef ZS_EXPAND_H
#define ZS_EXPAND_H

#include "diag.h"

/* Expands ${VAR}, ${VAR:-default} (also used when VAR is empty, as in the
 * shell) and $$ (a literal '$'); any other '$' stays. Returns the expanded
 * text (caller frees it; "" for ""), or NULL after a message placed at
 * line:col, the scalar's position. */
char *zs__env_expand(const zs__diag_t *d, unsigned line, unsigned col,
                     const char *in);

#endif
