/* admin.h — the admin API for trigctl (/admin/...) and the Lambda Invoke API
 * (POST /2015-03-31/functions/{name}/invocations), served by trigd's HTTP server. */
#ifndef TRG_ADMIN_H
#define TRG_ADMIN_H

struct trg_engine;
struct trg_http;

/* Register the handlers; they use e for as long as they are registered. admin_token (may be NULL) is
 * required as a Bearer token by /admin/ when set; borrowed for the registration's lifetime. */
int trg_admin_register(struct trg_engine *e, struct trg_http *h, const char *admin_token);

#endif
