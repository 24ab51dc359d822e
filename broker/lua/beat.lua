-- flags: allow-oom,allow-cross-slot-keys
-- beat: a worker's heartbeat. Records it (on Redis's clock, so machines with
-- skewed clocks agree), refreshes its card for `tq workers`, and hands the
-- caller up to 10 workers whose heartbeat stopped more than dead_after ago,
-- removing them from the registry: the caller buries them (ends their leases
-- in the queues listed), and the lease is the fallback should it die first.
-- KEYS: workers card
-- ARGV: wid dead_after_ms card_ttl_ms card_prefix (field value) * n
-- Reply: {now_ms, (dead_wid dead_queues_json) ...}
local ms, nowstr = clock()
local wid = ARGV[1]
icall('ZADD', KEYS[1], ms, wid)
local card = {'heartbeat', nowstr}
for i = 5, #ARGV - 1, 2 do
  card[#card + 1] = ARGV[i]
  card[#card + 1] = ARGV[i + 1]
end
icall('HSET', KEYS[2], unpack(card))
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[3]) or 60000)
local out = {ms}
local dead = icall('ZRANGEBYSCORE', KEYS[1], '-inf',
  ms - (tonumber(ARGV[2]) or 10000), 'LIMIT', 0, 10)
for _, d in ipairs(dead) do
  if d ~= wid then
    redis.call('ZREM', KEYS[1], d)
    local ck = ARGV[4] .. d
    out[#out + 1] = d
    out[#out + 1] = icall('HGET', ck, 'queues') or '[]'
    redis.call('DEL', ck)
  end
end
return out
