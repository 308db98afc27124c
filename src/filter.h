/* filter.h — a route's event filter: the EventBridge pattern language of Lambda's FilterCriteria,
 * cidr included, matched as AWS's event-ruler matches it.
 *
 * Patterns are compiled once at config load into an immutable tree; matching allocates nothing.
 * A record matches the filter when it matches any of its patterns (OR). An empty filter (no
 * patterns) matches all. docs/FILTERS.md describes the language, its limits and where trigd
 * differs from EventBridge.
 */
#ifndef TRG_FILTER_H
#define TRG_FILTER_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "opt.h"

/* Lambda's default quota of patterns per event source mapping: more are accepted with a warning. */
#define TRG_FILTER_PATTERNS_WARN 5
/* Deepest nesting of objects (nested fields and $or branches) in one pattern. */
#define TRG_FILTER_MAX_DEPTH 32
/* Nested arrays in a record that matching descends into; deeper elements are not looked at. */
#define TRG_FILTER_MAX_ARRAY_DEPTH 32
/* Alternatives one pattern's $or branches may combine into (each $or multiplies them by its number
 * of branches); more is a compile error. */
#define TRG_FILTER_MAX_ALTERNATIVES 1024

struct trg_filter;

/* Compile `patterns` (a JSON array of pattern objects, as in a route's "filters") found at path
 * ("$.routes.r.filters"). A single pattern object is accepted too, and so is a pattern written as a
 * string holding JSON, alone or as Lambda's {"Pattern": "..."}. NULL or [] compile to the empty filter.
 * Errors name the path inside the pattern ("$.routes.r.filters[0].body.price: numeric expects
 * operator/number pairs such as [\">\", 0, \"<=\", 5]"), all of them in one pass. More than
 * TRG_FILTER_PATTERNS_WARN patterns log a warning. Returns NULL with errors added (or on ENOMEM,
 * with an error added when possible), or a filter that the caller frees with trg_filter_free().
 * patterns is borrowed: the filter keeps no pointer into it. */
struct trg_filter *trg_filter_compile(const cJSON *patterns, const char *path, struct trg_errs *errs);
void trg_filter_free(struct trg_filter *f); /* NULL is a no-op */

/* Number of patterns (0 for the empty filter and for NULL). */
size_t trg_filter_count(const struct trg_filter *f);

/* Does the record (parsed JSON, borrowed) match? f NULL or empty matches everything. A record that
 * is not an object is seen as having no fields (only {"exists": false} can match). Allocates nothing. */
bool trg_filter_match(const struct trg_filter *f, const cJSON *record);

/* Like trg_filter_match(), and on no match writes into why (why_len bytes, always NUL-terminated,
 * truncated as needed) a short reason per pattern naming the first field that failed, e.g.
 *   pattern 0: detail.state: "running" matches none of the allowed values
 * On a match why is set to "". Allocates nothing (for trigctl test-pattern). */
bool trg_filter_explain(const struct trg_filter *f, const cJSON *record, char *why, size_t why_len);

#endif
