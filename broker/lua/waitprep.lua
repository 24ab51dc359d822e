-- flags: allow-oom
-- waitprep: before waiting on a job, mark it watched so that finishing it
-- publishes on its done channel, and read where it stands.
-- KEYS: job
-- Reply: {state, result, error} or nil when there is no such job
-- (standalone: sent without the lib.lua prelude)
local f = redis.call('HMGET', KEYS[1], 'state', 'result', 'error')
if not f[1] then return false end
if f[1] ~= 'succeeded' and f[1] ~= 'failed' and f[1] ~= 'cancelled' then
  redis.call('HSET', KEYS[1], 'w', '1')
end
return {f[1], f[2], f[3]}
