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
--
-- Nothing a key holds may fail a script midway (Redis does not roll a
-- script back): a job record is read with pcall and one tq cannot read is
-- dead-lettered by corrupt(); an index key (list, zset, counters) of the
-- wrong type is moved aside by icall() and the command run on a fresh key.

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

-- The states tq writes; anything else in `state` is a corrupt record.
local STATES = {waiting = true, scheduled = true, pending = true, active = true,
  succeeded = true, failed = true, cancelled = true}

-- The submit options' defaults: a record keeps only the options that differ
-- from them, and every reader falls back on them. They are written once, in
-- proto/proto.h: broker/gen-scripts.sh replaces the next line with
-- local DEF_RETRIES, DEF_BACKOFF, DEF_TTL, DEF_MAXLOST = <TQ_DEFAULT_*>
-- @defaults
local DEF_TTL_S = tostring(DEF_TTL)

-- A whole number as Redis's HINCRBY takes it, or absent (false: HMGET's nil).
local function isint(v)
  return not v or (#v < 19 and string.match(v, '^-?%d+$') ~= nil)
end

-- Moves a key that holds the wrong type (or junk) aside to `to` (default
-- KEY:bad, same hash tag) for a day, and says so in Redis's log. Returns
-- the type it held.
local function aside(key, to)
  local t = redis.call('TYPE', key).ok
  to = to or (key .. ':bad')
  redis.call('RENAME', key, to)
  redis.call('PEXPIRE', to, DEF_TTL_S)
  redis.log(redis.LOG_WARNING, 'tq: ' .. key .. ' held a ' .. t ..
    ' tq cannot use: moved to ' .. to)
  return t
end

-- redis.call on an index key tq keeps (pending list, zset, wake list,
-- stats hash, semaphore key; never a job record): when the key makes the
-- command fail (wrong type, a counter that is not a number) it is moved
-- aside and the command runs on a fresh key, so a script never stops
-- halfway on it. As cheap as redis.call when all is well. Any other error
-- (a bug of tq's: bad arguments) is raised as redis.call would.
local function icall(cmd, key, ...)
  local r = redis.pcall(cmd, key, ...)
  if type(r) == 'table' and r.err then
    local e = r.err
    if not (string.find(e, '^WRONGTYPE') or
            string.find(e, 'hash value is not an integer', 1, true)) or
       redis.call('EXISTS', key) == 0 then
      error(r)
    end
    aside(key)
    return redis.call(cmd, key, ...)
  end
  return r
end

-- HMGET on a job record: the fields, or nil when the key is not a hash.
local function rget(jk, ...)
  local f = redis.pcall('HMGET', jk, ...)
  if f.err then return nil end
  return f
end

local function clock()
  local t = redis.call('TIME')
  local s, us = tonumber(t[1]), tonumber(t[2])
  return s * 1000 + math.floor(us / 1000), string.format('%d.%06d', s, us),
    s * 1000000 + us
end

-- A due time argument: absolute ms, -1 (now), or "+ms" (a delay from now,
-- on Redis's clock).
local function due_of(arg, ms)
  if type(arg) == 'string' and string.sub(arg, 1, 1) == '+' then
    return ms + (tonumber(string.sub(arg, 2)) or 0)
  end
  return tonumber(arg) or -1
end

-- A number field of a record: def when it is absent or not a finite number.
local function num(v, def)
  local n = tonumber(v)
  if not n or n ~= n or n == math.huge or n == -math.huge then return def end
  return n
end

local function prio(p)
  p = num(p, 0)
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
  if icall('LLEN', key) == 0 then
    icall('RPUSH', key, '1')
  end
end

local function terminal(st)
  return st == 'succeeded' or st == 'failed' or st == 'cancelled'
end

-- P:{Q}: from a job key P:{Q}:j:ID (or a group key P:{Q}:g:GID).
local function qbase(jk, id)
  return string.sub(jk, 1, #jk - #id - 2)
end

-- Fair keys (--fair-key KEY; docs/design.md "Fairness"). Within a queue
-- and a priority p, workers take jobs round-robin across the keys that have
-- jobs pending; jobs without a key form one key, the plain list P:{Q}:p<p>
-- (named '' below). A key's jobs wait in P:{Q}:p<p>:f:KEY, and the ring
-- P:{Q}:p<p>:ring lists the keys with jobs pending, in turn order ('' among
-- them while the plain list has jobs). The hash P:{Q}:fair has a field p
-- for each priority that has a ring (its value: how many ids the fair
-- lists of p hold, for tq stats). A priority without that field is served
-- exactly as before fair keys: an LPOP of its plain list. Invariant, kept
-- by push_pending and pop_pending (every script puts pending ids through
-- them): while p has a ring, a key is in it once iff its list is not empty.

-- The priorities of queue base that have a ring: read once per script run
-- (one HKEYS), kept up to date by push_pending and pop_pending.
local fair_cache = {}
local function fair_of(base)
  local s = fair_cache[base]
  if not s then
    s = {}
    for _, p in ipairs(icall('HKEYS', base .. 'fair')) do s[p] = true end
    fair_cache[base] = s
  end
  return s
end

-- Puts ids (a table of at most 1000) into queue base's pending jobs of
-- priority p with fair key fk (nil or '' = none): at the back, or at the
-- front when front (a reclaimed or given-back job runs next, and its key
-- takes the next turn). Wakes no worker: the caller does.
local function push_ids(base, ids, p, fk, front)
  local ps = numstr(prio(p))
  local pk = base .. 'p' .. ps
  local cmd = front and 'LPUSH' or 'RPUSH'
  local s = fair_of(base)
  if not fk or fk == '' then
    -- the plain path: one push, and nothing more while p has no ring
    if icall(cmd, pk, unpack(ids)) == #ids and s[ps] then
      icall(cmd, pk .. ':ring', '')
    end
    return
  end
  local rk = pk .. ':ring'
  local len = icall(cmd, pk .. ':f:' .. fk, unpack(ids))
  if not s[ps] then
    -- p's first fair key: the plain list's jobs (if any) take turns too,
    -- theirs first as they came first
    if icall('LLEN', pk) > 0 then
      if front then icall('RPUSH', rk, fk, '') else icall('RPUSH', rk, '', fk) end
    else
      icall('RPUSH', rk, fk)
    end
    s[ps] = true
  elseif len == #ids then
    icall(cmd, rk, fk)
  end
  icall('HINCRBY', base .. 'fair', ps, #ids)
end

-- A job becomes pending: to the back (front: the front) of its priority's
-- list or its fair key's, and a worker is woken.
local function push_pending(base, id, p, fk, front)
  push_ids(base, {id}, p, fk, front)
  wake(base .. 'wake')
end

-- Takes up to n ids from the pending jobs of the priority whose plain list
-- is pk (P:{Q}:p<p>), as LPOP pk n does (nil when there are none): that very
-- LPOP while p has no ring; else round-robin over the ring's keys, one id
-- per key per turn. A pass pops the first n keys off the ring, takes each
-- one's share of n from its list, and pushes back to the ring's tail the
-- keys whose lists still hold ids (O(1) commands per key, not per id).
local function pop_pending(pk, n)
  local base, ps = string.match(pk, '^(.*)p(%d)$')
  if not base or not fair_of(base)[ps] then return icall('LPOP', pk, n) end
  local rk, hk = pk .. ':ring', base .. 'fair'
  local out, fair, gone = {}, 0, false
  while #out < n do
    local want = n - #out
    local keys = icall('LPOP', rk, want)
    if not keys then
      -- no key has jobs left: p is plain again
      redis.call('HDEL', hk, ps)
      fair_cache[base][ps] = nil
      gone = true
      local ids = icall('LPOP', pk, want)
      for _, id in ipairs(ids or {}) do out[#out + 1] = id end
      break
    end
    local uniq, seen = {}, {}
    for _, k in ipairs(keys) do
      if not seen[k] then
        seen[k] = true
        uniq[#uniq + 1] = k
      end
    end
    local per, extra = math.floor(want / #uniq), want % #uniq
    local got, keep, most = {}, {}, 0
    for i, k in ipairs(uniq) do
      local share = per + (i <= extra and 1 or 0)
      local lk = k == '' and pk or (pk .. ':f:' .. k)
      local ids = icall('LPOP', lk, share) or {}
      got[i] = ids
      if #ids > most then most = #ids end
      if k ~= '' then fair = fair + #ids end
      if #ids == share and icall('LLEN', lk) > 0 then keep[#keep + 1] = k end
    end
    for t = 1, most do
      for i = 1, #uniq do
        local id = got[i][t]
        if id then out[#out + 1] = id end
      end
    end
    if #keep > 0 then icall('RPUSH', rk, unpack(keep)) end
  end
  if fair > 0 and not gone then icall('HINCRBY', hk, ps, -fair) end
  if #out == 0 then return nil end
  return out
end


-- The option fields of new records, as field/value pairs, leaving out those
-- at their defaults: the arguments are ARGV values, in the order the scripts
-- take them (priority max_retries timeout_ms backoff_ms result_ttl_ms
-- max_lost semaphore rate_limit fair_key, '' = none; the last two may be
-- left out).
-- A batch of records computes them once.
local function opt_fields(priority, retries, timeout, backoff, ttl, maxlost, sem, rl, fk)
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
  put('rl', rl, '')
  put('fk', fk, '')
  return t
end

-- Writes a new record in one HSET: state first (the field every script reads
-- first), task, args, created_at, the option fields opts (opt_fields), then
-- the field/value pairs of the table extra, if any. The id and the queue are
-- not stored: the key holds both. A key of another type under a fresh id
-- (submitn does not check) is moved aside (icall).
local function new_record(jk, task, args, state, nowstr, opts, extra)
  if #opts == 0 and not extra then
    icall('HSET', jk, 'state', state, 'task', task, 'args', args,
      'created_at', nowstr)
    return
  end
  local f = {'state', state, 'task', task, 'args', args, 'created_at', nowstr}
  for _, v in ipairs(opts) do f[#f + 1] = v end
  if extra then
    for _, v in ipairs(extra) do f[#f + 1] = v end
  end
  icall('HSET', jk, unpack(f))
end

-- A record's result_ttl (ms) as PEXPIRE's argument: the default when it is
-- not set or not a positive number (a negative one would delete the record
-- at once), never more than 10 years.
local function ttl_of(v)
  if not v then return DEF_TTL_S end
  local ttl = tonumber(v)
  if not ttl or ttl < 1 or ttl ~= ttl then return DEF_TTL_S end
  if ttl > 315360000000 then ttl = 315360000000 end
  return numstr(math.floor(ttl))
end

local finish, corrupt

-- The terminal index behind `tq jobs --state succeeded|failed|cancelled`:
-- P:{Q}:done:STATE, a list of ids, the latest finished at the head, trimmed
-- to DONE_KEEP (a list, not a zset scored by time: LPUSH and LTRIM cost a
-- fraction of ZADD's skiplist and dict per id, and the order they keep is
-- the order finish() ran in). Ids whose record expired, or that left the
-- state (a failed job retried), stay until the trim pushes them out: the
-- listing (jobs.lua) skips them. ack sets done_batch to {} and calls
-- done_flush() at its end: finish() then only collects, and a batch costs
-- one LPUSH and one LTRIM per state per call; any other caller writes at
-- once.
local DONE_KEEP = 10000
local DONE_LAST = tostring(DONE_KEEP - 1)
local done_batch = nil
local function done_add(base, id, state)
  local k = base .. 'done:' .. state
  if done_batch then
    local l = done_batch[k]
    if not l then
      l = {}
      done_batch[k] = l
    end
    l[#l + 1] = id
  else
    icall('LPUSH', k, id)
    icall('LTRIM', k, 0, DONE_LAST)
  end
end

-- The job after a chain link that ended in state: started with the link's
-- result as its args if the link succeeded, else cancelled (which walks on
-- down the chain). Only a `waiting` next link is touched: one cancelled by
-- hand stays as it is; a corrupt one is dead-lettered.
local function settle_next(base, id, state, result, nid, nowstr, pd)
  local njk = base .. 'j:' .. nid
  local f = rget(njk, 'state', 'priority', 'fk')
  if not f then return corrupt(njk, nid, 'unreadable') end
  if f[1] and not STATES[f[1]] then
    return corrupt(njk, nid, 'unknown state "' .. f[1] .. '"')
  end
  if f[1] ~= 'waiting' then return end
  icall('ZREM', base .. 'waiting', nid)
  if state == 'succeeded' then
    redis.call('HSET', njk, 'args', result or 'null', 'state', 'pending')
    push_pending(base, nid, f[2], f[3])
  else
    finish(njk, nid, 'cancelled', nowstr, pd, nil, nil,
      'error', 'cancelled: ' .. id .. ' ' .. state)
    icall('HINCRBY', base .. 'stats', 'cancelled', 1)
  end
end

-- Every member of a sealed group has finished: the group is stamped and its
-- keys start to expire, its fan-in job is settled, and waiters are told
-- ('done' on P:done:GID). O(1) but for the fan-in's args, one LRANGE: the
-- members' results were put in place as they finished (member_done).
-- Fan-in args: the members' results in submission order (a member that did
-- not succeed leaves null); if any member did not succeed, the fan-in is
-- cancelled with an error naming the first 10 of them (in the order they
-- finished). The caller has read the group key as a hash.
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
    local ff = rget(fjk, 'state', 'priority', 'fk')
    if not ff then
      corrupt(fjk, fanin, 'unreadable')
    elseif ff[1] and not STATES[ff[1]] then
      corrupt(fjk, fanin, 'unknown state "' .. ff[1] .. '"')
    elseif ff[1] == 'waiting' then
      icall('ZREM', base .. 'waiting', fanin)
      if ok >= total then
        redis.call('HSET', fjk, 'args',
          '[' .. table.concat(icall('LRANGE', rk, 0, -1), ',') .. ']',
          'state', 'pending')
        push_pending(base, fanin, ff[2], ff[3])
      else
        local nbad = total - ok
        local e = 'cancelled: ' .. nbad .. ' of ' .. total .. ' members of group ' ..
          gid .. ' did not succeed: ' ..
          table.concat(icall('LRANGE', fk, 0, 9), ', ')
        if nbad > 10 then e = e .. ' and ' .. (nbad - 10) .. ' more' end
        finish(fjk, fanin, 'cancelled', nowstr, pd, nil, nil, 'error', e)
        icall('HINCRBY', base .. 'stats', 'cancelled', 1)
      end
    end
  end
  for _, k in ipairs({gk, base .. 'gm:' .. gid, rk, fk}) do
    redis.call('PEXPIRE', k, ttl)
  end
  if g[5] then redis.call('PUBLISH', pd .. gid, 'done') end
end

-- Reads a group hash (the fields asked for), or nil when there is none. A
-- group key tq cannot use (not a hash; `done` or `ok` not a whole number) is
-- moved aside (aside()) and counts as none: its members finish as members of
-- an expired group do.
local function group_read(gk, ...)
  local g = redis.pcall('HMGET', gk, 'sealed', 'done', 'ok', ...)
  if g.err or not isint(g[2]) or not isint(g[3]) then
    aside(gk)
    return nil
  end
  if not g[1] then return nil end
  return g
end

-- A member (job key jk, id) of group gid finished. Counted once per member
-- (its `gdone` flag), whatever happens to its deliveries. For a group with
-- a fan-in, its result goes to its place (`gi`) in the results list, or, if
-- it did not succeed, "id state" to the list the fan-in's error names (the
-- first 10 only).
local function member_done(base, jk, id, gid, state, result, nowstr, pd)
  local gk = base .. 'g:' .. gid
  local g = group_read(gk, 'total', 'w', 'fanin')
  if not g then return end
  if redis.call('HSETNX', jk, 'gdone', '1') == 0 then return end
  local done = redis.call('HINCRBY', gk, 'done', 1)
  if state == 'succeeded' then redis.call('HINCRBY', gk, 'ok', 1) end
  if g[6] then
    if state == 'succeeded' then
      local gi = redis.call('HGET', jk, 'gi')
      -- pcall: a bad index must not fail the ack that got us here
      if gi then redis.pcall('LSET', base .. 'gr:' .. gid, gi, result or 'null') end
    else
      local fk = base .. 'gf:' .. gid
      if icall('LLEN', fk) < 10 then icall('RPUSH', fk, id .. ' ' .. state) end
    end
  end
  if g[5] == 'p' then
    redis.call('PUBLISH', pd .. gid, 'progress ' .. done .. ' ' .. (g[4] or '0'))
  end
  if g[1] == '1' and done >= (tonumber(g[4]) or 0) then
    group_complete(base, gid, nowstr, pd)
  end
end

-- Ends a job in a terminal state: stamps it, starts the expiry of the
-- record, releases its unique key, tells waiters, then settles what waits on
-- it: the next link of its chain, its group.
-- jk = job key (a hash: the caller has read it), pd = done-channel prefix.
-- f, when the caller has already read them (the hot path: ack), holds the
-- record's result_ttl, w, unique, next and group as f[1] .. f[5], and
-- result is the job's result (for the next link or the fan-in); with f nil
-- both are read here. Further arguments are field/value pairs written in
-- the same HSET as the state.
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
  done_add(base, id, state)
  if f[3] then
    local uk = base .. 'u:' .. f[3]
    if icall('GET', uk) == id then redis.call('DEL', uk) end
  end
  if f[2] then redis.call('PUBLISH', pd .. id, state) end
  if f[4] then settle_next(base, id, state, result, f[4], nowstr, pd) end
  if f[5] then member_done(base, jk, id, f[5], state, result, nowstr, pd) end
end

-- Runs cmd on key with the values of list, at most 1000 at a time (Lua's
-- unpack has a limit); for the batched ZADD/ZREM of claim and ack.
local function batched(cmd, key, list)
  for i = 1, #list, 1000 do
    icall(cmd, key, unpack(list, i, math.min(i + 999, #list)))
  end
end

-- Writes what finish() collected in done_batch (see done_add).
local function done_flush()
  if not done_batch then return end
  for k, l in pairs(done_batch) do
    batched('LPUSH', k, l)
    icall('LTRIM', k, 0, DONE_LAST)
  end
  done_batch = nil
end

local function bury_dead(dead, id, ms)
  icall('ZADD', dead, ms, id)
  icall('ZREMRANGEBYRANK', dead, 0, -10001)
end

-- A job record tq cannot use (the key holds another type, its state is one
-- tq never writes, a number field tq writes is not a number, or it is
-- missing where it must exist) ends here, whatever index it was in (the
-- caller has taken it out): failed, with an error saying what was wrong
-- ("corrupt record: " .. why), in the dead-letter list P:{Q}:dead, counted
-- processed, failed and dead. A key of another type is moved aside to
-- P:{Q}:j:ID:bad (kept a day) and a fresh record written in its place; a
-- hash is finished as failed (its chain and group are settled). A semaphore
-- permit it may hold is not released: its lease runs out.
corrupt = function(jk, id, why)
  local base = qbase(jk, id)
  local ms, nowstr = clock()
  local t = redis.call('TYPE', jk).ok
  if t == 'hash' then
    why = 'corrupt record: ' .. why
    finish(jk, id, 'failed', nowstr, string.match(base, '^(.-):{') .. ':done:',
      nil, nil, 'error', why)
  else
    if t == 'none' then
      why = 'corrupt record: ' .. why
    else
      aside(jk)
      why = 'corrupt record: key held a ' .. t .. ', moved to ' .. jk .. ':bad'
    end
    redis.call('HSET', jk, 'state', 'failed', 'error', why, 'finished_at', nowstr)
    redis.call('PEXPIRE', jk, DEF_TTL_S)
    done_add(base, id, 'failed')
  end
  redis.log(redis.LOG_WARNING, 'tq: job ' .. jk .. ': ' .. why)
  bury_dead(base .. 'dead', id, ms)
  local s = base .. 'stats'
  icall('HINCRBY', s, 'processed', 1)
  icall('HINCRBY', s, 'failed', 1)
  icall('HINCRBY', s, 'dead', 1)
end

-- Semaphores (tq semaphore set NAME N; --semaphore NAME on a job). sp is the
-- prefix P:sem: ; holders are P:sem:h:NAME (zset: job id -> permit lease,
-- renewed with the job's lease, so a dead worker's permits run out),
-- waiters P:sem:w:NAME (list of job keys parked by claim: they hold no slot
-- and are pushed back to the front of their queue when a permit frees),
-- capacities P:sem:cap (hash; a name never set has capacity 1).
-- A per-key semaphore NAME:KEY (--semaphore NAME:KEY) is a semaphore of its
-- own (holders P:sem:h:NAME:KEY, waiters P:sem:w:NAME:KEY) with NAME's
-- capacity; both keys vanish when they empty, as Redis drops an empty zset
-- or list, so an idle key costs nothing.
local function sem_acquire(sp, name, id, ms, lease)
  local hk = sp .. 'h:' .. name
  icall('ZREMRANGEBYSCORE', hk, '-inf', ms)
  if icall('ZSCORE', hk, id) then
    icall('ZADD', hk, lease, id)
    return true
  end
  local cap = tonumber(icall('HGET', sp .. 'cap', string.match(name, '^[^:]*'))) or 1
  if icall('ZCARD', hk) < cap then
    icall('ZADD', hk, lease, id)
    return true
  end
  return false
end

-- Moves up to n parked jobs back to the front of their queues.
local function sem_wake(sp, name, n)
  local wk = sp .. 'w:' .. name
  while n > 0 do
    local jk = icall('LPOP', wk)
    if not jk then return end
    local id = string.match(jk, '([^:]+)$')
    local f = rget(jk, 'state', 'priority', 'fk')
    if id and not f then
      corrupt(jk, id, 'unreadable')
    elseif id and f[1] and not STATES[f[1]] then
      corrupt(jk, id, 'unknown state "' .. f[1] .. '"')
    elseif f[1] == 'pending' and id then
      local base = qbase(jk, id)
      push_pending(base, id, f[2], f[3], true)
      n = n - 1
    end
  end
end

local function sem_release(sp, name, id)
  icall('ZREM', sp .. 'h:' .. name, id)
  sem_wake(sp, name, 1)
end

-- The attempts log (the record's `alog`, docs/design.md §3): a JSON array
-- of the attempts that did not end their job, oldest first, the latest
-- ALOG_KEEP kept, each {attempt, worker, started_at, ended_at (Unix s),
-- outcome (failed, notask, lost), error (at most ALOG_ERR bytes), retry_at
-- (a failure retried: when)}. Appended only on those rare paths (a failure
-- retried, a lost delivery requeued, a dead letter retried): a job whose
-- first attempt ends it never has the field, and its latest attempt is the
-- record's own (attempt, worker, started_at, finished_at, error). g holds
-- the record's attempt, worker, started_at, alog as the caller read them;
-- an alog tq cannot read starts afresh. Writes the one field.
local ALOG_KEEP = 10
local ALOG_ERR = 512
local function alog_add(jk, g, ended, outcome, err, retry_at)
  local log = {}
  if g[4] then
    local ok, v = pcall(cjson.decode, g[4])
    if ok and type(v) == 'table' and v[1] ~= nil then log = v end
  end
  local e = {attempt = tonumber(g[1]) or 0, outcome = outcome, ended_at = ended}
  if g[2] then e.worker = g[2] end
  if tonumber(g[3]) then e.started_at = tonumber(g[3]) end
  if err then
    local n = #err
    if n > ALOG_ERR then -- cut on a UTF-8 character's first byte
      n = ALOG_ERR
      while n > 0 and string.byte(err, n + 1) >= 128 and string.byte(err, n + 1) < 192 do
        n = n - 1
      end
    end
    e.error = string.sub(err, 1, n)
  end
  if retry_at then e.retry_at = retry_at end
  log[#log + 1] = e
  while #log > ALOG_KEEP do table.remove(log, 1) end
  local ok, text = pcall(cjson.encode, log)
  if not ok then ok, text = pcall(cjson.encode, {e}) end
  if ok then redis.call('HSET', jk, 'alog', text) end
end

-- A delivery whose holder is gone (its lease ran out: reclaim; its worker
-- stopped beating: bury) goes back to the front of its queue, not charged as
-- a retry: `lost` + 1, its semaphore permit released. Past max_lost it ends
-- `failed` "worker lost"; with cancellation requested it ends `cancelled`.
-- The caller has taken id out of the active set. A record that is not
-- `active` any more is left alone; one tq cannot read is dead-lettered.
-- Returns 'requeued', 'dead', 'cancelled', or nil (nothing to count).
local function reclaim_one(base, id, nowstr, ms, pd, sp, dead)
  local jk = base .. 'j:' .. id
  local f = rget(jk, 'state', 'cancel', 'max_lost', 'priority', 'semaphore', 'lost',
    'fk', 'attempt', 'worker', 'started_at', 'alog')
  if not f then return corrupt(jk, id, 'unreadable') end
  if not f[1] then return corrupt(jk, id, 'missing while active') end
  if f[1] ~= 'active' then
    if not STATES[f[1]] then corrupt(jk, id, 'unknown state "' .. f[1] .. '"') end
    return nil
  end
  if not isint(f[6]) then
    return corrupt(jk, id, 'lost is not a whole number: "' .. f[6] .. '"')
  end
  if f[5] then sem_release(sp, f[5], id) end
  if f[2] then
    finish(jk, id, 'cancelled', nowstr, pd, nil, nil, 'error', 'cancelled')
    return 'cancelled'
  end
  local lost = (tonumber(f[6]) or 0) + 1
  if lost > num(f[3], DEF_MAXLOST) then
    finish(jk, id, 'failed', nowstr, pd, nil, nil, 'error', 'worker lost',
      'lost', numstr(lost))
    bury_dead(dead, id, ms)
    return 'dead'
  end
  redis.call('HSET', jk, 'state', 'pending', 'lost', numstr(lost))
  alog_add(jk, {f[8], f[9], f[10], f[11]}, tonumber(nowstr), 'lost', 'worker lost')
  push_ids(base, {id}, f[4], f[7], true)
  return 'requeued'
end

-- Counts reclaim_one's outcomes in the queue's stats hash s.
local function count_lost(s, requeued, dead, cancelled)
  if requeued + dead > 0 then icall('HINCRBY', s, 'lost', requeued + dead) end
  if dead > 0 then
    icall('HINCRBY', s, 'processed', dead)
    icall('HINCRBY', s, 'failed', dead)
    icall('HINCRBY', s, 'dead', dead)
  end
  if cancelled > 0 then
    icall('HINCRBY', s, 'processed', cancelled)
    icall('HINCRBY', s, 'cancelled', cancelled)
  end
end

-- Rate limits (tq ratelimit set NAME RATE [--burst N]; --rate-limit NAME or
-- NAME:KEY on a job). A limit is the hash P:rl:NAME (interval: microseconds
-- between tokens, burst: tokens that may be taken at once, rate: as set);
-- its bucket, one per KEY with NAME:KEY, is the string P:rlb:NAME[:KEY]
-- holding one number, the theoretical arrival time (GCRA's TAT, Redis's
-- clock in us), set with an expiry that drops it once TAT has passed: an
-- idle bucket is no key at all, and a missing one is a full one.
-- rl_take(sp, rl, us, jk) charges one token at claim time for job key jk
-- (sp is P:sem:, whose namespace the limit keys share). A token free now:
-- taken, returns nil. None free: the next one is reserved all the same (TAT
-- moves on) and its time in ms is returned; the caller parks the job until
-- then with rlok=1, so reserved tokens are handed out interval apart and a
-- parked job is not charged again. A parked job is also noted in the zset
-- P:rlp:NAME (job key -> due ms; entries already due are pruned as new ones
-- come, and the key expires a minute after its last due time), so that
-- `ratelimit set` and `rm` (rlset.lua) can release the jobs parked under
-- the old rate. A limit that does not exist (removed since the submit) or
-- that tq cannot read lets the job run unlimited.
local rl_conf = {} -- NAME -> {interval_us, burst} or false, per script run
local rl_tat = {}  -- bucket key -> TAT, written back once by rl_flush
local rl_park = {} -- P:rlp:NAME -> latest due ms parked this run
local function rl_take(sp, rl, us, jk)
  local name = string.match(rl, '^[^:]*')
  local ns = string.sub(sp, 1, #sp - 4) -- P:sem: -> P:
  local c = rl_conf[name]
  if c == nil then
    c = false
    local f = redis.pcall('HMGET', ns .. 'rl:' .. name, 'interval', 'burst')
    local iv = not f.err and tonumber(f[1])
    if iv and iv >= 1 and iv < 1e13 then
      local b = math.floor(num(f[2], 1))
      if b < 1 then b = 1 elseif b > 1000000 then b = 1000000 end
      c = {math.floor(iv), b}
    end
    rl_conf[name] = c
  end
  if not c then return nil end
  local bk = ns .. 'rlb:' .. rl
  local iv = c[1]
  local tat = rl_tat[bk]
  if not tat then tat = tonumber(icall('GET', bk)) end
  if not tat or tat ~= tat or tat < us or tat > us + 1e14 then tat = us end
  local at = tat - (c[2] - 1) * iv -- when the next token is free
  rl_tat[bk] = tat + iv
  if at <= us then return nil end
  local due = math.ceil(at / 1000)
  local pk = ns .. 'rlp:' .. name
  icall('ZADD', pk, due, jk)
  if not rl_park[pk] or rl_park[pk] < due then rl_park[pk] = due end
  return due
end

-- Writes back what rl_take did in this script run: each bucket's TAT, with
-- an expiry that drops it once TAT has passed, and for each P:rlp:NAME
-- parked into, entries already due pruned and an expiry a minute past its
-- latest due time. One SET per bucket per claim, not per job.
local function rl_flush(us)
  for bk, tat in pairs(rl_tat) do
    redis.call('SET', bk, string.format('%d', tat), 'PX',
      string.format('%d', math.floor((tat - us) / 1000) + 2))
  end
  local now = math.floor(us / 1000)
  for pk, due in pairs(rl_park) do
    icall('ZREMRANGEBYSCORE', pk, '-inf', now - 1000)
    if redis.call('PTTL', pk) < due - now + 30000 then
      redis.call('PEXPIRE', pk, string.format('%d', due - now + 60000))
    end
  end
end
