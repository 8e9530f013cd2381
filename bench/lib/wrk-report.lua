-- wrk script: a JSON report (the line starts with "WRKJSON "), and an optional request
-- count limit (WRK_LIMIT, with one thread): wrk 4.1 keeps running until its duration
-- ends even after thread:stop(), so at the limit this script prints
-- "WRKLIMIT <responses> <non-2xx/3xx>" and exits the process; the caller times it.
local limit = tonumber(os.getenv("WRK_LIMIT") or "0")
local count = 0
local bad = 0

if limit > 0 then
  response = function(status, headers, body)
    count = count + 1
    if status >= 400 then bad = bad + 1 end
    if count >= limit then
      io.write(string.format("WRKLIMIT %d %d\n", count, bad))
      io.flush()
      os.exit(0)
    end
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
end
