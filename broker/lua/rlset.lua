-- flags: allow-cross-slot-keys
-- rlset: set or remove a rate limit (tq ratelimit set|rm). A limit is the
-- hash P:rl:NAME (rate: as given, interval: us between tokens, burst), and
-- its name is in the set P:rls (what `tq ratelimit show` lists).
-- Either way the limit starts afresh: its buckets P:rlb:NAME and
-- P:rlb:NAME:* are dropped (SCAN: an operator's call, never on a job's
-- path), and the jobs parked for a token reserved under the old rate
-- (P:rlp:NAME, lib.lua rl_take) are made due now without their token
-- (rlok), so the next claim charges them at the new rate, or, the limit
-- removed, runs them unlimited. A parked job whose record has moved on
-- (cancelled, already promoted) is left alone.
-- KEYS: limit names bucket parked
-- ARGV: op('set'|'rm') name [rate interval_us burst]
-- Reply: {existed(0|1), jobs released}
-- Keys are read before any write: one of another type is moved aside
-- (icall, aside), never a failed script.
local op, name = ARGV[1], ARGV[2]
local ms = clock()
local existed = icall('SISMEMBER', KEYS[2], name)
local t = redis.call('TYPE', KEYS[1]).ok
if t == 'hash' then existed = 1 elseif t ~= 'none' then aside(KEYS[1]) end
local parked = icall('ZRANGEBYSCORE', KEYS[4], ms, '+inf')
local released = 0
for _, jk in ipairs(parked) do
  local id = string.match(jk, '([^:]+)$')
  local f = id and rget(jk, 'state', 'rlok')
  if f and f[1] == 'scheduled' and f[2] then
    local base = qbase(jk, id)
    redis.call('HDEL', jk, 'rlok')
    icall('ZADD', base .. 'sched', ms, id)
    wake(base .. 'wake')
    released = released + 1
  end
end
redis.call('DEL', KEYS[3], KEYS[4])
local pat = KEYS[3] .. ':*'
pat = string.gsub(pat, '[%*%?%[%]\\]', '\\%0')
pat = string.sub(pat, 1, #pat - 2) .. '*'
local cursor = '0'
repeat
  local r = redis.call('SCAN', cursor, 'MATCH', pat, 'COUNT', 1000)
  cursor = r[1]
  if #r[2] > 0 then redis.call('DEL', unpack(r[2])) end
until cursor == '0'
if op == 'set' then
  redis.call('HSET', KEYS[1], 'rate', ARGV[3], 'interval', ARGV[4],
    'burst', ARGV[5])
  icall('SADD', KEYS[2], name)
else
  redis.call('DEL', KEYS[1])
  icall('SREM', KEYS[2], name)
end
return {existed, released}
