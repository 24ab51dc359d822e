-- chain: every job of a chain at once. The head is pending (or scheduled
-- for due_ms) with the args given; each later link is `waiting`, with
-- `parent` the link before it and `next` the one after, so finish() starts
-- it with the previous link's result, or cancels the rest of the chain.
-- KEYS: pending(p<prio>) sched wake
-- ARGV: PJ due_ms args queue priority max_retries timeout_ms backoff_ms
--       result_ttl_ms max_lost semaphore n (id task) * n fair_key('' = none)
-- Reply: n
local pj = ARGV[1]
local n = tonumber(ARGV[12]) or 0
for i = 0, n - 1 do
  local id = ARGV[13 + 2 * i]
  if redis.call('EXISTS', pj .. id) == 1 then
    return redis.error_reply('ERR tq: job id ' .. id .. ' exists')
  end
end
local ms, nowstr = clock()
local due = due_of(ARGV[2], ms)
local head = 'pending'
if due > ms then head = 'scheduled' end
local opts = opt_fields(unpack(ARGV, 5, 11))
local fk = ARGV[13 + 2 * n] or ''
if fk ~= '' then
  opts[#opts + 1] = 'fk'
  opts[#opts + 1] = fk
end
for i = 0, n - 1 do
  local id, task = ARGV[13 + 2 * i], ARGV[14 + 2 * i]
  local jk = pj .. id
  local links = {}
  if i > 0 then links = {'parent', ARGV[11 + 2 * i]} end
  if i < n - 1 then
    links[#links + 1] = 'next'
    links[#links + 1] = ARGV[15 + 2 * i]
  end
  if i == 0 then
    new_record(jk, task, ARGV[3], head, nowstr, opts, links)
  else
    new_record(jk, task, 'null', 'waiting', nowstr, opts, links)
  end
end
if n > 0 then
  if head == 'pending' then
    push_ids(string.sub(KEYS[1], 1, -3), {ARGV[13]}, ARGV[5], fk)
  else
    icall('ZADD', KEYS[2], due, ARGV[13])
  end
  wake(KEYS[3])
end
return n
