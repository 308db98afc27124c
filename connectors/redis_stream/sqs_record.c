/* sqs_record.c — SQS-shaped records for Redis stream entries (see sqs_record.h). */
#include "sqs_record.h"

#include <string.h>

static int find_body(const struct trg_rs_entry *e)
{
    for (size_t i = 0; i < e->n_fields; i++)
        if (e->field_lens[i] == 4 && memcmp(e->fields[i], "body", 4) == 0)
            return (int)i;
    return -1;
}

int trg_rs_sqs_record(const struct trg_rs_entry *e, struct trg_buf *out)
{
    int body = find_body(e);
    size_t idlen = strlen(e->id);
    int64_t sent = trg_rstream_id_ms(e->id);
    int rc = trg_buf_adds(out, "{\"messageId\":");
    rc |= trg_buf_add_json_str(out, e->id, idlen);
    rc |= trg_buf_adds(out, ",\"receiptHandle\":");
    rc |= trg_buf_add_json_str(out, e->id, idlen);
    rc |= trg_buf_adds(out, ",\"body\":");
    if (body >= 0) {
        rc |= trg_buf_add_json_str(out, e->values[body], e->value_lens[body]);
    } else {
        struct trg_buf obj = {0};
        int orc = trg_buf_addc(&obj, '{');
        for (size_t i = 0; i < e->n_fields; i++) {
            if (i)
                orc |= trg_buf_addc(&obj, ',');
            orc |= trg_buf_add_json_str(&obj, e->fields[i], e->field_lens[i]);
            orc |= trg_buf_addc(&obj, ':');
            orc |= trg_buf_add_json_str(&obj, e->values[i], e->value_lens[i]);
        }
        orc |= trg_buf_addc(&obj, '}');
        rc |= orc ? orc : trg_buf_add_json_str(out, obj.data, obj.len);
        trg_buf_free(&obj);
    }
    rc |= trg_buf_addf(out,
                       ",\"attributes\":{\"ApproximateReceiveCount\":\"%lld\",\"SentTimestamp\":\"%lld\","
                       "\"SenderId\":\"trigd\",\"ApproximateFirstReceiveTimestamp\":\"%lld\"},\"messageAttributes\":{",
                       (long long)(e->receive_count > 0 ? e->receive_count : 1), (long long)(sent >= 0 ? sent : 0),
                       (long long)e->first_receive_ms);
    bool first = true;
    for (size_t i = 0; body >= 0 && i < e->n_fields; i++) {
        if ((int)i == body)
            continue;
        if (!first)
            rc |= trg_buf_addc(out, ',');
        first = false;
        rc |= trg_buf_add_json_str(out, e->fields[i], e->field_lens[i]);
        rc |= trg_buf_adds(out, ":{\"stringValue\":");
        rc |= trg_buf_add_json_str(out, e->values[i], e->value_lens[i]);
        rc |= trg_buf_adds(out, ",\"stringListValues\":[],\"binaryListValues\":[],\"dataType\":\"String\"}");
    }
    rc |= trg_buf_adds(out, "},\"eventSource\":");
    rc |= trg_buf_add_json_str(out, e->event_source, strlen(e->event_source));
    rc |= trg_buf_adds(out, ",\"eventSourceARN\":");
    rc |= trg_buf_add_json_str(out, e->arn, strlen(e->arn));
    rc |= trg_buf_adds(out, ",\"awsRegion\":\"local\"}");
    return rc ? TRG_ENOMEM : 0;
}
