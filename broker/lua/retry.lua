-- retry: a dead-lettered job goes back to its queue with fresh retries; its
-- failed attempt goes into the record's attempts log (lib.lua alog_add).
-- KEYS: job dead wake p0..p9
-- ARGV: id
-- Reply: 1 retried, 0 not failed (left alone), -1 no record (its id is
--        dropped from the dead-letter list)
-- A group member is uncounted from its group (which is open again if it had
-- completed), so its next finish counts. A chain link or fan-in settled by
-- its first outcome stays as it is. Everything is read before the first
-- write: a key of another type is a clean error.
local jk, id = KEYS[1], ARGV[1]
local f = redis.pcall('HMGET', jk, 'state', 'priority', 'group', 'gdone', 'fk',
  'attempt', 'worker', 'started_at', 'alog', 'error', 'finished_at')
if f.err then return redis.error_reply('ERR tq: job ' .. id .. ': ' .. f.err) end
if not f[1] then
  icall('ZREM', KEYS[2], id)
  return -1
end
if f[1] ~= 'failed' then return 0 end
local base, g = qbase(jk, id), nil
if f[3] and f[4] then g = group_read(base .. 'g:' .. f[3]) end
-- the failed attempt is history now: the next claim overwrites its fields
alog_add(jk, {f[6], f[7], f[8], f[9]}, tonumber(f[11]) or tonumber(select(2, clock())), 'failed', f[10])
redis.call('HSET', jk, 'state', 'pending', 'fails', 0, 'lost', 0, 'notask', 0)
redis.call('HDEL', jk, 'finished_at')
if g then
  local gk = base .. 'g:' .. f[3]
  redis.call('HDEL', jk, 'gdone')
  redis.call('HINCRBY', gk, 'done', -1)
  if redis.call('HDEL', gk, 'finished_at') == 1 then
    for _, k in ipairs({gk, base .. 'gm:' .. f[3], base .. 'gr:' .. f[3],
                        base .. 'gf:' .. f[3]}) do
      redis.call('PERSIST', k)
    end
  end
elseif f[3] and f[4] then
  redis.call('HDEL', jk, 'gdone')
end
redis.call('PERSIST', jk)
icall('ZREM', KEYS[2], id)
push_ids(base, {id}, f[2], f[5])
wake(KEYS[3])
return 1
