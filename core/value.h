/* Values of configuration scalars: integers, durations and sizes with
 * units, booleans and choices, checked against an option's type and range
 * (zmqsink_option_t, the table type plugins declare their options with),
 * and described as messages say what was expected. */
#ifndef ZS_VALUE_H
#define ZS_VALUE_H

#include <stdint.h>

#include <zmqsink/plugin.h>

#include "text.h"

/* Each returns 0 and the value, or -1 when text is not one. */
/* "0", or digits and a unit among ms, s, m, h: milliseconds. */
int zs__parse_duration_ms(const char *text, int64_t *ms);
/* Digits and an optional unit among B, KiB, MiB, GiB, KB, MB, GB: bytes. */
int zs__parse_size(const char *text, int64_t *bytes);
/* An optional '-' and decimal digits, within int64_t. */
int zs__parse_int(const char *text, int64_t *out);

/* Checks text against a scalar option type (not LIST or MAP) and its
 * range or choices; *out is the number option_int() hands out (0 for
 * STRING). Returns 0 or -1. */
int zs__value_parse(const zmqsink_option_t *opt, const char *text,
                    int64_t *out);

/* Appends what a value of opt must look like: "a duration between 100ms
 * and 1h (like 500ms, 5s, 1m, 1h)". */
void zs__value_describe(zs__text_t *t, const zmqsink_option_t *opt);

#endif
