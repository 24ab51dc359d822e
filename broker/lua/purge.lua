-- flags: allow-oom
-- purge: drop a queue's pending jobs, records and all.
-- KEYS: p0..p9
-- ARGV: PJ PD
-- Reply: how many jobs were dropped (their waiters are told 'deleted')
-- (standalone: sent without the lib.lua prelude)
-- With fair keys (lib.lua push_ids), a priority's jobs are also in the
-- lists P:{Q}:p<p>:f:KEY named by its ring P:{Q}:p<p>:ring: those go too,
-- with the ring and the queue's P:{Q}:fair.
local pj, pd = ARGV[1], ARGV[2]
local n = 0
local function drop(list)
  -- pcall: a list or record of another type is not tq's: skipped
  local ids = redis.pcall('LRANGE', list, 0, -1)
  if ids.err then ids = {} end
  for _, id in ipairs(ids) do
    local f = redis.pcall('HMGET', pj .. id, 'state', 'w')
    if not f.err and f[1] == 'pending' then
      redis.call('DEL', pj .. id)
      if f[2] then redis.call('PUBLISH', pd .. id, 'deleted') end
      n = n + 1
    end
  end
  redis.call('DEL', list)
end
for k = 1, 10 do
  drop(KEYS[k])
  local ring = KEYS[k] .. ':ring'
  local keys = redis.pcall('LRANGE', ring, 0, -1)
  if keys.err then keys = {} end
  for _, fk in ipairs(keys) do
    if fk ~= '' then drop(KEYS[k] .. ':f:' .. fk) end
  end
  redis.call('DEL', ring)
end
redis.call('DEL', string.sub(KEYS[1], 1, -3) .. 'fair')
return n
