-- flags: allow-oom,allow-cross-slot-keys
-- reclaim: deliveries whose lease ran out go back to the front of their
-- queue (not charged as a retry), unless cancellation was requested or the
-- job has now been lost more than max_lost times.
-- KEYS: active dead stats wake p0..p9
-- ARGV: PJ PD limit SP
-- Reply: {n_reclaimed, next_deadline_ms|-1}
local ms, nowstr = clock()
local pj, pd, sp = ARGV[1], ARGV[2], ARGV[4]
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ms, 'LIMIT', 0,
  tonumber(ARGV[3]) or 100)
local requeued, lost_for_good, cancelled = 0, 0, 0
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  local jk = pj .. id
  local f = redis.call('HMGET', jk, 'state', 'cancel', 'max_lost', 'priority', 'semaphore')
  if f[1] == 'active' then
    if f[5] then sem_release(sp, f[5], id) end
    if f[2] then
      redis.call('HSET', jk, 'error', 'cancelled')
      finish(jk, id, 'cancelled', nowstr, pd)
      cancelled = cancelled + 1
    else
      local lost = redis.call('HINCRBY', jk, 'lost', 1)
      if lost > (tonumber(f[3]) or 3) then
        redis.call('HSET', jk, 'error', 'worker lost')
        finish(jk, id, 'failed', nowstr, pd)
        bury_dead(KEYS[2], id, ms)
        lost_for_good = lost_for_good + 1
      else
        redis.call('HSET', jk, 'state', 'pending')
        redis.call('LPUSH', pick(5, f[4]), id)
        requeued = requeued + 1
      end
    end
  end
end
if requeued > 0 then wake(KEYS[4]) end
local s = KEYS[3]
if requeued + lost_for_good > 0 then
  redis.call('HINCRBY', s, 'lost', requeued + lost_for_good)
end
if lost_for_good > 0 then
  redis.call('HINCRBY', s, 'processed', lost_for_good)
  redis.call('HINCRBY', s, 'failed', lost_for_good)
  redis.call('HINCRBY', s, 'dead', lost_for_good)
end
if cancelled > 0 then
  redis.call('HINCRBY', s, 'processed', cancelled)
  redis.call('HINCRBY', s, 'cancelled', cancelled)
end
local nd = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local nxt = -1
if nd[2] then nxt = tonumber(nd[2]) end
return {#ids, nxt}
