/* Programs that the tests of `zmqsink run` run, with or without it. */
#include "run_peer.h"

#include <criterion/criterion.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "helpers.h"

const char *rp_asan_runtime(void)
{
    void *asan_init = dlsym(RTLD_DEFAULT, "__asan_init");
    Dl_info info;
    if (!asan_init || !dladdr(asan_init, &info) || !info.dli_fname ||
        !strstr(info.dli_fname, "libasan"))
        return NULL;
    return info.dli_fname;
}

/* In an ASan build the preload library is instrumented. A program not
 * built here (the Python interpreter) can load it only with the ASan
 * runtime in LD_PRELOAD, ahead of libc, whose malloc would otherwise win
 * (zmqsink run puts its own library before it, hence the link order
 * check is off); and CPython leaks by design at exit, so leak detection is
 * off for it. Sets that up for the programs this test starts; nothing in
 * other builds. */
static void preload_asan_runtime(void)
{
    const char *runtime = rp_asan_runtime();
    if (!runtime)
        return;
    const char *old = getenv("ASAN_OPTIONS");
    if (old && strstr(old, "verify_asan_link_order=0:detect_leaks=0"))
        return;
    char options[1024];
    snprintf(options, sizeof options,
             "%s%sverify_asan_link_order=0:detect_leaks=0", old ? old : "",
             old && *old ? ":" : "");
    cr_assert_eq(setenv("LD_PRELOAD", runtime, 1), 0);
    cr_assert_eq(setenv("ASAN_OPTIONS", options, 1), 0);
}

pid_t rp_start(const rp_program_t *program, const char *config,
               const char *const options[], const char *const args[],
               const char *out_path)
{
    char path[1024];
    const char *dir = getenv(program->dir_variable);
    cr_assert_not_null(dir, "%s is not set", program->dir_variable);
    snprintf(path, sizeof path, "%s/%s", dir, program->file);
    const char *argv[48];
    size_t n = 0;
    if (config) {
        argv[n++] = getenv("ZMQSINK_BIN");
        argv[n++] = "run";
        argv[n++] = "-c";
        argv[n++] = config;
        for (size_t i = 0; options && options[i]; i++)
            argv[n++] = options[i];
        argv[n++] = "--";
    }
    if (program->interpreter) {
        preload_asan_runtime();
        argv[n++] = program->interpreter;
    }
    argv[n++] = path;
    for (size_t i = 0; args && args[i] && n < 47; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return th_spawn((char *const *)argv, out_path);
}

int rp_run(const rp_program_t *program, const char *config,
           const char *const options[], const char *const args[],
           const char *out_path)
{
    pid_t pid = rp_start(program, config, options, args, out_path);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return status;
}

void rp_assert_exited(int status, int code, const char *out_path)
{
    if (WIFEXITED(status) && WEXITSTATUS(status) == code)
        return;
    char *output = th_read_file(out_path);
    cr_assert_fail("the program should exit with %d; wait status %#x; its "
                   "output:\n%s",
                   code, status, output ? output : "(none)");
}
