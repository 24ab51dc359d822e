-- flags: allow-oom
-- jobdel: deletes a finished job's record for the dashboard's delete.
-- KEYS: job dead
-- ARGV: id
-- Reply: 1 deleted; 0 not finished (left alone: the caller cancels it
--        first, and a running job finishes cancelled only once its worker
--        has stopped it); -1 no record (its id is dropped from the
--        dead-letter list all the same).
-- Only succeeded, failed and cancelled jobs are deleted, so no index but
-- the dead-letter zset and the terminal lists P:{Q}:done:S still names the
-- id: those lists are trimmed and their readers skip ids whose record is
-- gone (the jobs script, tq dlq list). A group member's record going away
-- shows in tq group status as a missing member, as an expired one does.
-- The record is read before anything is written: a key of another type is
-- an error, nothing changed.
local jk, id = KEYS[1], ARGV[1]
local f = redis.pcall('HMGET', jk, 'state')
if f.err then return redis.error_reply('ERR tq: job ' .. id .. ': ' .. f.err) end
if not f[1] then
  icall('ZREM', KEYS[2], id)
  return -1
end
if f[1] ~= 'succeeded' and f[1] ~= 'failed' and f[1] ~= 'cancelled' then return 0 end
redis.call('DEL', jk)
icall('ZREM', KEYS[2], id)
return 1
