-- dlqpurge: drop a queue's dead-letter list and the records in it.
-- KEYS: dead
-- ARGV: PJ PI
-- Reply: how many ids were dropped
local pj, pi = ARGV[1], ARGV[2]
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, id in ipairs(ids) do
  if redis.call('HGET', pj .. id, 'state') == 'failed' then
    redis.call('DEL', pj .. id, pi .. id)
  end
end
redis.call('DEL', KEYS[1])
return #ids
