-- flags: allow-oom,allow-cross-slot-keys
-- schedctl: pause, resume or remove a schedule.
-- KEYS: schedules schedule
-- ARGV: name op (pause | resume | rm) [next_ms (resume)]
-- Reply: 1 done, 0 no such schedule.
-- A paused schedule stays in `schedules` with the score +inf, so no ticker
-- ever finds it due and `tq schedule list` still sees it; resume takes the
-- next tick the caller computed from Redis's clock (missed ticks are not
-- caught up). It writes nothing new (a flag and a score): allow-oom, so a
-- schedule can be stopped on a full Redis.
local zk, hk, name, op = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local t = redis.call('TYPE', hk).ok
if t ~= 'hash' then
  if t ~= 'none' then aside(hk) end
  icall('ZREM', zk, name)
  return 0
end
if op == 'rm' then
  redis.call('DEL', hk)
  icall('ZREM', zk, name)
elseif op == 'pause' then
  redis.call('HSET', hk, 'paused', '1')
  icall('ZADD', zk, '+inf', name)
elseif op == 'resume' then
  local nxt = ARGV[3]
  if not (nxt and string.match(nxt, '^%d+$')) then
    return redis.error_reply('ERR tq: schedctl: next tick is not a whole number')
  end
  redis.call('HDEL', hk, 'paused')
  redis.call('HSET', hk, 'next', nxt)
  icall('ZADD', zk, nxt, name)
else
  return redis.error_reply('ERR tq: schedctl: unknown op')
end
return 1
