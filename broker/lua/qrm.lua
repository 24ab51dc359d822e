-- flags: allow-oom
-- qrm: one batch of tq queue rm Q. The client SCANs P:{Q}:* (every key of
-- the queue: its lists, sets, records, groups, the pause flag) and hands
-- each batch here; every key is deleted, and whoever waits on a job record
-- among them (its `w` field) is told 'deleted' on P:done:ID, as purge does.
-- KEYS: keys of one queue, all under its hash tag
-- ARGV: PJ PD
-- Reply: how many job records were deleted
-- (standalone: sent without the lib.lua prelude)
local pj, pd = ARGV[1], ARGV[2]
local n = 0
for _, k in ipairs(KEYS) do
  local rec = false
  if string.sub(k, 1, #pj) == pj then
    local id = string.sub(k, #pj + 1)
    if id ~= '' and not string.find(id, ':', 1, true) then
      -- pcall: a key of another type is not a record: deleted all the same
      local w = redis.pcall('HGET', k, 'w')
      if type(w) == 'string' then redis.call('PUBLISH', pd .. id, 'deleted') end
      rec = type(w) ~= 'table'
    end
  end
  if redis.call('DEL', k) == 1 and rec then n = n + 1 end
end
return n
