-- flags: allow-cross-slot-keys
-- claim: promote due scheduled jobs, then take up to count pending ones,
-- highest priority first, each under a lease with a fresh fencing token
-- (unique across failovers: see below).
-- KEYS: active sched wake p0..p9
-- ARGV: count worker_id lease_ms PJ promote_limit SP
-- A job whose semaphore has no free permit is parked on the semaphore's
-- waiters (it holds no slot; a release pushes it back), not claimed. A job
-- with a rate limit (`rl`) whose bucket has no token now is parked in sched
-- until its reserved token is due (lib.lua rl_take), with rlok=1 so that
-- the claim that takes it then does not charge it again; promotion puts it
-- at the front of its list. Parked jobs do not count towards count: the
-- loop goes on to the next pending job. A record tq cannot read (lib.lua
-- corrupt()) is dead-lettered on the way.
-- Reply: {now_ms, next_due_ms|-1, n, (id tok attempt task args timeout_ms
--        created_at ack_first) * n}; ack_first is '1' when the job's outcome
--        can make another job ready (it holds a semaphore permit, or is a
--        chain link or a group member), else ''
local ms, nowstr, us = clock()
-- A paused queue (tq queue pause: P:{Q}:paused, next to PJ) hands out
-- nothing and promotes nothing: due jobs stay scheduled until resume, and
-- next_due -1 lets the worker park on the wake list (resume pushes a token).
if redis.call('EXISTS', string.sub(ARGV[4], 1, -3) .. 'paused') == 1 then
  return {ms, -1, 0}
end
local pj = ARGV[4]
local due = icall('ZRANGEBYSCORE', KEYS[2], '-inf', ms, 'LIMIT', 0,
  tonumber(ARGV[5]) or 100)
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[2], id)
  local f = rget(pj .. id, 'state', 'priority', 'rlok', 'fk')
  if not f then
    corrupt(pj .. id, id, 'unreadable')
  elseif f[1] == 'scheduled' then
    redis.call('HSET', pj .. id, 'state', 'pending')
    -- a job parked for its reserved rate-limit token (rlok) goes to the front
    push_ids(string.sub(pj, 1, -3), {id}, f[2], f[4], f[3])
  elseif f[1] and not STATES[f[1]] then
    corrupt(pj .. id, id, 'unknown state "' .. f[1] .. '"')
  end
end

local count = tonumber(ARGV[1]) or 0
local lease = numstr(ms + (tonumber(ARGV[3]) or 30000))
local out = {ms, -1, 0}
local n = 0
local sp = ARGV[6] or ''
local budget = count + 1000 -- parked jobs popped per call, at most
local leases = {} -- (deadline id) pairs: one ZADD at the end
local parked = 0 -- jobs parked for a rate-limit token
for k = 13, 4, -1 do
  while n < count do
    if budget <= 0 then break end
    local ids = pop_pending(KEYS[k], count - n)
    if not ids then break end
    budget = budget - #ids
    for _, id in ipairs(ids) do
      local jk = pj .. id
      -- pcall: a key of another type is dead-lettered, not a failed claim
      local f = rget(jk, 'state', 'task', 'args', 'timeout',
        'created_at', 'semaphore', 'attempt', 'tok', 'next', 'group', 'rl',
        'rlok')
      local att, tok
      if f and f[1] == 'pending' then
        att, tok = tonumber(f[7] or 0), tonumber(f[8] or 0)
        if not (att and tok and isint(f[7]) and isint(f[8])) then
          corrupt(jk, id, 'attempt or tok is not a whole number')
          f = nil
        elseif not f[2] or not f[3] then
          corrupt(jk, id, 'no task or no args')
          f = nil
        end
      elseif not f then
        corrupt(jk, id, 'unreadable')
      elseif f[1] and not STATES[f[1]] then
        corrupt(jk, id, 'unknown state "' .. f[1] .. '"')
        f = nil
      end
      local wait = f and f[1] == 'pending' and f[11] and not f[12] and
        rl_take(sp, f[11], us, jk)
      if wait then
        redis.call('HSET', jk, 'state', 'scheduled', 'rlok', '1')
        icall('ZADD', KEYS[2], wait, id)
        parked = parked + 1
      elseif f and f[1] == 'pending' and f[6] and not sem_acquire(sp, f[6], id, ms, lease) then
        -- a token taken stays taken: not charged again when woken
        if f[11] and not f[12] then redis.call('HSET', jk, 'rlok', '1') end
        icall('RPUSH', sp .. 'w:' .. f[6], jk)
      elseif f and f[1] == 'pending' then
        if f[12] then redis.call('HDEL', jk, 'rlok') end
        -- the token is Redis's clock in microseconds (or one more than the
        -- last, if that is later): a failover that rolls this claim back
        -- leaves the old count in the record, and a count would hand the
        -- next delivery the lost one's token again
        att, tok = numstr(att + 1), string.format('%d', math.max(tok + 1, us))
        redis.call('HSET', jk, 'state', 'active', 'worker', ARGV[2],
          'started_at', nowstr, 'attempt', att, 'tok', tok)
        leases[#leases + 1] = lease
        leases[#leases + 1] = id
        local b = #out
        out[b + 1] = id
        out[b + 2] = tok
        out[b + 3] = att
        out[b + 4] = f[2]
        out[b + 5] = f[3]
        out[b + 6] = f[4] or '0'
        out[b + 7] = f[5] or '0'
        out[b + 8] = (f[6] or f[9] or f[10]) and '1' or ''
        n = n + 1
      end
    end
  end
  if n >= count then break end
end
out[3] = n
batched('ZADD', KEYS[1], leases)
rl_flush(us)
-- a job parked for a token: another worker is woken to learn its due time
-- (this one may be busy when it comes)
if (n > 0 and n >= count) or budget <= 0 or parked > 0 then wake(KEYS[3]) end
local nd = icall('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if nd[2] then out[2] = tonumber(nd[2]) end
return out
