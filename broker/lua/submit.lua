-- submit: a new job, pending now or scheduled for later.
-- KEYS: job pending sched wake [unique]
-- ARGV: id queue task args priority max_retries timeout_ms backoff_ms
--       result_ttl_ms max_lost due_ms semaphore unique rate_limit
--       fair_key('' = none)
-- Reply: {id, 1} for a new job; {other_id, 0} when unique matched a live job.
-- Everything is read before the first write: a unique key of another
-- type is a clean error; index keys go through icall (lib.lua).
local jk, id = KEYS[1], ARGV[1]
if KEYS[5] then
  local other = redis.pcall('GET', KEYS[5])
  if type(other) == 'table' and other.err then
    return redis.error_reply('ERR tq: unique key ' .. KEYS[5] .. ': ' .. other.err)
  end
  if other then
    local ojk = string.sub(jk, 1, #jk - #id) .. other
    local f = rget(ojk, 'state')
    local st = f and f[1]
    if st and STATES[st] and not terminal(st) then
      return {other, 0}
    end
  end
end
if redis.call('EXISTS', jk) == 1 then
  return redis.error_reply('ERR tq: job id ' .. id .. ' exists')
end
local ms, nowstr = clock()
local due = due_of(ARGV[11], ms)
local state = 'pending'
if due > ms then state = 'scheduled' end
local extra = nil
if KEYS[5] then extra = {'unique', ARGV[13]} end
local fk = ARGV[15] or ''
new_record(jk, ARGV[3], ARGV[4], state, nowstr, opt_fields(ARGV[5], ARGV[6],
  ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[12], ARGV[14], fk), extra)
if KEYS[5] then redis.call('SET', KEYS[5], id) end
if state == 'pending' then
  push_ids(string.sub(KEYS[2], 1, -3), {id}, ARGV[5], fk)
else
  icall('ZADD', KEYS[3], due, id)
end
wake(KEYS[4])
return {id, 1}
