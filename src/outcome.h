/* outcome.h — reading a function's partial batch response (ReportBatchItemFailures).
 *
 * {"batchItemFailures":[{"itemIdentifier":"<id>"}, ...]} names the records of the batch that failed.
 * Identifiers are strings (SQS messageId, stream sequence number, webhook request id), or for Kafka
 * objects {"topic-partition":"t-0","offset":100}, which this module reads as the string "t-0@100" —
 * the form a Kafka source puts in trg_event.item_id.
 *
 * As Lambda does: an empty body, a body without the key, and a null or empty list mean full success;
 * a body that is not JSON, an identifier that is missing, empty, not in the batch, or under a wrongly
 * cased key means the whole batch failed.
 */
#ifndef TRG_OUTCOME_H
#define TRG_OUTCOME_H

#include <stdbool.h>
#include <stddef.h>

/* Results of trg_outcome_parse(). */
enum trg_partial {
    TRG_PARTIAL_NONE = 0,      /* every item succeeded */
    TRG_PARTIAL_SOME = 1,      /* failed[i] is true for each failed item */
    TRG_PARTIAL_MALFORMED = 2, /* the response is malformed: treat the whole batch as failed */
};

/* ids: the batch's item identifiers (n of them; an id may be NULL when the source has none).
 * failed: n booleans, all written. why (may be NULL) receives a short explanation for MALFORMED. */
enum trg_partial trg_outcome_parse(const char *body, size_t len, const char *const *ids, size_t n,
                                   bool *failed, char *why, size_t why_len);

#endif
