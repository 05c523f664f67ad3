/* `zmqsink watch`: a daemon of probe sockets, reloaded by SIGHUP. */
#ifndef ZS_WATCH_H
#define ZS_WATCH_H

/* Keeps one probe socket per ENDPOINT in endpoints (n of them) or, with
 * none, per entry of the config's `watch:` list, until SIGTERM or SIGINT.
 * config_path NULL: the compiled-in default. Returns an exit status. */
int watch_run(const char *config_path, char *const *endpoints, int n);

#endif
