-- lib.lua: the prelude of every tq script (broker/gen-scripts.sh prepends it).
--
-- Shared local functions for the steps several scripts take: reading Redis's
-- clock (the only clock tq trusts, so workers on machines with skewed clocks
-- agree on leases), leaving a wake-up token, and finishing a job.
-- Pending lists are passed in KEYS as p0..p9 at a known offset; pick() maps a
-- record's priority to one.

local function clock()
  local t = redis.call('TIME')
  local s, us = tonumber(t[1]), tonumber(t[2])
  return s * 1000 + math.floor(us / 1000), string.format('%d.%06d', s, us)
end

local function prio(p)
  p = tonumber(p) or 0
  if p < 0 then p = 0 elseif p > 9 then p = 9 end
  return math.floor(p)
end

-- The pending list of priority p, when p0 is KEYS[base].
local function pick(base, p)
  return KEYS[base + prio(p)]
end

-- At most one token waits in a queue's wake list: enough to wake one idle
-- worker, which passes the baton on if it leaves work behind.
local function wake(key)
  if redis.call('LLEN', key) == 0 then
    redis.call('RPUSH', key, '1')
  end
end

-- Ends a job in a terminal state: stamps it, starts the expiry of the record
-- and of its id index, releases its unique key, and tells waiters.
-- jk = job key, ik = index key, pd = done-channel prefix.
local function finish(jk, ik, id, state, nowstr, pd)
  redis.call('HSET', jk, 'state', state, 'finished_at', nowstr)
  local f = redis.call('HMGET', jk, 'result_ttl', 'w', 'unique')
  local ttl = tonumber(f[1]) or 86400000
  if ttl < 1 then ttl = 1 end
  redis.call('PEXPIRE', jk, ttl)
  redis.call('PEXPIRE', ik, ttl)
  if f[3] then
    local uk = string.sub(jk, 1, #jk - #id - 2) .. 'u:' .. f[3]
    if redis.call('GET', uk) == id then redis.call('DEL', uk) end
  end
  if f[2] then redis.call('PUBLISH', pd .. id, state) end
end

local function bury_dead(dead, id, ms)
  redis.call('ZADD', dead, ms, id)
  redis.call('ZREMRANGEBYRANK', dead, 0, -10001)
end
