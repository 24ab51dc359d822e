-- flags: allow-oom
-- dlqpurge: drop a queue's dead-letter list and the records in it.
-- KEYS: dead
-- ARGV: PJ PD
-- Reply: how many ids were dropped (waiters on a record are told 'deleted')
-- (standalone: sent without the lib.lua prelude)
local pj, pd = ARGV[1], ARGV[2]
-- pcall: a list or record of another type is not tq's: skipped
local ids = redis.pcall('ZRANGE', KEYS[1], 0, -1)
if ids.err then ids = {} end
for _, id in ipairs(ids) do
  local f = redis.pcall('HMGET', pj .. id, 'state', 'w')
  if not f.err and f[1] == 'failed' then
    redis.call('DEL', pj .. id)
    if f[2] then redis.call('PUBLISH', pd .. id, 'deleted') end
  end
end
redis.call('DEL', KEYS[1])
return #ids
