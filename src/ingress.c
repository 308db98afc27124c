/* ingress.c — the HTTP face the push sources' paths share (webhook, MinIO's webhook mode): methods,
 * the bearer token, and the 503 of a refused event. Declared in connectors/connector.h; it uses only
 * that face, so connectors' unit tests can link it beside their stand-in engine. */
#include <string.h>

#include "connectors/connector.h"
#include "http.h"
#include "log.h"

bool trg_source_ingress(struct trg_source *src, struct trg_http_req *req, const char *token, bool head_ok,
                        const char *hint)
{
    const char *method = trg_http_req_method(req);
    if (head_ok && strcmp(method, "HEAD") == 0) {
        trg_http_respond(req, 200, "application/json", "", 0, NULL);
        return false;
    }
    if (strcmp(method, "POST") != 0) {
        const char *allow[] = {"Allow", head_ok ? "POST, HEAD" : "POST", NULL};
        trg_http_respond_json(req, 405, "{\"error\":\"use POST\"}", allow);
        return false;
    }
    if (!trg_http_req_bearer_ok(req, token)) {
        const char *hdr[] = {"WWW-Authenticate", "Bearer", NULL};
        trg_warn("source", trg_source_name(src), "refused a POST from %s: missing or wrong bearer token%s%s%s",
                 trg_http_req_remote(req), hint ? " (" : "", hint ? hint : "", hint ? ")" : "");
        trg_http_respond_json(req, 401, "{\"error\":\"unauthorized\"}", hdr);
        return false;
    }
    return true;
}

void trg_source_ingress_refuse(struct trg_source *src, struct trg_http_req *req)
{
    trg_http_respond_retry(req, 503,
                           trg_source_shutting_down(src) ? "trigd is stopping; retry later"
                                                         : "the routes of this source are full; retry later");
}

