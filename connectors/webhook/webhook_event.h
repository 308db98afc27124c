/* webhook_event.h — the API Gateway HTTP API (payload 2.0) / Lambda Function URL request event.
 * Private to connectors/webhook/ (and its unit test).
 */
#ifndef TRG_WEBHOOK_EVENT_H
#define TRG_WEBHOOK_EVENT_H

#include <stdbool.h>
#include <stdint.h>

#include "../connector.h"

/* Append the event for req to out, as compact JSON: version "2.0", routeKey "$default", rawPath,
 * rawQueryString, cookies, headers, queryStringParameters, requestContext (requestId = request_id,
 * time and timeEpoch from now_ms), body and isBase64Encoded. Headers named in redact (compared
 * case-insensitively; NULL: none) are left out of the event: no trace of them in headers, and none in
 * cookies when Cookie is on the list. req and redact are borrowed. Returns 0 or TRG_ENOMEM (out may
 * then hold a partial event: reset it). */
int trg_webhook_event_build(const struct trg_http_req *req, const char *request_id, int64_t now_ms,
                            const struct trg_strlist *redact, struct trg_buf *out);

/* Is the body sent as text (valid UTF-8 without NUL, and a textual content type)? For tests. */
bool trg_webhook_body_is_text(const char *content_type, const char *body, size_t len);

#endif
