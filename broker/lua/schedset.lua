-- flags: allow-cross-slot-keys
-- schedset: create or replace a schedule (SPEC §10; docs/design.md §11).
-- KEYS: schedules schedule
-- ARGV: name next_ms (field value) ...
-- Reply: 1 when the schedule is new, 0 when it replaced one.
-- The config fields given replace the old ones (an option at its default
-- comes as ''); what the schedule did (last_tick last_job last_jk fired
-- skipped) is kept, so a replaced schedule's overlap check still sees its
-- last job and its ticks keep their ids. A replaced schedule is not paused.
-- The first tick (next_ms) was computed by the caller on Redis's clock.
-- Read before written: a schedule key of another type is moved aside.
local zk, hk, name, nxt = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
if not string.match(nxt, '^%d+$') then
  return redis.error_reply('ERR tq: schedset: next tick is not a whole number')
end
local t = redis.call('TYPE', hk).ok
if t ~= 'none' and t ~= 'hash' then
  aside(hk)
  t = 'none'
end
local f = {'next', nxt}
for i = 3, #ARGV do f[#f + 1] = ARGV[i] end
if t == 'hash' then redis.call('HDEL', hk, 'paused') end
redis.call('HSET', hk, unpack(f))
icall('ZADD', zk, nxt, name)
if t == 'none' then return 1 end
return 0
