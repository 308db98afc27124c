-- runtime_http.lua — wrk script for bench/runtime_http.sh: POSTs a small JSON event to trigd's Invoke API
-- and counts the answers that carry X-Amz-Function-Error (a 200 that is a failed invoke).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"n":1,"pad":"0123456789abcdef0123456789abcdef"}'

local threads = {}
function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    function_errors = 0
end

function response(status, headers, body)
    if headers["X-Amz-Function-Error"] or headers["x-amz-function-error"] then
        function_errors = function_errors + 1
    end
end

-- One parseable line for the driver script (latencies in microseconds).
function done(summary, latency, requests)
    local e = summary.errors
    local ferr = 0
    for _, t in ipairs(threads) do
        ferr = ferr + (t:get("function_errors") or 0)
    end
    io.write(string.format("WRK requests=%d duration_us=%d status_errors=%d socket_errors=%d function_errors=%d p50_us=%d p99_us=%d\n",
        summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout, ferr,
        latency:percentile(50), latency:percentile(99)))
end
