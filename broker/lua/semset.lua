-- flags: allow-cross-slot-keys
-- semset: set a semaphore's capacity; parked jobs that now fit are woken,
-- on NAME and on each of its per-key semaphores NAME:KEY (found with SCAN
-- over P:sem:w:NAME:*: an operator's call, never on a job's path).
-- KEYS: cap holders
-- ARGV: SP name capacity
-- Reply: {capacity, holders}
local ms = clock()
local sp, name, cap = ARGV[1], ARGV[2], tonumber(ARGV[3])
icall('HSET', KEYS[1], name, cap)
icall('ZREMRANGEBYSCORE', KEYS[2], '-inf', ms)
local held = icall('ZCARD', KEYS[2])
if cap > held then sem_wake(sp, name, cap - held) end
local pat = sp .. 'w:' .. string.gsub(name, '[%*%?%[%]\\]', '\\%0') .. ':*'
local cursor = '0'
repeat
  local r = redis.call('SCAN', cursor, 'MATCH', pat, 'COUNT', 1000)
  cursor = r[1]
  for _, wk in ipairs(r[2]) do
    local kn = string.sub(wk, #sp + 3)
    local hk = sp .. 'h:' .. kn
    icall('ZREMRANGEBYSCORE', hk, '-inf', ms)
    local h = icall('ZCARD', hk)
    if cap > h then sem_wake(sp, kn, cap - h) end
  end
until cursor == '0'
return {cap, held}
