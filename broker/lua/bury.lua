-- flags: allow-oom,allow-cross-slot-keys
-- bury: a worker whose heartbeat stopped holds nothing any more. Its leases in
-- this queue end now, so the next reclaim gives its jobs to someone else.
-- KEYS: active
-- ARGV: PJ worker_id
-- Reply: how many leases were ended
-- (standalone: sent without the lib.lua prelude)
local pj, wid = ARGV[1], ARGV[2]
local n = 0
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if redis.call('HGET', pj .. id, 'worker') == wid then
    redis.call('ZADD', KEYS[1], 'XX', 0, id)
    n = n + 1
  end
end
return n
