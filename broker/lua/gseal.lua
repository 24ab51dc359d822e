-- flags: allow-oom
-- gseal: a group has all its members. If they have all finished already,
-- the group completes now (fan-in settled, waiters told); else the last
-- member's finish completes it.
-- KEYS: group
-- ARGV: PJ PD gid
-- Reply: 1 if the group completed now, 0 if members are still running
local pj, pd, gid = ARGV[1], ARGV[2], ARGV[3]
local g = redis.pcall('HMGET', KEYS[1], 'sealed', 'done', 'total')
if g.err then return redis.error_reply('ERR tq: group ' .. gid .. ': ' .. g.err) end
if not g[1] then return redis.error_reply('ERR tq: no such group ' .. gid) end
if g[1] == '1' then return 0 end
redis.call('HSET', KEYS[1], 'sealed', '1')
if (tonumber(g[2]) or 0) >= (tonumber(g[3]) or 0) then
  local ms, nowstr = clock()
  group_complete(qbase(pj .. gid, gid), gid, nowstr, pd)
  return 1
end
return 0
