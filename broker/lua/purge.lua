-- purge: drop a queue's pending jobs, records and all.
-- KEYS: p0..p9
-- ARGV: PJ PI
-- Reply: how many jobs were dropped
local pj, pi = ARGV[1], ARGV[2]
local n = 0
for k = 1, 10 do
  for _, id in ipairs(redis.call('LRANGE', KEYS[k], 0, -1)) do
    if redis.call('HGET', pj .. id, 'state') == 'pending' then
      redis.call('DEL', pj .. id, pi .. id)
      n = n + 1
    end
  end
  redis.call('DEL', KEYS[k])
end
return n
