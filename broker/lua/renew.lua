-- flags: allow-oom,allow-cross-slot-keys
-- renew: extend the leases a worker holds, and tell it which deliveries it
-- has lost (stale token) or should stop (cancellation requested).
-- KEYS: active
-- ARGV: PJ lease_ms SP (id tok) * n   (a held semaphore permit is renewed too)
-- Reply: {(id code) ...} for the deliveries that are not fine; code is
--        'lost' or 'cancel'
local ms = clock()
local pj = ARGV[1]
local lease = numstr(ms + (tonumber(ARGV[2]) or 30000))
local out = {}
local sp = ARGV[3]
for i = 4, #ARGV - 1, 2 do
  local id, tok = ARGV[i], ARGV[i + 1]
  -- pcall: a record tq cannot read is reported lost here, and
  -- dead-lettered by reclaim when its lease runs out
  local f = rget(pj .. id, 'state', 'tok', 'cancel', 'semaphore')
  if not f or f[1] ~= 'active' or f[2] ~= tok then
    out[#out + 1] = id
    out[#out + 1] = 'lost'
  else
    icall('ZADD', KEYS[1], 'XX', lease, id)
    if f[4] then icall('ZADD', sp .. 'h:' .. f[4], lease, id) end
    if f[3] then
      out[#out + 1] = id
      out[#out + 1] = 'cancel'
    end
  end
end
return out
