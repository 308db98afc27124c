/* sqs_record.h — SQS-shaped records for Redis stream entries (private to connectors/redis_stream/;
 * exposed for the unit tests). */
#ifndef TRG_RS_SQS_RECORD_H
#define TRG_RS_SQS_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "../connector.h"

struct trg_rs_entry {
    const char *id;                /* the entry id, "<ms>-<seq>" */
    size_t n_fields;
    const char *const *fields;
    const size_t *field_lens;
    const char *const *values;
    const size_t *value_lens;
    int64_t receive_count;         /* delivery count, >= 1 */
    int64_t first_receive_ms;      /* when trigd took it (approximate for a redelivery) */
    const char *event_source;      /* "trigd:redis" or "aws:sqs" */
    const char *arn;               /* eventSourceARN: the stream */
};

/* Append one SQS record for e to out: messageId and receiptHandle = the id; body = the entry's `body`
 * field, or all fields as a JSON object (string values) when there is none; the other fields, next to a
 * `body`, as String messageAttributes; attributes ApproximateReceiveCount, SentTimestamp (from the id),
 * SenderId "trigd", ApproximateFirstReceiveTimestamp; eventSource, eventSourceARN, awsRegion "local". */
int trg_rs_sqs_record(const struct trg_rs_entry *e, struct trg_buf *out);

#endif
