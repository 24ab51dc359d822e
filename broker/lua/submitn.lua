-- submitn: many new jobs of one task with shared options in one call (the
-- fast path of submit-many and group submit: one script call per chunk of
-- jobs instead of one per job). Pending now or scheduled for due_ms; with a
-- group id, members of that group (created by gnew, not yet sealed): each
-- gets `group` and its position `gi`; with a fan-in, the group's results
-- list gets a null placeholder per member, which member_done (lib.lua)
-- replaces with the member's result.
-- Records are written at PJ .. id, under the queue's hash tag, as claim
-- finds them. The ids are fresh (tq_id_new: a millisecond time and 80
-- random bits), so unlike submit this does not pay for an EXISTS per job.
-- KEYS: pending(p<prio>) sched wake [group members]
-- ARGV: PJ due_ms gid('' = none) queue priority max_retries timeout_ms
--       backoff_ms result_ttl_ms max_lost semaphore rate_limit task n
--       (id args) * n fair_key('' = none)
-- Reply: n, the number of jobs created
local pj = ARGV[1]
local gid = ARGV[3]
local task, n = ARGV[13], tonumber(ARGV[14]) or 0
local pos, rk = 0, nil
if gid ~= '' then
  -- read before any write: group keys of another type are a clean error
  local g = redis.pcall('HMGET', KEYS[4], 'sealed', 'fanin', 'total')
  if g.err then return redis.error_reply('ERR tq: group ' .. gid .. ': ' .. g.err) end
  if not g[1] then return redis.error_reply('ERR tq: no such group ' .. gid) end
  if not isint(g[3]) then
    return redis.error_reply('ERR tq: group ' .. gid .. ': total is not a whole number')
  end
  if g[1] == '1' then return redis.error_reply('ERR tq: group ' .. gid .. ' is sealed') end
  pos = redis.pcall('LLEN', KEYS[5])
  if type(pos) == 'table' then
    return redis.error_reply('ERR tq: members of group ' .. gid .. ': ' .. pos.err)
  end
  if g[2] then
    rk = qbase(pj .. gid, gid) .. 'gr:' .. gid
    local t = redis.call('TYPE', rk).ok
    if t ~= 'list' and t ~= 'none' then
      return redis.error_reply('ERR tq: results of group ' .. gid .. ' held a ' .. t)
    end
  end
end
local ms, nowstr = clock()
local due = due_of(ARGV[2], ms)
local state = 'pending'
if due > ms then state = 'scheduled' end
local fk = ARGV[15 + 2 * n] or ''
local opts = opt_fields(ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10],
  ARGV[11], ARGV[12], fk)
local ids = {}
for i = 0, n - 1 do
  local id, args = ARGV[15 + 2 * i], ARGV[16 + 2 * i]
  local jk = pj .. id
  if gid ~= '' then
    new_record(jk, task, args, state, nowstr, opts, {'group', gid, 'gi', pos + i})
  else
    new_record(jk, task, args, state, nowstr, opts)
  end
  ids[#ids + 1] = id
  if #ids == 1000 or i == n - 1 then
    if state == 'pending' then
      push_ids(string.sub(KEYS[1], 1, -3), ids, ARGV[5], fk)
    else
      local z = {}
      for k, v in ipairs(ids) do
        z[2 * k - 1] = due
        z[2 * k] = v
      end
      icall('ZADD', KEYS[2], unpack(z))
    end
    if gid ~= '' then redis.call('RPUSH', KEYS[5], unpack(ids)) end
    if rk then
      local nulls = {}
      for k = 1, #ids do nulls[k] = 'null' end
      redis.call('RPUSH', rk, unpack(nulls))
    end
    ids = {}
  end
end
if gid ~= '' then redis.call('HINCRBY', KEYS[4], 'total', n) end
if n > 0 then wake(KEYS[3]) end
return n
