-- flags: allow-oom,allow-cross-slot-keys
-- ack: report the outcomes of a batch of deliveries. A report whose token is
-- not the job's current one (the lease was lost and the job delivered again)
-- changes nothing.
-- KEYS: active sched dead stats wake p0..p9
-- ARGV: PJ PD SP n (id tok outcome payload jitter) * n
--   outcome: ok (payload = result JSON) | fail (error; retried with backoff
--   while attempts remain) | dead (error; never retried) | cancel (reason) |
--   release (given back at shutdown; not counted as an attempt)
-- Reply: {r1..rn}: 1 applied, 0 refused
local ms, nowstr = clock()
local pj, pd, sp = ARGV[1], ARGV[2], ARGV[3]
local n = tonumber(ARGV[4]) or 0
local res = {}
local gone = {} -- ids leaving the active set: one ZREM at the end
local processed, succeeded, failed, dead, retried, cancelled = 0, 0, 0, 0, 0, 0
for i = 0, n - 1 do
  local b = 5 + i * 5
  local id, tok, outcome, payload = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
  local jk = pj .. id
  -- one read for finish() (f[1] .. f[5], its order) and for the check
  local f = redis.call('HMGET', jk, 'result_ttl', 'w', 'unique', 'next', 'group',
    'state', 'tok', 'semaphore', 'error')
  if f[6] ~= 'active' or f[7] ~= tok then
    res[#res + 1] = 0
  else
    res[#res + 1] = 1
    gone[#gone + 1] = id
    if f[8] then sem_release(sp, f[8], id) end
    if outcome == 'release' then
      redis.call('HINCRBY', jk, 'attempt', -1)
      redis.call('HSET', jk, 'state', 'pending')
      redis.call('LPUSH', pick(6, redis.call('HGET', jk, 'priority')), id)
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
        failed = failed + 1
        redis.call('HSET', jk, 'error', payload)
        local fails = redis.call('HINCRBY', jk, 'fails', 1)
        local g = redis.call('HMGET', jk, 'max_retries', 'backoff')
        if outcome == 'fail' and fails <= (tonumber(g[1]) or DEF_RETRIES) then
          local jitter = tonumber(ARGV[b + 4]) or 1
          local delay = (tonumber(g[2]) or DEF_BACKOFF) * (2 ^ (fails - 1)) * jitter
          if delay > 3600000 then delay = 3600000 end
          redis.call('HSET', jk, 'state', 'scheduled')
          redis.call('ZADD', KEYS[2], ms + math.floor(delay), id)
          wake(KEYS[5])
          retried = retried + 1
        else
          finish(jk, id, 'failed', nowstr, pd)
          bury_dead(KEYS[3], id, ms)
          dead = dead + 1
        end
      end
    end
  end
end
batched('ZREM', KEYS[1], gone)
if processed > 0 then
  local s = KEYS[4]
  redis.call('HINCRBY', s, 'processed', processed)
  if succeeded > 0 then redis.call('HINCRBY', s, 'succeeded', succeeded) end
  if failed > 0 then redis.call('HINCRBY', s, 'failed', failed) end
  if dead > 0 then redis.call('HINCRBY', s, 'dead', dead) end
  if retried > 0 then redis.call('HINCRBY', s, 'retried', retried) end
  if cancelled > 0 then redis.call('HINCRBY', s, 'cancelled', cancelled) end
end
return res
