/* The zmqsink command: run, watch, demo, check and events subcommands. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>
#include <zmqsink.h>

#include "demo.h"
#include "watch.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

static const char usage_text[] =
    "usage: zmqsink COMMAND [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  run [-c FILE] -- PROGRAM [ARGS]  run PROGRAM with every ZeroMQ socket\n"
    "                               it creates monitored\n"
    "  watch [-c FILE] [ENDPOINT...]  probe endpoints and report their\n"
    "                               connections, until SIGTERM; SIGHUP reloads\n"
    "  demo [-c FILE] [-d SECONDS]  run a small monitored ZeroMQ scene\n"
    "  check FILE                   validate a config file, print what would run\n"
    "  events                       list every event, its value and reasons\n"
    "\n"
    "options:\n"
    "  -h, --help      help (also: zmqsink COMMAND --help)\n"
    "  -V, --version   print the version\n"
    "\n"
    "exit status: 0 ok, 1 runtime or config error, 2 usage error\n";

/* Says what is wrong (fmt NULL: getopt said it) and where the usage is:
 * `zmqsink COMMAND --help`, or `zmqsink --help` for command NULL. Returns
 * the exit status of a usage error. */
__attribute__((format(printf, 2, 3))) static int
usage_error(const char *command, const char *fmt, ...)
{
    if (fmt) {
        va_list args;
        va_start(args, fmt);
        fprintf(stderr, "zmqsink: ");
        vfprintf(stderr, fmt, args);
        fputc('\n', stderr);
        va_end(args);
    }
    fprintf(stderr, "(see zmqsink%s%s --help)\n", command ? " " : "",
            command ? command : "");
    return EXIT_USAGE;
}

/* Takes optarg as the FILE of option ("-c/--config") of command into
 * *file: given once, and not empty. Returns -1 to go on, or the exit
 * status of a usage error. */
static int file_option(const char *command, const char *option,
                       const char **file)
{
    if (*file)
        return usage_error(command, "%s: %s given twice", command, option);
    if (!*optarg)
        return usage_error(command, "%s: %s takes a FILE, not an empty "
                           "string", command, option);
    *file = optarg;
    return -1;
}

static int command_demo(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"duration", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *config = NULL;
    double seconds = 3;
    int opt, rc;
    while ((opt = getopt_long(argc, argv, "c:d:h", options, NULL)) != -1) {
        char *end;
        switch (opt) {
        case 'c':
            if ((rc = file_option("demo", "-c/--config", &config)) >= 0)
                return rc;
            break;
        case 'd':
            seconds = strtod(optarg, &end);
            if (*end || !(seconds > 0 && seconds <= 3600))
                return usage_error("demo", "demo: -d takes seconds, more "
                                   "than 0 and at most 3600, not '%s'",
                                   optarg);
            break;
        case 'h':
            printf("usage: zmqsink demo [-c FILE] [-d SECONDS]\n\n"
                   "Runs a ROUTER server, DEALER clients that connect, send "
                   "and leave,\na client retrying a closed port and a raw TCP "
                   "peer sending garbage,\nall monitored with FILE (default: "
                   "the compiled-in config, text on\nstdout) for SECONDS "
                   "(default 3), then prints a summary.\n");
            return EXIT_OK;
        default:
            return usage_error("demo", NULL);
        }
    }
    if (optind < argc)
        return usage_error("demo", "demo: unexpected argument '%s'",
                           argv[optind]);
    return demo_run(config, seconds);
}

static const char watch_help[] =
    "usage: zmqsink watch [-c FILE] [ENDPOINT...]\n\n"
    "Keeps a probe socket connected to each ENDPOINT (a DEALER named by its\n"
    "endpoint) or, without any, to each entry of FILE's `watch:` list, and\n"
    "reports their connects, retries, failed handshakes and disconnects to\n"
    "FILE's sinks (default: the compiled-in config, text on stdout).\n"
    "\nsignals:\n"
    "  SIGTERM, SIGINT  close the probes, deliver what is queued, exit 0\n"
    "  SIGHUP           re-read FILE (an invalid one keeps the running "
    "config)\n"
    "                   and reopen the sinks' files\n"
    "  SIGUSR1          print the counters on stderr\n"
    "\nexit status: 0 after SIGTERM or SIGINT, 1 config error or nothing "
    "to\nwatch, 2 usage error\n";

static const char run_help[] =
    "usage: zmqsink run [-c FILE] [--stats FILE] [--no-children] -- PROGRAM "
    "[ARGS]\n\n"
    "Runs PROGRAM with zmqsink attached to every ZeroMQ socket it creates,\n"
    "through a preload library: no change to the program. A socket is named\n"
    "by the first `sockets:` rule whose match fits the first endpoint it\n"
    "binds or connects that is not inproc, else <type>-<n>. Without -c, the\n"
    "compiled-in default config. Processes the program forks, and programs\n"
    "it executes, are monitored too, each with its own zmqsink.\n"
    "\noptions:\n"
    "  -c, --config FILE   the config (default: the compiled-in one)\n"
    "  -s, --stats FILE    write the counters as json to FILE every\n"
    "                      stats.interval ({pid} stands for the process id)\n"
    "  -n, --no-children   do not monitor the programs PROGRAM executes\n"
    "\nPROGRAM's exit status and signals are its own; 127 if it cannot "
    "start.\n";

/* Options of `zmqsink run` beyond -c. */
typedef struct run_options {
    const char *stats;
    bool no_children;
} run_options_t;

/* Reads the [-c FILE] [-h] options of `zmqsink NAME`, and for run its
 * own (optstring "+..." stops at the first operand). Returns -1 to go on,
 * with optind at the operands, or the exit status (help printed, or a
 * usage error). */
static int config_options(int argc, char **argv, const char *optstring,
                          const char *name, const char *help,
                          const char **config, run_options_t *run)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {"stats", required_argument, NULL, 's'},
        {"no-children", no_argument, NULL, 'n'},
        {0},
    };
    int opt, rc = -1;
    while (rc < 0 &&
           (opt = getopt_long(argc, argv, optstring, options, NULL)) != -1) {
        if (opt == 'c') {
            rc = file_option(name, "-c/--config", config);
        } else if (opt == 'h') {
            fputs(help, stdout);
            rc = EXIT_OK;
        } else if (opt == 's' && run) {
            rc = file_option(name, "-s/--stats", &run->stats);
        } else if (opt == 'n' && run) {
            run->no_children = true;
        } else {
            rc = usage_error(name, NULL);
        }
    }
    return rc;
}

static int command_watch(int argc, char **argv)
{
    const char *config = NULL;
    int rc = config_options(argc, argv, "c:h", "watch", watch_help, &config,
                            NULL);
    return rc >= 0 ? rc : watch_run(config, argv + optind, argc - optind);
}

static int command_check(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "-h") == 0 ||
                      strcmp(argv[1], "--help") == 0)) {
        printf("usage: zmqsink check FILE\n\n"
               "Loads FILE and every plugin it names, checks every option, "
               "opens\nnothing, and prints what would run. Errors read "
               "FILE:LINE:COL: message.\n");
        return EXIT_OK;
    }
    if (argc != 2)
        return usage_error("check", "check takes one FILE");
    char err[2048];
    if (zmqsink_check(argv[1], stdout, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return EXIT_RUNTIME;
    }
    return EXIT_OK;
}

static int command_events(int argc, char **argv)
{
    if (argc > 1) {
        if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
            printf("usage: zmqsink events\n\nLists every event name, what "
                   "it means, what its value holds,\nthe reasons it can "
                   "carry and its default severity.\n");
            return EXIT_OK;
        }
        return usage_error("events", "events: unexpected argument '%s'",
                           argv[1]);
    }
    for (uint32_t bit = 1; bit <= ZMQSINK_EVENT_ALL; bit <<= 1) {
        printf("%-27s %-8s %s\n%27s value: %s\n", zmqsink_event_name(bit),
               zmqsink_severity_name(zmqsink_event_default_severity(bit)),
               zmqsink_event_doc(bit), "", zmqsink_event_value_doc(bit));
        const char *reasons = zmqsink_event_reason_doc(bit);
        printf("%27s reason: %s\n", "", reasons ? reasons : "none.");
    }
    return EXIT_OK;
}

/* Whether this is the command of a build tree, run from where it was
 * built: libtool's wrapper runs it from the build's .libs (or, linked
 * statically, it lies in the build directory itself). An installed copy
 * never is. */
static bool command_is_uninstalled(void)
{
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    struct stat here, build;
    if (len <= 0)
        return false;
    exe[len] = '\0';
    if (stat(dirname(exe), &here) != 0)
        return false;
    static const char *const build_dirs[] = {ZMQSINK_BUILDDIR "/.libs",
                                             ZMQSINK_BUILDDIR};
    for (size_t i = 0; i < 2; i++)
        if (stat(build_dirs[i], &build) == 0 && here.st_dev == build.st_dev &&
            here.st_ino == build.st_ino)
            return true;
    return false;
}

/* The preload library: $ZMQSINK_PRELOAD, else the one built beside an
 * uninstalled command, else the installed one. */
static const char *preload_path(void)
{
    const char *path = getenv("ZMQSINK_PRELOAD");
    if (path && *path)
        return path;
    return command_is_uninstalled() ? ZMQSINK_BUILD_PRELOAD
                                    : ZMQSINK_PLUGINDIR "/zmqsink-preload.so";
}

/* path made absolute, for the program, which may change its directory:
 * the working directory joined with path when it is relative. Nothing is
 * resolved, a link at path itself included, so that the file still names
 * the directory that `check` resolved its relative paths against. Returns
 * 0, or -1 after saying why (what names the option). */
static int absolute_path(const char *what, const char *path, char *out,
                         size_t cap)
{
    char cwd[PATH_MAX];
    int len = path[0] == '/' ? snprintf(out, cap, "%s", path)
              : getcwd(cwd, sizeof cwd)
                  ? snprintf(out, cap, "%s/%s", cwd, path)
                  : -1;
    if (len < 0 || (size_t)len >= cap) {
        fprintf(stderr, "zmqsink: %s %s: %s\n", what, path,
                len < 0 ? strerror(errno) : "path too long");
        return -1;
    }
    return 0;
}

/* Sets what the preload library reads: LD_PRELOAD (it comes first), the
 * config, this process's pid (PROGRAM keeps it: its children know they
 * are children), the stats file and whether children are monitored.
 * Returns 0, or -1 after saying why. */
static int run_environment(const char *config, const run_options_t *run)
{
    char path[PATH_MAX], stats[PATH_MAX], pid[32];
    if ((config && absolute_path("-c", config, path, sizeof path) != 0) ||
        (run->stats &&
         absolute_path("--stats", run->stats, stats, sizeof stats) != 0))
        return -1;
    const char *preload = preload_path(), *old = getenv("LD_PRELOAD");
    if (access(preload, R_OK) != 0) {
        fprintf(stderr, "zmqsink: the preload library %s: %s (set "
                "ZMQSINK_PRELOAD)\n", preload, strerror(errno));
        return -1;
    }
    char *value;
    if (asprintf(&value, "%s%s%s", preload, old && *old ? ":" : "",
                 old ? old : "") < 0)
        return -1;
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    int rc = setenv("LD_PRELOAD", value, 1) ||
             setenv("ZMQSINK_RUN_PID", pid, 1) ||
             (config ? setenv("ZMQSINK_CONFIG", path, 1)
                     : unsetenv("ZMQSINK_CONFIG")) ||
             (run->stats ? setenv("ZMQSINK_STATS_FILE", stats, 1)
                         : unsetenv("ZMQSINK_STATS_FILE")) ||
             (run->no_children ? setenv("ZMQSINK_NO_CHILDREN", "1", 1)
                               : unsetenv("ZMQSINK_NO_CHILDREN"));
    free(value);
    return rc;
}

static int command_run(int argc, char **argv)
{
    const char *config = NULL;
    run_options_t run = {0};
    int rc = config_options(argc, argv, "+c:hs:n", "run", run_help, &config,
                            &run);
    if (rc >= 0)
        return rc;
    if (optind >= argc)
        return usage_error("run", "run: no PROGRAM given");
    char err[2048];
    if (zmqsink_check(config, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return EXIT_RUNTIME;
    }
    if (run_environment(config, &run) != 0)
        return EXIT_RUNTIME;
    execvp(argv[optind], argv + optind);
    fprintf(stderr, "zmqsink: %s: %s\n", argv[optind], strerror(errno));
    return 127;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage_error(NULL, "no command given");
    const char *command = argv[1];
    if (strcmp(command, "-h") == 0 || strcmp(command, "--help") == 0 ||
        strcmp(command, "help") == 0) {
        fputs(usage_text, stdout);
        return EXIT_OK;
    }
    if (strcmp(command, "-V") == 0 || strcmp(command, "--version") == 0) {
        int major, minor, patch;
        zmq_version(&major, &minor, &patch);
        printf("zmqsink %s (libzmq %d.%d.%d, monitor v%d)\n",
               ZMQSINK_VERSION_STRING, major, minor, patch,
               zmqsink_monitor_version());
        return EXIT_OK;
    }
    if (strcmp(command, "run") == 0)
        return command_run(argc - 1, argv + 1);
    if (strcmp(command, "watch") == 0)
        return command_watch(argc - 1, argv + 1);
    if (strcmp(command, "demo") == 0)
        return command_demo(argc - 1, argv + 1);
    if (strcmp(command, "check") == 0)
        return command_check(argc - 1, argv + 1);
    if (strcmp(command, "events") == 0)
        return command_events(argc - 1, argv + 1);
    return usage_error(NULL, "unknown command '%s'", command);
}
