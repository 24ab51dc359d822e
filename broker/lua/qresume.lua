-- flags: allow-oom
-- qresume: tq queue resume Q. Drops P:{Q}:paused and leaves a wake token,
-- so an idle worker parked on the queue's wake list claims at once (and
-- passes the baton on as after any submit). Allowed under OOM: a resumed
-- queue drains, which frees memory.
-- KEYS: paused wake
-- Reply: 1 resumed now, 0 it was not paused
-- (standalone: sent without the lib.lua prelude)
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
-- pcall: a wake key of another type is left to the scripts that own it
local n = redis.pcall('LLEN', KEYS[2])
if n == 0 then redis.call('RPUSH', KEYS[2], '1') end
return 1
