-- progress: the latest progress value of a running job (tq_task_progress,
-- an exec task's TQ_PROGRESS_FD), written to its record and published for
-- `tq wait --progress`. Refused under OOM (no flags): progress is not worth
-- memory the outcomes need.
-- KEYS: job
-- ARGV: tok value channel
--   tok: the delivery's fencing token; value: one JSON value as text;
--   channel: P:prog:ID (PUBLISH costs almost nothing with no subscriber)
-- Written only while the record is `active` under tok: a stale delivery (a
-- worker that slept past its lease) changes nothing. A record tq cannot read
-- is left to the ack or the reclaimer, which own the job's place and
-- dead-letter it (lib.lua corrupt()); this call only refuses it.
-- Reply: 1 written, 0 refused
local f = rget(KEYS[1], 'state', 'tok')
if not f or f[1] ~= 'active' or f[2] ~= ARGV[1] then return 0 end
local _, nowstr = clock()
redis.call('HSET', KEYS[1], 'progress', ARGV[2], 'progress_at', nowstr)
redis.call('PUBLISH', ARGV[3], ARGV[2])
return 1
