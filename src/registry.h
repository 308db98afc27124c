/* registry.h — the one static table of function invokers and source connectors. */
#ifndef TRG_REGISTRY_H
#define TRG_REGISTRY_H

#include <stddef.h>

struct trg_invoker_ops;
struct trg_source_ops;

/* NULL when no invoker/connector has that type name. */
const struct trg_invoker_ops *trg_registry_invoker(const char *type);
const struct trg_source_ops *trg_registry_source(const char *type);
/* The i-th entry, or NULL past the end (for docs and --help). */
const struct trg_invoker_ops *trg_registry_invoker_at(size_t i);
const struct trg_source_ops *trg_registry_source_at(size_t i);
/* For the in-process tests only (tests/runtime/): a source type and an invoker type (either may be NULL)
 * found by name after the built-in ones, never listed by the _at functions (so not in the docs).
 * trigd itself never calls this. */
void trg_registry_set_extra(const struct trg_source_ops *source, const struct trg_invoker_ops *invoker);
/* 0, or TRG_EINVAL (logged) when two entries share a name. Called once at start. */
int trg_registry_check(void);

#endif
