/* What an HTTP answer means for the batch it answers. */
#include "response.h"

#include <stdbool.h>

#define NS_PER_S INT64_C(1000000000)

/* Whether an HTTP status is worth retrying. */
static bool status_retryable(response_rules_t rules, long status)
{
    if (rules == RESPONSE_RULES_OTLP)
        return status == 429 || status == 502 || status == 503 ||
               status == 504;
    return status == 408 || status == 429 ||
           (status >= 500 && status <= 599 && status != 501);
}

/* A Retry-After of seconds within bounds; a date in the past gives a
 * negative number, and none (or one libcurl could not read) 0. */
static int64_t retry_after_ns(curl_off_t seconds)
{
    if (seconds <= 0)
        return 0;
    if (seconds > RESPONSE_RETRY_AFTER_MAX_S)
        seconds = RESPONSE_RETRY_AFTER_MAX_S;
    return (int64_t)seconds * NS_PER_S;
}

void response_read(CURL *easy, CURLcode code, response_rules_t rules,
                   response_t *out)
{
    *out = (response_t){.verdict = RESPONSE_RETRY};
    if (code != CURLE_OK)
        return;
    curl_off_t retry_after = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &out->status);
    if (out->status >= 200 && out->status <= 299) {
        out->verdict = RESPONSE_DELIVERED;
    } else if (status_retryable(rules, out->status)) {
        curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &retry_after);
        out->retry_after_ns = retry_after_ns(retry_after);
    } else {
        out->verdict = RESPONSE_REJECTED;
    }
}
