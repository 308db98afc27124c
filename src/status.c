/* status.c — what the engine shows of itself: /healthz, /readyz and /metrics, and the admin API's status,
 * routes and source views. Reads struct trg_engine (engine_impl.h), never writes it. */
#include <string.h>

#include "config.h"
#include "connectors/connector.h"
#include "engine.h"
#include "engine_impl.h"
#include "http.h"
#include "log.h"
#include "metrics.h"

bool trg_engine_ready(const struct trg_engine *e)
{
    if (e->redis && !trg_redis_connected(e->redis))
        return false;
    for (struct trg_list *p = e->sources.next; p != &e->sources; p = p->next) {
        struct trg_source *s = trg_list_entry(p, struct trg_source, link);
        if (s->retired)
            continue;
        if (!s->started || !trg_source_ready(s))
            return false;
    }
    return !e->core.stopping;
}

/* 200 while trigd runs; "degraded" names the routes waiting for the DLQ (their sources are paused). */
static void on_healthz(void *arg, struct trg_http_req *req)
{
    struct trg_engine *e = arg;
    struct trg_buf b = {0};
    size_t n = 0;
    for (struct trg_list *p = e->routes.next; p != &e->routes; p = p->next) {
        struct trg_route *r = trg_list_entry(p, struct trg_route, link);
        if (!r->failure.blocked)
            continue;
        trg_buf_adds(&b, n++ ? "," : "{\"status\":\"degraded\",\"dlq_blocked\":[");
        trg_buf_add_json_str(&b, r->name, strlen(r->name));
    }
    if (n && trg_buf_adds(&b, "]}") == 0)
        trg_http_respond(req, 200, "application/json", b.data, b.len, NULL);
    else
        trg_http_respond(req, 200, "application/json", "{\"status\":\"ok\"}", 15, NULL);
    trg_buf_free(&b);
}

static void on_readyz(void *arg, struct trg_http_req *req)
{
    struct trg_engine *e = arg;
    if (trg_engine_ready(e))
        trg_http_respond(req, 200, "application/json", "{\"ready\":true}", 14, NULL);
    else
        trg_http_respond(req, 503, "application/json", "{\"ready\":false}", 15, NULL);
}

static void on_metrics(void *arg, struct trg_http_req *req)
{
    struct trg_engine *e = arg;
    struct trg_buf b = {0};
    struct trg_list *p;
    for (p = e->routes.next; p != &e->routes; p = p->next)
        trg_route_update_metrics(trg_list_entry(p, struct trg_route, link));
    for (p = e->sources.next; p != &e->sources; p = p->next)
        trg_source_publish(trg_list_entry(p, struct trg_source, link));
    if (trg_metrics_render(e->core.metrics, &b) != 0) {
        trg_buf_free(&b);
        trg_http_respond_error(req, 500, "out of memory");
        return;
    }
    trg_http_respond(req, 200, "text/plain; version=0.0.4", b.data ? b.data : "", b.len, NULL);
    trg_buf_free(&b);
}

int trg_engine_sources_status_json(struct trg_engine *e, const char *type, int next_n, struct trg_buf *out)
{
    int rc = trg_buf_addc(out, '[');
    bool first = true;
    for (struct trg_list *p = e->sources.next; p != &e->sources && !rc; p = p->next) {
        struct trg_source *s = trg_list_entry(p, struct trg_source, link);
        if (s->retired || strcmp(s->conf->type, type) != 0 || !s->conf->ops->status_json)
            continue;
        rc = first ? 0 : trg_buf_addc(out, ',');
        rc = rc ? rc : s->conf->ops->status_json(s->inst, out, next_n);
        first = false;
    }
    return rc ? rc : trg_buf_addc(out, ']');
}

int trg_engine_routes_json(struct trg_engine *e, struct trg_buf *out)
{
    int rc = trg_buf_addc(out, '[');
    bool first = true;
    struct trg_list *p;
    for (p = e->routes.next; p != &e->routes; p = p->next) {
        struct trg_route *r = trg_list_entry(p, struct trg_route, link);
        if (r->retired)
            continue;
        rc |= trg_buf_addf(out, "%s{\"name\":", first ? "" : ",");
        rc |= trg_buf_add_json_str(out, r->name, strlen(r->name));
        rc |= trg_buf_adds(out, ",\"source\":");
        rc |= trg_buf_add_json_str(out, r->conf->source, strlen(r->conf->source));
        rc |= trg_buf_adds(out, ",\"function\":");
        rc |= trg_buf_add_json_str(out, r->conf->function, strlen(r->conf->function));
        rc |= trg_buf_addf(out,
                           ",\"enabled\":%s,\"held\":%zu,\"full\":%s,\"dlq_blocked\":%s,\"batch_size\":%lld,"
                           "\"batch_window_ms\":%lld,\"max_retry_attempts\":%lld,\"max_record_age_s\":%lld}",
                           r->conf->enabled && !r->paused ? "true" : "false", r->held, r->full ? "true" : "false",
                           r->failure.blocked ? "true" : "false", (long long)r->conf->batch_size,
                           (long long)r->conf->batch_window_ms, (long long)r->conf->max_retry_attempts,
                           (long long)r->conf->max_record_age_s);
        first = false;
    }
    rc |= trg_buf_addc(out, ']');
    return rc ? TRG_ENOMEM : 0;
}

int trg_engine_status_json(struct trg_engine *e, struct trg_buf *out)
{
    int rc = trg_buf_addf(out, "{\"version\":\"%s\",\"uptime_s\":%lld,\"ready\":%s,\"config\":", PACKAGE_VERSION,
                          (long long)((trg_mono_ms() - e->started_ms) / 1000), trg_engine_ready(e) ? "true" : "false");
    rc |= trg_buf_add_json_str(out, e->cfg->path, strlen(e->cfg->path));
    rc |= trg_buf_adds(out, ",\"sources\":[");
    bool first = true;
    struct trg_list *p;
    for (p = e->sources.next; p != &e->sources; p = p->next) {
        struct trg_source *s = trg_list_entry(p, struct trg_source, link);
        if (s->retired)
            continue;
        rc |= first ? 0 : trg_buf_addc(out, ',');
        rc |= trg_source_status_json(s, out);
        first = false;
    }
    rc |= trg_buf_adds(out, "],\"routes\":");
    rc |= trg_engine_routes_json(e, out);
    rc |= trg_buf_adds(out, ",\"functions\":[");
    first = true;
    for (p = e->functions.next; p != &e->functions; p = p->next) {
        struct trg_function *fn = trg_list_entry(p, struct trg_function, link);
        if (fn->retired)
            continue;
        rc |= trg_buf_addf(out, "%s{\"name\":", first ? "" : ",");
        rc |= trg_buf_add_json_str(out, fn->name, strlen(fn->name));
        rc |= trg_buf_addf(out, ",\"type\":\"%s\",\"inflight\":%d,\"max_concurrency\":%lld", fn->conf->type,
                           fn->inflight, (long long)fn->conf->max_concurrency);
        rc |= fn->conf->ops->status_json ? fn->conf->ops->status_json(fn->inst, out) : 0;
        rc |= trg_buf_adds(out, "}");
        first = false;
    }
    rc |= trg_buf_adds(out, "]}");
    return rc ? TRG_ENOMEM : 0;
}

int trg_engine_status_register(struct trg_engine *e)
{
    int rc;
    if ((rc = trg_http_route(e->http, "GET", "/healthz", 0, on_healthz, e)) != 0 ||
        (rc = trg_http_route(e->http, "GET", "/readyz", 0, on_readyz, e)) != 0 ||
        (rc = trg_http_route(e->http, "GET", "/metrics", 0, on_metrics, e)) != 0)
        return rc;
    return 0;
}
