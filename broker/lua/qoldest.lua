-- flags: no-writes
-- qoldest: the creation time of a queue's oldest pending job, for the
-- dashboard (tq_queue_oldest_pending_age_seconds). Claim pops each
-- priority list from its head, so the head of each list is the next job it
-- would take there: the oldest of those ten is the queue's oldest pending
-- job (a job given back keeps its created_at and goes to the head). Ten
-- LINDEX and at most ten HGET: cheap whatever the length of the lists. A
-- head whose record is gone or unreadable (claim will skip it) is passed
-- over. Read-only.
-- KEYS: p0..p9
-- ARGV: PJ
-- Reply: the oldest created_at (Unix seconds, a string), or nil when no
--        list has a readable head.
-- (standalone: sent without the lib.lua prelude)
local oldest = nil
for k = 1, 10 do
  local id = redis.pcall('LINDEX', KEYS[k], 0)
  if type(id) == 'string' then
    local t = redis.pcall('HGET', ARGV[1] .. id, 'created_at')
    t = type(t) == 'string' and tonumber(t) or nil
    if t and (not oldest or t < oldest) then oldest = t end
  end
end
if not oldest then return nil end
return string.format('%.3f', oldest)
