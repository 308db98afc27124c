/* admin_http.h — what the admin API's handlers share (admin.c, redrive.c, invoke_api.c): the bearer
 * token check and answering in JSON. Admin-internal.
 */
#ifndef TRG_ADMIN_HTTP_H
#define TRG_ADMIN_HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct trg_buf;
struct trg_engine;
struct trg_http_req;

/* true when the request may go on (no admin_token in the running config, or the right bearer token);
 * otherwise it has been answered 401. */
bool trg_admin_authorized(const struct trg_engine *e, struct trg_http_req *req);
/* Answer status with the JSON in b. */
void trg_admin_respond_json(struct trg_http_req *req, int status, const struct trg_buf *b);
/* Answer 500 "out of memory". */
void trg_admin_respond_oom(struct trg_http_req *req);
/* Answer 200 with the JSON built in b, or 500 when building it failed (rc != 0); frees b. */
void trg_admin_respond_built(struct trg_http_req *req, int rc, struct trg_buf *b);
/* The HTTP status for an error of the DLQ or the engine (400, 404, 503, 500). */
int trg_admin_status_of(int err);
/* Answer the status for err with {"error":"<what>: <strerror>"}. */
void trg_admin_respond_err(struct trg_http_req *req, int err, const char *what);
/* Append a stored record: as JSON when it is JSON, else as a JSON string. */
int trg_admin_add_record(struct trg_buf *b, const char *record, size_t len);
/* Append "key":"value" (value escaped). */
int trg_admin_add_kv_str(struct trg_buf *b, const char *key, const char *value);

#endif
