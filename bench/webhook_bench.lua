-- wrk script for bench/webhook_bench.sh: POSTs one AdmissionReview (the file $BENCH_BODY) over
-- keep-alive TLS and prints a RESULT line that the shell script turns into a table.
--
-- Fixed rate: Debian's wrk (4.1) has no -R. With $BENCH_RATE set, each wrk thread keeps a schedule of
-- send slots $BENCH_THREADS/$BENCH_RATE seconds apart (threads offset by a fraction of that), and
-- delay(), which wrk calls before every request on every connection, hands the connection the next
-- slot. With more connections than requests in flight the offered load is exactly the rate; a thread
-- that falls behind catches up (bursts) unless it is more than 100 ms late. wrk starts a request's
-- latency clock when it writes the request, so the delay is not counted as latency.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } plano_bench_timespec;
int clock_gettime(int clock_id, plano_bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("plano_bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"

local rate = tonumber(os.getenv("BENCH_RATE") or "0")
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
local interval = rate > 0 and 1000 * nthreads / rate or 0

-- Runs in the setup state: numbers the threads for their offsets.
local created = 0
function setup(thread)
  thread:set("thread_index", created)
  created = created + 1
end

local next_slot = nil
function delay()
  if interval == 0 then return 0 end
  local t = now_ms()
  if next_slot == nil then
    next_slot = t + interval * (thread_index or 0) / nthreads
  else
    next_slot = next_slot + interval
    if next_slot < t - 100 then next_slot = t end
  end
  local wait = next_slot - t
  return wait > 0 and wait or 0
end

-- No response() hook: it would copy every body into Lua. The shell script checks the answer once,
-- and wrk counts non-2xx answers as errors.
function done(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d seconds=%.2f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f errors=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, latency.max / 1000,
    e.connect + e.read + e.write + e.timeout + e.status))
end
