/* What every fuzz target has: libFuzzer's entry points, and checks of
 * what the code made, in words of its own rather than the code's: a failed
 * check aborts with a message, which libFuzzer reports as a crash with its
 * input. */
#ifndef ZS_FUZZ_TARGET_H
#define ZS_FUZZ_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Runs the code on one input; returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional: runs once, before any input. Returns 0. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond, ...)                                                  \
    do {                                                                       \
        if (!(cond))                                                           \
            fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                 \
    } while (0)

/* Says what failed and aborts. */
void fuzz_fail(const char *file, int line, const char *cond, const char *fmt,
               ...) __attribute__((noreturn, format(printf, 4, 5)));

/* Whether the n bytes at s are UTF-8: shortest forms of code points up to
 * U+10FFFF, no surrogates. */
bool fuzz_utf8_valid(const char *s, size_t n);

/* Reads one JSON string at *p, before end: moves *p past it and returns
 * true, or returns false when what is there is not one. */
bool fuzz_json_string(const char **p, const char *end);

/* Whether the n bytes at s hold a control character (below 0x20, or
 * DEL). */
bool fuzz_has_control(const char *s, size_t n);

#endif
