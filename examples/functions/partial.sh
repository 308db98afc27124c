#!/usr/bin/env bash
# partial.sh — an exec function that reports the first record of each batch as failed, for routes with
# "report_batch_item_failures": true. It answers {"batchItemFailures":[{"itemIdentifier":ID}]} where ID is
# what Lambda expects for the batch's shape (docs/EVENTS.md):
#   SQS-shaped Records (redis streams)   the record's messageId
#   Kafka (records keyed "topic-partition")  {"topic-partition":"t-0","offset":N}
#   any other list of records            its messageId, eventID, sequenceNumber or id, else "0"
# A single event (no records) succeeds with an empty list. Needs python3.
set -euo pipefail
exec python3 -c '
import json, sys

event = json.load(sys.stdin)
failed = []
records = event.get("Records", event.get("records")) if isinstance(event, dict) else None
if isinstance(records, dict):  # Kafka: {"topic-partition": [record, ...]}
    for tp, recs in records.items():
        if recs:
            failed.append({"topic-partition": tp, "offset": recs[0].get("offset")})
            break
elif isinstance(records, list) and records:
    first = records[0] if isinstance(records[0], dict) else {}
    ident = next((first[k] for k in ("messageId", "eventID", "sequenceNumber", "id") if k in first), "0")
    failed.append(ident)
print("partial.sh: %d record(s) reported failed" % len(failed), file=sys.stderr)
print(json.dumps({"batchItemFailures": [{"itemIdentifier": i} for i in failed]}))
'
