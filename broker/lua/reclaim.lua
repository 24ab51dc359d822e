-- flags: allow-oom,allow-cross-slot-keys
-- reclaim: deliveries whose lease ran out go back to the front of their
-- queue (not charged as a retry), unless cancellation was requested or the
-- job has now been lost more than max_lost times (lib.lua reclaim_one).
-- KEYS: active dead stats wake p0..p9
-- ARGV: PJ PD limit SP
-- Reply: {n_reclaimed, next_deadline_ms|-1}
local ms, nowstr = clock()
local pj, pd, sp = ARGV[1], ARGV[2], ARGV[4]
local ids = icall('ZRANGEBYSCORE', KEYS[1], '-inf', ms, 'LIMIT', 0,
  tonumber(ARGV[3]) or 100)
local base = string.sub(pj, 1, #pj - 2)
local c = {requeued = 0, dead = 0, cancelled = 0}
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  local r = reclaim_one(base, id, nowstr, ms, pd, sp, KEYS[2])
  if r then c[r] = c[r] + 1 end
end
if c.requeued > 0 then wake(KEYS[4]) end
count_lost(KEYS[3], c.requeued, c.dead, c.cancelled)
local nd = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local nxt = -1
if nd[2] then nxt = tonumber(nd[2]) end
return {#ids, nxt}
