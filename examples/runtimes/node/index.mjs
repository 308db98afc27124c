// index.mjs — Node.js handlers for a trigd `runtime` function, run unchanged by AWS's runtime interface
// client (aws-lambda-ric): node .../aws-lambda-ric/bin/index.mjs index.HANDLER, from this directory.
// README.md next to this file shows the function config.

// Module scope runs once per instance (the cold start); a warm instance keeps it between invokes.
const startedAt = new Date().toISOString();
let invocations = 0;

// handler: answers with the event, which instance served it (its pid and how many invokes it has seen) and
// parts of its context.
export const handler = async (event, context) => {
  invocations += 1;
  console.log(`node handler: invoke ${invocations} in pid ${process.pid}`);
  return {
    runtime: "node",
    pid: process.pid,
    startedAt,
    invocations,
    requestId: context.awsRequestId,
    functionName: context.functionName,
    memoryLimitInMB: context.memoryLimitInMB,
    remainingTimeMs: context.getRemainingTimeInMillis(),
    clientContext: context.clientContext ?? null, // the Invoke API caller's ClientContext (synchronous calls)
    event,
  };
};

// fail: a function error; the invoker and the DLQ record get errorType "Error" and this message.
export const fail = async () => {
  throw new Error("fail: this handler always fails");
};

// Kafka records whose value failed once in this instance: a transient failure, fixed by a retry.
const failedOnce = new Set();

// kafka: processes a self-managed Kafka batch ({"records": {"topic-partition": [record, ...]}}) with a
// partial batch response, for a route with "report_batch_item_failures": true. A record whose value is
// "fail-once" fails the first time this instance sees it and succeeds after; a record whose value starts
// with "fail" otherwise always fails. Kafka partitions are ordered, so for each partition only its first
// failed record is reported: trigd (like Lambda) restarts that partition's batch there. Logs one line
// per batch: kafka-batch {"tp": {"offsets": [...], "failed": N or null}}.
export const kafka = async (event) => {
  const batchItemFailures = [];
  const seen = {};
  for (const [tp, records] of Object.entries(event.records ?? {})) {
    seen[tp] = { offsets: records.map((r) => r.offset), failed: null };
    for (const record of records) {
      const value = Buffer.from(record.value ?? "", "base64").toString();
      const key = `${tp}@${record.offset}`;
      let ok = !value.startsWith("fail");
      if (value === "fail-once" && !failedOnce.has(key)) {
        failedOnce.add(key);
      } else if (value === "fail-once") {
        ok = true;
      }
      if (!ok) {
        seen[tp].failed = record.offset;
        batchItemFailures.push({ itemIdentifier: { "topic-partition": tp, offset: record.offset } });
        break;
      }
    }
  }
  console.log(`kafka-batch ${JSON.stringify(seen)}`);
  return { batchItemFailures };
};
