/* redrive.h — POST /admin/dlq/{route}/redrive (docs/ADMIN.md): {"id":ID} or {"all":true,"rate":N}.
 * Each DLQ entry is re-submitted to its route (trg_engine_redrive) and deleted from the DLQ once its
 * records reached a new final outcome; the request is answered when every started entry is done.
 */
#ifndef TRG_REDRIVE_H
#define TRG_REDRIVE_H

struct trg_engine;
struct trg_http_req;

/* Handle one redrive request for route (copied); the caller has checked the token. */
void trg_redrive_request(struct trg_engine *e, struct trg_http_req *req, const char *route);

#endif
