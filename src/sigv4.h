/* sigv4.h — verifying AWS Signature Version 4 on requests to the Lambda APIs (http.invoke_credentials).
 *
 * Pure: the caller hands over the request's parts and the clock; nothing here does I/O. The canonical
 * request is rebuilt from the method, the path as sent, the query, the headers the client says it signed
 * and the SHA-256 of the body; the signature is recomputed with the secret of the access key id and
 * compared in constant time, exactly as SigV4 prints it (lowercase hex: the same digits in uppercase are
 * refused, so a request has one valid signature). Any region is accepted; the service must be "lambda";
 * X-Amz-Date must be within 5 minutes of now.
 */
#ifndef TRG_SIGV4_H
#define TRG_SIGV4_H

#include <stddef.h>
#include <stdint.h>

struct trg_credential;

enum trg_sigv4_result {
    TRG_SIGV4_OK = 0,
    TRG_SIGV4_MISSING,     /* no AWS4-HMAC-SHA256 Authorization header */
    TRG_SIGV4_MALFORMED,   /* the header or X-Amz-Date cannot be read */
    TRG_SIGV4_UNKNOWN_KEY, /* the access key id is not configured */
    TRG_SIGV4_BAD_SCOPE,   /* the credential scope is not DATE/REGION/lambda/aws4_request for X-Amz-Date */
    TRG_SIGV4_EXPIRED,     /* X-Amz-Date more than 5 minutes from now */
    TRG_SIGV4_MISMATCH,    /* the signature differs */
    TRG_SIGV4_NOMEM,
};

/* The request: header() returns a header's value (case-insensitive name) or NULL. */
struct trg_sigv4_req {
    const char *method;
    const char *raw_path; /* as sent, still %-encoded, without the query */
    const char *query;    /* raw, "" when none */
    const char *body;
    size_t body_len;
    const char *(*header)(void *arg, const char *name);
    void *arg;
};

/* Verify req against the n credentials at now_s (epoch seconds). On anything but TRG_SIGV4_OK, *why (may be
 * NULL) is a static sentence for the log. */
enum trg_sigv4_result trg_sigv4_verify(const struct trg_sigv4_req *req, const struct trg_credential *creds,
                                       size_t n, int64_t now_s, const char **why);

/* Hex SHA-256 of data into out (65 bytes). */
void trg_sha256_hex(const void *data, size_t len, char out[65]);

#endif
