// lambda_sdk.js — drives @aws-sdk/client-lambda (JS SDK v3) against trigd for lambda_clients.sh.
// node lambda_sdk.js ENDPOINT OP [ARGS...]; prints one JSON line: what the SDK returned, or {"error": name,
// "message", "status", "requestId", "Reason", "retryAfterSeconds"}. Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY;
// SKEW_MS shifts the SDK's clock (systemClockOffset) and retries are off, so a refusal stays a refusal.
'use strict';
const {
    LambdaClient, InvokeCommand, ListFunctionsCommand, GetFunctionCommand, GetFunctionConfigurationCommand,
    GetFunctionConcurrencyCommand, ListEventSourceMappingsCommand, GetEventSourceMappingCommand,
    UpdateEventSourceMappingCommand, CreateFunctionCommand,
} = require('@aws-sdk/client-lambda');

const [endpoint, op, ...args] = process.argv.slice(2);
const client = new LambdaClient({
    endpoint, region: process.env.AWS_REGION || 'eu-central-1', maxAttempts: 1,
    systemClockOffset: Number(process.env.SKEW_MS || 0),
    credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY },
});

function command() {
    switch (op) {
    case 'invoke': // FUNCTION PAYLOAD [TYPE] [LOGTYPE] [QUALIFIER] [CLIENT_CONTEXT_BASE64]
        return new InvokeCommand({
            FunctionName: args[0], Payload: Buffer.from(args[1] || '{}'), InvocationType: args[2] || undefined,
            LogType: args[3] || undefined, Qualifier: args[4] || undefined, ClientContext: args[5] || undefined,
        });
    case 'list-functions': return new ListFunctionsCommand({});
    case 'get-function': return new GetFunctionCommand({ FunctionName: args[0] });
    case 'get-function-configuration': return new GetFunctionConfigurationCommand({ FunctionName: args[0] });
    case 'get-function-concurrency': return new GetFunctionConcurrencyCommand({ FunctionName: args[0] });
    case 'list-event-source-mappings': return new ListEventSourceMappingsCommand({ FunctionName: args[0] });
    case 'get-event-source-mapping': return new GetEventSourceMappingCommand({ UUID: args[0] });
    case 'update-event-source-mapping': return new UpdateEventSourceMappingCommand({ UUID: args[0], BatchSize: 5 });
    case 'create-function':
        return new CreateFunctionCommand({ FunctionName: args[0], Role: 'arn:aws:iam::000000000000:role/x', Code: {} });
    default: throw new Error('unknown op ' + op);
    }
}

client.send(command()).then((out) => {
    const o = { ...out };
    if (o.Payload) o.Payload = Buffer.from(o.Payload).toString('utf8');
    if (o.LogResult) o.Log = Buffer.from(o.LogResult, 'base64').toString('utf8');
    o.requestId = out.$metadata.requestId;
    o.status = out.$metadata.httpStatusCode;
    delete o.$metadata;
    console.log(JSON.stringify(o));
}, (err) => {
    console.log(JSON.stringify({
        error: err.name, message: err.message, status: err.$metadata && err.$metadata.httpStatusCode,
        requestId: err.$metadata && err.$metadata.requestId, Reason: err.Reason,
        retryAfterSeconds: err.retryAfterSeconds,
    }));
});
