-- locate: the queue of a job or a group, found by looking for its key in
-- every queue ever submitted to (there is no id index to keep up: finding
-- costs a probe per queue, once per status/wait/cancel, instead of a write
-- per job). The one script that reaches keys not given in KEYS; under Redis
-- Cluster the client will probe each queue's key itself.
-- KEYS: P:queues
-- ARGV: P kind ('j' a job, 'g' a group) id
-- Reply: the queue's name, or nil
local p, kind, id = ARGV[1], ARGV[2], ARGV[3]
for _, q in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', p .. ':{' .. q .. '}:' .. kind .. ':' .. id) == 1 then
    return q
  end
end
return false
