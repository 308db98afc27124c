/* filter.h — a route's event filter: the EventBridge pattern language of Lambda's FilterCriteria.
 *
 * Patterns are compiled once at config load; matching allocates nothing. A record matches the
 * filter when it matches any of its patterns (OR). An empty filter (no patterns) matches all.
 */
#ifndef TRG_FILTER_H
#define TRG_FILTER_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "opt.h"

struct trg_filter;

/* Compile `patterns` (a JSON array of pattern objects, as in a route's "filters") found at path
 * ("$.routes.r.filters"). Errors name the path inside the pattern ("$.routes.r.filters[0].body.price:
 * numeric needs an operator and a number"). Returns NULL with errors added, or a filter that the caller
 * frees with trg_filter_free(). */
struct trg_filter *trg_filter_compile(const cJSON *patterns, const char *path, struct trg_errs *errs);
void trg_filter_free(struct trg_filter *f); /* NULL is a no-op */

/* Does the record (parsed JSON) match? */
bool trg_filter_match(const struct trg_filter *f, const cJSON *record);

/* Like trg_filter_match(), and on no match writes a short reason naming the first field that
 * failed into why (for trigctl test-pattern). */
bool trg_filter_explain(const struct trg_filter *f, const cJSON *record, char *why, size_t why_len);

#endif
