/* aws_error.h — answering AWS's clients as AWS does: every answer carries x-amzn-RequestId, and an error
 * is {"Type":"User"|"Service","Message":"..."} with x-amzn-ErrorType (botocore and the JS SDK v3 read the
 * exception's name from that header and its message from Message). Used by the Lambda APIs
 * (invoke_api.c, lambda_api.c).
 */
#ifndef TRG_AWS_ERROR_H
#define TRG_AWS_ERROR_H

#include <stddef.h>

struct trg_http_req;

/* The region and account trigd puts in the ARNs it answers with (trigd has neither). */
#define TRG_AWS_REGION "us-east-1"
#define TRG_AWS_ACCOUNT "000000000000"

/* Answer status with body (len bytes, copied) and x-amzn-RequestId: request_id, plus headers (name, value,
 * ..., NULL; may be NULL; at most 8 pairs). content_type NULL: none. */
void trg_aws_respond(struct trg_http_req *req, int status, const char *content_type, const char *body,
                     size_t len, const char *request_id, const char *const *headers);
/* Answer an error: status, x-amzn-ErrorType: type, {"Type":"User" (status < 500) or "Service","Message":msg}
 * and x-amzn-RequestId: request_id (NULL: a new one). */
void trg_aws_respond_error(struct trg_http_req *req, int status, const char *type, const char *msg,
                           const char *request_id);
/* Answer a throttled request as Lambda does: 429, x-amzn-ErrorType: TooManyRequestsException,
 * {"Type":"User","Message":"Rate Exceeded.","Reason":reason} and Retry-After: retry_after_s. */
void trg_aws_respond_throttled(struct trg_http_req *req, const char *reason, int retry_after_s,
                               const char *request_id);
/* The same with a printf-formatted message. */
void trg_aws_respond_errorf(struct trg_http_req *req, int status, const char *type, const char *request_id,
                            const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
