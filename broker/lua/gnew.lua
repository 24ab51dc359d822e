-- gnew: a new group, not yet sealed (submitn adds its members in chunks,
-- gseal closes it), and its fan-in job, `waiting` until the group is done.
-- KEYS: group
-- ARGV: PJ gid queue priority max_retries timeout_ms backoff_ms
--       result_ttl_ms max_lost semaphore rate_limit fanin_id('' = none)
--       fanin_task fair_key('' = none)
-- Reply: 1
local pj, gid = ARGV[1], ARGV[2]
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.error_reply('ERR tq: group ' .. gid .. ' exists')
end
local fid = ARGV[12]
if fid ~= '' and redis.call('EXISTS', pj .. fid) == 1 then
  return redis.error_reply('ERR tq: job id ' .. fid .. ' exists')
end
local ms, nowstr = clock()
redis.call('HSET', KEYS[1], 'id', gid, 'queue', ARGV[3], 'total', 0, 'done', 0,
  'ok', 0, 'sealed', 0, 'created_at', nowstr, 'result_ttl', ARGV[8])
if fid ~= '' then
  local fjk = pj .. fid
  new_record(fjk, ARGV[13], 'null', 'waiting', nowstr,
    opt_fields(ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10],
      ARGV[11], ARGV[14]), {'parent', gid})
  redis.call('HSET', KEYS[1], 'fanin', fid)
  icall('ZADD', string.sub(pj, 1, -3) .. 'waiting', ms, fid)
end
return 1
