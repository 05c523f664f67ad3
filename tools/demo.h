/* `zmqsink demo`: a small self-contained ZeroMQ scene, monitored. */
#ifndef ZS_DEMO_H
#define ZS_DEMO_H

/* Runs the scene for about seconds with the given config (NULL: the
 * compiled-in default), then prints a summary. Returns an exit status. */
int demo_run(const char *config_path, double seconds);

#endif
