-- lib.lua: the prelude of every tq script (broker/gen-scripts.sh prepends it).
--
-- Shared local functions for the steps several scripts take: reading Redis's
-- clock (the only clock tq trusts, so workers on machines with skewed clocks
-- agree on leases), leaving a wake-up token, writing a new record, and
-- finishing a job. Pending lists are passed in KEYS as p0..p9 at a known
-- offset; pick() maps a record's priority to one.
--
-- finish() is THE place a job becomes terminal. Every terminal transition
-- checks the job's state (and token) first, so it runs exactly once per job,
-- and composition hangs off it: the next link of a chain is started or
-- cancelled, and a group member is counted (once: keyed by the member's own
-- `gdone` flag), completing its group and settling the group's fan-in job.
-- Keys it reaches that way are built from the finished job's key, whose
-- prefix P:{Q}: is the queue's hash tag: P:{Q}:p<prio>, P:{Q}:wake,
-- P:{Q}:stats, P:{Q}:j:ID, and a group's P:{Q}:g:GID (hash), :gm:GID
-- (member ids), :gr:GID (results, for the fan-in) and :gf:GID (members that
-- did not succeed), all in one slot under Redis Cluster. There is no id
-- index: clients find a job's queue with the locate script.

-- Whole numbers as strings for redis.call arguments and replies, each
-- printed once per script run. A Lua number handed to redis.call is printed
-- with "%.17g" on every call, and libc's float printing was a tenth of
-- Redis's time in a profile of the no-op drain; the values a hot script
-- passes per job (attempt 1, token 1, one lease deadline) repeat.
local numstrs = {}
local function numstr(n)
  local s = numstrs[n]
  if not s then
    s = string.format('%d', n)
    numstrs[n] = s
  end
  return s
end

local function clock()
  local t = redis.call('TIME')
  local s, us = tonumber(t[1]), tonumber(t[2])
  return s * 1000 + math.floor(us / 1000), string.format('%d.%06d', s, us)
end

-- A due time argument: absolute ms, -1 (now), or "+ms" (a delay from now,
-- on Redis's clock).
local function due_of(arg, ms)
  if type(arg) == 'string' and string.sub(arg, 1, 1) == '+' then
    return ms + (tonumber(string.sub(arg, 2)) or 0)
  end
  return tonumber(arg) or -1
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

local function terminal(st)
  return st == 'succeeded' or st == 'failed' or st == 'cancelled'
end

-- P:{Q}: from a job key P:{Q}:j:ID (or a group key P:{Q}:g:GID).
local function qbase(jk, id)
  return string.sub(jk, 1, #jk - #id - 2)
end

-- A waiting job becomes pending: to the back of its priority list, and a
-- worker is woken.
local function push_pending(base, id, p)
  redis.call('RPUSH', base .. 'p' .. prio(p), id)
  wake(base .. 'wake')
end

-- The submit options' defaults (proto/proto.h TQ_DEFAULT_*): a record keeps
-- only the options that differ from them, and every reader falls back on them.
local DEF_RETRIES, DEF_BACKOFF, DEF_TTL, DEF_MAXLOST = 3, 1000, 86400000, 3
local DEF_TTL_S = tostring(DEF_TTL)

-- The option fields of new records, as field/value pairs, leaving out those
-- at their defaults: the arguments are ARGV values, in the order the scripts
-- take them (priority max_retries timeout_ms backoff_ms result_ttl_ms
-- max_lost semaphore, '' = none). A batch of records computes them once.
local function opt_fields(priority, retries, timeout, backoff, ttl, maxlost, sem)
  local t = {}
  local function put(name, v, def)
    if v and v ~= def then
      t[#t + 1] = name
      t[#t + 1] = v
    end
  end
  put('priority', priority, '0')
  put('max_retries', retries, tostring(DEF_RETRIES))
  put('timeout', timeout, '0')
  put('backoff', backoff, tostring(DEF_BACKOFF))
  put('result_ttl', ttl, tostring(DEF_TTL))
  put('max_lost', maxlost, tostring(DEF_MAXLOST))
  put('semaphore', sem, '')
  return t
end

-- Writes a new record in one HSET: state first (the field every script reads
-- first), task, args, created_at, the option fields opts (opt_fields), then
-- the field/value pairs of the table extra, if any. The id and the queue are
-- not stored: the key holds both.
local function new_record(jk, task, args, state, nowstr, opts, extra)
  if #opts == 0 and not extra then
    redis.call('HSET', jk, 'state', state, 'task', task, 'args', args,
      'created_at', nowstr)
    return
  end
  local f = {'state', state, 'task', task, 'args', args, 'created_at', nowstr}
  for _, v in ipairs(opts) do f[#f + 1] = v end
  if extra then
    for _, v in ipairs(extra) do f[#f + 1] = v end
  end
  redis.call('HSET', jk, unpack(f))
end

-- A record's result_ttl (ms) as PEXPIRE's argument: the default when it is
-- not set or not a number, at least 1.
local function ttl_of(v)
  if not v then return DEF_TTL_S end
  local ttl = tonumber(v)
  if not ttl then return DEF_TTL_S end
  if ttl < 1 then return '1' end
  return numstr(math.floor(ttl))
end

local finish

-- The job after a chain link that ended in state: started with the link's
-- result as its args if the link succeeded, else cancelled (which walks on
-- down the chain). Only a `waiting` next link is touched: one cancelled by
-- hand stays as it is.
local function settle_next(base, id, state, result, nid, nowstr, pd)
  local njk = base .. 'j:' .. nid
  local f = redis.call('HMGET', njk, 'state', 'priority')
  if f[1] ~= 'waiting' then return end
  if state == 'succeeded' then
    redis.call('HSET', njk, 'args', result or 'null', 'state', 'pending')
    push_pending(base, nid, f[2])
  else
    redis.call('HSET', njk, 'error', 'cancelled: ' .. id .. ' ' .. state)
    finish(njk, nid, 'cancelled', nowstr, pd)
    redis.call('HINCRBY', base .. 'stats', 'cancelled', 1)
  end
end

-- Every member of a sealed group has finished: the group is stamped and its
-- keys start to expire, its fan-in job is settled, and waiters are told
-- ('done' on P:done:GID). O(1) but for the fan-in's args, one LRANGE: the
-- members' results were put in place as they finished (member_done).
-- Fan-in args: the members' results in submission order (a member that did
-- not succeed leaves null); if any member did not succeed, the fan-in is
-- cancelled with an error naming the first 10 of them (in the order they
-- finished).
local function group_complete(base, gid, nowstr, pd)
  local gk = base .. 'g:' .. gid
  local rk, fk = base .. 'gr:' .. gid, base .. 'gf:' .. gid
  local g = redis.call('HMGET', gk, 'total', 'ok', 'fanin', 'result_ttl', 'w')
  local total, ok = tonumber(g[1]) or 0, tonumber(g[2]) or 0
  local ttl = ttl_of(g[4])
  redis.call('HSET', gk, 'finished_at', nowstr)
  local fanin = g[3]
  if fanin then
    local fjk = base .. 'j:' .. fanin
    local ff = redis.call('HMGET', fjk, 'state', 'priority')
    if ff[1] == 'waiting' then
      if ok >= total then
        redis.call('HSET', fjk, 'args',
          '[' .. table.concat(redis.call('LRANGE', rk, 0, -1), ',') .. ']',
          'state', 'pending')
        push_pending(base, fanin, ff[2])
      else
        local nbad = total - ok
        local e = 'cancelled: ' .. nbad .. ' of ' .. total .. ' members of group ' ..
          gid .. ' did not succeed: ' ..
          table.concat(redis.call('LRANGE', fk, 0, 9), ', ')
        if nbad > 10 then e = e .. ' and ' .. (nbad - 10) .. ' more' end
        redis.call('HSET', fjk, 'error', e)
        finish(fjk, fanin, 'cancelled', nowstr, pd)
        redis.call('HINCRBY', base .. 'stats', 'cancelled', 1)
      end
    end
  end
  for _, k in ipairs({gk, base .. 'gm:' .. gid, rk, fk}) do
    redis.call('PEXPIRE', k, ttl)
  end
  if g[5] then redis.call('PUBLISH', pd .. gid, 'done') end
end

-- A member (job key jk, id) of group gid finished. Counted once per member
-- (its `gdone` flag), whatever happens to its deliveries. For a group with
-- a fan-in, its result goes to its place (`gi`) in the results list, or, if
-- it did not succeed, "id state" to the list the fan-in's error names (the
-- first 10 only).
local function member_done(base, jk, id, gid, state, result, nowstr, pd)
  local gk = base .. 'g:' .. gid
  if redis.call('EXISTS', gk) == 0 then return end
  if redis.call('HSETNX', jk, 'gdone', '1') == 0 then return end
  local done = redis.call('HINCRBY', gk, 'done', 1)
  if state == 'succeeded' then redis.call('HINCRBY', gk, 'ok', 1) end
  local g = redis.call('HMGET', gk, 'sealed', 'total', 'w', 'fanin')
  if g[4] then
    if state == 'succeeded' then
      local gi = redis.call('HGET', jk, 'gi')
      -- pcall: a bad index must not fail the ack that got us here
      if gi then redis.pcall('LSET', base .. 'gr:' .. gid, gi, result or 'null') end
    else
      local fk = base .. 'gf:' .. gid
      if redis.call('LLEN', fk) < 10 then redis.call('RPUSH', fk, id .. ' ' .. state) end
    end
  end
  if g[3] == 'p' then
    redis.call('PUBLISH', pd .. gid, 'progress ' .. done .. ' ' .. (g[2] or '0'))
  end
  if g[1] == '1' and done >= (tonumber(g[2]) or 0) then
    group_complete(base, gid, nowstr, pd)
  end
end

-- Ends a job in a terminal state: stamps it, starts the expiry of the
-- record, releases its unique key, tells waiters, then settles what waits on
-- it: the next link of its chain, its group.
-- jk = job key, pd = done-channel prefix. f, when the caller has already
-- read them (the hot path: ack), holds the record's result_ttl, w, unique,
-- next and group as f[1] .. f[5], and result is the job's result (for the
-- next link or the fan-in); with f nil both are read here. Further arguments
-- are field/value pairs written in the same HSET as the state.
finish = function(jk, id, state, nowstr, pd, f, result, ...)
  redis.call('HSET', jk, 'state', state, 'finished_at', nowstr, ...)
  if not f then
    f = redis.call('HMGET', jk, 'result_ttl', 'w', 'unique', 'next', 'group',
      'result')
    result = f[6]
  end
  local ttl = ttl_of(f[1])
  redis.call('PEXPIRE', jk, ttl)
  local base = qbase(jk, id)
  if f[3] then
    local uk = base .. 'u:' .. f[3]
    if redis.call('GET', uk) == id then redis.call('DEL', uk) end
  end
  if f[2] then redis.call('PUBLISH', pd .. id, state) end
  if f[4] then settle_next(base, id, state, result, f[4], nowstr, pd) end
  if f[5] then member_done(base, jk, id, f[5], state, result, nowstr, pd) end
end

-- Runs cmd on key with the values of list, at most 1000 at a time (Lua's
-- unpack has a limit); for the batched ZADD/ZREM of claim and ack.
local function batched(cmd, key, list)
  for i = 1, #list, 1000 do
    redis.call(cmd, key, unpack(list, i, math.min(i + 999, #list)))
  end
end

local function bury_dead(dead, id, ms)
  redis.call('ZADD', dead, ms, id)
  redis.call('ZREMRANGEBYRANK', dead, 0, -10001)
end

-- Semaphores (tq semaphore set NAME N; --semaphore NAME on a job). sp is the
-- prefix P:sem: ; holders are P:sem:h:NAME (zset: job id -> permit lease,
-- renewed with the job's lease, so a dead worker's permits run out),
-- waiters P:sem:w:NAME (list of job keys parked by claim: they hold no slot
-- and are pushed back to the front of their queue when a permit frees),
-- capacities P:sem:cap (hash; a name never set has capacity 1).
local function sem_acquire(sp, name, id, ms, lease)
  local hk = sp .. 'h:' .. name
  redis.call('ZREMRANGEBYSCORE', hk, '-inf', ms)
  if redis.call('ZSCORE', hk, id) then
    redis.call('ZADD', hk, lease, id)
    return true
  end
  local cap = tonumber(redis.call('HGET', sp .. 'cap', name)) or 1
  if redis.call('ZCARD', hk) < cap then
    redis.call('ZADD', hk, lease, id)
    return true
  end
  return false
end

-- Moves up to n parked jobs back to the front of their queues.
local function sem_wake(sp, name, n)
  local wk = sp .. 'w:' .. name
  while n > 0 do
    local jk = redis.call('LPOP', wk)
    if not jk then return end
    local f = redis.call('HMGET', jk, 'state', 'priority')
    local id = string.match(jk, '([^:]+)$')
    if f[1] == 'pending' and id then
      local base = qbase(jk, id)
      redis.call('LPUSH', base .. 'p' .. prio(f[2]), id)
      wake(base .. 'wake')
      n = n - 1
    end
  end
end

local function sem_release(sp, name, id)
  redis.call('ZREM', sp .. 'h:' .. name, id)
  sem_wake(sp, name, 1)
end
