-- wrk script: one client_id per request, for the end-to-end benchmark
-- (tests/bench/e2e/run.py).
--
--   wrk -s keys.lua URL -- MODE COUNT [OFFSET [LIMIT]]
--
--   MODE random      a key drawn uniformly from OFFSET .. OFFSET+COUNT-1
--        sequential  OFFSET, OFFSET+1, ... : every request a new key until
--                    COUNT keys were sent, then from OFFSET again
--   LIMIT            stop after this many responses (0 or absent: run for
--                    wrk's -d duration) and say so on stdout; run.py warms a
--                    cache this way
--
-- The URL's path is kept and ?client_id=KEY appended. Run with -t1 (as
-- run.py does): the counter and the random sequence belong to the thread.

local path, mode, count, offset, limit
local next_key = 0
local responses = 0

function init(args)
  path = wrk.path
  mode = args[1] or "random"
  count = tonumber(args[2] or "1")
  offset = tonumber(args[3] or "0")
  limit = tonumber(args[4] or "0")
  -- The same sequence on every run, so every proxy sees the same keys.
  math.randomseed(count + offset)
  if mode ~= "random" and mode ~= "sequential" then
    error("keys.lua: MODE must be random or sequential, got " .. mode)
  end
  if limit > 0 then
    -- Only then: a response() callback makes wrk parse every response's
    -- headers, which costs it time on every run.
    response = function()
      responses = responses + 1
      if responses == limit then
        -- wrk's main thread sleeps out -d whatever the threads do: this
        -- line is run.py's cue to interrupt it (SIGINT ends wrk early).
        wrk.thread:stop()
        io.write("keys.lua: limit reached\n")
        io.flush()
      end
    end
  end
end

function request()
  local key
  if mode == "random" then
    key = offset + math.random(0, count - 1)
  else
    key = offset + next_key
    next_key = (next_key + 1) % count
  end
  return wrk.format(nil, path .. "?client_id=" .. key)
end
