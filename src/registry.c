/* registry.c — every invoker and connector trigd knows. Add new ones here. */
#include "registry.h"

#include <string.h>

#include "connectors/connector.h"
#include "invoke/invoke.h"
#include "log.h"

static const struct trg_invoker_ops *const invokers[] = {
    &trg_invoke_http,
    &trg_invoke_lambda,
    &trg_invoke_exec,
    &trg_invoke_runtime,
};

static const struct trg_source_ops *const sources[] = {
    &trg_source_webhook,
    &trg_source_redis_stream,
    &trg_source_kafka,
    &trg_source_schedule,
    &trg_source_mqtt,
    &trg_source_minio,
};

/* One extra type of each kind, set only by the in-process tests (tests/runtime/). */
static const struct trg_source_ops *extra_source;
static const struct trg_invoker_ops *extra_invoker;

void trg_registry_set_extra(const struct trg_source_ops *source, const struct trg_invoker_ops *invoker)
{
    extra_source = source;
    extra_invoker = invoker;
}

const struct trg_invoker_ops *trg_registry_invoker(const char *type)
{
    for (size_t i = 0; i < TRG_ARRAY_SIZE(invokers); i++)
        if (strcmp(invokers[i]->name, type) == 0)
            return invokers[i];
    return extra_invoker && strcmp(extra_invoker->name, type) == 0 ? extra_invoker : NULL;
}

const struct trg_source_ops *trg_registry_source(const char *type)
{
    for (size_t i = 0; i < TRG_ARRAY_SIZE(sources); i++)
        if (strcmp(sources[i]->name, type) == 0)
            return sources[i];
    return extra_source && strcmp(extra_source->name, type) == 0 ? extra_source : NULL;
}

const struct trg_invoker_ops *trg_registry_invoker_at(size_t i)
{
    return i < TRG_ARRAY_SIZE(invokers) ? invokers[i] : NULL;
}

const struct trg_source_ops *trg_registry_source_at(size_t i)
{
    return i < TRG_ARRAY_SIZE(sources) ? sources[i] : NULL;
}

int trg_registry_check(void)
{
    for (size_t i = 0; i < TRG_ARRAY_SIZE(invokers); i++)
        for (size_t j = i + 1; j < TRG_ARRAY_SIZE(invokers); j++)
            if (strcmp(invokers[i]->name, invokers[j]->name) == 0) {
                trg_error("registry", NULL, "two function types are named \"%s\"", invokers[i]->name);
                return TRG_EINVAL;
            }
    for (size_t i = 0; i < TRG_ARRAY_SIZE(sources); i++)
        for (size_t j = i + 1; j < TRG_ARRAY_SIZE(sources); j++)
            if (strcmp(sources[i]->name, sources[j]->name) == 0) {
                trg_error("registry", NULL, "two source types are named \"%s\"", sources[i]->name);
                return TRG_EINVAL;
            }
    return 0;
}
