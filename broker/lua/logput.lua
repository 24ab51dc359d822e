-- logput: keep the stderr of an exec job's delivery (its last 64 KiB) with
-- the record. Sent by the worker on the command connection just before the
-- delivery's outcome (so `tq logs` of a finished job finds it), refused
-- under OOM (no flags): output is not worth memory the outcomes need.
-- KEYS: job log
--   log = P:{Q}:log:ID, a string: the last bytes of stderr
-- ARGV: tok data total attempt channel
--   total: the bytes the delivery wrote to stderr in all (data is the last
--   of them); channel: P:log:ID, where followers (`tq logs -f`) hear "e
--   ATTEMPT TOTAL": this attempt's output ended
-- Written only while the record is `active` under tok (a stale delivery
-- changes nothing). The log key gets the record's --result-ttl, the expiry
-- the ack that follows gives the record, so both go together; the record's
-- `log` field holds total (so data starts at byte total - #data).
-- A record tq cannot read is refused here, left to the ack (corrupt()).
-- Reply: 1 written, 0 refused
local f = rget(KEYS[1], 'state', 'tok', 'result_ttl')
if not f or f[1] ~= 'active' or f[2] ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ttl_of(f[3]))
redis.call('HSET', KEYS[1], 'log', ARGV[3])
redis.call('PUBLISH', ARGV[5], 'e ' .. ARGV[4] .. ' ' .. ARGV[3])
return 1
