-- flags: allow-cross-slot-keys
-- semset: set a semaphore's capacity; parked jobs that now fit are woken.
-- KEYS: cap holders
-- ARGV: SP name capacity
-- Reply: {capacity, holders}
local ms = clock()
local sp, name, cap = ARGV[1], ARGV[2], tonumber(ARGV[3])
icall('HSET', KEYS[1], name, cap)
icall('ZREMRANGEBYSCORE', KEYS[2], '-inf', ms)
local held = icall('ZCARD', KEYS[2])
if cap > held then sem_wake(sp, name, cap - held) end
return {cap, held}
