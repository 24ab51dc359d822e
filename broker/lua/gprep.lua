-- flags: allow-oom
-- gprep: before waiting on a group, mark it watched (so its completion is
-- published on P:done:GID, and with mode 'p' every member's progress too)
-- and read where it stands.
-- KEYS: group
-- ARGV: mode ('1' = completion only, 'p' = progress too)
-- Reply: {total, done, ok, sealed, finished_at|false, fanin|false} or nil
-- (standalone: sent without the lib.lua prelude)
local f = redis.call('HMGET', KEYS[1], 'total', 'done', 'ok', 'sealed',
  'finished_at', 'fanin', 'w')
if not f[1] then return false end
if not f[5] and f[7] ~= 'p' then
  redis.call('HSET', KEYS[1], 'w', ARGV[1])
end
return {f[1], f[2], f[3], f[4], f[5], f[6]}
