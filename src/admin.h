/* admin.h — the admin API for trigctl (/admin/...) and the Lambda Invoke API
 * (POST /2015-03-31/functions/{name}/invocations), served by trigd's HTTP server. docs/ADMIN.md
 * describes every endpoint.
 *
 *   GET    /admin/status                 trg_engine_status_json()
 *   GET    /admin/routes                 {"routes":[...]}: the routes part of the status
 *   GET    /admin/dlq/{route}?after=&count=   a page of DLQ entries, oldest first
 *   GET    /admin/dlq/{route}/{id}       one entry (404 when absent)
 *   POST   /admin/dlq/{route}/redrive    {"id":ID} or {"all":true,"rate":N}: answered when done
 *   DELETE /admin/dlq/{route}            purge
 *   POST   /2015-03-31/functions/{name}/invocations   RequestResponse, Event, DryRun
 *
 * Requests that wait (DLQ operations, redrive, synchronous invocations) are answered later from
 * their callbacks; what they need lives in a per-request context freed when they are answered.
 */
#ifndef TRG_ADMIN_H
#define TRG_ADMIN_H

struct trg_engine;
struct trg_http;

/* Register the handlers on h (with e as their argument; they use e for as long as they are
 * registered). When the running config has http.admin_token, every /admin/ request and the Invoke
 * API need "Authorization: Bearer <token>", else 401. The token is read from the engine's current
 * config at each request, so a reload that changes it takes effect at once. main.c registers the
 * admin API over the engine (admin.c uses engine.h; the engine knows nothing of it). */
int trg_admin_register(struct trg_engine *e, struct trg_http *h);

#endif
