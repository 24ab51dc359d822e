-- flags: no-writes,allow-cross-slot-keys
-- locate: the queue of each of some jobs or groups, from its id. An id made
-- for a queue ends with the queue's tag (proto/id.c), and P:qt:TAG holds the
-- queue(s) of that tag (one, but for a collision of two names' hashes):
-- one lookup per tag and one EXISTS per candidate, whatever the number of
-- queues, and nothing written per job. Ids of the older, untagged form (26
-- characters) are looked for in every queue of P:queues, as before tags;
-- an id of no tq form was never made, and is not looked for.
-- The one script that reaches keys not given in KEYS (P:qt:TAG and the job
-- keys); under Redis Cluster the client will do both steps itself.
-- KEYS: P:queues
-- ARGV: P kind ('j' jobs, 'g' groups) id...
-- Reply: {queue name or nil, ...}, one per id
-- (standalone: sent without the lib.lua prelude)
local p, kind = ARGV[1], ARGV[2]
local qt = p .. ':qt:'
local bytag, all = {}, nil
local out = {}

-- The tag of a tagged id, '' for a plain one, nil for any other string.
local function tag_of(id)
  local n = #id
  if (n ~= 26 and n ~= 34) or id:find('[^0-9a-hjkmnp-tv-z]') or id:byte(1) > 55 then
    return nil
  end
  return n == 34 and id:sub(27) or ''
end

for i = 3, #ARGV do
  local id = ARGV[i]
  local tag = tag_of(id)
  local cands
  if tag == '' then
    all = all or redis.call('SMEMBERS', KEYS[1])
    cands = all
  elseif tag then
    cands = bytag[tag]
    if not cands then
      cands = redis.call('SMEMBERS', qt .. tag)
      bytag[tag] = cands
    end
  end
  out[i - 2] = false
  if cands then
    for _, q in ipairs(cands) do
      if redis.call('EXISTS', p .. ':{' .. q .. '}:' .. kind .. ':' .. id) == 1 then
        out[i - 2] = q
        break
      end
    end
  end
end
return out
