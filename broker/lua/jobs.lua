-- flags: no-writes
-- jobs: tq jobs --state S: up to `limit` jobs of one queue in state S, read
-- from the index that holds that state (docs/design.md §2):
--   pending    the ten priority lists and their fair keys' lists (named
--              by P:{Q}:p<p>:ring), read from their tails (the latest
--              pushed), newest created first
--   scheduled  sched (latest due first); active: active (latest lease
--              deadline first); dead: the dead-letter zset (latest first);
--              waiting: P:{Q}:waiting (latest created first)
--   succeeded, failed, cancelled: the terminal index P:{Q}:done:S, a list
--              (latest finished first; lib.lua done_add)
-- An id whose record is gone (expired) or in another state is skipped. At
-- most 10 * limit + 1000 ids are looked at per call, so an index full of
-- stale ids costs a bounded call and may list fewer than limit. Read-only.
-- KEYS: p0..p9 | sched | active | dead | P:{Q}:waiting | P:{Q}:done:S
-- ARGV: PJ state limit
-- Reply: flat {(id task state attempt created_at started_at finished_at
--        error) * n}, a field the record lacks nil
-- (standalone: sent without the lib.lua prelude)
local pj, want = ARGV[1], ARGV[2]
local limit = math.floor(tonumber(ARGV[3]) or 20)
if limit < 1 then limit = 1 end
local budget = limit * 10 + 1000
local page = limit < 100 and limit * 2 or 200
local terminal = want == 'succeeded' or want == 'failed' or want == 'cancelled'
local state = want == 'dead' and 'failed' or want
local found = {} -- {id, fields} in listing order

-- The listing fields of id's record when it is in the state wanted, else
-- nil (a key of another type is not a record of ours: skipped).
local function rec(id)
  local f = redis.pcall('HMGET', pj .. id, 'state', 'task', 'attempt',
    'created_at', 'started_at', 'finished_at', 'error')
  if f.err or f[1] ~= state then return nil end
  return f
end

if want == 'pending' then
  -- up to limit jobs from the tail of one list
  local function from(list)
    local len = redis.pcall('LLEN', list)
    if type(len) ~= 'number' then len = 0 end
    local n, stop = 0, len - 1
    while stop >= 0 and n < limit and budget > 0 do
      local start = math.max(0, stop - page + 1)
      local ids = redis.call('LRANGE', list, start, stop)
      for i = #ids, 1, -1 do
        budget = budget - 1
        local f = rec(ids[i])
        if f then
          found[#found + 1] = {ids[i], f}
          n = n + 1
          if n >= limit then break end
        end
      end
      stop = start - 1
    end
  end
  for k = 10, 1, -1 do
    from(KEYS[k])
    -- the fair keys' lists of this priority (lib.lua push_ids), each
    -- named once in its ring; one look per key counts against the budget
    local keys = redis.pcall('LRANGE', KEYS[k] .. ':ring', 0, budget)
    if type(keys) ~= 'table' or keys.err then keys = {} end
    for _, fk in ipairs(keys) do
      if budget <= 0 then break end
      budget = budget - 1
      if fk ~= '' then from(KEYS[k] .. ':f:' .. fk) end
    end
  end
  table.sort(found, function(a, b)
    return (tonumber(a[2][4]) or 0) > (tonumber(b[2][4]) or 0)
  end)
elseif terminal then
  -- a list, latest finished first; an id may be there twice (failed,
  -- retried, failed again): the first is the latest
  local seen, at = {}, 0
  while #found < limit and budget > 0 do
    local ids = redis.pcall('LRANGE', KEYS[1], at, at + page - 1)
    if type(ids) ~= 'table' or ids.err or #ids == 0 then break end
    for _, id in ipairs(ids) do
      budget = budget - 1
      if not seen[id] then
        seen[id] = true
        local f = rec(id)
        if f and #found < limit then found[#found + 1] = {id, f} end
      end
    end
    at = at + #ids
  end
else
  local at = 0
  while #found < limit and budget > 0 do
    local ids = redis.pcall('ZRANGE', KEYS[1], at, at + page - 1, 'REV')
    if type(ids) ~= 'table' or ids.err or #ids == 0 then break end
    for _, id in ipairs(ids) do
      budget = budget - 1
      local f = rec(id)
      if f and #found < limit then found[#found + 1] = {id, f} end
    end
    at = at + #ids
  end
end

local out = {}
for i = 1, math.min(#found, limit) do
  local id, f = found[i][1], found[i][2]
  local b = #out
  out[b + 1] = id
  out[b + 2] = f[2] -- task
  out[b + 3] = f[1] -- state
  for j = 3, 7 do out[b + 1 + j] = f[j] end
end
return out
