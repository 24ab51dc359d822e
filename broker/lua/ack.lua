-- flags: allow-oom,allow-cross-slot-keys
-- ack: report the outcomes of a batch of deliveries. A report whose token is
-- not the job's current one (the lease was lost and the job delivered again)
-- changes nothing.
-- KEYS: active sched dead stats wake p0..p9
-- ARGV: PJ PD SP n (id tok outcome payload jitter) * n
--   outcome: ok (payload = result JSON) | fail (error; retried with backoff
--   while attempts remain) | dead (error; never retried) | cancel (reason) |
--   release (given back at shutdown; not counted as an attempt) | notask
--   (error: this worker lacks the task; not counted in `fails`: scheduled
--   again, 1 s doubling up to 60 s times jitter, while `notask` <= max_lost,
--   then failed)
-- Each item is read before anything of it is written; a record tq cannot
-- read is dead-lettered (lib.lua corrupt()) and the rest goes on.
-- Reply: {r1..rn}: 1 applied, 0 refused, 2 the record was corrupt: its job
--        was dead-lettered instead
local ms, nowstr = clock()
local pj, pd, sp = ARGV[1], ARGV[2], ARGV[3]
local n = tonumber(ARGV[4]) or 0
local res = {}
local gone = {} -- ids leaving the active set: one ZREM at the end
local processed, succeeded, failed, dead, retried, cancelled = 0, 0, 0, 0, 0, 0
done_batch = {} -- the terminal index, written once per call (lib.lua done_add)

-- A failed delivery (fail, dead or notask), once its fields are read (g:
-- fails max_retries backoff notask max_lost) and checked: retried later
-- (scheduled, the attempt appended to the record's attempts log: lib.lua
-- alog_add) or ended `failed` and dead-lettered.
local function failure(jk, id, outcome, payload, jitter, g)
  local delay, e = nil, payload
  if outcome == 'notask' then
    local nt = (tonumber(g[4]) or 0) + 1
    redis.call('HSET', jk, 'notask', numstr(nt))
    if nt <= num(g[5], DEF_MAXLOST) then
      delay = 1000 * (2 ^ (nt - 1))
      if delay > 60000 then delay = 60000 end
    else
      e = payload .. ': no worker that claimed it has this task (' .. nt .. ' tries)'
    end
  else
    failed = failed + 1
    local fails = (tonumber(g[1]) or 0) + 1
    redis.call('HSET', jk, 'fails', numstr(fails))
    if outcome == 'fail' and fails <= num(g[2], DEF_RETRIES) then
      delay = num(g[3], DEF_BACKOFF) * (2 ^ (fails - 1))
      if delay > 3600000 then delay = 3600000 end
    end
  end
  if delay then
    delay = delay * num(jitter, 1)
    redis.call('HSET', jk, 'error', payload, 'state', 'scheduled')
    alog_add(jk, {g[6], g[7], g[8], g[9]}, tonumber(nowstr),
      outcome == 'notask' and 'notask' or 'failed', payload, (ms + math.floor(delay)) / 1000)
    icall('ZADD', KEYS[2], ms + math.floor(delay), id)
    wake(KEYS[5])
    retried = retried + 1
  else
    finish(jk, id, 'failed', nowstr, pd, nil, nil, 'error', e)
    bury_dead(KEYS[3], id, ms)
    dead = dead + 1
  end
end

for i = 0, n - 1 do
  local b = 5 + i * 5
  local id, tok, outcome, payload = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
  local jk = pj .. id
  -- one read for finish() (f[1] .. f[5], its order) and for the check
  local f = rget(jk, 'result_ttl', 'w', 'unique', 'next', 'group',
    'state', 'tok', 'semaphore', 'error')
  local g, why
  if not f then
    why = 'unreadable'
  elseif f[6] ~= 'active' or f[7] ~= tok then
    if f[6] and not STATES[f[6]] then why = 'unknown state "' .. f[6] .. '"' end
  elseif outcome == 'release' then
    g = redis.call('HMGET', jk, 'attempt', 'priority', 'fk')
    if not isint(g[1]) then why = 'attempt is not a whole number' end
  elseif outcome ~= 'ok' and outcome ~= 'cancel' then
    g = redis.call('HMGET', jk, 'fails', 'max_retries', 'backoff', 'notask', 'max_lost',
      'attempt', 'worker', 'started_at', 'alog')
    if not isint(g[1]) or not isint(g[4]) then
      why = 'fails or notask is not a whole number'
    end
  end
  if why then
    gone[#gone + 1] = id
    corrupt(jk, id, why)
    res[#res + 1] = 2
  elseif f[6] ~= 'active' or f[7] ~= tok then
    res[#res + 1] = 0
  else
    res[#res + 1] = 1
    gone[#gone + 1] = id
    if f[8] then sem_release(sp, f[8], id) end
    if outcome == 'release' then
      redis.call('HSET', jk, 'state', 'pending',
        'attempt', numstr((tonumber(g[1]) or 1) - 1))
      push_ids(string.sub(pj, 1, -3), {id}, g[2], g[3], true)
      wake(KEYS[5])
    else
      processed = processed + 1
      if outcome == 'ok' then
        if f[9] then redis.call('HDEL', jk, 'error') end
        finish(jk, id, 'succeeded', nowstr, pd, f, payload, 'result', payload)
        succeeded = succeeded + 1
      elseif outcome == 'cancel' then
        finish(jk, id, 'cancelled', nowstr, pd, f, false, 'error', payload)
        cancelled = cancelled + 1
      else
        failure(jk, id, outcome, payload, ARGV[b + 4], g)
      end
    end
  end
end
batched('ZREM', KEYS[1], gone)
done_flush()
if processed > 0 then
  local s = KEYS[4]
  icall('HINCRBY', s, 'processed', processed)
  if succeeded > 0 then icall('HINCRBY', s, 'succeeded', succeeded) end
  if failed > 0 then icall('HINCRBY', s, 'failed', failed) end
  if dead > 0 then icall('HINCRBY', s, 'dead', dead) end
  if retried > 0 then icall('HINCRBY', s, 'retried', retried) end
  if cancelled > 0 then icall('HINCRBY', s, 'cancelled', cancelled) end
end
return res
