-- submit: a new job, pending now or scheduled for later.
-- KEYS: job index pending sched wake [unique]
-- ARGV: id queue task args priority max_retries timeout_ms backoff_ms
--       result_ttl_ms max_lost due_ms semaphore unique
-- Reply: {id, 1} for a new job; {other_id, 0} when unique matched a live job.
local jk, ik, id = KEYS[1], KEYS[2], ARGV[1]
if KEYS[6] then
  local other = redis.call('GET', KEYS[6])
  if other then
    local ojk = string.sub(jk, 1, #jk - #id) .. other
    local st = redis.call('HGET', ojk, 'state')
    if st and st ~= 'succeeded' and st ~= 'failed' and st ~= 'cancelled' then
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
if KEYS[6] then extra = {'unique', ARGV[13]} end
new_record(jk, ARGV[3], ARGV[4], state, nowstr, opt_fields(ARGV[5], ARGV[6], ARGV[7], ARGV[8],
  ARGV[9], ARGV[10], ARGV[12]), extra)
if KEYS[6] then redis.call('SET', KEYS[6], id) end
redis.call('SET', ik, ARGV[2])
if state == 'pending' then
  redis.call('RPUSH', KEYS[3], id)
else
  redis.call('ZADD', KEYS[4], due, id)
end
wake(KEYS[5])
return {id, 1}
