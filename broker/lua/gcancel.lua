-- flags: allow-oom
-- gcancel: cancels the members of a group that are not finished, a chunk at
-- a time (start .. start+count-1 of the members list): as cancel does, one
-- not running is cancelled now, a running one is flagged and its holder
-- told. The last chunk also seals the group if its creation never finished
-- (so it can complete), and cancels its fan-in job if that is not finished:
-- nothing of a cancelled group runs any more. A member record tq cannot
-- read is dead-lettered (lib.lua corrupt()).
-- KEYS: group members sched stats
-- ARGV: PJ PD cancel_channel reason gid start count
-- Reply: {cancelled_now, running_flagged, next_start | -1} or nil (no group)
local pj, pd, chan, reason, gid = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local start, count = tonumber(ARGV[6]) or 0, tonumber(ARGV[7]) or 1000
-- read before any write: a group key or members list of another type is a
-- clean error
local g = redis.pcall('HMGET', KEYS[1], 'sealed', 'done', 'total', 'fanin')
if g.err then
  return redis.error_reply('ERR tq: group ' .. gid .. ': ' .. g.err)
end
if not g[1] then return false end
local ids = redis.pcall('LRANGE', KEYS[2], start, start + count - 1)
if ids.err then
  return redis.error_reply('ERR tq: members of group ' .. gid .. ': ' .. ids.err)
end
local ms, nowstr = clock()
local now, flagged = 0, 0
local function cancel_one(id)
  local jk = pj .. id
  local f = rget(jk, 'state')
  if not f then return corrupt(jk, id, 'unreadable') end
  local st = f[1]
  if not st or terminal(st) then return end
  if not STATES[st] then return corrupt(jk, id, 'unknown state "' .. st .. '"') end
  redis.call('HSET', jk, 'cancel', '1')
  if st == 'active' then
    redis.call('PUBLISH', chan, id)
    flagged = flagged + 1
    return
  end
  icall('ZREM', KEYS[3], id)
  finish(jk, id, 'cancelled', nowstr, pd, nil, nil, 'error', reason)
  now = now + 1
end
for _, id in ipairs(ids) do cancel_one(id) end
local nxt = start + count
if nxt < redis.call('LLEN', KEYS[2]) then
  if now > 0 then icall('HINCRBY', KEYS[4], 'cancelled', now) end
  return {now, flagged, nxt}
end
-- the members' finishes may have completed (and the group key) it: read again
g = group_read(KEYS[1], 'total', 'fanin')
if g and g[1] ~= '1' then
  local total = redis.call('LLEN', KEYS[2])
  redis.call('HSET', KEYS[1], 'sealed', '1', 'total', total)
  if (tonumber(g[2]) or 0) >= total then
    group_complete(qbase(pj .. gid, gid), gid, nowstr, pd)
  end
end
if g and g[5] then cancel_one(g[5]) end
if now > 0 then icall('HINCRBY', KEYS[4], 'cancelled', now) end
return {now, flagged, -1}
