-- flags: allow-oom,allow-cross-slot-keys
-- bury: a worker whose heartbeat stopped holds nothing any more. Each of its
-- deliveries in this queue is put back now, as reclaim does when a lease
-- runs out (lib.lua reclaim_one: pending again at the front of its queue,
-- `lost` + 1, its semaphore permit released; failed "worker lost" past
-- max_lost, cancelled if cancellation was requested), whoever calls: the
-- caller need not serve this queue.
-- KEYS: active dead stats wake
-- ARGV: PJ worker_id PD SP
-- Reply: how many deliveries were taken from the dead worker
local ms, nowstr = clock()
local pj, wid, pd, sp = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local base = string.sub(pj, 1, #pj - 2)
local c = {requeued = 0, dead = 0, cancelled = 0}
local n = 0
for _, id in ipairs(icall('ZRANGE', KEYS[1], 0, -1)) do
  local f = rget(pj .. id, 'worker')
  if f and f[1] == wid then
    redis.call('ZREM', KEYS[1], id)
    local r = reclaim_one(base, id, nowstr, ms, pd, sp, KEYS[2])
    if r then c[r] = c[r] + 1 end
    n = n + 1
  end
end
if c.requeued > 0 then wake(KEYS[4]) end
count_lost(KEYS[3], c.requeued, c.dead, c.cancelled)
return n
