-- qpause: tq queue pause Q. From the moment this returns no worker starts a
-- job of Q: claim.lua looks at P:{Q}:paused first and hands out nothing
-- (running jobs finish; submits are still accepted; due jobs stay
-- scheduled). The flag holds Redis's clock (ms) at the pause.
-- KEYS: paused
-- Reply: 1 paused now, 0 it was already paused
-- (standalone: sent without the lib.lua prelude)
local t = redis.call('TIME')
local ms = string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
return redis.call('SET', KEYS[1], ms, 'NX') and 1 or 0
