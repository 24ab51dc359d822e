-- gnew: a new group, not yet sealed (submitn adds its members in chunks,
-- gseal closes it), and its fan-in job, `waiting` until the group is done.
-- KEYS: group
-- ARGV: PJ gid queue priority max_retries timeout_ms backoff_ms
--       result_ttl_ms max_lost semaphore fanin_id('' = none) fanin_task
--       fair_key('' = none)
-- Reply: 1
local pj, gid = ARGV[1], ARGV[2]
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.error_reply('ERR tq: group ' .. gid .. ' exists')
end
local fid = ARGV[11]
if fid ~= '' and redis.call('EXISTS', pj .. fid) == 1 then
  return redis.error_reply('ERR tq: job id ' .. fid .. ' exists')
end
local ms, nowstr = clock()
redis.call('HSET', KEYS[1], 'id', gid, 'queue', ARGV[3], 'total', 0, 'done', 0,
  'ok', 0, 'sealed', 0, 'created_at', nowstr, 'result_ttl', ARGV[8])
if fid ~= '' then
  local fjk = pj .. fid
  local extra = {'parent', gid}
  if (ARGV[13] or '') ~= '' then
    extra[3] = 'fk'
    extra[4] = ARGV[13]
  end
  new_record(fjk, ARGV[12], 'null', 'waiting', nowstr,
    opt_fields(unpack(ARGV, 4, 10)), extra)
  redis.call('HSET', KEYS[1], 'fanin', fid)
end
return 1
