/* aws_error.c — AWS's answer and error shapes (see aws_error.h). */
#include "aws_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "http.h"
#include "util.h"

#define MAX_EXTRA 8

void trg_aws_respond(struct trg_http_req *req, int status, const char *content_type, const char *body,
                     size_t len, const char *request_id, const char *const *headers)
{
    const char *all[2 * MAX_EXTRA + 3];
    size_t n = 0;
    all[n++] = "x-amzn-RequestId";
    all[n++] = request_id;
    for (size_t i = 0; headers && headers[i] && headers[i + 1] && n < 2 * MAX_EXTRA + 2; i += 2) {
        all[n++] = headers[i];
        all[n++] = headers[i + 1];
    }
    all[n] = NULL;
    trg_http_respond(req, status, content_type, body, len, all);
}

void trg_aws_respond_error(struct trg_http_req *req, int status, const char *type, const char *msg,
                           const char *request_id)
{
    char rid[40];
    if (!request_id) {
        trg_request_id(rid);
        request_id = rid;
    }
    struct trg_buf b = {0};
    int rc = trg_buf_addf(&b, "{\"Type\":\"%s\",\"Message\":", status >= 500 ? "Service" : "User");
    rc |= trg_buf_add_json_str(&b, msg, strlen(msg));
    rc |= trg_buf_addc(&b, '}');
    const char *hdrs[] = {"x-amzn-ErrorType", type, NULL};
    if (rc != 0) /* out of memory: the type alone still names the exception */
        trg_aws_respond(req, status, "application/json", "{}", 2, request_id, hdrs);
    else
        trg_aws_respond(req, status, "application/json", b.data, b.len, request_id, hdrs);
    trg_buf_free(&b);
}

void trg_aws_respond_throttled(struct trg_http_req *req, const char *reason, int retry_after_s,
                               const char *request_id)
{
    struct trg_buf b = {0};
    int rc = trg_buf_adds(&b, "{\"Type\":\"User\",\"Message\":\"Rate Exceeded.\",\"Reason\":");
    rc |= trg_buf_add_json_str(&b, reason, strlen(reason));
    rc |= trg_buf_addc(&b, '}');
    char after[24];
    snprintf(after, sizeof after, "%d", retry_after_s);
    const char *hdrs[] = {"x-amzn-ErrorType", "TooManyRequestsException", "Retry-After", after, NULL};
    if (rc != 0)
        trg_aws_respond(req, 429, "application/json", "{}", 2, request_id, hdrs);
    else
        trg_aws_respond(req, 429, "application/json", b.data, b.len, request_id, hdrs);
    trg_buf_free(&b);
}

void trg_aws_respond_errorf(struct trg_http_req *req, int status, const char *type, const char *request_id,
                            const char *fmt, ...)
{
    struct trg_buf b = {0};
    va_list ap;
    va_start(ap, fmt);
    int rc = trg_buf_vaddf(&b, fmt, ap);
    va_end(ap);
    trg_aws_respond_error(req, status, type, rc == 0 && b.data ? b.data : type, request_id);
    trg_buf_free(&b);
}
