-- webhook_http.lua — wrk script for bench/webhook_http.sh: POSTs a small JSON body that carries its send
-- time (wall clock, ms) as "sent_ms", so the sink can compute the delivery latency from its records.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_usec; } bench_timeval;
int gettimeofday(bench_timeval *tv, void *tz);
]]

local tv = ffi.new("bench_timeval")
local n = 0

local function now_ms()
    ffi.C.gettimeofday(tv, nil)
    return tonumber(tv.tv_sec) * 1000 + math.floor(tonumber(tv.tv_usec) / 1000)
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

request = function()
    n = n + 1
    local body = string.format('{"sent_ms":%d,"n":%d,"pad":"0123456789abcdef0123456789abcdef"}', now_ms(), n)
    return wrk.format(nil, nil, nil, body)
end

-- One parseable line for the driver script.
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("WRK requests=%d duration_us=%d status_errors=%d socket_errors=%d\n",
        summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout))
end
