/* reload.c — building the engine's sources, routes and functions from a config: creating what the config
 * needs that the engine does not have unchanged, next to what runs, then making it live (retiring what the
 * config no longer has, starting new sources). trg_engine_create applies its config the same way: a
 * create is a reload from nothing. */
#include "engine.h"
#include "engine_impl.h"

#include <string.h>

#include "config.h"
#include "function.h"
#include "intake.h"
#include "log.h"
#include "route.h"
#include "source.h"

static struct trg_function *find_function(const struct trg_list *list, const char *name, const char *fp)
{
    for (struct trg_list *p = list->next; p != list; p = p->next) {
        struct trg_function *fn = trg_list_entry(p, struct trg_function, link);
        if (!fn->retired && strcmp(fn->name, name) == 0 && (!fp || strcmp(fn->conf->fingerprint, fp) == 0))
            return fn;
    }
    return NULL;
}

static struct trg_source *find_source(const struct trg_list *list, const char *name, const char *fp)
{
    for (struct trg_list *p = list->next; p != list; p = p->next) {
        struct trg_source *s = trg_list_entry(p, struct trg_source, link);
        if (!s->retired && strcmp(s->name, name) == 0 && (!fp || strcmp(s->conf->fingerprint, fp) == 0))
            return s;
    }
    return NULL;
}

/* New objects for a config, kept apart until they are committed. */
struct build {
    struct trg_list functions, sources, routes;
};

static void build_discard(struct build *b)
{
    struct trg_list *p, *tmp;
    trg_list_each(p, tmp, &b->routes) trg_route_destroy(trg_list_entry(p, struct trg_route, link));
    trg_list_each(p, tmp, &b->sources) trg_source_destroy(trg_list_entry(p, struct trg_source, link));
    trg_list_each(p, tmp, &b->functions) trg_function_destroy(trg_list_entry(p, struct trg_function, link));
}

/* Create what cfg needs and the engine does not have unchanged; routes go to b->routes. */
static int build(struct trg_engine *e, struct trg_config *cfg, struct build *b)
{
    trg_list_init(&b->functions);
    trg_list_init(&b->sources);
    trg_list_init(&b->routes);
    int rc = 0;
    for (size_t i = 0; i < cfg->n_functions && rc == 0; i++) {
        const struct trg_function_conf *fc = &cfg->functions[i];
        if (find_function(&e->functions, fc->name, fc->fingerprint))
            continue;
        struct trg_function *fn;
        rc = trg_function_create(&e->core, &e->function_owner, cfg, fc, &fn);
        if (rc == 0)
            trg_list_push_back(&b->functions, &fn->link);
    }
    for (size_t i = 0; i < cfg->n_sources && rc == 0; i++) {
        const struct trg_source_conf *sc = &cfg->sources[i];
        if (find_source(&e->sources, sc->name, sc->fingerprint))
            continue;
        struct trg_source *s;
        rc = trg_source_create(&e->source_env, cfg, sc, &s);
        if (rc == 0)
            trg_list_push_back(&b->sources, &s->link);
    }
    for (size_t i = 0; i < cfg->n_routes && rc == 0; i++) {
        const struct trg_route_conf *rc_ = &cfg->routes[i];
        struct trg_function *fn = find_function(&b->functions, rc_->function, NULL);
        if (!fn)
            fn = find_function(&e->functions, rc_->function, NULL);
        struct trg_source *s = find_source(&b->sources, rc_->source, NULL);
        if (!s)
            s = find_source(&e->sources, rc_->source, NULL);
        /* Unchanged: same definition, same source and function objects. */
        bool kept = false;
        for (struct trg_list *p = e->routes.next; p != &e->routes && !kept; p = p->next) {
            struct trg_route *r = trg_list_entry(p, struct trg_route, link);
            kept = !r->retired && strcmp(r->name, rc_->name) == 0 &&
                   strcmp(r->conf->fingerprint, rc_->fingerprint) == 0 && r->fn == fn && r->source == s;
        }
        if (kept)
            continue;
        struct trg_route *r;
        rc = trg_route_create(&e->core, &e->route_owner, cfg, rc_, s, fn, &r);
        if (rc == 0)
            trg_list_push_back(&b->routes, &r->link);
    }
    if (rc != 0)
        build_discard(b);
    return rc;
}

static bool in_config_function(const struct trg_config *cfg, const struct trg_function *fn)
{
    const struct trg_function_conf *fc = trg_config_function(cfg, fn->name);
    return fc && strcmp(fc->fingerprint, fn->conf->fingerprint) == 0;
}

static bool in_config_source(const struct trg_config *cfg, const struct trg_source *s)
{
    const struct trg_source_conf *sc = trg_config_source(cfg, s->name);
    return sc && strcmp(sc->fingerprint, s->conf->fingerprint) == 0;
}

static void retire_route(struct trg_engine *e, struct trg_route *r)
{
    r->retired = true;
    trg_list_remove(&r->src_link);
    trg_info("route", r->name, "retired: finishing the %zu event(s) it holds", r->held);
    trg_route_pump(r);
    if (r->held == 0)
        e->reap = true; /* freed in the engine's next prepare pass */
}

/* Make the build live: retire what the new config no longer has unchanged, adopt the new objects, and
 * (once the engine runs) start the new sources. Returns how many of those could not start. */
static int commit(struct trg_engine *e, struct trg_config *cfg, struct build *b)
{
    struct trg_list *p, *tmp;
    /* Routes first, so that no retired source still feeds an active route. */
    trg_list_each(p, tmp, &e->routes)
    {
        struct trg_route *r = trg_list_entry(p, struct trg_route, link);
        if (r->retired)
            continue;
        bool kept = false;
        for (size_t i = 0; i < cfg->n_routes && !kept; i++)
            kept = strcmp(cfg->routes[i].name, r->name) == 0 &&
                   strcmp(cfg->routes[i].fingerprint, r->conf->fingerprint) == 0 && in_config_source(cfg, r->source) &&
                   in_config_function(cfg, r->fn);
        if (!kept)
            retire_route(e, r);
    }
    trg_list_each(p, tmp, &e->sources)
    {
        struct trg_source *s = trg_list_entry(p, struct trg_source, link);
        if (!s->retired && !in_config_source(cfg, s)) {
            trg_source_retire(s);
            e->reap = true;
        }
    }
    trg_list_each(p, tmp, &e->functions)
    {
        struct trg_function *fn = trg_list_entry(p, struct trg_function, link);
        if (!fn->retired && !in_config_function(cfg, fn)) {
            fn->retired = true;
            e->reap = true;
        }
    }
    trg_list_each(p, tmp, &b->functions)
    {
        trg_list_remove(p);
        trg_list_push_back(&e->functions, p);
    }
    trg_list_each(p, tmp, &b->sources)
    {
        trg_list_remove(p);
        trg_list_push_back(&e->sources, p);
    }
    trg_list_each(p, tmp, &b->routes)
    {
        struct trg_route *r = trg_list_entry(p, struct trg_route, link);
        trg_list_remove(p);
        trg_list_push_back(&e->routes, p);
        if (r->conf->enabled)
            trg_list_push_back(&r->source->routes, &r->src_link);
    }
    /* Unchanged routes keep their objects but now read their settings from the new config. */
    trg_list_each(p, tmp, &e->routes)
    {
        struct trg_route *r = trg_list_entry(p, struct trg_route, link);
        if (r->retired || r->cfg == cfg)
            continue;
        for (size_t i = 0; i < cfg->n_routes; i++)
            if (strcmp(cfg->routes[i].name, r->name) == 0) {
                trg_config_ref(cfg);
                trg_config_unref(r->cfg);
                r->cfg = cfg;
                r->conf = &cfg->routes[i];
            }
    }
    e->unhold = true; /* a held event's source may have a route (with room) now */
    int not_started = 0;
    if (e->started_ms) {
        trg_list_each(p, tmp, &e->sources)
        {
            struct trg_source *s = trg_list_entry(p, struct trg_source, link);
            if (!s->started && !s->retired && trg_source_start(s) != 0)
                not_started++;
        }
    }
    trg_config_ref(cfg);
    if (e->cfg)
        trg_config_unref(e->cfg);
    e->cfg = cfg;
    trg_intake_sync(e->intake, &e->routes);
    return not_started;
}

struct trg_function *trg_engine_find_function(const struct trg_engine *e, const char *name)
{
    return find_function(&e->functions, name, NULL);
}

int trg_engine_apply(struct trg_engine *e, struct trg_config *cfg, int *not_started)
{
    struct build b;
    int rc = build(e, cfg, &b);
    if (rc != 0)
        return rc;
    int n = commit(e, cfg, &b);
    if (not_started)
        *not_started = n;
    return 0;
}

int trg_engine_reload(struct trg_engine *e, struct trg_config *conf)
{
    if (strcmp(conf->http.listen, e->cfg->http.listen) != 0)
        trg_warn("engine", NULL, "http.listen changed to %s: that takes a restart; still listening on %s",
                 conf->http.listen, e->cfg->http.listen);
    if (conf->has_redis != e->cfg->has_redis ||
        (conf->has_redis && strcmp(conf->redis.url, e->cfg->redis.url) != 0))
        trg_warn("engine", NULL, "redis settings changed: that takes a restart; keeping the current connection");
    /* Sources that change are stopped before their successors start (they may share an HTTP path). */
    trg_config_ref(conf); /* as in trg_engine_create: dropped below, which frees conf if nothing took it */
    int not_started;
    int rc = trg_engine_apply(e, conf, &not_started);
    if (rc != 0) {
        trg_config_unref(conf);
        return rc;
    }
    trg_info("engine", NULL, "reloaded %s: %zu source(s), %zu route(s), %zu function(s)", conf->path,
             conf->n_sources, conf->n_routes, conf->n_functions);
    trg_config_unref(conf);
    return not_started;
}
