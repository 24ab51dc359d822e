-- retry: a dead-lettered job goes back to its queue with fresh retries.
-- KEYS: job index dead wake p0..p9
-- ARGV: id
-- Reply: 1 retried, 0 not failed (left alone), -1 no record (its id is
--        dropped from the dead-letter list)
local jk, id = KEYS[1], ARGV[1]
local f = redis.call('HMGET', jk, 'state', 'priority')
if not f[1] then
  redis.call('ZREM', KEYS[3], id)
  return -1
end
if f[1] ~= 'failed' then return 0 end
redis.call('HSET', jk, 'state', 'pending', 'fails', 0, 'lost', 0)
redis.call('HDEL', jk, 'finished_at')
redis.call('PERSIST', jk)
redis.call('PERSIST', KEYS[2])
redis.call('ZREM', KEYS[3], id)
redis.call('RPUSH', pick(5, f[2]), id)
wake(KEYS[4])
return 1
