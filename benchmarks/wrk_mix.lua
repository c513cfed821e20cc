-- wrk script: the request mix of bench/load/locustfile.py, for benchmarks/lab_vs_wrk.py.
--
-- Locust's ApiUser picks one of 7 tasks at random with equal weight; here each
-- connection's next request comes from one rotation through the same 7 requests
-- (the user ids, attributes and POST ids cycle through the same values locust draws
-- from), so both tools send the same mix in the same proportions.
--
-- WRK_MIX_RATE (environment): total requests per second of this wrk thread: one schedule
-- shared by every connection, a slot every 1/rate s (slots missed while all connections
-- wait for responses pass unused, where the lab's open model would open another
-- connection: at the moderate rate the benchmark uses, neither runs out). Unset or 0: flat out.
-- `delay` is only defined when pacing, because wrk routes every request through a timer
-- once a script has one, which would slow the flat-out (peak) measurement.
--
-- At the end `done` prints one JSON line (counts, errors, latency in microseconds) that
-- the Python side reads instead of wrk's human-readable summary.

local USER_IDS = { 0, 1, 2 }  -- the rows every app starts with
local ATTRIBUTES = { "name", "age" }
local POST_FIRST, POST_COUNT = 100, 100  -- locust's POST_IDS = range(100, 200)

local requests_list = {}
local next_index = 1

-- WRK_MIX_SHAPE (environment): "wrk" (default) sends wrk's own bytes (wrk.format: the request line,
-- Host, and for the POST Content-Type and Content-Length); "locust" sends the bytes the lab's
-- locust sends, header for header in its order (tests/integration/test_request_shape.py pins them),
-- so benchmarks/lab_vs_wrk_fidelity.py can price the headers apart from the generator.
local SHAPE = os.getenv("WRK_MIX_SHAPE") or "wrk"
local LOCUST_AGENT = "User-Agent: python/gevent-http-client-2.6.1\r\nAccept-Encoding: gzip, deflate, br\r\n"

local function locust_get(path)
  return "GET " .. path .. " HTTP/1.1\r\n" .. LOCUST_AGENT .. "Host: " .. wrk.headers["Host"] .. "\r\n\r\n"
end

local function locust_post(path, body)
  return "POST " .. path .. " HTTP/1.1\r\n" .. LOCUST_AGENT
    .. "Content-Type: application/json\r\nAccept: application/json\r\nHost: " .. wrk.headers["Host"]
    .. "\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body
end

-- The 7 requests of one round `r` (0-based), in the locustfile's task order.
local function round_requests(r)
  local id = USER_IDS[r % #USER_IDS + 1]
  local attribute = ATTRIBUTES[r % #ATTRIBUTES + 1]
  local post_id = POST_FIRST + r % POST_COUNT
  local body = string.format('{"id": %d, "name": "user%d", "age": "%d"}', post_id, post_id, 20 + post_id % 50)
  local paths = { "/", "/health", "/metadata", "/users_name/" .. id, "/users_name/?users_id=" .. id,
    "/users/" .. attribute .. "?users_id=" .. id }
  local list = {}
  for _, path in ipairs(paths) do
    list[#list + 1] = SHAPE == "locust" and locust_get(path) or wrk.format("GET", path)
  end
  list[#list + 1] = SHAPE == "locust" and locust_post("/add_users/", body)
    or wrk.format("POST", "/add_users/", { ["Content-Type"] = "application/json" }, body)
  return list
end

function init(args)
  -- Pre-format every request once: request() then costs a table lookup, as cheap as
  -- wrk's static request, so the mix itself does not slow wrk down. 300 rounds cover
  -- every combination of user id (3), attribute (2) and POST id (100).
  for r = 0, 299 do
    for _, req in ipairs(round_requests(r)) do
      requests_list[#requests_list + 1] = req
    end
  end
end

function request()
  local req = requests_list[next_index]
  next_index = next_index % #requests_list + 1
  return req
end

local rate = tonumber(os.getenv("WRK_MIX_RATE") or "0") or 0

if rate > 0 then
  local ffi = require("ffi")
  -- wrk gives Lua no wall clock finer than a second; LuaJIT's ffi reaches libc's.
  ffi.cdef([[
    typedef struct { long tv_sec; long tv_nsec; } wrk_mix_timespec;
    int clock_gettime(int clk_id, wrk_mix_timespec *tp);
  ]])
  local CLOCK_MONOTONIC = 1
  local ts = ffi.new("wrk_mix_timespec")
  local interval_ms = 1000.0 / rate
  local next_slot_ms = nil

  local function now_ms()
    ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
    return tonumber(ts.tv_sec) * 1000.0 + tonumber(ts.tv_nsec) / 1e6
  end

  -- Milliseconds this connection waits before its next request: the next free slot.
  function delay()
    local now = now_ms()
    local slot = math.max(next_slot_ms or now, now)
    next_slot_ms = slot + interval_ms
    -- wrk's timers take whole milliseconds; round to nearest so the schedule stays centred
    return math.floor(slot - now + 0.5)
  end
end

local function json_number(value)
  if value ~= value or value == math.huge or value == -math.huge then
    return "null"  -- NaN or infinity: no samples
  end
  return string.format("%.3f", value)
end

function done(summary, latency, requests)
  local e = summary.errors
  local lat = "null"
  if summary.requests > 0 then
    lat = string.format(
      '{"mean": %s, "stdev": %s, "min": %s, "max": %s, "p50": %s, "p90": %s, "p95": %s, "p99": %s}',
      json_number(latency.mean), json_number(latency.stdev), json_number(latency.min),
      json_number(latency.max), json_number(latency:percentile(50)), json_number(latency:percentile(90)),
      json_number(latency:percentile(95)), json_number(latency:percentile(99)))
  end
  io.write(string.format(
    '{"wrk_mix": 1, "requests": %d, "duration_us": %d, "bytes": %d, "rate": %s, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, "latency_us": %s}\n',
    summary.requests, summary.duration, summary.bytes, json_number(rate),
    e.connect, e.read, e.write, e.status, e.timeout, lat))
end
