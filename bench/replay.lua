-- wrk script: replays a pre-generated request file exactly once, in order, then stops wrk.
--
--   wrk -t1 -c16 -d600s --timeout 30s -s bench/replay.lua <base url> -- <file> <secret> <path>
--
-- Each line of <file> is "<kind>\t<cold flags>\t<Update JSON>" (bench/workload.py). wrk has no request count, so
-- delay() hands out one request per line and parks every connection after the last one; the
-- response to the last line records the time and interrupts wrk (SIGINT to its main thread), which
-- then prints the usual summary and calls done(). done() prints one line, "BENCH-JSON {...}":
-- wrk's latency percentiles plus what response() tallied per kind from the X-Bench-* headers
-- (bench/middleware.py). One wrk thread (-t1): the counters live in that thread's Lua state.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock, bench_timespec *tp);
int getpid(void);
int tgkill(int tgid, int tid, int sig);
]]
local CLOCK_MONOTONIC, SIGINT = 1, 2
local timespec = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) * 1e-9
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

local requests = {}
-- Lines whose cold start is another line of the file ("@u<line>", "@f<line>": bench/workload.py):
-- {kind, flags, body, deps = {{namespace letter, line}, ...}}. Sent before that line was answered,
-- such a turn finds no entry either (the first turn has not filled it yet): a cold start too.
local waits_on, done_lines = {}, {}
local secret, path
total, issued, sent, answered = 0, 0, 0, 0
first_sent, last_answer = 0, 0
tally = {} -- flat, so thread:get can copy it: ["<kind> <field>"] = number

local function format(kind, cold, body, line)
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["X-Telegram-Bot-Api-Secret-Token"] = secret,
    ["X-Bench-Kind"] = kind,
    ["X-Bench-Cold"] = cold,
    ["X-Bench-Line"] = tostring(line),
  }, body)
end

function init(args)
  secret, path = args[2], args[3]
  for line in io.lines(args[1]) do
    local kind, cold, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
    local flags = cold:match("^[^@]*")
    local deps = {}
    for ns, n in cold:gmatch("@(%a)(%d+)") do deps[#deps + 1] = {ns, tonumber(n)} end
    requests[#requests + 1] = format(kind, flags, body, #requests + 1)
    if #deps > 0 then waits_on[#requests] = {kind = kind, flags = flags, body = body, deps = deps} end
  end
  total = #requests
end

function delay()
  if issued < total then
    issued = issued + 1
    return 0
  end
  return 3600000 -- every line is taken: park this connection until wrk stops
end

function request()
  if issued == 0 then
    return requests[1] -- wrk's start-up check that the script makes a valid request: not sent
  end
  sent = sent + 1
  if sent == 1 then first_sent = now() end
  local waiting = waits_on[sent]
  if waiting then
    local late = ""
    for _, dep in ipairs(waiting.deps) do
      if not done_lines[dep[2]] then late = late .. dep[1] end
    end
    if late ~= "" then -- "+": cold because its first turn was still in flight (counted apart)
      return format(waiting.kind, (waiting.flags == "-" and "" or waiting.flags) .. late .. "+", waiting.body, sent)
    end
  end
  return requests[sent]
end

local function add(key, n)
  tally[key] = (tally[key] or 0) + n
end

function response(status, headers, body)
  answered = answered + 1
  local line = tonumber(headers["X-Bench-Line"] or "")
  if line then done_lines[line] = true end
  local kind = headers["X-Bench-Kind"] or "?"
  add(kind .. " n", 1)
  if status < 200 or status > 299 then
    add(kind .. " bad", 1)
    add("status " .. status, 1)
  end
  local statements, selects = (headers["X-Bench-SQL"] or ""):match("^(%d+) (%d+)$")
  if statements then
    add(kind .. " sql", tonumber(statements))
    add(kind .. " select", tonumber(selects))
    add(kind .. " counted", 1)
  end
  add(kind .. " us", tonumber(headers["X-Bench-Us"] or "0") or 0)
  add(kind .. " cpu", tonumber(headers["X-Bench-Cpu-Us"] or "0") or 0)
  local trips = tonumber(headers["X-Bench-Redis"] or "0") or 0
  add(kind .. " redis", trips)
  -- Cold starts (a user's first turn, a food's first lookup) apart from the steady state.
  local cold = headers["X-Bench-Cold"] or "-"
  if cold:find("+", 1, true) then add("overlap " .. kind .. " n", 1) end
  if cold == "-" and statements then
    add("steady " .. kind .. " n", 1)
    add("steady " .. kind .. " counted", 1)
    add("steady " .. kind .. " sql", tonumber(statements))
    add("steady " .. kind .. " select", tonumber(selects))
    add("steady " .. kind .. " redis", trips)
    add("steady " .. kind .. " cpu", tonumber(headers["X-Bench-Cpu-Us"] or "0") or 0)
  end
  local reads = {(headers["X-Bench-Cache"] or ""):match("^(%d+) (%d+) (%d+) (%d+) (%d+) (%d+)$")}
  if #reads == 6 then
    local namespaces = {"user_memory", "conversation_history", "usda"}
    for i, ns in ipairs(namespaces) do
      local flag = ns == "usda" and "f" or "u"
      local bucket = cold:find(flag, 1, true) and "cold" or "steady"
      add("cache " .. bucket .. " " .. ns .. " hits", tonumber(reads[2 * i - 1]))
      add("cache " .. bucket .. " " .. ns .. " misses", tonumber(reads[2 * i]))
    end
  end
  if answered == total then
    last_answer = now()
    local pid = ffi.C.getpid()
    ffi.C.tgkill(pid, pid, SIGINT) -- wakes wrk's main thread out of its -d sleep
  end
end

local function encode(value)
  if type(value) == "table" then
    local parts = {}
    for k, v in pairs(value) do
      parts[#parts + 1] = string.format("%q:%s", tostring(k), encode(v))
    end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif type(value) == "string" then
    return string.format("%q", value)
  elseif value ~= value or value == math.huge or value == -math.huge then
    return "null"
  end
  return string.format("%.17g", value)
end

function done(summary, latency, requests)
  local thread = threads[1]
  local result = {
    lines = thread:get("total"), sent = thread:get("sent"), answered = thread:get("answered"),
    first_sent = thread:get("first_sent"), last_answer = thread:get("last_answer"),
    tally = thread:get("tally"),
    wrk = {
      duration_us = summary.duration, requests = summary.requests, bytes = summary.bytes,
      errors = summary.errors,
    },
    latency_us = {
      min = latency.min, max = latency.max, mean = latency.mean, stdev = latency.stdev,
      p50 = latency:percentile(50), p90 = latency:percentile(90), p95 = latency:percentile(95),
      p99 = latency:percentile(99), p999 = latency:percentile(99.9),
    },
  }
  io.write("BENCH-JSON ", encode(result), "\n")
end
