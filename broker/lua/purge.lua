-- flags: allow-oom
-- purge: drop a queue's pending jobs, records and all.
-- KEYS: p0..p9
-- ARGV: PJ PD
-- Reply: how many jobs were dropped (their waiters are told 'deleted')
-- (standalone: sent without the lib.lua prelude)
local pj, pd = ARGV[1], ARGV[2]
local n = 0
for k = 1, 10 do
  -- pcall: a list or record of another type is not tq's: skipped
  local ids = redis.pcall('LRANGE', KEYS[k], 0, -1)
  if ids.err then ids = {} end
  for _, id in ipairs(ids) do
    local f = redis.pcall('HMGET', pj .. id, 'state', 'w')
    if not f.err and f[1] == 'pending' then
      redis.call('DEL', pj .. id)
      if f[2] then redis.call('PUBLISH', pd .. id, 'deleted') end
      n = n + 1
    end
  end
  redis.call('DEL', KEYS[k])
end
return n
