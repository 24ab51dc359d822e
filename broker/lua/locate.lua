-- flags: no-writes,allow-cross-slot-keys
-- locate: the queue of each of some jobs or groups, found by looking for its
-- key in every queue ever submitted to (there is no id index to keep up:
-- finding costs a probe per queue when a status/wait/cancel asks, instead
-- of a write per job). The one script that reaches keys not given in KEYS;
-- under Redis Cluster the client will probe each queue's key itself.
-- KEYS: P:queues
-- ARGV: P kind ('j' jobs, 'g' groups) id...
-- Reply: {queue name or nil, ...}, one per id
-- (standalone: sent without the lib.lua prelude)
local p, kind = ARGV[1], ARGV[2]
local queues = redis.call('SMEMBERS', KEYS[1])
local out = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  out[i - 2] = false
  for _, q in ipairs(queues) do
    if redis.call('EXISTS', p .. ':{' .. q .. '}:' .. kind .. ':' .. id) == 1 then
      out[i - 2] = q
      break
    end
  end
end
return out
