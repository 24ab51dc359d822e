-- chain: every job of a chain at once. The head is pending (or scheduled
-- for due_ms) with the args given; each later link is `waiting`, with
-- `parent` the link before it and `next` the one after, so finish() starts
-- it with the previous link's result, or cancels the rest of the chain.
-- The waiting links are indexed in P:{Q}:waiting (by creation ms).
-- KEYS: pending(p<prio>) sched wake
-- ARGV: PJ due_ms args queue priority max_retries timeout_ms backoff_ms
--       result_ttl_ms max_lost semaphore rate_limit n (id task) * n
--       fair_key('' = none)
-- Reply: n
local pj = ARGV[1]
local n = tonumber(ARGV[13]) or 0
for i = 0, n - 1 do
  local id = ARGV[14 + 2 * i]
  if redis.call('EXISTS', pj .. id) == 1 then
    return redis.error_reply('ERR tq: job id ' .. id .. ' exists')
  end
end
local ms, nowstr = clock()
local due = due_of(ARGV[2], ms)
local head = 'pending'
if due > ms then head = 'scheduled' end
local fk = ARGV[14 + 2 * n] or ''
local opts = opt_fields(ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10],
  ARGV[11], ARGV[12], fk)
for i = 0, n - 1 do
  local id, task = ARGV[14 + 2 * i], ARGV[15 + 2 * i]
  local jk = pj .. id
  local links = {}
  if i > 0 then links = {'parent', ARGV[12 + 2 * i]} end
  if i < n - 1 then
    links[#links + 1] = 'next'
    links[#links + 1] = ARGV[16 + 2 * i]
  end
  if i == 0 then
    new_record(jk, task, ARGV[3], head, nowstr, opts, links)
  else
    new_record(jk, task, 'null', 'waiting', nowstr, opts, links)
  end
end
if n > 1 then
  -- the later links, waiting: listed by tq jobs --state waiting (settle_next
  -- and cancel take them out)
  local w = {}
  for i = 1, n - 1 do
    w[#w + 1] = ms
    w[#w + 1] = ARGV[14 + 2 * i]
  end
  batched('ZADD', string.sub(pj, 1, -3) .. 'waiting', w)
end
if n > 0 then
  if head == 'pending' then
    push_ids(string.sub(KEYS[1], 1, -3), {ARGV[14]}, ARGV[5], fk)
  else
    icall('ZADD', KEYS[2], due, ARGV[14])
  end
  wake(KEYS[3])
end
return n
