-- flags: allow-oom
-- cancel: a job not yet running is cancelled now (finish() carries that down
-- its chain and into its group); a running one is flagged
-- (so a re-delivery or a reconnecting worker still sees it) and its holder is
-- told through the cancel channel; a finished one is left alone.
-- KEYS: job sched stats
-- ARGV: PD cancel_channel reason id
-- Reply: the state the job was in, or 'missing'; a record tq cannot read
--        is dead-lettered (lib.lua corrupt()): 'failed'
local jk, id = KEYS[1], ARGV[4]
local f = rget(jk, 'state')
if not f then
  corrupt(jk, id, 'unreadable')
  return 'failed'
end
local st = f[1]
if not st then return 'missing' end
if not STATES[st] then
  corrupt(jk, id, 'unknown state "' .. st .. '"')
  return 'failed'
end
if st == 'succeeded' or st == 'failed' or st == 'cancelled' then return st end
redis.call('HSET', jk, 'cancel', '1')
if st == 'active' then
  redis.call('PUBLISH', ARGV[2], id)
  return st
end
local ms, nowstr = clock()
icall('ZREM', KEYS[2], id)
if st == 'waiting' then
  icall('ZREM', string.sub(jk, 1, #jk - #id - 2) .. 'waiting', id)
end
finish(jk, id, 'cancelled', nowstr, ARGV[1], nil, nil, 'error', ARGV[3])
icall('HINCRBY', KEYS[3], 'cancelled', 1)
return st
