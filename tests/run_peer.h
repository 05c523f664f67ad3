/* Programs that the tests of `zmqsink run` run: found in the build tree
 * (C) or the source tree (Python, run by Debian's python3), started with
 * or without `zmqsink run`, their stdout and stderr kept in a file. */
#ifndef ZS_TEST_RUN_PEER_H
#define ZS_TEST_RUN_PEER_H

#include <sys/types.h>

typedef struct rp_program {
    const char *interpreter;  /* NULL: an executable built here */
    const char *dir_variable; /* the environment variable of its directory */
    const char *file;         /* its path in that directory */
} rp_program_t;

/* A C program of tests/run/, built here: RP_C("run/app"). */
#define RP_C(file) {NULL, "ZMQSINK_TEST_BUILDDIR", file}
/* A Python program of tests/run/: Debian's interpreter, which has
 * python3-zmq (the first python3 on PATH may not). */
#define RP_PYTHON(file) {"/usr/bin/python3", "ZMQSINK_TEST_SRCDIR", file}

/* Starts program with args (NULL-terminated), under `zmqsink run -c config
 * [options...] --` when config is not NULL (options: NULL-terminated, or
 * NULL), else directly; stdout and stderr go to out_path. Returns its
 * pid; the test fails if it cannot start. */
pid_t rp_start(const rp_program_t *program, const char *config,
               const char *const options[], const char *const args[],
               const char *out_path);

/* rp_start(), then waits: returns the wait status. */
int rp_run(const rp_program_t *program, const char *config,
           const char *const options[], const char *const args[],
           const char *out_path);

/* The path of the AddressSanitizer runtime this test runs with, or NULL
 * outside an ASan build. */
const char *rp_asan_runtime(void);

/* Fails unless status says the program exited with code; shows its
 * output (out_path) when not. */
void rp_assert_exited(int status, int code, const char *out_path);

#endif
