-- wrk script for tests/benchmarks/load.py. Run with one connection per thread (-t N -c N): each thread is one
-- visitor with its own session cookie, looping GET / (htmx partial) -> POST its vote -> GET / ...
-- Arguments: <mode: battle|static> <directory for the acknowledged-vote lists>.
-- Every vote answered 200 is appended to acked-<thread>.txt, so the harness can check each one is stored.
-- A new visitor first accepts the terms, as a person would (one extra request per visitor).

local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  mode = args[1]
  battles, votes, failures = 0, 0, 0
  if mode == "battle" then
    acked = io.open(args[2] .. "/acked-" .. id .. ".txt", "w")
    acked:setvbuf("line")
  end
  outcomes = { "model_a", "model_b", "tie", "both_bad" }
  cookie, vote_path, csrf, pending = nil, nil, nil, nil
  accept_next, accepting = false, false
end

function request()
  if mode == "static" then
    return wrk.format("GET", "/static/css/arena.css")
  end
  local headers = { ["HX-Request"] = "true" }
  if cookie then headers["Cookie"] = cookie end
  if accept_next then
    accept_next, accepting = false, true
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    return wrk.format("POST", "/terms/accept", headers, "csrf_token=" .. csrf)
  end
  if vote_path then
    pending = vote_path
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    local body = "outcome=" .. outcomes[math.random(4)] .. "&csrf_token=" .. csrf
    return wrk.format("POST", vote_path, headers, body)
  end
  pending = nil
  return wrk.format("GET", "/", headers)
end

function response(status, headers, body)
  if mode == "static" then
    if status ~= 200 then failures = failures + 1 end
    return
  end
  local set = headers["Set-Cookie"]
  if set then cookie = set:match("^([^;]+)") end
  if accepting then
    accepting = false
    if status ~= 303 then failures = failures + 1 end
    return
  end
  if pending then
    vote_path = nil
    if status == 200 then
      votes = votes + 1
      acked:write(pending, "\n")
    else
      failures = failures + 1
    end
  elseif status == 200 then
    vote_path = body:match('action="(/battles/[^"/]+/vote)"')
    csrf = body:match('name="csrf_token" value="([^"]+)"')
    if vote_path and csrf then battles = battles + 1 else failures = failures + 1; vote_path = nil end
    if csrf and body:find('action="/terms/accept"', 1, true) then accept_next, vote_path = true, nil end
  else
    failures = failures + 1
  end
end

function done(summary, latency, requests)
  local b, v, f = 0, 0, 0
  for _, t in ipairs(threads) do
    b = b + t:get("battles"); v = v + t:get("votes"); f = f + t:get("failures")
  end
  local e = summary.errors
  io.write(string.format(
    'ARENA_JSON {"requests": %d, "duration_us": %d, "battles": %d, "votes": %d, "failed_responses": %d, ' ..
    '"socket_errors": %d, "timeouts": %d, "non_2xx_3xx": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"max_us": %d}\n',
    summary.requests, summary.duration, b, v, f, e.connect + e.read + e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
