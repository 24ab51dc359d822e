-- flags: no-writes,allow-cross-slot-keys
-- (standalone: no prelude; a worker's ticker calls it about once a second)
-- schedpeek: Redis's clock and the schedule due first.
-- KEYS: schedules
-- ARGV: schedule_prefix (P:schedule:)
-- Reply: {now_ms} when there is no schedule, else
--        {now_ms, name, score, spec, tz, catchup_ms, next}
-- score is '+inf' (or 'inf') for a paused schedule; fields of a schedule
-- hash that is gone or not a hash come back false (nil): the ticker asks
-- schedfire, which cleans up.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nows = string.format('%d', now)
local z = redis.pcall('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if type(z) ~= 'table' or z.err or not z[1] then return {nows} end
local f = redis.pcall('HMGET', ARGV[1] .. z[1], 'spec', 'tz', 'catchup', 'next')
if type(f) ~= 'table' or f.err then f = {} end
return {nows, z[1], z[2], f[1], f[2], f[3], f[4]}
