/* The host table the fuzz targets hand to plugin code: the core's
 * formatter, host name and path resolution, and a log and counters that
 * keep nothing. */
#ifndef ZS_FUZZ_HOST_H
#define ZS_FUZZ_HOST_H

#include <zmqsink/plugin.h>

/* The table, relative paths resolved against config_dir (which must
 * outlive it). Owned by the caller's target: one per process. */
const zmqsink_host_t *fuzz_host(const char *config_dir);

#endif
