/* What an HTTP answer means for the batch it answers: delivered, retried
 * (after the server's Retry-After, when it gives one), or refused for
 * good. Built into the http plugin, and into fuzz/fuzz_http. */
#ifndef ZS_HTTP_RESPONSE_H
#define ZS_HTTP_RESPONSE_H

#include <stdint.h>

#include <curl/curl.h>

/* The longest wait a Retry-After gets. */
#define RESPONSE_RETRY_AFTER_MAX_S 3600

typedef enum response_verdict {
    RESPONSE_DELIVERED, /* a 2xx */
    RESPONSE_RETRY,     /* no answer (a transport error), or a status the
                           rules retry */
    RESPONSE_REJECTED   /* any other answer: never worth sending again */
} response_verdict_t;

typedef struct response {
    response_verdict_t verdict;
    long status;            /* 0 when there was no answer */
    int64_t retry_after_ns; /* a RESPONSE_RETRY's Retry-After, delta-seconds
                               or HTTP-date as libcurl reads it, at most
                               RESPONSE_RETRY_AFTER_MAX_S; 0 without one */
} response_t;

/* Which answers are worth retrying. */
typedef enum response_rules {
    RESPONSE_RULES_HTTP, /* 408, 429, and 5xx other than 501 */
    RESPONSE_RULES_OTLP  /* only 429, 502, 503 and 504, as OTLP/HTTP says */
} response_rules_t;

/* How the transfer of easy, which ended with code, was answered, by
 * rules. */
void response_read(CURL *easy, CURLcode code, response_rules_t rules,
                   response_t *out);

#endif
