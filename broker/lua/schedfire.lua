-- flags: allow-cross-slot-keys
-- schedfire: one tick of a schedule becomes one job; a compare-and-set on
-- the schedule's `next`, so that of every worker racing for a tick exactly
-- one creates its job (docs/design.md §11).
-- KEYS: schedules schedule
-- ARGV: P name mode(fire | catchup | skip) tick_ms next_ms nskipped
-- (catchup: a missed tick younger than --catchup, fired whatever --overlap
-- says: every missed tick is to run once)
-- Reply: {what, detail}:
--   {'fired', id}      the job was created; next = next_ms
--   {'overlap', id}    overlap skip: the last job (id) is not finished; the
--                      tick is counted in `skipped`; next = next_ms
--   {'exists', id}     the tick's job exists already (ids name the tick):
--                      nothing created; next = next_ms
--   {'skipped', n}     mode skip: n missed ticks counted; next = next_ms
--   {'moved', next}    `next` is not tick_ms: another worker was first
--   {'early', now_ms}  Redis's clock has not reached tick_ms
--   {'paused', ''} / {'gone', ''}  nothing to fire (removed from schedules
--                      when gone)
-- The job's id is the ULID of the tick (10 characters of tick_ms) followed by
-- the schedule's `idh` (16 characters of a hash of its name, then the tag
-- of its queue: tq status finds it like any id). Its record has `schedule`
-- and `tick`. Everything is read before the first write.
local zk, hk = KEYS[1], KEYS[2]
local P, name, mode, tick, nxt = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if not (string.match(tick, '^%d+$') and string.match(nxt, '^%d+$')) then
  return redis.error_reply('ERR tq: schedfire: tick and next are whole numbers')
end
local f = rget(hk, 'next', 'queue', 'task', 'args', 'priority', 'max_retries',
  'timeout', 'backoff', 'result_ttl', 'max_lost', 'semaphore', 'overlap',
  'paused', 'last_jk', 'last_job', 'idh', 'fired', 'skipped', 'rate_limit', 'fk')
if not f then
  aside(hk)
  icall('ZREM', zk, name)
  return {'gone', ''}
end
if not f[1] then
  icall('ZREM', zk, name)
  return {'gone', ''}
end
-- `next` is the truth; a score that disagrees (a paused schedule is +inf)
-- is put right, so that no ticker finds it due again and again
local function rescore(score)
  if icall('ZSCORE', zk, name) ~= score then icall('ZADD', zk, score, name) end
end
if f[13] == '1' then
  rescore('inf')
  return {'paused', ''}
end
if f[1] ~= tick then
  if string.match(f[1], '^%d+$') then rescore(f[1]) else icall('ZREM', zk, name) end
  return {'moved', f[1]}
end
local ms, nowstr = clock()
local function advance(...)
  redis.call('HSET', hk, 'next', nxt, ...)
  icall('ZADD', zk, nxt, name)
end
if mode == 'skip' then
  local n = tonumber(ARGV[6]) or 0
  advance('skipped', numstr(num(f[18], 0) + n))
  return {'skipped', numstr(n)}
end
if ms < tonumber(tick) then return {'early', numstr(ms)} end
local queue, task, idh = f[2], f[3], f[16]
if not queue or not task or not idh or #idh ~= 24 then
  -- a schedule tq did not write: skip its ticks rather than fail each call
  advance('skipped', numstr(num(f[18], 0) + 1),
    'error', 'schedule record lacks queue, task or idh')
  return {'skipped', '1'}
end
if mode == 'fire' and f[12] ~= 'allow' and f[14] then
  local s = rget(f[14], 'state')
  local st = s and s[1]
  if st and STATES[st] and not terminal(st) then
    advance('skipped', numstr(num(f[18], 0) + 1))
    return {'overlap', f[15] or ''}
  end
end
-- the tick as the 10 leading characters of a ULID (48 bits of ms)
local B32 = '0123456789abcdefghjkmnpqrstvwxyz'
local n, c = tonumber(tick), {}
for i = 10, 1, -1 do
  local d = n % 32
  c[i] = string.sub(B32, d + 1, d + 1)
  n = (n - d) / 32
end
local id = table.concat(c) .. idh
local base = P .. '{' .. queue .. '}:'
local jk = base .. 'j:' .. id
if redis.call('EXISTS', jk) == 1 then
  advance()
  return {'exists', id}
end
new_record(jk, task, f[4] or 'null', 'pending', nowstr,
  opt_fields(f[5], f[6], f[7], f[8], f[9], f[10], f[11], f[19], f[20]),
  {'schedule', name, 'tick', tick})
push_pending(base, id, f[5], f[20])
advance('last_tick', tick, 'last_job', id, 'last_jk', jk, 'last_run', nowstr,
  'fired', numstr(num(f[17], 0) + 1))
return {'fired', id}
